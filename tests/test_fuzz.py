"""Schemathesis fuzzes the live server from its own `/openapi.json`, authenticated with trusted tokens.

Every operation of the document gets generated requests, valid and invalid (bodies, JSON-encoded query
parameters, path uuids). The checks: never a 5xx, schema-violating data refused, only documented
statuses, and every response (errors included) matches its documented schema, content type and headers.
Two callers: a trusted user (mostly refused: scopes, policy, visibility) and a trusted admin (whose
requests reach payload validation and the database writes of every resource). Bounded by `FUZZ_EXAMPLES`
per operation, mode and caller (about a minute on two busy cores); raise it with the
AUTHSERVER_FUZZ_EXAMPLES variable for a longer run. Under CI (CI=true) Hypothesis's "ci" profile
derandomizes, so CI runs the same examples every time; elsewhere each run explores new ones.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authserver.apidocs.resources import OPENAPI_PATH
from authserver.routes import build_route_table

from .support import LiveServer

FUZZ_EXAMPLES = int(os.environ.get("AUTHSERVER_FUZZ_EXAMPLES", "15"))


def _only_unknown_query_parameters(case) -> bool:
    """The case's only breaches are extra query parameters (ignored by design, SPEC §3: `alt=json`) and a
    dropped Authorization header, which this test puts back on every request."""
    mutations = getattr(case.meta.phase.data, "mutations", ()) if case.meta else ()
    others = [m for m in mutations if m.parameter_location != ParameterLocation.HEADER]
    return bool(others) and all(
        m.parameter_location == ParameterLocation.QUERY and "additionalProperties" in m.keywords for m in others
    )


def schema_violations_rejected(ctx, response, case):
    """Data that breaks the schema is refused: schemathesis's check, with the HTTP server's own 431 (a query
    string over its 256 KiB limit, before the app sees it) counted as a refusal too."""
    if response.status_code == 431 or _only_unknown_query_parameters(case):
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    schema_violations_rejected,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fuzz_callers(fuzz_server) -> dict:
    return {"user": fuzz_server.actors.token("trusted"), "admin": fuzz_server.actors.token("trusted", admin=True)}


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_url(fuzz_server.url(OPENAPI_PATH))


OPERATIONS = [(route.template, route.http_method) for route in build_route_table().routes]


@pytest.mark.parametrize("caller", ["user", "admin"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize(("path", "verb"), OPERATIONS, ids=[f"{verb} {path}" for path, verb in OPERATIONS])
def test_no_crash_and_every_response_as_documented(api_schema, fuzz_callers, path, verb, mode, caller):
    operation = api_schema[path][verb]
    headers = fuzz_callers[caller].headers

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    fuzz()


def test_the_fuzzer_left_the_server_healthy(fuzz_server, fuzz_callers):
    """Runs after the fuzzing (file order): both callers still work and the server logged no internal error."""
    import requests

    for caller in fuzz_callers.values():
        response = requests.get(fuzz_server.url("/arvados/v1/api_client_authorizations/current"),
                                headers=caller.headers, timeout=5)
        assert response.status_code == 200
    assert "internal error" not in fuzz_server.log_text()
    assert "Traceback" not in fuzz_server.log_text()
