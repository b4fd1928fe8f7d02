"""Authentication (SPEC §3, §5): token forms, expiry, deleted and inactive users, the token class."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authserver.authn import Authenticator, TrustResolver, presented_token
from authserver.ids import utcnow

from .support import ROOT_TOKEN, Actors, make_config


@pytest.fixture
def actors(tmp_path):
    actors = Actors(make_config(tmp_path, login__trusted_clients=["https://*.trusted-by-config.example"]))
    yield actors
    actors.storage.close()


@pytest.fixture
def authenticator(actors):
    config = actors.config
    return Authenticator(actors.storage, config.cluster_id, config.system_root_token,
                         TrustResolver(config.trusted_clients))


@pytest.mark.parametrize("token_class", ["trusted", "untrusted", "api_created"])
def test_each_class_is_recognised_in_both_forms(actors, authenticator, token_class):
    actor = actors.token(token_class)
    for presented in (actor.token, actor.secret):
        identity = authenticator.authenticate(presented)
        assert identity.token_class == token_class
        assert identity.token_uuid == actor.token_uuid
        assert identity.secret == actor.secret


def test_root_token_is_system_in_both_forms(authenticator):
    assert authenticator.authenticate(ROOT_TOKEN).token_class == "system"
    assert authenticator.authenticate(f"v2/zzzzz-gj3su-000000000000000/{ROOT_TOKEN}").token_class == "system"
    assert authenticator.authenticate(f"v2/zzzzz-gj3su-111111111111111/{ROOT_TOKEN}") is None


@pytest.mark.parametrize("presented", [None, "", "garbage!", "v2/x/y", "a" * 50, "a" * 5000])
def test_missing_malformed_or_unknown_tokens_are_no_token(authenticator, presented):
    assert authenticator.authenticate(presented) is None


def test_a_v2_token_with_someone_elses_uuid_is_refused(actors, authenticator):
    first, second = actors.token("trusted"), actors.token("trusted")
    assert authenticator.authenticate(f"v2/{second.token_uuid}/{first.secret}") is None


def test_expired_tokens_are_no_token(actors, authenticator):
    actor = actors.token("trusted", expires_at=utcnow() - timedelta(seconds=1))
    assert authenticator.authenticate(actor.token) is None
    alive = actors.token("trusted", expires_at=utcnow() + timedelta(minutes=1))
    assert authenticator.authenticate(alive.token) is not None


def test_tokens_of_deleted_or_inactive_users_are_no_token(actors, authenticator):
    User = actors.storage.models.User
    gone, inactive = actors.token("trusted"), actors.token("trusted")
    with actors.storage.write():
        User.delete().where(User.uuid == gone.user_uuid).execute()
        User.update(is_active=False).where(User.uuid == inactive.user_uuid).execute()
    assert authenticator.authenticate(gone.token) is None
    assert authenticator.authenticate(inactive.token) is None


def test_trust_follows_the_client_on_every_request(actors, authenticator):
    actor = actors.token("untrusted")
    ApiClient = actors.storage.models.ApiClient
    with actors.storage.write():
        ApiClient.update(is_trusted=True).where(ApiClient.url_prefix == "https://untrusted.example.org/").execute()
    assert authenticator.authenticate(actor.token).token_class == "trusted"


def test_trust_by_configured_origin(actors, authenticator):
    user = actors.user()
    with actors.storage.write():
        client, _ = actors.clients.find_or_create("https://app.trusted-by-config.example/")
        row, secret = actors.tokens.issue(user_id=user.id, api_client_id=client.id, scopes=["all"],
                                          expires_at=None, ip_address=None, modified_by_user_uuid=None)
    assert authenticator.authenticate(secret).token_class == "trusted"


@pytest.mark.parametrize(
    "params, header, expected",
    [
        ({"api_token": "a"}, "Bearer b", "a"),
        ({"oauth_token": "c"}, "Bearer b", "c"),
        ({"api_token": "a", "oauth_token": "c"}, None, "a"),
        ({}, "Bearer b", "b"),
        ({}, "OAuth2 d", "d"),
        ({}, "bearer  e ", "e"),
        ({}, "Basic f", None),
        ({}, "Bearer", None),
        ({"api_token": ""}, "Bearer b", "b"),
    ],
)
def test_token_sources_in_order(params, header, expected):
    assert presented_token(params, header) == expected
