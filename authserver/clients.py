"""API clients: the web applications (and the CLI) tokens are issued to (SPEC §4.2).

A client is keyed by its `url_prefix`, the canonical origin `scheme://host[:port]/` (`origins.Origin`), so that
`https://App.example:443` and `https://app.example/` are one client, the one browser login finds. Its effective
trust is the stored flag or the prefix matching `login.trusted_clients` (`authn.TrustResolver`), computed on
every request: flipping `is_trusted` changes the class of every token issued to the client at once.
Deleting a client deletes its tokens (foreign-key cascade).
"""

from __future__ import annotations

from .authn import TrustResolver
from .audit import AuditLog
from .db import Storage
from .ids import CLIENT_TYPE, USER_TYPE, UUID_RE, fixed_uuid, format_timestamp, new_uuid, utcnow
from .origins import OriginError, parse_origin
from .tokens import etag_of

CLIENT_KIND = "arvados#apiClient"
# Tokens minted by `authserver token create` belong to this client, which is trusted (SPEC §5).
CLI_CLIENT_PREFIX = "ssh://root@localhost/"
EDITABLE_FIELDS = ("name", "url_prefix", "is_trusted")


class ClientError(ValueError):
    """A client that cannot be created or changed as asked (422); the message names the attribute."""


def client_json(row, cluster_id: str, trust: TrustResolver) -> dict:
    return {
        "kind": CLIENT_KIND,
        "etag": etag_of(row.uuid, row.modified_at),
        "uuid": row.uuid,
        "owner_uuid": row.owner_uuid or fixed_uuid(cluster_id, USER_TYPE),
        "created_at": format_timestamp(row.created_at),
        "modified_at": format_timestamp(row.modified_at),
        "modified_by_user_uuid": row.modified_by_user_uuid,
        "name": row.name,
        "url_prefix": row.url_prefix,
        # The effective value: the stored flag, or the url_prefix matching login.trusted_clients.
        "is_trusted": trust.is_trusted(row.is_trusted, row.url_prefix),
    }


def canonical_prefix(url: str) -> str:
    """`scheme://host[:port]/` of an http(s) URL; ClientError naming url_prefix when it is not one."""
    try:
        return parse_origin(url).url_prefix
    except OriginError as error:
        raise ClientError(f"url_prefix: {error}") from None


class ClientService:
    def __init__(self, storage: Storage, cluster_id: str):
        self.storage = storage
        # Registering, trusting and deleting clients are security events, from the API, the CLI or a login.
        self.audit = AuditLog(storage)
        self.cluster_id = cluster_id
        self.ApiClient = storage.models.ApiClient

    def find(self, uuid_or_prefix: str):
        """The client with this uuid, or with this URL's prefix (canonical or as stored); None if none."""
        self.storage.connect()
        ApiClient = self.ApiClient
        if UUID_RE.match(uuid_or_prefix):
            return ApiClient.get_or_none(ApiClient.uuid == uuid_or_prefix)
        prefixes = {uuid_or_prefix}
        try:
            prefixes.add(parse_origin(uuid_or_prefix).url_prefix)
        except OriginError:
            pass
        return ApiClient.get_or_none(ApiClient.url_prefix.in_(sorted(prefixes)))

    def find_or_create(self, url_prefix: str, *, name: str = "", is_trusted: bool = False,
                       modified_by_user_uuid: str | None = None):
        """Inside the caller's write transaction: the client with this prefix, made if missing."""
        row = self.ApiClient.get_or_none(self.ApiClient.url_prefix == url_prefix)
        if row is not None:
            return row, False
        now = utcnow()
        row = self.ApiClient.create(
            uuid=new_uuid(self.cluster_id, CLIENT_TYPE),
            owner_uuid=fixed_uuid(self.cluster_id, USER_TYPE),
            name=name or url_prefix,
            url_prefix=url_prefix,
            is_trusted=is_trusted,
            created_at=now,
            modified_at=now,
            modified_by_user_uuid=modified_by_user_uuid,
        )
        self.audit.record("client.created", object_uuid=row.uuid,
                          details={"url_prefix": url_prefix, "is_trusted": bool(is_trusted)})
        return row, True

    def create(self, url_prefix: str, *, name: str = "", is_trusted: bool = False,
               modified_by_user_uuid: str | None = None):
        """Register a new client for an http(s) origin; ClientError when its prefix is taken."""
        prefix = canonical_prefix(url_prefix)
        row, created = self.find_or_create(prefix, name=name, is_trusted=is_trusted,
                                           modified_by_user_uuid=modified_by_user_uuid)
        if not created:
            raise ClientError(f"url_prefix: a client with the url_prefix {prefix!r} exists already ({row.uuid})")
        return row

    def update(self, row, changes: dict, *, modified_by_user_uuid: str | None):
        """Apply `changes` (attributes of EDITABLE_FIELDS); returns the row as stored afterwards."""
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise ClientError(f"{sorted(unknown)[0]}: cannot be changed")
        values = {}
        if "name" in changes:
            values["name"] = changes["name"]
        if "is_trusted" in changes:
            values["is_trusted"] = bool(changes["is_trusted"])
        # An unchanged prefix is accepted as it is stored (the CLI's ssh:// client is not an http origin).
        if "url_prefix" in changes and changes["url_prefix"] != row.url_prefix:
            prefix = canonical_prefix(changes["url_prefix"])
            ApiClient = self.ApiClient
            other = ApiClient.get_or_none((ApiClient.url_prefix == prefix) & (ApiClient.id != row.id))
            if other is not None:
                raise ClientError(f"url_prefix: a client with the url_prefix {prefix!r} exists already ({other.uuid})")
            values["url_prefix"] = prefix
        if not values:
            return row
        values.update(modified_at=utcnow(), modified_by_user_uuid=modified_by_user_uuid)
        self.ApiClient.update(**values).where(self.ApiClient.id == row.id).execute()
        if "is_trusted" in values and values["is_trusted"] != bool(row.is_trusted):
            self.audit.record("client.trust_changed", object_uuid=row.uuid,
                              details={"url_prefix": row.url_prefix, "from": bool(row.is_trusted),
                                       "to": values["is_trusted"]})
        return self.ApiClient.get_by_id(row.id)

    def delete(self, row) -> None:
        """Delete a client; every token issued to it goes with it (ON DELETE CASCADE), so they stop working."""
        self.ApiClient.delete().where(self.ApiClient.id == row.id).execute()
        self.audit.record("client.deleted", object_uuid=row.uuid, details={"url_prefix": row.url_prefix})
