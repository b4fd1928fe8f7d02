"""Named schemas: which `$defs` entries a document needs, and how a `$ref` names one.

Schema names are unique across `schemas/api/` (`validation.SchemaSet` refuses duplicates), so a reference
such as `common.schema.json#/$defs/Uuid` can be rewritten to the bare name `Uuid` in every document.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..routes import RouteTable
from ..validation import SchemaSet

DEFS_MARKER = "#/$defs/"


def ref_pointer(ref: str) -> str:
    """The part of a `$ref` after `#/$defs/`: a schema name, maybe followed by a path inside it
    (`common.schema.json#/$defs/Uuid` → `Uuid`; `#/$defs/UserUpdate/properties/email` → `UserUpdate/properties/email`).
    """
    if DEFS_MARKER not in ref:
        raise ValueError(f"unsupported $ref {ref!r}: references must point into a schema file's $defs")
    return ref.split(DEFS_MARKER, 1)[1]


def ref_name(ref: str) -> str:
    """The named schema a `$ref` points at or into (`#/$defs/UserUpdate/properties/email` → `UserUpdate`)."""
    return ref_pointer(ref).split("/", 1)[0]


def ref_path(ref: str) -> list[str]:
    """The JSON-pointer steps inside the named schema (empty when the `$ref` names it whole)."""
    steps = ref_pointer(ref).split("/")[1:]
    return [step.replace("~1", "/").replace("~0", "~") for step in steps]


def resolve(schemas: SchemaSet, ref: str):
    """The schema node a `$ref` points at."""
    node = schemas.schema(ref_name(ref))
    for step in ref_path(ref):
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node


def refs_in(node) -> Iterable[str]:
    """Every schema name referenced anywhere inside `node`."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                yield ref_name(item["$ref"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def route_schema_names(routes: RouteTable) -> list[str]:
    """The schemas the routes name directly (responses, request bodies, parameters), in table order."""
    names: list[str] = []
    for route in routes.routes:
        for name in (route.response, route.request, *(param.schema for param in route.parameters)):
            if name and name not in names:
                names.append(name)
    return names


def closure(schemas: SchemaSet, roots: Iterable[str]) -> list[str]:
    """`roots` and every schema they reach through `$ref`, in first-seen order."""
    seen: list[str] = []
    pending = list(roots)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        if name not in schemas.names:
            raise KeyError(f"schema {name!r} is named by a route or a $ref but defined in no schemas/api file")
        seen.append(name)
        pending.extend(refs_in(schemas.schema(name)))
    return seen


def singular(resource: str) -> str:
    """The wrapper key of a resource's request bodies (SPEC §3): `api_clients` → `api_client`."""
    return resource[:-1] if resource.endswith("s") else resource


def methods_by_id(routes: RouteTable) -> dict[str, list]:
    """`resource.method` → its routes (update has two: PUT and PATCH), in table order."""
    grouped: dict[str, list] = {}
    for route in routes.routes:
        grouped.setdefault(route.id, []).append(route)
    return grouped
