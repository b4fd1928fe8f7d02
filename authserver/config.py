"""Configuration: YAML, validated by schemas/config.schema.json, with a default for every key (SPEC §8).

Where the file comes from: `--config F`, else $AUTHSERVER_CONFIG, else ./config.yaml if present, else the
built-in defaults. Relative paths in the file (SQLite database, policy) are relative to the file's folder.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from . import POLICY_DIR, SCHEMA_DIR
from .durations import parse_duration
from .origins import OriginError, OriginPattern
from .validation import StrictValidator
from .yamlfile import YamlDocument, YamlError, load_yaml_file

DEFAULTS: dict[str, Any] = {
    "cluster_id": "zzzzz",
    "listen": {"host": "127.0.0.1", "port": 8000, "threads": 8},
    "database": "sqlite:///authserver.db",
    "policy": str(POLICY_DIR / "default.yaml"),
    "policy_shadow": None,
    "decision_log": {"allowed": False, "file": None},
    "external_url": None,
    "system_root_token": None,
    "login": {
        "trusted_clients": [],
        "allowed_clients": [],
        "trust_private_networks": False,
        "token_lifetime": "14d",
    },
    "tokens": {"max_lifetime": 0, "cache_seconds": 1},
    "api": {"max_items_per_response": 1000, "max_body_bytes": 1048576},
    "trusted_proxies": [],
}


class ConfigError(ValueError):
    """A configuration problem, as one line naming the file and key."""


@cache
def config_schema() -> dict:
    return json.loads((SCHEMA_DIR / "config.schema.json").read_text())


def _merge(defaults: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _schema_message(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        prefix = key + "." if error.absolute_path else ""
        return f"unknown key {', '.join(prefix + name for name in unknown)}"
    if error.validator == "oneOf" and str(error.schema.get("description", "")).startswith("Whole seconds"):
        return f"{key}: {error.instance!r} is not a duration (seconds, or a number with s, m, h or d)"
    return f"{key}: {error.message}"


@dataclass(frozen=True)
class Config:
    data: dict
    base_dir: Path
    source: str  # the file it came from, or "built-in defaults"

    # Typed views of the validated data; every stage reads these, never the raw dict.
    @property
    def cluster_id(self) -> str:
        return self.data["cluster_id"]

    @property
    def listen_host(self) -> str:
        return self.data["listen"]["host"]

    @property
    def listen_port(self) -> int:
        return self.data["listen"]["port"]

    @property
    def threads(self) -> int:
        return self.data["listen"]["threads"]

    @property
    def database_url(self) -> str:
        return self.data["database"]

    @property
    def policy_path(self) -> Path:
        return self.resolve_path(self.data["policy"])

    @property
    def policy_shadow_path(self) -> Path | None:
        value = self.data["policy_shadow"]
        return self.resolve_path(value) if value else None

    @property
    def decision_log_allowed(self) -> bool:
        return self.data["decision_log"]["allowed"]

    @property
    def decision_log_file(self) -> Path | None:
        value = self.data["decision_log"]["file"]
        return self.resolve_path(value) if value else None

    @property
    def external_url(self) -> str | None:
        url = self.data["external_url"]
        return url.rstrip("/") if url else None

    @property
    def system_root_token(self) -> str | None:
        return self.data["system_root_token"]

    @property
    def trusted_clients(self) -> list[str]:
        return self.data["login"]["trusted_clients"]

    @property
    def allowed_clients(self) -> list[str]:
        return self.data["login"]["allowed_clients"]

    @property
    def trust_private_networks(self) -> bool:
        return self.data["login"]["trust_private_networks"]

    @property
    def login_token_lifetime(self) -> int | None:
        return parse_duration(self.data["login"]["token_lifetime"])

    @property
    def token_cache_seconds(self) -> float:
        return float(self.data["tokens"]["cache_seconds"])

    @property
    def max_token_lifetime(self) -> int | None:
        return parse_duration(self.data["tokens"]["max_lifetime"])

    @property
    def max_items_per_response(self) -> int:
        return self.data["api"]["max_items_per_response"]

    @property
    def max_body_bytes(self) -> int:
        return self.data["api"]["max_body_bytes"]

    @property
    def trusted_proxies(self) -> list[str]:
        return self.data["trusted_proxies"]

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def with_overrides(self, **overrides: Any) -> "Config":
        """A copy with some top-level or dotted keys replaced (`listen.port=8001`), validated again."""
        data = copy.deepcopy(self.data)
        for dotted, value in overrides.items():
            node = data
            *parents, last = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        return build_config(data, self.base_dir, self.source)


def build_config(raw: Any, base_dir: Path, source: str, document: YamlDocument | None = None) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    errors = sorted(
        StrictValidator(config_schema()).iter_errors(raw), key=lambda e: list(e.absolute_path)
    )
    if errors:
        error = errors[0]
        where = document.where(error.absolute_path) if document else source
        raise ConfigError(f"{where}: {_schema_message(error)}")
    data = _merge(DEFAULTS, raw)
    # Durations pass the schema's shape; their range is checked here so the message names the key.
    for section, key in (("login", "token_lifetime"), ("tokens", "max_lifetime")):
        try:
            parse_duration(data[section][key])
        except ValueError as error:
            where = document.where((section, key)) if document and section in raw else source
            raise ConfigError(f"{where}: {section}.{key}: {error}") from None
    # Values whose shape the schema cannot check fully: networks and origin patterns.
    for index, entry in enumerate(data["trusted_proxies"]):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            where = document.where(("trusted_proxies", index)) if document else source
            raise ConfigError(f"{where}: trusted_proxies[{index}]: {entry!r} is not an address or network") from None
    for key in ("trusted_clients", "allowed_clients"):
        for index, entry in enumerate(data["login"][key]):
            try:
                OriginPattern.parse(entry)
            except OriginError as error:
                where = document.where(("login", key, index)) if document else source
                raise ConfigError(f"{where}: login.{key}[{index}]: {error}") from None
    return Config(data=data, base_dir=base_dir, source=source)


def find_config_path(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("AUTHSERVER_CONFIG"):
        return Path(os.environ["AUTHSERVER_CONFIG"])
    if Path("config.yaml").is_file():
        return Path("config.yaml")
    return None


def load_config(explicit: str | None = None) -> Config:
    path = find_config_path(explicit)
    if path is None:
        return build_config({}, Path.cwd(), "built-in defaults")
    try:
        document = load_yaml_file(path)
    except YamlError as error:
        raise ConfigError(str(error)) from None
    return build_config(document.data, path.resolve().parent, str(path), document)
