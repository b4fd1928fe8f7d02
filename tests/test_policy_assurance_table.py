"""Golden tables: `policies/<name>.csv` is `policy table --format csv` of the policy beside it, committed.

A change of behaviour then shows in review as one changed line per cell; these tests fail on any drift.
Regenerate with `make docs` (or `authserver policy table --format csv policies/X.yaml > policies/X.csv`).
"""

from __future__ import annotations

import difflib

import pytest

from authserver import POLICY_DIR
from authserver.policy import load_policy
from authserver.policy.render import render_csv
from authserver.routes import build_route_table

ROUTE_TARGETS = build_route_table().method_targets()
SHIPPED = sorted(path.name for path in POLICY_DIR.glob("*.yaml") if not path.name.endswith(".test.yaml"))


def test_every_shipped_policy_has_a_golden_table():
    assert SHIPPED == ["arvados-2.7.yaml", "default.yaml"]
    missing = [name for name in SHIPPED if not (POLICY_DIR / name).with_suffix(".csv").is_file()]
    assert not missing, f"no golden table beside {missing}"


@pytest.mark.parametrize("name", SHIPPED)
def test_the_golden_table_matches_the_policy(name):
    golden = (POLICY_DIR / name).with_suffix(".csv")
    actual = render_csv(load_policy(POLICY_DIR / name, ROUTE_TARGETS))
    drift = list(difflib.unified_diff(golden.read_text().splitlines(), actual.splitlines(),
                                      str(golden), "policy table --format csv", lineterm="", n=0))
    assert not drift, (f"{golden} is stale: the policy now decides these cells differently. If that is "
                       f"intended, run `authserver policy table --format csv policies/{name} > {golden.name}` "
                       "(or `make docs`) and commit the diff:\n" + "\n".join(drift[:40]))


def test_a_behaviour_change_is_one_changed_line_per_cell(tmp_path):
    policy = tmp_path / "default.yaml"
    policy.write_text((POLICY_DIR / "default.yaml").read_text().replace(
        "    methods: [api_client_authorizations.list]\n    classes: [trusted]",
        "    methods: [api_client_authorizations.list]\n    classes: [trusted, untrusted]", 1))
    before = (POLICY_DIR / "default.csv").read_text().splitlines()
    after = render_csv(load_policy(policy, ROUTE_TARGETS)).splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after) if old != new]
    # Each changed line is one cell of untrusted × list: active ones now allowed (4), inactive ones still
    # denied but with the new rule among those the deny overrode (4). Nothing else changed.
    assert {new.split(",")[:3][2].removesuffix("+inactive") for _, new in changed} == {"untrusted", "untrusted+admin"}
    assert len(changed) == 8 and all(new.startswith("api_client_authorizations.list,") for _, new in changed)
    assert sum(",allow," in new for _, new in changed) == 4
    assert ("api_client_authorizations.list,self,untrusted,untrusted,false,true,deny,default-deny,,",
            "api_client_authorizations.list,self,untrusted,untrusted,false,true,allow,trusted-list-tokens,,") in changed


# --- capability summaries --------------------------------------------------------------------------------


def test_the_table_summarises_what_each_kind_of_token_can_call(capsys):
    from authserver.cli import main

    code = main(["policy", "table", str(POLICY_DIR / "default.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    summary = out.split("\nCapabilities:\n", 1)[1].splitlines()
    assert "  The system root token can call: every method, at every target" in summary
    assert ("  untrusted tokens of non-admins can call: api_client_authorizations.current, users.list, "
            "users.get (self), users.current") in summary
    trusted = next(line for line in summary if line.startswith("  trusted tokens of non-admins"))
    assert "api_client_authorizations.get (self/own)" in trusted and "api_clients" not in trusted


def test_capabilities_follow_the_policy_in_markdown_and_html(capsys, tmp_path):
    from authserver.cli import main

    main(["policy", "table", "--format", "markdown", str(POLICY_DIR / "arvados-2.7.yaml")])
    markdown = capsys.readouterr().out
    assert ("- untrusted tokens of admins can call: api_client_authorizations.list (self), "
            "api_client_authorizations.get (self)") in markdown
    assert "api_clients.delete" in markdown.split("- untrusted tokens of admins can call:")[1].split("\n")[0]
    closed = tmp_path / "closed.yaml"
    closed.write_text("rules:\n  - id: current-only\n    description: Only current.\n    effect: allow\n"
                      "    methods: [api_client_authorizations.current]\n    classes: [system]\n")
    main(["policy", "table", "--format", "html", str(closed)])
    html = capsys.readouterr().out
    assert "<li>The system root token can call: api_client_authorizations.current</li>" in html
    assert "<li>trusted tokens of non-admins can call: nothing</li>" in html
