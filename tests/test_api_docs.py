"""docs/api.md is generated from the route table and schemas, and the committed copy is current."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from authserver.apidocs.discovery import DISCOVERY_PATH
from authserver.apidocs.markdown import render_markdown
from authserver.apidocs.resources import OPENAPI_PATH
from authserver.routes import build_route_table
from authserver.validation import SchemaSet

from .support import REPO

API_DOC = REPO / "docs" / "api.md"


def _cli(*args: str, cwd) -> str:
    result = subprocess.run([sys.executable, "-m", "authserver.cli", *args], capture_output=True, text=True,
                            cwd=cwd, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_committed_reference_is_what_the_generator_writes():
    expected = render_markdown(build_route_table(), SchemaSet())
    assert API_DOC.read_text() == expected, "docs/api.md is stale: run `make docs` and commit it"


def test_the_command_prints_the_reference(tmp_path):
    assert _cli("docs", "api", cwd=tmp_path) == render_markdown(build_route_table(), SchemaSet())


def test_every_method_and_schema_is_documented():
    text = API_DOC.read_text()
    for route in build_route_table().routes:
        assert f"### `{route.id}`" in text
        assert f"`{route.http_method}`" in text.split(f"### `{route.id}`", 1)[1].split("### ", 1)[0]
    linked = set(re.findall(r"\]\(#([a-z0-9]+)\)", text))
    headings = {heading.lower() for heading in re.findall(r"^### ([A-Za-z]+)$", text, re.MULTILINE)}
    assert linked <= headings, f"links without a section: {sorted(linked - headings)}"


def test_no_html_slips_into_the_prose():
    """Descriptions such as `<cluster_id>-<type>-...` must not become HTML tags."""
    for line in API_DOC.read_text().splitlines():
        outside_code = "".join(line.split("`")[0::2])
        if line.startswith("<!--") or line.startswith("     "):
            continue
        assert "<" not in outside_code, line


def test_the_json_documents_from_the_command_equal_the_served_ones(client, tmp_path):
    root = "https://auth.example.org"
    openapi = json.loads(_cli("docs", "api", "--format", "openapi", "--root-url", root, cwd=tmp_path))
    served = client.simulate_get(OPENAPI_PATH, host="auth.example.org", protocol="https").json
    assert openapi == served
    discovery = json.loads(_cli("docs", "api", "--format", "discovery", "--root-url", root, cwd=tmp_path))
    served = client.simulate_get(DISCOVERY_PATH, host="auth.example.org", protocol="https").json
    assert discovery == served
