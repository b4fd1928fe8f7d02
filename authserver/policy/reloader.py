"""Hot reload: the server notices a changed policy file (or SIGHUP) and swaps the policy atomically.

A poll every half second compares the content digest of the policy and every file it extends, so an edit
is live within a second. A new file is validated and compiled completely before the one reference
assignment that makes it active; a refused file is logged as `file:line:column: message` lines and the
last good policy keeps serving. A half-written file is simply refused and picked up on the next poll.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime
from pathlib import Path

from ..ids import utcnow
from .analysis import policy_warnings
from .loader import PolicyError, load_policy

log = logging.getLogger("authserver.policy")

POLL_INTERVAL_SECONDS = 0.5


class PolicyReloader:
    def __init__(self, holder, path: str | Path, route_targets: dict[str, tuple], *,
                 interval: float = POLL_INTERVAL_SECONDS, audit=None):
        self.holder = holder  # authz.PolicyHolder: `holder.policy` is the active policy
        self.audit = audit  # audit.AuditLog, or None: reloads and refusals are security events
        self.path = Path(path)
        self.route_targets = route_targets
        self.interval = interval
        self.last_error: list[str] | None = None
        self.last_error_at: datetime | None = None
        self._fingerprint = self._fingerprint_now()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # one reload at a time (poll thread, SIGHUP, tests)
        self._thread: threading.Thread | None = None

    def _watched(self) -> list[Path]:
        return sorted({self.path, *map(Path, self.holder.policy.sources)})

    def _fingerprint_now(self) -> str:
        digest = hashlib.sha256()
        for path in self._watched():
            digest.update(str(path).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError as error:
                digest.update(f"unreadable: {error.strerror}".encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def check(self, *, force: bool = False) -> bool:
        """Reload when a watched file changed (or when forced); True when a new policy became active."""
        with self._lock:
            fingerprint = self._fingerprint_now()
            if fingerprint == self._fingerprint and not force:
                return False
            self._fingerprint = fingerprint
            return self._reload()

    def _reload(self) -> bool:
        active = self.holder.policy
        try:
            policy = load_policy(self.path, self.route_targets)
        except PolicyError as error:
            self.last_error = list(error.problems)
            self.last_error_at = utcnow()
            for problem in error.problems:
                log.error("policy reload refused: %s", problem)
            log.error("policy reload refused: keeping the active policy (sha256 %s)", active.digest)
            self._audit("policy.refused", {"path": str(self.path), "problems": error.problems[:20],
                                           "active_digest": active.digest})
            return False
        self.holder.policy = policy  # one reference assignment: each request reads it once
        self.last_error = None
        self.last_error_at = None
        self._fingerprint = self._fingerprint_now()  # the new policy may extend other files
        log.info("policy reloaded from %s (sha256 %s, %d rules)", self.path, policy.digest, len(policy.rules))
        self._audit("policy.reloaded", {"path": str(self.path), "digest": policy.digest,
                                        "previous_digest": active.digest, "rules": len(policy.rules)})
        for warning in policy_warnings(policy):  # loaded, but probably not what was meant (`policy check`)
            log.warning("policy: %s", warning)
        return True

    def _audit(self, event_type: str, details: dict) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(event_type, details=details)
        except Exception as error:  # noqa: BLE001 - a failing database must not stop a policy reload
            log.warning("could not record %s in the audit log: %s", event_type, error)

    def request_reload(self) -> None:
        """Ask for a reload now (the SIGHUP handler calls this; it only sets an event)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            woken = self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopped.is_set():
                break
            try:
                self.check(force=woken)
            except Exception:  # never let the watcher die; the active policy stays
                log.exception("policy reload failed unexpectedly; keeping the active policy")

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="authserver-policy-reloader", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def status(self) -> dict:
        """What `/_health` reports about the policy."""
        policy = self.holder.policy
        return {
            "name": policy.name,
            "digest": policy.digest,
            "loaded_at": policy.loaded_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }
