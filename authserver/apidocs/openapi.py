"""The OpenAPI 3.1 document at `/openapi.json`: the same routes and schemas as the discovery document.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so ours go in as they are; only `$ref`s are pointed at
`#/components/schemas/<name>`. Arrays and objects in the query (filters, where, order, select, scopes)
are JSON-encoded, which OpenAPI says with `content: {"application/json": {"schema": ...}}`.
"""

from __future__ import annotations

import copy

from .. import __version__
from ..routes import Param, Route, RouteTable
from ..validation import SchemaSet
from .named import closure, ref_pointer, route_schema_names, singular

COMPONENT_PREFIX = "#/components/schemas/"
ERROR_SCHEMA = "Error"
# Every operation can meet these (SPEC §3, §10): the body stage runs before routing for every verb.
ERROR_RESPONSES = {
    "400": "Malformed JSON, form body or parameter encoding.",
    "401": "Not logged in: a missing, unknown, malformed or expired token.",
    "403": "Forbidden: out of the token's scopes, or the policy refuses (the message names the rule).",
    "404": "Path not found, or an object the caller may not see.",
    "413": "The body is over api.max_body_bytes.",
    "415": "A body that is neither application/json nor application/x-www-form-urlencoded.",
    "422": "Invalid parameters or payload: one message per problem, each naming its JSON path.",
}
PUBLIC_ERROR_CODES = ("404",)
# Answered by the HTTP server (waitress) before the app sees the request: plain text, no X-Request-Id.
HTTP_SERVER_RESPONSES = {
    "413": "The body is far over api.max_body_bytes (over twice it): refused by the HTTP server itself.",
    "431": "The request line or headers are over the HTTP server's limit (256 KiB).",
}
REQUEST_ID_HEADER = {
    "X-Request-Id": {
        "description": "The client's X-Request-Id when it is 1-1024 printable ASCII characters, else req-<20 [0-9a-z]>.",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 1024},
    }
}


def openapi_schema(node):
    """A copy of a schema with every `$ref` pointed at `#/components/schemas/<name>[/<path inside it>]`.

    Each named schema sits at `#/components/schemas/<name>`, so a pointer into one keeps its path.
    """
    result = copy.deepcopy(node)
    stack = [result]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                item["$ref"] = COMPONENT_PREFIX + ref_pointer(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return result


def _ref(name: str) -> dict:
    return {"$ref": COMPONENT_PREFIX + name}


def _parameter(param: Param) -> dict:
    result = {"name": param.name, "in": param.location, "required": param.required,
              "description": param.description}
    schema = _ref(param.schema) if param.schema else {"type": param.type}
    if param.type in ("array", "object"):
        result["content"] = {"application/json": {"schema": schema}}
    else:
        result["schema"] = schema
    return result


def _operation(route: Route, operation_id: str) -> dict:
    operation = {
        "operationId": operation_id,
        "summary": route.description,
        "description": f"`{route.id}` in policies and scopes of `{route.http_method} {route.template}`.",
        "tags": [route.resource],
        "parameters": [_parameter(param) for param in route.parameters],
        "responses": {
            "200": {
                "description": "OK",
                "headers": REQUEST_ID_HEADER,
                "content": {"application/json": {"schema": _ref(route.response)}},
            },
        },
    }
    codes = ERROR_RESPONSES if route.needs_token else {code: ERROR_RESPONSES[code] for code in PUBLIC_ERROR_CODES}
    for code, description in codes.items():
        operation["responses"][code] = {
            "description": description,
            "headers": REQUEST_ID_HEADER,
            "content": {"application/json": {"schema": _ref(ERROR_SCHEMA)}},
        }
    for code, description in HTTP_SERVER_RESPONSES.items():
        response = operation["responses"].setdefault(code, {"description": description, "content": {}})
        if "headers" in response:  # the app's own 413 has the header; the HTTP server's has not
            response["description"] += " " + description
            response["headers"] = {"X-Request-Id": {**REQUEST_ID_HEADER["X-Request-Id"], "required": False}}
        response["content"]["text/plain"] = {"schema": {"type": "string"}}
    if route.request:
        wrapper = singular(route.resource)
        operation["requestBody"] = {
            "required": False,
            "description": f'The object wrapped in its singular name: {{"{wrapper}": {{...}}}}; other top-level keys'
                           " are ignored (as upstream, where they are parameters), and an empty object means no"
                           " attributes. A form body (application/x-www-form-urlencoded) may carry the object as the"
                           f" JSON string field {wrapper}.",
            "content": {
                "application/json": {"schema": {
                    "type": "object",
                    "properties": {wrapper: _ref(route.request)},
                    "anyOf": [{"required": [wrapper]}, {"maxProperties": 0}],
                }},
                "application/x-www-form-urlencoded": {"schema": {
                    "type": "object",
                    "properties": {wrapper: {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": _ref(route.request),
                        "description": f"The {wrapper} object as JSON text.",
                    }},
                }},
            },
        }
    if route.needs_token:
        operation["security"] = [{"bearerToken": []}]
    else:
        operation["security"] = [{}, {"bearerToken": []}]
    return operation


class OpenApiDocument:
    """Built once from the table and schemas; only `servers` differs per request."""

    def __init__(self, routes: RouteTable, schemas: SchemaSet):
        paths: dict[str, dict] = {}
        verbs_seen: dict[str, int] = {}
        for route in routes.routes:
            # update is PUT and PATCH: operation ids must be unique, so the second verb is named after itself.
            count = verbs_seen.get(route.id, 0)
            verbs_seen[route.id] = count + 1
            operation_id = route.id if count == 0 else f"{route.id}_{route.http_method.lower()}"
            paths.setdefault(route.template, {})[route.http_method.lower()] = _operation(route, operation_id)
        names = closure(schemas, [*route_schema_names(routes), ERROR_SCHEMA])
        self._template = {
            "openapi": "3.1.0",
            "info": {
                "title": "authserver API",
                "version": __version__,
                "description": "API tokens, API clients and users, authorized by a declarative policy; "
                               "wire-compatible with the Arvados API. Generated from the route table and "
                               "the JSON Schemas the server validates with.",
            },
            "paths": paths,
            "components": {
                "schemas": {name: openapi_schema(schemas.schema(name)) for name in names},
                "securitySchemes": {
                    "bearerToken": {"type": "http", "scheme": "bearer",
                                    "description": "An API token, bare or v2/<uuid>/<secret>. Also accepted as "
                                                   "the api_token query or form parameter, or OAuth2 <token>."},
                },
            },
        }

    def render(self, root_url: str) -> dict:
        return {**self._template, "servers": [{"url": root_url.rstrip("/")}]}
