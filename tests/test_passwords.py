"""scrypt off the request threads: how many hashes run at once, and at what priority."""

from __future__ import annotations

import os
import threading

from authserver import passwords


def test_hashing_threads_leave_half_the_cores_to_requests():
    assert [passwords.hashing_threads(cores) for cores in (1, 2, 3, 4, 8, 64)] == [1, 1, 1, 2, 4, 32]


def test_hashes_run_on_the_pool_at_lower_priority_and_verify():
    seen = {}
    original = passwords._scrypt_here

    def spy(*args):
        seen["thread"] = threading.current_thread().name
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return original(*args)

    passwords._scrypt_here = spy
    try:
        stored = passwords.hash_password("correct horse battery")
        assert passwords.verify_password("correct horse battery", stored)
        assert not passwords.verify_password("wrong horse battery", stored)
    finally:
        passwords._scrypt_here = original
    assert seen["thread"].startswith("authserver-scrypt")
    assert seen["nice"] >= passwords.HASHING_NICENESS  # lowered (never raised) for the pool's threads only
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < seen["nice"]
