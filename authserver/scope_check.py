"""Stage 2: the token's scopes must cover the request (SPEC §6); otherwise 403 naming what is missing."""

from __future__ import annotations

from .errors import forbidden
from .scopes import in_scope, normalize_path


class ScopeMiddleware:
    def process_resource(self, req, resp, resource, params) -> None:
        identity = req.context.identity
        if identity is None or req.context.route is None:
            return
        if not in_scope(identity.record.scopes, req.method, req.path):
            raise forbidden(f"scope does not allow {req.method} {normalize_path(req.path)}")
