"""Stage 3: the policy decides (SPEC §5, §10).

Before the resource runs, the method must be open to the caller's class for at least one target, or the
answer is 403 naming the rule. The resource then asks its `Guard` about the actual target: a target the
caller may not even `get` is 404 (its existence is not revealed), one it may see but not touch is 403.
"""

from __future__ import annotations

import logging

from .authn import Identity
from .errors import forbidden, not_found
from .policy import Decision, Policy
from .policy.decision_log import DecisionLog
from .policy.engine import FAIL_CLOSED
from .policy.shadow import ShadowPolicy
from .routes import Route

log = logging.getLogger("authserver.policy")


class PolicyHolder:
    """The active policy; replaced whole (one reference assignment) when a new file loads."""

    def __init__(self, policy: Policy):
        self.policy = policy


class Guard:
    """The policy's answers for one request."""

    def __init__(self, policy: Policy, route: Route, identity: Identity, *,
                 request_id: str = "", decision_log: DecisionLog | None = None, shadow: ShadowPolicy | None = None):
        self.policy = policy
        self.route = route
        self.identity = identity
        self.request_id = request_id
        self.decision_log = decision_log
        self.shadow = shadow

    def record(self, target: str | None, decision: Decision, method: str | None = None) -> None:
        if self.decision_log is not None:
            self.decision_log.record(request_id=self.request_id, identity=self.identity,
                                     method=method or self.route.id, target=target, decision=decision)
        if self.shadow is not None:  # every enforced decision passes here: the candidate decides it too
            self.shadow.compare(request_id=self.request_id, identity=self.identity, method=method or self.route.id,
                                target=target, active=decision)

    def decide_action(self, target: str, action: str) -> Decision:
        """A decision a route takes inside itself (`users.update_privileged`), recorded in the decision log."""
        decision = self.decide(target, action)
        self.record(target, decision, action)
        return decision

    def decide(self, target: str, method: str | None = None) -> Decision:
        identity = self.identity
        return self.policy.decide(
            identity.token_class, method or self.route.id, identity.is_admin, identity.is_active, target
        )

    def visible_targets(self) -> frozenset[str]:
        """The relations whose objects this caller may see: those its `<resource>.get` allows."""
        identity = self.identity
        return self.policy.allowed_targets(
            identity.token_class, f"{self.route.resource}.get", identity.is_admin, identity.is_active
        )

    def require(self, target: str) -> Decision:
        """Allow this target, or raise: 404 when the caller may not see it, 403 when it may but not this."""
        decision = self.decide(target)
        self.record(target, decision)
        if decision.allowed:
            return decision
        if self.route.method != "get" and target in self.visible_targets():
            raise forbidden(decision.reason(self.identity.token_class, self.route.id))
        raise not_found()

    def require_collection(self, target: str) -> Decision:
        """For list, create and other calls without a single existing target: denied means 403."""
        decision = self.decide(target)
        self.record(target, decision)
        if not decision.allowed:
            raise forbidden(decision.reason(self.identity.token_class, self.route.id))
        return decision


class PolicyMiddleware:
    def __init__(self, holder: PolicyHolder, decision_log: DecisionLog | None = None,
                 shadow: ShadowPolicy | None = None):
        self.holder = holder
        self.decision_log = decision_log
        self.shadow = shadow  # config `policy_shadow`: a candidate decided beside the active policy, never enforced

    def process_resource(self, req, resp, resource, params) -> None:
        route = req.context.route
        identity = req.context.identity
        if route is None or identity is None:
            req.context.guard = None
            return
        policy = self.holder.policy  # one read: the whole request sees one policy, even across a reload
        try:
            denial = policy.method_decision(identity.token_class, route.id, identity.is_admin, identity.is_active)
        except Exception:  # evaluation errors fail closed: deny, never 500 and never allow
            log.exception("policy evaluation failed for %s (%s)", route.id, req.context.request_id)
            denial = FAIL_CLOSED
        guard = Guard(policy, route, identity, request_id=req.context.request_id, decision_log=self.decision_log,
                      shadow=self.shadow)
        if denial is not None:
            guard.record(None, denial)
            raise forbidden(denial.reason(identity.token_class, route.id))
        req.context.guard = guard
