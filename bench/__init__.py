"""`make bench`: authserver against its physical limit on the same machine, in the same run.

The load generator is wrk; the physical limit is a bare Falcon app served by waitress with exactly the
settings `authserver serve` uses (`authserver/serving.py`). Every figure is a median of interleaved rounds,
and targets are judged on ratios measured in one run, never on absolute numbers: the machine is shared.
See docs/performance.md.
"""
