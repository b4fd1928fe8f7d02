"""List parameters and the list envelope (SPEC §3): filters, where, order, select, limit, offset, count.

Each resource says which attributes it can filter, order and select by; this module turns the query
parameters into a checked `ListQuery` (422 for anything it cannot honour) and builds the response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .errors import ApiError, unprocessable
from .validation import SchemaSet
from .wire import parse_json_text

DEFAULT_LIMIT = 100


@dataclass
class ListQuery:
    filters: list[tuple[str, str, object]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (attribute, descending)
    select: list[str] | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    count_exact: bool = True


def _param(req, name: str):
    value = req.params.get(name)
    if isinstance(value, list):
        value = value[-1]
    return value


def _json_param(req, name: str):
    value = _param(req, name)
    if value is None or value == "":
        return None
    try:
        return parse_json_text(value, name)
    except ValueError as error:
        raise unprocessable(f"{name}: {error}") from None


@lru_cache(maxsize=1)
def _query_schemas() -> SchemaSet:
    """The shapes of filters, where, order and select (schemas/api/query.schema.json), loaded once."""
    return SchemaSet()


def _shaped_json_param(req, name: str, schema_name: str, problems: list[str]):
    """A JSON parameter that has its documented shape (lengths, types, no control characters), else None
    with its problems added: the published schema and what the server accepts are the same."""
    value = _json_param(req, name)
    if value is None and _param(req, name) in (None, ""):
        return None  # not given (a JSON null is given, and is not a list)
    shape_problems = _query_schemas().problems(schema_name, value, name)
    problems.extend(shape_problems)
    return None if shape_problems else value


def _non_negative_int(req, name: str, default: int) -> int:
    value = _param(req, name)
    if value is None:
        return default
    # ASCII digits only: int() would also take "", " 5", "+5", "5_000" and other scripts' digits.
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) > 2**31:
        raise unprocessable(f"{name}: must be a non-negative integer")
    return int(value)


def parse_list_query(
    req,
    *,
    max_limit: int,
    filterable: dict[str, tuple[str, ...]],
    orderable: set[str],
    selectable: set[str],
) -> ListQuery:
    """`filterable` maps attribute -> the operators it accepts."""
    problems = []
    query = ListQuery()
    try:
        query.limit = min(_non_negative_int(req, "limit", DEFAULT_LIMIT), max_limit)
    except ApiError as error:  # collect every problem and report them together
        problems.extend(error.messages)
    try:
        query.offset = _non_negative_int(req, "offset", 0)
    except ApiError as error:
        problems.extend(error.messages)
    count = _param(req, "count")
    if count not in (None, "exact", "none"):
        problems.append('count: must be "exact" or "none"')
    query.count_exact = count != "none"

    filters = _shaped_json_param(req, "filters", "Filters", problems)
    if filters is not None:
        if not isinstance(filters, list):
            problems.append("filters: must be a list of [attribute, operator, operand]")
        else:
            for index, item in enumerate(filters):
                if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)):
                    problems.append(f"filters[{index}]: must be [attribute, operator, operand]")
                    continue
                attribute, operator, operand = item
                operator = operator.lower()
                if attribute not in filterable:
                    problems.append(f"filters[{index}]: cannot filter by {attribute!r}")
                elif operator not in filterable[attribute]:
                    problems.append(
                        f"filters[{index}]: operator {operator!r} is not supported for {attribute!r}"
                        f" (use {', '.join(filterable[attribute])})"
                    )
                else:
                    query.filters.append((attribute, operator, operand))
    where = _shaped_json_param(req, "where", "Where", problems)
    if where is not None:
        if not isinstance(where, dict):
            problems.append("where: must be an object of attribute: value")
        else:
            for attribute, operand in where.items():
                if attribute not in filterable or "=" not in filterable[attribute]:
                    problems.append(f"where.{attribute}: cannot filter by {attribute!r}")
                else:
                    query.filters.append((attribute, "=", operand))

    # Conditions are ANDed in one SQL expression; SQLite's parser nests each one (its stack holds about 100).
    max_conditions = _query_schemas().schema("Filters")["maxItems"]
    if len(query.filters) > max_conditions:
        problems.append(f"filters and where: at most {max_conditions} conditions together")

    order = _shaped_json_param(req, "order", "Order", problems)
    if isinstance(order, str):
        order = [part.strip() for part in order.split(",")]
    if order is not None:
        if not isinstance(order, list):
            problems.append('order: must be a list of "<attribute> asc|desc"')
        else:
            for index, item in enumerate(order):
                words = item.split() if isinstance(item, str) else []
                if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                    problems.append(f'order[{index}]: must be "<attribute> asc|desc"')
                    continue
                attribute = words[0].split(".")[-1]  # upstream accepts "table.column"
                if attribute not in orderable:
                    problems.append(f"order[{index}]: cannot order by {attribute!r}")
                    continue
                query.order.append((attribute, len(words) == 2 and words[1].lower() == "desc"))

    select = _shaped_json_param(req, "select", "Select", problems)
    if select is not None:
        if not isinstance(select, list) or not all(isinstance(name, str) for name in select):
            problems.append("select: must be a list of attribute names")
        else:
            unknown = [name for name in select if name not in selectable]
            for name in unknown:
                problems.append(f"select: unknown attribute {name!r}")
            query.select = select
    if problems:
        raise unprocessable(*problems)
    return query


def select_fields(item: dict, select: list[str] | None) -> dict:
    if select is None:
        return item
    return {key: item[key] for key in ["kind", *select] if key in item}


def list_envelope(kind: str, items: list[dict], query: ListQuery, items_available: int | None) -> dict:
    body = {
        "kind": kind,
        "etag": "",
        "self_link": "",
        "offset": query.offset,
        "limit": query.limit,
        "items": [select_fields(item, query.select) for item in items],
    }
    if query.count_exact:
        body["items_available"] = items_available
    return body
