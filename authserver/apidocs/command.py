"""`authserver docs api`: print the API reference (Markdown), the OpenAPI or the discovery document.

`make docs` writes `docs/api.md` with it; the test suite checks the committed file is what it prints.
"""

from __future__ import annotations

import json
import sys

from ..config import Config
from ..routes import build_route_table
from ..validation import SchemaSet
from .discovery import DiscoveryDocument
from .markdown import render_markdown
from .openapi import OpenApiDocument

FORMATS = ("markdown", "openapi", "discovery")


def cmd_docs_api(args, config: Config) -> int:
    routes, schemas = build_route_table(), SchemaSet()
    if args.format == "markdown":
        sys.stdout.write(render_markdown(routes, schemas))
        return 0
    root_url = args.root_url or config.external_url or f"http://{config.listen_host}:{config.listen_port}"
    if args.format == "openapi":
        document = OpenApiDocument(routes, schemas).render(root_url)
    else:
        document = DiscoveryDocument(routes, schemas, cluster_id=config.cluster_id,
                                     max_body_bytes=config.max_body_bytes,
                                     max_items_per_response=config.max_items_per_response).render(root_url)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 0


def add_docs_commands(commands, common, parser_class) -> None:
    docs = commands.add_parser("docs", parents=[common], help="generated documentation").add_subparsers(
        dest="docs_command", required=True, parser_class=parser_class)
    api = docs.add_parser("api", parents=[common],
                          help="print the API reference (docs/api.md), or the OpenAPI or discovery document")
    api.add_argument("--format", choices=FORMATS, default="markdown")
    api.add_argument("--root-url", metavar="URL",
                     help="the server's URL in the JSON documents (default: external_url, else listen host and port)")
    api.set_defaults(handler=cmd_docs_api)
