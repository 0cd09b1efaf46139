"""Render the per-dashboard files of a large spec set in several processes.

Each dashboard's files depend only on that dashboard and on the (already validated) spec set,
so ``pipeline.DASHBOARD_STAGES`` can run for different dashboards in different processes.
Workers are forked after the specs are loaded and cross-checked: they share the spec set
without copying it and send back only the rendered text. The result is the same tree, byte for
byte, whatever ``jobs`` is (tests/test_parallel.py), and problems are reported the same way:
every spec error of every dashboard, or else the first build error in dashboard order.

Where ``fork`` is not available (or not safe: not Linux) the dashboards are rendered in this
process; so they are for small spec sets, where starting processes costs more than it saves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_dash.errors import BuildError, SpecError, SpecErrors

if TYPE_CHECKING:
    from mlops_dash.output import Tree
    from mlops_dash.spec.loader import SpecSet

# Below this many dashboards one process is faster (a fork and a result transfer cost ~20 ms).
PARALLEL_MIN_DASHBOARDS = 40
# Dashboards per task at least, and tasks per worker at most (small tasks balance the load).
MIN_CHUNK = 10
CHUNKS_PER_JOB = 4

Result = tuple["Tree", list[SpecError], BuildError | None]
Task = Callable[[Any, int, int], Any]

_SHARED: tuple[Task, Any] | None = None  # the task and its input, for forked workers


MAX_DEFAULT_JOBS = 8  # more workers gain little and each holds its share of the output


def default_jobs() -> int:
    """The CPUs this process may run on, at most MAX_DEFAULT_JOBS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_JOBS))


def chunks(count: int, jobs: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` ranges of ``count`` dashboards, one range when one process
    should render them all."""
    if jobs <= 1 or count < PARALLEL_MIN_DASHBOARDS:
        return [(0, count)]
    parts = max(2, min(count // MIN_CHUNK, jobs * CHUNKS_PER_JOB))
    bounds = [round(i * count / parts) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts)]


def render_dashboards(spec_set: SpecSet, jobs: int) -> Tree:
    """The files of every dashboard (DASHBOARD_STAGES), rendered in up to ``jobs`` processes."""
    results: list[Result] = run_chunks(render_range, spec_set, len(spec_set.dashboards), jobs)
    tree: Tree = {}
    errors: list[SpecError] = []
    build_error: BuildError | None = None
    for part, part_errors, part_build_error in results:
        _merge(tree, part)
        errors += part_errors
        build_error = build_error or part_build_error
    if errors:
        raise SpecErrors(errors)
    if build_error is not None:
        raise build_error
    return tree


def render_range(spec_set: SpecSet, start: int, stop: int) -> Result:
    """Render dashboards ``start:stop``; collect their problems instead of stopping at one."""
    from mlops_dash.pipeline import render_dashboard_files

    tree: Tree = {}
    errors: list[SpecError] = []
    build_error: BuildError | None = None
    for doc in spec_set.dashboards[start:stop]:
        try:
            files = render_dashboard_files(spec_set, doc)
        except SpecErrors as exc:
            errors += exc.errors
        except SpecError as exc:
            errors.append(exc)
        except BuildError as exc:
            build_error = build_error or exc
        else:
            _merge(tree, files)
    return tree, errors, build_error


def _merge(tree: Tree, part: Tree) -> None:
    clash = sorted(set(part) & set(tree))
    assert not clash, f"two dashboards produce {clash}"
    tree.update(part)


def run_chunks(task: Task, shared: Any, count: int, jobs: int) -> list[Any]:
    """``[task(shared, start, stop) for each chunk of range(count)]``, in chunk order: in up to
    ``jobs`` forked processes when ``count`` is large, else one call in this process.

    ``task`` must be a module-level function; ``shared`` reaches the workers by ``fork`` (not
    pickled), and each result comes back pickled.
    """
    ranges = chunks(count, jobs)
    results = _in_processes(task, shared, ranges, jobs) if len(ranges) > 1 else None
    return results if results is not None else [task(shared, 0, count)]


def _worker(start: int, stop: int) -> Any:
    assert _SHARED is not None, "worker started without its task"
    task, shared = _SHARED
    return task(shared, start, stop)


def _in_processes(task: Task, shared: Any, ranges: list[tuple[int, int]], jobs: int
                  ) -> list[Any] | None:
    """Results in range order, or None when worker processes cannot be used here."""
    if not sys.platform.startswith("linux"):
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _SHARED
    _SHARED = (task, shared)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(jobs, len(ranges)), mp_context=context) as pool:
            futures = [pool.submit(_worker, start, stop) for start, stop in ranges]
            return [f.result() for f in futures]
    except Exception:  # noqa: BLE001
        # Cannot start or keep workers (process limits, a sandbox, a killed worker), or a
        # worker hit a bug: render in this process, which reports a bug with its traceback.
        return None
    finally:
        _SHARED = None
