"""Replay (`policy replay DECISION_LOG --policy NEW`): which recorded real requests a policy decides differently.

Each `policy_decision` line of a decision log (decision_log.py) carries the cell it was decided in: class,
is_admin, is_active, method and target. Replaying decides that cell again with the new policy and reports
the requests whose effect would change. A line with `target: null` was refused before any target was looked
at (the method was closed to the class); it is replayed at that same level. Lines that are not decision
records (other log lines, when the log shares the server's stderr) are skipped and counted.

The log holds denials only unless `decision_log.allowed` is true; replay a log with allowed requests too to
see what a change would revoke.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .engine import TOKEN_CLASSES, Decision, Policy

EVENT = "policy_decision"


@dataclass(frozen=True)
class ReplayedRequest:
    where: str  # file:line:1
    entry: dict
    now: Decision | None  # None: target null, and the method is now open at some target
    now_open_at: tuple[str, ...] = ()

    @property
    def now_allowed(self) -> bool:
        return self.now is None or self.now.allowed

    @property
    def changed(self) -> bool:
        return self.now_allowed != (self.entry["effect"] == "allow")

    def describe(self, policy: Policy) -> str:
        entry = self.entry
        target = f"target {entry['target']}" if entry["target"] is not None else "(method check)"
        if self.now is None:
            now = f"now passes the method check (open at {'/'.join(self.now_open_at)})"
        else:
            rule = policy.rule(self.now.rule_id)
            now = f"now {self.now.effect} by {self.now.rule_id}" + (f" ({rule.location})" if rule else "")
        return (f"{self.where}: {entry.get('request_id', '?')} token {entry.get('token_uuid', '?')} "
                f"{entry['class']} (is_admin={str(entry['is_admin']).lower()}, "
                f"is_active={str(entry['is_active']).lower()}) {entry['method']} {target}: "
                f"recorded {entry['effect']} by {entry['rule']} → {now}")


@dataclass
class ReplayReport:
    log_path: str
    policy: Policy
    replayed: list[ReplayedRequest] = field(default_factory=list)
    skipped: int = 0  # lines that are not decision records
    unreplayable: list[str] = field(default_factory=list)  # decision records this app cannot decide

    @property
    def changed(self) -> list[ReplayedRequest]:
        return [request for request in self.replayed if request.changed]

    def render(self) -> str:
        lines = [request.describe(self.policy) for request in self.changed]
        lines += self.unreplayable
        changed = self.changed
        opened = sum(request.now_allowed for request in changed)
        lines.append(f"replay {self.log_path} against {self.policy.source}: {len(self.replayed)} decisions "
                     f"replayed, {len(changed)} decided differently ({opened} now allowed, "
                     f"{len(changed) - opened} now denied); {self.skipped} lines skipped (not decision records)")
        return "\n".join(lines) + "\n"


def _problem(entry: dict, policy: Policy) -> str | None:
    """Why a decision record cannot be replayed against this app's routes, or None."""
    for key, kinds in (("class", str), ("method", str), ("is_admin", bool), ("effect", str), ("rule", str)):
        if not isinstance(entry.get(key), kinds):
            return f"no {key!r}"
    if entry["class"] not in TOKEN_CLASSES:
        return f"unknown class {entry['class']!r}"
    if entry["method"] not in policy.route_targets:
        return f"unknown method {entry['method']!r}"
    target = entry.get("target")
    if target is not None and target not in policy.route_targets[entry["method"]]:
        return f"{entry['method']} has no target {target!r}"
    return None


def replay_log(path: str | Path, policy: Policy) -> ReplayReport:
    """Decide every recorded request again with `policy`; OSError when the log cannot be read."""
    report = ReplayReport(str(path), policy)
    with open(path, encoding="utf-8", errors="replace") as log:
        for number, line in enumerate(log, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict) or entry.get("event") != EVENT:
                report.skipped += 1
                continue
            where = f"{path}:{number}:1"
            problem = _problem(entry, policy)
            if problem:
                report.unreplayable.append(f"{where}: warning: cannot replay this decision: {problem}")
                continue
            # Logs written before is_active was recorded: only active users get past authentication.
            entry = {**entry, "is_active": entry.get("is_active", True), "target": entry.get("target")}
            cell = (entry["class"], entry["method"], entry["is_admin"], entry["is_active"])
            if entry["target"] is None:
                denial = policy.method_decision(*cell)
                open_at = tuple(sorted(policy.allowed_targets(*cell)))
                report.replayed.append(ReplayedRequest(where, entry, denial, open_at))
            else:
                report.replayed.append(ReplayedRequest(where, entry, policy.decide(*cell, entry["target"])))
    return report
