"""Strict YAML reading for operator files (config, policies, policy tests).

PyYAML's safe loader silently keeps the last of two duplicate keys and accepts extra documents; an operator
file with either is almost always a mistake, so both are errors here. Every node's position is recorded so
that schema errors can be reported as `file:line:column: message`, as Cerbos and OPA do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class YamlError(ValueError):
    """A problem in an operator file, already formatted as `file:line:column: message`."""


@dataclass
class YamlDocument:
    path: str
    data: Any
    # JSON-pointer-like path tuple -> (line, column), both 1-based.
    marks: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def where(self, json_path: tuple | list) -> str:
        """`file:line:column` of the deepest node of json_path that has a position."""
        key = tuple(json_path)
        while key and key not in self.marks:
            key = key[:-1]
        line, column = self.marks.get(key, (1, 1))
        return f"{self.path}:{line}:{column}"


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {first.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _record_marks(node: yaml.Node, path: tuple, marks: dict) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if key_node.tag == "tag:yaml.org,2002:bool":  # `on:` is the key True to the loader; mark it so
                key = key.lower() in ("yes", "true", "on")
            # Point a value's problems at its key when the value spans lines (a mapping or sequence).
            marks[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record_marks(value_node, path + (key,), marks)
            if isinstance(value_node, yaml.ScalarNode):
                marks[path + (key,)] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_marks(item, path + (index,), marks)


def load_yaml_text(text: str, path: str = "<string>") -> YamlDocument:
    try:
        nodes = list(yaml.compose_all(text, Loader=_StrictLoader))
        if len(nodes) > 1:
            mark = nodes[1].start_mark
            raise YamlError(f"{path}:{mark.line + 1}:{mark.column + 1}: only one YAML document is allowed")
        if not nodes or nodes[0] is None:
            return YamlDocument(path, None, {})
        loader = _StrictLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"{path}:{line}:{column}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise YamlError(f"{path}:1:1: {error}") from None
    marks: dict[tuple, tuple[int, int]] = {}
    _record_marks(nodes[0], (), marks)
    return YamlDocument(path, data, marks)


def load_yaml_file(path: str | Path) -> YamlDocument:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise YamlError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise YamlError(f"{path}: not UTF-8 text") from None
    return load_yaml_text(text, str(path))
