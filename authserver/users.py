"""Users: creation rules and the JSON form the API and the CLI both print (SPEC §4.3)."""

from __future__ import annotations

import re

from .db import Storage
from .ids import USER_TYPE, fixed_uuid, format_timestamp, new_uuid, utcnow
from .passwords import hash_password, password_problem
from .tokens import etag_of

USER_KIND = "arvados#user"
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class UserError(ValueError):
    """A user that cannot be created or changed as asked; the message names the attribute."""


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
        self.cluster_id = cluster_id
        self.User = storage.models.User

    def find_by_email(self, email: str):
        self.storage.connect()
        return self.User.get_or_none(self.User.email_key == email_key(email))

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
        modified_by_user_uuid: str | None = None,
    ):
        """Create a user inside the caller's write transaction."""
        email = email.strip()
        if not EMAIL_RE.match(email):
            raise UserError(f"email: {email!r} is not an email address")
        if self.User.select().where(self.User.email_key == email_key(email)).exists():
            raise UserError(f"email: a user with the email {email!r} exists already")
        if username is not None and self.User.select().where(self.User.username == username).exists():
            raise UserError(f"username: {username!r} is taken")
        if password is not None:
            problem = password_problem(password)
            if problem:
                raise UserError(f"password: {problem}")
        now = utcnow()
        return self.User.create(
            uuid=new_uuid(self.cluster_id, USER_TYPE),
            email=email,
            email_key=email_key(email),
            username=username,
            first_name=first_name,
            last_name=last_name,
            is_admin=is_admin,
            is_active=is_active,
            prefs={},
            password_hash=hash_password(password) if password is not None else None,
            created_at=now,
            modified_at=now,
            modified_by_user_uuid=modified_by_user_uuid,
        )
