"""The shipped test tables hold over HTTP, not only in the engine.

For each shipped policy a real `authserver serve` runs with it; for every route of the app, every standard
column (token class and admin flag) and every target the route can have, a fresh token of that class calls
the route over HTTP against a real target object, and the status must match the table: allowed is 2xx;
denied is 403, or 404 where the caller may not even see the target (its existence is not revealed). A route
without a row in the table fails the test.
"""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
import requests

from authserver import POLICY_DIR
from authserver.policy.testing import load_test_table, table_path_for
from authserver.policy.variants import STANDARD_VARIANTS, Variant
from authserver.routes import API_PREFIX, build_route_table

from .support import LiveServer

SHIPPED_POLICIES = ("default.yaml", "arvados-2.7.yaml")
ROUTE_TABLE = build_route_table()
ROUTE_TARGETS = ROUTE_TABLE.method_targets()
PRIVILEGED = "users.update_privileged"  # decided inside users.update when is_admin/is_active/password change

# Cells the policy allows but the server's own rules answer differently, after the policy (SPEC §10 order).
SERVER_RULES = {
    ("api_client_authorizations.get", "system", "self"): (404, "the root token has no record"),
    ("api_client_authorizations.update", "system", "self"): (404, "the root token has no record"),
    ("api_client_authorizations.delete", "system", "self"): (404, "the root token has no record"),
    ("users.delete", "system", "self"): (422, "the system user cannot be deleted"),
    (PRIVILEGED, "system", "self"): (422, "the system user's is_active cannot be changed"),
}
_counter = itertools.count()


class Probe:
    """Builds one real request per (route, column, target): a fresh caller and a fresh target object."""

    def __init__(self, server: LiveServer):
        self.server = server
        self.actors = server.actors
        self.User = self.actors.storage.models.User
        self.session = requests.Session()

    def caller(self, variant: Variant):
        # Fresh every time: a call may revoke the token, delete or deactivate its user.
        return self.actors.token(variant.token_class, admin=variant.is_admin)

    def _user_row(self, uuid: str):
        return self.User.get(self.User.uuid == uuid)

    def token_target(self, caller, target: str) -> str:
        if target == "self":
            return caller.token_uuid
        if target == "own":
            return self.actors.token("trusted", user=self._user_row(caller.user_uuid)).token_uuid
        return self.actors.token("trusted").token_uuid

    def user_target(self, caller, target: str) -> str:
        return caller.user_uuid if target == "self" else self.actors.user().uuid

    def client_target(self) -> str:
        with self.actors.storage.write():
            row, _ = self.actors.clients.find_or_create(f"https://client{next(_counter)}.example.org/")
        return row.uuid

    def request(self, route, caller, target: str) -> tuple[str, str, dict, dict | None]:
        """(HTTP method, path, query parameters, JSON body) for this route and target."""
        base = f"{API_PREFIX}/{route.resource}"
        method_id = route.id
        unique = next(_counter)
        if route.resource == "api_client_authorizations":
            body_name, scopes = "api_client_authorization", ["GET /arvados/v1/users/current"]
            if route.method == "list":
                params = {"filters": json.dumps([["uuid", "=", caller.token_uuid]])} if target == "self" else {}
                return "GET", base, params, None
            if route.method == "create":
                fields = {"scopes": scopes}
                if target == "other":
                    fields["owner_uuid"] = self.actors.user().uuid
                return "POST", base, {}, {body_name: fields}
            if route.method == "current":
                return "GET", f"{base}/current", {}, None
            if route.method == "create_system_auth":
                return "POST", f"{base}/create_system_auth", {}, None
            path = f"{base}/{self.token_target(caller, target)}"
            return route.http_method, path, {}, ({body_name: {"scopes": scopes}} if route.method == "update" else None)
        if route.resource == "users":
            if route.method == "list":
                return "GET", base, {}, None
            if route.method == "create":
                return "POST", base, {}, {"user": {"email": f"created{unique}@example.org"}}
            if route.method in ("current", "system"):
                return "GET", f"{base}/{route.method}", {}, None
            path = f"{base}/{self.user_target(caller, target)}"
            if method_id == PRIVILEGED:
                return "PATCH", path, {}, {"user": {"is_active": False}}
            return route.http_method, path, {}, ({"user": {"first_name": f"Renamed{unique}"}}
                                                  if route.method == "update" else None)
        if route.resource == "api_clients":
            if route.method == "list":
                return "GET", base, {}, None
            if route.method == "create":
                return "POST", base, {}, {"api_client": {"url_prefix": f"https://new{unique}.example.org/"}}
            path = f"{base}/{self.client_target()}"
            return route.http_method, path, {}, ({"api_client": {"name": f"renamed{unique}"}}
                                                 if route.method == "update" else None)
        raise LookupError(f"no request builder for {method_id}: teach tests/test_policy_http.py how to call it")

    def call(self, route, variant: Variant, target: str) -> int:
        caller = self.caller(variant)
        verb, path, params, body = self.request(route, caller, target)
        response = self.session.request(verb, self.server.url(path), params=params, json=body,
                                        headers=caller.headers, timeout=10)
        return response.status_code


def _targets_reachable(route, variant: Variant) -> tuple[str, ...]:
    if route.id == "users.system":  # the system user is `self` only to the system token
        return ("self",) if variant.token_class == "system" else ("other",)
    return route.targets


def _expected_status(matrix, route, variant: Variant, target: str) -> tuple[int, str]:
    """The status the table implies, and why."""
    allowed = matrix[(route.id, variant)]
    if target in allowed:
        special = SERVER_RULES.get((route.id, variant.token_class, target))
        return special if special else (200, "allowed")
    if not allowed:
        return 403, "the method is closed to this column"
    item = "{uuid}" in route.path and target != "none"
    visible = matrix.get((f"{route.resource}.get", variant), frozenset())
    if item and (route.method == "get" or target not in visible):
        return 404, "denied, and the caller may not see the target"
    return 403, "denied for this target"


def _privileged_expected(matrix, variant: Variant, target: str) -> tuple[int, str]:
    """users.update_privileged is asked inside users.update: the update itself must be allowed first."""
    update_route = ROUTE_TABLE.route_for("users.update")
    status, why = _expected_status(matrix, update_route, variant, target)
    if status != 200:
        return status, f"users.update: {why}"
    if target in matrix[(PRIVILEGED, variant)]:
        return SERVER_RULES.get((PRIVILEGED, variant.token_class, target), (200, "allowed"))
    return 403, "users.update_privileged denies this target"


@pytest.fixture(scope="module", params=SHIPPED_POLICIES)
def served_policy(request, tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("policy-http"), policy=str(POLICY_DIR / request.param)).start()
    yield request.param, server
    server.stop()


def test_every_route_has_a_row_in_every_shipped_table():
    for name in SHIPPED_POLICIES:
        table = load_test_table(table_path_for(POLICY_DIR / name), ROUTE_TARGETS)
        missing = sorted({route.id for route in ROUTE_TABLE.routes} - table.methods)
        assert not missing, f"{table.path} has no row for {missing}"


def test_the_shipped_table_holds_over_http(served_policy):
    name, server = served_policy
    table = load_test_table(table_path_for(POLICY_DIR / name), ROUTE_TARGETS)
    matrix = table.matrix()
    probe = Probe(server)
    failures, calls = [], 0
    for route in ROUTE_TABLE.routes:  # PUT and PATCH of update are separate routes: both are called
        for variant in STANDARD_VARIANTS:
            if (route.id, variant) not in matrix:
                failures.append(f"{route.id} × {variant.label}: no cell in {table.path}")
                continue
            for target in _targets_reachable(route, variant):
                want, why = _expected_status(matrix, route, variant, target)
                got = probe.call(route, variant, target)
                calls += 1
                if not (got == want or (want == 200 and 200 <= got < 300)):
                    failures.append(f"{route.http_method} {route.id} × {variant.label} × {target}: "
                                    f"HTTP {got}, the table implies {want} ({why})")
    for action in ROUTE_TABLE.actions:  # decisions inside a route, reached through it
        assert action.id == PRIVILEGED, f"no HTTP probe for the policy action {action.id}"
        route = ROUTE_TABLE.route_for(PRIVILEGED.replace("update_privileged", "update"))
        for variant, target in itertools.product(STANDARD_VARIANTS, action.targets):
            want, why = _privileged_expected(matrix, variant, target)
            got = probe.call(dataclasses.replace(route, method="update_privileged"), variant, target)
            calls += 1
            if got != want:
                failures.append(f"{PRIVILEGED} × {variant.label} × {target}: HTTP {got}, the table implies "
                                f"{want} ({why})")
    assert calls > 200
    assert not failures, f"{name}: {len(failures)} of {calls} calls disagree with the table:\n" + "\n".join(failures)
