"""The audit log: security events as rows (`audit_events`) and as JSON log lines (logger `authserver.audit`).

An event is recorded inside the transaction that makes the change, so a request that fails records
nothing; its log line is written only after that transaction commits. No secret ever goes in: events name
tokens and users by uuid. Read it with `authserver audit`.
"""

from __future__ import annotations

import json
import logging

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
        fields = dict(
            created_at=utcnow(),
            event_type=event_type,
            actor_uuid=actor_uuid,
            token_uuid=token_uuid,
            object_uuid=object_uuid,
            ip_address=ip_address,
            request_id=request_id,
            details=details or {},
        )
        with self.storage.write():
            row = self.storage.models.AuditEvent.create(**fields)
            line = json.dumps({"audit": event_json(row)}, sort_keys=True)
            self.storage.on_commit(lambda: log.info(line))

    def record_for_request(self, req, event_type: str, *, object_uuid: str | None = None,
                           details: dict | None = None) -> None:
        """Record an event of an API request: the caller, its token, its address and the request id."""
        identity = getattr(req.context, "identity", None)
        self.record(
            event_type,
            actor_uuid=identity.user_uuid if identity else None,
            token_uuid=identity.token_uuid if identity else None,
            object_uuid=object_uuid,
            ip_address=req.remote_addr,
            request_id=getattr(req.context, "request_id", None),
            details=details,
        )

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
