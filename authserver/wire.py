"""Wire-level stages (SPEC §3): request ids, CORS, bounded bodies, form bodies and the method override.

These run before routing and know nothing of tokens or policy.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import secrets
from urllib.parse import parse_qsl

import falcon

from .errors import ApiError, bad_request, unprocessable

_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]{1,1024}$")
CORS_PREFIXES = ("/arvados/v1/", "/arvados/v1", "/discovery/")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, PUT, PATCH, POST, DELETE",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}
CORS_HEADER_PAIRS = tuple(CORS_HEADERS.items())
FORM_TYPE = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
MAX_JSON_DEPTH = 64


class RequestIdMiddleware:
    """Every response carries X-Request-Id: the client's, if sane, else `req-` + 20 characters [0-9a-z].

    Our own ids are 20 hex digits (80 random bits: unique, and within SPEC's [0-9a-z]). A request id names a
    request in logs and error bodies; it guards nothing, so it comes from a fast PRNG seeded once from the
    OS, not from the OS per request: `os.urandom` cost 17 us per call here (a system call that also hands the
    GIL to another thread), and twenty `secrets.choice` calls before it a third of `GET current`'s time
    (docs/performance.md).
    """

    def __init__(self):
        self._random = random.Random(secrets.randbits(128))

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        offered = req.env.get("HTTP_X_REQUEST_ID")  # get_header() derives this key on every call
        if offered and _PRINTABLE_ASCII.match(offered):
            req.context.request_id = offered
        else:
            req.context.request_id = f"req-{self._random.getrandbits(80):020x}"

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header("X-Request-Id", req.context.request_id)


def is_api_path(path: str) -> bool:
    return path.startswith(CORS_PREFIXES)


class CorsMiddleware:
    """CORS on the API and discovery paths only; OPTIONS there is a 200 with an empty body."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.method == "OPTIONS" and is_api_path(req.path):
            resp.status = falcon.HTTP_200
            resp.data = b""
            resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        if is_api_path(req.path):
            resp.set_headers(CORS_HEADER_PAIRS)  # pairs: Falcon's faster form


def _media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";", 1)[0].strip().lower()


class BodyMiddleware:
    """Reads the body once, bounded; merges form fields into the parameters; applies the method override.

    Form fields join the query parameters (the query wins on a clash), so `api_token` and the SDK's
    `POST` + `X-HTTP-Method-Override: GET` bodies look like any other parameters to the later stages.
    """

    def __init__(self, max_body_bytes: int):
        self.max_body_bytes = max_body_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.raw_body = b""
        req.context.body_type = None
        length = req.content_length
        if length is not None and length > self.max_body_bytes:
            raise ApiError(falcon.HTTP_413, f"Request body too large: the limit is {self.max_body_bytes} bytes")
        if req.method in ("GET", "HEAD", "DELETE", "OPTIONS") and not length:
            return
        raw = req.bounded_stream.read(self.max_body_bytes + 1)
        if len(raw) > self.max_body_bytes:
            raise ApiError(falcon.HTTP_413, f"Request body too large: the limit is {self.max_body_bytes} bytes")
        req.context.raw_body = raw
        if not raw:
            return
        media_type = _media_type(req)
        if media_type == FORM_TYPE:
            try:
                fields = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                   max_num_fields=1000)
            except (UnicodeDecodeError, ValueError):
                raise bad_request("Malformed form body") from None
            for name, value in fields:
                req.params.setdefault(name, value)
            req.context.body_type = "form"
        elif media_type in (JSON_TYPE, "text/json") or media_type.endswith("+json"):
            req.context.body_type = "json"
        else:
            raise ApiError(
                falcon.HTTP_415, "Unsupported content type: send application/json or application/x-www-form-urlencoded"
            )
        override = (req.get_header("X-HTTP-Method-Override") or "").upper()
        if req.method == "POST" and override == "GET" and req.context.body_type == "form":
            req.method = "GET"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _depth_exceeds(text: str, limit: int) -> bool:
    """Nesting depth outside strings, without recursion (a deep body must be a 400, not a RecursionError)."""
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def parse_json_text(text: str, what: str = "body"):
    """Strict JSON: no NaN/Infinity, no duplicate keys, bounded depth. ValueError with a reason otherwise."""
    if ("[" in text or "{" in text) and _depth_exceeds(text, MAX_JSON_DEPTH):
        raise ValueError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def read_body_object(req: falcon.Request, name: str) -> object | None:
    """The object wrapped in its singular name (`{"<name>": {...}}`), from JSON or from a form field.

    None when the request carries no such object; 400 when the body cannot be parsed; 422 when a JSON body
    holds something else than the wrapper (a common mistake: the object without its wrapper).
    """
    if req.context.body_type == "json":
        try:
            text = req.context.raw_body.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request("Malformed JSON body: not UTF-8") from None
        try:
            body = parse_json_text(text)
        except ValueError as error:
            raise bad_request(f"Malformed JSON body: {error}") from None
        if not isinstance(body, dict):
            raise unprocessable(f"body: expected an object with the key {name!r}")
        if name not in body and body:
            raise unprocessable(f"body: expected the object inside {name!r}, as {{\"{name}\": {{...}}}}")
        if name in body and body[name] is None:
            raise unprocessable(f"{name}: must be an object, not null")
        return body.get(name)
    value = req.params.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[-1]
    try:
        parsed = parse_json_text(value, name)
    except ValueError as error:
        raise bad_request(f"Malformed JSON in {name}: {error}") from None
    if parsed is None:
        raise unprocessable(f"{name}: must be an object, not null")
    return parsed


class ProxyHeadersMiddleware:
    """The client's address behind trusted reverse proxies (config `trusted_proxies`, docs/deploy.md).

    Only when the connecting peer is a trusted proxy are X-Forwarded-For (read right to left, skipping
    further trusted proxies) and X-Forwarded-Proto believed; they then replace REMOTE_ADDR and the URL
    scheme, so every later stage (`req.remote_addr`, logs, throttling, `created_by_ip_address`) sees the
    real client. From anyone else the headers are ignored: a client cannot choose its own address.
    """

    def __init__(self, trusted_proxies: list[str]):
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(parsed in network for network in self.networks)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self.networks or not self._trusted(req.env.get("REMOTE_ADDR", "")):
            return
        forwarded = req.get_header("X-Forwarded-For")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            client = next((hop for hop in reversed(hops) if not self._trusted(hop)), hops[0] if hops else None)
            try:
                req.env["REMOTE_ADDR"] = str(ipaddress.ip_address(client))
            except (ValueError, TypeError):
                pass  # a malformed header leaves the proxy's own address
        proto = (req.get_header("X-Forwarded-Proto") or "").strip().lower()
        if proto in ("http", "https"):
            req.env["wsgi.url_scheme"] = proto
