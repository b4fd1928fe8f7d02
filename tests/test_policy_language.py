"""The policy language: every refusal of a broken file, precedence, extends, warnings, the compiled table."""

from __future__ import annotations

import textwrap

import pytest

from authserver import POLICY_DIR
from authserver.policy import Policy, PolicyError, Rule, load_policy
from authserver.policy.analysis import policy_warnings
from authserver.policy.engine import DEFAULT_DENY, EVALUATION_ERROR
from authserver.routes import build_route_table

ROUTE_TARGETS = build_route_table().method_targets()

RULE = """\
rules:
  - id: trusted-reads-tokens
    description: A trusted token reads its own user's tokens.
    effect: allow
    methods: [api_client_authorizations.get]
    classes: [trusted]
    when:
      target: [self, own]
"""


def write(directory, name: str, text: str):
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, ROUTE_TARGETS)
    return caught.value.problems


def assert_problem(path, line: int, column: int, *words: str) -> None:
    problems = problems_of(path)
    prefix = f"{path}:{line}:{column}: "
    matching = [p for p in problems if p.startswith(prefix) and all(w in p for w in words)]
    assert matching, f"expected {prefix}... {words}, got {problems}"


# --- every problem is refused with file:line:column -----------------------------------------------------


BROKEN = {
    "duplicate key (PyYAML would keep the last)": (
        RULE + "    effect: deny\n", 9, 5, ["duplicate key 'effect'"]),
    "a second YAML document": (RULE + "---\nrules: []\n", 10, 1, ["only one YAML document"]),
    "YAML 1.1 boolean where a class name is expected": (
        RULE.replace("classes: [trusted]", "classes: [trusted, no]"), 6, 24, ["boolean", "quote it"]),
    "YAML 1.1 boolean as a key": (RULE.replace("    when:", "    on: trusted\n    when:"), 7, 9, ["boolean true"]),
    "YAML 1.1 boolean where a method is expected": (
        RULE.replace("methods: [api_client_authorizations.get]", "methods: off"), 5, 14, ["boolean"]),
    "unknown attribute": (RULE.replace("    when:", "    colour: red\n    when:"), 7, 13, ["unknown attribute 'colour'"]),
    "unknown condition": (RULE + "      is_root: true\n", 9, 16, ["unknown attribute 'is_root'"]),
    "unknown method": (RULE.replace("api_client_authorizations.get]", "api_client_authorizations.steal]"), 5, 15,
                       ["unknown method 'api_client_authorizations.steal'"]),
    "unknown resource in a wildcard": (RULE.replace("[api_client_authorizations.get]", "[groups.*]"), 5, 15,
                                       ["unknown resource 'groups'"]),
    "unknown class": (RULE.replace("classes: [trusted]", "classes: [robots]"), 6, 15, ["robots", "is not one of"]),
    "unknown target": (RULE.replace("[self, own]", "[self, mine]"), 8, 22, ["mine"]),
    "unknown effect": (RULE.replace("effect: allow", "effect: permit"), 4, 13, ["permit"]),
    "missing description": (RULE.replace("    description: A trusted token reads its own user's tokens.\n", ""),
                            2, 5, ["'description' is a required property"]),
    "bad rule id": (RULE.replace("id: trusted-reads-tokens", "id: Trusted Reads"), 2, 9, ["does not match"]),
    "duplicate rule id": (RULE + RULE.replace("rules:\n", ""), 9, 9, ["duplicate rule id 'trusted-reads-tokens'"]),
    "constraints on a deny": (
        RULE.replace("effect: allow", "effect: deny") + "    constraints:\n      scopes_within_creator: true\n",
        10, 7, ["constraints only apply to allow rules"]),
    "no rules": ("name: empty\n", 1, 1, ["'rules' is a required property"]),
    "not a mapping": ("- just\n- a list\n", 1, 1, ["a policy is a mapping"]),
    "YAML syntax error": (RULE + "  - id: [unclosed\n", 10, 1, []),
    "remove without extends": (RULE + "remove: [x]\n", 1, 1, ["'extends' is a dependency of 'remove'"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_policy_is_refused_with_file_line_and_column(tmp_path, case):
    text, line, column, words = BROKEN[case]
    path = write(tmp_path, "broken.yaml", text)
    assert_problem(path, line, column, *words)


def test_every_problem_of_a_file_is_reported_not_only_the_first(tmp_path):
    text = RULE.replace("classes: [trusted]", "classes: [trusted, yes]").replace("    when:", "    colour: red\n    when:")
    problems = problems_of(write(tmp_path, "two.yaml", text))
    assert len(problems) == 2
    assert [p.split(":")[1] for p in problems] == ["6", "7"]  # in line order


def test_the_shipped_policies_load_without_warnings():
    for name in ("default.yaml", "arvados-2.7.yaml"):
        policy = load_policy(POLICY_DIR / name, ROUTE_TARGETS)
        assert policy_warnings(policy) == []
        assert len(policy.table) == sum(len(t) for t in ROUTE_TARGETS.values()) * 4 * 2 * 2  # total


# --- precedence ------------------------------------------------------------------------------------------


def _rule(rule_id, effect, methods, classes, **when) -> Rule:
    return Rule(id=rule_id, effect=effect, methods=frozenset(methods), classes=frozenset(classes), **when)


def test_a_deny_beats_any_allow_and_rule_order_never_matters():
    allow = _rule("allow-users", "allow", ["users.get"], ["trusted"])
    deny = _rule("deny-other-users", "deny", ["users.get"], ["trusted"], targets=frozenset(["other"]))
    also = _rule("also-allow", "allow", ["users.get"], ["trusted", "untrusted"])
    tables = [Policy([a, b, c], ROUTE_TARGETS).table for a, b, c in
              ((allow, deny, also), (deny, also, allow), (also, allow, deny))]
    assert tables[0] == tables[1] == tables[2]
    policy = Policy([allow, deny, also], ROUTE_TARGETS)
    denied = policy.decide("trusted", "users.get", False, True, "other")
    assert (denied.allowed, denied.rule_id, set(denied.overridden)) == (False, "deny-other-users",
                                                                         {"allow-users", "also-allow"})
    allowed = policy.decide("trusted", "users.get", False, True, "self")
    assert (allowed.allowed, allowed.rule_id, allowed.overridden) == (True, "allow-users", ("also-allow",))
    assert policy.decide("api_created", "users.get", False, True, "self").rule_id == DEFAULT_DENY


def test_constraints_of_all_matching_allows_add_up():
    loose = _rule("loose", "allow", ["api_client_authorizations.create"], ["trusted"])
    tight = Rule(id="tight", effect="allow", methods=frozenset(["api_client_authorizations.create"]),
                 classes=frozenset(["trusted"]), constraints=frozenset(["scopes_within_creator"]))
    decision = Policy([loose, tight], ROUTE_TARGETS).decide("trusted", "api_client_authorizations.create",
                                                            False, True, "own")
    assert decision.allowed and decision.constraints == {"scopes_within_creator"}


def test_evaluation_errors_fail_closed():
    policy = Policy([_rule("all", "allow", list(ROUTE_TARGETS), ["trusted"])], ROUTE_TARGETS)
    assert policy.decide("trusted", "users.get", False, True, "self").allowed
    odd = policy.decide("trusted", ["users.get"], False, True, "self")  # unhashable: cannot be looked up
    assert (odd.allowed, odd.rule_id) == (False, EVALUATION_ERROR)
    assert policy.method_decision("trusted", {"users.get": 1}, False, True).rule_id == EVALUATION_ERROR
    assert policy.decide("trusted", "users.steal", False, True, "self").rule_id == DEFAULT_DENY
    assert policy.allowed_targets("trusted", ["x"], False, True) == frozenset()


def test_a_failing_policy_object_answers_403_not_500(client, app, actors):
    class Exploding:
        def method_decision(self, *args):
            raise RuntimeError("boom")

    app.services.policy.policy = Exploding()
    response = client.simulate_get("/arvados/v1/users/current", headers=actors.token("trusted").headers)
    assert response.status_code == 403
    assert EVALUATION_ERROR in response.json["errors"][0]


def test_a_decision_costs_the_same_with_10_or_10000_rules(monkeypatch):
    """Structurally, not by the clock (timings flake on a shared machine; `make bench` measures them):
    compiling fills the same total table whatever the rule count, and deciding never evaluates a rule."""
    methods = list(ROUTE_TARGETS)
    classes = ("trusted", "untrusted", "api_created")

    def rules(count):
        return [_rule(f"r{i}", "allow" if i % 7 else "deny", [methods[i % len(methods)]], [classes[i % 3]],
                      is_admin=bool(i % 2)) for i in range(count)]

    big = Policy(rules(10_000), ROUTE_TARGETS)
    small = Policy(rules(10), ROUTE_TARGETS)
    assert len(big.table) == len(small.table)

    evaluated = []
    monkeypatch.setattr(Rule, "matches", lambda self, *args, **kwargs: evaluated.append(self.id))
    for policy in (small, big):
        for key in list(policy.table):
            assert policy.decide(*key) is policy.table[key]
    assert evaluated == [], "a decision evaluated rules instead of looking its cell up"


# --- extends ---------------------------------------------------------------------------------------------


BASE = """\
name: base
rules:
  - id: trusted-reads-tokens
    description: A trusted token reads its own user's tokens.
    effect: allow
    methods: [api_client_authorizations.get]
    classes: [trusted]
    when:
      target: [self, own]
  - id: trusted-creates
    description: A trusted token creates tokens within its own scopes.
    effect: allow
    methods: [api_client_authorizations.create]
    classes: [trusted]
    constraints:
      scopes_within_creator: true
"""


def test_extends_overrides_by_id_removes_and_adds(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
        extends: base.yaml
        remove: [trusted-creates]
        overrides:
          - id: trusted-reads-tokens
            classes: [trusted, api_created]
        rules:
          - id: untrusted-reads-itself
            description: An untrusted token reads itself.
            effect: allow
            methods: [api_client_authorizations.get]
            classes: [untrusted]
            when: {target: self}
        """)
    policy = load_policy(child, ROUTE_TARGETS)
    assert [rule.id for rule in policy.rules] == ["trusted-reads-tokens", "untrusted-reads-itself"]
    overridden = policy.rule("trusted-reads-tokens")
    assert overridden.classes == {"trusted", "api_created"}
    assert overridden.targets == {"self", "own"}  # kept from the base
    assert overridden.location == f"{child}:4:5"  # the override is where the rule now lives
    assert policy.decide("api_created", "api_client_authorizations.get", False, True, "own").allowed
    assert not policy.decide("trusted", "api_client_authorizations.create", False, True, "own").allowed
    assert policy.sources == (str(tmp_path / "base.yaml"), str(child))


def test_arvados_policy_is_a_short_extension_of_default():
    text = (POLICY_DIR / "arvados-2.7.yaml").read_text()
    rules_text = text.split("\ninvariants:")[0]  # what it proves about itself comes after
    assert "extends: default.yaml" in rules_text and len(rules_text.splitlines()) < 80
    policy = load_policy(POLICY_DIR / "arvados-2.7.yaml", ROUTE_TARGETS)
    default = load_policy(POLICY_DIR / "default.yaml", ROUTE_TARGETS)
    assert {rule.id for rule in default.rules} < {rule.id for rule in policy.rules}
    create = policy.decide("trusted", "api_client_authorizations.create", False, True, "own")
    assert create.allowed and not create.constraints  # switched off
    assert default.decide("trusted", "api_client_authorizations.create", False, True, "own").constraints


EXTENDS_BROKEN = {
    "override of an unknown rule": ("extends: base.yaml\noverrides:\n  - id: no-such-rule\n    classes: [trusted]\n",
                                    3, 9, ["base.yaml has no rule 'no-such-rule'"]),
    "remove of an unknown rule": ("extends: base.yaml\nremove: [no-such-rule]\n", 2, 10, ["has no rule 'no-such-rule'"]),
    "a new rule reusing a base id": (
        "extends: base.yaml\n" + BASE.split("rules:\n")[1].replace("  - id", "rules:\n  - id", 1).split("  - id: trusted-creates")[0],
        3, 9, ["already defined in", "overrides"]),
    "a missing base": ("extends: nowhere.yaml\nrules: []\n", 1, 10, ["no such file"]),
    "an override with nothing to change": ("extends: base.yaml\noverrides:\n  - id: trusted-creates\n", 3, 5,
                                           ["too few attributes", "an override needs `id` and a change"]),
}


@pytest.mark.parametrize("case", sorted(EXTENDS_BROKEN))
def test_a_broken_extension_is_refused_with_file_line_and_column(tmp_path, case):
    text, line, column, words = EXTENDS_BROKEN[case]
    write(tmp_path, "base.yaml", BASE)
    path = write(tmp_path, "child.yaml", text)
    problems = problems_of(path)
    prefix = f"{path}:{line}:{column}: "
    assert any(p.startswith(prefix) and any(w in p for w in words) for p in problems), problems


def test_an_extends_cycle_is_refused(tmp_path):
    write(tmp_path, "a.yaml", "extends: b.yaml\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    problems = problems_of(tmp_path / "a.yaml")
    assert problems == [f"{tmp_path / 'b.yaml'}:1:10: extends 'a.yaml' forms a cycle"]


def test_a_problem_in_the_base_is_reported_in_the_base(tmp_path):
    write(tmp_path, "base.yaml", BASE.replace("[trusted, ", "[trusted, robots, ").replace("classes: [trusted]\n    constraints",
                                                                                           "classes: [robots]\n    constraints"))
    path = write(tmp_path, "child.yaml", "extends: base.yaml\n")
    assert problems_of(path)[0].startswith(f"{tmp_path / 'base.yaml'}:14:15: ")


# --- warnings ------------------------------------------------------------------------------------------


def test_warnings_for_rules_that_never_match_are_shadowed_or_duplicated_and_closed_methods(tmp_path):
    path = write(tmp_path, "suspect.yaml", """\
        rules:
          - id: current-for-others
            description: current has only the target self, so this never matches.
            effect: allow
            methods: [api_client_authorizations.current]
            classes: "*"
            when: {target: other}
          - id: trusted-lists
            description: Trusted tokens list tokens.
            effect: allow
            methods: [api_client_authorizations.list]
            classes: [trusted]
          - id: trusted-lists-again
            description: The same again.
            effect: allow
            methods: [api_client_authorizations.list]
            classes: [trusted]
          - id: no-listing
            description: Nobody lists tokens.
            effect: deny
            methods: [api_client_authorizations.list]
            classes: "*"
          - id: everything-else
            description: Every class may call every method except the users ones.
            effect: allow
            methods: [api_client_authorizations.*, api_clients.*]
            classes: "*"
        """)
    warnings = policy_warnings(load_policy(path, ROUTE_TARGETS))
    text = "\n".join(warnings)
    assert f"{path}:2:5: warning: rule current-for-others can never match: its methods have targets self, never other" in text
    assert f"{path}:13:5: warning: rule trusted-lists-again duplicates rule trusted-lists" in text
    assert f"{path}:8:5: warning: allow rule trusted-lists is fully shadowed by deny rule(s) no-listing" in text
    assert "no rule allows users.get for any token class" in text
    assert "everything-else" not in text  # partly shadowed is not fully shadowed
