"""Storage: peewee models, the connection for SQLite or PostgreSQL, and schema migrations.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts `BEGIN IMMEDIATE`, so two
writers queue on the lock instead of failing half-way with "database is locked". Models are created per
database (no global binding), so several apps with several databases can live in one process.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import peewee
from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .ids import USER_TYPE, fixed_uuid, utcnow

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseError(RuntimeError):
    """The database cannot be reached or written; the API answers 503."""


def open_database(url: str, base_dir: Path) -> peewee.Database:
    if url.startswith("sqlite:///"):
        raw_path = url[len("sqlite:///") :]
        # peewee's convention: sqlite:////abs/path is absolute, sqlite:///rel/path relative (to the config).
        path = Path(raw_path) if raw_path.startswith("/") else base_dir / raw_path
        path.parent.mkdir(parents=True, exist_ok=True)
        return peewee.SqliteDatabase(
            str(path),
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "foreign_keys": 1,
                "synchronous": "normal",
            },
            lock_type="IMMEDIATE",
            check_same_thread=False,
        )
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return peewee.PostgresqlDatabase(
            unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or None,
            port=parts.port or None,
            autorollback=True,
        )
    raise ValueError(f"unsupported database URL scheme in {url.split(':', 1)[0]!r}")


class JSONField(TextField):
    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


def make_models(database: peewee.Database) -> SimpleNamespace:
    """The tables, bound to one database."""

    class BaseModel(Model):
        created_at = DateTimeField(default=utcnow)
        modified_at = DateTimeField(default=utcnow)
        modified_by_user_uuid = CharField(max_length=27, null=True)

    BaseModel._meta.database = database

    class User(BaseModel):
        uuid = CharField(max_length=27, unique=True)
        email = CharField(max_length=320)
        # Lower-cased email: uniqueness and look-ups are case-insensitive (SPEC §10).
        email_key = CharField(max_length=320, unique=True)
        username = CharField(max_length=255, null=True, unique=True)
        first_name = CharField(max_length=255, default="")
        last_name = CharField(max_length=255, default="")
        is_admin = BooleanField(default=False)
        is_active = BooleanField(default=True)
        prefs = JSONField(default=dict)
        password_hash = CharField(max_length=512, null=True)

        class Meta:
            table_name = "users"

    class ApiClient(BaseModel):
        uuid = CharField(max_length=27, unique=True)
        owner_uuid = CharField(max_length=27, null=True)
        name = CharField(max_length=255, default="")
        url_prefix = CharField(max_length=2048, unique=True)
        is_trusted = BooleanField(default=False)

        class Meta:
            table_name = "api_clients"

    class Token(BaseModel):
        uuid = CharField(max_length=27, unique=True)
        # SHA-256 of the secret, never the secret (SPEC §2); unique, so look-ups by digest use its index.
        secret_digest = CharField(max_length=64, unique=True)
        user = ForeignKeyField(User, on_delete="CASCADE", column_name="user_id", backref="tokens")
        api_client = ForeignKeyField(
            ApiClient, null=True, on_delete="CASCADE", column_name="api_client_id", backref="tokens"
        )
        scopes = JSONField(default=lambda: ["all"])
        # The scopes as a sorted, de-duplicated JSON list: filtering by scopes compares sets (SPEC §4.1).
        scopes_key = TextField(default='["all"]', index=True)
        expires_at = DateTimeField(null=True)
        created_by_ip_address = CharField(max_length=64, null=True)
        last_used_at = DateTimeField(null=True)
        last_used_by_ip_address = CharField(max_length=64, null=True)

        class Meta:
            table_name = "api_client_authorizations"

    class LoginFailure(Model):
        # One failed (or still being checked) password for the login throttle (SPEC §10). `subject` is a
        # SHA-256 digest of the lower-cased email or of the client address: never the email itself.
        subject = CharField(max_length=80)
        failed_at = DateTimeField()

        class Meta:
            table_name = "login_failures"
            indexes = ((("subject", "failed_at"), False),)

    class SchemaVersion(Model):
        version = IntegerField()

        class Meta:
            table_name = "schema_version"

    for model in (User, ApiClient, Token, LoginFailure, SchemaVersion):
        model._meta.database = database
    return SimpleNamespace(
        User=User, ApiClient=ApiClient, Token=Token, LoginFailure=LoginFailure, SchemaVersion=SchemaVersion,
        database=database,
    )


# Migrations, in order. Each is a function of (models, database) and runs inside one transaction together
# with the version bump, so a half-applied migration is never recorded. Never edit a released one: add more.
def _migration_1_initial(models: SimpleNamespace, database: peewee.Database) -> None:
    database.create_tables([models.User, models.ApiClient, models.Token])


def _migration_2_login_failures(models: SimpleNamespace, database: peewee.Database) -> None:
    database.create_tables([models.LoginFailure])


MIGRATIONS = [_migration_1_initial, _migration_2_login_failures]
LATEST_VERSION = len(MIGRATIONS)


class Storage:
    """The database and its models, plus the one way to write: `with storage.write(): ...`."""

    def __init__(self, database: peewee.Database):
        self.database = database
        self.models = make_models(database)
        self.is_sqlite = isinstance(database, peewee.SqliteDatabase)

    @property
    def param(self) -> str:
        return self.database.param

    def connect(self) -> None:
        self.database.connect(reuse_if_open=True)

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()

    @contextmanager
    def write(self):
        """One write transaction: `BEGIN IMMEDIATE` on SQLite; everything or nothing."""
        self.connect()
        try:
            with self.database.atomic():
                yield
        except (peewee.OperationalError, peewee.InterfaceError) as error:
            raise DatabaseError(str(error)) from error

    def execute(self, sql: str, params: tuple = ()):
        """A parameterised query on this thread's connection (the hot path skips the ORM)."""
        self.connect()
        try:
            return self.database.execute_sql(sql, params)
        except (peewee.OperationalError, peewee.InterfaceError) as error:
            raise DatabaseError(str(error)) from error

    def schema_version(self) -> int:
        self.connect()
        if not self.database.table_exists("schema_version"):
            return 0
        row = self.models.SchemaVersion.select(peewee.fn.MAX(self.models.SchemaVersion.version)).scalar()
        return row or 0

    def upgrade(self, cluster_id: str) -> list[int]:
        """Apply the missing migrations; safe to run twice (and by two processes at once)."""
        self.connect()
        applied = []
        with self.write():
            self.database.create_tables([self.models.SchemaVersion], safe=True)
        while True:
            with self.write():
                # Re-read inside the write lock: another process may have migrated meanwhile.
                current = self.schema_version()
                if current >= LATEST_VERSION:
                    break
                MIGRATIONS[current](self.models, self.database)
                self.models.SchemaVersion.create(version=current + 1)
                applied.append(current + 1)
        self.ensure_system_user(cluster_id)
        return applied

    def ensure_system_user(self, cluster_id: str) -> None:
        system_uuid = fixed_uuid(cluster_id, USER_TYPE)
        with self.write():
            if not self.models.User.select().where(self.models.User.uuid == system_uuid).exists():
                self.models.User.create(
                    uuid=system_uuid,
                    email="root",
                    email_key="root",
                    first_name="root",
                    last_name="",
                    is_admin=True,
                    is_active=True,
                    prefs={},
                )
