"""Coverage of a test table (`policy test`): which cells it asserts and which rules it pins.

Cell coverage: the share of the table's cells (every variant, active and inactive, × method × target, see
`variants.domain_cells`) that some matrix cell or case asserts. Rule coverage: the share of the policy's
rules that decide at least one asserted cell. `policy test --require-coverage` fails below 100% of either.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .engine import Policy, Rule
from .testing import TestTable
from .variants import Variant, domain_cells

MAX_LISTED = 20  # uncovered rows listed before "... and N more"


@dataclass
class Coverage:
    cells_total: int
    uncovered_cells: list[tuple[Variant, str, str]]  # (variant, method, target), in table order
    rules_total: int
    uncovered_rules: list[Rule]

    @property
    def complete(self) -> bool:
        return not self.uncovered_cells and not self.uncovered_rules

    def summary(self) -> str:
        cells = self.cells_total - len(self.uncovered_cells)
        rules = self.rules_total - len(self.uncovered_rules)
        return (f"coverage: cells {cells}/{self.cells_total} ({_percent(cells, self.cells_total)}), "
                f"rules {rules}/{self.rules_total} ({_percent(rules, self.rules_total)})")

    def details(self, where: str) -> list[str]:
        """What is missing, as `file:line:column: ...` lines (cells grouped by method and column)."""
        grouped: dict[tuple[str, Variant], list[str]] = defaultdict(list)
        for variant, method, target in self.uncovered_cells:
            grouped[(method, variant)].append(target)
        lines = [f"{where}: not asserted: {method} × {variant.label} (target {', '.join(targets)})"
                 for (method, variant), targets in grouped.items()]
        if len(lines) > MAX_LISTED:
            lines = lines[:MAX_LISTED] + [f"{where}: ... and {len(lines) - MAX_LISTED} more uncovered rows"]
        lines += [f"{rule.location}: not covered: rule {rule.id} decides none of the asserted cells"
                  for rule in self.uncovered_rules]
        return lines


def _percent(part: int, whole: int) -> str:
    if whole == 0 or part == whole:
        return "100%"
    return f"{100 * part / whole:.1f}%"


def measure_coverage(table: TestTable, policy: Policy) -> Coverage:
    asserted = {(e.variant, e.method, target) for e in table.expectations for target in e.checked}
    domain = list(domain_cells(policy.route_targets))
    deciders = set()
    for variant, method, target in asserted:
        deciders.add(policy.decide(variant.token_class, method, variant.is_admin, variant.is_active, target).rule_id)
    return Coverage(
        cells_total=len(domain),
        uncovered_cells=[cell for cell in domain if cell not in asserted],
        rules_total=len(policy.rules),
        uncovered_rules=[rule for rule in policy.rules if rule.id not in deciders],
    )
