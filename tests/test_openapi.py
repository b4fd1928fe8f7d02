"""The OpenAPI 3.1 document: the same routes and schemas as the discovery document and the validator."""

from __future__ import annotations

import jsonschema
import pytest
import requests
from falcon import testing
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource

from authserver.apidocs.named import ref_pointer
from authserver.apidocs.openapi import COMPONENT_PREFIX
from authserver.apidocs.resources import OPENAPI_PATH
from authserver.app import create_app

from .support import make_config


@pytest.fixture
def document(client) -> dict:
    response = client.simulate_get(OPENAPI_PATH, host="api.example.test")
    assert response.status_code == 200, response.text
    return response.json


def _resolve(document: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for step in ref[2:].split("/"):
        step = step.replace("~1", "/").replace("~0", "~")
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node


def _refs(node):
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                yield item["$ref"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def test_a_valid_openapi_3_1_document(document):
    validate_openapi(document)  # raises on any violation of the OpenAPI 3.1 specification's schema


def test_public_and_servers_from_the_request(client, document):
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://api.example.test"}]
    bad_token = client.simulate_get(OPENAPI_PATH, host="api.example.test", headers={"Authorization": "Bearer x"})
    assert bad_token.status_code == 200
    assert bad_token.json == document


def test_servers_from_external_url(tmp_path):
    app = create_app(make_config(tmp_path, external_url="https://auth.example.org"))
    try:
        document = testing.TestClient(app).simulate_get(OPENAPI_PATH).json
        assert document["servers"] == [{"url": "https://auth.example.org"}]
    finally:
        app.services.close()


def test_every_route_is_an_operation(app, document):
    operation_ids = []
    for route in app.services.routes.routes:
        operation = document["paths"][route.template][route.http_method.lower()]
        operation_ids.append(operation["operationId"])
        assert operation["operationId"].startswith(route.id)
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": COMPONENT_PREFIX + route.response
        }
        assert {p["name"] for p in operation["parameters"]} == {p.name for p in route.parameters}
        assert ("requestBody" in operation) == (route.request is not None)
        if route.needs_token:
            assert operation["security"] == [{"bearerToken": []}]
            assert "401" in operation["responses"]
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    documented = {(template, verb) for template, item in document["paths"].items() for verb in item}
    assert documented == {(r.template, r.http_method.lower()) for r in app.services.routes.routes}


def test_json_encoded_parameters_are_declared_as_json_content(document):
    list_operation = document["paths"]["/arvados/v1/api_client_authorizations"]["get"]
    by_name = {p["name"]: p for p in list_operation["parameters"]}
    assert by_name["filters"]["content"]["application/json"]["schema"] == {"$ref": COMPONENT_PREFIX + "Filters"}
    assert by_name["limit"]["schema"] == {"$ref": COMPONENT_PREFIX + "Limit"}


def test_every_ref_resolves(document):
    refs = set(_refs(document))
    assert refs
    for ref in refs:
        _resolve(document, ref)


def test_components_are_the_validators_schemas(app, document):
    """Each component equals its schemas/api definition with only the `$ref`s re-pointed."""
    schemas = app.services.schemas

    def same(ours, theirs, where):
        if isinstance(ours, dict):
            assert isinstance(theirs, dict) and set(ours) == set(theirs), where
            for key in ours:
                if key == "$ref":
                    assert theirs[key] == COMPONENT_PREFIX + ref_pointer(ours[key]), where
                else:
                    same(ours[key], theirs[key], f"{where}.{key}")
        elif isinstance(ours, list):
            assert isinstance(theirs, list) and len(ours) == len(theirs), where
            for index, (mine, published) in enumerate(zip(ours, theirs)):
                same(mine, published, f"{where}[{index}]")
        else:
            assert ours == theirs, where

    for name, component in document["components"]["schemas"].items():
        same(schemas.schema(name), component, name)


def test_components_validate_like_the_server(app, document):
    """A payload the server's SchemaSet rejects is rejected by the published schema too, and vice versa."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **document}))
    schemas = app.services.schemas
    samples = [
        {"scopes": ["all"]},
        {"scopes": ["GET /arvados/v1/users/current"], "expires_at": "2030-01-01T00:00:00Z"},
        {"scopes": ["FETCH /x"]},
        {"scopes": "all"},
        {"uuid": "zzzzz-gj3su-000000000000000"},
        {"expires_at": "tomorrow"},
        {"scopes": ["GET /\u0000"]},
    ]
    for name in ("ApiClientAuthorizationCreate", "ApiClientAuthorizationUpdate"):
        published = jsonschema.Draft202012Validator(
            {"$ref": f"urn:openapi{COMPONENT_PREFIX}{name}"}, registry=registry)
        for sample in samples:
            assert published.is_valid(sample) == (not schemas.problems(name, sample, "x")), (name, sample)


def test_error_responses_document_the_error_body(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["errors", "error_token"]
    operation = document["paths"]["/arvados/v1/api_client_authorizations/{uuid}"]["get"]
    for code in ("401", "403", "404", "422"):
        assert operation["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": COMPONENT_PREFIX + "Error"}


def test_served_by_the_real_server(live_server):
    response = requests.get(live_server.url(OPENAPI_PATH), timeout=5)
    assert response.status_code == 200
    assert response.json()["servers"] == [{"url": live_server.base_url}]
    error = requests.get(live_server.url("/arvados/v1/api_client_authorizations/current"), timeout=5)
    schema = response.json()["components"]["schemas"]["Error"]
    jsonschema.validate(error.json(), schema)
