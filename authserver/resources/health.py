"""`GET /_health`: is the server up, and which policy is it enforcing?

Public (load balancers and operators call it without a token) and outside `/arvados/v1`, so it is not in
the route table and no policy names it. It reports the active policy's digest and load time and the last
refused reload (`file:line:column: message` lines), so a bad policy edit is visible without reading logs.
"""

from __future__ import annotations

import threading
import time

import falcon

from ..ids import format_timestamp

HEALTH_PATH = "/_health"


class DatabaseHealth:
    """Whether the database can be read and written: a probe (at most once a second; one probe is one tiny
    committed write) and the real writes of the last 30 seconds. A full disk can still take the probe's
    no-op update while real writes fail; once the window passes without a new failure the probe alone
    decides, so a server taken out of rotation comes back by itself when the fault clears."""

    PROBE_INTERVAL_S = 1.0
    RECENT_FAILURE_WINDOW_S = 30.0

    def __init__(self, storage):
        self.storage = storage
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._error: str | None = None

    def error(self) -> str | None:
        with self._lock:
            if time.monotonic() - self._checked_at >= self.PROBE_INTERVAL_S:
                self._error = self.storage.probe()
                self._checked_at = time.monotonic()
            return self._error or self.storage.recent_write_failure(self.RECENT_FAILURE_WINDOW_S)


class Health:
    def __init__(self, reloader, storage, shadow=None):
        self.reloader = reloader  # policy.reloader.PolicyReloader
        self.database = DatabaseHealth(storage)
        self.shadow = shadow  # policy.shadow.ShadowPolicy, when config `policy_shadow` names a candidate

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = self.reloader.status()
        database_error = self.database.error()
        resp.set_header("Cache-Control", "no-store")
        if database_error:
            # Load balancers take a 503 out of rotation; the body says why.
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", "5")
        resp.media = {
            "status": "unavailable" if database_error else "ok",
            "database": {"ok": database_error is None, "error": database_error},
            "policy": {
                "name": status["name"],
                "digest": status["digest"],
                "loaded_at": format_timestamp(status["loaded_at"]),
                "last_error": status["last_error"],
                "last_error_at": format_timestamp(status["last_error_at"]),
            },
            "policy_shadow": self._shadow_status(),
        }

    def _shadow_status(self) -> dict | None:
        if self.shadow is None:
            return None
        status = self.shadow.status()
        return {**status, "loaded_at": format_timestamp(status["loaded_at"]),
                "last_error_at": format_timestamp(status["last_error_at"])}

    on_head = on_get
