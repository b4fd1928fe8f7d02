"""The policy engine: rules compiled at load time into a total decision table.

Every cell (token class × method × is_admin × is_active × target) is decided once, when the policy loads;
a request is then one dictionary lookup. Precedence: default deny; an explicit deny beats any allow; the
order of rules never matters. Allows that match the same cell add up their constraints (the strictest wins).

Compiling walks each rule's own cells (not every rule for every cell), so loading costs the sum of the
rules' sizes and a decision costs the same whether the policy has 10 rules or 10,000.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product

TOKEN_CLASSES = ("system", "trusted", "untrusted", "api_created")
TARGETS = ("self", "own", "other", "none")
CONSTRAINTS = ("scopes_within_creator", "expiry_within_creator")
DEFAULT_DENY = "default-deny"
EVALUATION_ERROR = "evaluation-error"
BOOLS = (False, True)


@dataclass(frozen=True)
class Cell:
    """One key of the decision table."""

    token_class: str
    method: str
    is_admin: bool
    is_active: bool
    target: str

    @property
    def key(self) -> tuple:
        return (self.token_class, self.method, self.is_admin, self.is_active, self.target)


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
        return not self.mismatches(token_class, method, is_admin, is_active, target)

    def mismatches(self, token_class: str, method: str, is_admin: bool, is_active: bool, target: str) -> list[str]:
        """Why this rule does not match a cell (empty when it does); `policy explain` prints these."""
        reasons = []
        if method not in self.methods:
            reasons.append(f"method is {method}, not one of the rule's methods")
        if token_class not in self.classes:
            reasons.append(f"class is {token_class}, not {'/'.join(sorted(self.classes))}")
        if self.is_admin is not None and self.is_admin != is_admin:
            reasons.append(f"is_admin is {str(is_admin).lower()}, the rule needs {str(self.is_admin).lower()}")
        if self.is_active is not None and self.is_active != is_active:
            reasons.append(f"is_active is {str(is_active).lower()}, the rule needs {str(self.is_active).lower()}")
        if self.targets is not None and target not in self.targets:
            reasons.append(f"target is {target}, the rule needs {'/'.join(sorted(self.targets))}")
        return reasons

    def cells(self, route_targets: dict[str, tuple[str, ...]]):
        """Every table key this rule matches: the product of its own conditions, nothing else."""
        admin_values = BOOLS if self.is_admin is None else (self.is_admin,)
        active_values = BOOLS if self.is_active is None else (self.is_active,)
        for method in self.methods:
            targets = route_targets.get(method, ())
            if self.targets is not None:
                targets = [target for target in targets if target in self.targets]
            for token_class, is_admin, is_active, target in product(self.classes, admin_values, active_values, targets):
                yield (token_class, method, is_admin, is_active, target)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule_id: str  # the deciding rule, or "default-deny"
    overridden: tuple[str, ...] = ()  # rules that matched but lost (allows beaten by a deny, further denies)
    constraints: frozenset[str] = frozenset()

    @property
    def effect(self) -> str:
        return "allow" if self.allowed else "deny"

    def reason(self, token_class: str, method: str) -> str:
        """The text after `Forbidden: ` in a 403 (SPEC §10 asks that it names the rule)."""
        if self.rule_id == DEFAULT_DENY:
            return f"no policy rule allows {method} for {token_class} tokens (rule {DEFAULT_DENY})"
        if self.rule_id == EVALUATION_ERROR:
            return f"the policy could not decide {method} for {token_class} tokens (rule {EVALUATION_ERROR})"
        return f"policy rule {self.rule_id} denies {method} for {token_class} tokens"


DENY_BY_DEFAULT = Decision(False, DEFAULT_DENY)
FAIL_CLOSED = Decision(False, EVALUATION_ERROR)


def all_cells(route_targets: dict[str, tuple[str, ...]]):
    """Every key of a total table over these methods, in a stable order."""
    for token_class, (method, targets), is_admin, is_active in product(
        TOKEN_CLASSES, route_targets.items(), BOOLS, BOOLS
    ):
        for target in targets:
            yield (token_class, method, is_admin, is_active, target)


@dataclass
class Policy:
    """A compiled policy. `route_targets` maps each method the app serves to the targets it can have."""

    rules: list[Rule]
    route_targets: dict[str, tuple[str, ...]]
    source: str = ""
    digest: str = ""
    sources: tuple[str, ...] = ()  # every file read (the policy and what it extends), for reloading
    name: str = ""
    loaded_at: datetime | None = None
    table: dict[tuple, Decision] = field(init=False, repr=False)
    rule_cells: dict[str, int] = field(init=False, repr=False)  # rule id -> how many cells it matches
    _any: dict[tuple, tuple[frozenset[str], Decision]] = field(init=False, repr=False)
    _by_id: dict[str, Rule] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {rule.id: rule for rule in self.rules}
        matching: dict[tuple, list[Rule]] = defaultdict(list)
        self.rule_cells = {}
        for rule in self.rules:
            count = 0
            for key in rule.cells(self.route_targets):
                matching[key].append(rule)
                count += 1
            self.rule_cells[rule.id] = count
        self.table = {key: self._decide_cell(matching.get(key, ())) for key in all_cells(self.route_targets)}
        self._any = {}
        for token_class, (method, targets), is_admin, is_active in product(
            TOKEN_CLASSES, self.route_targets.items(), BOOLS, BOOLS
        ):
            decisions = [self.table[(token_class, method, is_admin, is_active, target)] for target in targets]
            allowed = frozenset(target for target, decision in zip(targets, decisions) if decision.allowed)
            first_denial = next((decision for decision in decisions if not decision.allowed), DENY_BY_DEFAULT)
            self._any[(token_class, method, is_admin, is_active)] = (allowed, first_denial)

    @staticmethod
    def _decide_cell(matching) -> Decision:
        denies = sorted(rule.id for rule in matching if rule.effect == "deny")
        allows = sorted((rule for rule in matching if rule.effect == "allow"), key=lambda rule: rule.id)
        if denies:
            return Decision(False, denies[0], tuple(denies[1:]) + tuple(rule.id for rule in allows))
        if allows:
            constraints = frozenset().union(*(rule.constraints for rule in allows))
            return Decision(True, allows[0].id, tuple(rule.id for rule in allows[1:]), constraints)
        return DENY_BY_DEFAULT

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id (None for default-deny and evaluation-error)."""
        return self._by_id.get(rule_id)

    def decide(self, token_class: str, method: str, is_admin: bool, is_active: bool, target: str) -> Decision:
        """The decision for one cell; unknown cells (a method without this target) are denied."""
        try:
            return self.table.get((token_class, method, bool(is_admin), bool(is_active), target), DENY_BY_DEFAULT)
        except Exception:  # an unhashable or odd argument: fail closed rather than answer 500 or allow
            return FAIL_CLOSED

    def allowed_targets(self, token_class: str, method: str, is_admin: bool, is_active: bool) -> frozenset[str]:
        try:
            entry = self._any.get((token_class, method, bool(is_admin), bool(is_active)))
        except Exception:
            return frozenset()
        return entry[0] if entry else frozenset()

    def method_decision(self, token_class: str, method: str, is_admin: bool, is_active: bool) -> Decision | None:
        """None when some target is allowed; otherwise the denial to report (the method is closed to the class)."""
        try:
            entry = self._any.get((token_class, method, bool(is_admin), bool(is_active)))
        except Exception:
            return FAIL_CLOSED
        if entry is None:
            return DENY_BY_DEFAULT
        return None if entry[0] else entry[1]
