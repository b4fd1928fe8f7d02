"""Mutation check (`policy test --mutate`): does the test table notice when a rule changes?

For each rule, a mutant policy is compiled (by the same engine) with the rule's effect flipped, the rule
dropped, its conditions (`when`) dropped and its constraints dropped. A mutant whose table differs from the
policy's yet passes every row and case is a rule the tests do not pin: a change to it would go unnoticed
in review. Mutants that decide every cell exactly as the policy does cannot be caught by any test and are
only counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .engine import Policy, Rule
from .testing import TestTable, run_table
from .variants import domain_cells


@dataclass(frozen=True)
class Mutant:
    rule: Rule
    change: str  # what was done to the rule, in words
    policy: Policy


@dataclass(frozen=True)
class Survivor:
    """A mutant no test caught: the rule, the change, and one cell whose decision it changed."""

    mutant: Mutant
    changed_cells: int
    example: str

    def render(self) -> str:
        rule = self.mutant.rule
        return (f"{rule.location}: rule {rule.id} is not pinned by any test: {self.mutant.change} changes "
                f"{self.changed_cells} cell{'s' if self.changed_cells != 1 else ''} (e.g. {self.example}) "
                "and every row and case still passes")


def _mutated_rules(rule: Rule):
    flipped = "deny" if rule.effect == "allow" else "allow"
    # A deny carries no constraints (the loader refuses them), so a flipped allow loses its own.
    yield f"flipping its effect ({rule.effect} → {flipped})", replace(rule, effect=flipped, constraints=frozenset())
    yield "dropping it", None
    if rule.is_admin is not None or rule.is_active is not None or rule.targets is not None:
        yield "dropping its conditions (when)", replace(rule, is_admin=None, is_active=None, targets=None)
    if rule.constraints:
        yield "dropping its constraints", replace(rule, constraints=frozenset())


def mutants(policy: Policy):
    for index, rule in enumerate(policy.rules):
        for change, mutated in _mutated_rules(rule):
            rules = policy.rules[:index] + ([mutated] if mutated is not None else []) + policy.rules[index + 1:]
            yield Mutant(rule, change, Policy(rules=rules, route_targets=policy.route_targets,
                                              source=policy.source, name=policy.name))


def _differences(policy: Policy, mutant: Policy) -> list[str]:
    """The cells a mutant decides differently (effect or constraints), described."""
    found = []
    for variant, method, target in domain_cells(policy.route_targets):
        key = (variant.token_class, method, variant.is_admin, variant.is_active, target)
        before, after = policy.table[key], mutant.table[key]
        if (before.allowed, before.constraints) != (after.allowed, after.constraints):
            found.append(f"{variant.label} × {method} target {target}: {_describe(before)} → {_describe(after)}")
    return found


def _describe(decision) -> str:
    constraints = f" with {'+'.join(sorted(decision.constraints))}" if decision.constraints else ""
    return f"{decision.effect}{constraints}"


@dataclass
class MutationReport:
    killed: int
    equivalent: int  # mutants that decide every cell as the policy does
    survivors: list[Survivor]

    def render(self, table_path: str) -> str:
        lines = [survivor.render() for survivor in self.survivors]
        total = self.killed + len(self.survivors)
        verdict = "ok" if not self.survivors else "FAILED"
        lines.append(f"{table_path}: mutation {verdict}: {self.killed} of {total} mutants caught, "
                     f"{len(self.survivors)} survived, {self.equivalent} change nothing")
        return "\n".join(lines)


def mutation_check(table: TestTable, policy: Policy) -> MutationReport:
    report = MutationReport(0, 0, [])
    for mutant in mutants(policy):
        differences = _differences(policy, mutant.policy)
        if not differences:
            report.equivalent += 1
        elif run_table(table, mutant.policy).mismatches:
            report.killed += 1
        else:
            report.survivors.append(Survivor(mutant, len(differences), differences[0]))
    return report
