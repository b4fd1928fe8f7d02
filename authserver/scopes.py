"""Scopes (SPEC §6): which requests a token may make at all, before the policy is asked.

A scope is `all` or `<METHOD> <path>`; a path ending in `/` is a prefix. HEAD is in scope where GET is,
PUT and PATCH are one method, and `GET /arvados/v1/api_client_authorizations/current` is always in scope.
"""

from __future__ import annotations

import re

ALWAYS_IN_SCOPE = ("GET", "/arvados/v1/api_client_authorizations/current")
SCOPE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
SCOPE_RE = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE) (/[\x21-\x7e]*)$")
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 1024


def _canonical_method(method: str) -> str:
    if method == "HEAD":
        return "GET"
    if method == "PATCH":
        return "PUT"
    return method


def normalize_path(path: str) -> str:
    """The request path as scopes see it: without the query, one trailing `/` removed."""
    if len(path) > 1 and path.endswith("/"):
        return path[:-1]
    return path


def scope_problem(scope: object) -> str | None:
    """Why a scope string is invalid, or None."""
    if not isinstance(scope, str):
        return "must be a string"
    if scope == "all":
        return None
    if len(scope) > MAX_SCOPE_LENGTH:
        return f"is longer than {MAX_SCOPE_LENGTH} characters"
    if not SCOPE_RE.match(scope):
        return "must be \"all\" or \"<METHOD> /<path>\" with METHOD one of " + ", ".join(SCOPE_METHODS)
    return None


def _scope_covers(scope: str, method: str, path: str) -> bool:
    if scope == "all":
        return True
    scope_method, _, scope_path = scope.partition(" ")
    if _canonical_method(scope_method) != method:
        return False
    if scope_path.endswith("/"):
        return path.startswith(scope_path)
    return path == scope_path


def in_scope(scopes: list[str], http_method: str, path: str) -> bool:
    if "all" in scopes:  # most tokens: nothing to normalise or match
        return True
    method = _canonical_method(http_method)
    path = normalize_path(path)
    if (method, path) == ALWAYS_IN_SCOPE:
        return True
    return any(_scope_covers(scope, method, path) for scope in scopes)


def scopes_within(requested: list[str], granted: list[str]) -> bool:
    """True when every request the `requested` scopes allow is also allowed by `granted`."""
    if "all" in granted:
        return True
    for scope in requested:
        if scope == "all":
            return False
        method, _, path = scope.partition(" ")
        method = _canonical_method(method)
        if path.endswith("/"):
            # A prefix scope is covered only by an equal or shorter prefix of the same method.
            if not any(
                _canonical_method(g.partition(" ")[0]) == method
                and g.partition(" ")[2].endswith("/")
                and path.startswith(g.partition(" ")[2])
                for g in granted
            ):
                return False
        elif not any(_scope_covers(g, method, path) for g in granted):
            return False
    return True
