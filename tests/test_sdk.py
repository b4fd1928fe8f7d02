"""The official Arvados Python SDK (`arvados-python-client`) drives a live server through its discovery document.

The client is built exactly as the SDK builds it, from the discovery URL. Every call goes through
`Calls`, which records the `methodId` of each request the SDK sent; the test ends by asserting that every
method the discovery document lists was called at least once, so a new route without an exercise here fails.
"""

from __future__ import annotations

import os

import arvados
import pytest
import requests

from authserver.apidocs.discovery import DISCOVERY_PATH
from authserver.ids import USER_TYPE, fixed_uuid

SCOPED = ["GET /arvados/v1/api_client_authorizations/current", "GET /arvados/v1/users/current"]


def sdk_client(server, token: str):
    return arvados.api.api_client(
        "v1", server.base_url + "/discovery/v1/apis/{api}/{apiVersion}/rest", token, cache=False, num_retries=0
    )


class Calls:
    """Executes SDK requests and remembers which discovery methods were called."""

    def __init__(self):
        self.called: set[str] = set()

    def ok(self, request):
        self.called.add(request.methodId)
        return request.execute()

    def status(self, request) -> int:
        """The HTTP status of a request expected to fail."""
        self.called.add(request.methodId)
        with pytest.raises(arvados.errors.ApiError) as failure:
            request.execute()
        return failure.value.resp.status


@pytest.fixture(scope="module")
def document(live_server) -> dict:
    return requests.get(live_server.url(DISCOVERY_PATH), timeout=5).json()


def document_methods(document: dict) -> set[str]:
    return {method["id"] for resource in document["resources"].values() for method in resource["methods"].values()}


# --- exercises, each naming the methods it calls ----------------------------------------------------------


def tokens_read(calls: Calls, server, user, admin) -> None:
    api = sdk_client(server, user.token)
    tokens = api.api_client_authorizations()
    current = calls.ok(tokens.current())
    assert current["uuid"] == user.token_uuid
    assert current["api_token"] == user.secret
    mine = calls.ok(tokens.list(filters=[["uuid", "=", user.token_uuid]]))
    assert [item["uuid"] for item in mine["items"]] == [user.token_uuid]
    assert mine["items"][0]["api_token"] is None
    by_where = calls.ok(tokens.list(where={"uuid": user.token_uuid}, select=["uuid", "scopes"], order=["created_at desc"]))
    assert by_where["items"] == [{"kind": "arvados#apiClientAuthorization", "uuid": user.token_uuid, "scopes": ["all"]}]
    # A URL over 2 KiB makes the SDK send POST + X-HTTP-Method-Override: GET with a form body.
    long_request = tokens.list(filters=[["uuid", "=", user.token_uuid]] * 45, limit=5)
    assert len(long_request.uri) > 2048  # googleapiclient's MAX_URI_LENGTH
    long = calls.ok(long_request)
    assert [item["uuid"] for item in long["items"]] == [user.token_uuid]
    assert long["limit"] == 5
    fetched = calls.ok(tokens.get(uuid=user.token_uuid))
    assert fetched["uuid"] == user.token_uuid and fetched["api_token"] is None


def scoped_token_lifecycle(calls: Calls, server, user, admin) -> None:
    tokens = sdk_client(server, user.token).api_client_authorizations()
    created = calls.ok(tokens.create(body={"api_client_authorization": {"scopes": SCOPED}}))
    assert created["owner_uuid"] == user.user_uuid
    assert sorted(created["scopes"]) == sorted(SCOPED)
    scoped = sdk_client(server, f"v2/{created['uuid']}/{created['api_token']}")
    assert calls.ok(scoped.api_client_authorizations().current())["uuid"] == created["uuid"]
    assert calls.status(scoped.api_client_authorizations().list()) == 403  # out of scope
    updated = calls.ok(tokens.update(uuid=created["uuid"], body={"api_client_authorization": {"scopes": SCOPED[:1]}}))
    assert updated["scopes"] == SCOPED[:1]
    deleted = calls.ok(tokens.delete(uuid=created["uuid"]))
    assert deleted["uuid"] == created["uuid"]
    assert calls.status(scoped.api_client_authorizations().current()) == 401
    assert calls.status(tokens.get(uuid=created["uuid"])) == 404


def system_auth(calls: Calls, server, user, admin) -> None:
    api = sdk_client(server, admin.token)
    made = calls.ok(api.api_client_authorizations().create_system_auth(scopes=SCOPED))
    assert made["owner_uuid"] == fixed_uuid(server.config.cluster_id, USER_TYPE)
    assert sorted(made["scopes"]) == sorted(SCOPED)
    refused = sdk_client(server, user.token).api_client_authorizations().create_system_auth()
    assert calls.status(refused) == 403  # trusted, not admin


def users_lifecycle(calls: Calls, server, user, admin) -> None:
    users = sdk_client(server, admin.token).users()
    assert calls.ok(users.current())["uuid"] == admin.user_uuid
    assert calls.ok(users.system())["uuid"] == fixed_uuid(server.config.cluster_id, USER_TYPE)
    email = f"sdk-{os.getpid()}@example.org"
    created = calls.ok(users.create(body={"user": {"email": email, "first_name": "Ada"}}))
    assert created["email"] == email and "password" not in created
    assert calls.ok(users.get(uuid=created["uuid"]))["first_name"] == "Ada"
    listed = calls.ok(users.list(filters=[["email", "=", email]]))
    assert [item["uuid"] for item in listed["items"]] == [created["uuid"]]
    updated = calls.ok(users.update(uuid=created["uuid"], body={"user": {"last_name": "Lovelace"}}))
    assert updated["last_name"] == "Lovelace"
    assert calls.ok(users.delete(uuid=created["uuid"]))["uuid"] == created["uuid"]
    assert calls.status(users.get(uuid=created["uuid"])) == 404
    # Any caller reads its own user.
    own = sdk_client(server, user.token).users()
    assert calls.ok(own.current())["uuid"] == user.user_uuid


def api_clients_lifecycle(calls: Calls, server, user, admin) -> None:
    clients = sdk_client(server, admin.token).api_clients()
    prefix = f"https://sdk-{os.getpid()}.example.org/"
    created = calls.ok(clients.create(body={"api_client": {"url_prefix": prefix, "name": "SDK app"}}))
    assert created["url_prefix"] == prefix and created["is_trusted"] is False
    assert calls.ok(clients.get(uuid=created["uuid"]))["name"] == "SDK app"
    listed = calls.ok(clients.list(filters=[["url_prefix", "=", prefix]]))
    assert [item["uuid"] for item in listed["items"]] == [created["uuid"]]
    renamed = calls.ok(clients.update(uuid=created["uuid"], body={"api_client": {"name": "Renamed"}}))
    assert renamed["name"] == "Renamed"
    assert calls.ok(clients.delete(uuid=created["uuid"]))["uuid"] == created["uuid"]
    assert calls.status(clients.get(uuid=created["uuid"])) == 404
    assert calls.status(sdk_client(server, user.token).api_clients().list()) == 403  # not admin


EXERCISES = {
    tokens_read: {"arvados.api_client_authorizations.current", "arvados.api_client_authorizations.list",
                  "arvados.api_client_authorizations.get"},
    scoped_token_lifecycle: {"arvados.api_client_authorizations.create", "arvados.api_client_authorizations.update",
                             "arvados.api_client_authorizations.delete"},
    system_auth: {"arvados.api_client_authorizations.create_system_auth"},
    users_lifecycle: {f"arvados.users.{m}" for m in ("current", "system", "create", "get", "list", "update", "delete")},
    api_clients_lifecycle: {f"arvados.api_clients.{m}" for m in ("create", "get", "list", "update", "delete")},
}


def test_the_sdk_builds_its_client_from_the_discovery_document(live_server, document):
    actor = live_server.actors.token("trusted")
    api = sdk_client(live_server, actor.token)
    for resource, body in document["resources"].items():
        resource_client = getattr(api, resource)()
        for method in body["methods"]:
            assert callable(getattr(resource_client, method)), f"{resource}.{method}"


def test_the_sdk_drives_every_method_in_the_discovery_document(live_server, document):
    listed = document_methods(document)
    calls = Calls()
    user = live_server.actors.token("trusted")
    admin = live_server.actors.token("trusted", admin=True)
    for exercise, methods in EXERCISES.items():
        if methods <= listed:  # resources still being built may not be in the document yet
            exercise(calls, live_server, user, admin)
    not_exercised = listed - calls.called
    assert not not_exercised, f"methods in the discovery document that no SDK exercise calls: {sorted(not_exercised)}"
