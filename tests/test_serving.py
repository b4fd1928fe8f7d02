"""How `serve` runs waitress: one queue-depth warning per interval, not one per request."""

from __future__ import annotations

import logging

from authserver.serving import QueueWarningLimit, limit_queue_warnings

from .support import FakeClock


def queue_record(depth: int) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, "task.py", 113, "Task queue depth is %d",
                             (depth,), None)


def test_one_warning_per_interval_saying_what_it_stands_for():
    clock = FakeClock()
    limit = QueueWarningLimit(every_seconds=10, clock=clock)
    first = queue_record(1)
    assert limit.filter(first) and first.getMessage() == "Task queue depth is 1"
    held = [limit.filter(queue_record(depth)) for depth in (2, 7, 3)]
    assert held == [False, False, False]
    clock.now += 10
    summary = queue_record(2)
    assert limit.filter(summary)
    assert summary.getMessage() == "Task queue depth is 2 (deepest 7; 3 more such warnings in the last 10 s)"
    clock.now += 10
    quiet_again = queue_record(1)
    assert limit.filter(quiet_again) and quiet_again.getMessage() == "Task queue depth is 1"


def test_installed_once_on_waitress_queue_logger():
    queue_logger = logging.getLogger("waitress.queue")
    before = list(queue_logger.filters)
    try:
        limit_queue_warnings()
        limit_queue_warnings()
        assert sum(isinstance(f, QueueWarningLimit) for f in queue_logger.filters) == 1
    finally:
        queue_logger.filters[:] = before
