"""The route table: every API method once, with its HTTP shape, its schemas and the targets it can have.

One source of truth. The Falcon router, the policy's method names, the request validator, the discovery
document and the OpenAPI document are all built from this table and the JSON Schemas in `schemas/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

API_PREFIX = "/arvados/v1"


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # discovery type: string, integer, boolean, array, object
    location: str = "query"  # "path" or "query"
    required: bool = False
    description: str = ""
    default: str | None = None
    schema: str | None = None  # the named JSON Schema (schemas/api/) of the value; arrays and objects are JSON-encoded


UUID_PARAM = Param("uuid", "string", "path", True, "The UUID of the object.", schema="Uuid")
LIST_PARAMS = (
    Param("filters", "array", description="Conditions, as a JSON list of [attribute, operator, operand].",
          schema="Filters"),
    Param("where", "object", description="Conditions, as a JSON object of attribute: value.", schema="Where"),
    Param("order", "array", description='Sort order, as a JSON list of "<attribute> asc|desc".', schema="Order"),
    Param("select", "array", description="Attributes to return, as a JSON list of names.", schema="Select"),
    Param("limit", "integer", description="Maximum number of items to return.", default="100", schema="Limit"),
    Param("offset", "integer", description="Number of items to skip.", default="0", schema="Offset"),
    Param("count", "string", description='"exact" (default) or "none" to leave out items_available.', default="exact",
          schema="Count"),
)


@dataclass(frozen=True)
class Route:
    resource: str  # plural resource name, e.g. "api_client_authorizations"
    method: str  # e.g. "list"
    http_method: str
    path: str  # under /arvados/v1, e.g. "api_client_authorizations/{uuid}"
    responder: str | None  # Falcon responder suffix: on_<verb>[_<responder>]
    targets: tuple[str, ...]  # the relations a request's target can have (policy cells)
    response: str  # schema name of the response
    request: str | None = None  # schema name of the body object, if any
    parameters: tuple[Param, ...] = ()
    description: str = ""
    needs_token: bool = True

    @cached_property  # read several times on every request (policy, decision log): computed once
    def id(self) -> str:
        return f"{self.resource}.{self.method}"

    @property
    def template(self) -> str:
        return f"{API_PREFIX}/{self.path}"

    @property
    def is_collection_read(self) -> bool:
        return self.method == "list"


def _token_routes() -> list[Route]:
    resource = "api_client_authorizations"
    item = f"{resource}/{{uuid}}"
    return [
        Route(resource, "list", "GET", resource, None, ("none", "self"), "ApiClientAuthorizationList",
              parameters=LIST_PARAMS, description="List the tokens the caller may see."),
        Route(resource, "create", "POST", resource, None, ("own", "other"), "ApiClientAuthorization",
              request="ApiClientAuthorizationCreate", description="Create a token."),
        Route(resource, "get", "GET", item, "item", ("self", "own", "other"), "ApiClientAuthorization",
              parameters=(UUID_PARAM,), description="Get a token."),
        Route(resource, "update", "PUT", item, "item", ("self", "own", "other"), "ApiClientAuthorization",
              request="ApiClientAuthorizationUpdate", parameters=(UUID_PARAM,), description="Update a token."),
        Route(resource, "update", "PATCH", item, "item", ("self", "own", "other"), "ApiClientAuthorization",
              request="ApiClientAuthorizationUpdate", parameters=(UUID_PARAM,), description="Update a token."),
        Route(resource, "delete", "DELETE", item, "item", ("self", "own", "other"), "ApiClientAuthorization",
              parameters=(UUID_PARAM,), description="Delete (revoke) a token; returns the deleted token."),
        Route(resource, "current", "GET", f"{resource}/current", "current", ("self",), "ApiClientAuthorization",
              description="The token used for this request."),
        Route(resource, "create_system_auth", "POST", f"{resource}/create_system_auth", "system_auth", ("none",),
              "ApiClientAuthorization",
              parameters=(Param("scopes", "array", description='Scopes of the new token, as a JSON list; default ["all"].',
                                schema="Scopes"),),
              description="Create a token owned by the system user."),
    ]


def _user_routes() -> list[Route]:
    resource = "users"
    item = f"{resource}/{{uuid}}"
    return [
        Route(resource, "list", "GET", resource, None, ("none",), "UserList",
              parameters=LIST_PARAMS, description="List the users the caller may see."),
        Route(resource, "create", "POST", resource, None, ("none",), "User",
              request="UserCreate", description="Create a user."),
        Route(resource, "get", "GET", item, "item", ("self", "other"), "User",
              parameters=(UUID_PARAM,), description="Get a user."),
        Route(resource, "update", "PUT", item, "item", ("self", "other"), "User",
              request="UserUpdate", parameters=(UUID_PARAM,), description="Update a user."),
        Route(resource, "update", "PATCH", item, "item", ("self", "other"), "User",
              request="UserUpdate", parameters=(UUID_PARAM,), description="Update a user."),
        Route(resource, "delete", "DELETE", item, "item", ("self", "other"), "User",
              parameters=(UUID_PARAM,), description="Delete a user and revoke all of its tokens; returns the deleted user."),
        Route(resource, "current", "GET", f"{resource}/current", "current", ("self",), "User",
              description="The user of the token used for this request."),
        Route(resource, "system", "GET", f"{resource}/system", "system", ("self", "other"), "User",
              description="The system user."),
    ]


def _client_routes() -> list[Route]:
    resource = "api_clients"
    item = f"{resource}/{{uuid}}"
    return [
        Route(resource, "list", "GET", resource, None, ("none",), "ApiClientList",
              parameters=LIST_PARAMS, description="List the API clients."),
        Route(resource, "create", "POST", resource, None, ("none",), "ApiClient",
              request="ApiClientCreate", description="Register an API client."),
        Route(resource, "get", "GET", item, "item", ("none",), "ApiClient",
              parameters=(UUID_PARAM,), description="Get an API client."),
        Route(resource, "update", "PUT", item, "item", ("none",), "ApiClient",
              request="ApiClientUpdate", parameters=(UUID_PARAM,), description="Update an API client."),
        Route(resource, "update", "PATCH", item, "item", ("none",), "ApiClient",
              request="ApiClientUpdate", parameters=(UUID_PARAM,), description="Update an API client."),
        Route(resource, "delete", "DELETE", item, "item", ("none",), "ApiClient",
              parameters=(UUID_PARAM,),
              description="Delete an API client; every token issued to it stops working. Returns the deleted client."),
    ]


@dataclass(frozen=True)
class PolicyAction:
    """A decision the policy makes inside a method, with no route of its own.

    It is named like a method (`users.update_privileged`) so policies and their test tables treat it as one,
    but it has no HTTP shape and does not appear in the API documents.
    """

    resource: str
    method: str
    targets: tuple[str, ...]
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.resource}.{self.method}"


POLICY_ACTIONS = (
    PolicyAction("users", "update_privileged", ("self", "other"),
                 "Set is_admin, is_active or password in users.create or users.update "
                 "(target: the user changed; a new user is other)."),
)


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)
    actions: list[PolicyAction] = field(default_factory=list)

    def add(self, routes: list[Route]) -> None:
        self.routes.extend(routes)

    def by_template_and_verb(self) -> dict[tuple[str, str], Route]:
        """(URI template, HTTP method) -> Route; HEAD is served wherever GET is, as the same method."""
        index = {(route.template, route.http_method): route for route in self.routes}
        for route in self.routes:
            if route.http_method == "GET":
                index.setdefault((route.template, "HEAD"), route)
        return index

    def method_targets(self) -> dict[str, tuple[str, ...]]:
        """Every `resource.method` the policy can name, with the targets its cells have."""
        targets: dict[str, tuple[str, ...]] = {}
        for route in self.routes:
            targets[route.id] = route.targets
        for action in self.actions:
            targets[action.id] = action.targets
        return targets

    def route_for(self, method_id: str) -> Route:
        return next(route for route in self.routes if route.id == method_id)


def build_route_table() -> RouteTable:
    table = RouteTable()
    table.add(_token_routes())
    table.add(_user_routes())
    table.add(_client_routes())
    table.actions.extend(POLICY_ACTIONS)
    return table
