"""`GET /_health`: is the server up, and which policy is it enforcing?

Public (load balancers and operators call it without a token) and outside `/arvados/v1`, so it is not in
the route table and no policy names it. It reports the active policy's digest and load time and the last
refused reload (`file:line:column: message` lines), so a bad policy edit is visible without reading logs.
"""

from __future__ import annotations

import falcon

from ..ids import format_timestamp

HEALTH_PATH = "/_health"


class Health:
    def __init__(self, reloader):
        self.reloader = reloader  # policy.reloader.PolicyReloader

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = self.reloader.status()
        resp.set_header("Cache-Control", "no-store")
        resp.media = {
            "status": "ok",
            "policy": {
                "name": status["name"],
                "digest": status["digest"],
                "loaded_at": format_timestamp(status["loaded_at"]),
                "last_error": status["last_error"],
                "last_error_at": format_timestamp(status["last_error_at"]),
            },
        }

    on_head = on_get
