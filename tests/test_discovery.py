"""The discovery document (SPEC §4.4): generated from the route table and schemas, public, complete."""

from __future__ import annotations

import pytest
import requests

from authserver.apidocs.discovery import DISCOVERY_PATH, discovery_schema
from authserver.apidocs.named import refs_in, singular
from authserver.app import create_app
from authserver.validation import SchemaSet

from .support import make_config


def _document(client, **kwargs) -> dict:
    response = client.simulate_get(DISCOVERY_PATH, **kwargs)
    assert response.status_code == 200, response.text
    return response.json


def test_public_without_a_token_and_with_a_bad_one(client):
    plain = _document(client)
    assert _document(client, headers={"Authorization": "Bearer v2/zzzzz-gj3su-000000000000000/nope"}) == plain
    assert _document(client, params={"api_token": "not-a-token"}) == plain


def test_root_url_from_the_request_host(client):
    document = _document(client, host="api.example.test")
    assert document["rootUrl"] == "http://api.example.test/"
    # Built from the client's Host header: never stored by a shared cache for other clients.
    assert client.simulate_get(DISCOVERY_PATH).headers["Cache-Control"] == "private, max-age=300"
    assert document["servicePath"] == "arvados/v1/"
    assert document["baseUrl"] == "http://api.example.test/arvados/v1/"


def test_root_url_from_external_url(tmp_path):
    config = make_config(tmp_path, external_url="https://auth.example.org/")
    app = create_app(config)
    try:
        from falcon import testing

        response = testing.TestClient(app).simulate_get(DISCOVERY_PATH, host="elsewhere.test")
        document = response.json
        assert document["rootUrl"] == "https://auth.example.org/"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert document["uuidPrefix"] == config.cluster_id
        assert document["maxRequestSize"] == config.max_body_bytes
    finally:
        app.services.close()


def test_every_route_is_a_method_with_its_parameters(app, client):
    document = _document(client)
    table = app.services.routes
    methods_in_document = {
        f"{resource}.{name}" for resource, body in document["resources"].items() for name in body["methods"]
    }
    assert methods_in_document == {route.id for route in table.routes}
    for route in table.routes:
        method = document["resources"][route.resource]["methods"][route.method]
        assert method["id"] == f"arvados.{route.id}"
        assert method["path"] == route.path
        first_verb = next(r.http_method for r in table.routes if r.id == route.id)
        assert method["httpMethod"] == first_verb
        assert method["response"] == {"$ref": route.response}
        assert set(method["parameters"]) == {param.name for param in route.parameters}
        for param in route.parameters:
            described = method["parameters"][param.name]
            assert described["type"] == param.type
            assert described["location"] == param.location
            assert described["required"] is param.required
        if route.request:
            assert method["request"] == {
                "required": True, "properties": {singular(route.resource): {"$ref": route.request}},
            }
        else:
            assert "request" not in method


def test_every_ref_has_its_schema(client):
    document = _document(client)
    schemas = document["schemas"]
    for name, schema in schemas.items():
        assert schema["id"] == name
    missing = {name for name in refs_by_name(document) if name not in schemas}
    assert not missing


def refs_by_name(document: dict) -> set[str]:
    """Discovery `$ref`s are bare schema names."""
    names = set()
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "$ref" in node:
                assert "/" not in node["$ref"] and "#" not in node["$ref"], node["$ref"]
                names.add(node["$ref"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def test_schemas_carry_the_validators_properties(app, client):
    """The same JSON Schemas the server validates with: every property of every named schema is there."""
    document = _document(client)
    schemas: SchemaSet = app.services.schemas
    for name, converted in document["schemas"].items():
        source = schemas.schema(name)
        assert set(converted.get("properties", {})) == set(source.get("properties", {})), name
        assert converted.get("description") == source.get("description")


def test_cors_on_discovery(client):
    response = client.simulate_get(DISCOVERY_PATH)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.simulate_options(DISCOVERY_PATH)
    assert preflight.status_code == 200
    assert preflight.text == ""


def test_not_a_policy_method(app):
    assert not any("discovery" in method for method in app.services.routes.method_targets())


def test_served_by_the_real_server(live_server):
    response = requests.get(live_server.url(DISCOVERY_PATH), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["rootUrl"] == live_server.base_url + "/"
    assert response.headers["X-Request-Id"]


# --- the translation to the discovery dialect -----------------------------------------------------------


@pytest.fixture(scope="module")
def schema_set() -> SchemaSet:
    return SchemaSet()


def test_nullable_types_become_their_concrete_type(schema_set):
    assert discovery_schema({"type": ["string", "null"]}, schema_set) == {"type": "string"}
    converted = discovery_schema(
        {"oneOf": [{"$ref": "common.schema.json#/$defs/Timestamp"}, {"type": "null"}], "description": "when"},
        schema_set,
    )
    assert converted == {"$ref": "Timestamp", "description": "when"}


def test_const_becomes_an_enum_and_unions_become_any(schema_set):
    assert discovery_schema({"type": "string", "const": "x"}, schema_set) == {"type": "string", "enum": ["x"]}
    assert discovery_schema({"anyOf": [{"type": "string"}, {"type": "integer"}]}, schema_set) == {"type": "any"}


def test_pointers_inside_a_named_schema_are_inlined(schema_set):
    assert discovery_schema({"$ref": "#/$defs/FilterScalar/anyOf/2"}, schema_set) == {"type": "boolean"}
    # the node pointed at is itself a whole-schema reference: it stays one
    assert discovery_schema({"$ref": "#/$defs/Filter/prefixItems/1"}, schema_set) == {"$ref": "FilterOperator"}


def test_a_recursive_pointer_stops_at_any():
    class OneSchema:
        """A SchemaSet stand-in holding one self-referencing schema."""

        names = {"Tree": "x"}

        @staticmethod
        def schema(name):
            return {"type": "object", "$defs": {"Node": {"type": "array", "items": {"$ref": "#/$defs/Tree/$defs/Node"}}}}

    converted = discovery_schema({"$ref": "#/$defs/Tree/$defs/Node"}, OneSchema())
    assert converted == {"type": "array", "items": {"type": "any"}}


def test_refs_in_finds_nested_references():
    node = {"properties": {"a": {"$ref": "#/$defs/A"}, "b": {"items": [{"$ref": "x.json#/$defs/B/properties/c"}]}}}
    assert sorted(refs_in(node)) == ["A", "B"]
