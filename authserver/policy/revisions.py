"""Policies at a git revision: `REV:path` (as `git show` takes it), for `policy diff origin/main:policies/x.yaml`.

The file and every file it `extends` are read with `git show` into a private temporary folder, keeping
their paths relative to the repository, and loaded there by the one loader; the locations in the result
are then written as `REV:path:line:column`, so messages point into the revision, not into a temporary file.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import yaml

from .engine import Policy
from .loader import MAX_EXTENDS_DEPTH, PolicyError, load_policy


def split_revision(spec: str) -> tuple[str, str] | None:
    """(revision, path) for `REV:path` when `spec` is not an existing file, else None."""
    if Path(spec).exists() or ":" not in spec:
        return None
    revision, path = spec.split(":", 1)
    return (revision, path) if revision and path else None


def _git_show(revision: str, path: str) -> bytes:
    try:
        result = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PolicyError([f"{revision}:{path}: cannot run git: {error}"]) from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines() or ["git show failed"]
        raise PolicyError([f"{revision}:{path}: {message[0].removeprefix('fatal: ')}"])
    return result.stdout


def _base_of(content: bytes) -> str | None:
    """The `extends` of a policy file, read leniently (the loader validates the file properly later)."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    extends = data.get("extends") if isinstance(data, dict) else None
    return extends if isinstance(extends, str) else None


def load_policy_at_revision(revision: str, path: str, route_targets: dict[str, tuple]) -> Policy:
    """The policy `path` as it was at `revision` (and the files it extends, at the same revision)."""
    with tempfile.TemporaryDirectory(prefix="authserver-policy-") as folder:
        root = Path(folder)
        wanted, seen = path, set()
        while wanted is not None and wanted not in seen and len(seen) <= MAX_EXTENDS_DEPTH:
            seen.add(wanted)
            content = _git_show(revision, wanted)
            local = root / wanted.lstrip("/")
            if root.resolve() not in local.resolve().parents:
                raise PolicyError([f"{revision}:{wanted}: a path outside the repository"])
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            base = _base_of(content)
            if base:
                # `./path` is relative to the working directory for git show; keep that for the bases.
                relative = "./" if wanted.startswith("./") else ""
                wanted = relative + posixpath.normpath(posixpath.join(posixpath.dirname(wanted), base))
            else:
                wanted = None
        prefix = f"{root}{os.sep}"  # how the loader names the temporary copies; shown as `REV:` instead
        try:
            policy = load_policy(root / path.lstrip("/"), route_targets)
        except PolicyError as error:
            raise PolicyError([problem.replace(prefix, f"{revision}:") for problem in error.problems]) from None
    rules = [replace(rule, location=rule.location.replace(prefix, f"{revision}:")) for rule in policy.rules]
    return Policy(rules=rules, route_targets=policy.route_targets, source=f"{revision}:{path}",
                  digest=policy.digest, name=policy.name, loaded_at=policy.loaded_at,
                  sources=tuple(source.replace(prefix, f"{revision}:") for source in policy.sources))


def load_policy_spec(spec: str, route_targets: dict[str, tuple]) -> Policy:
    """A policy from a file, or from `REV:path` in the git repository of the working directory."""
    revision = split_revision(spec)
    if revision is None:
        return load_policy(spec, route_targets)
    return load_policy_at_revision(*revision, route_targets)
