"""API clients: the web applications (and the CLI) tokens are issued to (SPEC §4.2)."""

from __future__ import annotations

from .authn import TrustResolver
from .db import Storage
from .ids import CLIENT_TYPE, USER_TYPE, fixed_uuid, format_timestamp, new_uuid, utcnow
from .tokens import etag_of

CLIENT_KIND = "arvados#apiClient"
# Tokens minted by `authserver token create` belong to this client, which is trusted (SPEC §5).
CLI_CLIENT_PREFIX = "ssh://root@localhost/"


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


class ClientService:
    def __init__(self, storage: Storage, cluster_id: str):
        self.storage = storage
        self.cluster_id = cluster_id
        self.ApiClient = storage.models.ApiClient

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
        return row, True
