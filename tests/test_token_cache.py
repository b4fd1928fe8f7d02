"""The optional token cache (config tokens.cache_seconds, at most 1 s; off by default): what it may and may
not serve. SPEC §10 allows a cache bounded to a second; this one never serves a revocation its own process
made, an expired token, or an unknown one."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from falcon import testing

from authserver.app import create_app
from authserver.ids import utcnow

from .support import Actors, LiveServer, make_config

CURRENT = "/arvados/v1/api_client_authorizations/current"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def cached(tmp_path):
    app = create_app(make_config(tmp_path, tokens__cache_seconds=1))
    clock = FakeClock()
    app.services.authenticator.cache.clock = clock
    # Another process's view of the same database: its writes do not touch this app's generation.
    other_process = Actors(app.services.config)
    yield app, testing.TestClient(app), Actors(app.services.config, app.services.storage), other_process, clock
    other_process.storage.close()
    app.services.close()


def revoke_elsewhere(other_process, actor):
    Token = other_process.storage.models.Token
    with other_process.storage.write():
        Token.delete().where(Token.uuid == actor.token_uuid).execute()


def test_off_by_default(app):
    assert app.services.authenticator.cache is None


def test_a_revocation_elsewhere_holds_here_within_the_cache_time(cached):
    app, client, actors, other_process, clock = cached
    actor = actors.token("trusted")
    assert client.simulate_get(CURRENT, headers=actor.headers).status_code == 200
    revoke_elsewhere(other_process, actor)
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
    time.sleep(0.4)  # the token expires; the cache's clock stands still, so only the expiry check can refuse it
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


def test_two_processes_with_the_cache_revocation_within_a_second(tmp_path):
    first = LiveServer(tmp_path, name="first", tokens__cache_seconds=1).start()
    second = LiveServer(tmp_path, name="second", tokens__cache_seconds=1).start()
    try:
        system = first.actors.token("system")
        victim = first.actors.token("trusted")
        for server in (first, second):
            assert requests.get(server.url(CURRENT), headers=victim.headers, timeout=10).status_code == 200
        response = requests.delete(first.url(f"/arvados/v1/api_client_authorizations/{victim.token_uuid}"),
                                   headers=system.headers, timeout=10)
        assert response.status_code == 200
        revoked_at = time.monotonic()
        assert requests.get(first.url(CURRENT), headers=victim.headers, timeout=10).status_code == 401
        while requests.get(second.url(CURRENT), headers=victim.headers, timeout=10).status_code == 200:
            assert time.monotonic() - revoked_at < 1.5, "the other process still accepts the token after 1.5 s"
            time.sleep(0.05)
    finally:
        first.stop()
        second.stop()
