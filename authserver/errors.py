"""The error body of SPEC §3: `{"errors": ["<message> (<request id>)"], "error_token": "<unix>+<8 hex>"}`."""

from __future__ import annotations

import json
import logging
import secrets
import time

import falcon

log = logging.getLogger("authserver")


class ApiError(falcon.HTTPError):
    """An answer with the Arvados error body; `messages` is one entry per problem."""

    def __init__(self, status: str, *messages: str, headers: dict | None = None):
        super().__init__(status, title=messages[0] if messages else status, headers=headers)
        self.messages = list(messages) or [status]


def not_logged_in() -> ApiError:
    return ApiError(falcon.HTTP_401, "Not logged in")


def forbidden(reason: str) -> ApiError:
    return ApiError(falcon.HTTP_403, f"Forbidden: {reason}")


def not_found() -> ApiError:
    return ApiError(falcon.HTTP_404, "Path not found")


def unprocessable(*messages: str) -> ApiError:
    return ApiError(falcon.HTTP_422, *messages)


def bad_request(message: str) -> ApiError:
    return ApiError(falcon.HTTP_400, message)


def unavailable(message: str = "Service unavailable: the database is not available; try again") -> ApiError:
    return ApiError(falcon.HTTP_503, message, headers={"Retry-After": "5"})


# Falcon's own errors (route not found, method not allowed, ...) get our body and a stable message.
_STANDARD_MESSAGES = {
    404: "Path not found",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported content type",
}


def error_body(request_id: str, messages: list[str]) -> bytes:
    token = f"{int(time.time())}+{secrets.token_hex(4)}"
    return json.dumps(
        {"errors": [f"{message} ({request_id})" for message in messages], "error_token": token}
    ).encode()


def serialize_error(req: falcon.Request, resp: falcon.Response, exception: falcon.HTTPError) -> None:
    """Falcon's error serializer: every HTTPError leaves as the Arvados error body."""
    messages = getattr(exception, "messages", None)
    if not messages:
        code = exception.status_code
        messages = [_STANDARD_MESSAGES.get(code) or exception.title or str(code)]
    request_id = getattr(req.context, "request_id", "") or ""
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body(request_id, messages)


class UnexpectedErrorHandler:
    """Anything that is not an HTTPError: a database that cannot answer is 503 with Retry-After (and this
    thread's connection is dropped so the next request reconnects); anything else is logged with the
    request id (never the request's secrets) and answered 500."""

    def __init__(self, storage):
        self.storage = storage

    def __call__(self, req: falcon.Request, resp: falcon.Response, exception: Exception, params: dict) -> None:
        import peewee

        from .db import DatabaseError

        if isinstance(exception, falcon.HTTPError):
            raise exception
        request_id = getattr(req.context, "request_id", "-")
        if isinstance(exception, (DatabaseError, peewee.OperationalError, peewee.InterfaceError)):
            self.storage.reset_connection()
            log.error("database unavailable on %s %s (%s): %s", req.method, req.path, request_id,
                      str(exception).strip().splitlines()[0] if str(exception).strip() else type(exception).__name__)
            raise unavailable()
        log.exception("internal error on %s %s (%s)", req.method, req.path, request_id)
        raise ApiError(falcon.HTTP_500, "Internal server error")
