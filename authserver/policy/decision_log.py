"""The decision log: one JSON line per denied request, and per allowed one when configured.

Each line names the request id, the token's uuid (never its secret), its class and user, the method and
target, the effect and the deciding rule, so an operator can grep why a call was refused and audit what a
policy change did. Lines go to their own file (config `decision_log.file`) or to the server's stderr.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TextIO

from ..ids import format_timestamp, utcnow
from .engine import Decision


def request_fields(event: str, *, request_id: str, identity, method: str, target: str | None) -> dict:
    """What every decision-log line says about the request: when, which event, who asked for what."""
    return {
        "time": format_timestamp(utcnow()),
        "event": event,
        "request_id": request_id,
        "token_uuid": identity.token_uuid,
        "user_uuid": identity.user_uuid,
        "class": identity.token_class,
        "is_admin": identity.is_admin,
        "is_active": identity.is_active,
        "method": method,
        "target": target,
    }


class DecisionLog:
    def __init__(self, *, include_allowed: bool = False, path: str | Path | None = None,
                 stream: TextIO | None = None):
        self.include_allowed = include_allowed
        self._owned = None
        if path is not None:
            self._owned = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the server's life
        self.stream = self._owned or stream or sys.stderr
        self._lock = threading.Lock()  # one whole line at a time from many request threads

    def record(self, *, request_id: str, identity, method: str, target: str | None, decision: Decision) -> None:
        if decision.allowed and not self.include_allowed:
            return
        entry = {
            **request_fields("policy_decision", request_id=request_id, identity=identity, method=method,
                             target=target),
            "effect": decision.effect,
            "rule": decision.rule_id,
        }
        self.write(entry)

    def write(self, entry: dict) -> None:
        """One JSON line (shadow-mode disagreements use this too, so both land in the same place)."""
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):  # a full disk or closed stream must not fail the request
                pass

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None
