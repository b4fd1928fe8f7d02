"""Login throttling (SPEC §10): at most 5 failed passwords per account and 20 per client address in 15 minutes.

Failures live in the database (`login_failures`), so every server process sharing it shares the counts.
An attempt is *reserved* before its password is checked: one short write transaction counts the recent
failures of the account and of the address and, when both are under their limits, records the attempt as a
failure. A correct password then cancels the reservation. Because the count and the insert happen under one
write lock, concurrent attempts cannot all slip under the limit together: at most `limit` passwords are ever
checked per window. The slow scrypt check runs outside any transaction.

The account key is a SHA-256 digest of the lower-cased email, so the table never holds an email, and every
email is counted alike whether or not an account has it: the throttle does not reveal which emails exist.
IPv6 clients are counted per /64, the block one subscriber usually gets.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .db import Storage
from .ids import utcnow
from .users import email_key

ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW = timedelta(minutes=15)
# PostgreSQL runs transactions at READ COMMITTED, where two reservations could both count before either
# inserts; a transaction-scoped advisory lock on this key makes them take turns, as BEGIN IMMEDIATE does on
# SQLite. (The key is arbitrary, only unique among the advisory locks this database's users take.)
POSTGRESQL_LOCK_KEY = 0x61757468_6C6F6769  # "authlogi"


def account_subject(email: str) -> str:
    return "account:" + hashlib.sha256(email_key(email).encode("utf-8")).hexdigest()


def address_subject(remote_addr: str | None) -> str:
    text = remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if address.version == 6 and address.ipv4_mapped is None:
            text = str(ipaddress.ip_network(f"{address}/64", strict=False))
        elif address.version == 6:
            text = str(address.ipv4_mapped)
    return "address:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Reservation:
    """An attempt allowed to check a password; its rows count as failures unless `succeeded` removes them."""

    row_ids: tuple[int, ...]
    account: str


@dataclass(frozen=True)
class Throttled:
    """The attempt is refused without checking the password; try again after `retry_after` seconds."""

    retry_after: int


class LoginThrottle:
    def __init__(self, storage: Storage, *, account_limit: int = ACCOUNT_LIMIT,
                 address_limit: int = ADDRESS_LIMIT, window: timedelta = WINDOW):
        self.storage = storage
        self.Failure = storage.models.LoginFailure
        self.limits = {"account": account_limit, "address": address_limit}
        self.window = window

    def reserve(self, email: str, remote_addr: str | None) -> Reservation | Throttled:
        """Count this attempt before its password is checked, or refuse it when a limit is reached."""
        subjects = {"account": account_subject(email), "address": address_subject(remote_addr)}
        now = utcnow()
        since = now - self.window
        with self.storage.write(changes_identities=False):  # login_failures only: no token's identity changes
            if not self.storage.is_sqlite:
                self.storage.execute(f"SELECT pg_advisory_xact_lock({self.storage.param})", (POSTGRESQL_LOCK_KEY,))
            # Forget what has left the window: the table never holds more than one window's failures.
            self.Failure.delete().where(self.Failure.failed_at <= since).execute()
            waits = [self._wait(subject, self.limits[kind], since, now) for kind, subject in subjects.items()]
            waits = [wait for wait in waits if wait is not None]
            if waits:
                return Throttled(retry_after=max(waits))
            row_ids = tuple(
                self.Failure.insert(subject=subject, failed_at=now).execute() for subject in subjects.values()
            )
        return Reservation(row_ids=row_ids, account=subjects["account"])

    def _wait(self, subject: str, limit: int, since: datetime, now: datetime) -> int | None:
        """Seconds until `subject` drops below `limit` failures in the window; None when it is below already."""
        recent = (
            self.Failure.select(self.Failure.failed_at)
            .where((self.Failure.subject == subject) & (self.Failure.failed_at > since))
            .order_by(self.Failure.failed_at.desc())
            .limit(limit)
        )
        moments = [row.failed_at for row in recent]
        if len(moments) < limit:
            return None
        # The attempt is allowed again once the limit-th most recent failure leaves the window.
        return max(1, math.ceil((moments[-1] + self.window - now).total_seconds()))

    def succeeded(self, reservation: Reservation) -> None:
        """Inside the caller's write transaction: the password was right, so the attempt was no failure.

        The account's earlier failures go too (only its owner could do this); the address's stay, so that
        signing in to one's own account cannot reset the count of guesses made at others.
        """
        self.Failure.delete().where(
            (self.Failure.id.in_(list(reservation.row_ids))) | (self.Failure.subject == reservation.account)
        ).execute()
