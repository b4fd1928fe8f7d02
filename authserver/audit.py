"""The audit log: security events as rows (`audit_events`) and as JSON log lines (logger `authserver.audit`).

An event is recorded inside the transaction that makes the change, so a request that fails records
nothing; its log line is written only after that transaction commits. No secret ever goes in: events name
tokens and users by uuid. Read it with `authserver audit`.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar

from .db import Storage
from .ids import format_timestamp, utcnow

log = logging.getLogger("authserver.audit")

EVENT_TYPES = (
    "login.success",
    "login.failure",
    "logout",
    "token.created",
    "token.updated",
    "token.revoked",
    "client.created",
    "client.trust_changed",
    "client.deleted",
    "user.created",
    "user.admin_changed",
    "user.active_changed",
    "user.password_changed",
    "user.deleted",
    "policy.reloaded",
    "policy.refused",
)


# Who is acting in the request being served (set by AuditContextMiddleware): services deep below the
# resources record events without having the request handed down to them. Outside a request (the CLI)
# it is empty and callers name the actor themselves.
_request_context: ContextVar[dict] = ContextVar("authserver_audit_context", default={})


def set_audit_context(context: dict) -> None:
    """For the command line: who is acting, for the events recorded from here on."""
    _request_context.set(dict(context))


class AuditContextMiddleware:
    """Stage after authentication: remember the request's client address, request id and caller.

    Set once per routed request, after authentication: events are recorded only by routes (resources,
    login), never by a request refused before them (404, 401, 413 record nothing), and the context is
    emptied after every response, so a thread's next request never inherits it.
    """

    def process_resource(self, req, resp, resource, params) -> None:
        context = req.context
        identity = getattr(context, "identity", None)
        if identity is None:
            _request_context.set({"ip_address": req.remote_addr, "request_id": context.request_id})
        else:
            _request_context.set({"ip_address": req.remote_addr, "request_id": context.request_id,
                                  "actor_uuid": identity.user_uuid, "token_uuid": identity.record.uuid})

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        _request_context.set({})


def event_json(row) -> dict:
    return {
        "created_at": format_timestamp(row.created_at),
        "event_type": row.event_type,
        "actor_uuid": row.actor_uuid,
        "token_uuid": row.token_uuid,
        "object_uuid": row.object_uuid,
        "ip_address": row.ip_address,
        "request_id": row.request_id,
        "details": row.details or {},
    }


class AuditLog:
    def __init__(self, storage: Storage):
        self.storage = storage

    def record(
        self,
        event_type: str,
        *,
        actor_uuid: str | None = None,
        token_uuid: str | None = None,
        object_uuid: str | None = None,
        ip_address: str | None = None,
        request_id: str | None = None,
        details: dict | None = None,
    ) -> None:
        """Record an event in the current write transaction (or in one of its own, outside any)."""
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown audit event type {event_type!r}")
        context = _request_context.get()
        fields = dict(
            created_at=utcnow(),
            event_type=event_type,
            actor_uuid=actor_uuid or context.get("actor_uuid"),
            token_uuid=token_uuid or context.get("token_uuid"),
            object_uuid=object_uuid,
            ip_address=ip_address or context.get("ip_address"),
            request_id=request_id or context.get("request_id"),
            details=details or {},
        )
        with self.storage.write(changes_identities=False):  # an added event: no token's identity changes
            row = self.storage.models.AuditEvent.create(**fields)
            line = json.dumps({"audit": event_json(row)}, sort_keys=True)
            self.storage.on_commit(lambda: log.info(line))

    def query(self, *, event_type: str | None = None, since=None, object_uuid: str | None = None,
              limit: int = 100) -> list[dict]:
        AuditEvent = self.storage.models.AuditEvent
        self.storage.connect()
        select = AuditEvent.select()
        if event_type:
            select = select.where(AuditEvent.event_type == event_type)
        if since is not None:
            select = select.where(AuditEvent.created_at >= since)
        if object_uuid:
            select = select.where(AuditEvent.object_uuid == object_uuid)
        rows = select.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(limit)
        return [event_json(row) for row in rows]
