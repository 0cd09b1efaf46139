"""Read and render large spec sets in several processes.

Two steps of a build are independent per file or per dashboard: parsing spec files
(``loader.parse_files``) and rendering each dashboard's files (``pipeline.DASHBOARD_STAGES``).
On large spec sets both run in worker processes forked from this one: the workers inherit their
input (the file list, or the loaded and cross-checked spec set) without copying it and send back
only plain data or text. The result is the same tree, byte for byte, whatever ``jobs`` is
(tests/test_parallel.py), and problems are reported the same way: every spec error of every
file and dashboard, or else the first build error in dashboard order.

Where ``fork`` is not available (not Linux) or worker processes cannot be started (process
limits, a sandbox), everything runs in this process; so it does for small spec sets, where
starting processes costs more than it saves. A worker that dies (killed for memory, say) fails
the build with a message suggesting ``-j 1``; an exception raised by the work itself comes back
to this process as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from mlops_dash.errors import BuildError, EnvironmentProblem, SpecError, SpecErrors
from mlops_dash.output import merge_tree

if TYPE_CHECKING:
    from mlops_dash.lint.runner import Finding
    from mlops_dash.outdir import Stage
    from mlops_dash.output import Tree
    from mlops_dash.spec.crosscheck import SetNames
    from mlops_dash.spec.loader import SpecSet

# Below this many items one process is faster (a fork and a result transfer cost ~20 ms).
PARALLEL_MIN_DASHBOARDS = 40
# Items per task at least, and tasks per worker at most: small tasks balance the load (the
# last worker to finish ends 0.08-0.09 s after the other with 32 chunks of 1,000 dashboards,
# 0.08-0.28 s with 16) and keep what a worker holds small (16 chunks peaked at 434-441 MB of
# all processes' PSS when workers sent their files back, 8 chunks at 481-487 MB).
MIN_CHUNK = 10
CHUNKS_PER_JOB = 16
MAX_DEFAULT_JOBS = 8  # more workers gain little and each holds its share of the output

# a chunk's files (those not put into the output's new folder), lint findings, spec errors,
# first build error, the files put (path → unchanged), and its dashboards' cross-file problems
# (crosscheck.dashboard_errors: a chunk with any renders nothing)
Result = tuple["Tree", list["Finding"], list[SpecError], BuildError | None, dict[str, bool],
               list[SpecError]]
Task = Callable[[Any, int, int], Any]

_SHARED: tuple[Task, Any] | None = None  # the task and its input, for forked workers


def default_jobs() -> int:
    """The CPUs this process may run on, at most MAX_DEFAULT_JOBS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_JOBS))


def chunks(count: int, jobs: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` ranges covering ``range(count)`` for ``jobs`` processes:
    one range when one process should do it all."""
    if jobs <= 1 or count < PARALLEL_MIN_DASHBOARDS:
        return [(0, count)]
    parts = max(2, min(count // MIN_CHUNK, jobs * CHUNKS_PER_JOB))
    bounds = [round(i * count / parts) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts)]


def run_chunks(task: Task, shared: Any, count: int, jobs: int,
               meanwhile: Callable[[], None] | None = None) -> Results:
    """``task(shared, start, stop)`` for consecutive chunks of ``range(count)``, yielded in
    order (so a caller can use and drop each before the next): in up to ``jobs`` forked
    processes when ``count`` is large, else in this process, MIN_CHUNK items at a time.
    ``meanwhile()``, other work of this process, runs while the workers work (in one process:
    after the chunks).

    The workers start at once, on every chunk, whether or not the results are read yet; the
    iterator's ``close()`` stops them (as does reading the last result, or an error).
    ``task`` must be a module-level function; ``shared`` reaches the workers by ``fork`` (not
    pickled), and each result comes back pickled.
    """
    ranges = chunks(count, jobs)
    if len(ranges) > 1 and sys.platform.startswith("linux"):
        pool = _start_pool(task, shared, min(jobs, len(ranges)))
        if pool is not None:
            return Chunks(pool, ranges, meanwhile)
    return _in_process(task, shared, count, meanwhile)


def _in_process(task: Task, shared: Any, count: int, meanwhile: Callable[[], None] | None
                ) -> Generator[Any, None, None]:
    for start in range(0, count, MIN_CHUNK):
        yield task(shared, start, min(count, start + MIN_CHUNK))
    if meanwhile is not None:
        meanwhile()


class Chunks:
    """The results of the chunks handed to a pool of forked workers, in order. A result lives
    only as long as the caller keeps it (each is dropped from here when read)."""

    def __init__(self, pool: Any, ranges: list[tuple[int, int]],
                 meanwhile: Callable[[], None] | None) -> None:
        from collections import deque

        self._pool: Any = pool
        self._pending: deque[Any] = deque()
        try:
            self._pending.extend(pool.submit(_worker, start, stop) for start, stop in ranges)
        except BaseException:
            self.close()
            raise
        self._meanwhile = meanwhile

    def __iter__(self) -> Chunks:
        return self

    def __next__(self) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self._meanwhile is not None:
                meanwhile, self._meanwhile = self._meanwhile, None
                meanwhile()
            if not self._pending:
                raise StopIteration
            return self._pending.popleft().result()
        except BrokenProcessPool:
            self.close()
            raise EnvironmentProblem(
                "a worker process of the parallel build died (out of memory?); "
                "rerun with -j 1 to build in one process") from None
        except BaseException:  # the end, a failed task, Ctrl-C: no work goes on
            self.close()
            raise

    def close(self) -> None:
        """Stop the workers at once (they may be in the middle of a chunk)."""
        pool, self._pool = self._pool, None
        self._pending.clear()
        if pool is not None:
            _stop(pool)


# what run_chunks returns: its results in order; close() stops any work still going on
Results = Chunks | Generator[Any, None, None]


def _worker_init() -> None:
    import signal

    # Ctrl-C is the main process's to handle: it stops the workers (a worker turning it into a
    # failed task would go on with the next one).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker(start: int, stop: int) -> Any:
    assert _SHARED is not None, "worker started without its task"
    task, shared = _SHARED
    return task(shared, start, stop)


def _start_pool(task: Task, shared: Any, workers: int) -> Any:
    """A pool of forked workers holding ``(task, shared)``, or None when none can start."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _SHARED
    _SHARED = (task, shared)
    try:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                   mp_context=multiprocessing.get_context("fork"))
        # with fork, every worker starts here, at the first submit: a fork that fails (process
        # limits, a sandbox) fails now, before any work was handed out
        pool.submit(int).result()
        # every worker, kept here: a broken pool forgets its processes before they are reaped
        pool.mlops_dash_workers = list(pool._processes.values())
        return pool
    except (OSError, ValueError):
        return None
    finally:
        _SHARED = None  # the workers have their copy; this process needs none


def _stop(pool: Any) -> None:
    """Stop the pool at once: a finished build, an error or Ctrl-C leaves no work running."""
    processes = pool.mlops_dash_workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join()


def render_dashboards(spec_set: SpecSet, jobs: int, *, lint: bool = False,
                      stage: Stage | None = None,
                      meanwhile: Callable[[], Tree] | None = None,
                      checks: SetNames | None = None) -> tuple[Tree, list[Finding]]:
    """The files of every dashboard (DASHBOARD_STAGES), rendered in up to ``jobs`` processes;
    with ``lint``, also the error-level findings of the per-dashboard build checks
    (lint/runner.py), found in the same processes, for the caller to refuse. With ``stage``,
    the files of the outputs the platform selects are written into the output's new folder
    where they were rendered, as the render goes on (``stage.staged`` lists them), and only
    the others are returned. ``meanwhile()``'s files (those of the whole spec set) are made in
    this process while the workers render, and added after the dashboards' files; its
    problems are raised only when the dashboards have none, as if it had run after them.
    ``checks``: the set's names when each dashboard's cross-file checks are still to be made
    (pipeline.render_tree, unchecked): they are made before its render, and their problems
    win over everything else found, as when they are made before any render."""
    tree: Tree = {}
    findings: list[Finding] = []
    errors: list[SpecError] = []
    build_error: BuildError | None = None
    made: list[Tree] = []
    deferred: list[Exception] = []
    unchecked: list[SpecError] = []  # the dashboards' cross-file problems
    # on a set whose dashboards are not checked yet, any failure of the whole-set stages
    # waits for those checks (a refused set's problems are the ones to report)
    held = Exception if checks is not None else (SpecError, SpecErrors, BuildError)

    def whole_set() -> None:
        assert meanwhile is not None
        try:
            made.append(meanwhile())
        except held as exc:
            deferred.append(exc)

    # what every dashboard's render and lint read of all others, computed before the workers
    # fork: a worker computing it would walk every dashboard and so copy all their memory pages
    spec_set.dashboard_titles, spec_set.series_names  # noqa: B018
    results = run_chunks(render_range, (spec_set, lint, stage, checks),
                         len(spec_set.dashboards), jobs, None if meanwhile is None else whole_set)
    try:
        for part, part_findings, part_errors, part_build_error, staged, crossed in results:
            unchecked += crossed
            merge_tree(tree, part)
            findings += part_findings
            errors += part_errors
            build_error = build_error or part_build_error
            if stage is not None:
                stage.staged.update(staged)
    finally:
        results.close()
    if unchecked:
        raise SpecErrors(unchecked)
    if errors:
        raise SpecErrors(errors)
    if build_error is not None:
        raise build_error
    if deferred:
        raise deferred[0]
    for files in made:
        merge_tree(tree, files)
    return tree, findings


def render_range(shared: tuple[SpecSet, bool, Stage | None, SetNames | None], start: int,
                 stop: int) -> Result:
    """Render dashboards ``start:stop`` (and, with lint, check them: only when all rendered,
    as a failed render is reported alone); collect their problems instead of stopping at one.
    With a stage, put the files of a chunk without problems into it. With the set's names,
    make each dashboard's cross-file checks first: a chunk with problems there renders
    nothing."""
    from mlops_dash.pipeline import render_dashboard_files, select_outputs

    spec_set, lint, stage, checks = shared
    tree: Tree = {}
    errors: list[SpecError] = []
    build_error: BuildError | None = None
    docs = spec_set.dashboards[start:stop]
    if checks is not None:
        from mlops_dash.spec.crosscheck import dashboard_errors

        crossed = [e for doc in docs for e in dashboard_errors(checks, doc)]
        if crossed:
            return {}, [], [], None, {}, crossed
    for doc in docs:
        try:
            files = render_dashboard_files(spec_set, doc)
        except SpecErrors as exc:
            errors += exc.errors
        except SpecError as exc:
            errors.append(exc)
        except BuildError as exc:
            build_error = build_error or exc
        else:
            merge_tree(tree, files)
    findings: list[Finding] = []
    if lint and not errors and build_error is None:
        from mlops_dash.lint import runner

        findings = runner.build_findings(spec_set, tree, runner.dashboard_build_checks(), docs)
    staged: dict[str, bool] = {}
    if stage is not None and not (errors or build_error or findings):
        # a build that goes on writes them; one refused removes the new folder
        staged = stage.put(select_outputs(tree, spec_set.platform_model.outputs))
        tree = {}
    return tree, findings, errors, build_error, staged, []
