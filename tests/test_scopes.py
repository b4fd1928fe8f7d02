"""Scopes exactly as SPEC §6."""

import pytest

from authserver.scopes import in_scope, scope_problem, scopes_within

USERS = "/arvados/v1/users"


@pytest.mark.parametrize(
    "scopes, method, path, expected",
    [
        (["all"], "DELETE", "/anything", True),
        ([f"GET {USERS}"], "GET", USERS, True),
        ([f"GET {USERS}"], "GET", USERS + "/", True),  # one trailing slash removed from the request
        ([f"GET {USERS}"], "GET", USERS + "/x", False),  # without a trailing slash the scope is exact
        ([f"GET {USERS}/"], "GET", USERS + "/x/y", True),  # a scope ending in / is a prefix
        ([f"GET {USERS}/"], "GET", USERS, False),
        ([f"GET {USERS}"], "HEAD", USERS, True),  # HEAD is in scope where GET is
        ([f"HEAD {USERS}"], "GET", USERS, True),
        ([f"PUT {USERS}/x"], "PATCH", USERS + "/x", True),  # PUT and PATCH are one method
        ([f"PATCH {USERS}/x"], "PUT", USERS + "/x", True),
        ([f"GET {USERS}"], "POST", USERS, False),
        ([], "GET", USERS, False),  # [] allows nothing else
        ([], "GET", "/arvados/v1/api_client_authorizations/current", True),  # always in scope
        ([], "GET", "/arvados/v1/api_client_authorizations/current/", True),
        ([], "POST", "/arvados/v1/api_client_authorizations/current", False),
    ],
)
def test_in_scope(scopes, method, path, expected):
    assert in_scope(scopes, method, path) is expected


@pytest.mark.parametrize("scope", ["all", "GET /", "DELETE /arvados/v1/x/", "PATCH /a?b"])
def test_valid_scopes(scope):
    assert scope_problem(scope) is None


@pytest.mark.parametrize("scope", ["", "ALL", "GET", "GET x", "FETCH /x", "get /x", "GET /a b", 5, None, "GET /\x00"])
def test_invalid_scopes(scope):
    assert scope_problem(scope)


@pytest.mark.parametrize(
    "requested, granted, expected",
    [
        (["GET /a"], ["all"], True),
        (["all"], ["GET /a"], False),
        (["GET /a/b"], ["GET /a/"], True),
        (["GET /a/"], ["GET /a/b"], False),
        (["GET /a/b/"], ["GET /a/"], True),
        (["HEAD /a"], ["GET /a"], True),
        (["PATCH /a"], ["PUT /a"], True),
        (["POST /a"], ["GET /a"], False),
        ([], ["GET /a"], True),
        (["GET /a", "GET /b"], ["GET /a"], False),
    ],
)
def test_scopes_within(requested, granted, expected):
    assert scopes_within(requested, granted) is expected
