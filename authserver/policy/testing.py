"""Policy test tables (`policies/*.test.yaml`): what a policy must decide, checked cell by cell.

A table has a matrix (rows: every `resource.method`; columns: token classes and variants such as
`trusted+admin`; cells: `allow`, `deny` or exactly the allowed targets, `self+own`) and named cases for the
conditions a matrix cannot show (a deciding rule, constraints, inactive users). A table must cover every
method the app serves and every standard column, so a new route cannot slip in untested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..yamlfile import YamlDocument, YamlError, load_yaml_file
from .engine import Decision, Policy
from .loader import PolicyError, load_schema, schema_problems
from .variants import STANDARD_VARIANTS, Variant, parse_targets_expression, parse_variant, targets_expression

TEST_SUFFIX = ".test.yaml"


@dataclass(frozen=True)
class Expectation:
    """One matrix cell or one named case: the targets it checks and which of them must be allowed."""

    where: str  # file:line:column of the cell or case
    title: str
    method: str
    variant: Variant
    checked: tuple[str, ...]  # targets looked at
    allowed: frozenset[str]  # those that must be allowed
    rule: str | None = None  # a case may name the deciding rule
    constraints: frozenset[str] | None = None  # and the exact constraints
    is_case: bool = False  # a named case (else a matrix cell)


@dataclass
class TestTable:
    __test__ = False  # not a pytest test class

    path: str
    policy_path: Path
    expectations: list[Expectation]
    methods: set[str]  # methods with a row
    columns: set[Variant]
    rows_where: str = ""

    def matrix(self) -> dict[tuple[str, Variant], frozenset[str]]:
        """(method, column) -> the targets the matrix says are allowed."""
        return {(e.method, e.variant): e.allowed for e in self.expectations if not e.is_case}


def table_path_for(policy_path: str | Path) -> Path:
    policy_path = Path(policy_path)
    return policy_path.with_name(policy_path.name.removesuffix(".yaml").removesuffix(".yml") + TEST_SUFFIX)


def is_table_path(path: str | Path) -> bool:
    return str(path).endswith(TEST_SUFFIX)


def _default_policy_path(table_path: Path) -> Path:
    return table_path.with_name(table_path.name[: -len(TEST_SUFFIX)] + ".yaml")


def _matrix_expectations(document: YamlDocument, route_targets: dict, problems: list, path: tuple = ("matrix",),
                         earlier: tuple = ()) -> tuple[list, set, set]:
    """The cells of one matrix (`matrix`, or one of `matrices`); a column of an earlier matrix is an error."""
    matrix = document.data
    for key in path:
        matrix = matrix[key]
    columns = []
    for index, label in enumerate(matrix["columns"]):
        variant = parse_variant(label)
        if variant in columns or variant in earlier:
            problems.append(f"{document.where(path + ('columns', index))}: column {label!r} repeats an earlier one")
        columns.append(variant)
    expectations = []
    for method, cells in matrix["rows"].items():
        row_path = path + ("rows", method)
        if isinstance(method, bool):  # `on:` / `yes:` as a row name
            problems.append(f"{document.where(row_path)}: a row name reads as the boolean {str(method).lower()} "
                            "(YAML reads yes/no/on/off as booleans); quote it")
            continue
        if method not in route_targets:
            problems.append(f"{document.where(row_path)}: unknown method {method!r}")
            continue
        if len(cells) != len(columns):
            problems.append(f"{document.where(row_path)}: {len(cells)} cells for {len(columns)} columns")
            continue
        targets = route_targets[method]
        for index, (variant, text) in enumerate(zip(columns, cells)):
            where = document.where(row_path + (index,))
            try:
                allowed = parse_targets_expression(text, targets)
            except ValueError as error:
                problems.append(f"{where}: {error}")
                continue
            expectations.append(Expectation(where, f"{method} × {variant.label}", method, variant, targets, allowed))
    return expectations, set(matrix["rows"]), set(columns)


def _case_expectations(document: YamlDocument, route_targets: dict, problems: list) -> list:
    expectations = []
    for index, case in enumerate(document.data.get("cases", [])):
        path = ("cases", index)
        method = case["method"]
        if method not in route_targets:
            problems.append(f"{document.where(path + ('method',))}: unknown method {method!r}")
            continue
        targets = route_targets[method]
        target = case.get("target")
        if target is None and len(targets) > 1:
            problems.append(f"{document.where(path)}: `target` is required: {method} has targets {', '.join(targets)}")
            continue
        target = target or targets[0]
        if target not in targets:
            problems.append(f"{document.where(path + ('target',))}: {method} has no target {target!r} "
                            f"(its targets: {', '.join(targets)})")
            continue
        token_class = case["class"]
        variant = Variant(token_class, case.get("admin", False) or token_class == "system", case.get("active", True))
        constraints = case.get("constraints")
        expectations.append(Expectation(
            document.where(path),
            case["name"],
            method,
            variant,
            (target,),
            frozenset([target]) if case["expect"] == "allow" else frozenset(),
            case.get("rule"),
            frozenset(constraints) if constraints is not None else None,
            is_case=True,
        ))
    return expectations


def load_test_table(path: str | Path, route_targets: dict[str, tuple]) -> TestTable:
    """Read and validate a test table; PolicyError lists every problem as file:line:column."""
    path = Path(path)
    try:
        document = load_yaml_file(path)
    except YamlError as error:
        raise PolicyError([str(error)]) from None
    if not isinstance(document.data, dict):
        raise PolicyError([f"{path}:1:1: a test table is a mapping with a `matrix`"])
    problems = schema_problems(document, load_schema("policy-test.schema.json"))
    if problems:
        raise PolicyError(problems)
    expectations, methods, columns = _matrix_expectations(document, route_targets, problems)
    for index in range(len(document.data.get("matrices", []))):  # more columns, e.g. inactive users
        more, _, more_columns = _matrix_expectations(document, route_targets, problems, ("matrices", index),
                                                     tuple(columns))
        expectations += more
        columns |= more_columns
    expectations += _case_expectations(document, route_targets, problems)
    if problems:
        raise PolicyError(problems)
    data = document.data
    policy_path = path.parent / data["policy"] if "policy" in data else _default_policy_path(path)
    return TestTable(str(path), policy_path, expectations, methods, columns, document.where(("matrix", "rows")))


# --- running -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    expectation: Expectation
    actual: dict[str, Decision]  # target -> decision

    def render(self, policy: Policy) -> str:
        """A readable diff: the cell, what the table says, what the policy decides, and which rule decided."""
        expectation = self.expectation
        actual_allowed = {target for target, decision in self.actual.items() if decision.allowed}
        lines = [f"{expectation.where}: {expectation.title} ({expectation.variant.describe()})"]
        lines.append(f"    - expected: {targets_expression(expectation.allowed, expectation.checked)}")
        lines.append(f"    + actual:   {targets_expression(actual_allowed, expectation.checked)}")
        for target in expectation.checked:
            decision = self.actual[target]
            want = "allow" if target in expectation.allowed else "deny"
            rule = policy.rule(decision.rule_id)
            decided_by = decision.rule_id + (f" ({rule.location})" if rule else "")
            mark = "  " if want == decision.effect else "!!"
            lines.append(f"    {mark} target {target:<5}  expected {want:<5}  actual {decision.effect:<5}  "
                         f"decided by {decided_by}")
        if expectation.rule is not None and self._decider() != expectation.rule:
            lines.append(f"    !! deciding rule: expected {expectation.rule}, actual {self._decider()}")
        if expectation.constraints is not None and self._constraints() != expectation.constraints:
            lines.append(f"    !! constraints: expected {', '.join(sorted(expectation.constraints)) or '(none)'}, "
                         f"actual {', '.join(sorted(self._constraints())) or '(none)'}")
        return "\n".join(lines)

    def _decider(self) -> str:
        return self.actual[self.expectation.checked[0]].rule_id

    def _constraints(self) -> frozenset[str]:
        return self.actual[self.expectation.checked[0]].constraints


@dataclass
class TestReport:
    __test__ = False  # not a pytest test class

    table: TestTable
    policy: Policy
    mismatches: list[Mismatch] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)  # methods without a row, standard columns missing
    unexercised: list = field(default_factory=list)  # rules that decided no checked cell
    cells_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.uncovered

    def render(self) -> str:
        lines = [mismatch.render(self.policy) for mismatch in self.mismatches]
        lines += [f"{self.table.rows_where}: {problem}" for problem in self.uncovered]
        for rule in self.unexercised:
            lines.append(f"{rule.location}: note: no row or case exercises rule {rule.id} (it decides none "
                         "of the tested cells)")
        verdict = "ok" if self.passed else "FAILED"
        lines.append(f"{self.table.path}: {verdict}: {self.cells_checked} cells checked against {self.policy.source}, "
                     f"{len(self.mismatches)} mismatched, {len(self.uncovered)} not covered, "
                     f"{len(self.unexercised)} rules unexercised")
        return "\n".join(lines)


def run_table(table: TestTable, policy: Policy) -> TestReport:
    report = TestReport(table, policy)
    exercised = set()
    for expectation in table.expectations:
        variant = expectation.variant
        actual = {
            target: policy.decide(variant.token_class, expectation.method, variant.is_admin, variant.is_active, target)
            for target in expectation.checked
        }
        report.cells_checked += len(actual)
        exercised.update(decision.rule_id for decision in actual.values())
        allowed = frozenset(target for target, decision in actual.items() if decision.allowed)
        first = actual[expectation.checked[0]]
        if (
            allowed != expectation.allowed
            or (expectation.rule is not None and first.rule_id != expectation.rule)
            or (expectation.constraints is not None and first.constraints != expectation.constraints)
        ):
            report.mismatches.append(Mismatch(expectation, actual))
    for method in policy.route_targets:
        if method not in table.methods:
            report.uncovered.append(f"no row for {method}: a table must have a row for every method")
    for variant in STANDARD_VARIANTS:
        if variant not in table.columns:
            report.uncovered.append(f"no column {variant.label}: a table must cover every standard column")
    report.unexercised = [rule for rule in policy.rules if rule.id not in exercised]
    return report

