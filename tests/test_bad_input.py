"""Bad input never reaches a 5xx, and a refused request writes nothing (SPEC §3, §10).

Over real HTTP against `authserver serve` (waitress), because several of these (chunked bodies, raw
invalid bytes, oversized declared lengths) are shaped by the HTTP server before the app sees them.
"""

from __future__ import annotations

import json
import socket

import pytest
import requests

from .support import LiveServer

MAX_BODY = 65536
TOKENS = "/arvados/v1/api_client_authorizations"
TABLES = ("api_client_authorizations", "api_clients", "users")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("bad-input"), api__max_body_bytes=MAX_BODY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(server):
    return server.actors.token("system")


def row_counts(server) -> dict[str, int]:
    return {table: server.actors.storage.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}


def send(server, method: str, path: str, actor, body: bytes | None = None, content_type: str | None = "application/json",
         **kwargs) -> requests.Response:
    """One request; asserts that it wrote nothing and that it is not a 5xx."""
    before = row_counts(server)
    headers = dict(actor.headers)
    if content_type:
        headers["Content-Type"] = content_type
    headers.update(kwargs.pop("headers", {}))
    response = requests.request(method, server.url(path), data=body, headers=headers, timeout=30, **kwargs)
    assert response.status_code < 500, response.text
    assert row_counts(server) == before, f"{method} {path} wrote something and answered {response.status_code}"
    return response


def assert_error(response: requests.Response, status: int, *fragments: str) -> list[str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors", "error_token"}
    request_id = response.headers["X-Request-Id"]
    assert all(message.endswith(f"({request_id})") for message in body["errors"])
    text = " ".join(body["errors"])
    for fragment in fragments:
        assert fragment in text, text
    return body["errors"]


# --- 400: a body that cannot be parsed ------------------------------------------------------------------

MALFORMED = {
    "truncated": b'{"api_client_authorization": {"scopes": ["all"]',
    "not JSON at all": b"scopes=all",
    "invalid UTF-8": b'{"api_client_authorization": {"scopes": ["\xff\xfe"]}}',
    "NaN": b'{"api_client_authorization": {"expires_at": NaN}}',
    "Infinity": b'{"api_client_authorization": {"expires_at": Infinity}}',
    "-Infinity": b'{"api_client_authorization": {"expires_at": -Infinity}}',
    "duplicate keys": b'{"api_client_authorization": {"scopes": ["all"], "scopes": []}}',
    "duplicate wrapper": b'{"api_client_authorization": {}, "api_client_authorization": {}}',
    "raw control character in a string": b'{"api_client_authorization": {"scopes": ["GET /\x01"]}}',
    "an integer of 5000 digits": b'{"api_client_authorization": {"expires_at": ' + b"9" * 5000 + b"}}",
    "60000 nested arrays": b"[" * 60000,
    "10000 nested objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "deep inside the wrapper": b'{"api_client_authorization": {"scopes": ' + b"[" * 30000 + b"]" * 30000 + b"}}",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_json_is_400(server, root, name):
    response = send(server, "POST", TOKENS, root, MALFORMED[name])
    assert_error(response, 400, "Malformed JSON body")


@pytest.mark.parametrize("name", ["duplicate keys", "NaN", "10000 nested objects"])
def test_malformed_json_on_update_is_400(server, root, name):
    target = server.actors.token("trusted")
    response = send(server, "PUT", f"{TOKENS}/{target.token_uuid}", root, MALFORMED[name])
    assert_error(response, 400, "Malformed JSON body")


def test_malformed_form_bodies_are_400(server, root):
    invalid_utf8 = send(server, "POST", TOKENS, root, b"api_client_authorization=%FF%FE",
                        content_type="application/x-www-form-urlencoded")
    assert_error(invalid_utf8, 400)
    bad_json = send(server, "POST", TOKENS, root, b"api_client_authorization=%7B%22scopes%22%3A",
                    content_type="application/x-www-form-urlencoded")
    assert_error(bad_json, 400, "Malformed JSON in api_client_authorization")


# --- 413: over api.max_body_bytes, before parsing --------------------------------------------------------


def test_declared_length_over_the_limit_is_413_before_parsing(server, root):
    response = send(server, "POST", TOKENS, root, b"{" * (MAX_BODY + 1))  # also malformed: 413 wins
    assert_error(response, 413, f"the limit is {MAX_BODY} bytes")


def test_chunked_body_over_the_limit_is_413(server, root):
    def chunks(total: int):
        sent = 0
        while sent < total:
            piece = min(8192, total - sent)
            sent += piece
            yield b" " * piece

    response = send(server, "POST", TOKENS, root, chunks(MAX_BODY + 100))
    assert_error(response, 413, f"the limit is {MAX_BODY} bytes")
    # Far over the limit, waitress's own backstop (2 x max_body_bytes) answers 413 before the app.
    far = send(server, "POST", TOKENS, root, chunks(MAX_BODY * 3))
    assert far.status_code == 413


def test_chunked_body_within_the_limit_is_read(server, root):
    body = json.dumps({"api_client_authorization": {"scopes": ["all"]}}).encode()
    before = row_counts(server)["api_client_authorizations"]
    response = requests.post(server.url(TOKENS), data=iter([body[:10], body[10:]]),
                             headers={**root.headers, "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 200, response.text
    assert row_counts(server)["api_client_authorizations"] == before + 1


# --- 415: a body of another type ---------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x", None])
def test_other_content_types_are_415(server, root, content_type):
    body = json.dumps({"api_client_authorization": {"scopes": ["all"]}}).encode()
    response = send(server, "POST", TOKENS, root, body, content_type=content_type)
    assert_error(response, 415, "Unsupported content type")


# --- 422: parsed, but not a valid payload -------------------------------------------------------------------

INVALID = {
    "NUL in a scope": ({"scopes": ["GET /arvados/v1/\u0000"]}, ["api_client_authorization.scopes[0]"]),
    "a control character in a scope": ({"scopes": ["GET /a\u0007b"]}, ["api_client_authorization.scopes[0]"]),
    "a scope that is not a string": ({"scopes": [1]}, ["api_client_authorization.scopes[0]"]),
    "scopes not a list": ({"scopes": "all"}, ["api_client_authorization.scopes"]),
    "a huge number as a date": ({"expires_at": 1e308}, ["api_client_authorization.expires_at"]),
    "an unknown attribute": ({"colour": "red"}, ["api_client_authorization.colour: unknown attribute"]),
    "a client-chosen secret": ({"api_token": "x" * 50}, ["api_client_authorization.api_token"]),
    "two problems": ({"scopes": [1], "expires_at": "soon"},
                     ["api_client_authorization.scopes[0]", "api_client_authorization.expires_at"]),
    "too many scopes": ({"scopes": ["all"] * 101}, ["api_client_authorization.scopes"]),
    "an over-long scope": ({"scopes": ["GET /" + "a" * 2000]}, ["api_client_authorization.scopes[0]"]),
}


@pytest.mark.parametrize("name", INVALID)
def test_invalid_payloads_are_422_naming_each_path(server, root, name):
    payload, paths = INVALID[name]
    response = send(server, "POST", TOKENS, root, json.dumps({"api_client_authorization": payload}).encode())
    messages = assert_error(response, 422, *paths)
    assert len(messages) >= len(paths)


def test_a_body_without_its_wrapper_is_422(server, root):
    unwrapped = send(server, "POST", TOKENS, root, json.dumps({"scopes": ["all"]}).encode())
    assert_error(unwrapped, 422, "api_client_authorization")
    not_an_object = send(server, "POST", TOKENS, root, b"[1, 2]")
    assert_error(not_an_object, 422)


def test_user_text_with_control_characters_is_422(server, root):
    document = requests.get(server.url("/discovery/v1/apis/arvados/v1/rest"), timeout=5).json()
    if "users" not in document["resources"]:
        pytest.skip("no users resource in this build")
    for name in ("first_name", "last_name"):
        payload = {"user": {"email": "ctl@example.org", name: "Ada\u0000"}}
        response = send(server, "POST", "/arvados/v1/users", root, json.dumps(payload).encode())
        assert_error(response, 422, f"user.{name}")


# --- query parameters -----------------------------------------------------------------------------------------

BAD_PARAMETERS = {
    "limit negative": {"limit": "-1"},
    "limit not a number": {"limit": "ten"},
    "limit of 5000 digits": {"limit": "9" * 5000},
    "limit empty": {"limit": ""},
    "limit with a sign": {"limit": "+5"},
    "limit with a space": {"limit": " 5"},
    "limit with an underscore": {"limit": "5_0"},
    "limit in Arabic-Indic digits": {"limit": "\u0665"},
    "count empty": {"count": ""},
    "offset negative": {"offset": "-5"},
    "count unknown": {"count": "maybe"},
    "filters not JSON": {"filters": "[[uuid"},
    "filters with NaN": {"filters": '[["uuid", "=", NaN]]'},
    "filters nested 20000 deep": {"filters": "[" * 20000 + "]" * 20000},
    "filters on an unknown attribute": {"filters": '[["colour", "=", "red"]]'},
    "where with duplicate keys": {"where": '{"uuid": "a", "uuid": "b"}'},
    "order with a bad direction": {"order": '["created_at sideways"]'},
    "select an unknown attribute": {"select": '["colour"]'},
    "invalid UTF-8": {"filters": b"\xff\xfe".decode("latin-1")},
    "NUL in a filter operand": {"filters": '[["uuid", "=", "zzzzz\\u0000"]]'},
    "a control character in a where value": {"where": '{"uuid": "a\\u001bb"}'},
    "a control character inside an operand list": {"filters": '[["scopes", "=", ["all\\u0007"]]]'},
    "an object as an operand": {"filters": '[["uuid", "=", {"a": 1}]]'},
    "51 filters": {"filters": json.dumps([["uuid", "=", "x"]] * 51)},
    "51 conditions in filters and where": {"filters": json.dumps([["uuid", "=", "x"]] * 50), "where": '{"uuid": "x"}'},
    "an operand over 4096 characters": {"filters": json.dumps([["uuid", "=", "x" * 5000]])},
    "order with a comma list and a bad term": {"order": '"created_at desc, 5"'},
    "select null": {"select": "null"},
    "filters null": {"filters": "null"},
}


@pytest.mark.parametrize("name", BAD_PARAMETERS)
def test_bad_list_parameters_are_422(server, root, name):
    response = send(server, "GET", TOKENS, root, params=BAD_PARAMETERS[name], content_type=None)
    for message in assert_error(response, 422):
        assert len(message) < 400, message  # a long offending value is not echoed back


def test_list_parameters_of_the_documented_shape_are_accepted(server, root):
    for params in ({"order": '"created_at desc, uuid"'}, {"where": '{"uuid": "x"}'},
                   {"filters": json.dumps([["uuid", "=", "x"]] * 50)}, {"count": "none", "limit": "0"}):
        response = send(server, "GET", TOKENS, root, params=params, content_type=None)
        assert response.status_code == 200, (params, response.text)


def test_bad_scopes_parameter_of_create_system_auth_is_422(server, root):
    for value in ('["GET /\\u0000"]', '"all"', "[" * 5000):
        response = send(server, "POST", f"{TOKENS}/create_system_auth", root, params={"scopes": value},
                        content_type=None)
        assert_error(response, 422, "scopes")


# --- odd requests around the body and headers -------------------------------------------------------------------


def test_odd_paths_and_headers_are_4xx(server, root):
    assert_error(send(server, "GET", f"{TOKENS}/%00", root, content_type=None), 404)
    assert_error(send(server, "GET", f"{TOKENS}/{'a' * 5000}", root, content_type=None), 404)
    assert_error(send(server, "GET", f"{TOKENS}/current", root, content_type=None,
                      headers={"Authorization": "Bearer " + "x" * 20000}), 401)
    odd_id = send(server, "GET", f"{TOKENS}/current", root, content_type=None,
                  headers={"X-Request-Id": "a\tb"})
    assert odd_id.status_code == 200
    assert odd_id.headers["X-Request-Id"].startswith("req-")


def raw_request(server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(data)
        chunks = []
        while True:
            piece = connection.recv(65536)
            if not piece:
                break
            chunks.append(piece)
    return b"".join(chunks)


def test_raw_invalid_bytes_and_broken_framing_are_4xx(server, root):
    auth = f"Authorization: Bearer {root.token}\r\n".encode()
    before = row_counts(server)
    answers = [
        raw_request(server, b"GET /arvados/v1/api_client_authorizations/\xff\xfe HTTP/1.1\r\nHost: x\r\n" + auth
                    + b"Connection: close\r\n\r\n"),
        raw_request(server, b"POST " + TOKENS.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth
                    + b"Content-Type: application/json\r\nContent-Length: -5\r\nConnection: close\r\n\r\n{}"),
        raw_request(server, b"POST " + TOKENS.encode() + b" HTTP/1.1\r\nHost: x\r\n" + auth
                    + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    + b"zz\r\n{}\r\n0\r\n\r\n"),
    ]
    for answer in answers:
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:300]
    assert row_counts(server) == before
