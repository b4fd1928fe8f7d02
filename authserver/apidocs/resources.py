"""The public endpoints serving the generated documents (no token needed; a bad token is ignored).

They are not API methods: they are outside the route table, so the policy cannot name them and they
never appear in their own documents. The root URL is `external_url` when configured (the server behind
a proxy), else the scheme and Host of the request itself.
"""

from __future__ import annotations

import falcon

OPENAPI_PATH = "/openapi.json"


class GeneratedDocument:
    """GET (and HEAD) answers a document rendered for this server's root URL."""

    def __init__(self, document, external_url: str | None):
        self.document = document  # DiscoveryDocument or OpenApiDocument: anything with render(root_url)
        self.external_url = external_url

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.document.render(self.external_url or req.prefix)
        # Clients (the SDK among them) may cache it: it changes only with a new release or config. A document
        # whose root URL came from the request's Host header is kept out of shared caches (no Host poisoning).
        resp.cache_control = ["public" if self.external_url else "private", "max-age=300"]

    on_head = on_get
