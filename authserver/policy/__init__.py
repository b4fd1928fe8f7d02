"""Policy: which token class may call which method (SPEC §5). See docs/policy.md."""

from .engine import CONSTRAINTS, DEFAULT_DENY, TARGETS, TOKEN_CLASSES, Decision, Policy, Rule
from .loader import PolicyError, load_policy

__all__ = [
    "CONSTRAINTS",
    "DEFAULT_DENY",
    "TARGETS",
    "TOKEN_CLASSES",
    "Decision",
    "Policy",
    "PolicyError",
    "Rule",
    "load_policy",
]
