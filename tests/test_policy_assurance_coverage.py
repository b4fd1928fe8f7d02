"""`policy test --require-coverage` (cell and rule coverage) and `policy test --mutate` (mutation check)."""

from __future__ import annotations

import shutil
import textwrap

from authserver import POLICY_DIR
from authserver.cli import main
from authserver.policy import load_policy
from authserver.policy.mutation import mutants
from authserver.routes import build_route_table

DEFAULT = str(POLICY_DIR / "default.yaml")
ARVADOS = str(POLICY_DIR / "arvados-2.7.yaml")
ROUTE_TARGETS = build_route_table().method_targets()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["policy", "test", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def copy_shipped(tmp_path):
    policy, table = tmp_path / "default.yaml", tmp_path / "default.test.yaml"
    shutil.copy(POLICY_DIR / "default.yaml", policy)
    shutil.copy(POLICY_DIR / "default.test.yaml", table)
    return policy, table


def without(text: str, start: str, end: str) -> str:
    """text with the part from `start` up to (not including) `end` cut out."""
    i = text.index(start)
    return text[:i] + text[text.index(end, i):]


def test_the_shipped_tables_cover_every_cell_and_rule_and_catch_every_mutant(capsys):
    code, out, err = run(capsys, "--require-coverage", "--mutate", DEFAULT, ARVADOS)
    assert code == 0, out + err
    assert "default.test.yaml: coverage: cells 462/462 (100%), rules 12/12 (100%)" in out
    assert "arvados-2.7.test.yaml: coverage: cells 462/462 (100%), rules 14/14 (100%)" in out
    assert "default.test.yaml: mutation ok: 36 of 36 mutants caught, 0 survived" in out
    assert "arvados-2.7.test.yaml: mutation ok: 38 of 38 mutants caught, 0 survived" in out


def test_uncovered_cells_fail_only_with_require_coverage(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    table.write_text(without(table.read_text(), "\nmatrices:", "\ncases:"))
    code, out, _ = run(capsys, str(policy))
    assert code == 0 and "coverage: cells 234/462 (50.6%), rules 12/12 (100%)" in out
    code, out, _ = run(capsys, "--require-coverage", str(policy))
    assert code == 1
    rows_line = next(i for i, line in enumerate(table.read_text().splitlines(), 1)
                     if line.startswith("    api_client_authorizations.current:"))  # the first row
    assert f"{table}:{rows_line}:5: not asserted: api_client_authorizations.list × trusted+inactive " \
           "(target none, self)" in out
    assert "more uncovered rows" in out


def test_a_rule_deciding_no_asserted_cell_fails_rule_coverage(capsys, tmp_path):
    policy, _ = copy_shipped(tmp_path)
    policy.write_text(policy.read_text() + textwrap.indent(textwrap.dedent("""\
        - id: inactive-trusted-reads-users
          description: Never decides anything (the inactive deny wins).
          effect: allow
          methods: [users.get]
          classes: [trusted]
          when: {is_active: false}
        """), "  "))
    code, out, _ = run(capsys, "--require-coverage", str(policy))
    assert code == 1
    assert "rules 12/13 (92.3%)" in out
    assert "not covered: rule inactive-trusted-reads-users decides none of the asserted cells" in out


def test_a_mutant_no_test_catches_is_reported_with_a_changed_cell(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    # The only case pinning trusted-create-own-tokens' constraints goes: dropping them goes unnoticed.
    table.write_text(without(table.read_text(), "  - name: a trusted token's new token stays",
                             "  - name: a trusted admin creates a token"))
    code, out, _ = run(capsys, str(policy))
    assert code == 0
    code, out, _ = run(capsys, "--mutate", str(policy))
    assert code == 1
    rule_line = next(i for i, line in enumerate(policy.read_text().splitlines(), 1)
                     if line == "  - id: trusted-create-own-tokens")
    assert (f"{policy}:{rule_line}:5: rule trusted-create-own-tokens is not pinned by any test: dropping its "
            "constraints changes 2 cells (e.g. trusted × api_client_authorizations.create target own: allow with "
            "expiry_within_creator+scopes_within_creator → allow)") in out
    assert "mutation FAILED: 35 of 36 mutants caught, 1 survived" in out


def test_mutants_are_flips_drops_and_loosenings_compiled_by_the_same_engine():
    policy = load_policy(DEFAULT, ROUTE_TARGETS)
    changes = [(m.rule.id, m.change) for m in mutants(policy)]
    assert ("inactive-users-do-nothing-else", "flipping its effect (deny → allow)") in changes
    assert ("everyone-reads-current", "dropping it") in changes
    assert ("everyone-reads-current", "dropping its conditions (when)") not in changes  # it has none
    flipped = next(m.policy for m in mutants(policy) if m.rule.id == "everyone-reads-current")
    assert not flipped.decide("untrusted", "api_client_authorizations.current", False, True, "self").allowed


def test_a_column_repeated_in_another_matrix_is_an_error(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    table.write_text(table.read_text().replace("[system+inactive, trusted+inactive,", "[system+inactive, trusted,"))
    code, _, err = run(capsys, str(policy))
    assert code == 2 and "column 'trusted' repeats an earlier one" in err
    assert err.startswith(f"{table}:")
