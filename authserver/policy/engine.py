"""The policy engine: rules compiled at load time into a total decision table.

Every cell (token class × method × is_admin × is_active × target) is decided once, when the policy loads;
a request is then one dictionary lookup. Precedence: default deny; an explicit deny beats any allow; the
order of rules never matters. Allows that match the same cell add up their constraints (the strictest wins).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

TOKEN_CLASSES = ("system", "trusted", "untrusted", "api_created")
TARGETS = ("self", "own", "other", "none")
CONSTRAINTS = ("scopes_within_creator", "expiry_within_creator")
DEFAULT_DENY = "default-deny"


@dataclass(frozen=True)
class Rule:
    id: str
    effect: str  # "allow" or "deny"
    methods: frozenset[str]  # resolved `resource.method` names
    classes: frozenset[str]
    is_admin: bool | None = None
    is_active: bool | None = None
    targets: frozenset[str] | None = None  # None: any target
    constraints: frozenset[str] = frozenset()
    description: str = ""
    location: str = ""  # file:line:column of the rule, for messages

    def matches(self, token_class: str, method: str, is_admin: bool, is_active: bool, target: str) -> bool:
        return (
            token_class in self.classes
            and method in self.methods
            and (self.is_admin is None or self.is_admin == is_admin)
            and (self.is_active is None or self.is_active == is_active)
            and (self.targets is None or target in self.targets)
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule_id: str  # the deciding rule, or "default-deny"
    overridden: tuple[str, ...] = ()  # rules that matched but lost (allows beaten by a deny, further denies)
    constraints: frozenset[str] = frozenset()

    def reason(self, token_class: str, method: str) -> str:
        """The text after `Forbidden: ` in a 403 (SPEC §10 asks that it names the rule)."""
        if self.rule_id == DEFAULT_DENY:
            return f"no policy rule allows {method} for {token_class} tokens (rule {DEFAULT_DENY})"
        return f"policy rule {self.rule_id} denies {method} for {token_class} tokens"


DENY_BY_DEFAULT = Decision(False, DEFAULT_DENY)


@dataclass
class Policy:
    """A compiled policy. `route_targets` maps each method the app serves to the targets it can have."""

    rules: list[Rule]
    route_targets: dict[str, tuple[str, ...]]
    source: str = ""
    digest: str = ""
    table: dict[tuple, Decision] = field(init=False, repr=False)
    _any: dict[tuple, tuple[frozenset[str], Decision]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.table = {}
        self._any = {}
        for token_class, (method, targets), is_admin, is_active in product(
            TOKEN_CLASSES, self.route_targets.items(), (False, True), (False, True)
        ):
            allowed_targets = set()
            first_denial = None
            for target in targets:
                decision = self._decide_cell(token_class, method, is_admin, is_active, target)
                self.table[(token_class, method, is_admin, is_active, target)] = decision
                if decision.allowed:
                    allowed_targets.add(target)
                elif first_denial is None:
                    first_denial = decision
            self._any[(token_class, method, is_admin, is_active)] = (
                frozenset(allowed_targets),
                first_denial or DENY_BY_DEFAULT,
            )

    def _decide_cell(self, token_class: str, method: str, is_admin: bool, is_active: bool, target: str) -> Decision:
        matching = [rule for rule in self.rules if rule.matches(token_class, method, is_admin, is_active, target)]
        denies = sorted(rule.id for rule in matching if rule.effect == "deny")
        allows = sorted((rule for rule in matching if rule.effect == "allow"), key=lambda rule: rule.id)
        if denies:
            return Decision(False, denies[0], tuple(denies[1:]) + tuple(rule.id for rule in allows))
        if allows:
            constraints = frozenset().union(*(rule.constraints for rule in allows))
            return Decision(True, allows[0].id, tuple(rule.id for rule in allows[1:]), constraints)
        return DENY_BY_DEFAULT

    def decide(self, token_class: str, method: str, is_admin: bool, is_active: bool, target: str) -> Decision:
        """The decision for one cell; unknown cells (a method without this target) are denied."""
        return self.table.get((token_class, method, is_admin, is_active, target), DENY_BY_DEFAULT)

    def allowed_targets(self, token_class: str, method: str, is_admin: bool, is_active: bool) -> frozenset[str]:
        entry = self._any.get((token_class, method, is_admin, is_active))
        return entry[0] if entry else frozenset()

    def method_decision(self, token_class: str, method: str, is_admin: bool, is_active: bool) -> Decision | None:
        """None when some target is allowed; otherwise the denial to report (the method is closed to the class)."""
        entry = self._any.get((token_class, method, is_admin, is_active))
        if entry is None:
            return DENY_BY_DEFAULT
        return None if entry[0] else entry[1]
