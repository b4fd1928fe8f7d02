"""Durations as operators write them (SPEC §10): whole seconds, or 90s / 30m / 12h / 7d; 0 means no limit."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
_DURATION_RE = re.compile(r"^([0-9]+)([smhd]?)$")
# Far beyond any sensible lifetime, and small enough that now + duration never overflows datetime.
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: int | str) -> int | None:
    """Seconds, or None for "no limit" (0). ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        match = _DURATION_RE.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration (use seconds, or a number with s, m, h or d)")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than 100 years")
    return seconds or None
