"""Invariants proved by `policy check` over every cell of the compiled table, and their counterexamples."""

from __future__ import annotations

import shutil

import pytest

from authserver import POLICY_DIR
from authserver.cli import main
from authserver.policy.invariants import load_invariants
from authserver.routes import build_route_table

DEFAULT = str(POLICY_DIR / "default.yaml")
ARVADOS = str(POLICY_DIR / "arvados-2.7.yaml")
ROUTE_TARGETS = build_route_table().method_targets()


def check(capsys, *files) -> tuple[int, str, str]:
    code = main(["policy", "check", *map(str, files)])
    out, err = capsys.readouterr()
    return code, out, err


def private_default(tmp_path, old: str = "", new: str = ""):
    policy = tmp_path / "default.yaml"
    text = (POLICY_DIR / "default.yaml").read_text()
    assert old in text
    policy.write_text(text.replace(old, new, 1))
    return policy


def line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_policies_prove_their_invariants(capsys):
    code, out, err = check(capsys, DEFAULT, ARVADOS)
    assert code == 0, out + err
    assert f"{DEFAULT}: ok: 12 rules, 528 cells, 0 warnings, 6 invariants proved" in out
    assert f"{ARVADOS}: ok: 14 rules, 528 cells, 0 warnings, 5 invariants proved" in out


def test_the_seed_invariants_are_stated_in_default_yaml():
    invariants = {i.id: i for i in load_invariants(DEFAULT, ROUTE_TARGETS)}
    only = invariants["untrusted-and-api-created-read-only-themselves"]
    assert only.kind == "only" and only.classes == {"untrusted", "api_created"}
    writers = invariants["only-system-and-trusted-admins-register-clients-and-mint-system-tokens"]
    assert {m for call in writers.calls for m in call.methods} == {
        "api_clients.create", "api_clients.update", "api_clients.delete",
        "api_client_authorizations.create_system_auth"}
    assert invariants["api-created-within-trusted"].kind == "subset"


def test_an_opened_method_fails_check_and_names_the_counterexample_cell(capsys, tmp_path):
    policy = private_default(tmp_path, "    methods: [api_clients.*]\n    classes: [trusted]",
                             "    methods: [api_clients.*]\n    classes: [trusted, untrusted]")
    code, out, _ = check(capsys, policy)
    assert code == 1
    invariant_line = line_of(policy, "- id: only-system-and-trusted-admins-register-clients")
    rule_line = line_of(policy, "- id: trusted-admin-manages-api-clients")
    assert (f"{policy}:{invariant_line}:5: invariant only-system-and-trusted-admins-register-clients-and-mint-"
            "system-tokens violated by 3 cells") in out
    assert ("    counterexample: class untrusted, method api_clients.create, is_admin=true, is_active=true, "
            f"target none: allow by rule trusted-admin-manages-api-clients ({policy}:{rule_line}:5)") in out
    assert f"{policy}: FAILED: 2 of 6 invariants violated" in out


def test_a_subset_violation_names_the_rule_that_denies_the_wider_class(capsys, tmp_path):
    policy = private_default(tmp_path, "    methods: [api_client_authorizations.list]\n    classes: [trusted]",
                             "    methods: [api_client_authorizations.list]\n    classes: [api_created]")
    code, out, _ = check(capsys, policy)
    assert code == 1
    assert ("counterexample: class api_created, method api_client_authorizations.list, is_admin=false, "
            "is_active=true, target none: allow by rule trusted-list-tokens") in out
    assert "but trusted is denied by rule default-deny" in out
    assert "invariant untrusted-within-trusted violated" not in out


def test_invariants_are_not_inherited_by_a_policy_that_extends(capsys, tmp_path):
    shutil.copy(POLICY_DIR / "default.yaml", tmp_path / "default.yaml")
    loose = tmp_path / "loose.yaml"
    loose.write_text("extends: default.yaml\noverrides:\n  - id: trusted-admin-manages-api-clients\n"
                     "    classes: \"*\"\n")
    code, out, _ = check(capsys, loose)
    assert code == 0 and "0 invariants proved" in out
    code, _, _ = check(capsys, tmp_path / "default.yaml")
    assert code == 0


INVALID = {
    "an unknown method": ("users.current\n        - {method: users.get",
                          "users.steal\n        - {method: users.get", "unknown method 'users.steal'"),
    "a target the method does not have": ("{method: users.get, target: self}", "{method: users.get, target: none}",
                                          "users.get has no target none (its targets: other, self)"),
    "two kinds at once": ("    subset: {class: untrusted, of: trusted}",
                          "    subset: {class: untrusted, of: trusted}\n    only: {classes: [system], may_call: []}",
                          "invariant 'untrusted-within-trusted' states both only and subset"),
    "an unknown attribute (schema)": ("    subset: {class: untrusted, of: trusted}",
                                      "    subset: {class: untrusted, of: trusted, strict: true}",
                                      "unknown attribute 'strict'"),
    "a class subset of itself": ("{class: untrusted, of: trusted}", "{class: trusted, of: trusted}",
                                 "trivially a subset of itself"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_invariant_exits_2_with_file_line_and_column(capsys, tmp_path, case):
    old, new, words = INVALID[case]
    policy = private_default(tmp_path, old, new)
    code, out, err = check(capsys, policy)
    assert code == 2, out + err
    assert err.startswith(f"{policy}:") and words in err, err
    assert err.split(":")[1].isdigit() and err.split(":")[2].isdigit()


# --- invariants stated in a test table -------------------------------------------------------------------

TABLE_INVARIANT = """
invariants:
  - id: untrusted-never-lists-tokens
    description: An untrusted token never lists tokens.
    nobody_but:
      callers: [system, trusted, api_created]
      may_call: [api_client_authorizations.list]
"""


def arvados_copy_with_table_invariant(tmp_path, invariant: str = TABLE_INVARIANT):
    for name in ("default.yaml", "arvados-2.7.yaml", "arvados-2.7.test.yaml"):
        shutil.copy(POLICY_DIR / name, tmp_path / name)
    table = tmp_path / "arvados-2.7.test.yaml"
    table.write_text(table.read_text() + invariant)
    return tmp_path / "arvados-2.7.yaml", table


def test_a_test_table_may_state_invariants_that_check_and_test_prove(capsys, tmp_path):
    policy, table = arvados_copy_with_table_invariant(tmp_path)
    code, out, _ = check(capsys, table)
    assert code == 1
    line = line_of(table, "- id: untrusted-never-lists-tokens")
    assert f"{table}:{line}:5: invariant untrusted-never-lists-tokens violated by 2 cells" in out
    assert ("counterexample: class untrusted, method api_client_authorizations.list, is_admin=false, "
            "is_active=true, target self: allow by rule untrusted-lists-itself") in out
    assert f"{table}: FAILED: 1 of 1 invariants violated: test table" in out
    assert main(["policy", "test", str(policy)]) == 1
    assert f"{table}:{line}:5: invariant untrusted-never-lists-tokens violated" in capsys.readouterr().out
    code, out, _ = check(capsys, policy)  # the policy's own invariants still hold
    assert code == 0


def test_an_invalid_invariant_in_a_table_is_reported_with_its_line(capsys, tmp_path):
    _, table = arvados_copy_with_table_invariant(tmp_path, TABLE_INVARIANT.replace("      callers:", "      who:"))
    code, _, err = check(capsys, table)
    assert code == 2
    line = line_of(table, "who:")
    assert f"{table}:{line}:12: unknown attribute 'who' (expected one of: callers, may_call)" in err, err
    assert f"{table}:{line}:7: 'callers' is a required property" in err
