"""`/arvados/v1/api_client_authorizations`: the token API (SPEC §4.1).

By the time a responder runs, the caller is authenticated, in scope, and the policy has opened the method
to its class; the responder asks its `Guard` about the actual target, validates, and writes in one
transaction.
"""

from __future__ import annotations

from datetime import datetime

import falcon
from peewee import JOIN

from ..audit import AuditLog
from ..authn import Identity
from ..db import Storage
from ..errors import not_found, unprocessable
from ..ids import UUID_RE, format_timestamp, parse_timestamp, secret_digest, split_token, utcnow
from ..listing import list_envelope, parse_list_query
from ..scopes import scope_problem
from ..tokens import TokenService, apply_creator_limits, scopes_key, token_json
from ..validation import SchemaSet
from ..wire import parse_json_text
from .common import answer_once_per_identity, read_object

SINGULAR = "api_client_authorization"
LIST_KIND = "arvados#apiClientAuthorizationList"
RESPONSE_FIELDS = {
    "kind", "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid",
    "api_client_id", "api_token", "created_by_ip_address", "expires_at", "last_used_at",
    "last_used_by_ip_address", "scopes",
}


class ApiClientAuthorizations:
    def __init__(self, storage: Storage, tokens: TokenService, schemas: SchemaSet, max_items: int,
                 system_user_id, audit: AuditLog):
        self.storage = storage
        self.audit = audit
        self.tokens = tokens
        self.schemas = schemas
        self.max_items = max_items
        self.system_user_id = system_user_id  # callable: the system user's row id
        models = storage.models
        self.Token, self.User = models.Token, models.User
        # Attributes a list can be ordered by, as SQL expressions.
        self.order_columns = {
            "uuid": self.Token.uuid,
            "owner_uuid": self.User.uuid,
            "created_at": self.Token.created_at,
            "modified_at": self.Token.modified_at,
            "modified_by_user_uuid": self.Token.modified_by_user_uuid,
            "api_client_id": self.Token.api_client,
            "created_by_ip_address": self.Token.created_by_ip_address,
            "expires_at": self.Token.expires_at,
            "last_used_at": self.Token.last_used_at,
            "last_used_by_ip_address": self.Token.last_used_by_ip_address,
        }

    # --- helpers ---------------------------------------------------------------------------------------

    def _select(self):
        return self.Token.select(self.Token, self.User.uuid.alias("owner_uuid")).join(
            self.User, JOIN.INNER, on=(self.Token.user == self.User.id)
        )

    def _load(self, uuid: str):
        if not UUID_RE.match(uuid):
            return None
        self.storage.connect()
        return self._select().where(self.Token.uuid == uuid).objects().first()

    @staticmethod
    def _relation(identity: Identity, row) -> str:
        if row.uuid == identity.token_uuid:
            return "self"
        if row.user_id == identity.user_id:
            return "own"
        return "other"

    def _visibility(self, identity: Identity, visible: frozenset[str]):
        """A SQL condition for the rows whose relation to the caller is in `visible` (None: no rows)."""
        Token = self.Token
        conditions = []
        if "self" in visible:
            conditions.append(Token.uuid == identity.token_uuid)
        if "own" in visible:
            conditions.append((Token.user == identity.user_id) & (Token.uuid != identity.token_uuid))
        if "other" in visible:
            conditions.append(Token.user != identity.user_id)
        if not conditions:
            return None
        condition = conditions[0]
        for extra in conditions[1:]:
            condition = condition | extra
        return condition

    @staticmethod
    def _parse_expiry(body: dict) -> tuple[datetime | None, bool]:
        if "expires_at" not in body:
            return None, False
        value = body["expires_at"]
        if value is None:
            return None, True
        try:
            return parse_timestamp(value), True
        except ValueError as error:
            raise unprocessable(f"{SINGULAR}.expires_at: {error}") from None


    # --- list ------------------------------------------------------------------------------------------

    def _pinned_to_self(self, filters, identity: Identity) -> bool:
        """True when a filter matches the presenting token and nothing else (uuid or api_token equality)."""
        for attribute, operator, operand in filters:
            if operator != "=" or not isinstance(operand, str):
                continue
            if attribute == "uuid" and operand == identity.token_uuid:
                return True
            if attribute == "api_token":
                parts = split_token(operand)
                if parts is not None and parts[1] == identity.secret:
                    return True
        return False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        guard = req.context.guard
        query = parse_list_query(
            req,
            max_limit=self.max_items,
            filterable={"uuid": ("=",), "api_token": ("=",), "scopes": ("=",)},
            orderable=set(self.order_columns),
            selectable=RESPONSE_FIELDS,
        )
        guard.require_collection("self" if self._pinned_to_self(query.filters, identity) else "none")
        visibility = self._visibility(identity, guard.visible_targets())
        Token = self.Token
        conditions = [visibility] if visibility is not None else []
        problems = []
        for index, (attribute, _, operand) in enumerate(query.filters):
            if attribute == "uuid":
                if not isinstance(operand, str):
                    problems.append(f"filters[{index}]: uuid must be compared with a string")
                else:
                    conditions.append(Token.uuid == operand)
            elif attribute == "api_token":
                parts = split_token(operand) if isinstance(operand, str) else None
                if isinstance(operand, str) and parts is None:
                    conditions.append(Token.id.is_null())  # a malformed secret matches nothing
                elif parts is None:
                    problems.append(f"filters[{index}]: api_token must be compared with a string")
                else:
                    conditions.append(Token.secret_digest == secret_digest(parts[1]))
            elif attribute == "scopes":
                if not isinstance(operand, list) or any(scope_problem(s) for s in operand):
                    problems.append(f"filters[{index}]: scopes must be compared with a list of valid scopes")
                else:
                    conditions.append(Token.scopes_key == scopes_key(operand))
        if problems:
            raise unprocessable(*problems)
        if visibility is None:
            resp.media = list_envelope(LIST_KIND, [], query, 0)
            return
        self.storage.connect()
        select = self._select().where(*conditions)
        ordering = [
            self.order_columns[attribute].desc() if descending else self.order_columns[attribute].asc()
            for attribute, descending in query.order
        ] or [Token.created_at.desc()]
        rows = select.order_by(*ordering, Token.id.desc()).offset(query.offset).limit(query.limit).objects()
        items = [token_json(row, row.owner_uuid) for row in rows]
        available = select.count() if query.count_exact else None
        resp.media = list_envelope(LIST_KIND, items, query, available)

    # --- create ----------------------------------------------------------------------------------------

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        body = read_object(req, SINGULAR)
        owner_uuid = body.get("owner_uuid")
        for_other = isinstance(owner_uuid, str) and owner_uuid != identity.user_uuid
        decision = req.context.guard.require_collection("other" if for_other else "own")
        self.schemas.validate("ApiClientAuthorizationCreate", body, SINGULAR)
        expires_at, expires_given = self._parse_expiry(body)
        scopes, expires_at = apply_creator_limits(
            decision, identity, scopes=body.get("scopes"), expires_at=expires_at, expires_given=expires_given
        )
        with self.storage.write(changes_identities=False):  # a token added: no identity that exists changes
            owner = self.User.get_or_none(self.User.uuid == (owner_uuid or identity.user_uuid))
            if owner is None:
                raise unprocessable(f"{SINGULAR}.owner_uuid: no such user")
            row, secret = self.tokens.issue(
                user_id=owner.id,
                api_client_id=None,
                scopes=scopes,
                expires_at=expires_at,
                ip_address=req.remote_addr,
                modified_by_user_uuid=identity.user_uuid,
                exempt_from_cap=identity.is_admin and expires_at is not None and "expires_at" in body,
            )
            self.audit.record("token.created", object_uuid=row.uuid,
                              details={"owner_uuid": owner.uuid, "scopes": list(scopes)})
        resp.media = token_json(row, owner.uuid, secret)

    def on_post_system_auth(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        decision = req.context.guard.require_collection("none")
        raw = req.params.get("scopes")
        scopes = None
        if raw not in (None, ""):
            try:
                scopes = parse_json_text(raw if isinstance(raw, str) else raw[-1], "scopes")
            except ValueError as error:
                raise unprocessable(f"scopes: {error}") from None
            self.schemas.validate("Scopes", scopes, "scopes")
        scopes, expires_at = apply_creator_limits(
            decision, identity, scopes=scopes, expires_at=None, expires_given=False
        )
        with self.storage.write(changes_identities=False):  # a token added: no identity that exists changes
            system_user_id = self.system_user_id()
            row, secret = self.tokens.issue(
                user_id=system_user_id,
                api_client_id=None,
                scopes=scopes,
                expires_at=expires_at,
                ip_address=req.remote_addr,
                modified_by_user_uuid=identity.user_uuid,
            )
            owner_uuid = self.User.get_by_id(system_user_id).uuid
            self.audit.record("token.created", object_uuid=row.uuid,
                              details={"owner_uuid": owner_uuid, "scopes": list(scopes),
                                       "via": "create_system_auth"})
        resp.media = token_json(row, owner_uuid, secret)

    # --- one token ---------------------------------------------------------------------------------------

    def on_get_current(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        req.context.guard.require_collection("self")
        # The record authentication just read by digest (for the root token, its fixed rowless record):
        # the same attributes, without a second query.
        answer_once_per_identity(identity, resp, "api_client_authorizations.current",
                                 lambda: token_json(identity.record, identity.user_uuid, identity.secret))

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        row = self._load(uuid)
        if row is None:
            raise not_found()
        req.context.guard.require(self._relation(req.context.identity, row))
        resp.media = token_json(row, row.owner_uuid)

    def _update(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        identity: Identity = req.context.identity
        with self.storage.write():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            decision = req.context.guard.require(self._relation(identity, row))
            body = read_object(req, SINGULAR)
            self.schemas.validate("ApiClientAuthorizationUpdate", body, SINGULAR)
            problems = []
            if "uuid" in body and body["uuid"] != row.uuid:
                problems.append(f"{SINGULAR}.uuid: cannot be changed")
            if "owner_uuid" in body and body["owner_uuid"] != row.owner_uuid:
                problems.append(f"{SINGULAR}.owner_uuid: cannot be changed")
            if problems:
                raise unprocessable(*problems)
            expires_at, expires_given = self._parse_expiry(body)
            scopes, expires_at = apply_creator_limits(
                decision, identity, scopes=body.get("scopes"), expires_at=expires_at,
                expires_given=expires_given, defaults_from_creator=False,
            )
            changes = {}
            if scopes is not None:
                changes.update(scopes=list(scopes), scopes_key=scopes_key(scopes))
            if expires_given:
                exempt = identity.is_admin and expires_at is not None
                changes["expires_at"] = self.tokens.cap(expires_at, exempt=exempt)
            if changes:
                changes.update(modified_at=utcnow(), modified_by_user_uuid=identity.user_uuid)
                self.Token.update(**changes).where(self.Token.id == row.id).execute()
                row = self._load(uuid)
                self.audit.record(
                    "token.updated", object_uuid=row.uuid,
                    details={"scopes": list(row.scopes), "expires_at": format_timestamp(row.expires_at)},
                )
        resp.media = token_json(row, row.owner_uuid)

    on_put_item = _update
    on_patch_item = _update

    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        with self.storage.write():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            req.context.guard.require(self._relation(req.context.identity, row))
            self.Token.delete().where(self.Token.id == row.id).execute()
            self.audit.record("token.revoked", object_uuid=row.uuid,
                              details={"owner_uuid": row.owner_uuid})
        resp.media = token_json(row, row.owner_uuid)
