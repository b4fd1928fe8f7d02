"""Policy decision micro-benchmark: ns per decision for authserver's engine, pycasbin and cedarpy.

The same rules are given to all three: `policies/default.yaml` and a generated 10,000-rule policy, each
translated rule for rule into a pycasbin model (deny overrides allow, default deny) and into Cedar
(`permit` / `forbid`, which has the same precedence). Before timing, the cells of the decision table are
asked of all three and the answers compared, so the figures compare engines that agree.

Each engine is timed on the same cycle of requests: authserver's `Policy.decide`, pycasbin's
`Enforcer.enforce`, cedarpy's `is_authorized` with a pre-parsed PolicySet and Entities (parsing once is
how a server would use it). The slow engines are timed for a bounded time, not a fixed count.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from itertools import product
from pathlib import Path

import yaml

from authserver import POLICY_DIR
from authserver.policy import TARGETS, TOKEN_CLASSES, Policy, Rule, load_policy
from authserver.routes import build_route_table

GENERATED_RULES = 10_000
GENERATOR_SEED = 9  # the generated policy is the same in every run


def route_targets() -> dict[str, tuple[str, ...]]:
    return build_route_table().method_targets()


def generated_rule_documents(rules: int = GENERATED_RULES, seed: int = GENERATOR_SEED) -> list[dict]:
    """`rules` valid rules (as a policy file writes them) over the app's real methods, classes and conditions.

    Deterministic for a seed: the same policy in every run. Allows are broad or narrow; denies (one rule
    in fifty) are narrow, one class and one target, as real exceptions are, so the table keeps a mix of
    allowed and denied cells rather than a deny everywhere.
    """
    rng = random.Random(seed)
    methods = sorted(route_targets())
    generated = []
    for index in range(rules):
        deny = rng.random() < 0.02
        rule = {
            "id": f"generated-{index:05d}",
            "description": "Generated for the decision benchmark.",
            "effect": "deny" if deny else "allow",
            "methods": sorted(rng.sample(methods, rng.randint(1, 3))),
            "classes": [rng.choice(TOKEN_CLASSES)] if deny else (
                "*" if rng.random() < 0.2 else sorted(rng.sample(TOKEN_CLASSES, rng.randint(1, 3)))),
        }
        when = {}
        if deny or rng.random() < 0.5:
            when["is_admin"] = rng.random() < 0.5
        if rng.random() < 0.2:
            when["is_active"] = rng.random() < 0.8
        if deny:
            when["target"] = [rng.choice(TARGETS)]
        elif rng.random() < 0.5:
            when["target"] = sorted(rng.sample(TARGETS, rng.randint(1, 2)))
        if when:
            rule["when"] = when
        generated.append(rule)
    return generated


def generate_policy(path: Path, rules: int = GENERATED_RULES, seed: int = GENERATOR_SEED) -> Path:
    """The generated rules as a policy file, for the real loader."""
    document = {"name": "generated", "description": f"{rules} generated rules (bench/decisions.py)",
                "rules": generated_rule_documents(rules, seed)}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def generated_rules(rules: int = GENERATED_RULES, seed: int = GENERATOR_SEED) -> list[Rule]:
    """The same rules as engine `Rule`s, skipping the YAML reader (which costs seconds for 10,000 rules)."""
    compiled = []
    for document in generated_rule_documents(rules, seed):
        when = document.get("when", {})
        classes = document["classes"]
        compiled.append(Rule(
            id=document["id"],
            effect=document["effect"],
            methods=frozenset(document["methods"]),
            classes=frozenset(TOKEN_CLASSES if classes == "*" else classes),
            is_admin=when.get("is_admin"),
            is_active=when.get("is_active"),
            targets=frozenset(when["target"]) if "target" in when else None,
            description=document["description"],
        ))
    return compiled


def all_requests(policy: Policy) -> list[tuple]:
    """Every cell of the table, as the arguments of Policy.decide, in a fixed shuffled order."""
    cells = [
        (token_class, method, is_admin, is_active, target)
        for token_class, (method, targets), is_admin, is_active in product(
            TOKEN_CLASSES, policy.route_targets.items(), (False, True), (False, True))
        for target in targets
    ]
    random.Random(1).shuffle(cells)
    return cells


# --- authserver's engine ---------------------------------------------------------------------------


def time_authserver(policy: Policy, requests: list[tuple], *, calls: int, repeats: int) -> list[float]:
    """ns per `Policy.decide`, one figure per repeat (loop overhead included: it is part of a decision)."""
    decide = policy.decide
    cycle = (requests * (calls // len(requests) + 1))[:calls]
    figures = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        for token_class, method, is_admin, is_active, target in cycle:
            decide(token_class, method, is_admin, is_active, target)
        figures.append((time.perf_counter_ns() - started) / calls)
    return figures


def time_bounded(decide_one, requests: list[tuple], seconds: float, minimum: int = 5) -> tuple[float, int]:
    """Median ns per decision of a slow engine, asking the cycle of requests for about `seconds`."""
    samples = []
    deadline = time.perf_counter() + seconds
    index = 0
    while index < minimum or time.perf_counter() < deadline:
        args = requests[index % len(requests)]
        started = time.perf_counter_ns()
        decide_one(args)
        samples.append(time.perf_counter_ns() - started)
        index += 1
    return statistics.median(samples), len(samples)


# --- pycasbin --------------------------------------------------------------------------------------

CASBIN_MODEL = """
[request_definition]
r = cls, admin, active, act, target

[policy_definition]
p = cls, admin, active, act, target, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = p.act == r.act && (p.cls == "*" || p.cls == r.cls) && (p.admin == "*" || p.admin == r.admin) \
&& (p.active == "*" || p.active == r.active) && (p.target == "*" || p.target == r.target)
"""


def _flag(value: bool | None) -> str:
    return "*" if value is None else ("true" if value else "false")


def casbin_lines(rules: list[Rule]) -> list[list[str]]:
    lines = []
    for rule in rules:
        classes = ["*"] if rule.classes == frozenset(TOKEN_CLASSES) else sorted(rule.classes)
        targets = ["*"] if rule.targets is None else sorted(rule.targets)
        for method, token_class, target in product(sorted(rule.methods), classes, targets):
            lines.append([token_class, _flag(rule.is_admin), _flag(rule.is_active), method, target, rule.effect])
    return lines


def casbin_enforcer(rules: list[Rule], directory: Path):
    import casbin

    model_path = directory / "model.conf"
    model_path.write_text(CASBIN_MODEL)
    policy_path = directory / "policy.csv"
    policy_path.write_text("".join("p, " + ", ".join(line) + "\n" for line in casbin_lines(rules)))
    return casbin.Enforcer(str(model_path), str(policy_path))


def casbin_decider(enforcer):
    def decide(args: tuple) -> bool:
        token_class, method, is_admin, is_active, target = args
        return enforcer.enforce(token_class, _flag(is_admin), _flag(is_active), method, target)
    return decide


# --- cedarpy ---------------------------------------------------------------------------------------


def _cedar_set(values) -> str:
    return "[" + ", ".join(f'"{value}"' for value in sorted(values)) + "]"


def cedar_text(rules: list[Rule]) -> str:
    policies = []
    for rule in rules:
        conditions = [f"{_cedar_set(rule.classes)}.contains(principal.token_class)"]
        if rule.is_admin is not None:
            conditions.append(f"principal.is_admin == {str(rule.is_admin).lower()}")
        if rule.is_active is not None:
            conditions.append(f"principal.is_active == {str(rule.is_active).lower()}")
        if rule.targets is not None:
            conditions.append(f"{_cedar_set(rule.targets)}.contains(resource.relation)")
        actions = ", ".join(f'Action::"{method}"' for method in sorted(rule.methods))
        effect = "permit" if rule.effect == "allow" else "forbid"
        policies.append(f'@id("{rule.id}")\n{effect}(principal, action in [{actions}], resource)\n'
                        f"when {{ {' && '.join(conditions)} }};")
    return "\n".join(policies)


def _principal_id(token_class: str, is_admin: bool, is_active: bool) -> str:
    return f"{token_class}-{'admin' if is_admin else 'user'}-{'active' if is_active else 'inactive'}"


def cedar_entities() -> list[dict]:
    """One principal per (class, is_admin, is_active), one resource per target relation."""
    entities = [
        {"uid": {"type": "Token", "id": _principal_id(token_class, is_admin, is_active)},
         "attrs": {"token_class": token_class, "is_admin": is_admin, "is_active": is_active}, "parents": []}
        for token_class, is_admin, is_active in product(TOKEN_CLASSES, (False, True), (False, True))
    ]
    entities += [{"uid": {"type": "Target", "id": target}, "attrs": {"relation": target}, "parents": []}
                 for target in TARGETS]
    return entities


def cedar_decider(rules: list[Rule]):
    import json

    import cedarpy

    policy_set = cedarpy.PolicySet.from_str(cedar_text(rules))
    entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities()))

    def decide(args: tuple) -> bool:
        token_class, method, is_admin, is_active, target = args
        request = {"principal": f'Token::"{_principal_id(token_class, is_admin, is_active)}"',
                   "action": f'Action::"{method}"', "resource": f'Target::"{target}"', "context": {}}
        return cedarpy.is_authorized(request, policy_set, entities).decision == cedarpy.Decision.Allow
    return decide


# --- the run ---------------------------------------------------------------------------------------


def disagreements(policy: Policy, decider, requests: list[tuple]) -> int:
    return sum(1 for args in requests if policy.decide(*args).allowed != decider(args))


def benchmark(quick: bool = False) -> dict:
    """All figures of the micro-benchmark; medians in ns."""
    repeats = 5 if quick else 9
    calls = 100_000 if quick else 300_000
    slow_seconds = 1.0 if quick else 3.0
    targets = route_targets()
    results = {}
    with tempfile.TemporaryDirectory(prefix="authserver-bench-policy-") as scratch:
        scratch = Path(scratch)
        policies = {
            "default.yaml": lambda: load_policy(POLICY_DIR / "default.yaml", targets),
            # The full run reads the generated policy through the real loader (YAML, schema, compile); the
            # quick run compiles the same rules directly, skipping the reader's tens of seconds.
            f"generated {GENERATED_RULES:,} rules": (
                (lambda: Policy(rules=generated_rules(), route_targets=targets)) if quick
                else (lambda: load_policy(generate_policy(scratch / "generated.yaml"), targets))),
        }
        for name, load in policies.items():
            started = time.perf_counter()
            policy = load()
            load_seconds = time.perf_counter() - started
            requests = all_requests(policy)
            entry = {"rules": len(policy.rules), "cells": len(requests), "load_seconds": round(load_seconds, 3)}
            # authserver first and last: the figure is the median of both halves, so drift shows.
            figures = time_authserver(policy, requests, calls=calls, repeats=repeats)
            casbin_dir = scratch / f"casbin-{len(results)}"
            casbin_dir.mkdir()
            enforcer = casbin_decider(casbin_enforcer(policy.rules, casbin_dir))
            cedar = cedar_decider(policy.rules)
            # Every cell for default.yaml; every fourth for the generated policy, where one cedarpy decision
            # takes tens of milliseconds and all 528 would add half a minute to the run.
            checked = requests if len(policy.rules) < 1000 else requests[::4]
            entry["checked_cells"] = len(checked)
            entry["casbin_disagreements"] = disagreements(policy, enforcer, checked)
            entry["cedar_disagreements"] = disagreements(policy, cedar, checked)
            entry["casbin_ns"], entry["casbin_samples"] = time_bounded(enforcer, requests, slow_seconds)
            entry["cedar_ns"], entry["cedar_samples"] = time_bounded(cedar, requests, slow_seconds)
            figures += time_authserver(policy, requests, calls=calls, repeats=repeats)
            entry["authserver_ns"] = statistics.median(figures)
            entry["authserver_ns_all"] = [round(figure, 1) for figure in figures]
            results[name] = entry
    return results


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(benchmark(quick="--quick" in sys.argv), indent=2))
