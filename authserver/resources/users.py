"""`/arvados/v1/users` (SPEC §4.3): current, system, get, list, create, update, delete.

Targets: `self` is the caller's own user, `other` any other user; a list shows the users whose relation the
caller may `users.get`. Setting `is_admin`, `is_active` or `password` also needs the policy's
`users.update_privileged` for the user changed (a new user is `other`); the admin-safety rules themselves
live in `users.UserService`, shared with the command line.
"""

from __future__ import annotations

import falcon
import peewee

from ..authn import Identity
from ..db import Storage
from ..errors import forbidden, not_found, not_logged_in, unprocessable
from ..filters import Column, conditions, operators
from ..listing import list_envelope, parse_list_query
from ..users import PRIVILEGED_FIELDS, UserError, UserForbidden, UserService, user_json
from ..validation import SchemaSet
from .common import answer_once_per_identity, list_page, load_by_uuid, read_object, unchanged_problems, write

SINGULAR = "user"
LIST_KIND = "arvados#userList"
PRIVILEGED_ACTION = "users.update_privileged"
RESPONSE_FIELDS = {
    "kind", "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid", "email",
    "username", "first_name", "last_name", "full_name", "is_admin", "is_active", "prefs",
}


class Users:
    def __init__(self, storage: Storage, users: UserService, schemas: SchemaSet, max_items: int):
        self.storage = storage
        self.users = users
        self.schemas = schemas
        self.max_items = max_items
        self.User = User = storage.models.User
        self.columns = {
            "uuid": Column(User.uuid, "text"),
            "email": Column(User.email, "text"),
            "username": Column(User.username, "text", nullable=True),
            "first_name": Column(User.first_name, "text"),
            "last_name": Column(User.last_name, "text"),
            "is_admin": Column(User.is_admin, "boolean"),
            "is_active": Column(User.is_active, "boolean"),
            "created_at": Column(User.created_at, "timestamp"),
            "modified_at": Column(User.modified_at, "timestamp"),
            "modified_by_user_uuid": Column(User.modified_by_user_uuid, "text", nullable=True),
        }

    # --- helpers ---------------------------------------------------------------------------------------

    def _json(self, row) -> dict:
        return user_json(row, self.users.cluster_id)

    def _load(self, uuid: str):
        return load_by_uuid(self.storage, self.User, uuid)

    @staticmethod
    def _relation(identity: Identity, row) -> str:
        return "self" if row.id == identity.user_id else "other"

    @staticmethod
    def _privileged_changes(body: dict, current: dict) -> list[str]:
        """The privileged attributes `body` sets to something else than `current` (a password always counts)."""
        return [
            name for name in PRIVILEGED_FIELDS
            if name in body and (name == "password" or body[name] != current[name])
        ]

    @staticmethod
    def _require_privilege(guard, target: str, attributes: list[str]) -> None:
        if not attributes:
            return
        decision = guard.decide_action(target, PRIVILEGED_ACTION)
        if not decision.allowed:
            reason = decision.reason(guard.identity.token_class, PRIVILEGED_ACTION)
            raise forbidden(f"{reason} (to set {', '.join(attributes)})")

    def _write(self, work):
        """Run `work()` in one write transaction; service refusals become 403/422, nothing is written."""
        return write(self.storage, work, {
            UserForbidden: lambda error: forbidden(str(error)),
            UserError: lambda error: unprocessable(f"{SINGULAR}.{error}"),
            # a concurrent request took the email or username between the check and the write
            peewee.IntegrityError: lambda error: unprocessable(f"{SINGULAR}: the email or username is taken"),
        })

    # --- list and create -------------------------------------------------------------------------------

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        guard = req.context.guard
        guard.require_collection("none")
        query = parse_list_query(
            req,
            max_limit=self.max_items,
            filterable=operators(self.columns),
            orderable=set(self.columns),
            selectable=RESPONSE_FIELDS,
        )
        User = self.User
        visible = guard.visible_targets()
        where = conditions(query.filters, self.columns, sqlite=self.storage.is_sqlite)
        if visible == {"self"}:
            where.append(User.id == identity.user_id)
        elif visible == {"other"}:
            where.append(User.id != identity.user_id)
        elif not visible:
            resp.media = list_envelope(LIST_KIND, [], query, 0)
            return
        self.storage.connect()
        order_columns = {name: column.expression for name, column in self.columns.items()}
        rows, available = list_page(User.select(), query, order_columns, where, (User.created_at.desc(),))
        resp.media = list_envelope(LIST_KIND, [self._json(row) for row in rows], query, available)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        guard = req.context.guard
        guard.require_collection("none")
        body = read_object(req, SINGULAR)
        self._require_privilege(guard, "other", self._privileged_changes(body, {"is_admin": False, "is_active": True}))
        self.schemas.validate("UserCreate", body, SINGULAR)
        row = self._write(lambda: self.users.create(
            email=body["email"],
            password=body.get("password"),
            is_admin=body.get("is_admin", False),
            is_active=body.get("is_active", True),
            first_name=body.get("first_name", ""),
            last_name=body.get("last_name", ""),
            username=body.get("username"),
            prefs=body.get("prefs"),
            modified_by_user_uuid=identity.user_uuid,
        ))
        resp.media = self._json(row)

    # --- one user ----------------------------------------------------------------------------------------

    def on_get_current(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        req.context.guard.require_collection("self")

        def render() -> dict:
            self.storage.connect()
            row = self.User.get_or_none(self.User.id == identity.user_id)
            if row is None:  # deleted between authentication and now
                raise not_logged_in()
            return self._json(row)

        answer_once_per_identity(identity, resp, "users.current", render)

    def on_get_system(self, req: falcon.Request, resp: falcon.Response) -> None:
        identity: Identity = req.context.identity
        system_uuid = self.users.system_uuid
        req.context.guard.require_collection("self" if identity.user_uuid == system_uuid else "other")
        row = self._load(system_uuid)
        if row is None:
            raise not_found()
        resp.media = self._json(row)

    def on_get_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        row = self._load(uuid)
        if row is None:
            raise not_found()
        req.context.guard.require(self._relation(req.context.identity, row))
        resp.media = self._json(row)

    def _update(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        identity: Identity = req.context.identity
        guard = req.context.guard

        def work():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            target = self._relation(identity, row)
            guard.require(target)
            body = read_object(req, SINGULAR)
            current = {"is_admin": bool(row.is_admin), "is_active": bool(row.is_active)}
            self._require_privilege(guard, target, self._privileged_changes(body, current))
            self.schemas.validate("UserUpdate", body, SINGULAR)
            problems = unchanged_problems(body, row, SINGULAR, ("uuid",))
            if "owner_uuid" in body and body["owner_uuid"] != self.users.system_uuid:
                problems.append(f"{SINGULAR}.owner_uuid: cannot be changed")
            if problems:
                raise unprocessable(*problems)
            changes = {key: value for key, value in body.items() if key not in ("uuid", "owner_uuid")}
            return self.users.update(row, changes, actor_user_id=identity.user_id,
                                     modified_by_user_uuid=identity.user_uuid)

        resp.media = self._json(self._write(work))

    on_put_item = _update
    on_patch_item = _update

    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, uuid: str) -> None:
        def work():
            row = self._load(uuid)
            if row is None:
                raise not_found()
            req.context.guard.require(self._relation(req.context.identity, row))
            self.users.delete(row)
            return row

        resp.media = self._json(self._write(work))
