"""`authserver policy check|test|table|explain`: output, diffs and exit codes (0 ok, 1 failed, 2 invalid)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import textwrap

import pytest

from authserver import POLICY_DIR
from authserver.cli import main
from authserver.policy.variants import ALL_VARIANTS, STANDARD_VARIANTS
from authserver.routes import build_route_table

from .support import REPO

DEFAULT = str(POLICY_DIR / "default.yaml")
ARVADOS = str(POLICY_DIR / "arvados-2.7.yaml")
ROUTE_TARGETS = build_route_table().method_targets()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["policy", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def add_rule(policy, rule_text: str) -> None:
    """Append a rule (written at the left margin) to the `rules:` list of a policy file."""
    policy.write_text(policy.read_text() + textwrap.indent(rule_text, "  "))


def copy_shipped(tmp_path) -> tuple:
    """A private copy of default.yaml and its table, to break on purpose."""
    policy = tmp_path / "default.yaml"
    table = tmp_path / "default.test.yaml"
    shutil.copy(POLICY_DIR / "default.yaml", policy)
    shutil.copy(POLICY_DIR / "default.test.yaml", table)
    return policy, table


# --- check -----------------------------------------------------------------------------------------------


def test_check_accepts_the_shipped_policies(capsys):
    code, out, err = run(capsys, "check", DEFAULT, ARVADOS)
    assert code == 0, err
    assert f"{DEFAULT}: ok: 12 rules" in out and f"{ARVADOS}: ok: 14 rules" in out
    assert ": warning:" not in out


def test_check_reports_every_problem_of_an_invalid_file_and_exits_2(capsys, tmp_path):
    policy, _ = copy_shipped(tmp_path)
    text = policy.read_text().replace("classes: [system]", "classes: [system, robots]", 1)
    policy.write_text(text.replace("methods: [api_client_authorizations.list]", "methods: [tokens.list]", 1))
    code, out, err = run(capsys, "check", str(policy))
    assert code == 2
    assert f"{policy}: invalid (1 problem)" in out
    robots_line = text.splitlines().index("    classes: [system, robots]") + 1
    assert err.startswith(f"{policy}:{robots_line}:")  # the schema stops the file before names are resolved
    policy.write_text(text.replace("classes: [system, robots]", "classes: [system]").replace(
        "methods: [api_client_authorizations.list]", "methods: [tokens.list]", 1))
    code, out, err = run(capsys, "check", str(policy))
    assert code == 2 and "unknown method 'tokens.list'" in err


def test_check_prints_warnings_and_fails_only_when_strict(capsys, tmp_path):
    policy = tmp_path / "closed.yaml"
    policy.write_text(textwrap.dedent("""\
        rules:
          - id: current-only
            description: Only current is open.
            effect: allow
            methods: [api_client_authorizations.current]
            classes: "*"
        """))
    code, out, _ = run(capsys, "check", str(policy))
    assert code == 0
    assert f"{policy}:1:1: warning: no rule allows users.get for any token class" in out
    code, _, _ = run(capsys, "check", "--strict", str(policy))
    assert code == 1


def test_check_reads_the_configured_policy_by_default(capsys, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"policy: {ARVADOS}\n")
    code, out, _ = run(capsys, "check", "--config", str(config))
    assert code == 0 and "arvados-2.7.yaml: ok: 14 rules" in out


# --- test ------------------------------------------------------------------------------------------------


def test_test_passes_both_shipped_tables(capsys):
    code, out, err = run(capsys, "test", DEFAULT, str(POLICY_DIR / "arvados-2.7.test.yaml"))
    assert code == 0, out + err
    assert "default.test.yaml: ok" in out and "arvados-2.7.test.yaml: ok" in out
    assert "0 rules unexercised" in out


def test_test_prints_a_readable_diff_for_a_mismatched_cell_and_exits_1(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    # The policy drifts: untrusted tokens may now read themselves.
    add_rule(policy, textwrap.dedent("""\
          - id: untrusted-reads-itself
            description: An untrusted token reads itself.
            effect: allow
            methods: [api_client_authorizations.get]
            classes: [untrusted]
            when: {target: self}
        """))
    code, out, _ = run(capsys, "test", str(policy))
    assert code == 1
    lines = table.read_text().splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip().startswith("api_client_authorizations.get:")) + 1
    assert f"{table}:{row}:" in out
    assert "api_client_authorizations.get × untrusted (class untrusted, is_admin=false, is_active=true)" in out
    assert "- expected: deny" in out and "+ actual:   self" in out
    assert f"!! target self   expected deny   actual allow  decided by untrusted-reads-itself ({policy}:" in out
    assert "FAILED" in out and "3 mismatched" in out  # untrusted, untrusted+admin, and a named case


def test_test_checks_a_case_s_rule_and_constraints(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    policy.write_text(policy.read_text().replace("      scopes_within_creator: true\n      expiry_within_creator: true\n",
                                                 "      expiry_within_creator: true\n", 1))
    code, out, _ = run(capsys, "test", str(table))
    assert code == 1
    assert "!! constraints: expected expiry_within_creator, scopes_within_creator, actual expiry_within_creator" in out


def test_test_requires_a_row_for_every_method_and_every_standard_column(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    text = table.read_text()
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("users.system:"))
    table.write_text(text + "\n")
    code, out, _ = run(capsys, "test", str(policy))
    assert code == 1 and "no row for users.system" in out


def test_test_lists_rules_no_row_or_case_exercised(capsys, tmp_path):
    policy, table = copy_shipped(tmp_path)
    add_rule(policy, textwrap.dedent("""\
          - id: inactive-untrusted-reads-users
            description: Never decides anything the table checks (the inactive deny wins).
            effect: allow
            methods: [users.get]
            classes: [untrusted]
            when: {is_active: false}
        """))
    code, out, _ = run(capsys, "test", str(policy))
    assert code == 0
    assert "note: no row or case exercises rule inactive-untrusted-reads-users" in out


TABLE_BROKEN = {
    "a cell naming a target the method does not have": (
        ("api_client_authorizations.current:            [allow,", "api_client_authorizations.current:            [own,"),
        "own is not a target of this method"),
    "a row with too few cells": (("[allow,  deny,     allow,         deny,      deny,            deny,        deny]\n",
                                  "[allow,  deny]\n"), "2 cells for 7 columns"),
    "an unknown method": (("users.system:", "users.root:"), "unknown method 'users.root'"),
    "a YAML 1.1 boolean cell": (("[allow,  deny,", "[allow,  no,"), "boolean"),
    "an unknown column": (("api_created+admin]\n", "api_created+root]\n"), "does not match"),
    "a YAML 1.1 boolean row name": (("    users.current:", "    on: [allow, allow, allow, allow, allow, allow, allow]\n"
                                     "    users.current:"), "reads as the boolean true"),
    "a duplicate row": (("    users.current:", "    users.list: [allow, allow, allow, allow, allow, allow, allow]\n"
                         "    users.current:"), "duplicate key 'users.list'"),
}


@pytest.mark.parametrize("case", sorted(TABLE_BROKEN))
def test_an_invalid_table_exits_2_with_file_line_and_column(capsys, tmp_path, case):
    (old, new), words = TABLE_BROKEN[case]
    policy, table = copy_shipped(tmp_path)
    text = table.read_text()
    assert old in text
    table.write_text(text.replace(old, new, 1))
    code, _, err = run(capsys, "test", str(policy))
    assert code == 2
    assert err.startswith(f"{table}:") and words in err, err
    assert err.split(":")[1].isdigit() and err.split(":")[2].isdigit()


def test_test_without_a_table_exits_2(capsys, tmp_path):
    policy = tmp_path / "lonely.yaml"
    shutil.copy(POLICY_DIR / "default.yaml", policy)
    code, _, err = run(capsys, "test", str(policy))
    assert code == 2 and "lonely.test.yaml: no test table" in err


# --- table -----------------------------------------------------------------------------------------------


def test_table_prints_the_effective_matrix_as_text_and_markdown(capsys):
    code, out, _ = run(capsys, "table", DEFAULT)
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("method"))
    assert header.split() == ["method", "target"] + [v.label for v in STANDARD_VARIANTS]
    row = next(line for line in out.splitlines() if line.startswith("api_client_authorizations.create ") and " other " in line)
    assert row.split()[2:] == ["allow", "-", "allow*", "-", "-", "-", "-"]
    code, out, _ = run(capsys, "table", "--format", "markdown", DEFAULT)
    assert code == 0 and "| `users.get` | other | allow | - | allow | - | - | - | - |" in out


def test_table_as_csv_has_one_line_per_cell_with_its_rule(capsys):
    code, out, _ = run(capsys, "table", "--format", "csv", ARVADOS)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == sum(len(t) for t in ROUTE_TARGETS.values()) * len(ALL_VARIANTS)  # inactive users too
    cell = next(r for r in rows if r["method"] == "api_clients.create" and r["column"] == "untrusted+admin")
    assert (cell["effect"], cell["rule"]) == ("allow", "trusted-admin-manages-api-clients")


def test_table_as_html_links_every_cell_to_its_rule(capsys):
    code, out, _ = run(capsys, "table", "--format", "html", DEFAULT)
    assert code == 0
    assert out.startswith("<!doctype html>")
    assert '<tr id="rule-trusted-create-own-tokens">' in out
    assert '<td class="cell allowc"><a href="#rule-trusted-create-own-tokens"' in out
    assert '<td class="cell default"><a href="#default-deny"' in out
    assert out.count('<td class="cell ') == sum(len(t) for t in ROUTE_TARGETS.values()) * len(STANDARD_VARIANTS)


def test_table_of_an_invalid_file_exits_2(capsys, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    code, _, err = run(capsys, "table", str(broken))
    assert code == 2 and err.startswith(f"{broken}:")


# --- explain ---------------------------------------------------------------------------------------------


def test_explain_names_the_deciding_rule_its_location_and_why_others_did_not_match(capsys):
    code, out, _ = run(capsys, "explain", "--policy", DEFAULT, "--class", "trusted",
                       "--method", "api_client_authorizations.create", "--target", "other")
    assert code == 0
    assert "target other: DENY by default-deny" in out
    assert "not matched: allow trusted-admin-creates-for-others" in out
    assert "is_admin is false, the rule needs true" in out
    code, out, _ = run(capsys, "explain", "--policy", DEFAULT, "--class", "trusted", "--admin",
                       "--method", "api_client_authorizations.create", "--target", "other")
    assert "target other: ALLOW by rule trusted-admin-creates-for-others" in out
    assert "constraints: expiry_within_creator, scopes_within_creator" in out


def test_explain_shows_what_a_deny_overrode(capsys):
    code, out, _ = run(capsys, "explain", "--policy", DEFAULT, "--class", "trusted", "--admin", "--inactive",
                       "--method", "users.update")
    assert code == 0
    assert "target self: DENY by rule inactive-users-do-nothing-else" in out
    assert "also matched: allow trusted-admin-manages-users" in out and "a deny beats any allow" in out


def test_explain_without_target_explains_every_target_of_the_method(capsys):
    code, out, _ = run(capsys, "explain", "--policy", DEFAULT, "--class", "untrusted",
                       "--method", "api_client_authorizations.get")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("target")] == \
        ["target self", "target own", "target other"]


@pytest.mark.parametrize("argv", [
    ["--class", "trusted", "--method", "tokens.steal"],
    ["--class", "trusted", "--method", "api_client_authorizations.current", "--target", "other"],
    ["--class", "robots", "--method", "users.get"],
    ["--method", "users.get"],
])
def test_explain_with_bad_usage_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(["policy", "explain", *argv]))
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip()


def test_the_installed_command_exits_with_the_documented_codes(tmp_path):
    """Through a real process, as CI runs it."""
    command = [sys.executable, "-m", "authserver.cli", "policy"]
    ok = subprocess.run(command + ["test", DEFAULT, ARVADOS], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules:\n  - id: a\n    id: b\n")
    invalid = subprocess.run(command + ["check", str(broken)], capture_output=True, text=True)
    assert invalid.returncode == 2
    assert f"{broken}:3:5: duplicate key 'id'" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_check_validates_test_tables_too(capsys, tmp_path):
    code, out, _ = run(capsys, "check", str(POLICY_DIR / "default.test.yaml"))
    assert code == 0 and "default.test.yaml: ok: test table" in out
    _, table = copy_shipped(tmp_path)
    table.write_text(table.read_text().replace("users.system:", "users.root:"))
    code, _, err = run(capsys, "check", str(table))
    assert code == 2 and "unknown method 'users.root'" in err
