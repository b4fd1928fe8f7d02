"""Cross-process change signals: how a server process learns that another one changed who a token is.

The token cache (authn.TokenCache) may reuse an identity for at most `tokens.cache_seconds`; that bound
alone would let a token revoked through another process (a second server, or the CLI) work there for up
to a second. These signals close most of that window without a query per request:

- SQLite (every process on one machine): `SharedFileSignal`, 8 bytes in a file beside the database,
  mapped into every process that opens it. A writer puts new random bytes there after each commit that
  changes identities; readers compare the bytes they saw before their look-up with the bytes now. Reading
  is a memory access: no system call, no query, and the GIL is never released for it.
- PostgreSQL (processes on several machines): `NotifySignal`, LISTEN/NOTIFY. A writer sends NOTIFY inside
  the changing transaction (PostgreSQL delivers it at commit, never on rollback); a listener thread per
  process counts the notifications it receives.

Either way the TTL stays the backstop: a write made outside authserver (a SQL shell), a crash between a
commit and its announcement, or a lost listener connection is bounded by `tokens.cache_seconds`.
"""

from __future__ import annotations

import logging
import mmap
import os
import random
import secrets
import select
import threading
from pathlib import Path

log = logging.getLogger("authserver.changes")

SIGNAL_BYTES = 8
NOTIFY_CHANNEL = "authserver_identities"
LISTEN_POLL_SECONDS = 1.0
RECONNECT_DELAY_SECONDS = 1.0


class NoSignal:
    """No cross-process signal (a database without a file, or a file that cannot be mapped): TTL only."""

    def value(self) -> object:
        return None

    def announce_in_transaction(self, database) -> None:
        pass

    def announce_committed(self) -> None:
        pass

    def listen(self) -> "NoSignal":
        return self

    def close(self) -> None:
        pass


class SharedFileSignal:
    """8 bytes in `<database>-changes`, shared by every process through one MAP_SHARED mapping."""

    def __init__(self, path: Path):
        self.path = path
        # Random, not a counter: writers need no lock (two writers at once still leave bytes that differ
        # from what any reader saw), and a torn read can only look like a change, never hide one.
        self._random = random.Random(secrets.randbits(128))
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SIGNAL_BYTES:
                # Written, not ftruncate'd: a sparse page would be allocated on the first store through
                # the mapping, and on a full disk that store is a SIGBUS, not an error.
                os.pwrite(fd, bytes(SIGNAL_BYTES), 0)
            self._map = mmap.mmap(fd, SIGNAL_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the file

    def value(self) -> bytes:
        return self._map[:SIGNAL_BYTES]

    def announce_in_transaction(self, database) -> None:
        pass  # announced after the commit: a reader that sees new bytes and looks again sees the change

    def announce_committed(self) -> None:
        self._map[:SIGNAL_BYTES] = self._random.getrandbits(64).to_bytes(SIGNAL_BYTES, "little")

    def listen(self) -> "SharedFileSignal":
        return self  # the same mapping serves both sides

    def close(self) -> None:
        pass  # as a listener, nothing to stop; the mapping lives on, as a thread may still announce a commit


class NotifySignal:
    """PostgreSQL's writer side: NOTIFY inside the changing transaction (delivered at commit only)."""

    def __init__(self, connect):
        self._connect = connect  # opens a new DB-API connection to the same database, for a listener

    def announce_in_transaction(self, database) -> None:
        database.execute_sql(f"NOTIFY {NOTIFY_CHANNEL}")

    def announce_committed(self) -> None:
        pass  # NOTIFY went out with the transaction

    def listen(self) -> "NotifyListener":
        return NotifyListener(self._connect)


class NotifyListener:
    """PostgreSQL's reader side: a thread with its own connection counts the notifications it receives."""

    def __init__(self, connect):
        self._connect = connect
        self._count = 0
        self._stopped = threading.Event()
        # close() writes a byte here so the listener's select() returns at once instead of at its timeout.
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="authserver-notify", daemon=True)
        self._thread.start()

    def value(self) -> int:
        return self._count

    def close(self) -> None:
        self._stopped.set()
        os.write(self._wake_write, b"x")
        self._thread.join(timeout=LISTEN_POLL_SECONDS + 1)
        os.close(self._wake_write)
        if not self._thread.is_alive():
            os.close(self._wake_read)

    def _run(self) -> None:
        while not self._stopped.is_set():
            connection = None
            try:
                connection = self._connect()
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
                # Anything committed while no listener was connected went unseen: count it as a change.
                self._count += 1
                while not self._stopped.is_set():
                    readable, _, _ = select.select([connection, self._wake_read], [], [], LISTEN_POLL_SECONDS)
                    if connection in readable:
                        connection.poll()
                        if connection.notifies:
                            connection.notifies.clear()
                            self._count += 1
            except Exception as error:  # noqa: BLE001 - a lost server: retry; the TTL bounds the gap
                self._count += 1
                text = str(error).strip()
                log.warning("change listener lost its PostgreSQL connection (%s); reconnecting",
                            text.splitlines()[0] if text else type(error).__name__)
                self._stopped.wait(RECONNECT_DELAY_SECONDS)
            finally:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001 - already broken
                        pass


def open_signal(database) -> NoSignal | SharedFileSignal | NotifySignal:
    """The writer side for a peewee database: a shared file for SQLite, NOTIFY for PostgreSQL.

    `.listen()` on it gives the reader side (for PostgreSQL that starts a listener thread).
    """
    import peewee

    if isinstance(database, peewee.SqliteDatabase):
        if database.database in ("", ":memory:") or database.database.startswith("file:"):
            return NoSignal()
        # Beside the real file, as SQLite's own -wal and -shm are: processes that reach one database through
        # different symlinks must still share one signal.
        path = Path(f"{os.path.realpath(database.database)}-changes")
        try:
            return SharedFileSignal(path)
        except (OSError, ValueError) as error:
            log.warning("cannot map %s (%s): token cache entries will live their full tokens.cache_seconds",
                        path, getattr(error, "strerror", None) or error)
            return NoSignal()
    if isinstance(database, peewee.PostgresqlDatabase):
        return NotifySignal(lambda: database._connect())
    return NoSignal()
