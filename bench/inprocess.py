"""The app's own CPU per request: authserver's WSGI app and the bare baseline app, called in-process.

No sockets, no waitress: each app is called with the same WSGI environ for `GET current`, in interleaved
rounds, and the figure is the median CPU time (time.process_time) per request. This separates what the app
costs from what the web server around it costs, which the HTTP figures cannot.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from pathlib import Path

from authserver.app import create_app
from authserver.config import load_config

from .baseline import make_app

CURRENT = "/arvados/v1/api_client_authorizations/current"


def _environ(token: str | None) -> dict:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": CURRENT, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return environ


def _cpu_us_per_request(app, token: str | None, requests: int) -> float:
    statuses = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    started = time.process_time()
    for _ in range(requests):
        b"".join(app(_environ(token), start_response))
    elapsed = time.process_time() - started
    if not all(status.startswith("200") for status in statuses):
        raise RuntimeError(f"in-process GET current answered {statuses[-1]}")
    return elapsed / requests * 1e6


def measure(config_path: Path, token: str, *, rounds: int, requests: int) -> dict:
    app = create_app(load_config(str(config_path)))
    try:
        # The bare app answers with the object authserver answers, as over HTTP.
        body = json.loads(b"".join(app(_environ(token), lambda *args: None)))
        bare = make_app(body)
        bare_figures, app_figures = [], []
        for _ in range(rounds):
            bare_figures.append(_cpu_us_per_request(bare, None, requests))
            app_figures.append(_cpu_us_per_request(app, token, requests))
        return {
            "rounds": rounds,
            "requests_per_round": requests,
            "baseline_cpu_us": round(statistics.median(bare_figures), 1),
            "authserver_cpu_us": round(statistics.median(app_figures), 1),
        }
    finally:
        app.services.close()
