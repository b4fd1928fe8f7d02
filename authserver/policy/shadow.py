"""Shadow mode: a candidate policy decides every request beside the active one, and is never enforced.

Config `policy_shadow: path` loads the candidate (by the same loader) next to the active policy. Wherever
the active policy's decision is recorded (`authz.Guard.record`, the same place the decision log is fed),
the candidate decides the same cell; each disagreement is one JSON line in the decision log naming both
rules, and `/_health` counts decisions, disagreements and errors. The enforced decision never depends on
the shadow: any error in it is counted and logged, never raised. The candidate's file is watched and
reloaded like the active policy's (a refused edit keeps the last good candidate). Without `policy_shadow`
nothing of this runs (the guard's hook is a single `is None` test).
"""

from __future__ import annotations

import logging
import threading

from .decision_log import DecisionLog, request_fields
from .engine import Decision, Policy

log = logging.getLogger("authserver.policy")

EVENT = "policy_shadow_disagreement"


class ShadowPolicy:
    def __init__(self, policy: Policy, decision_log: DecisionLog):
        self.policy = policy  # swapped whole by a PolicyReloader when the candidate's file changes
        self.decision_log = decision_log
        self.reloader = None  # policy.reloader.PolicyReloader watching the candidate, set by the app
        self.decisions = 0
        self.disagreements = 0
        self.errors = 0
        self._counted = policy  # the candidate the counters are about; they restart with a new one
        self._lock = threading.Lock()  # counters are bumped from many request threads

    def _count(self, policy: Policy, *, decisions: int = 0, disagreements: int = 0, errors: int = 0) -> None:
        with self._lock:
            if policy is not self._counted:
                self._counted = policy
                self.decisions = self.disagreements = self.errors = 0
            self.decisions += decisions
            self.disagreements += disagreements
            self.errors += errors

    @staticmethod
    def _shadow_decision(policy: Policy, identity, method: str, target: str | None) -> tuple[bool, str]:
        """(allowed, rule) of the candidate for the same cell (for target None: the method-level check)."""
        cell = (identity.token_class, method, identity.is_admin, identity.is_active)
        if target is not None:
            decision = policy.decide(*cell, target)
            return decision.allowed, decision.rule_id
        denial = policy.method_decision(*cell)
        if denial is not None:
            return False, denial.rule_id
        # Open at some target: name the rule that opens the first of them.
        first = sorted(policy.allowed_targets(*cell))[0]
        return True, policy.decide(*cell, first).rule_id

    def compare(self, *, request_id: str, identity, method: str, target: str | None, active: Decision) -> None:
        """Decide the cell with the candidate too; log a disagreement. Never raises."""
        policy = self.policy  # one read: a reload in between does not mix two candidates
        try:
            allowed, rule = self._shadow_decision(policy, identity, method, target)
            disagree = allowed != active.allowed
            self._count(policy, decisions=1, disagreements=int(disagree))
            if disagree:
                self.decision_log.write({
                    **request_fields(EVENT, request_id=request_id, identity=identity, method=method,
                                     target=target),
                    "active": {"effect": active.effect, "rule": active.rule_id},
                    "shadow": {"effect": "allow" if allowed else "deny", "rule": rule},
                })
        except Exception:  # the shadow must never change, fail or slow down the enforced decision
            self._count(policy, errors=1)
            log.exception("shadow policy could not decide %s (%s); the active decision stands", method, request_id)

    def status(self) -> dict:
        """What `/_health` reports about the shadow policy: the candidate, its counts since it was loaded, and
        the last refused reload of its file (timestamps as datetimes)."""
        policy = self.policy
        self._count(policy)  # restarts the counts if a reload swapped the candidate since the last request
        with self._lock:
            counts = {"decisions": self.decisions, "disagreements": self.disagreements, "errors": self.errors}
        reloader = self.reloader
        return {"name": policy.name, "digest": policy.digest, "loaded_at": policy.loaded_at, **counts,
                "last_error": reloader.last_error if reloader else None,
                "last_error_at": reloader.last_error_at if reloader else None}
