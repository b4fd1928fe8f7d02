"""The Arvados discovery document (SPEC §4.4), in the Google API Discovery format the SDKs read.

The Arvados Python SDK builds its client with `googleapiclient.discovery.build` from this document: it
needs `rootUrl` + `servicePath`, and per method `id`, `path`, `httpMethod`, `parameters` (with `location`
and `type`: arrays and objects are sent JSON-encoded), `request` and `response`. It also reads
`maxRequestSize` to refuse oversized bodies before sending them. There is no batch endpoint, so no
`batchPath` (upstream's is a promise this server would not keep).

Discovery schemas are an older JSON Schema dialect: one `type` string, `$ref` by bare schema name. Our
2020-12 schemas are translated (`discovery_schema`); the exact constraints live in the OpenAPI document.
"""

from __future__ import annotations

from .. import __version__
from ..routes import Param, Route, RouteTable
from ..validation import SchemaSet
from .named import closure, methods_by_id, ref_name, ref_path, resolve, route_schema_names, singular

SERVICE_PATH = "arvados/v1/"
DISCOVERY_PATH = "/discovery/v1/apis/arvados/v1/rest"
# Keywords with the same meaning in the discovery dialect; the rest (lengths, oneOf, ...) has no equivalent.
_KEPT_KEYWORDS = ("description", "pattern", "enum", "format", "minimum", "maximum", "default")


def _single_type(node: dict) -> str | None:
    declared = node.get("type")
    if isinstance(declared, list):
        concrete = [name for name in declared if name != "null"]
        return concrete[0] if len(concrete) == 1 else "any"
    return declared


def discovery_schema(node: dict, schemas: SchemaSet, expanding: frozenset[str] = frozenset()) -> dict:
    """One JSON Schema 2020-12 node in the discovery dialect.

    A `$ref` to a whole named schema stays a `$ref` by name; one pointing inside a named schema has no
    discovery equivalent and is inlined (a recursive one becomes `any` where it recurs).
    """
    def convert(sub: dict) -> dict:
        return discovery_schema(sub, schemas, expanding)

    described = {"description": node["description"]} if "description" in node else {}
    if "$ref" in node:
        ref = node["$ref"]
        if not ref_path(ref):
            return {"$ref": ref_name(ref), **described}
        if ref in expanding:
            return {"type": "any", **described}
        inlined = discovery_schema(resolve(schemas, ref), schemas, expanding | {ref})
        return {**inlined, **described}
    for combinator in ("oneOf", "anyOf"):
        if combinator in node:
            concrete = [option for option in node[combinator] if option.get("type") != "null"]
            if len(concrete) == 1:  # "X or null": discovery has no null, X is what a client sends
                return {**convert(concrete[0]), **described}
            return {"type": "any", **described}
    result = {key: node[key] for key in _KEPT_KEYWORDS if key in node}
    if "const" in node:
        result["enum"] = [node["const"]]
    kind = _single_type(node) or ("object" if "properties" in node else "any")
    result["type"] = kind
    if "properties" in node:
        result["properties"] = {name: convert(sub) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        result["items"] = convert(node["items"])
    elif kind == "array":
        result["items"] = {"type": "any"}
    if isinstance(node.get("additionalProperties"), dict):
        result["additionalProperties"] = convert(node["additionalProperties"])
    return result


def _parameter(param: Param) -> dict:
    result = {"type": param.type, "required": param.required, "location": param.location,
              "description": param.description}
    if param.default is not None:
        result["default"] = param.default
    return result


def _method(route: Route) -> dict:
    method = {
        "id": f"arvados.{route.id}",
        "path": route.path,
        "httpMethod": route.http_method,
        "description": route.description,
        "parameters": {param.name: _parameter(param) for param in route.parameters},
        "parameterOrder": [param.name for param in route.parameters if param.location == "path"],
        "response": {"$ref": route.response},
        "scopes": ["https://api.arvados.org/auth/arvados"] if route.needs_token else [],
    }
    if route.request:
        method["request"] = {"required": True, "properties": {singular(route.resource): {"$ref": route.request}}}
    return method


class DiscoveryDocument:
    """Builds the document once from the table and schemas; only the root URL differs per request."""

    def __init__(self, routes: RouteTable, schemas: SchemaSet, *, cluster_id: str, max_body_bytes: int,
                 max_items_per_response: int):
        resources: dict[str, dict] = {}
        for variants in methods_by_id(routes).values():
            route = variants[0]  # PUT and PATCH are one method (update); the SDK sends the first verb
            resources.setdefault(route.resource, {"methods": {}})["methods"][route.method] = _method(route)
        schema_names = closure(schemas, route_schema_names(routes))
        converted = {}
        for name in schema_names:
            converted[name] = {"id": name, **discovery_schema(schemas.schema(name), schemas)}
        self._template = {
            "kind": "discovery#restDescription",
            "discoveryVersion": "v1",
            "id": "arvados:v1",
            "name": "arvados",
            "version": "v1",
            "revision": __version__,
            "title": "Arvados API (authserver)",
            "description": "API tokens, API clients and users, authorized by a declarative policy.",
            "protocol": "rest",
            "servicePath": SERVICE_PATH,
            "uuidPrefix": cluster_id,
            "maxRequestSize": max_body_bytes,
            "maxItemsPerResponse": max_items_per_response,
            "parameters": {
                "alt": {"type": "string", "description": "Data format for the response (only json).",
                        "default": "json", "enum": ["json"], "location": "query"},
            },
            "auth": {"oauth2": {"scopes": {"https://api.arvados.org/auth/arvados": {
                "description": "View and manage objects"}}}},
            "schemas": converted,
            "resources": resources,
        }

    def render(self, root_url: str) -> dict:
        """The document for a server reached at `root_url` (scheme://host[:port], no trailing slash)."""
        root = root_url.rstrip("/") + "/"
        return {**self._template, "rootUrl": root, "baseUrl": root + SERVICE_PATH, "basePath": "/" + SERVICE_PATH}
