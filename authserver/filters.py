"""List filters on a resource's own attributes (SPEC §10), translated to SQL.

`=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `like` and `ilike`, each where it means something for the
attribute's type: text takes all ten, timestamps all but the pattern operators, booleans `=`, `!=`, `in` and
`not in`. `listing.parse_list_query` refuses an unknown attribute or operator (422) from `operators(columns)`;
`conditions()` checks each operand against the attribute's type (422 again) and builds the SQL.

Semantics are those of a careful reader, not of SQL's three-valued logic: `["username", "!=", "x"]` keeps
users without a username, `["username", "=", null]` finds them, and `not in` likewise keeps nulls unless the
list holds null. `like` is case-sensitive and `ilike` is not (ASCII letters only, on SQLite); in both, `%` is
any run of characters, `_` any one character and a backslash makes the next character literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from peewee import SQL, NodeList, Value

from .errors import unprocessable
from .ids import parse_timestamp

TEXT_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "ilike")
TIMESTAMP_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
BOOLEAN_OPERATORS = ("=", "!=", "in", "not in")
OPERATORS = {"text": TEXT_OPERATORS, "timestamp": TIMESTAMP_OPERATORS, "boolean": BOOLEAN_OPERATORS}

MAX_OPERAND_LENGTH = 4096
MAX_LIST_OPERANDS = 1000

_TRUE = SQL("1 = 1")
_FALSE = SQL("1 = 0")


@dataclass(frozen=True)
class Column:
    """A filterable attribute: the SQL expression it is stored as, and its type."""

    expression: object  # a peewee field or expression
    kind: str  # "text", "timestamp" or "boolean"
    nullable: bool = False


def operators(columns: dict[str, Column]) -> dict[str, tuple[str, ...]]:
    """The `filterable` map `listing.parse_list_query` takes."""
    return {name: OPERATORS[column.kind] for name, column in columns.items()}


class _OperandError(ValueError):
    pass


def _scalar(column: Column, value):
    """The operand as the column stores it; _OperandError when it cannot be compared with the column."""
    if value is None:
        if not column.nullable:
            raise _OperandError("cannot compare with null: the attribute is never null")
        return None
    if column.kind == "boolean":
        if not isinstance(value, bool):
            raise _OperandError("needs true or false")
        return value
    if not isinstance(value, str):
        raise _OperandError("needs a string")
    if len(value) > MAX_OPERAND_LENGTH:
        raise _OperandError(f"the operand is longer than {MAX_OPERAND_LENGTH} characters")
    if column.kind == "timestamp":
        try:
            return parse_timestamp(value)
        except ValueError as error:
            raise _OperandError(str(error)) from None
    return value


def _glob_pattern(like: str) -> str:
    """A LIKE pattern (with backslash escapes) as the equivalent GLOB pattern: SQLite's case-sensitive match."""
    out = []
    chars = iter(like)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def _pattern(expression, operator: str, pattern: str, sqlite: bool):
    if sqlite:
        if operator == "like":
            return NodeList((expression, SQL("GLOB"), Value(_glob_pattern(pattern))))
        return NodeList((expression, SQL("LIKE"), Value(pattern), SQL("ESCAPE '\\'")))
    # PostgreSQL: backslash is LIKE's default escape character.
    return NodeList((expression, SQL("LIKE" if operator == "like" else "ILIKE"), Value(pattern)))


def _boolean_condition(expression, wanted: set[bool]):
    if wanted == {True, False}:
        return _TRUE
    if wanted == {True}:
        return expression
    if wanted == {False}:
        return ~expression
    return _FALSE


def _condition(column: Column, operator: str, operand, sqlite: bool):
    expression = column.expression
    if operator in ("in", "not in"):
        if not isinstance(operand, list):
            raise _OperandError("needs a list")
        if len(operand) > MAX_LIST_OPERANDS:
            raise _OperandError(f"takes at most {MAX_LIST_OPERANDS} values")
        values = [_scalar(column, value) for value in operand]
        if column.kind == "boolean":
            wanted = set(values)
            return _boolean_condition(expression, wanted if operator == "in" else {True, False} - wanted)
        present = [value for value in values if value is not None]
        with_null = None in values
        if operator == "in":
            condition = expression.in_(present) if present else _FALSE
            return (condition | expression.is_null()) if with_null else condition
        condition = expression.not_in(present) if present else _TRUE
        if with_null:
            return condition & expression.is_null(False)
        return (condition | expression.is_null()) if column.nullable else condition
    value = _scalar(column, operand)
    if operator in ("like", "ilike"):
        if value is None:
            raise _OperandError("needs a string")
        return _pattern(expression, operator, value, sqlite)
    if column.kind == "boolean":
        return _boolean_condition(expression, {value} if operator == "=" else {not value})
    if value is None:
        if operator not in ("=", "!="):
            raise _OperandError("cannot compare with null (use = or !=)")
        return expression.is_null(operator == "=")
    if operator == "=":
        return expression == value
    if operator == "!=":
        return (expression != value) | expression.is_null() if column.nullable else expression != value
    return {
        "<": expression < value,
        "<=": expression <= value,
        ">": expression > value,
        ">=": expression >= value,
    }[operator]


def conditions(filters: list[tuple[str, str, object]], columns: dict[str, Column], *, sqlite: bool) -> list:
    """SQL conditions for the checked filters of a `ListQuery`; 422 naming every operand that does not fit."""
    result, problems = [], []
    for attribute, operator, operand in filters:  # from `filters` or `where`: name the attribute, not an index
        try:
            result.append(_condition(columns[attribute], operator, operand, sqlite))
        except _OperandError as error:
            problems.append(f"filters: {attribute!r} with {operator!r}: {error}")
    if problems:
        raise unprocessable(*problems)
    return result
