"""Large spec sets are loaded and rendered in several processes: same bytes, same errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SYNTH_DASHBOARDS

from mlops_dash import parallel, pipeline
from mlops_dash.errors import BuildError, SpecError, SpecErrors
from mlops_dash.spec.loader import load_specs

N = SYNTH_DASHBOARDS


@pytest.mark.parametrize("count", [0, 1, 39, 40, 41, 99, 1000, 1002])
@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_chunks_cover_every_dashboard_once_in_order(count, jobs):
    ranges = parallel.chunks(count, jobs)
    assert [i for start, stop in ranges for i in range(start, stop)] == list(range(count))
    if jobs == 1 or count < parallel.PARALLEL_MIN_DASHBOARDS:
        assert ranges == [(0, count)]
    else:
        assert 2 <= len(ranges) <= jobs * parallel.CHUNKS_PER_JOB
        assert all(stop - start >= parallel.MIN_CHUNK for start, stop in ranges)


def test_parallel_build_gives_the_same_files(synth, worker_calls):
    serial = pipeline.build_tree(synth, jobs=1)
    assert worker_calls == []
    split = pipeline.build_tree(synth, jobs=2)
    assert worker_calls == ["parse_files", "render_range"]
    assert split == serial
    assert len([rel for rel in split if rel.startswith("grafana/")]) == N


def test_small_spec_sets_stay_in_one_process(worker_calls):
    pipeline.build_tree(ROOT / "specs", jobs=8)
    assert worker_calls == []


def _errors(specs: Path, jobs: int) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        pipeline.build_tree(specs, jobs=jobs)
    return [e.format() for e in info.value.errors]


def test_spec_errors_in_several_files_are_all_reported_alike(synth_copy, worker_calls):
    files = sorted(p for p in synth_copy.glob("mlops-*.yaml"))
    first, middle, last = files[0], files[len(files) // 2], files[-1]
    first.write_text(first.read_text().replace("\ntitle: ", "\ntitel: ", 1))
    middle.write_text(middle.read_text() + "  bad: [unclosed\n")
    last.write_text(last.read_text().replace(
        "\ndescription: ", "\nwebhook_url: https://hooks.slack.com/services/T0/B0/x\n"
                           "description: ", 1))
    serial = _errors(synth_copy, 1)
    split = _errors(synth_copy, 2)
    assert worker_calls == ["parse_files"]  # problems found while reading stop the build there
    assert split == serial
    assert all(any(e.startswith(f"{p}:") for e in serial) for p in (first, middle, last))
    titel = [e for e in serial if "'titel'" in e]
    assert titel and titel[0].startswith(f"{first}:") and titel[0].split(":")[1].isdigit()
    assert any("webhook_url" in e for e in serial)
    assert all("hooks.slack.com" not in e for e in serial)  # the secret is never echoed


def test_cross_file_errors_found_where_the_dashboards_render_are_the_builds(
        synth_copy, tmp_path, worker_calls):
    """build and check make each dashboard's cross-file checks where it renders (pipeline.
    render_tree, unchecked; in the workers here): their problems are reported as when the
    whole set is checked before the render (load_specs), whatever else the workers found in
    the set they refuse, and a build writes nothing."""
    serving = sorted(synth_copy.glob("mlops-serving-health-*.yaml"))
    first, last = serving[0], serving[-1]  # rendered by different workers
    for spec in (first, last):  # a panel naming an alert no dashboard has (a dashboard check)
        text = spec.read_text()
        at = text.index("\n  alerts:\n  - ") + len("\n  alerts:\n  - ")
        spec.write_text(text[:at] + "NoSuchAlert\n  - " + text[at:])
    _oversize(serving[len(serving) // 2])  # a build error of another worker's chunk
    found = []
    for jobs in (1, 2):
        with pytest.raises(SpecErrors) as info:
            pipeline.build_trees(synth_copy, jobs=jobs)
        found.append([e.format() for e in info.value.errors])
    assert worker_calls == ["parse_files", "render_range"]
    serial, split = found
    with pytest.raises(SpecErrors) as checked_first:
        load_specs(synth_copy)
    assert split == serial == [e.format() for e in checked_first.value.errors]
    assert [e.split(":", 1)[0] for e in serial] == [str(first), str(last)]
    assert all("no alert named 'NoSuchAlert'" in e for e in serial)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("mine\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "mlops_dash", "build", "-j", "2", "--specs",
                        str(synth_copy), "--out", str(out)], env=env, capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("no alert named 'NoSuchAlert'") == 2 and "1 MiB" not in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "specs"]  # no new folder left
    assert [p.name for p in out.iterdir()] == ["kept.txt"]


def _oversize(spec: Path) -> None:
    text = spec.read_text()
    assert "\ndescription: " in text
    spec.write_text(text.replace("\ndescription: ", "\ndescription: " + "x" * 1_100_000 + " ", 1))


def _underivable(spec: Path) -> None:
    """PipelineStuck* compared with "<": no promtool case can be derived for it."""
    import re

    text = spec.read_text()
    start = text.index("- name: PipelineStuck")
    found = re.compile(r"comparison: ['\"]>['\"]").search(text, start)
    assert found
    spec.write_text(text[:found.start()] + 'comparison: "<"' + text[found.end():])


def test_render_errors_from_workers_are_reported_alike(synth_copy, worker_calls):
    serving = sorted(synth_copy.glob("mlops-serving-health-*.yaml"))
    first, last = serving[0], serving[-1]  # in the first and the last chunk
    _oversize(last)
    _oversize(first)
    messages = []
    for jobs in (1, 2):
        with pytest.raises(BuildError) as info:
            pipeline.build_tree(synth_copy, jobs=jobs)
        messages.append(str(info.value))
    assert worker_calls == ["parse_files", "render_range"]
    assert messages[0] == messages[1]
    assert first.stem in messages[0] and "1 MiB" in messages[0]  # the first in dashboard order


def test_spec_errors_found_while_rendering_win_over_build_errors(synth_copy, worker_calls):
    _oversize(sorted(synth_copy.glob("mlops-serving-health-*.yaml"))[0])
    pipelines = sorted(synth_copy.glob("mlops-pipeline-reliability-*.yaml"))
    _underivable(pipelines[-1])
    _underivable(pipelines[len(pipelines) // 2])
    serial = _errors(synth_copy, 1)
    split = _errors(synth_copy, 2)
    assert worker_calls == ["parse_files", "render_range"]
    assert split == serial and len(serial) == 2
    assert all("cannot derive promtool cases for PipelineStuck" in e for e in serial)
    assert [e.split(":", 1)[0] for e in serial] == [
        str(pipelines[len(pipelines) // 2]), str(pipelines[-1])]


def test_build_time_lint_in_workers_refuses_alike(synth_copy, worker_calls):
    """The per-dashboard build checks run where the dashboards render: the same placed
    errors, with their check ids, from dashboards of the first and the last chunk."""
    cost = sorted(synth_copy.glob("mlops-cost-optimization-*.yaml"))
    first, last = cost[0], cost[-1]
    first.write_text(first.read_text().replace("unit: currencyUSD", "unit: dollars", 1))
    last.write_text(last.read_text().replace(
        'reason="spot_interrupted"', 'reasn="spot_interrupted"', 1))
    serial = _errors(synth_copy, 1)
    split = _errors(synth_copy, 2)
    assert worker_calls == ["parse_files", "render_range"]
    assert split == serial and len(serial) == 2
    assert serial[0].startswith(f"{first}:") and serial[0].endswith("[dashboard/panel-unit]")
    assert serial[1].startswith(f"{last}:") and "reasn" in serial[1]
    assert serial[1].endswith("[promql/unknown-label]")
    # a dashboard that cannot render is reported alone: its chunk's findings wait for it
    _underivable(sorted(synth_copy.glob("mlops-pipeline-reliability-*.yaml"))[-1])
    alone = _errors(synth_copy, 2)
    assert len(alone) == 1 and "cannot derive promtool cases for PipelineStuck" in alone[0]


def test_without_worker_processes_the_build_still_succeeds(synth, monkeypatch):
    import multiprocessing

    def refuse(*_args, **_kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing, "get_context", refuse)
    assert pipeline.build_tree(synth, jobs=2) == pipeline.build_tree(synth, jobs=1)


def test_errors_cross_process_boundaries_intact():
    import pickle

    err = SpecError("a.yaml", "bad value", line=3, column=5, path="alerts[0].for")
    again = pickle.loads(pickle.dumps(SpecErrors([err, SpecError("b.yaml", "other")])))
    assert [e.format() for e in again.errors] == ["a.yaml:3:5: alerts[0].for: bad value",
                                                   "b.yaml: other"]
    assert (again.errors[0].line, again.errors[0].column) == (3, 5)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "mlops_dash", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)


def test_cli_jobs_option(synth, tmp_path):
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        r = run_cli("build", "-q", "--jobs", jobs, "--specs", str(synth), "--out", str(out))
        assert r.returncode == 0, r.stderr
        outs.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert outs[0] == outs[1]
    r = run_cli("check", "-j", "2", "--specs", str(synth), "--out", str(tmp_path / "out-1"))
    assert r.returncode == 0, r.stderr
    r = run_cli("build", "--jobs", "0", "--specs", str(synth), "--out", str(tmp_path / "x"))
    assert r.returncode == 2 and "--jobs" in r.stderr
    assert not (tmp_path / "x").exists()
    assert len(load_specs(synth).dashboards) == N


@pytest.mark.parametrize(("cpus", "jobs"), [(1, 1), (2, 2), (3, 3), (64, 8)])
def test_default_jobs_is_the_usable_cpus_capped(monkeypatch, cpus, jobs):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    assert parallel.default_jobs() == jobs


# --------------------------------------------------------------- workers: failures, stopping


def _count(_shared, start, stop):
    return list(range(start, stop))


def _fails_in_chunk_two(_shared, start, stop):
    if start > 0 and os.getpid() != _shared:
        raise ValueError(f"bug in chunk starting at {start}")
    return stop - start


def _dies(_shared, start, stop):
    if start > 0:
        os._exit(3)
    return stop - start


def _child_processes() -> list[str]:
    """This process's children started by the test, as the kernel sees them (not yet reaped
    ones included); servers of session fixtures (e.g. the MLflow server) are left out."""
    return sorted(set(_all_children()) - _BEFORE)


def _all_children() -> list[str]:
    found = []
    for thread in Path("/proc/self/task").iterdir():
        try:
            found += (thread / "children").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
    return sorted(found)


_BEFORE: set[str] = set()


@pytest.fixture(autouse=True)
def _children_before():
    global _BEFORE
    _BEFORE = set(_all_children())
    yield


def test_run_chunks_yields_every_item_once_in_order():
    for jobs in (1, 2):
        assert [i for part in parallel.run_chunks(_count, None, 95, jobs) for i in part] == \
            list(range(95))


def test_a_bug_in_a_worker_is_raised_once_not_retried_in_this_process():
    with pytest.raises(ValueError, match="bug in chunk starting at"):
        list(parallel.run_chunks(_fails_in_chunk_two, os.getpid(), 100, 2))


def test_a_dead_worker_fails_the_build_with_advice():
    from mlops_dash.errors import EnvironmentProblem

    with pytest.raises(EnvironmentProblem, match="-j 1"):
        list(parallel.run_chunks(_dies, None, 100, 2))
    assert _child_processes() == []


def test_stopping_early_stops_the_workers():
    parts = parallel.run_chunks(_count, None, 100, 2)
    assert next(parts) == list(range(0, 10))  # chunks(100, 2): 10 chunks of 10
    assert len(_child_processes()) == 2
    parts.close()
    assert _child_processes() == []


INTERRUPTED = """
import sys, time
from mlops_dash import parallel
def slow(_shared, start, stop):
    time.sleep(0.4)
    return stop - start
print("started", flush=True)
print(sum(parallel.run_chunks(slow, None, 400, 2)), flush=True)
"""


def test_ctrl_c_stops_a_parallel_run_at_once():
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED + "# ctrl-c-probe"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout.readline() == "started\n"
    time.sleep(0.6)  # 16 chunks of 0.4 s on 2 workers: 3.2 s if it ran to the end
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to the workers too
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 0.5, "the workers went on with the queued chunks"
    assert proc.returncode != 0 and out == "" and "KeyboardInterrupt" in err
    left = subprocess.run(["pgrep", "-f", "ctrl-c-probe"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "worker processes outlived the interrupted run"


EARLY = """
import sys
from mlops_dash import parallel
from mlops_dash.cli import main
seen = []
original = parallel._start_pool
def spy(task, shared, workers):
    seen.append((task.__name__, "mlops_dash.spec.models" in sys.modules, "jinja2" in sys.modules))
    return original(task, shared, workers)
parallel._start_pool = spy
sys.argv[1:] = ["build", "-q", "-j", "2", "--specs", sys.argv[1], "--out", sys.argv[2]]
try:
    main()
except SystemExit as exc:
    print(seen, exc.code)
"""


def test_the_parse_workers_start_before_the_models_are_imported(synth, tmp_path):
    """`build` and `check` start parsing a large folder first and import the spec models and
    renderers while the workers parse (spec/parsing.py); the output is the same."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", EARLY, str(synth), str(out)], env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("[('parse_files', False, False), "
                                "('render_range', True, True)] 0"), r.stdout
    assert pipeline.build_tree(synth, jobs=1) == {
        p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*")
        if p.is_file() and p.name != ".mlops-dash-files"}
    r = run_cli("check", "-j", "2", "--specs", str(synth), "--out", str(out))
    assert r.returncode == 0, r.stderr
