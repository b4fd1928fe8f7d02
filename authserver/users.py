"""Users: the rules for creating, changing and deleting them, and the JSON form the API and the CLI print.

Everything here runs inside the caller's write transaction (`with storage.write(): ...`) and applies to the
API and the CLI alike (SPEC §4.3, §10):

- `email` is required and unique ignoring case; `username` is unique; passwords are 8-1024 characters and
  stored only as scrypt hashes (`passwords.py`).
- Admin safety: no change (demotion, deactivation, deletion) may leave no active admin besides the system
  user; a user cannot make themselves an admin; the system user can be neither deleted, demoted nor
  deactivated, keeps its email and has no password.
- Deleting a user deletes its tokens (foreign-key cascade); a deactivated user's tokens are refused at
  authentication (401) and login refuses it.

Which callers may set `is_admin`, `is_active` and `password` at all is the policy's decision
(`users.update_privileged`), asked by the API resource; the rules here hold whatever the policy says.
"""

from __future__ import annotations

import re

from .audit import AuditLog
from .db import Storage
from .ids import USER_TYPE, fixed_uuid, format_timestamp, new_uuid, utcnow
from .passwords import hash_password, password_problem
from .tokens import etag_of

USER_KIND = "arvados#user"
EMAIL_RE = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}")
PRIVILEGED_FIELDS = ("is_admin", "is_active", "password")
EDITABLE_FIELDS = ("email", "username", "first_name", "last_name", "prefs") + PRIVILEGED_FIELDS


class UserError(ValueError):
    """A user that cannot be created or changed as asked (422); the message names the attribute."""


class UserForbidden(UserError):
    """A change no caller may make to themselves (403); the message names the safety rule."""


def email_key(email: str) -> str:
    return email.strip().lower()


def user_json(row, cluster_id: str) -> dict:
    return {
        "kind": USER_KIND,
        "etag": etag_of(row.uuid, row.modified_at),
        "uuid": row.uuid,
        "owner_uuid": fixed_uuid(cluster_id, USER_TYPE),
        "created_at": format_timestamp(row.created_at),
        "modified_at": format_timestamp(row.modified_at),
        "modified_by_user_uuid": row.modified_by_user_uuid,
        "email": row.email,
        "username": row.username,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "full_name": " ".join(part for part in (row.first_name, row.last_name) if part),
        "is_admin": bool(row.is_admin),
        "is_active": bool(row.is_active),
        "prefs": row.prefs or {},
    }


class UserService:
    def __init__(self, storage: Storage, cluster_id: str):
        self.storage = storage
        # Every change of a user is a security event, whichever door it came through (API, CLI).
        self.audit = AuditLog(storage)
        self.cluster_id = cluster_id
        self.system_uuid = fixed_uuid(cluster_id, USER_TYPE)
        self.User = storage.models.User

    def find_by_email(self, email: str):
        self.storage.connect()
        return self.User.get_or_none(self.User.email_key == email_key(email))

    def is_system(self, row) -> bool:
        return row.uuid == self.system_uuid

    # --- checks ------------------------------------------------------------------------------------------

    def _check_email(self, email: str, row=None) -> str:
        email = email.strip()
        if not EMAIL_RE.fullmatch(email):
            raise UserError(f"email: {email!r} is not an email address")
        taken = self.User.select().where(self.User.email_key == email_key(email))
        if row is not None:
            taken = taken.where(self.User.id != row.id)
        if taken.exists():
            raise UserError(f"email: a user with the email {email!r} exists already")
        return email

    def _check_username(self, username: str | None, row=None) -> None:
        if username is None:
            return
        taken = self.User.select().where(self.User.username == username)
        if row is not None:
            taken = taken.where(self.User.id != row.id)
        if taken.exists():
            raise UserError(f"username: {username!r} is taken")

    @staticmethod
    def _check_password(password: str | None) -> None:
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise UserError(f"password: {problem}")

    def _another_active_admin_exists(self, row) -> bool:
        User = self.User
        others = User.select(User.id).where(
            (User.is_admin == True) & (User.is_active == True)  # noqa: E712
            & (User.uuid != self.system_uuid) & (User.id != row.id)
        )
        if not self.storage.is_sqlite:
            # PostgreSQL: lock the admins counted, so two transactions cannot each remove "the other" last
            # admin. SQLite needs nothing: every write transaction holds the database's write lock.
            others = others.for_update()
        return others.exists()

    def _check_keeps_an_admin(self, row, *, is_admin: bool, is_active: bool, deleting: bool = False) -> None:
        was_active_admin = row.is_admin and row.is_active and not self.is_system(row)
        stays_active_admin = is_admin and is_active and not deleting
        if was_active_admin and not stays_active_admin and not self._another_active_admin_exists(row):
            what = "delete" if deleting else "demote" if not is_admin else "deactivate"
            attribute = "uuid" if deleting else "is_admin" if not is_admin else "is_active"
            raise UserError(f"{attribute}: cannot {what} the last active admin ({row.email})")

    # --- changes -----------------------------------------------------------------------------------------

    def create(
        self,
        *,
        email: str,
        password: str | None = None,
        is_admin: bool = False,
        is_active: bool = True,
        first_name: str = "",
        last_name: str = "",
        username: str | None = None,
        prefs: dict | None = None,
        modified_by_user_uuid: str | None = None,
    ):
        """Create a user inside the caller's write transaction."""
        email = self._check_email(email)
        self._check_username(username)
        self._check_password(password)
        now = utcnow()
        row = self.User.create(
            uuid=new_uuid(self.cluster_id, USER_TYPE),
            email=email,
            email_key=email_key(email),
            username=username,
            first_name=first_name,
            last_name=last_name,
            is_admin=is_admin,
            is_active=is_active,
            prefs=prefs or {},
            password_hash=hash_password(password) if password is not None else None,
            created_at=now,
            modified_at=now,
            modified_by_user_uuid=modified_by_user_uuid,
        )
        self.audit.record("user.created", object_uuid=row.uuid,
                          details={"is_admin": bool(is_admin), "is_active": bool(is_active)})
        return row

    def update(self, row, changes: dict, *, actor_user_id: int | None, modified_by_user_uuid: str | None):
        """Apply `changes` (attributes of EDITABLE_FIELDS) to `row`; returns the row as stored afterwards.

        `actor_user_id` is the caller's user (None for the command line): a user may not make itself an admin.
        """
        unknown = set(changes) - set(EDITABLE_FIELDS)
        if unknown:
            raise UserError(f"{sorted(unknown)[0]}: cannot be changed")
        is_admin = bool(changes.get("is_admin", row.is_admin))
        is_active = bool(changes.get("is_active", row.is_active))
        if is_admin and not row.is_admin and actor_user_id == row.id:
            raise UserForbidden("admin safety rule no-self-promotion: a user cannot make themselves an admin")
        if self.is_system(row):
            for attribute, fixed in (("is_admin", True), ("is_active", True), ("email", row.email)):
                if attribute in changes and changes[attribute] != fixed:
                    raise UserError(f"{attribute}: the system user's {attribute} cannot be changed")
            if "password" in changes:
                raise UserError("password: the system user cannot have a password (it cannot log in)")
        values = {}
        if "email" in changes and changes["email"] != row.email:
            values["email"] = self._check_email(changes["email"], row)
            values["email_key"] = email_key(values["email"])
        if "username" in changes and changes["username"] != row.username:
            self._check_username(changes["username"], row)
            values["username"] = changes["username"]
        for attribute in ("first_name", "last_name", "prefs"):
            if attribute in changes:
                values[attribute] = changes[attribute]
        if "password" in changes:
            self._check_password(changes["password"])
            values["password_hash"] = hash_password(changes["password"])
        self._check_keeps_an_admin(row, is_admin=is_admin, is_active=is_active)
        if is_admin != row.is_admin:
            values["is_admin"] = is_admin
        if is_active != row.is_active:
            values["is_active"] = is_active
        if not values:
            return row
        values.update(modified_at=utcnow(), modified_by_user_uuid=modified_by_user_uuid)
        self.User.update(**values).where(self.User.id == row.id).execute()
        for attribute, event_type in (("is_admin", "user.admin_changed"), ("is_active", "user.active_changed")):
            if attribute in values:
                self.audit.record(event_type, object_uuid=row.uuid,
                                  details={"from": bool(getattr(row, attribute)), "to": values[attribute]})
        if "password_hash" in values:
            self.audit.record("user.password_changed", object_uuid=row.uuid)
        return self.User.get_by_id(row.id)

    def delete(self, row) -> None:
        """Delete a user; its tokens go with it (ON DELETE CASCADE)."""
        if self.is_system(row):
            raise UserError("uuid: the system user cannot be deleted")
        self._check_keeps_an_admin(row, is_admin=row.is_admin, is_active=row.is_active, deleting=True)
        self.User.delete().where(self.User.id == row.id).execute()
        self.audit.record("user.deleted", object_uuid=row.uuid, details={"was_admin": bool(row.is_admin)})
