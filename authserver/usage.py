"""last_used_at / last_used_by_ip_address, written off the request path (SPEC §4.1, §10).

A request only notes the use in memory; a background thread writes the notes in one short transaction
every half second. Each token is written at most once a minute, so a busy token costs no writes at all,
and a locked or failing database delays the bookkeeping instead of failing or slowing a request.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from .db import DatabaseError, Storage
from .ids import utcnow

log = logging.getLogger("authserver.usage")

RECORD_EVERY = timedelta(seconds=60)
FLUSH_INTERVAL_SECONDS = 0.5


class UsageRecorder:
    def __init__(self, storage: Storage):
        self.storage = storage
        self._pending: dict[int, tuple[datetime, str | None]] = {}
        self._recent: dict[int, datetime] = {}  # token id -> when this process last queued it
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, token_id: int | None, stored_last_used: datetime | None, address: str | None) -> None:
        if token_id is None:
            return
        now = utcnow()
        if stored_last_used is not None and now - stored_last_used < RECORD_EVERY:
            return
        with self._lock:
            queued = self._recent.get(token_id)
            if queued is not None and now - queued < RECORD_EVERY:
                return
            self._recent[token_id] = now
            self._pending[token_id] = (now, address)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authserver-usage", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(FLUSH_INTERVAL_SECONDS):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            cutoff = utcnow() - RECORD_EVERY
            self._recent = {key: when for key, when in self._recent.items() if when > cutoff}
        if not pending:
            return
        token = self.storage.models.Token
        try:
            with self.storage.write(changes_identities=False):  # bookkeeping: no cached identity goes stale
                for token_id, (when, address) in pending.items():
                    token.update(last_used_at=when, last_used_by_ip_address=address).where(
                        token.id == token_id
                    ).execute()
        except DatabaseError as error:
            log.warning("could not record token use (will retry): %s", error)
            with self._lock:
                for token_id, value in pending.items():
                    self._pending.setdefault(token_id, value)

    def close(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
