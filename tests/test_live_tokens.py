"""The token API against the real server (waitress, real SQLite file): the default policy's rows for
api_client_authorizations, every scope rule, and every error status of SPEC §3."""

from __future__ import annotations

import time

import pytest

from authserver.ids import parse_timestamp

from .live_api import call

BASE = "/arvados/v1/api_client_authorizations"
CLASSES = ("system", "trusted", "untrusted", "api_created")


@pytest.fixture(scope="module")
def server(live_server):
    return live_server


def wrapped(**fields):
    return {"api_client_authorization": fields}


# The default policy's table for api_client_authorizations (SPEC §5), as (row, class, admin) -> allowed.
# Each row is exercised by `exercise`, which returns the HTTP status.
ALLOW, DENY = "allow", "deny"
TABLE = {
    "current": {"system": ALLOW, "trusted": ALLOW, "untrusted": ALLOW, "api_created": ALLOW},
    "list own": {"system": ALLOW, "trusted": ALLOW, "untrusted": DENY, "api_created": DENY},
    "get own": {"system": ALLOW, "trusted": ALLOW, "untrusted": DENY, "api_created": DENY},
    "update own": {"system": ALLOW, "trusted": ALLOW, "untrusted": DENY, "api_created": DENY},
    "delete own": {"system": ALLOW, "trusted": ALLOW, "untrusted": DENY, "api_created": DENY},
    "create for self": {"system": ALLOW, "trusted": ALLOW, "untrusted": DENY, "api_created": DENY},
    "create for another user": {"system": ALLOW, "trusted": "admin", "untrusted": DENY, "api_created": DENY},
    "create_system_auth": {"system": ALLOW, "trusted": "admin", "untrusted": DENY, "api_created": DENY},
}


def exercise(server, row, actor):
    actors = server.actors
    if row == "current":
        return call(server, "GET", f"{BASE}/current", actor)
    if row == "list own":
        return call(server, "GET", BASE, actor)
    if row == "create for self":
        return call(server, "POST", BASE, actor, json=wrapped())
    if row == "create for another user":
        return call(server, "POST", BASE, actor, json=wrapped(owner_uuid=actors.user().uuid))
    if row == "create_system_auth":
        return call(server, "POST", f"{BASE}/create_system_auth", actor)
    # get / update / delete another token of the caller's own user (for system: any token)
    owner = actors.storage.models.User.get(uuid=actor.user_uuid)
    target = actors.token("trusted", user=owner)
    url = f"{BASE}/{target.token_uuid}"
    if row == "get own":
        return call(server, "GET", url, actor)
    if row == "update own":
        return call(server, "PATCH", url, actor, json=wrapped(expires_at="2090-01-01T00:00:00Z"))
    return call(server, "DELETE", url, actor)


CELLS = [(row, token_class, admin) for row in TABLE for token_class in CLASSES for admin in (False, True)
         if not (token_class == "system" and not admin)]


@pytest.mark.parametrize("row, token_class, admin", CELLS)
def test_default_policy_table_over_http(server, row, token_class, admin):
    expected = TABLE[row][token_class]
    allowed = expected == ALLOW or (expected == "admin" and admin)
    actor = server.actors.token(token_class, admin=admin)
    response = exercise(server, row, actor)
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["errors"][0].startswith("Forbidden: ")


def test_system_sees_and_deletes_anyones_token(server):
    victim = server.actors.token("trusted")
    system = server.actors.token("system")
    assert call(server, "GET", f"{BASE}/{victim.token_uuid}", system).status_code == 200
    assert call(server, "DELETE", f"{BASE}/{victim.token_uuid}", system).status_code == 200
    assert call(server, "GET", f"{BASE}/current", victim).status_code == 401


def test_trusted_gets_404_for_another_users_token(server):
    mine, theirs = server.actors.token("trusted"), server.actors.token("trusted")
    for method in ("GET", "PATCH", "DELETE"):
        response = call(server, method, f"{BASE}/{theirs.token_uuid}", mine, json=wrapped() if method == "PATCH" else None)
        assert response.status_code == 404, method
        assert response.json()["errors"][0].startswith("Path not found")


# --- scopes (SPEC §6) --------------------------------------------------------------------------------------


def scoped(server, *scopes):
    return server.actors.token("trusted", scopes=list(scopes))


def test_exact_scope_allows_only_that_method_and_path(server):
    actor = scoped(server, f"GET {BASE}")
    assert call(server, "GET", BASE, actor).status_code == 200
    assert call(server, "GET", BASE + "/", actor).status_code == 200  # one trailing slash removed
    assert call(server, "GET", f"{BASE}/{actor.token_uuid}", actor).status_code == 403
    response = call(server, "POST", BASE, actor, json=wrapped())
    assert response.status_code == 403
    assert response.json()["errors"][0].startswith(f"Forbidden: scope does not allow POST {BASE}")


def test_prefix_scope_covers_paths_below_it(server):
    actor = scoped(server, f"GET {BASE}/")
    assert call(server, "GET", f"{BASE}/{actor.token_uuid}", actor).status_code == 200
    assert call(server, "GET", BASE, actor).status_code == 403


def test_head_is_in_scope_where_get_is_and_put_equals_patch(server):
    actor = scoped(server, f"GET {BASE}/", f"PUT {BASE}/")
    head = call(server, "HEAD", f"{BASE}/{actor.token_uuid}", actor)
    assert head.status_code == 200 and head.content == b""
    patch = call(server, "PATCH", f"{BASE}/{actor.token_uuid}", actor, json=wrapped(scopes=[f"GET {BASE}/"]))
    assert patch.status_code == 200


def test_empty_scopes_allow_only_current(server):
    actor = scoped(server)
    assert call(server, "GET", f"{BASE}/current", actor).status_code == 200
    assert call(server, "GET", BASE, actor).status_code == 403
    assert call(server, "GET", f"{BASE}/{actor.token_uuid}", actor).status_code == 403


def test_the_query_string_is_not_part_of_the_scoped_path(server):
    actor = scoped(server, f"GET {BASE}")
    assert call(server, "GET", BASE, actor, params={"limit": "1"}).status_code == 200


def test_scope_check_comes_before_the_policy(server):
    actor = server.actors.token("untrusted", scopes=[])
    response = call(server, "GET", BASE, actor)
    assert "scope does not allow" in response.json()["errors"][0]


# --- error statuses (SPEC §3, §10) -------------------------------------------------------------------------


def test_401_for_missing_unknown_and_malformed_tokens(server):
    for headers in ({}, {"Authorization": "Bearer " + "x" * 50}, {"Authorization": "Bearer v2/nope"}):
        response = call(server, "GET", BASE, headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0].startswith("Not logged in (")


def test_404_for_unknown_routes_before_401(server):
    response = call(server, "GET", "/arvados/v1/nothing_here")
    assert response.status_code == 404
    assert response.json()["errors"][0].startswith("Path not found")


def test_400_for_malformed_json(server):
    actor = server.actors.token("trusted")
    response = call(server, "POST", BASE, actor, data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_413_for_big_bodies_also_when_chunked(server):
    actor = server.actors.token("trusted")
    big = b'{"api_client_authorization": {}}' + b" " * (server.config.max_body_bytes + 10)
    response = call(server, "POST", BASE, actor, data=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"]

    def chunks():
        for _ in range(0, len(big), 65536):
            yield b" " * 65536

    response = call(server, "POST", BASE, actor, data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_415_for_other_content_types(server):
    actor = server.actors.token("trusted")
    response = call(server, "POST", BASE, actor, data=b"x", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415


def test_422_for_invalid_payloads_and_nothing_is_written(server):
    actor = server.actors.token("trusted")
    before = call(server, "GET", BASE, actor).json()["items_available"]
    response = call(server, "POST", BASE, actor, json=wrapped(scopes=["nope"], api_token="x" * 40))
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 2
    assert call(server, "GET", BASE, actor).json()["items_available"] == before


def test_cors_and_options_over_http(server):
    response = call(server, "OPTIONS", BASE)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_method_override_over_http(server):
    actor = server.actors.token("trusted")
    response = call(server, "POST", BASE, actor, data={"limit": "1", "_method": "GET"},
                    headers={"X-HTTP-Method-Override": "GET"})
    assert response.status_code == 200
    assert response.json()["kind"] == "arvados#apiClientAuthorizationList"


def test_server_never_logs_secrets(server):
    actor = server.actors.token("trusted")
    call(server, "GET", f"{BASE}/current", params={"api_token": actor.token})
    call(server, "GET", BASE, headers={"Authorization": "Bearer " + "q" * 50})
    log = server.log_text()
    assert actor.secret not in log
    assert "q" * 50 not in log


# --- last_used_at (SPEC §10) -------------------------------------------------------------------------------


def test_last_used_at_is_recorded_within_two_seconds(server):
    actor = server.actors.token("trusted")
    assert call(server, "GET", f"{BASE}/current", actor).json()["last_used_at"] is None
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        record = call(server, "GET", f"{BASE}/{actor.token_uuid}", server.actors.token("system")).json()
        if record["last_used_at"]:
            break
        time.sleep(0.1)
    assert record["last_used_at"], "last_used_at not set within 2 seconds"
    assert record["last_used_by_ip_address"] == "127.0.0.1"
    assert parse_timestamp(record["last_used_at"])
