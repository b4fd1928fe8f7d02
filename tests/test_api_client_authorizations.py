"""The token API through falcon.testing (SPEC §4.1, §10), one behaviour per test."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authserver.ids import format_timestamp, parse_timestamp, utcnow

BASE = "/arvados/v1/api_client_authorizations"


def body(**fields):
    return {"api_client_authorization": fields}


def create(client, actor, **fields):
    return client.simulate_post(BASE, headers=actor.headers, json=body(**fields))


# --- current ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token_class", ["system", "trusted", "untrusted", "api_created"])
def test_current_returns_the_presented_token_for_every_class(client, actors, token_class):
    actor = actors.token(token_class)
    response = client.simulate_get(f"{BASE}/current", headers=actor.headers)
    assert response.status_code == 200
    assert response.json["uuid"] == actor.token_uuid
    assert response.json["owner_uuid"] == actor.user_uuid
    assert response.json["api_token"] == actor.secret
    assert response.json["kind"] == "arvados#apiClientAuthorization"


def test_current_for_the_root_token_has_the_fixed_uuid(client, actors):
    response = client.simulate_get(f"{BASE}/current", headers=actors.token("system").headers)
    assert response.json["uuid"] == "zzzzz-gj3su-000000000000000"
    assert response.json["owner_uuid"] == "zzzzz-tpzed-000000000000000"


def test_current_is_allowed_whatever_the_scopes(client, actors):
    actor = actors.token("trusted", scopes=[])
    assert client.simulate_get(f"{BASE}/current", headers=actor.headers).status_code == 200
    assert client.simulate_get(f"{BASE}/current/", headers=actor.headers).status_code == 200
    assert client.simulate_get(BASE, headers=actor.headers).status_code == 403


# --- create ----------------------------------------------------------------------------------------------


def test_create_returns_the_secret_once_and_stores_only_its_digest(client, actors):
    actor = actors.token("trusted")
    response = create(client, actor, scopes=["GET /arvados/v1/api_client_authorizations/current"])
    assert response.status_code == 200
    created = response.json
    assert created["api_token"] and len(created["api_token"]) >= 50
    assert created["owner_uuid"] == actor.user_uuid
    assert created["api_client_id"] == 0
    assert created["created_by_ip_address"]
    # get and list never show it again
    fetched = client.simulate_get(f"{BASE}/{created['uuid']}", headers=actor.headers).json
    assert fetched["api_token"] is None
    listed = client.simulate_get(BASE, headers=actor.headers).json
    assert all(item["api_token"] is None for item in listed["items"])
    # the database holds no secret
    rows = actors.storage.execute("SELECT * FROM api_client_authorizations").fetchall()
    assert created["api_token"] not in json.dumps([list(map(str, row)) for row in rows])


def test_a_created_token_works_and_is_api_created(client, actors):
    actor = actors.token("trusted")
    created = create(client, actor).json
    headers = {"Authorization": f"Bearer v2/{created['uuid']}/{created['api_token']}"}
    assert client.simulate_get(f"{BASE}/current", headers=headers).json["uuid"] == created["uuid"]
    # api_created tokens may not list tokens under the default policy
    response = client.simulate_get(BASE, headers=headers)
    assert response.status_code == 403
    assert "Forbidden: " in response.json["errors"][0]


def test_create_defaults_to_the_creators_scopes_and_expiry(client, actors):
    expiry = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    scopes = ["POST /arvados/v1/api_client_authorizations", "GET /arvados/v1/api_client_authorizations/"]
    actor = actors.token("trusted", scopes=scopes, expires_at=expiry)
    created = create(client, actor).json
    assert created["scopes"] == scopes
    assert parse_timestamp(created["expires_at"]) == expiry


def test_create_with_wider_scopes_than_the_creator_is_forbidden(client, actors):
    actor = actors.token("trusted", scopes=["GET /arvados/v1/", "POST /arvados/v1/api_client_authorizations"])
    response = create(client, actor, scopes=["all"])
    assert response.status_code == 403
    assert "trusted-create-own-tokens" in response.json["errors"][0]
    narrower = create(client, actor, scopes=["GET /arvados/v1/api_client_authorizations/"])
    assert narrower.status_code == 200


def test_create_outliving_the_creator_is_forbidden(client, actors):
    expiry = utcnow() + timedelta(hours=1)
    actor = actors.token("trusted", expires_at=expiry)
    later = format_timestamp(expiry + timedelta(hours=1))
    response = create(client, actor, expires_at=later)
    assert response.status_code == 403
    assert "expiry" in response.json["errors"][0]
    assert create(client, actor, expires_at=None).status_code == 403  # "never" is later too
    sooner = format_timestamp(expiry - timedelta(minutes=5))
    assert create(client, actor, expires_at=sooner).status_code == 200


def test_create_for_another_user_needs_an_admin(client, actors):
    other = actors.user()
    plain = actors.token("trusted")
    response = create(client, plain, owner_uuid=other.uuid)
    assert response.status_code == 403
    admin = actors.token("trusted", admin=True)
    response = create(client, admin, owner_uuid=other.uuid)
    assert response.status_code == 200
    assert response.json["owner_uuid"] == other.uuid


def test_create_for_an_unknown_user_is_422_for_an_admin(client, actors):
    admin = actors.token("trusted", admin=True)
    response = create(client, admin, owner_uuid="zzzzz-tpzed-aaaaaaaaaaaaaaa")
    assert response.status_code == 422
    assert "owner_uuid" in response.json["errors"][0]


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({"uuid": "zzzzz-gj3su-aaaaaaaaaaaaaaa"}, "api_client_authorization.uuid"),
        ({"api_token": "a" * 50}, "api_client_authorization.api_token"),
        ({"scopes": ["GET x"]}, "api_client_authorization.scopes[0]"),
        ({"scopes": ["FETCH /x"]}, "api_client_authorization.scopes[0]"),
        ({"scopes": "all"}, "api_client_authorization.scopes"),
        ({"expires_at": "tomorrow"}, "api_client_authorization.expires_at"),
        ({"colour": "blue"}, "api_client_authorization.colour"),
    ],
)
def test_create_rejects_bad_payloads_with_422_naming_the_path(client, actors, fields, fragment):
    actor = actors.token("trusted")
    before = actors.storage.models.Token.select().count()
    response = create(client, actor, **fields)
    assert response.status_code == 422, response.json
    assert any(fragment in message for message in response.json["errors"])
    assert actors.storage.models.Token.select().count() == before


def test_create_reports_every_problem(client, actors):
    response = create(client, actors.token("trusted"), uuid="x", scopes=["bad"], expires_at=5)
    assert response.status_code == 422
    assert len(response.json["errors"]) == 3


def test_max_lifetime_caps_and_fills_expiry(tmp_path):
    from falcon import testing

    from authserver.app import create_app

    from .support import Actors, make_config

    config = make_config(tmp_path, tokens__max_lifetime="1h")
    app = create_app(config)
    try:
        client = testing.TestClient(app)
        actors = Actors(config, app.services.storage)
        plain = actors.token("trusted")
        created = create(client, plain).json
        expiry = parse_timestamp(created["expires_at"])
        assert timedelta(minutes=59) < expiry - utcnow() <= timedelta(hours=1)
        far = format_timestamp(utcnow() + timedelta(days=30))
        # an admin's explicit expires_at may pass the cap; a default may not (the system token is admin and,
        # unlike a trusted admin's token made under this cap, has no expiry of its own to stay within)
        admin = actors.token("system")
        assert parse_timestamp(create(client, admin, expires_at=far).json["expires_at"]) > utcnow() + timedelta(days=29)
        assert parse_timestamp(create(client, admin).json["expires_at"]) <= utcnow() + timedelta(hours=1)
        system = actors.token("system")
        system_auth = client.simulate_post(f"{BASE}/create_system_auth", headers=system.headers).json
        assert parse_timestamp(system_auth["expires_at"]) <= utcnow() + timedelta(hours=1)
    finally:
        app.services.close()


# --- create_system_auth ----------------------------------------------------------------------------------


def test_create_system_auth_makes_a_system_owned_api_created_token(client, actors):
    admin = actors.token("trusted", admin=True)
    response = client.simulate_post(
        f"{BASE}/create_system_auth", headers=admin.headers,
        params={"scopes": json.dumps(["GET /arvados/v1/api_client_authorizations/current"])},
    )
    assert response.status_code == 200
    assert response.json["owner_uuid"] == "zzzzz-tpzed-000000000000000"
    assert response.json["scopes"] == ["GET /arvados/v1/api_client_authorizations/current"]
    plain = actors.token("trusted")
    assert client.simulate_post(f"{BASE}/create_system_auth", headers=plain.headers).status_code == 403


def test_create_system_auth_rejects_bad_scopes(client, actors):
    response = client.simulate_post(f"{BASE}/create_system_auth", headers=actors.token("system").headers,
                                    params={"scopes": '["nonsense"]'})
    assert response.status_code == 422
    assert "scopes[0]" in response.json["errors"][0]


# --- visibility, get, update, delete ---------------------------------------------------------------------


def test_another_users_token_is_404_not_403(client, actors):
    mine = actors.token("trusted")
    theirs = actors.token("trusted")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.simulate_request(method, f"{BASE}/{theirs.token_uuid}", headers=mine.headers,
                                           json=body(scopes=["all"]) if method in ("PUT", "PATCH") else None)
        assert response.status_code == 404, method
    assert client.simulate_get(f"{BASE}/current", headers=theirs.headers).status_code == 200


def test_system_sees_everyones_tokens(client, actors):
    theirs = actors.token("trusted")
    system = actors.token("system")
    assert client.simulate_get(f"{BASE}/{theirs.token_uuid}", headers=system.headers).status_code == 200
    listed = client.simulate_get(BASE, headers=system.headers, params={"limit": "1000"}).json
    assert theirs.token_uuid in {item["uuid"] for item in listed["items"]}


def test_list_shows_only_the_callers_users_tokens(client, actors):
    mine = actors.token("trusted")
    second = actors.token("trusted", user=actors.storage.models.User.get(uuid=mine.user_uuid))
    actors.token("trusted")  # someone else's
    listed = client.simulate_get(BASE, headers=mine.headers).json
    assert {item["uuid"] for item in listed["items"]} == {mine.token_uuid, second.token_uuid}
    assert listed["items_available"] == 2
    assert listed["kind"] == "arvados#apiClientAuthorizationList"


def test_update_changes_scopes_and_rejects_uuid_and_owner_changes(client, actors):
    actor = actors.token("trusted")
    target = create(client, actor).json
    url = f"{BASE}/{target['uuid']}"
    response = client.simulate_patch(url, headers=actor.headers, json=body(scopes=["GET /arvados/v1/users/current"]))
    assert response.status_code == 200
    assert response.json["scopes"] == ["GET /arvados/v1/users/current"]
    put = client.simulate_put(url, headers=actor.headers, json=body(scopes=["all"]))
    assert put.status_code == 200 and put.json["scopes"] == ["all"]
    for field, value in (("uuid", "zzzzz-gj3su-aaaaaaaaaaaaaaa"), ("owner_uuid", "zzzzz-tpzed-aaaaaaaaaaaaaaa")):
        response = client.simulate_patch(url, headers=actor.headers, json=body(**{field: value}))
        assert response.status_code == 422
        assert field in response.json["errors"][0]
    same = client.simulate_patch(url, headers=actor.headers, json=body(uuid=target["uuid"]))
    assert same.status_code == 200
    admin = actors.token("system")
    assert client.simulate_patch(url, headers=admin.headers, json=body(owner_uuid=admin.user_uuid)).status_code == 422


def test_update_may_not_widen_beyond_the_caller(client, actors):
    actor = actors.token("trusted", scopes=["GET /arvados/v1/", "PATCH /arvados/v1/api_client_authorizations/"])
    target = actors.token("api_created", user=actors.storage.models.User.get(uuid=actor.user_uuid),
                          scopes=["GET /arvados/v1/users/current"])
    url = f"{BASE}/{target.token_uuid}"
    assert client.simulate_patch(url, headers=actor.headers, json=body(scopes=["all"])).status_code == 403
    assert client.simulate_patch(url, headers=actor.headers, json=body(scopes=["GET /arvados/v1/users"])).status_code == 200


def test_delete_returns_the_token_and_revokes_it(client, actors):
    actor = actors.token("trusted")
    victim = actors.token("trusted", user=actors.storage.models.User.get(uuid=actor.user_uuid))
    response = client.simulate_delete(f"{BASE}/{victim.token_uuid}", headers=actor.headers)
    assert response.status_code == 200
    assert response.json["uuid"] == victim.token_uuid
    assert client.simulate_get(f"{BASE}/current", headers=victim.headers).status_code == 401
    assert client.simulate_get(f"{BASE}/{victim.token_uuid}", headers=actor.headers).status_code == 404


def test_a_token_may_delete_itself(client, actors):
    actor = actors.token("trusted")
    assert client.simulate_delete(f"{BASE}/{actor.token_uuid}", headers=actor.headers).status_code == 200
    assert client.simulate_get(f"{BASE}/current", headers=actor.headers).status_code == 401


@pytest.mark.parametrize("token_class", ["untrusted", "api_created"])
def test_untrusted_and_api_created_cannot_touch_even_themselves(client, actors, token_class):
    actor = actors.token(token_class)
    url = f"{BASE}/{actor.token_uuid}"
    for method in ("GET", "PATCH", "DELETE"):
        response = client.simulate_request(method, url, headers=actor.headers,
                                           json=body(scopes=["all"]) if method == "PATCH" else None)
        assert response.status_code == 403, method
        assert response.json["errors"][0].startswith("Forbidden: ")
    assert client.simulate_get(BASE, headers=actor.headers).status_code == 403
    assert create(client, actor).status_code == 403
    assert client.simulate_post(f"{BASE}/create_system_auth", headers=actor.headers).status_code == 403


# --- list parameters ---------------------------------------------------------------------------------------


def test_list_filters_by_uuid_api_token_and_scopes(client, actors):
    actor = actors.token("trusted")
    first = create(client, actor, scopes=["GET /a", "GET /b"]).json
    create(client, actor, scopes=["GET /c"])

    def uuids(**params):
        response = client.simulate_get(BASE, headers=actor.headers, params={k: json.dumps(v) for k, v in params.items()})
        assert response.status_code == 200, response.json
        return [item["uuid"] for item in response.json["items"]]

    assert uuids(filters=[["uuid", "=", first["uuid"]]]) == [first["uuid"]]
    assert uuids(filters=[["api_token", "=", first["api_token"]]]) == [first["uuid"]]
    assert uuids(filters=[["api_token", "=", f"v2/{first['uuid']}/{first['api_token']}"]]) == [first["uuid"]]
    assert uuids(filters=[["scopes", "=", ["GET /b", "GET /a"]]]) == [first["uuid"]]
    assert uuids(where={"uuid": first["uuid"]}) == [first["uuid"]]
    assert uuids(where={"scopes": ["GET /a", "GET /b"]}) == [first["uuid"]]
    assert uuids(filters=[["api_token", "=", "nonsense!"]]) == []


@pytest.mark.parametrize(
    "params",
    [
        {"filters": json.dumps([["expires_at", "<", "2030-01-01"]])},
        {"filters": json.dumps([["uuid", "like", "%"]])},
        {"filters": "not json"},
        {"where": json.dumps({"owner_uuid": "x"})},
        {"limit": "-1"},
        {"limit": "ten"},
        {"offset": "-5"},
        {"count": "maybe"},
        {"order": json.dumps(["secret_digest asc"])},
        {"order": json.dumps(["created_at sideways"])},
        {"select": json.dumps(["uuid", "secret_digest"])},
    ],
)
def test_list_rejects_parameters_it_cannot_honour(client, actors, params):
    response = client.simulate_get(BASE, headers=actors.token("trusted").headers, params=params)
    assert response.status_code == 422, params
    assert response.json["errors"]


def test_list_limit_offset_order_select_and_count(client, actors):
    actor = actors.token("trusted")
    made = [create(client, actor).json["uuid"] for _ in range(4)]
    everything = client.simulate_get(BASE, headers=actor.headers).json
    assert everything["limit"] == 100 and everything["offset"] == 0
    assert [item["uuid"] for item in everything["items"]][:4] == list(reversed(made))  # newest first
    page = client.simulate_get(BASE, headers=actor.headers, params={"limit": "2", "offset": "1"}).json
    assert [item["uuid"] for item in page["items"]] == list(reversed(made))[1:3]
    assert page["items_available"] == 5
    ascending = client.simulate_get(BASE, headers=actor.headers, params={"order": json.dumps(["created_at asc"])}).json
    assert [item["uuid"] for item in ascending["items"]][1:] == made
    selected = client.simulate_get(BASE, headers=actor.headers, params={"select": json.dumps(["uuid"])}).json
    assert set(selected["items"][0]) == {"kind", "uuid"}
    uncounted = client.simulate_get(BASE, headers=actor.headers, params={"count": "none"}).json
    assert "items_available" not in uncounted
    capped = client.simulate_get(BASE, headers=actor.headers, params={"limit": "100000"}).json
    assert capped["limit"] == 1000


def test_alt_json_and_unknown_parameters_are_ignored(client, actors):
    response = client.simulate_get(BASE, headers=actors.token("trusted").headers, params={"alt": "json", "x": "1"})
    assert response.status_code == 200
