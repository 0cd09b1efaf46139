"""Fewer cyclic garbage collections during a build.

A build allocates millions of small objects (parsed YAML, models, rendered dicts) and frees
nearly all of them by reference counting; they hold almost no reference cycles. CPython's
default thresholds (700, 10, 10) still start a collection every 700 allocations, and every
full collection walks everything alive: a 1,000-dashboard build spent ~8 % of its CPU there
(1.7 s, 16 full collections walking the parsed and validated spec set). mypy runs its
builds with the thresholds used here (python/mypy, ``mypy/build.py``: "Run gc less
frequently, as otherwise we can spend a large fraction of cpu in gc"). Cycles are still
collected, only less often.

The command line runs with them from its start (``cli.main``): importing the spec models
builds their schemas, ~80 collections and 25-40 ms of a shipped build. A command that serves
for a long time (the exporter, ``simulate``) goes back to the thresholds the process had.
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
    """BUILD_THRESHOLDS while the block runs (on CPython), the thresholds before it after."""
    if sys.implementation.name != "cpython":  # pragma: no cover - other GCs
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(*BUILD_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
