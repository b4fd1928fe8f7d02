"""Wire format (SPEC §3): error body, request ids, CORS, overrides, body limits, content types."""

from __future__ import annotations

import re

import pytest

BASE = "/arvados/v1/api_client_authorizations"
ERROR_TOKEN = re.compile(r"^\d+\+[0-9a-f]{8}$")


def test_error_body_has_message_with_request_id_and_error_token(client):
    response = client.simulate_get(BASE, headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 401
    assert response.json["errors"] == ["Not logged in (abc-123)"]
    assert ERROR_TOKEN.match(response.json["error_token"])
    assert response.headers["X-Request-Id"] == "abc-123"


@pytest.mark.parametrize("offered", [None, "", "x" * 1025, "bad\u00e9id"])
def test_request_id_is_generated_when_missing_or_not_sane(client, offered):
    headers = {"X-Request-Id": offered} if offered is not None else {}
    response = client.simulate_get("/nowhere", headers=headers)
    assert re.match(r"^req-[0-9a-z]{20}$", response.headers["X-Request-Id"])


def test_request_id_of_1024_printable_characters_is_kept(client):
    offered = "r" * 1024
    assert client.simulate_get("/nowhere", headers={"X-Request-Id": offered}).headers["X-Request-Id"] == offered


def test_unknown_route_is_404_json_even_without_a_token(client):
    response = client.simulate_get("/arvados/v1/nonsense")
    assert response.status_code == 404
    assert response.json["errors"][0].startswith("Path not found (")


def test_cors_on_api_paths_and_options_is_an_empty_200(client):
    response = client.simulate_options(BASE)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD, PUT, PATCH, POST, DELETE"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert client.simulate_get(BASE).headers["Access-Control-Allow-Origin"] == "*"


def test_no_cors_outside_the_api(client):
    assert "Access-Control-Allow-Origin" not in client.simulate_get("/nowhere").headers


@pytest.mark.parametrize("source", ["query", "oauth_query", "bearer", "oauth2", "form"])
def test_every_token_source_works(client, actors, source):
    actor = actors.token("trusted")
    url = f"{BASE}/current"
    if source == "query":
        response = client.simulate_get(url, params={"api_token": actor.token})
    elif source == "oauth_query":
        response = client.simulate_get(url, params={"oauth_token": actor.token})
    elif source == "bearer":
        response = client.simulate_get(url, headers={"Authorization": f"Bearer {actor.token}"})
    elif source == "oauth2":
        response = client.simulate_get(url, headers={"Authorization": f"OAuth2 {actor.secret}"})
    else:
        response = client.simulate_post(
            url, headers={"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"},
            body=f"api_token={actor.token}",
        )
    assert response.status_code == 200, response.json
    assert response.json["uuid"] == actor.token_uuid


def test_api_token_parameter_wins_over_the_header(client, actors):
    first, second = actors.token("trusted"), actors.token("trusted")
    response = client.simulate_get(f"{BASE}/current", params={"api_token": first.token}, headers=second.headers)
    assert response.json["uuid"] == first.token_uuid


def test_method_override_turns_a_form_post_into_the_get(client, actors):
    actor = actors.token("trusted")
    response = client.simulate_post(
        BASE,
        headers={**actor.headers, "X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"},
        body='limit=1&filters=%5B%5B%22uuid%22%2C%22%3D%22%2C%22' + actor.token_uuid + '%22%5D%5D',
    )
    assert response.status_code == 200
    assert [item["uuid"] for item in response.json["items"]] == [actor.token_uuid]
    assert response.json["limit"] == 1


def test_form_encoded_create_with_the_object_as_json(client, actors):
    actor = actors.token("trusted")
    response = client.simulate_post(
        BASE, headers={**actor.headers, "Content-Type": "application/x-www-form-urlencoded"},
        body='api_client_authorization=%7B%22scopes%22%3A%5B%22GET+%2Fx%22%5D%7D',
    )
    assert response.status_code == 200, response.json
    assert response.json["scopes"] == ["GET /x"]


def count_tokens(actors):
    return actors.storage.models.Token.select().count()


@pytest.mark.parametrize(
    "headers, payload, status",
    [
        ({"Content-Type": "application/json"}, b'{"api_client_authorization": {', 400),
        ({"Content-Type": "application/json"}, b'{"api_client_authorization": {"scopes": NaN}}', 400),
        ({"Content-Type": "application/json"}, b'{"a": 1, "a": 2}', 400),
        ({"Content-Type": "application/json"}, b"\xff\xfe", 400),
        ({"Content-Type": "application/json"}, b"[" * 100000 + b"]" * 100000, 400),
        ({"Content-Type": "text/plain"}, b"hello", 415),
        ({"Content-Type": "application/json"}, b'{"api_client_authorization": {"scopes": 5}}', 422),
        ({"Content-Type": "application/json"}, b'{"scopes": ["all"]}', 422),
        ({"Content-Type": "application/json"}, b'{"api_client_authorization": null}', 422),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b'api_client_authorization=null', 422),
        ({"Content-Type": "application/json"}, b'{"api_client_authorization": {"scopes": ["all"]}}' + b" " * 2_000_000, 413),
    ],
)
def test_bad_bodies_get_their_status_and_write_nothing(client, actors, headers, payload, status):
    actor = actors.token("trusted")
    before = count_tokens(actors)
    response = client.simulate_post(BASE, headers={**actor.headers, **headers}, body=payload)
    assert response.status_code == status, response.text
    assert response.json["errors"]
    assert count_tokens(actors) == before


def test_put_and_patch_both_update(client, actors):
    actor = actors.token("trusted")
    for method in ("PUT", "PATCH"):
        response = client.simulate_request(method, f"{BASE}/{actor.token_uuid}", headers=actor.headers,
                                           json={"api_client_authorization": {"scopes": ["all"]}})
        assert response.status_code == 200, method


def test_unsupported_method_on_a_known_path_is_json(client, actors):
    response = client.simulate_request("PUT", BASE, headers=actors.token("trusted").headers)
    assert response.status_code == 405
    assert response.json["errors"]
