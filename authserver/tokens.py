"""Issuing tokens and the limits on them: one place for the API, the CLI and the login flow.

`tokens.max_lifetime` caps every way a token is made and every change of its expiry (SPEC §10): the
result is the earliest of what was asked (or the default), now + max_lifetime, and the creator's expiry
where the policy ties them. Only an admin's explicit `expires_at` through the API may pass the cap.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from .authn import Identity
from .db import Storage
from .errors import forbidden
from .ids import TOKEN_TYPE, format_timestamp, new_secret, new_uuid, secret_digest, utcnow
from .policy import Decision
from .scopes import scopes_within

TOKEN_KIND = "arvados#apiClientAuthorization"


def scopes_key(scopes: list[str]) -> str:
    return json.dumps(sorted(set(scopes)), separators=(",", ":"))


def earliest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def etag_of(uuid: str, modified_at: datetime | None) -> str:
    return hashlib.sha256(f"{uuid}/{format_timestamp(modified_at)}".encode()).hexdigest()[:25]


class TokenService:
    def __init__(self, storage: Storage, cluster_id: str, max_lifetime_seconds: int | None):
        self.storage = storage
        self.cluster_id = cluster_id
        self.max_lifetime = timedelta(seconds=max_lifetime_seconds) if max_lifetime_seconds else None

    def cap(self, expires_at: datetime | None, *, exempt: bool = False) -> datetime | None:
        """Apply tokens.max_lifetime to an expiry (None = never expires)."""
        if self.max_lifetime is None or exempt:
            return expires_at
        return earliest(expires_at, utcnow() + self.max_lifetime)

    def issue(
        self,
        *,
        user_id: int,
        api_client_id: int | None,
        scopes: list[str],
        expires_at: datetime | None,
        ip_address: str | None,
        modified_by_user_uuid: str | None,
        exempt_from_cap: bool = False,
    ):
        """Create a token inside the caller's write transaction; returns (row, secret)."""
        secret = new_secret()
        now = utcnow()
        row = self.storage.models.Token.create(
            uuid=new_uuid(self.cluster_id, TOKEN_TYPE),
            secret_digest=secret_digest(secret),
            user=user_id,
            api_client=api_client_id,
            scopes=list(scopes),
            scopes_key=scopes_key(scopes),
            expires_at=self.cap(expires_at, exempt=exempt_from_cap),
            created_by_ip_address=ip_address,
            created_at=now,
            modified_at=now,
            modified_by_user_uuid=modified_by_user_uuid,
        )
        return row, secret


def apply_creator_limits(
    decision: Decision,
    creator: Identity,
    *,
    scopes: list[str] | None,
    expires_at: datetime | None,
    expires_given: bool,
    defaults_from_creator: bool = True,
) -> tuple[list[str] | None, datetime | None]:
    """The scopes and expiry a new or changed token may have under the deciding rule's constraints.

    With `scopes_within_creator` / `expiry_within_creator`, omitted values default to the creator's and
    wider or later ones are 403 naming the rule (SPEC §10). Without them, omitted scopes mean ["all"] and
    an omitted expiry means none (still capped by tokens.max_lifetime).
    """
    tie_scopes = "scopes_within_creator" in decision.constraints
    tie_expiry = "expiry_within_creator" in decision.constraints
    if scopes is None and defaults_from_creator:
        scopes = list(creator.scopes) if tie_scopes else ["all"]
    elif scopes is not None and tie_scopes and not scopes_within(scopes, list(creator.scopes)):
        raise forbidden(f"policy rule {decision.rule_id} does not allow scopes wider than the caller's token")
    if not expires_given and defaults_from_creator:
        expires_at = creator.expires_at if tie_expiry else None
    elif expires_given and tie_expiry and creator.expires_at is not None:
        if expires_at is None or expires_at > creator.expires_at:
            raise forbidden(f"policy rule {decision.rule_id} does not allow an expiry later than the caller's token's")
    return scopes, expires_at


def token_json(row, owner_uuid: str, secret: str | None = None) -> dict:
    return {
        "kind": TOKEN_KIND,
        "etag": etag_of(row.uuid, row.modified_at),
        "uuid": row.uuid,
        "owner_uuid": owner_uuid,
        "created_at": format_timestamp(row.created_at),
        "modified_at": format_timestamp(row.modified_at),
        "modified_by_user_uuid": row.modified_by_user_uuid,
        "api_client_id": row.api_client_id or 0,
        "api_token": secret,
        "created_by_ip_address": row.created_by_ip_address,
        "expires_at": format_timestamp(row.expires_at),
        "last_used_at": format_timestamp(row.last_used_at),
        "last_used_by_ip_address": row.last_used_by_ip_address,
        "scopes": list(row.scopes),
    }
