"""Users and api_clients on each database backend (SQLite and PostgreSQL, see conftest): the SQL the list
filters make (pattern escapes, nulls, case, timestamps, the effective is_trusted), the foreign-key cascades
that revoke tokens, and the admin-safety checks inside their transactions."""

from __future__ import annotations

import json

import pytest
from falcon import testing

from authserver.app import create_app
from authserver.users import UserError, UserService

from .support import Actors, make_config

USERS = "/arvados/v1/users"
CLIENTS = "/arvados/v1/api_clients"


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app(make_config(tmp_path, database=database_url, login__trusted_clients=["https://*.wild.example"]))
    yield app
    app.services.close()


@pytest.fixture
def api(app):
    client = testing.TestClient(app)
    actors = Actors(app.services.config, app.services.storage)
    root = actors.token("system")

    def call(method, path, body=None, actor=root, **params):
        params = {key: json.dumps(value) if key in ("filters", "order") else value for key, value in params.items()}
        response = client.simulate_request(method, path, headers=actor.headers, json=body, params=params)
        return response

    call.actors = actors
    return call


def names(api, path, *filters, order=("uuid asc",)):
    response = api("GET", path, filters=list(filters), order=list(order))
    assert response.status_code == 200, response.text
    return sorted(item.get("first_name") or item.get("name") for item in response.json["items"])


def test_user_filters_in_sql(api):
    people = [
        {"email": "ann@example.org", "first_name": "Ann", "username": "ann"},
        {"email": "ben@example.org", "first_name": "ben", "is_admin": True},
        {"email": "cat%cat@example.org", "first_name": "C_t", "username": "cat"},
        {"email": "dan@example.org", "first_name": "Dan", "is_active": False},
    ]
    made = [api("POST", USERS, {"user": person}).json for person in people]
    ours = ["email", "not in", ["root"]]
    assert names(api, USERS, ours) == ["Ann", "C_t", "Dan", "ben"]
    # like: case-sensitive; ilike: not; % and _ are wildcards unless escaped with a backslash
    assert names(api, USERS, ours, ["first_name", "like", "a%"]) == []
    assert names(api, USERS, ours, ["first_name", "ilike", "a%"]) == ["Ann"]
    assert names(api, USERS, ours, ["first_name", "like", "C_t"]) == ["C_t"]
    assert names(api, USERS, ours, ["first_name", "like", "C\\_t"]) == ["C_t"]
    assert names(api, USERS, ours, ["first_name", "like", "_a_"]) == ["Dan"]
    assert names(api, USERS, ours, ["first_name", "like", "D\\_n"]) == []
    assert names(api, USERS, ours, ["email", "like", "cat\\%%"]) == ["C_t"]
    assert names(api, USERS, ours, ["email", "ilike", "%\\%%"]) == ["C_t"]
    assert names(api, USERS, ours, ["email", "like", "%[a]%"]) == []  # brackets are literal, not a class
    assert names(api, USERS, ours, ["email", "like", "*"]) == []  # so is a star
    # nulls: = null finds them, != and not in keep them
    assert names(api, USERS, ours, ["username", "=", None]) == ["Dan", "ben"]
    assert names(api, USERS, ours, ["username", "!=", None]) == ["Ann", "C_t"]
    assert names(api, USERS, ours, ["username", "!=", "ann"]) == ["C_t", "Dan", "ben"]
    assert names(api, USERS, ours, ["username", "not in", ["ann"]]) == ["C_t", "Dan", "ben"]
    assert names(api, USERS, ours, ["username", "not in", ["ann", None]]) == ["C_t"]
    assert names(api, USERS, ours, ["username", "in", ["cat", None]]) == ["C_t", "Dan", "ben"]
    assert names(api, USERS, ours, ["username", "in", []]) == []
    assert names(api, USERS, ours, ["username", "not in", []]) == ["Ann", "C_t", "Dan", "ben"]
    # booleans
    assert names(api, USERS, ours, ["is_admin", "=", True]) == ["ben"]
    assert names(api, USERS, ours, ["is_active", "=", False]) == ["Dan"]
    assert names(api, USERS, ours, ["is_active", "!=", False], ["is_admin", "in", [False]]) == ["Ann", "C_t"]
    assert names(api, USERS, ours, ["is_admin", "not in", [True, False]]) == []
    assert names(api, USERS, ours, ["is_admin", "in", [True, False]]) == ["Ann", "C_t", "Dan", "ben"]
    # timestamps, in any RFC 3339 form
    second = made[1]["created_at"]
    assert names(api, USERS, ours, ["created_at", ">=", second]) == ["C_t", "Dan", "ben"]
    assert names(api, USERS, ours, ["created_at", "<", second]) == ["Ann"]
    assert names(api, USERS, ours, ["created_at", "in", [second]]) == ["ben"]
    assert names(api, USERS, ours, ["modified_at", ">", "2000-01-01T01:00:00+01:00"]) == ["Ann", "C_t", "Dan", "ben"]


def test_effective_trust_in_sql(api):
    made = {}
    for name, prefix, stored in (("flag", "https://flag.example", True), ("wild", "https://a.wild.example", False),
                                 ("plain", "https://plain.example", False), ("bare", "https://wild.example", False)):
        made[name] = api("POST", CLIENTS, {"api_client": {"url_prefix": prefix, "name": name,
                                                          "is_trusted": stored}}).json
    mine = ["uuid", "in", [client["uuid"] for client in made.values()]]
    assert names(api, CLIENTS, mine, ["is_trusted", "=", True]) == ["flag", "wild"]
    assert names(api, CLIENTS, mine, ["is_trusted", "=", False]) == ["bare", "plain"]
    assert names(api, CLIENTS, mine, ["is_trusted", "not in", [True]]) == ["bare", "plain"]
    ordered = api("GET", CLIENTS, filters=[mine], order=["is_trusted desc", "name asc"]).json["items"]
    assert [item["name"] for item in ordered] == ["flag", "wild", "bare", "plain"]


def test_deleting_users_and_clients_cascades_to_their_tokens(api):
    actors = api.actors
    user = actors.user()
    tokens = [actors.token(token_class, user=user) for token_class in ("trusted", "untrusted", "api_created")]
    client_token = actors.token("untrusted")
    Token = actors.storage.models.Token
    assert api("DELETE", f"{USERS}/{user.uuid}").status_code == 200
    assert not Token.select().where(Token.uuid.in_([token.token_uuid for token in tokens])).exists()
    for token in tokens:
        assert api("GET", f"{USERS}/current", actor=token).status_code == 401
    ApiClient = actors.storage.models.ApiClient
    client = ApiClient.get(ApiClient.url_prefix == "https://untrusted.example.org/")
    assert api("DELETE", f"{CLIENTS}/{client.uuid}").status_code == 200
    assert api("GET", f"{USERS}/current", actor=client_token).status_code == 401
    assert not Token.select().where(Token.uuid == client_token.token_uuid).exists()


def test_admin_safety_in_the_service(api):
    actors = api.actors
    service = UserService(actors.storage, actors.config.cluster_id)
    only = actors.user(admin=True)
    with pytest.raises(UserError, match="last active admin"):
        with actors.storage.write():
            service.update(only, {"is_admin": False}, actor_user_id=None, modified_by_user_uuid=None)
    with pytest.raises(UserError, match="last active admin"):
        with actors.storage.write():
            service.delete(only)
    other = actors.user(admin=True)
    with actors.storage.write():
        service.update(only, {"is_active": False}, actor_user_id=None, modified_by_user_uuid=None)
    with pytest.raises(UserError, match="last active admin"):
        with actors.storage.write():
            service.update(other, {"is_admin": False}, actor_user_id=None, modified_by_user_uuid=None)
    assert actors.storage.models.User.get_by_id(other.id).is_admin


def test_unique_emails_and_usernames_on_each_backend(api):
    first = api("POST", USERS, {"user": {"email": "Same@Example.org", "username": "same"}})
    assert first.status_code == 200
    for body in ({"email": "same@example.ORG"}, {"email": "other@example.org", "username": "same"}):
        response = api("POST", USERS, {"user": body})
        assert response.status_code == 422, response.text
    other = api("POST", USERS, {"user": {"email": "other@example.org"}}).json
    response = api("PATCH", f"{USERS}/{other['uuid']}", {"user": {"email": "SAME@example.org"}})
    assert response.status_code == 422 and "exists already" in response.text
