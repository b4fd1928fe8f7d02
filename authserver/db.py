"""Storage: peewee models, the connection for SQLite or PostgreSQL, and schema migrations.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts `BEGIN IMMEDIATE`, so two
writers queue on the lock instead of failing half-way with "database is locked". Models are created per
database (no global binding), so several apps with several databases can live in one process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qsl, unquote, urlsplit

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

from .changes import open_signal
from .ids import USER_TYPE, fixed_uuid, utcnow

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A PostgreSQL server that does not answer must not hold a request thread for long.
POSTGRESQL_CONNECT_TIMEOUT_S = 5
# Every process that migrates takes this PostgreSQL advisory lock first (SQLite's BEGIN IMMEDIATE already
# serialises migrations there).
MIGRATION_LOCK_ID = 7_240_914_001

log = logging.getLogger("authserver.db")


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
        # Query parameters are libpq connection options (sslmode, options, host for a socket folder, ...).
        options = dict(parse_qsl(parts.query))
        options.setdefault("connect_timeout", str(POSTGRESQL_CONNECT_TIMEOUT_S))
        return peewee.PostgresqlDatabase(
            unquote(parts.path.lstrip("/")) or "postgres",
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            host=parts.hostname or options.pop("host", None),
            port=parts.port or None,
            **options,
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

    class AuditEvent(Model):
        # A security event (issue 7): who did what to which object, when, from where. Never a secret.
        created_at = DateTimeField(default=utcnow, index=True)
        event_type = CharField(max_length=64, index=True)
        actor_uuid = CharField(max_length=27, null=True)
        token_uuid = CharField(max_length=27, null=True)
        object_uuid = CharField(max_length=27, null=True, index=True)
        ip_address = CharField(max_length=64, null=True)
        request_id = CharField(max_length=1024, null=True)
        details = JSONField(default=dict)

        class Meta:
            table_name = "audit_events"

    class SchemaVersion(Model):
        version = IntegerField()

        class Meta:
            table_name = "schema_version"

    for model in (User, ApiClient, Token, LoginFailure, AuditEvent, SchemaVersion):
        model._meta.database = database
    return SimpleNamespace(
        User=User, ApiClient=ApiClient, Token=Token, LoginFailure=LoginFailure, AuditEvent=AuditEvent,
        SchemaVersion=SchemaVersion, database=database,
    )


# Migrations, in order. Each is a function of (models, database) and runs inside one transaction together
# with the version bump, so a half-applied migration is never recorded. Never edit a released one: add more.
def _migration_1_initial(models: SimpleNamespace, database: peewee.Database) -> None:
    database.create_tables([models.User, models.ApiClient, models.Token])


def _migration_2_login_failures(models: SimpleNamespace, database: peewee.Database) -> None:
    database.create_tables([models.LoginFailure])


def _migration_3_audit_events(models: SimpleNamespace, database: peewee.Database) -> None:
    database.create_tables([models.AuditEvent])


MIGRATIONS = [_migration_1_initial, _migration_2_login_failures, _migration_3_audit_events]
LATEST_VERSION = len(MIGRATIONS)


UNAVAILABLE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Storage:
    """The database and its models, plus the one way to write: `with storage.write(): ...`."""

    def __init__(self, database: peewee.Database):
        self.database = database
        self.models = make_models(database)
        self.is_sqlite = isinstance(database, peewee.SqliteDatabase)
        self._local = threading.local()  # per thread: write depth and on-commit callbacks
        # The latest real write outcomes, for /_health: a probe can pass while real writes fail (a full
        # disk still takes a no-op update), so recent failures count too.
        self.last_write_failure: tuple[float, str] | None = None
        self.last_write_success: float = float("-inf")
        # Bumped after every committed write that may change who a token is (anything but usage
        # bookkeeping): the token cache drops what it read before, so this process never serves a
        # revocation it made itself from its cache.
        self._generation = 0
        # SQLite has one writer at a time, and a connection that finds the write lock taken sleeps in
        # SQLite's busy handler (steps of up to 100 ms) before it tries again: with several request threads
        # writing at once that made a queue of sleepers, and a p99 of over a second for token creation. In
        # one process the writers queue on this lock instead, handed over the moment a commit ends; the busy
        # handler is left for other processes.
        self._sqlite_writer = threading.Lock() if self.is_sqlite else None
        # The same news for other processes (changes.py): written by every identity-changing commit here;
        # read only once `watch_changes()` is called (the token cache does).
        self.changes = open_signal(database)
        self._listener = None

    @property
    def generation(self) -> tuple:
        """Changes whenever a write that may change who a token is commits here, or (once watched) anywhere."""
        listener = self._listener
        return (self._generation, None if listener is None else listener.value())

    def watch_changes(self) -> None:
        """Follow other processes' identity changes too (a listener thread on PostgreSQL)."""
        if self._listener is None:
            self._listener = self.changes.listen()

    @property
    def param(self) -> str:
        return self.database.param

    def connect(self) -> None:
        self.database.connect(reuse_if_open=True)

    def close(self) -> None:
        # Stops a PostgreSQL listener thread; the SQLite mapping stays, as other threads may still write.
        if self._listener is not None:
            self._listener.close()
        self._listener = None
        if not self.database.is_closed():
            self.database.close()

    def reset_connection(self) -> None:
        """Drop this thread's connection after a failure; the next query opens a fresh one.

        A PostgreSQL connection that saw its server go away stays "open" to peewee but fails forever.
        """
        try:
            self.database.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped either way
            self.database._state.reset()

    @contextmanager
    def write(self, *, record_outcome: bool = True, changes_identities: bool = True):
        """One write transaction: `BEGIN IMMEDIATE` on SQLite; everything or nothing.

        A database that cannot be reached or written raises DatabaseError (the API answers 503).

        `changes_identities=False` says the write only adds rows or keeps books (a new token, an audit
        event, login failures, last_used_at): then no process drops its token cache for it. Anything that
        updates or deletes a token, a user or a client must leave it True, the safe default.
        """
        depth = getattr(self._local, "depth", 0)
        queued = depth == 0 and self._sqlite_writer is not None
        if queued and not self._sqlite_writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            if record_outcome:
                self.last_write_failure = (time.monotonic(), "database is locked")
            raise DatabaseError("database is locked: another write did not finish in time")
        if depth == 0:
            self._local.callbacks = []
        self._local.depth = depth + 1
        committed = False
        try:
            self.connect()
            with self.database.atomic():
                yield
                if depth == 0 and changes_identities:
                    self.changes.announce_in_transaction(self.database)
            committed = depth == 0
        except UNAVAILABLE_ERRORS as error:
            self.reset_connection()
            if record_outcome:
                self.last_write_failure = (time.monotonic(), _first_line(error))
            raise DatabaseError(str(error)) from error
        finally:
            self._local.depth = depth
            callbacks = self._local.callbacks if depth == 0 else []
            if depth == 0:
                self._local.callbacks = []
            if queued:
                self._sqlite_writer.release()
        if committed:
            if changes_identities:
                self._generation += 1
                self.changes.announce_committed()
            if record_outcome:
                self.last_write_success = time.monotonic()
            for callback in callbacks:
                callback()

    def on_commit(self, callback) -> None:
        """Run `callback` after the current write transaction commits (never if it rolls back)."""
        if getattr(self._local, "depth", 0) == 0:
            callback()
        else:
            self._local.callbacks.append(callback)

    def execute(self, sql: str, params: tuple = ()):
        """A parameterised query on this thread's connection, straight to the driver's cursor.

        The hot path (authentication) uses it; peewee's execute_sql wrapper cost more than the query. Both
        drivers run in autocommit mode under peewee, so a read here never leaves a transaction open.
        """
        try:
            with peewee.__exception_wrapper__:  # driver errors become peewee's (OperationalError, ...)
                cursor = self.database.connection().cursor()
                cursor.execute(sql, params)
                return cursor
        except UNAVAILABLE_ERRORS as error:
            self.reset_connection()
            raise DatabaseError(str(error)) from error

    def probe(self) -> str | None:
        """None when the database can be read and written, else why not (for /_health).

        The write is a committed no-op update of the schema version: a read-only file or a lost server
        fail it, where a plain SELECT could still succeed.
        """
        try:
            self.execute("SELECT 1")
            with self.write(record_outcome=False, changes_identities=False):
                self.database.execute_sql(
                    "UPDATE schema_version SET version = version"
                    " WHERE version = (SELECT MAX(version) FROM schema_version)"
                )
            return None
        except DatabaseError as error:
            return _first_line(error)

    def recent_write_failure(self, within_seconds: float) -> str | None:
        """The last real write's failure, if it failed within `within_seconds` and none succeeded since."""
        failure = self.last_write_failure
        if failure is None or failure[0] < self.last_write_success:
            return None
        if time.monotonic() - failure[0] > within_seconds:
            return None
        return failure[1]

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
                if not self.is_sqlite:
                    self.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
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
