"""Storage (issue 2): WAL, BEGIN IMMEDIATE writes, idempotent migrations, the system user, digests only."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from authserver.db import LATEST_VERSION, Storage, open_database

from .support import Actors, make_config


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(storage):
    assert storage.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert storage.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert storage.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_every_write_transaction_begins_immediate(storage):
    statements = []
    storage.connect()
    storage.database.connection().set_trace_callback(statements.append)
    with storage.write():
        storage.models.User.update(first_name="x").where(storage.models.User.id == 0).execute()
    storage.database.connection().set_trace_callback(None)
    assert statements[0] == "BEGIN IMMEDIATE"


def test_a_second_writer_waits_instead_of_failing(storage, tmp_path):
    config = make_config(tmp_path)
    other = Storage(open_database(config.database_url, config.base_dir))
    entered, release, results = threading.Event(), threading.Event(), []

    def hold_the_lock():
        with storage.write():
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    entered.wait(5)

    def write_too():
        with other.write():
            results.append(other.models.User.select().count())

    writer = threading.Thread(target=write_too)
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "the second writer should be waiting on the lock"
    release.set()
    holder.join(5)
    writer.join(5)
    assert results == [1]
    other.close()


def test_migrations_are_recorded_and_idempotent(storage):
    assert storage.schema_version() == LATEST_VERSION
    assert storage.upgrade("zzzzz") == []
    assert storage.schema_version() == LATEST_VERSION


def test_the_system_user_exists_from_the_first_start(storage):
    user = storage.models.User.get(storage.models.User.uuid == "zzzzz-tpzed-000000000000000")
    assert user.is_admin and user.is_active and user.email == "root"


def test_token_lookups_by_digest_use_an_index(storage):
    plan = storage.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM api_client_authorizations WHERE secret_digest = ?", ("x",)
    ).fetchall()
    assert any("USING INDEX" in str(row) or "USING COVERING INDEX" in str(row) for row in plan), plan


def test_no_secret_is_written_to_the_database_file(tmp_path):
    config = make_config(tmp_path)
    actors = Actors(config)
    actor = actors.token("trusted")
    actors.storage.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("authserver.db*"))
    assert actor.secret.encode() not in raw
    from authserver.ids import secret_digest

    assert secret_digest(actor.secret).encode() in raw


def test_deleting_a_user_deletes_their_tokens(tmp_path):
    config = make_config(tmp_path)
    actors = Actors(config)
    actor = actors.token("trusted")
    with actors.storage.write():
        actors.storage.models.User.delete().where(actors.storage.models.User.uuid == actor.user_uuid).execute()
    assert actors.storage.models.Token.select().where(actors.storage.models.Token.uuid == actor.token_uuid).count() == 0


def test_relative_sqlite_urls_are_relative_to_the_config_and_absolute_ones_are_not(tmp_path):
    relative = make_config(tmp_path, database="sqlite:///data/rel.db")
    Storage(open_database(relative.database_url, relative.base_dir)).upgrade("zzzzz")
    assert (tmp_path / "data" / "rel.db").exists()
    absolute = tmp_path / "abs.db"
    Storage(open_database(f"sqlite:///{absolute}", tmp_path / "elsewhere")).upgrade("zzzzz")
    assert absolute.exists()
    assert sqlite3.connect(absolute).execute("SELECT version FROM schema_version").fetchone()[0] >= 1


def test_writers_in_one_process_queue_on_a_lock_not_in_sqlites_busy_handler(storage, monkeypatch):
    import authserver.db as db

    holding, release, order = threading.Event(), threading.Event(), []

    def first():
        with storage.write():
            order.append("first in")
            holding.set()
            release.wait(5)
            order.append("first out")

    def second():
        holding.wait(5)
        with storage.write():
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    holding.wait(5)
    # The second writer waits on the process's lock (it never opened a transaction to be refused)...
    assert not storage._sqlite_writer.acquire(timeout=0.2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first in", "first out", "second in"]

    # ... and gives up as SQLite's busy timeout would: a DatabaseError (the API answers 503).
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    storage._sqlite_writer.acquire()
    try:
        with pytest.raises(db.DatabaseError, match="database is locked"):
            with storage.write():
                pass
    finally:
        storage._sqlite_writer.release()
    with storage.write():  # and the lock is free again afterwards
        pass
