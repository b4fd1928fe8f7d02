"""Capability summaries: what each kind of token may call, in one sentence each (`policy table`).

Read straight off the compiled table, so a reviewer sees "untrusted tokens can call: ..." without reading a
single rule. A method open at every one of its targets is named alone; otherwise the allowed targets follow
it in brackets (`users.get (self)`).
"""

from __future__ import annotations

from .engine import Policy
from .variants import STANDARD_VARIANTS, Variant


def callable_methods(policy: Policy, variant: Variant) -> list[str]:
    """`method` or `method (target/target)` for every method this variant may call at some target."""
    entries = []
    for method, targets in policy.route_targets.items():
        allowed = policy.allowed_targets(variant.token_class, method, variant.is_admin, variant.is_active)
        if not allowed:
            continue
        if set(targets) <= allowed:
            entries.append(method)
        else:
            entries.append(f"{method} ({'/'.join(target for target in targets if target in allowed)})")
    return entries


def _who(variant: Variant) -> str:
    if variant.token_class == "system":
        return "The system root token"
    return f"{variant.token_class} tokens of {'admins' if variant.is_admin else 'non-admins'}"


def capability_sentences(policy: Policy) -> list[str]:
    """One sentence per standard column (active users: inactive ones are refused at authentication)."""
    sentences = []
    for variant in STANDARD_VARIANTS:
        entries = callable_methods(policy, variant)
        if len(entries) == len(policy.route_targets) and all(" (" not in entry for entry in entries):
            what = "every method, at every target"
        else:
            what = ", ".join(entries) or "nothing"
        sentences.append(f"{_who(variant)} can call: {what}")
    return sentences
