"""The API's documents, generated from the route table (`routes.py`) and the JSON Schemas (`schemas/api/`).

- `discovery.py`: the Arvados (Google API) discovery document the Arvados SDKs build their clients from;
- `openapi.py`: an OpenAPI 3.1 document (its schemas are JSON Schema 2020-12, as ours are);
- `markdown.py`: `docs/api.md`, the human reference (`command.py`: `authserver docs api`, `make docs`);
- `resources.py`: the public Falcon resources that serve the first two;
- `named.py`: which named schemas a document needs, and how a `$ref` names one.

Nothing here is written by hand per method: a new route or schema appears in every document by itself.
"""
