"""Reading a policy file: strict YAML, the JSON Schema, names checked against the app's routes.

Every problem is reported as `file:line:column: message`; a file with any problem is refused whole.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import jsonschema

from .. import SCHEMA_DIR
from ..yamlfile import YamlDocument, YamlError, load_yaml_file
from .engine import CONSTRAINTS, TOKEN_CLASSES, Policy, Rule


class PolicyError(ValueError):
    """A refused policy file; `problems` holds one `file:line:column: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@cache
def policy_schema() -> dict:
    return json.loads((SCHEMA_DIR / "policy.schema.json").read_text())


def _schema_problems(document: YamlDocument) -> list[str]:
    validator = jsonschema.Draft202012Validator(policy_schema())
    problems = []
    for error in sorted(validator.iter_errors(document.data), key=lambda e: list(e.absolute_path)):
        # oneOf errors are vague; the most relevant sub-error usually says what is wrong.
        best = jsonschema.exceptions.best_match([error])
        path = list(best.absolute_path)
        if best.validator == "additionalProperties":
            allowed = sorted(best.schema.get("properties", {}))
            unknown = sorted(set(best.instance) - set(allowed))
            message = f"unknown attribute {', '.join(map(repr, unknown))} (expected one of: {', '.join(allowed)})"
            for name in unknown:
                path = list(best.absolute_path) + [name]
        elif isinstance(best.instance, bool) and best.validator in ("oneOf", "enum", "type", "pattern"):
            # YAML 1.1 reads yes/no/on/off as booleans; where a name is expected that is always a mistake.
            message = f"{best.instance!r} is a boolean here (YAML reads yes/no/on/off as booleans); quote the name"
        else:
            message = best.message
        problems.append(f"{document.where(path)}: {message}")
    return problems


def _resolve_methods(patterns, known: dict[str, tuple], document: YamlDocument, path: tuple, problems: list) -> frozenset:
    patterns = [patterns] if isinstance(patterns, str) else patterns
    resources = {name.split(".", 1)[0] for name in known}
    resolved = set()
    for index, pattern in enumerate(patterns):
        where = document.where(path + (index,))
        if pattern == "*":
            resolved.update(known)
        elif pattern.endswith(".*"):
            resource = pattern[:-2]
            if resource not in resources:
                problems.append(f"{where}: unknown resource {resource!r} in {pattern!r}")
            resolved.update(name for name in known if name.startswith(resource + "."))
        elif pattern not in known:
            problems.append(f"{where}: unknown method {pattern!r}")
        else:
            resolved.add(pattern)
    return frozenset(resolved)


def compile_document(document: YamlDocument, route_targets: dict[str, tuple], digest: str = "") -> Policy:
    problems = _schema_problems(document)
    if problems:
        raise PolicyError(problems)
    rules = []
    seen_ids: dict[str, str] = {}
    for index, raw in enumerate(document.data["rules"]):
        path = ("rules", index)
        location = document.where(path)
        if raw["id"] in seen_ids:
            problems.append(f"{document.where(path + ('id',))}: duplicate rule id {raw['id']!r} (first at {seen_ids[raw['id']]})")
            continue
        seen_ids[raw["id"]] = location
        methods = _resolve_methods(raw["methods"], route_targets, document, path + ("methods",), problems)
        classes = raw["classes"]
        classes = frozenset(TOKEN_CLASSES) if classes == "*" else frozenset([classes] if isinstance(classes, str) else classes)
        when = raw.get("when", {})
        targets = when.get("target")
        if isinstance(targets, str):
            targets = [targets]
        constraints = frozenset(name for name in CONSTRAINTS if raw.get("constraints", {}).get(name))
        if constraints and raw["effect"] == "deny":
            problems.append(f"{document.where(path + ('constraints',))}: constraints only apply to allow rules")
        rules.append(
            Rule(
                id=raw["id"],
                effect=raw["effect"],
                methods=methods,
                classes=classes,
                is_admin=when.get("is_admin"),
                is_active=when.get("is_active"),
                targets=frozenset(targets) if targets is not None else None,
                constraints=constraints,
                description=raw.get("description", ""),
                location=location,
            )
        )
    if problems:
        raise PolicyError(problems)
    return Policy(rules=rules, route_targets=dict(route_targets), source=document.path, digest=digest)


def load_policy(path: str | Path, route_targets: dict[str, tuple]) -> Policy:
    try:
        raw_bytes = Path(path).read_bytes()
    except OSError as error:
        raise PolicyError([f"{path}: cannot read: {error.strerror}"]) from None
    try:
        document = load_yaml_file(path)
    except YamlError as error:
        raise PolicyError([str(error)]) from None
    if not isinstance(document.data, dict):
        raise PolicyError([f"{path}:1:1: a policy is a mapping with a `rules` list"])
    return compile_document(document, route_targets, hashlib.sha256(raw_bytes).hexdigest())
