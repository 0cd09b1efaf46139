"""Large spec sets are loaded and rendered in several processes: same bytes, same errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from mlops_dash import parallel, pipeline
from mlops_dash.errors import BuildError, SpecError, SpecErrors
from mlops_dash.spec.loader import load_specs

N = parallel.PARALLEL_MIN_DASHBOARDS + 10


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec set large enough to be split between processes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import synth_specs
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path_factory.mktemp("synth") / "specs"
    synth_specs.write_specs(N, out)
    return out


@pytest.fixture()
def synth_copy(synth: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "specs"
    shutil.copytree(synth, dst)
    return dst


@pytest.fixture()
def worker_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks each parallel run really sent to worker processes."""
    calls: list[int] = []
    original = parallel._in_processes

    def spy(task, shared, ranges, jobs):
        results = original(task, shared, ranges, jobs)
        if results is not None:
            calls.append(len(results))
        return results

    monkeypatch.setattr(parallel, "_in_processes", spy)
    return calls


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
    assert len(worker_calls) == 2 and all(n >= 2 for n in worker_calls)  # load, render
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
    assert worker_calls, "the files were not parsed in worker processes"
    assert split == serial
    assert all(any(e.startswith(f"{p}:") for e in serial) for p in (first, middle, last))
    titel = [e for e in serial if "'titel'" in e]
    assert titel and titel[0].startswith(f"{first}:") and titel[0].split(":")[1].isdigit()
    assert any("webhook_url" in e for e in serial)
    assert all("hooks.slack.com" not in e for e in serial)  # the secret is never echoed


def test_a_render_error_is_the_same_from_a_worker(synth_copy, worker_calls):
    victim = sorted(synth_copy.glob("mlops-serving-health-*.yaml"))[-1]
    text = victim.read_text()
    assert "\ndescription: " in text
    victim.write_text(text.replace("\ndescription: ", "\ndescription: " + "x" * 1_100_000 + " ",
                                   1))
    messages = []
    for jobs in (1, 2):
        with pytest.raises(BuildError) as info:
            pipeline.build_tree(synth_copy, jobs=jobs)
        messages.append(str(info.value))
    assert worker_calls
    assert messages[0] == messages[1]
    assert victim.stem in messages[0] and "1 MiB" in messages[0]


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


def test_default_jobs_is_the_usable_cpus_capped():
    jobs = parallel.default_jobs()
    assert 1 <= jobs <= parallel.MAX_DEFAULT_JOBS
    assert jobs == min(len(os.sched_getaffinity(0)), parallel.MAX_DEFAULT_JOBS)
