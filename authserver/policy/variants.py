"""Columns of a policy matrix: a token class and the user's flags (`trusted`, `trusted+admin`, ...).

The system root token acts as the system user, which is an admin, so `system` always means is_admin=true.
Inactive users are refused at authentication, so the standard columns are all active; a test table may
still name `+inactive` variants to pin down what the policy says about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .engine import TARGETS, TOKEN_CLASSES

VARIANT_RE = re.compile(r"^(system|trusted|untrusted|api_created)(\+admin)?(\+inactive)?$")


@dataclass(frozen=True)
class Variant:
    token_class: str
    is_admin: bool
    is_active: bool = True

    @property
    def label(self) -> str:
        label = self.token_class
        if self.is_admin and self.token_class != "system":
            label += "+admin"
        if not self.is_active:
            label += "+inactive"
        return label

    def describe(self) -> str:
        return (f"class {self.token_class}, is_admin={str(self.is_admin).lower()}, "
                f"is_active={str(self.is_active).lower()}")


def parse_variant(label: str) -> Variant:
    match = VARIANT_RE.match(label)
    if not match:
        raise ValueError(f"{label!r} is not a column (a token class, optionally +admin and +inactive)")
    token_class = match.group(1)
    return Variant(token_class, bool(match.group(2)) or token_class == "system", not match.group(3))


# The columns every request can fall into: what `policy table` shows and what a test table must cover.
STANDARD_VARIANTS = tuple(
    Variant(token_class, is_admin)
    for token_class in TOKEN_CLASSES
    for is_admin in ((True,) if token_class == "system" else (False, True))
)

# Every combination a cell of the table can describe for a real token: the standard columns, active and
# inactive. (A system token with is_admin=false cannot exist, so those cells are outside the domain.) The
# assurance tools (invariants, coverage, diff, the golden CSV) all range over exactly these cells.
ALL_VARIANTS = STANDARD_VARIANTS + tuple(Variant(v.token_class, v.is_admin, False) for v in STANDARD_VARIANTS)


def domain_cells(route_targets: dict[str, tuple[str, ...]]):
    """(variant, method, target) for every cell of ALL_VARIANTS, in a stable order (methods as routed)."""
    for method, targets in route_targets.items():
        for target in targets:
            for variant in ALL_VARIANTS:
                yield variant, method, target


def targets_expression(allowed: frozenset[str] | set[str], targets: tuple[str, ...]) -> str:
    """How a test table writes the allowed targets of a cell: allow (all), deny (none), or `self+own`."""
    if set(targets) <= set(allowed):
        return "allow"
    if not allowed:
        return "deny"
    return "+".join(target for target in TARGETS if target in allowed)


def parse_targets_expression(text: str, targets: tuple[str, ...]) -> frozenset[str]:
    """The inverse of targets_expression; ValueError names a target the method does not have."""
    if text == "allow":
        return frozenset(targets)
    if text == "deny":
        return frozenset()
    named = text.split("+")
    unknown = [name for name in named if name not in targets]
    if unknown:
        raise ValueError(f"{'/'.join(unknown)} is not a target of this method (its targets: {', '.join(targets)})")
    return frozenset(named)
