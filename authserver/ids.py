"""Identifiers, token secrets, digests and the wire timestamp format (SPEC §2)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"

TOKEN_TYPE = "gj3su"
CLIENT_TYPE = "ozdt8"
USER_TYPE = "tpzed"

# 50 base-36 characters carry log2(36) * 50 ≈ 258 bits: at least 256 bits, as SPEC §2 asks.
SECRET_LENGTH = 50

UUID_RE = re.compile(r"^[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{15}$")
SECRET_RE = re.compile(r"^[0-9a-zA-Z]{20,512}$")


def random_base36(length: int) -> str:
    return "".join(secrets.choice(BASE36) for _ in range(length))


def new_uuid(cluster_id: str, type_code: str) -> str:
    return f"{cluster_id}-{type_code}-{random_base36(15)}"


def fixed_uuid(cluster_id: str, type_code: str) -> str:
    """The all-zero UUID of a type: the system user and the system root token's record."""
    return f"{cluster_id}-{type_code}-{'0' * 15}"


def new_secret() -> str:
    return random_base36(SECRET_LENGTH)


def secret_digest(secret: str) -> str:
    """What the database keeps instead of a secret: hex SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def v2_token(token_uuid: str, secret: str) -> str:
    return f"v2/{token_uuid}/{secret}"


def split_token(presented: str) -> tuple[str | None, str] | None:
    """Return (uuid or None, secret) for a v1 or v2 token, or None when it is malformed."""
    if presented.startswith("v2/"):
        parts = presented.split("/")
        if len(parts) != 3 or not UUID_RE.match(parts[1]) or not SECRET_RE.match(parts[2]):
            return None
        return parts[1], parts[2]
    if not SECRET_RE.match(presented):
        return None
    return None, presented


def utcnow() -> datetime:
    """Naive UTC: what the database stores (peewee keeps naive datetimes on every backend)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def format_timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    # An f-string, not strftime: a token response formats five timestamps, and strftime was the largest
    # single cost of `GET current` (docs/performance.md).
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
        f"{value.second:02d}.{value.microsecond:06d}000Z"
    )


_TIMESTAMP_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into naive UTC; ValueError when it is not one."""
    match = _TIMESTAMP_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value
