"""Ending a finished command at once, without freeing what it built.

At its end a Python process frees every object it still holds and then every module: the
spec models' pydantic validators, the promql parse cache, the output tree. For a build that
is work nobody waits for, and measured from the command's return to the process's end it is
a large share of the command: 0.07-0.12 s of the shipped build, 0.27-0.36 s of a
1,000-dashboard build (benchmarks/RESULTS.md, session 9).
mypy ends the same way for the same reason (python/mypy ``mypy/util.py``, ``hard_exit``:
"Kill the current process without fully cleaning up. This can be quite a bit faster than a
normal exit() since objects are not freed."), after flushing standard output and error.

The same goes for what a build is done with before its end (``keep``: the parsed and validated
spec set, freed when the pipeline returned, took ~0.09 s of 1,000 dashboards).

Only the commands that read specs and write files end so (``AT_ONCE``): everything they
open is closed by their own ``with`` and ``finally`` blocks before the exit status is known
(the output's new folder removed or swapped, the worker processes stopped and joined). The
collectors and servers (``exporter``, ``drift``, ``evaluate``, ``actuals``, ``simulate``,
``digest``) end normally: their libraries (MLflow, boto3, logging) may flush in ``atexit``.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

AT_ONCE = frozenset({"build", "check", "diff", "import", "init", "lint", "routes", "schema",
                     "test"})
ENTRY = False  # set by cli.run: the console script's process, which ends at once
ARMED = False  # set when that process runs a command of AT_ONCE
_KEPT: list[object] = []
# Python's own status when flushing standard output fails at exit (a closed pipe)
FLUSH_FAILED = 120


def status_of(code: object) -> int | None:
    """The process status ``sys.exit(code)`` gives, or None where Python would print ``code``
    first (a message: left to the normal exit)."""
    if code is None:
        return 0
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    return None


def keep(*objects: object) -> None:
    """Hold ``objects`` until the process ends, when it ends at once (ARMED): a large spec set
    freed when the build is done with it costs ~0.1 s on 1,000 dashboards, for nothing. In any
    other process (tests, callers of the pipeline) nothing is held."""
    if ARMED:
        _KEPT.extend(objects)


def at_once(status: int) -> NoReturn:
    """Flush standard output and error, then end the process with ``status``, freeing
    nothing and running no ``atexit`` handler."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: as Python reports it
            status = status or FLUSH_FAILED
    os._exit(status)
