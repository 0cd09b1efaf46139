"""Fewer cyclic garbage collections: none during a build, fewer in the command line.

A build allocates millions of small objects (parsed YAML, models, rendered dicts) and frees
nearly all of them by reference counting; they hold almost no reference cycles. CPython's
default thresholds (700, 10, 10) still start a collection every 700 allocations, and every
full collection walks everything alive: a 1,000-dashboard build spent ~8 % of its CPU there
(1.7 s, 16 full collections walking the parsed and validated spec set). With mypy's build
thresholds (python/mypy ``mypy/build.py``: "Run gc less frequently, as otherwise we can spend
a large fraction of cpu in gc") the collections were fewer but each walked millions of young
objects: the 1,000-dashboard spec set still took 1.66-1.96 s to validate and cross-check
against 1.22-1.29 s without collections (3 alternating pairs). So a build runs with the
cyclic collector off (``fewer_collections``; the cycles it leaves are few: ~70 objects a
dashboard, 69,693 after 1,000 in one process, peak memory the same, tests/test_performance.py)
and turns it back on after (not in a process about to end at once, exiting.py).

The command line runs with mypy's thresholds from its start (``cli.main``): importing the spec
models builds their schemas, ~80 collections and 25-40 ms of a shipped build. A command that
serves for a long time (the exporter, ``simulate``) goes back to the thresholds the process had.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

BUILD_THRESHOLDS = (200_000, 30, 30)
_AT_START: tuple[int, int, int] | None = None  # the thresholds before for_this_process


def for_this_process() -> None:
    """BUILD_THRESHOLDS from now on (on CPython): the command line's imports and commands."""
    global _AT_START
    if sys.implementation.name != "cpython":  # pragma: no cover - other GCs
        return
    if _AT_START is None:
        _AT_START = gc.get_threshold()
    gc.set_threshold(*BUILD_THRESHOLDS)


def for_a_long_run() -> None:
    """The thresholds the process started with, for a command that serves until stopped."""
    if _AT_START is not None:
        gc.set_threshold(*_AT_START)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """No cyclic collection while the block runs (on CPython, and in the workers it forks);
    after it, the collector as it was."""
    if sys.implementation.name != "cpython":  # pragma: no cover - other GCs
        yield
        return
    from mlops_dash import exiting

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # a process that ends at once keeps its spec set (exiting.keep): a collection now
        # would walk all of it for nothing (~0.17 s on 1,000 dashboards)
        if enabled and not exiting.ARMED:
            gc.enable()
