"""Warnings about a policy that loads but probably does not say what its author meant (`policy check`).

Everything here reads the compiled table, so a warning is exact: "can never match" means no cell of the
table matches the rule, "shadowed" means every cell the allow matches is decided by a deny.
"""

from __future__ import annotations

from .engine import DEFAULT_DENY, Policy, Rule


def _never_match_reason(rule: Rule, policy: Policy) -> str:
    if rule.targets is not None:
        available = sorted({target for method in rule.methods for target in policy.route_targets.get(method, ())})
        return (f"its methods have targets {', '.join(available) or '(none)'}, "
                f"never {', '.join(sorted(rule.targets))}")
    return "no cell of the decision table satisfies its conditions"


def policy_warnings(policy: Policy) -> list[str]:
    """One `file:line:column: warning: message` line per finding, in the order of the rules."""
    warnings = []
    seen_cell_sets: dict[tuple, Rule] = {}
    for rule in policy.rules:
        cells = frozenset(rule.cells(policy.route_targets))
        if not cells:
            warnings.append(f"{rule.location}: warning: rule {rule.id} can never match: "
                            f"{_never_match_reason(rule, policy)}")
            continue
        signature = (rule.effect, cells, rule.constraints)
        if signature in seen_cell_sets:
            first = seen_cell_sets[signature]
            warnings.append(f"{rule.location}: warning: rule {rule.id} duplicates rule {first.id} "
                            f"({first.location}): same effect on exactly the same requests")
        else:
            seen_cell_sets[signature] = rule
        if rule.effect == "allow":
            deciders = {policy.table[cell].rule_id for cell in cells if not policy.table[cell].allowed}
            shadowed = all(not policy.table[cell].allowed for cell in cells)
            if shadowed and DEFAULT_DENY not in deciders:
                warnings.append(f"{rule.location}: warning: allow rule {rule.id} is fully shadowed by deny "
                                f"rule(s) {', '.join(sorted(deciders))}: it never allows anything")
    allowed_methods = {key[1] for key, decision in policy.table.items() if decision.allowed}
    for method in policy.route_targets:
        if method not in allowed_methods:
            warnings.append(f"{policy.source}:1:1: warning: no rule allows {method} for any token class; "
                            "the method is closed to everyone")
    return warnings
