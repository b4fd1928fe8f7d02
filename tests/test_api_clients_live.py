"""The api_clients API over HTTP against a real server (SPEC §4.2, §5, §10): the default policy's rows,
canonical url_prefix, effective trust (stored flag or login.trusted_clients), trust flipping that changes the
class of live tokens on their next request, deletion that revokes a client's tokens, lists and filters."""

from __future__ import annotations

import json
import uuid as uuidlib

import pytest

from .live_api import assert_error, call
from .support import LiveServer

BASE = "/arvados/v1/api_clients"
TOKENS = "/arvados/v1/api_client_authorizations"
CLASSES = ("system", "trusted", "untrusted", "api_created")
TRUSTED_CLIENTS = ["https://*.wild.example", "https://ok.example"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("clients"), login__trusted_clients=TRUSTED_CLIENTS).start()
    yield server
    server.stop()


def wrapped(**fields):
    return {"api_client": fields}


def fresh_origin(domain="apps.example"):
    return f"https://app-{uuidlib.uuid4().hex[:10]}.{domain}"


def token_for_client(server, client_uuid, *, admin=False):
    """A token issued to the client `client_uuid` (as browser login would), for a new user."""
    actors = server.actors
    ApiClient = actors.storage.models.ApiClient
    user = actors.user(admin=admin)
    with actors.storage.write():
        client = ApiClient.get(ApiClient.uuid == client_uuid)
        row, secret = actors.tokens.issue(user_id=user.id, api_client_id=client.id, scopes=["all"], expires_at=None,
                                          ip_address="127.0.0.1", modified_by_user_uuid=None)
    return {"Authorization": f"Bearer v2/{row.uuid}/{secret}"}


# --- the default policy's rows: api_clients.* for system and trusted admins only -------------------------


def exercise(server, method, actor):
    admin = server.actors.token("system")
    if method == "list":
        return call(server, "GET", BASE, actor)
    if method == "create":
        return call(server, "POST", BASE, actor, json=wrapped(url_prefix=fresh_origin()))
    target = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin())).json()["uuid"]
    if method == "get":
        return call(server, "GET", f"{BASE}/{target}", actor)
    if method == "update":
        return call(server, "PATCH", f"{BASE}/{target}", actor, json=wrapped(name="renamed"))
    return call(server, "DELETE", f"{BASE}/{target}", actor)


CELLS = [(method, token_class, admin) for method in ("list", "get", "create", "update", "delete")
         for token_class in CLASSES for admin in (False, True) if not (token_class == "system" and not admin)]


@pytest.mark.parametrize("method, token_class, admin", CELLS)
def test_default_policy_table_over_http(server, method, token_class, admin):
    allowed = token_class == "system" or (token_class == "trusted" and admin)
    actor = server.actors.token(token_class, admin=admin)
    response = exercise(server, method, actor)
    if allowed:
        assert response.status_code == 200, response.text
        assert response.json()["kind"] in ("arvados#apiClient", "arvados#apiClientList")
    else:
        assert_error(response, 403, f"Forbidden: no policy rule allows api_clients.{method} for {token_class} tokens")


# --- create, get, update, delete ---------------------------------------------------------------------------


def test_create_canonicalises_the_url_prefix_and_refuses_duplicates(server):
    admin = server.actors.token("trusted", admin=True)
    host = f"app-{uuidlib.uuid4().hex[:8]}.example"
    response = call(server, "POST", BASE, admin, json=wrapped(url_prefix=f"HTTPS://{host.upper()}:443/some/page?x#y",
                                                              name="Workbench"))
    assert response.status_code == 200, response.text
    client = response.json()
    assert client["kind"] == "arvados#apiClient" and client["uuid"].startswith("zzzzz-ozdt8-")
    assert client["url_prefix"] == f"https://{host}/" and client["name"] == "Workbench"
    assert client["is_trusted"] is False and client["modified_by_user_uuid"] == admin.user_uuid
    assert set(client) == {"kind", "etag", "uuid", "owner_uuid", "created_at", "modified_at", "modified_by_user_uuid",
                           "name", "url_prefix", "is_trusted"}
    assert call(server, "GET", f"{BASE}/{client['uuid']}", admin).json() == client
    assert_error(call(server, "POST", BASE, admin, json=wrapped(url_prefix=f"https://{host}")), 422,
                 "api_client.url_prefix", "exists already")
    port = call(server, "POST", BASE, admin, json=wrapped(url_prefix=f"https://{host}:8443"))
    assert port.status_code == 200 and port.json()["url_prefix"] == f"https://{host}:8443/"  # another origin


@pytest.mark.parametrize("fields, fragment", [
    ({}, "'url_prefix' is a required property"),
    ({"url_prefix": "ftp://files.example/"}, "api_client.url_prefix: only http and https"),
    ({"url_prefix": "https://user@app.example/"}, "api_client.url_prefix"),
    ({"url_prefix": "not a url"}, "api_client.url_prefix"),
    ({"url_prefix": "https://app.example/\u0000"}, "api_client.url_prefix"),
    ({"url_prefix": "https://" + "a" * 2100 + ".example/"}, "api_client.url_prefix"),
    ({"url_prefix": "https://ok-name.example/", "name": "bad\nname"}, "api_client.name"),
    ({"url_prefix": "https://ok-name.example/", "name": "x" * 256}, "api_client.name"),
    ({"url_prefix": "https://ok-name.example/", "is_trusted": "yes"}, "api_client.is_trusted"),
    ({"url_prefix": "https://ok-name.example/", "uuid": "zzzzz-ozdt8-aaaaaaaaaaaaaaa"}, "api_client.uuid: cannot be set"),
    ({"url_prefix": "https://ok-name.example/", "owner_uuid": "zzzzz-tpzed-aaaaaaaaaaaaaaa"}, "cannot be set"),
    ({"url_prefix": "https://ok-name.example/", "secret": 1}, "api_client.secret: unknown attribute"),
])
def test_create_refuses_bad_payloads_and_writes_nothing(server, fields, fragment):
    admin = server.actors.token("trusted", admin=True)
    ApiClient = server.actors.storage.models.ApiClient
    before = ApiClient.select().count()
    assert_error(call(server, "POST", BASE, admin, json=wrapped(**fields)), 422, fragment)
    assert ApiClient.select().count() == before


def test_update_and_delete(server):
    admin = server.actors.token("trusted", admin=True)
    client = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin(), name="before")).json()
    url = f"{BASE}/{client['uuid']}"
    moved = fresh_origin()
    response = call(server, "PUT", url, admin, json=wrapped(name="after", url_prefix=moved + ":443/x", uuid=client["uuid"]))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "after" and response.json()["url_prefix"] == moved + "/"
    other = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin())).json()
    assert_error(call(server, "PATCH", url, admin, json=wrapped(url_prefix=other["url_prefix"])), 422, "exists already")
    assert_error(call(server, "PATCH", url, admin, json=wrapped(uuid=other["uuid"])), 422, "api_client.uuid: cannot be changed")
    assert_error(call(server, "PATCH", url, admin, json=wrapped(url_prefix="javascript:alert(1)")), 422, "url_prefix")
    deleted = call(server, "DELETE", url, admin)
    assert deleted.status_code == 200 and deleted.json()["uuid"] == client["uuid"]
    for method in ("GET", "PATCH", "DELETE"):
        assert_error(call(server, method, url, admin, json=wrapped(name="x")), 404, "Path not found")
    assert_error(call(server, "GET", f"{BASE}/not-a-uuid", admin), 404)


def test_the_cli_client_keeps_its_ssh_prefix_when_renamed(server):
    """The built-in ssh://root@localhost/ client is no http origin; an update that leaves the prefix alone works."""
    admin = server.actors.token("trusted", admin=True)
    ApiClient = server.actors.storage.models.ApiClient
    with server.actors.storage.write():
        cli_client, _ = server.actors.clients.find_or_create("ssh://root@localhost/", is_trusted=True)
    url = f"{BASE}/{cli_client.uuid}"
    response = call(server, "PATCH", url, admin, json=wrapped(url_prefix="ssh://root@localhost/", name="command line"))
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "command line" and response.json()["is_trusted"] is True
    assert ApiClient.get_by_id(cli_client.id).url_prefix == "ssh://root@localhost/"


# --- trust: effective value, flipping on a live server, deletion -----------------------------------------


def test_effective_trust_is_the_flag_or_the_config(server):
    admin = server.actors.token("trusted", admin=True)
    wild = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin("wild.example"))).json()
    plain = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin())).json()
    flagged = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin(), is_trusted=True)).json()
    assert (wild["is_trusted"], plain["is_trusted"], flagged["is_trusted"]) == (True, False, True)
    # Clearing the flag of a client the config trusts changes nothing that matters: it stays trusted.
    response = call(server, "PATCH", f"{BASE}/{wild['uuid']}", admin, json=wrapped(is_trusted=False))
    assert response.status_code == 200 and response.json()["is_trusted"] is True
    # Filters and ordering use the effective value too.
    mine = [wild["uuid"], plain["uuid"], flagged["uuid"]]

    def listed(*conditions, order=None):
        params = {"filters": json.dumps([["uuid", "in", mine], *conditions])}
        if order:
            params["order"] = json.dumps(order)
        response = call(server, "GET", BASE, admin, params=params)
        assert response.status_code == 200, response.text
        return [item["uuid"] for item in response.json()["items"]]

    assert sorted(listed(["is_trusted", "=", True])) == sorted([wild["uuid"], flagged["uuid"]])
    assert listed(["is_trusted", "=", False]) == [plain["uuid"]]
    assert listed(["is_trusted", "!=", True]) == [plain["uuid"]]
    assert sorted(listed(["is_trusted", "in", [True, False]])) == sorted(mine)
    assert listed(order=["is_trusted asc", "created_at asc"])[0] == plain["uuid"]


def test_flipping_trust_changes_the_class_of_live_tokens_on_the_next_request(server):
    admin = server.actors.token("trusted", admin=True)
    client = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin())).json()
    headers = token_for_client(server, client["uuid"])
    as_untrusted = call(server, "GET", TOKENS, headers=headers)
    assert_error(as_untrusted, 403, "for untrusted tokens")
    assert call(server, "GET", f"{TOKENS}/current", headers=headers).status_code == 200

    assert call(server, "PATCH", f"{BASE}/{client['uuid']}", admin, json=wrapped(is_trusted=True)).json()["is_trusted"]
    as_trusted = call(server, "GET", TOKENS, headers=headers)
    assert as_trusted.status_code == 200, as_trusted.text

    assert not call(server, "PUT", f"{BASE}/{client['uuid']}", admin, json=wrapped(is_trusted=False)).json()["is_trusted"]
    assert_error(call(server, "GET", TOKENS, headers=headers), 403, "for untrusted tokens")


def test_an_admin_token_of_a_flipped_client_gains_and_loses_admin_powers(server):
    root = server.actors.token("system")
    client = call(server, "POST", BASE, root, json=wrapped(url_prefix=fresh_origin())).json()
    headers = token_for_client(server, client["uuid"], admin=True)
    assert call(server, "GET", BASE, headers=headers).status_code == 403
    call(server, "PATCH", f"{BASE}/{client['uuid']}", root, json=wrapped(is_trusted=True))
    assert call(server, "GET", BASE, headers=headers).status_code == 200
    # the admin untrusts its own client: that very token is untrusted from the next request on
    response = call(server, "PATCH", f"{BASE}/{client['uuid']}", headers=headers, json=wrapped(is_trusted=False))
    assert response.status_code == 200 and response.json()["is_trusted"] is False
    assert call(server, "GET", BASE, headers=headers).status_code == 403


def test_tokens_of_a_client_the_config_trusts_are_trusted(server):
    root = server.actors.token("system")
    client = call(server, "POST", BASE, root, json=wrapped(url_prefix="https://ok.example:443/")).json()
    assert client["url_prefix"] == "https://ok.example/" and client["is_trusted"] is True
    headers = token_for_client(server, client["uuid"])
    assert call(server, "GET", TOKENS, headers=headers).status_code == 200


def test_deleting_a_client_revokes_its_tokens_and_no_others(server):
    admin = server.actors.token("trusted", admin=True)
    client = call(server, "POST", BASE, admin, json=wrapped(url_prefix=fresh_origin(), is_trusted=True)).json()
    doomed = [token_for_client(server, client["uuid"]) for _ in range(2)]
    bystander = server.actors.token("untrusted")
    for headers in doomed:
        assert call(server, "GET", f"{TOKENS}/current", headers=headers).status_code == 200
    assert call(server, "DELETE", f"{BASE}/{client['uuid']}", admin).status_code == 200
    for headers in doomed:
        assert_error(call(server, "GET", f"{TOKENS}/current", headers=headers), 401, "Not logged in")
    Token = server.actors.storage.models.Token
    assert not Token.select().where(Token.api_client.is_null(False) & ~Token.api_client.in_(
        server.actors.storage.models.ApiClient.select(server.actors.storage.models.ApiClient.id))).exists()
    assert call(server, "GET", f"{TOKENS}/current", bystander).status_code == 200
    assert call(server, "GET", f"{BASE}/current", admin).status_code == 404  # no such route item either


# --- lists ----------------------------------------------------------------------------------------------------


def test_list_parameters_and_filters(server):
    admin = server.actors.token("trusted", admin=True)
    tag = uuidlib.uuid4().hex[:8]
    made = [call(server, "POST", BASE, admin, json=wrapped(url_prefix=f"https://{n}-{tag}.example",
                                                           name=f"{tag} App {n}")).json() for n in range(3)]
    mine = ["name", "like", f"{tag} %"]

    def listed(*conditions, **params):
        params = {"filters": json.dumps([mine, *conditions]), **params}
        response = call(server, "GET", BASE, admin, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    listing = listed()
    assert listing["kind"] == "arvados#apiClientList" and listing["items_available"] == 3
    assert [item["uuid"] for item in listing["items"]] == [client["uuid"] for client in reversed(made)]
    assert [item["name"] for item in listed(order=json.dumps(["name asc"]), limit=1, offset=1)["items"]] == [
        f"{tag} App 1"]
    assert listed(count="none", select=json.dumps(["url_prefix"]))["items"] == [
        {"kind": "arvados#apiClient", "url_prefix": client["url_prefix"]} for client in reversed(made)]
    assert len(listed(["name", "like", f"{tag} app%"])["items"]) == 0  # like is case-sensitive
    assert len(listed(["name", "ilike", f"{tag} app%"])["items"]) == 3
    assert [item["uuid"] for item in listed(["url_prefix", "=", made[1]["url_prefix"]])["items"]] == [made[1]["uuid"]]
    assert len(listed(["uuid", "not in", [made[0]["uuid"]]])["items"]) == 2
    assert len(listed(["created_at", ">", made[0]["created_at"]])["items"]) == 2
    assert len(listed(["modified_by_user_uuid", "=", admin.user_uuid])["items"]) == 3
    assert len(listed(["owner_uuid", "=", "zzzzz-tpzed-000000000000000"])["items"]) == 3
    for bad, fragment in ((["secret", "=", 1], "cannot filter by 'secret'"),
                          (["name", "=~", "x"], "operator '=~'"),
                          (["is_trusted", ">", True], "operator '>'"),
                          (["url_prefix", "like", 5], "needs a string")):
        assert_error(call(server, "GET", BASE, admin, params={"filters": json.dumps([bad])}), 422, fragment)
