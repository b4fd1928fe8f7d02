"""Password hashing with scrypt, a memory-hard KDF from the standard library (SPEC §7).

Stored form: `scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`, so the cost can be raised later without
invalidating existing hashes. Verification is constant-time.

The KDF runs on a small pool of low-priority threads, not on the request thread: scrypt releases the GIL and
keeps a core busy for ~50 ms, so at normal priority a few sign-ins at once took the CPU from every other
request (docs/performance.md, the login storm). The request thread waits for the result as it waited for the
KDF before. The pool has a thread for every two cores (at least one): scrypt is memory-hard, and a hash on
every core slowed everything else however low its priority (nice 19 and even SCHED_IDLE measured no better
than nice 10), because what it takes from other requests is the memory bus and the shared cache, not only
CPU time. This also bounds scrypt's memory (16 MiB a hash).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

# n=2**14, r=8: 16 MiB of memory and ~50 ms on one core here; OWASP's minimum for scrypt is n=2**13 with r=8.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


def password_problem(password: object) -> str | None:
    if not isinstance(password, str):
        return "must be a string"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    return None


HASHING_NICENESS = 10  # request threads get the CPU first whenever both want it

_hashing_pool: ThreadPoolExecutor | None = None
_hashing_pool_lock = threading.Lock()


def _lower_this_threads_priority() -> None:
    try:
        # On Linux the nice value is per thread: this lowers the pool's thread only, not the server.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: hashing runs at normal priority, as it did on the request thread


def hashing_threads(cores: int | None = None) -> int:
    """Half the cores, at least one: the other half stays free for requests during a sign-in storm."""
    return max(1, (cores or os.cpu_count() or 2) // 2)


def _pool() -> ThreadPoolExecutor:
    global _hashing_pool
    if _hashing_pool is None:
        with _hashing_pool_lock:
            if _hashing_pool is None:
                _hashing_pool = ThreadPoolExecutor(max_workers=hashing_threads(),
                                                   thread_name_prefix="authserver-scrypt",
                                                   initializer=_lower_this_threads_priority)
    return _hashing_pool


def _scrypt_here(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=256 * 1024 * 1024
    )


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return _pool().submit(_scrypt_here, password, salt, n, r, p).result()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    encode = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt)}${encode(digest)}"


# A fixed hash to verify against when the account does not exist, so that the time taken does not
# reveal whether an email is registered.
_DUMMY_HASH = None


def verify_password(password: str, stored: str | None) -> bool:
    global _DUMMY_HASH
    if not stored:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(16))
        stored, result_if_match = _DUMMY_HASH, False
    else:
        result_if_match = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest)) and result_if_match
