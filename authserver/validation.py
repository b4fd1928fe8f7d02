"""Stage 4: request payloads and structured parameters against the JSON Schemas in `schemas/api/`.

Every schema there is a `$defs` entry named like the discovery document's schemas (`ApiClientAuthorization`,
`ApiClientAuthorizationCreate`, ...). A payload problem is 422 with one message per problem, each naming
its JSON path (`api_client_authorization.scopes[0]: ...`).
"""

from __future__ import annotations

import json
import re
from functools import cache, cached_property
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from . import SCHEMA_DIR
from .errors import unprocessable

API_SCHEMA_DIR = SCHEMA_DIR / "api"
MAX_ECHO = 300  # characters of one problem's message that may quote the offending value


@cache
def ecma_regex(pattern: str) -> re.Pattern:
    """A schema `pattern` with ECMA-262's meaning of `$` (the very end), which Python's `$` is not.

    Python's `$` also matches before a final newline, so `^[a-z]+$` would accept "abc\\n"; JSON Schema
    patterns are ECMA-262, where it would not. Each unescaped `$` outside a character class becomes `\\Z`.
    """
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


def _ecma_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with ECMA-262 `pattern` semantics: every validator of API payloads is made from it.
StrictValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})


def _format_path(root: str, path) -> str:
    text = root
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


class SchemaSet:
    """All API schemas: by name for validation, and whole for the discovery and OpenAPI documents."""

    def __init__(self, directory: Path = API_SCHEMA_DIR):
        self.documents: dict[str, dict] = {}
        self.names: dict[str, str] = {}  # schema name -> the $id of the file that defines it
        for path in sorted(directory.glob("*.schema.json")):
            document = json.loads(path.read_text())
            self.documents[document["$id"]] = document
            for name in document.get("$defs", {}):
                if name in self.names:
                    raise ValueError(f"{path}: schema {name} is defined twice")
                self.names[name] = document["$id"]
        self.registry = Registry().with_resources(
            (uri, Resource.from_contents(document)) for uri, document in self.documents.items()
        )
        self._validators: dict[str, jsonschema.Draft202012Validator] = {}

    def schema(self, name: str) -> dict:
        return self.documents[self.names[name]]["$defs"][name]

    def validator(self, name: str) -> jsonschema.Draft202012Validator:
        validator = self._validators.get(name)
        if validator is None:
            validator = StrictValidator(
                {"$ref": f"{self.names[name]}#/$defs/{name}"}, registry=self.registry
            )
            self._validators[name] = validator
        return validator

    @cached_property
    def read_only_names(self) -> dict[str, set[str]]:
        """For each payload schema `XCreate`/`XUpdate`, the attributes of `X` it does not accept."""
        result = {}
        for name in self.names:
            for suffix in ("Create", "Update"):
                if name.endswith(suffix) and name[: -len(suffix)] in self.names:
                    result[name] = set(self.schema(name[: -len(suffix)]).get("properties", {}))
        return result

    def problems(self, name: str, instance, root: str) -> list[str]:
        messages = []
        read_only = self.read_only_names.get(name, set())
        for error in sorted(self.validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path)):
            if error.validator == "additionalProperties":
                allowed = set(error.schema.get("properties", {}))
                for key in sorted(set(error.instance) - allowed, key=str):
                    where = _format_path(root, list(error.absolute_path) + [key])
                    if key in read_only:
                        messages.append(f"{where}: cannot be set; it is assigned by the server")
                    else:
                        messages.append(f"{where}: unknown attribute")
                continue
            best = jsonschema.exceptions.best_match([error])
            message = best.message
            if best.schema.get("writeOnly"):
                # A write-only value (a password) is never echoed back, not even in an error.
                message = f"is not valid: expected {best.schema.get('description') or 'a valid value'}"
            elif best.validator == "pattern" and best.schema.get("description"):
                # A regular expression is no help to a caller; the schema's description says what is meant.
                message = f"{best.instance!r} is not valid: expected {best.schema['description']}"
            if len(message) > MAX_ECHO:
                # jsonschema quotes the whole value: a long one (a 100-item list, a huge string) is not sent back.
                limit = best.validator_value if isinstance(best.validator_value, (int, float)) else None
                if best.validator == "pattern" and best.schema.get("description"):
                    message = f"is not valid: expected {best.schema['description']}"
                else:
                    message = f"is not valid: {best.validator}" + (f" is {limit}" if limit is not None else "")
            messages.append(f"{_format_path(root, best.absolute_path)}: {message}")
        return messages

    def validate(self, name: str, instance, root: str) -> None:
        """422 listing every problem, or nothing."""
        problems = self.problems(name, instance, root)
        if problems:
            raise unprocessable(*problems)
