"""Calling a live server's API in tests, and checking SPEC §3's error body."""

from __future__ import annotations

import re

import requests


def call(server, method, path, actor=None, **kwargs):
    """One request to `server` (a support.LiveServer), as `actor` (a support.Actor) when given."""
    headers = kwargs.pop("headers", {})
    if actor is not None:
        headers = {**actor.headers, **headers}
    return requests.request(method, server.url(path), headers=headers, timeout=10, **kwargs)


def assert_error(response, status, *fragments):
    """`response` is the error body of SPEC §3 with this status, its messages containing every fragment."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"errors", "error_token"}
    assert re.match(r"^\d+\+[0-9a-f]{8}$", body["error_token"])
    request_id = response.headers["X-Request-Id"]
    assert all(message.endswith(f" ({request_id})") for message in body["errors"])
    text = " ".join(body["errors"])
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return body["errors"]
