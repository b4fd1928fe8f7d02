"""Invariants: properties of a policy proved by enumerating its compiled decision table (`policy check`).

The domain is finite (token class × method × is_admin × is_active × target), so an invariant is not
sampled but checked on every cell; a violation names the exact cell and the rule that decided it. Three
forms, written under `invariants:` in the policy file (validated by schemas/policy.schema.json):

- `only: {classes, when?, may_call}`: these classes may call nothing but the listed methods (and targets);
- `nobody_but: {callers, may_call}`: the listed methods are open to nobody but these callers;
- `subset: {class, of}`: whatever `class` may do, `of` may do too (same flags and target).

Invariants belong to the file that states them: a policy that `extends` it does not inherit them, since
extending is how a policy deliberately departs from its base.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..yamlfile import YamlDocument, YamlError, load_yaml_file
from .engine import TOKEN_CLASSES, Decision, Policy
from .loader import PolicyError, resolve_method_pattern
from .variants import Variant, domain_cells

MAX_COUNTEREXAMPLES = 10  # per invariant; the count says how many more there are
KINDS = ("only", "nobody_but", "subset")


@dataclass(frozen=True)
class Call:
    """A `may_call` entry: some methods, at any target (None) or only at the targets named."""

    methods: frozenset[str]
    targets: frozenset[str] | None

    def covers(self, method: str, target: str) -> bool:
        return method in self.methods and (self.targets is None or target in self.targets)


@dataclass(frozen=True)
class Caller:
    """A `nobody_but` caller: a token class, or only its admins."""

    token_class: str
    admins_only: bool

    def includes(self, variant: Variant) -> bool:
        return variant.token_class == self.token_class and (variant.is_admin or not self.admins_only)


@dataclass(frozen=True)
class Violation:
    """A counterexample: one cell of the table that breaks the invariant."""

    variant: Variant
    method: str
    target: str
    decision: Decision
    detail: str = ""

    def describe(self, policy: Policy) -> str:
        rule = policy.rule(self.decision.rule_id)
        where = f" ({rule.location})" if rule else ""
        return (f"class {self.variant.token_class}, method {self.method}, "
                f"is_admin={str(self.variant.is_admin).lower()}, is_active={str(self.variant.is_active).lower()}, "
                f"target {self.target}: {self.decision.effect} by rule {self.decision.rule_id}{where}{self.detail}")


@dataclass(frozen=True)
class Invariant:
    id: str
    description: str
    kind: str
    where: str  # file:line:column of the invariant
    classes: frozenset[str] = frozenset()  # only
    is_admin: bool | None = None  # only: `when`
    is_active: bool | None = None
    calls: tuple[Call, ...] = ()  # only, nobody_but
    callers: tuple[Caller, ...] = ()  # nobody_but
    subset_class: str = ""  # subset: class ⊆ of
    superset_class: str = ""

    def _applies_to(self, variant: Variant) -> bool:
        return (variant.token_class in self.classes
                and self.is_admin in (None, variant.is_admin)
                and self.is_active in (None, variant.is_active))

    def _listed(self, method: str, target: str) -> bool:
        return any(call.covers(method, target) for call in self.calls)

    def violations(self, policy: Policy) -> list[Violation]:
        """Every cell that breaks this invariant (an empty list is the proof that it holds)."""
        found = []
        for variant, method, target in domain_cells(policy.route_targets):
            decision = policy.decide(variant.token_class, method, variant.is_admin, variant.is_active, target)
            if not decision.allowed:
                continue
            if self.kind == "only":
                if self._applies_to(variant) and not self._listed(method, target):
                    found.append(Violation(variant, method, target, decision))
            elif self.kind == "nobody_but":
                if self._listed(method, target) and not any(caller.includes(variant) for caller in self.callers):
                    found.append(Violation(variant, method, target, decision))
            elif variant.token_class == self.subset_class:
                other = policy.decide(self.superset_class, method, variant.is_admin, variant.is_active, target)
                if not other.allowed:
                    found.append(Violation(variant, method, target, decision,
                                           f", but {self.superset_class} is denied by rule {other.rule_id}"))
        return found


def _calls(document: YamlDocument, path: tuple, entries: list, route_targets: dict, problems: list) -> tuple:
    calls = []
    for index, entry in enumerate(entries):
        here = path + (index,)
        pattern = entry if isinstance(entry, str) else entry["method"]
        try:
            methods = resolve_method_pattern(pattern, route_targets)
        except ValueError as error:
            problems.append(f"{document.where(here if isinstance(entry, str) else here + ('method',))}: {error}")
            continue
        targets = None
        if isinstance(entry, dict):
            targets = frozenset([entry["target"]] if isinstance(entry["target"], str) else entry["target"])
            available = {target for method in methods for target in route_targets[method]}
            if not targets & available:
                problems.append(f"{document.where(here + ('target',))}: {pattern} has no target "
                                f"{'/'.join(sorted(targets))} (its targets: {', '.join(sorted(available))})")
                continue
        calls.append(Call(methods, targets))
    return tuple(calls)


def _parse(document: YamlDocument, index: int, data: dict, route_targets: dict, problems: list) -> Invariant | None:
    path = ("invariants", index)
    kinds = [kind for kind in KINDS if kind in data]
    if len(kinds) != 1:
        problems.append(f"{document.where(path)}: invariant {data['id']!r} states "
                        f"{'both ' + ' and '.join(kinds) if kinds else 'nothing'}; give exactly one of "
                        f"{', '.join(KINDS)}")
        return None
    kind = kinds[0]
    body = data[kind]
    common = dict(id=data["id"], description=" ".join(data["description"].split()), kind=kind, where=document.where(path))
    if kind == "only":
        classes = body["classes"]
        classes = TOKEN_CLASSES if classes == "*" else [classes] if isinstance(classes, str) else classes
        when = body.get("when", {})
        return Invariant(**common, classes=frozenset(classes), is_admin=when.get("is_admin"),
                         is_active=when.get("is_active"),
                         calls=_calls(document, path + (kind, "may_call"), body["may_call"], route_targets, problems))
    if kind == "nobody_but":
        callers = tuple(Caller(label.removesuffix("+admin"), label.endswith("+admin")) for label in body["callers"])
        return Invariant(**common, callers=callers,
                         calls=_calls(document, path + (kind, "may_call"), body["may_call"], route_targets, problems))
    if body["class"] == body["of"]:
        problems.append(f"{document.where(path + (kind, 'of'))}: a class is trivially a subset of itself")
        return None
    return Invariant(**common, subset_class=body["class"], superset_class=body["of"])


def load_invariants(path: str | Path, route_targets: dict[str, tuple]) -> list[Invariant]:
    """The invariants a policy file states (not those of files it extends); PolicyError lists problems.

    The file has already passed `load_policy` (and so the schema); this resolves the invariants' names."""
    try:
        document = load_yaml_file(path)
    except YamlError as error:
        raise PolicyError([str(error)]) from None
    problems: list[str] = []
    invariants = []
    seen: dict[str, str] = {}
    for index, data in enumerate(document.data.get("invariants", [])):
        if data["id"] in seen:
            problems.append(f"{document.where(('invariants', index, 'id'))}: duplicate invariant id {data['id']!r} "
                            f"(first at {seen[data['id']]})")
            continue
        seen[data["id"]] = document.where(("invariants", index))
        invariant = _parse(document, index, data, route_targets, problems)
        if invariant is not None:
            invariants.append(invariant)
    if problems:
        raise PolicyError(problems)
    return invariants


def invariant_report(invariants: list[Invariant], policy: Policy) -> tuple[list[str], int]:
    """(`file:line:column: ...` lines for each violated invariant and its counterexample cells, how many failed)."""
    lines = []
    failed = 0
    for invariant in invariants:
        violations = invariant.violations(policy)
        if not violations:
            continue
        failed += 1
        lines.append(f"{invariant.where}: invariant {invariant.id} violated by {len(violations)} "
                     f"cell{'s' if len(violations) != 1 else ''}: {invariant.description}")
        for violation in violations[:MAX_COUNTEREXAMPLES]:
            lines.append(f"    counterexample: {violation.describe(policy)}")
        if len(violations) > MAX_COUNTEREXAMPLES:
            lines.append(f"    ... and {len(violations) - MAX_COUNTEREXAMPLES} more")
    return lines, failed
