"""How `authserver serve` runs waitress: its settings and its logging. `make bench` serves its bare baseline
app through this same module, so the comparison differs only in the app."""

from __future__ import annotations

import logging
import time

import waitress

from .config import Config

QUEUE_WARNING_EVERY_SECONDS = 10.0


def waitress_options(config: Config) -> dict:
    return dict(
        host=config.listen_host,
        port=config.listen_port,
        threads=config.threads,
        # Our own limit answers 413 with the JSON body; waitress's (default 1 GiB) is the backstop.
        max_request_body_size=config.max_body_bytes * 2,
        ident="authserver",
        clear_untrusted_proxy_headers=True,
        _quiet=True,
    )


class QueueWarningLimit(logging.Filter):
    """At most one "Task queue depth is N" warning per interval, saying how many it stands for.

    waitress logs that warning for every request that finds all threads busy, from its one I/O thread and
    while holding the lock every request thread waits on to take its next task. Under load that was one log
    line for every two or three requests: a flood in the log, and a write to stderr inside the server's
    busiest lock. One line per interval keeps the signal (the deepest queue seen, and how often) without it.
    """

    def __init__(self, every_seconds: float = QUEUE_WARNING_EVERY_SECONDS, clock=time.monotonic):
        super().__init__()
        self.every_seconds = every_seconds
        self.clock = clock
        self._next_at = float("-inf")
        self._held = 0
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        self._deepest = max(self._deepest, depth if isinstance(depth, int) else 0)
        now = self.clock()
        if now < self._next_at:
            self._held += 1
            return False
        if self._held:
            record.msg = "Task queue depth is %d (deepest %d; %d more such warnings in the last %.0f s)"
            record.args = (depth, self._deepest, self._held, self.every_seconds)
        self._next_at = now + self.every_seconds
        self._held = 0
        self._deepest = 0
        return True


def limit_queue_warnings() -> None:
    queue_logger = logging.getLogger("waitress.queue")
    if not any(isinstance(existing, QueueWarningLimit) for existing in queue_logger.filters):
        queue_logger.addFilter(QueueWarningLimit())


def serve(app, config: Config) -> None:
    limit_queue_warnings()
    waitress.serve(app, **waitress_options(config))
