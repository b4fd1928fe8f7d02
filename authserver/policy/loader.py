"""Reading a policy file: strict YAML, the JSON Schema, `extends`, names checked against the app's routes.

Every problem is reported as `file:line:column: message`; a file with any problem is refused whole. A policy
may `extends` another file, then `remove` some of its rules, change others under `overrides` (matched by id;
the attributes given replace the base rule's) and add its own `rules`. The result is one flat list of rules,
compiled like any other policy: precedence never depends on which file a rule came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import referencing

from .. import SCHEMA_DIR
from ..ids import utcnow
from ..validation import StrictValidator
from ..yamlfile import YamlDocument, YamlError, load_yaml_file
from .engine import CONSTRAINTS, TOKEN_CLASSES, Policy, Rule

MAX_EXTENDS_DEPTH = 10


class PolicyError(ValueError):
    """A refused policy file; `problems` holds one `file:line:column: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@cache
def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


def policy_schema() -> dict:
    return load_schema("policy.schema.json")


@cache
def _policy_schema_registry() -> referencing.Registry:
    """The policy file schemas by `$id`, so one may use another's definitions (a test table's invariants)."""
    names = ("policy.schema.json", "policy-test.schema.json", "policy-ack.schema.json")
    return referencing.Registry().with_resources(
        (load_schema(name)["$id"], referencing.Resource.from_contents(load_schema(name))) for name in names)


def _known_attributes(schema: dict, root: dict) -> list[str]:
    if "properties" in schema:
        return sorted(schema["properties"])
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return _known_attributes(root["$defs"][ref[len("#/$defs/"):]], root)
    return []


def schema_problems(document: YamlDocument, schema: dict) -> list[str]:
    """The document's JSON Schema errors as `file:line:column: message`, worded for an operator."""
    # The API's validator: patterns as ECMA-262 reads them (`$` is the end, not before a final newline).
    validator = StrictValidator(schema, registry=_policy_schema_registry())
    problems = []
    for error in sorted(validator.iter_errors(document.data), key=lambda e: [str(p) for p in e.absolute_path]):
        # oneOf errors are vague; the most relevant sub-error usually says what is wrong.
        best = jsonschema.exceptions.best_match([error])
        path = list(best.absolute_path)
        if best.validator in ("additionalProperties", "unevaluatedProperties"):
            allowed = _known_attributes(best.schema, schema)
            unknown = sorted(set(best.instance) - set(allowed), key=str)
            for name in unknown:
                where = document.where(path + [name])
                if isinstance(name, bool):
                    # `on:` / `yes:` as a key: YAML 1.1 made it a boolean, so no name can match it.
                    problems.append(f"{where}: a key here reads as the boolean {str(name).lower()} (YAML reads "
                                    "yes/no/on/off as booleans); quote it if a name was meant")
                else:
                    problems.append(f"{where}: unknown attribute {name!r} (expected one of: {', '.join(allowed)})")
            continue
        if isinstance(best.instance, bool) and best.validator in ("oneOf", "anyOf", "enum", "type", "pattern", "const"):
            # YAML 1.1 reads yes/no/on/off as booleans; where a name is expected that is always a mistake.
            message = (f"{str(best.instance).lower()} is a boolean here (YAML reads yes/no/on/off as booleans); "
                       "quote it if a name was meant")
        elif best.validator == "minProperties":
            message = f"too few attributes: at least {best.validator_value} (an override needs `id` and a change)" \
                if "id" in best.instance else f"too few attributes: at least {best.validator_value}"
        else:
            message = best.message
        problems.append(f"{document.where(path)}: {message}")
    return sorted(problems, key=_line_and_column)


def _line_and_column(problem: str) -> tuple[int, int]:
    parts = problem.split(":", 3)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return 0, 0


@dataclass
class RawRule:
    """A rule as written, possibly changed by `overrides`; remembers where each attribute was written."""

    data: dict
    document: YamlDocument  # where the rule (or its latest override) is
    path: tuple
    origins: dict[str, tuple[YamlDocument, tuple]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def location(self) -> str:
        return self.document.where(self.path)

    def where(self, attribute: str, *more) -> str:
        document, path = self.origins.get(attribute, (self.document, self.path + (attribute,)))
        return document.where(path + tuple(more))


@dataclass
class PolicySource:
    """The flattened rules of a policy file and everything it extends."""

    rules: list[RawRule]
    files: list[tuple[str, bytes]]  # (path, content) of every file read, bases first
    name: str = ""


def _read(path: Path) -> tuple[YamlDocument, bytes]:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise PolicyError([f"{path}: cannot read: {error.strerror}"]) from None
    try:
        document = load_yaml_file(path)
    except YamlError as error:
        raise PolicyError([str(error)]) from None
    return document, content


def read_policy_source(path: str | Path, chain: tuple[Path, ...] = ()) -> PolicySource:
    path = Path(path)
    document, content = _read(path)
    if not isinstance(document.data, dict):
        raise PolicyError([f"{path}:1:1: a policy is a mapping with a `rules` list"])
    problems = schema_problems(document, policy_schema())
    if problems:
        raise PolicyError(problems)
    data = document.data
    base = PolicySource([], [])
    if "extends" in data:
        base_path = path.parent / data["extends"]
        here = document.where(("extends",))
        if base_path.resolve() in chain + (path.resolve(),):
            raise PolicyError([f"{here}: extends {data['extends']!r} forms a cycle"])
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise PolicyError([f"{here}: more than {MAX_EXTENDS_DEPTH} levels of extends"])
        if not base_path.is_file():
            raise PolicyError([f"{here}: extends {data['extends']!r}: no such file ({base_path})"])
        base = read_policy_source(base_path, chain + (path.resolve(),))

    rules = {rule.id: rule for rule in base.rules}
    base_name = data.get("extends", "")
    for index, rule_id in enumerate(data.get("remove", [])):
        if rules.pop(rule_id, None) is None:
            problems.append(f"{document.where(('remove', index))}: remove: {base_name} has no rule {rule_id!r}")
    for index, override in enumerate(data.get("overrides", [])):
        path_here = ("overrides", index)
        original = rules.get(override["id"])
        if original is None:
            problems.append(f"{document.where(path_here + ('id',))}: overrides: {base_name} has no rule "
                            f"{override['id']!r}")
            continue
        origins = dict(original.origins)
        for attribute in original.data:
            origins.setdefault(attribute, (original.document, original.path + (attribute,)))
        for attribute in override:
            origins[attribute] = (document, path_here + (attribute,))
        rules[override["id"]] = RawRule({**original.data, **override}, document, path_here, origins)
    new_ids: dict[str, str] = {}
    for index, raw in enumerate(data.get("rules", [])):
        path_here = ("rules", index)
        id_where = document.where(path_here + ("id",))
        if raw["id"] in new_ids:
            problems.append(f"{id_where}: duplicate rule id {raw['id']!r} (first at {new_ids[raw['id']]})")
            continue
        if raw["id"] in rules:
            problems.append(f"{id_where}: rule id {raw['id']!r} is already defined in {rules[raw['id']].location}; "
                            "change it under `overrides`, or `remove` it first")
            continue
        new_ids[raw["id"]] = document.where(path_here)
        rules[raw["id"]] = RawRule(raw, document, path_here)
    if problems:
        raise PolicyError(problems)
    return PolicySource(list(rules.values()), base.files + [(str(path), content)], data.get("name", ""))


def resolve_method_pattern(pattern: str, known: dict[str, tuple]) -> frozenset[str]:
    """The methods `resource.method`, `resource.*` or `*` names; ValueError says what is unknown."""
    if pattern == "*":
        return frozenset(known)
    if pattern.endswith(".*"):
        resource = pattern[:-2]
        resources = {name.split(".", 1)[0] for name in known}
        if resource not in resources:
            raise ValueError(f"unknown resource {resource!r} in {pattern!r} (known: {', '.join(sorted(resources))})")
        return frozenset(name for name in known if name.startswith(resource + "."))
    if pattern not in known:
        raise ValueError(f"unknown method {pattern!r}")
    return frozenset([pattern])


def _resolve_methods(rule: RawRule, known: dict[str, tuple], problems: list) -> frozenset:
    patterns = rule.data["methods"]
    single = isinstance(patterns, str)
    patterns = [patterns] if single else patterns
    resolved = set()
    for index, pattern in enumerate(patterns):
        where = rule.where("methods") if single else rule.where("methods", index)
        try:
            resolved.update(resolve_method_pattern(pattern, known))
        except ValueError as error:
            problems.append(f"{where}: {error}")
    return frozenset(resolved)


def compile_rule(raw: RawRule, route_targets: dict[str, tuple], problems: list) -> Rule:
    data = raw.data
    methods = _resolve_methods(raw, route_targets, problems)
    classes = data["classes"]
    classes = frozenset(TOKEN_CLASSES) if classes == "*" else frozenset([classes] if isinstance(classes, str) else classes)
    when = data.get("when", {})
    targets = when.get("target")
    if isinstance(targets, str):
        targets = [targets]
    constraints = frozenset(name for name in CONSTRAINTS if data.get("constraints", {}).get(name))
    if constraints and data["effect"] == "deny":
        problems.append(f"{raw.where('constraints')}: constraints only apply to allow rules")
    return Rule(
        id=data["id"],
        effect=data["effect"],
        methods=methods,
        classes=classes,
        is_admin=when.get("is_admin"),
        is_active=when.get("is_active"),
        targets=frozenset(targets) if targets is not None else None,
        constraints=constraints,
        description=data.get("description", ""),
        location=raw.location,
    )


def compile_source(source: PolicySource, route_targets: dict[str, tuple]) -> Policy:
    problems: list[str] = []
    rules = [compile_rule(raw, route_targets, problems) for raw in source.rules]
    if problems:
        raise PolicyError(problems)
    digest = hashlib.sha256(b"".join(content for _, content in source.files)).hexdigest()
    return Policy(
        rules=rules,
        route_targets=dict(route_targets),
        source=source.files[-1][0],
        digest=digest,
        sources=tuple(path for path, _ in source.files),
        name=source.name,
        loaded_at=utcnow(),
    )


def load_policy(path: str | Path, route_targets: dict[str, tuple]) -> Policy:
    """Read, validate and compile a policy file (and the files it extends); PolicyError lists every problem."""
    return compile_source(read_policy_source(path), route_targets)
