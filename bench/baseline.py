"""The physical limit: a bare Falcon app with one route, served by waitress with authserver's settings.

It answers every GET with the JSON object it was given (the body authserver's `current` returns, recorded
by the benchmark), serialised per request by Falcon as authserver's responses are, so the bodies have the
same size. Run as `python -m bench.baseline --config F --port P --body-file B`.
"""

from __future__ import annotations

import argparse
import json

import falcon

from authserver import serving
from authserver.config import load_config


class RecordedBody:
    def __init__(self, body: dict):
        self.body = body

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.body


def make_app(body: dict) -> falcon.App:
    app = falcon.App()
    app.add_route("/arvados/v1/api_client_authorizations/current", RecordedBody(body))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    args = parser.parse_args()
    config = load_config(args.config).with_overrides(**{"listen.port": args.port})
    with open(args.body_file, encoding="utf-8") as handle:
        body = json.load(handle)
    serving.serve(make_app(body), config)  # authserver's own waitress settings and logging


if __name__ == "__main__":
    main()
