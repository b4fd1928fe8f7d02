"""`/arvados/v1/api_clients` (SPEC §4.2): list, get, create, update, delete.

Every method has the one target `none` (a client is nobody's own), so the policy's answer for the caller's
class is the whole answer. `is_trusted` is returned, filtered and ordered by its effective value: the stored
flag, or `url_prefix` matching `login.trusted_clients`. Deleting a client deletes its tokens.
"""

from __future__ import annotations

import falcon
import peewee

from ..authn import Identity, TrustResolver
from ..clients import ClientError, ClientService, client_json
from ..db import Storage
from ..errors import not_found, unprocessable
from ..filters import Column, conditions, operators
from ..listing import list_envelope, parse_list_query
from ..validation import SchemaSet
from .common import list_page, load_by_uuid, read_object, unchanged_problems, write

SINGULAR = "api_client"
LIST_KIND = "arvados#apiClientList"
RESPONSE_FIELDS = {
    "kind", "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid", "name",
    "url_prefix", "is_trusted",
}


class ApiClients:
    def __init__(self, storage: Storage, clients: ClientService, trust: TrustResolver, schemas: SchemaSet,
                 max_items: int):
        self.storage = storage
        self.clients = clients
        self.trust = trust
        self.schemas = schemas
        self.max_items = max_items
        self.ApiClient = ApiClient = storage.models.ApiClient
        self.columns = {
            "uuid": Column(ApiClient.uuid, "text"),
            "owner_uuid": Column(ApiClient.owner_uuid, "text", nullable=True),
            "name": Column(ApiClient.name, "text"),
            "url_prefix": Column(ApiClient.url_prefix, "text"),
            "is_trusted": Column(ApiClient.is_trusted, "boolean"),  # replaced by the effective value per list
            "created_at": Column(ApiClient.created_at, "timestamp"),
            "modified_at": Column(ApiClient.modified_at, "timestamp"),
            "modified_by_user_uuid": Column(ApiClient.modified_by_user_uuid, "text", nullable=True),
        }

    # --- helpers ---------------------------------------------------------------------------------------

    def _json(self, row) -> dict:
        return client_json(row, self.clients.cluster_id, self.trust)

    def _load(self, uuid: str):
        return load_by_uuid(self.storage, self.ApiClient, uuid)

    def _effective_trust(self):
        """SQL for the effective is_trusted: the stored flag, or one of the ids whose prefix the config trusts.

        The config's patterns (wildcards included) are matched here, in Python, over the untrusted clients'
        prefixes: one small query, run only for lists that filter or order by is_trusted.
        """
        ApiClient = self.ApiClient
        if not self.trust.matcher.patterns:
            return ApiClient.is_trusted
        untrusted = ApiClient.select(ApiClient.id, ApiClient.url_prefix).where(ApiClient.is_trusted == False)  # noqa: E712
        ids = [row.id for row in untrusted if self.trust.is_trusted(False, row.url_prefix)]
        return (ApiClient.is_trusted == True) | ApiClient.id.in_(ids) if ids else ApiClient.is_trusted  # noqa: E712

    def _write(self, work):
        return write(self.storage, work, {
            ClientError: lambda error: unprocessable(f"{SINGULAR}.{error}"),
            # a concurrent request took the url_prefix between the check and the write
            peewee.IntegrityError: lambda error: unprocessable(
                f"{SINGULAR}.url_prefix: a client with this url_prefix exists already"),
        })

    # --- methods ---------------------------------------------------------------------------------------

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.guard.require_collection("none")
        query = parse_list_query(
            req,
            max_limit=self.max_items,
            filterable=operators(self.columns),
            orderable=set(self.columns),
            selectable=RESPONSE_FIELDS,
        )
        self.storage.connect()
        columns = dict(self.columns)
        used = {attribute for attribute, _, _ in query.filters} | {attribute for attribute, _ in query.order}
        if "is_trusted" in used:
            columns["is_trusted"] = Column(self._effective_trust(), "boolean")
        where = conditions(query.filters, columns, sqlite=self.storage.is_sqlite)
        order_columns = {name: column.expression for name, column in columns.items()}
        rows, available = list_page(self.ApiClient.select(), query, order_columns, where,
                                    (self.ApiClient.created_at.desc(),))
        resp.media = list_envelope(LIST_KIND, [self._json(row) for row in rows], query, available)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        req.context.guard.require_collection("none")
        body = read_object(req, SINGULAR)
        self.schemas.validate("ApiClientCreate", body, SINGULAR)
        row = self._write(lambda: self.clients.create(
            body["url_prefix"],
            name=body.get("name", ""),
            is_trusted=body.get("is_trusted", False),
            modified_by_user_uuid=identity.user_uuid,
        ))
        resp.media = self._json(row)

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        req.context.guard.require_collection("none")
        row = self._load(uuid)
        if row is None:
            raise not_found()
        resp.media = self._json(row)

    def _update(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        identity: Identity = req.context.identity
        req.context.guard.require_collection("none")

        def work():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            body = read_object(req, SINGULAR)
            self.schemas.validate("ApiClientUpdate", body, SINGULAR)
            problems = unchanged_problems(body, row, SINGULAR, ("uuid",))
            if problems:
                raise unprocessable(*problems)
            changes = {key: value for key, value in body.items() if key != "uuid"}
            return self.clients.update(row, changes, modified_by_user_uuid=identity.user_uuid)

        resp.media = self._json(self._write(work))

    on_put_item = _update
    on_patch_item = _update

    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        req.context.guard.require_collection("none")

        def work():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            self.clients.delete(row)
            return row

        resp.media = self._json(self._write(work))
