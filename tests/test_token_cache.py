"""The token cache (config tokens.cache_seconds: 1 s by default, at most 1, 0 turns it off): what it may and
may not serve. SPEC §10 allows a cache bounded to a second; this one never serves a revocation made through
authserver (this process or another: authserver/changes.py), an expired token, or an unknown one. Only a
change made behind authserver's back (a SQL shell) waits for the second to pass."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import pytest
import requests
from falcon import testing

from authserver.app import create_app
from authserver.changes import NoSignal, SharedFileSignal, open_signal
from authserver.db import open_database
from authserver.ids import utcnow

from .support import Actors, FakeClock, LiveServer, make_config, wait_until

CURRENT = "/arvados/v1/api_client_authorizations/current"


@pytest.fixture
def cached(tmp_path):
    app = create_app(make_config(tmp_path, tokens__cache_seconds=1))
    clock = FakeClock()
    app.services.authenticator.cache.clock = clock
    # Another process's view of the same database: its own Storage, so its writes do not touch this app's
    # in-process generation; only the shared signal (changes.py) carries them across.
    other_process = Actors(app.services.config)
    yield app, testing.TestClient(app), Actors(app.services.config, app.services.storage), other_process, clock
    other_process.storage.close()
    app.services.close()


def revoke_elsewhere(other_process, actor):
    Token = other_process.storage.models.Token
    with other_process.storage.write():
        Token.delete().where(Token.uuid == actor.token_uuid).execute()


def test_on_by_default_for_one_second_and_zero_turns_it_off(app, tmp_path):
    assert app.services.authenticator.cache.seconds == 1
    off = create_app(make_config(tmp_path / "off", tokens__cache_seconds=0))
    try:
        assert off.services.authenticator.cache is None
    finally:
        off.services.close()


def test_a_revocation_through_another_process_holds_at_once(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted")
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    revoke_elsewhere(other_process, actor)
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 401  # the clock did not move


def test_a_change_behind_authservers_back_holds_within_the_cache_time(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted")
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    # A SQL shell's delete: no authserver Storage, so no signal; the TTL is the bound.
    path = open_database(app.services.config.database_url, app.services.config.base_dir).database
    with sqlite3.connect(path) as shell:
        shell.execute("DELETE FROM api_client_authorizations WHERE uuid = ?", (actor.token_uuid,))
    clock.now += 0.5
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200  # served from the cache
    clock.now += 0.5
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 401  # a second later: gone


def test_a_revocation_through_this_process_holds_at_once(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted")
    victim = actors.token("trusted", user=actors.storage.models.User.get(uuid=actor.user_uuid))
    assert client.simulate_get(CURRENT, headers=victim.headers).status_code == 200
    deleted = client.simulate_delete(f"/arvados/v1/api_client_authorizations/{victim.token_uuid}",
                                     headers=actor.headers)
    assert deleted.status_code == 200
    assert client.simulate_get(CURRENT, headers=victim.headers).status_code == 401  # the clock did not move


def test_an_expired_token_is_not_served_from_the_cache(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted", expires_at=utcnow() + timedelta(seconds=0.3))
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    time.sleep(0.4)  # the token expires, in the database's time and (below) in the cache's
    clock.now += 0.4  # less than the cache's second: only the entry's expiry deadline can refuse it
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 401


def test_unknown_tokens_are_not_cached_and_v2_uuids_still_checked(cached):
    app, client, actors, other_process, clock = cached
    cache = app.services.authenticator.cache
    for index in range(20):
        headers = {"Authorization": f"Bearer {'x' * 49}{index % 10}"}
        assert client.simulate_get(CURRENT, headers=headers).status_code == 401
    assert cache._entries == {}
    actor, other = actors.token("trusted"), actors.token("trusted")
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    forged = {"Authorization": f"Bearer v2/{other.token_uuid}/{actor.secret}"}
    assert client.simulate_get(CURRENT, headers=forged).status_code == 401


def test_cache_seconds_is_bounded_by_the_config_schema(tmp_path):
    from authserver.config import ConfigError

    with pytest.raises(ConfigError, match="tokens.cache_seconds"):
        make_config(tmp_path, tokens__cache_seconds=5)


def test_two_server_processes_revocation_holds_at_once(tmp_path):
    first = LiveServer(tmp_path, name="first").start()  # the default config: the cache on
    second = LiveServer(tmp_path, name="second").start()
    try:
        system = first.actors.token("system")
        victim = first.actors.token("trusted")
        for _ in range(3):  # warm both caches
            for server in (first, second):
                assert requests.get(server.url(CURRENT), headers=victim.headers, timeout=10).status_code == 200
        response = requests.delete(first.url(f"/arvados/v1/api_client_authorizations/{victim.token_uuid}"),
                                   headers=system.headers, timeout=10)
        assert response.status_code == 200
        assert requests.get(first.url(CURRENT), headers=victim.headers, timeout=10).status_code == 401
        assert requests.get(second.url(CURRENT), headers=victim.headers, timeout=10).status_code == 401
    finally:
        first.stop()
        second.stop()


def test_the_shared_signal_file_carries_a_commit_to_every_mapping(tmp_path):
    writer, reader = SharedFileSignal(tmp_path / "db-changes"), SharedFileSignal(tmp_path / "db-changes")
    before = reader.value()
    assert len(before) == 8 and (tmp_path / "db-changes").stat().st_size == 8
    writer.announce_committed()
    assert reader.value() != before
    assert (tmp_path / "db-changes").stat().st_mode & 0o777 == 0o600


def test_without_a_signal_file_the_ttl_alone_bounds_the_cache(tmp_path, caplog):
    import peewee

    (tmp_path / "authserver.db-changes").mkdir()  # a directory where the file would go: cannot be mapped
    signal = open_signal(peewee.SqliteDatabase(str(tmp_path / "authserver.db")))
    assert isinstance(signal, NoSignal)
    assert "authserver.db-changes" in caplog.text and "tokens.cache_seconds" in caplog.text


def test_adding_tokens_keeps_the_cache_and_changing_one_empties_it(cached):
    app, client, actors, other_process, clock = cached
    storage, authenticator = app.services.storage, app.services.authenticator
    actor = actors.token("trusted")
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    before = storage.generation
    created = client.simulate_post("/arvados/v1/api_client_authorizations", headers=actor.headers,
                                   json={"api_client_authorization": {"scopes": ["all"]}})
    assert created.status_code == 200
    assert storage.generation == before  # a new token changes no identity that exists
    assert len(authenticator.cache._entries) == 1
    deleted = client.simulate_delete(f"/arvados/v1/api_client_authorizations/{created.json['uuid']}",
                                     headers=actor.headers)
    assert deleted.status_code == 200
    assert storage.generation != before
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200  # looked up again


def test_users_current_shows_a_change_at_once(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted")
    first = client.simulate_get("/arvados/v1/users/current", headers=actor.headers)
    assert first.status_code == 200 and first.json["first_name"] != "Renamed"
    assert client.simulate_get("/arvados/v1/users/current", headers=actor.headers).content == first.content
    User = other_process.storage.models.User
    with other_process.storage.write():  # another process renames the user
        User.update(first_name="Renamed").where(User.uuid == actor.user_uuid).execute()
    again = client.simulate_get("/arvados/v1/users/current", headers=actor.headers)
    assert again.status_code == 200 and again.json["first_name"] == "Renamed"  # the clock did not move


@pytest.mark.postgresql
def test_postgresql_listener_sees_other_processes_identity_changes_and_closes_at_once(tmp_path):
    from authserver.db import Storage

    from .support import PostgresSchema, postgresql_base_url

    schema = PostgresSchema(postgresql_base_url())
    reader = writer = None
    try:
        config = make_config(tmp_path, database=schema.url)
        reader = Storage(open_database(config.database_url, config.base_dir))
        reader.upgrade(config.cluster_id)
        writer = Storage(open_database(config.database_url, config.base_dir))  # "another process"
        reader.watch_changes()

        assert wait_until(lambda: reader.generation[1], seconds=2, interval=0.01)  # listening (counted once on connecting)
        before = reader.generation
        with writer.write(changes_identities=False):  # rows added only: no NOTIFY
            pass
        with writer.write():  # an identity may have changed: NOTIFY, delivered at commit
            pass
        assert wait_until(lambda: reader.generation != before, seconds=2, interval=0.01)
        assert reader.generation[1] == before[1] + 1  # one notification: the row-adding write sent none
        started = time.monotonic()
        reader.close()
        assert time.monotonic() - started < 0.5  # the listener is woken, not waited out
        reader = None
    finally:
        for storage in (reader, writer):
            if storage is not None:
                storage.close()
        schema.drop()


def test_processes_reaching_the_database_through_a_symlink_share_one_signal(tmp_path):
    import peewee

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "authserver.db").touch()
    (tmp_path / "link.db").symlink_to(tmp_path / "real" / "authserver.db")
    direct = open_signal(peewee.SqliteDatabase(str(tmp_path / "real" / "authserver.db")))
    linked = open_signal(peewee.SqliteDatabase(str(tmp_path / "link.db")))
    before = direct.value()
    linked.announce_committed()
    assert direct.value() != before
    assert not (tmp_path / "link.db-changes").exists()
