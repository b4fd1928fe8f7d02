"""Semantic diff of two policies (`policy diff OLD NEW`): exactly which calls a change opens or closes.

Both policies are compiled by the same engine over the same routes, and every cell of the domain (every
token class, admin or not, active or not, method and target) is compared. A cell that flips is an
**escalation** (deny → allow, or an allow that loses a constraint such as `scopes_within_creator`) or a
**revocation** (allow → deny, or an allow that gains a constraint). Changes are grouped by token class and
name the rules responsible. Escalations fail the command unless acknowledged (`--allow-escalation`, or an
ack file listing them with a reason, schemas/policy-ack.schema.json).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..yamlfile import YamlDocument, YamlError, load_yaml_file
from .engine import TOKEN_CLASSES, Decision, Policy
from .loader import PolicyError, load_schema, resolve_method_pattern, schema_problems
from .variants import Variant, domain_cells


@dataclass(frozen=True)
class CellChange:
    variant: Variant
    method: str
    target: str
    old: Decision
    new: Decision

    @property
    def escalation(self) -> bool:
        if self.old.allowed != self.new.allowed:
            return self.new.allowed
        return bool(self.old.constraints - self.new.constraints)

    def describe(self, old_policy: Policy, new_policy: Policy) -> str:
        return (f"{self.method} target {self.target} ({self.variant.describe()}): "
                f"{_decision_text(self.old, old_policy)} → {_decision_text(self.new, new_policy)}")


def _decision_text(decision: Decision, policy: Policy) -> str:
    rule = policy.rule(decision.rule_id)
    where = f" ({rule.location})" if rule else ""
    constraints = f" with {'+'.join(sorted(decision.constraints))}" if decision.constraints else ""
    return f"{decision.effect}{constraints} by {decision.rule_id}{where}"


@dataclass(frozen=True)
class Acknowledgement:
    where: str
    classes: frozenset[str]
    methods: frozenset[str]
    targets: frozenset[str] | None
    is_admin: bool | None
    is_active: bool | None
    reason: str

    def covers(self, change: CellChange) -> bool:
        variant = change.variant
        return (variant.token_class in self.classes and change.method in self.methods
                and (self.targets is None or change.target in self.targets)
                and self.is_admin in (None, variant.is_admin) and self.is_active in (None, variant.is_active))


def load_acknowledgements(path: str | Path, route_targets: dict[str, tuple]) -> list[Acknowledgement]:
    """The escalations an ack file accepts; PolicyError lists its problems as file:line:column."""
    try:
        document: YamlDocument = load_yaml_file(path)
    except YamlError as error:
        raise PolicyError([str(error)]) from None
    if not isinstance(document.data, dict):
        raise PolicyError([f"{path}:1:1: an ack file is a mapping with an `acknowledged` list"])
    problems = schema_problems(document, load_schema("policy-ack.schema.json"))
    if problems:
        raise PolicyError(problems)
    acknowledgements = []
    for index, entry in enumerate(document.data["acknowledged"]):
        try:
            methods = resolve_method_pattern(entry["method"], route_targets)
        except ValueError as error:
            problems.append(f"{document.where(('acknowledged', index, 'method'))}: {error}")
            continue
        target = entry.get("target")
        acknowledgements.append(Acknowledgement(
            where=document.where(("acknowledged", index)),
            classes=frozenset(TOKEN_CLASSES) if entry["class"] == "*" else frozenset([entry["class"]]),
            methods=methods,
            targets=None if target is None else frozenset([target] if isinstance(target, str) else target),
            is_admin=entry.get("admin"),
            is_active=entry.get("active"),
            reason=" ".join(entry["reason"].split()),
        ))
    if problems:
        raise PolicyError(problems)
    return acknowledgements


@dataclass
class PolicyDiff:
    old: Policy
    new: Policy
    changes: list[CellChange]
    rule_only: int  # cells with the same effect and constraints, decided by another rule
    cells: int
    acknowledgements: list[Acknowledgement]

    @property
    def escalations(self) -> list[CellChange]:
        return [change for change in self.changes if change.escalation]

    @property
    def revocations(self) -> list[CellChange]:
        return [change for change in self.changes if not change.escalation]

    def acknowledgement_for(self, change: CellChange) -> Acknowledgement | None:
        return next((ack for ack in self.acknowledgements if ack.covers(change)), None)

    @property
    def unacknowledged(self) -> list[CellChange]:
        return [change for change in self.escalations if self.acknowledgement_for(change) is None]

    def _section(self, title: str, changes: list[CellChange], escalations: bool) -> list[str]:
        if not changes:
            return []
        lines = ["", f"{title}: {len(changes)} cell{'s' if len(changes) != 1 else ''}"]
        by_class: dict[str, list[CellChange]] = defaultdict(list)
        for change in changes:
            by_class[change.variant.token_class].append(change)
        for token_class in TOKEN_CLASSES:
            group = by_class.get(token_class)
            if not group:
                continue
            # The rule responsible: the one now deciding an opened cell, or the one that used to allow a closed one.
            responsible = sorted({(c.new if escalations else c.old).rule_id for c in group})
            lines.append(f"  {token_class} ({len(group)}; rules responsible: {', '.join(responsible)})")
            for change in group:
                ack = self.acknowledgement_for(change) if escalations else None
                note = f"  [acknowledged at {ack.where}: {ack.reason}]" if ack else ""
                lines.append(f"    {change.describe(self.old, self.new)}{note}")
        return lines

    def render(self) -> str:
        lines = [f"policy diff {self.old.source} → {self.new.source}: {len(self.escalations)} escalations, "
                 f"{len(self.revocations)} revocations, {self.rule_only} cells decided by another rule with the "
                 f"same effect ({self.cells} cells compared)"]
        lines += self._section("ESCALATIONS (deny → allow, or fewer constraints)", self.escalations, True)
        lines += self._section("REVOCATIONS (allow → deny, or more constraints)", self.revocations, False)
        used = {id(self.acknowledgement_for(change)) for change in self.escalations}
        for ack in self.acknowledgements:
            if id(ack) not in used:
                lines.append(f"{ack.where}: note: this acknowledgement matches no escalation (stale?)")
        return "\n".join(lines) + "\n"


def diff_policies(old: Policy, new: Policy, acknowledgements: list[Acknowledgement] = ()) -> PolicyDiff:
    changes, rule_only, cells = [], 0, 0
    for variant, method, target in domain_cells(new.route_targets):
        cells += 1
        key = (variant.token_class, method, variant.is_admin, variant.is_active, target)
        before, after = old.decide(*key), new.decide(*key)
        if (before.allowed, before.constraints) != (after.allowed, after.constraints):
            changes.append(CellChange(variant, method, target, before, after))
        elif before.rule_id != after.rule_id:
            rule_only += 1
    return PolicyDiff(old, new, changes, rule_only, cells, list(acknowledgements))
