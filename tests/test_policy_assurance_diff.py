"""`policy diff OLD NEW`: escalations and revocations cell by cell, acknowledgements, git revisions."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from authserver import POLICY_DIR
from authserver.cli import main

DEFAULT = str(POLICY_DIR / "default.yaml")
ARVADOS = str(POLICY_DIR / "arvados-2.7.yaml")
LIST_RULE = "    methods: [api_client_authorizations.list]\n    classes: [trusted]"


def diff(capsys, *argv) -> tuple[int, str, str]:
    code = main(["policy", "diff", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def changed_default(tmp_path, old: str, new: str, name: str = "new.yaml"):
    path = tmp_path / name
    text = (POLICY_DIR / "default.yaml").read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_the_same_policy_has_no_changes(capsys):
    code, out, _ = diff(capsys, DEFAULT, DEFAULT)
    assert code == 0
    assert out.startswith(f"policy diff {DEFAULT} → {DEFAULT}: 0 escalations, 0 revocations")


def test_an_opened_call_is_an_escalation_grouped_by_class_with_its_rule_and_exits_1(capsys, tmp_path):
    new = changed_default(tmp_path, LIST_RULE, LIST_RULE.replace("[trusted]", "[trusted, untrusted]"))
    code, out, err = diff(capsys, DEFAULT, new)
    assert code == 1
    assert "4 escalations, 0 revocations" in out
    assert "ESCALATIONS (deny → allow, or fewer constraints): 4 cells" in out
    assert "  untrusted (4; rules responsible: trusted-list-tokens)" in out
    line = next(i for i, text in enumerate(new.read_text().splitlines(), 1) if text == "  - id: trusted-list-tokens")
    assert ("    api_client_authorizations.list target self (class untrusted, is_admin=true, is_active=true): "
            f"deny by default-deny → allow by trusted-list-tokens ({new}:{line}:5)") in out
    assert "4 escalations not acknowledged" in err
    code, _, _ = diff(capsys, DEFAULT, new, "--allow-escalation")
    assert code == 0


def test_a_closed_call_is_a_revocation_and_passes(capsys, tmp_path):
    new = changed_default(tmp_path, LIST_RULE, LIST_RULE.replace("    classes: [trusted]", "    classes: [trusted]\n"
                                                                 "    when: {is_admin: true}"))
    code, out, _ = diff(capsys, DEFAULT, new)
    assert code == 0
    assert "0 escalations, 2 revocations" in out
    assert "  trusted (2; rules responsible: trusted-list-tokens)" in out
    assert "api_client_authorizations.list target none (class trusted, is_admin=false, is_active=true): " \
           "allow by trusted-list-tokens" in out


def test_dropping_a_constraint_is_an_escalation(capsys, tmp_path):
    new = changed_default(tmp_path, "    when:\n      target: own\n    constraints:\n      scopes_within_creator: true\n",
                          "    when:\n      target: own\n    constraints:\n      scopes_within_creator: false\n")
    code, out, _ = diff(capsys, DEFAULT, new)
    assert code == 1
    assert "2 escalations" in out
    assert "allow with expiry_within_creator+scopes_within_creator by trusted-create-own-tokens" in out
    assert "→ allow with expiry_within_creator by trusted-create-own-tokens" in out


def test_an_ack_file_accepts_the_escalations_it_lists_and_notes_stale_entries(capsys, tmp_path):
    new = changed_default(tmp_path, LIST_RULE, LIST_RULE.replace("[trusted]", "[trusted, untrusted]"))
    ack = tmp_path / "ack.yaml"
    ack.write_text("acknowledged:\n"
                   "  - class: untrusted\n    method: api_client_authorizations.list\n    admin: false\n"
                   "    reason: browser apps list their own tokens\n")
    code, out, err = diff(capsys, DEFAULT, new, "--ack", ack)
    assert code == 1 and "2 escalations not acknowledged" in err  # the admins' two cells are not covered
    assert f"[acknowledged at {ack}:2:5: browser apps list their own tokens]" in out
    ack.write_text(ack.read_text().replace("    admin: false\n", "") +
                   "  - class: api_created\n    method: users.*\n    reason: not needed any more\n")
    code, out, _ = diff(capsys, DEFAULT, new, "--ack", ack)
    assert code == 0
    assert f"{ack}:5:5: note: this acknowledgement matches no escalation (stale?)" in out


@pytest.mark.parametrize("text, words", [
    ("acknowledged:\n  - class: untrusted\n    method: api_client_authorizations.list\n", "'reason' is a required"),
    ("acknowledged:\n  - class: untrusted\n    method: tokens.list\n    reason: x\n", "unknown method 'tokens.list'"),
    ("acknowledged:\n  - class: robots\n    method: users.get\n    reason: x\n", "'robots' is not one of"),
])
def test_an_invalid_ack_file_exits_2_with_file_line_and_column(capsys, tmp_path, text, words):
    ack = tmp_path / "ack.yaml"
    ack.write_text(text)
    code, _, err = diff(capsys, DEFAULT, DEFAULT, "--ack", ack)
    assert code == 2 and err.startswith(f"{ack}:") and words in err, err


def test_an_invalid_policy_exits_2(capsys, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    code, _, err = diff(capsys, DEFAULT, broken)
    assert code == 2 and err.startswith(f"{broken}:")


def git(repo, *argv) -> str:
    return subprocess.run(["git", "-c", "user.email=ci@example.org", "-c", "user.name=CI", *argv], cwd=repo,
                          check=True, capture_output=True, text=True).stdout


def test_old_may_be_a_git_revision_with_its_base_at_the_same_revision(capsys, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    shutil.copy(POLICY_DIR / "default.yaml", repo / "policies" / "default.yaml")
    shutil.copy(POLICY_DIR / "arvados-2.7.yaml", repo / "policies" / "arvados-2.7.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "policies")
    # The working copy's base changes: the extending policy's behaviour changes with it.
    base = repo / "policies" / "default.yaml"
    own_user = "methods: [users.current, users.get]"
    base.write_text(base.read_text().replace(own_user, own_user.replace("]", ", users.system]"), 1))
    monkeypatch.chdir(repo)
    code, out, _ = diff(capsys, "main:policies/arvados-2.7.yaml", "policies/arvados-2.7.yaml")
    assert code == 1
    assert out.startswith("policy diff main:policies/arvados-2.7.yaml → policies/arvados-2.7.yaml: 4 escalations")
    assert "users.system target self (class untrusted, is_admin=false, is_active=true): " \
           "deny by default-deny → allow by everyone-reads-own-user (policies/default.yaml:" in out
    code, out, _ = diff(capsys, "main:policies/default.yaml", "main:policies/default.yaml")
    assert code == 0 and "0 escalations, 0 revocations" in out
    monkeypatch.chdir(repo / "policies")  # `REV:./path` is relative to the working directory, bases too
    code, out, _ = diff(capsys, "main:./arvados-2.7.yaml", "arvados-2.7.yaml")
    assert code == 1 and "4 escalations" in out
    monkeypatch.chdir(repo)
    code, _, err = diff(capsys, "main:policies/missing.yaml", "policies/default.yaml")
    assert code == 2 and err.startswith("main:policies/missing.yaml: ")
    (repo / "policies" / "bad.yaml").write_text("rules:\n  - id: a\n    id: b\n")
    git(repo, "add", "policies/bad.yaml")
    git(repo, "commit", "-q", "-m", "bad")
    code, _, err = diff(capsys, "main:policies/bad.yaml", "policies/default.yaml")
    assert code == 2 and err.startswith("main:policies/bad.yaml:3:5: duplicate key 'id'"), err


def test_shipped_policies_diff_as_spec_5_describes(capsys):
    code, out, _ = diff(capsys, DEFAULT, ARVADOS)
    assert code == 1
    assert "0 revocations" in out
    assert "  untrusted (13; rules responsible: trusted-admin-manages-api-clients, untrusted-lists-itself, " \
           "untrusted-manages-itself)" in out
