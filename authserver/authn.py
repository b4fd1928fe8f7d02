"""Authentication: which token is presented, whose it is, and its class (SPEC §3, §5).

This runs on every request, so the look-up is one indexed, parameterised SQL query by secret digest rather
than ORM objects, and `TokenCache` (`tokens.cache_seconds`, 1 s by default, at most 1; 0 turns it off)
skips even that for a token looked up a moment ago, unless a write that may change who a token is has
committed since, here or in another process (`changes.py`).
"""

from __future__ import annotations

import hmac
import json
import time
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import datetime

from .db import Storage
from .errors import not_logged_in
from .ids import TOKEN_TYPE, USER_TYPE, fixed_uuid, secret_digest, split_token, utcnow
from .origins import OriginMatcher

MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class TokenRecord:
    """The presenting token's own row, as authentication read it: what `current` returns (no second query).

    Attribute names match the ORM row's, so `tokens.token_json` renders either.
    """

    uuid: str
    scopes: tuple[str, ...]
    created_at: datetime | None
    modified_at: datetime | None
    modified_by_user_uuid: str | None
    api_client_id: int | None
    created_by_ip_address: str | None
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_by_ip_address: str | None


@dataclass(frozen=True)
class Identity:
    """Who is calling: the presented token's record, its user and its class."""

    token_id: int | None  # None for the configured system root token (it has no row)
    secret: str  # the bare secret as presented; only `current` echoes it
    token_class: str
    user_id: int
    user_uuid: str
    is_admin: bool
    is_active: bool
    record: TokenRecord  # the token's own attributes (for the root token: its fixed, rowless record)
    # What resources derive from this identity alone (the rendered `current`), kept as long as the identity
    # is: a request's, or a cached identity's second.
    derived: dict = field(default_factory=dict, compare=False, repr=False)

    # The token's attributes the request path reads, from its one record.
    @property
    def token_uuid(self) -> str:
        return self.record.uuid

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.record.scopes

    @property
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @property
    def last_used_at(self) -> datetime | None:
        return self.record.last_used_at

    @property
    def created_at(self) -> datetime | None:
        return self.record.created_at

    @property
    def api_client_id(self) -> int | None:
        return self.record.api_client_id


def presented_token(params: dict, authorization: str | None) -> str | None:
    """The first token source present (SPEC §3): api_token, oauth_token, then the Authorization header."""
    for name in ("api_token", "oauth_token") if params else ():
        value = params.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return value
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "oauth2") and credentials.strip():
            return credentials.strip()
    return None


@lru_cache(maxsize=4096)
def parse_scopes(stored: str) -> tuple[str, ...]:
    """The stored JSON list of scopes as a tuple; most tokens share a few scope lists, so parse each once."""
    return tuple(json.loads(stored))


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class TrustResolver:
    """A client's effective trust (SPEC §4.2): its stored flag, or its url_prefix matching trusted_clients."""

    def __init__(self, trusted_clients: list[str]):
        self.matcher = OriginMatcher(trusted_clients)

    def is_trusted(self, stored_flag: bool, url_prefix: str | None) -> bool:
        return bool(stored_flag) or (url_prefix is not None and self.matcher.matches(url_prefix))


class TokenCache:
    """Identities this process looked up in the last `seconds` (at most 1, SPEC §10), keyed by secret digest.

    On by default (1 second). An entry is used only while it is fresh, while no write that may change who a
    token is has committed since it was read (`Storage.generation`: at once for this process's own writes,
    and through `changes.py` for other processes'), and while the token has not expired. Unknown tokens
    are never cached (a flood of random tokens cannot fill it), and it holds at most MAX_ENTRIES
    identities, emptied whole when full.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, tuple, "Identity"]] = {}

    def get(self, digest: str, generation: tuple) -> "Identity | None":
        entry = self._entries.get(digest)
        if entry is None:
            return None
        valid_until, read_generation, identity = entry
        if read_generation != generation or self.clock() >= valid_until:
            self._entries.pop(digest, None)
            return None
        return identity

    def put(self, digest: str, identity: "Identity", read_at: float, generation: tuple) -> None:
        valid_until = read_at + self.seconds
        if identity.expires_at is not None:
            # The token's own expiry, on this clock: an entry never outlives its token.
            valid_until = min(valid_until, read_at + (identity.expires_at - utcnow()).total_seconds())
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries = {}
        self._entries[digest] = (valid_until, generation, identity)


class Authenticator:
    def __init__(self, storage: Storage, cluster_id: str, system_root_token: str | None, trust: TrustResolver,
                 cache_seconds: float = 0):
        self.storage = storage
        self.trust = trust
        self.cache = TokenCache(cache_seconds) if cache_seconds > 0 else None
        if self.cache is not None:
            storage.watch_changes()  # other processes' revocations empty the cache too, not only the TTL
        self.system_user_uuid = fixed_uuid(cluster_id, USER_TYPE)
        self.system_token_uuid = fixed_uuid(cluster_id, TOKEN_TYPE)
        self._system_root_digest = secret_digest(system_root_token) if system_root_token else None
        self._system_user_id: int | None = None
        # The root token has no row; `current` shows this record for it (SPEC §10: the all-zero uuid).
        self._system_record = TokenRecord(
            uuid=self.system_token_uuid, scopes=("all",), created_at=None, modified_at=None,
            modified_by_user_uuid=None, api_client_id=None, created_by_ip_address=None, expires_at=None,
            last_used_at=None, last_used_by_ip_address=None,
        )
        p = storage.param
        self._lookup_sql = (
            "SELECT t.id, t.uuid, t.secret_digest, t.scopes, t.expires_at, t.last_used_at, t.created_at,"
            " t.api_client_id, u.id, u.uuid, u.is_admin, u.is_active, c.is_trusted, c.url_prefix,"
            " t.modified_at, t.modified_by_user_uuid, t.created_by_ip_address, t.last_used_by_ip_address"
            " FROM api_client_authorizations t"
            " JOIN users u ON u.id = t.user_id"
            " LEFT JOIN api_clients c ON c.id = t.api_client_id"
            f" WHERE t.secret_digest = {p}"
        )

    def system_user_id(self) -> int:
        if self._system_user_id is None:
            row = self.storage.execute(
                f"SELECT id FROM users WHERE uuid = {self.storage.param}", (self.system_user_uuid,)
            ).fetchone()
            self._system_user_id = row[0]
        return self._system_user_id

    def authenticate(self, presented: str | None) -> Identity | None:
        """The caller's identity, or None for a missing, unknown, malformed, expired or orphaned token."""
        if not presented or len(presented) > MAX_TOKEN_LENGTH:
            return None
        parts = split_token(presented)
        if parts is None:
            return None
        claimed_uuid, secret = parts
        digest = secret_digest(secret)
        if self._system_root_digest and hmac.compare_digest(digest, self._system_root_digest):
            if claimed_uuid not in (None, self.system_token_uuid):
                return None
            return Identity(
                token_id=None,
                secret=secret,
                token_class="system",
                user_id=self.system_user_id(),
                user_uuid=self.system_user_uuid,
                is_admin=True,
                is_active=True,
                record=self._system_record,
            )
        if self.cache is not None:
            cached = self.cache.get(digest, self.storage.generation)
            if cached is not None:
                return cached if claimed_uuid in (None, cached.record.uuid) else None
            # Read the clock and the generation before the query: a revocation committed while it runs
            # makes this entry stale at once.
            read_at, generation = self.cache.clock(), self.storage.generation
        row = self.storage.execute(self._lookup_sql, (digest,)).fetchone()
        if row is None:
            return None
        (token_id, token_uuid, stored_digest, scopes, expires_at, last_used_at, created_at, api_client_id,
         user_id, user_uuid, is_admin, is_active, client_trusted, client_prefix,
         modified_at, modified_by_user_uuid, created_by_ip_address, last_used_by_ip_address) = row
        # The index found the row by digest; compare again in constant time so no code path ever
        # compares secret material with `==`.
        if not hmac.compare_digest(stored_digest, digest):
            return None
        if claimed_uuid is not None and claimed_uuid != token_uuid:
            return None
        expires_at = _as_datetime(expires_at)
        if expires_at is not None and expires_at <= utcnow():
            return None
        if not is_active:
            return None
        if api_client_id is None:
            token_class = "api_created"
        elif self.trust.is_trusted(client_trusted, client_prefix):
            token_class = "trusted"
        else:
            token_class = "untrusted"
        record = TokenRecord(
            uuid=token_uuid,
            scopes=parse_scopes(scopes),
            created_at=_as_datetime(created_at),
            modified_at=_as_datetime(modified_at),
            modified_by_user_uuid=modified_by_user_uuid,
            api_client_id=api_client_id,
            created_by_ip_address=created_by_ip_address,
            expires_at=expires_at,
            last_used_at=_as_datetime(last_used_at),
            last_used_by_ip_address=last_used_by_ip_address,
        )
        identity = Identity(
            token_id=token_id,
            secret=secret,
            token_class=token_class,
            user_id=user_id,
            user_uuid=user_uuid,
            is_admin=bool(is_admin),
            is_active=bool(is_active),
            record=record,
        )
        if self.cache is not None:
            self.cache.put(digest, identity, read_at, generation)
        return identity


class AuthenticationMiddleware:
    """Stage 1 after routing: identify the caller; 401 `Not logged in` where the route needs a token."""

    def __init__(self, authenticator: Authenticator, routes: dict, usage):
        self.authenticator = authenticator
        self.routes = routes  # (uri template, HTTP method) -> Route
        self.usage = usage

    def process_resource(self, req, resp, resource, params) -> None:
        route = self.routes.get((req.uri_template, req.method))
        req.context.route = route
        if route is None:
            req.context.identity = None
            return
        # Straight from the WSGI environ: get_header() derives the key from the name on every call.
        presented = presented_token(req.params, req.env.get("HTTP_AUTHORIZATION"))
        identity = self.authenticator.authenticate(presented)
        req.context.identity = identity
        if identity is None:
            if route.needs_token:
                raise not_logged_in()
            return
        # Once per identity: a cached identity's later requests (within its second) would get the same
        # answer from the recorder, which writes each token at most once a minute anyway.
        if "usage_noted" not in identity.derived:
            identity.derived["usage_noted"] = True
            self.usage.note(identity.token_id, identity.last_used_at, req.remote_addr)
