"""A loose guard on policy decision time (issue 9); the real figures come from `make bench`.

The bound is 25x the target (2 us), so a shared, busy machine does not make it flaky, while a regression to
evaluating rules per request (a 10,000-rule policy would then take milliseconds) is caught.
"""

from __future__ import annotations

import statistics
import time

from authserver import POLICY_DIR
from authserver.policy import Policy, load_policy
from bench.decisions import all_requests, generated_rules, route_targets

LOOSE_BOUND_NS = 50_000
CALLS = 20_000


def median_ns_per_decision(policy: Policy) -> float:
    requests = all_requests(policy)
    cycle = (requests * (CALLS // len(requests) + 1))[:CALLS]
    decide = policy.decide
    figures = []
    for _ in range(5):
        started = time.perf_counter_ns()
        for token_class, method, is_admin, is_active, target in cycle:
            decide(token_class, method, is_admin, is_active, target)
        figures.append((time.perf_counter_ns() - started) / CALLS)
    return statistics.median(figures)


def test_default_policy_decides_fast():
    policy = load_policy(POLICY_DIR / "default.yaml", route_targets())
    assert median_ns_per_decision(policy) < LOOSE_BOUND_NS


def test_ten_thousand_rules_decide_as_fast():
    rules = generated_rules(10_000)
    policy = Policy(rules=rules, route_targets=route_targets())
    assert len(policy.rules) == 10_000
    # The generated rules do decide something: some cells are allowed and some denied by a rule.
    decisions = [policy.decide(*request) for request in all_requests(policy)]
    assert any(decision.allowed for decision in decisions)
    assert any(not decision.allowed and decision.rule_id.startswith("generated-") for decision in decisions)
    assert median_ns_per_decision(policy) < LOOSE_BOUND_NS
