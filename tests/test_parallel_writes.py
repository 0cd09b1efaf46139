"""A build writes its dashboards' files where they render: the parallel render's workers put
them into the output's new folder (outdir.Stage) while the others still render. The folder
that results is the one the one-process build writes, byte for byte and mode for mode; a build
that is refused or cannot write leaves the previous output whole and nothing beside it."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SYNTH_DASHBOARDS
from test_environments import copy_example, edit
from test_hostile_output import leftovers, snapshot
from test_parallel import _oversize

from mlops_dash import conventions as cv
from mlops_dash import outdir, output, pipeline
from mlops_dash.errors import BuildError, EnvironmentProblem, SpecErrors


@pytest.fixture()
def puts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A file where every Stage.put, in whichever process, appends its pid and its paths."""
    log = tmp_path / "puts.log"
    original = outdir.Stage.put

    def spy(self, files):
        done = original(self, files)
        with open(log, "a", encoding="utf-8") as f:
            f.write("".join(f"{os.getpid()} {rel}\n" for rel in done))
        return done

    monkeypatch.setattr(outdir.Stage, "put", spy)
    return log


def _put_by(log: Path) -> dict[str, int]:
    by: dict[str, int] = {}
    for line in log.read_text().splitlines():
        pid, rel = line.split(" ", 1)
        assert rel not in by, f"{rel} put twice"
        by[rel] = int(pid)
    return by


def _one_process(specs: Path, out: Path) -> dict[str, tuple[str, ...]]:
    output.write_tree(pipeline.build_tree(specs, jobs=1), out)
    return snapshot(out)


def test_workers_write_the_files_a_one_process_build_writes(synth, tmp_path, puts,
                                                             worker_calls):
    want = _one_process(synth, tmp_path / "serial")
    out = tmp_path / "out"
    ((name, folder, report),) = pipeline.build_into(synth, out, jobs=2)
    assert worker_calls == ["parse_files", "render_range"]
    assert (name, folder) == (None, out)
    assert snapshot(out) == want
    assert report.written == sorted(rel for rel, (kind, *_) in want.items()
                                    if kind == "file" and rel != outdir.MANIFEST)
    assert not report.unchanged and not leftovers(out)
    by = _put_by(puts)
    # every dashboard's files were written by a worker, the whole-set files by this process
    dashboards = {rel for rel in report.written if rel.startswith("grafana/")}
    assert len(dashboards) == SYNTH_DASHBOARDS and dashboards <= set(by)
    assert os.getpid() not in set(by.values())
    assert cv.ALERTMANAGER_CONFIG_PATH not in by and cv.KUSTOMIZATION_PATH not in by


def test_a_rebuild_writes_only_what_changed(synth_copy, tmp_path, puts):
    out = tmp_path / "out"
    pipeline.build_into(synth_copy, out, jobs=2)
    inode = out.stat().st_ino
    files = sorted(rel for rel, (kind, *_) in snapshot(out).items()
                   if kind == "file" and rel != outdir.MANIFEST)
    ((_, _, same),) = pipeline.build_into(synth_copy, out, jobs=2)
    assert not same.written and same.unchanged == files
    assert out.stat().st_ino == inode and not leftovers(out)  # nothing swapped
    before = snapshot(out)
    spec = sorted(synth_copy.glob("mlops-serving-health-*.yaml"))[-1]
    spec.write_text(spec.read_text().replace("\ndescription: ", "\ndescription: Changed. ", 1))
    puts.unlink()
    ((_, _, report),) = pipeline.build_into(synth_copy, out, jobs=2)
    after = snapshot(out)
    assert report.written == sorted(rel for rel in after if after[rel] != before.get(rel)
                                    and after[rel][0] == "file" and rel != outdir.MANIFEST)
    assert report.written and all(spec.stem in rel for rel in report.written)
    by = _put_by(puts)
    assert set(report.written) <= set(by) and os.getpid() not in set(by.values())
    assert out.stat().st_ino != inode and not leftovers(out)
    assert after == _one_process(synth_copy, tmp_path / "serial")


def test_output_selection_holds_where_the_files_are_written(synth_copy, tmp_path, puts):
    platform = synth_copy / "platform.yaml"
    platform.write_text(platform.read_text().replace(
        "namespaces:\n", "outputs:\n  runbooks: false\n  prometheus_rule_manifests: false\n"
        "namespaces:\n", 1))
    want = _one_process(synth_copy, tmp_path / "serial")
    out = tmp_path / "out"
    pipeline.build_into(synth_copy, out, jobs=2)
    assert snapshot(out) == want
    assert not any(rel.startswith("runbooks/") for rel in want)
    assert not any(rel.startswith("runbooks/") or "/prometheusrule-" in rel
                   for rel in _put_by(puts))
    resources = yaml.safe_load((out / cv.KUSTOMIZATION_PATH).read_text())["resources"]
    bundle = out / "kubernetes"
    assert resources == sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.yaml")
                               if p.name != "kustomization.yaml")
    assert resources and not any(r.startswith("prometheusrule-") for r in resources)


def _refused(specs: Path, out: Path, error: type[Exception]) -> Exception:
    with pytest.raises(error) as info:
        pipeline.build_into(specs, out, jobs=2)
    return info.value


def test_a_refused_parallel_build_leaves_the_output_as_it_was(synth_copy, tmp_path, puts):
    out = tmp_path / "out"
    pipeline.build_into(synth_copy, out, jobs=2)
    before = snapshot(out)
    # lint refuses a dashboard of the last chunk: the other chunks were already put
    cost = sorted(synth_copy.glob("mlops-cost-optimization-*.yaml"))[-1]
    cost.write_text(cost.read_text().replace(
        'reason="spot_interrupted"', 'reasn="spot_interrupted"', 1))
    puts.unlink()
    err = _refused(synth_copy, out, SpecErrors)
    assert "[promql/unknown-label]" in str(err)
    assert _put_by(puts)  # files of other dashboards had been written into the new folder
    assert snapshot(out) == before and not leftovers(out)
    # a dashboard too big for Kubernetes: a build error of the first chunk
    cost.write_text(cost.read_text().replace('reasn="spot_interrupted"',
                                             'reason="spot_interrupted"', 1))
    _oversize(sorted(synth_copy.glob("mlops-serving-health-*.yaml"))[0])
    err = _refused(synth_copy, out, BuildError)
    assert "1 MiB" in str(err)
    assert snapshot(out) == before and not leftovers(out)


def test_a_worker_that_cannot_write_fails_the_build_cleanly(synth, tmp_path):
    """A real RLIMIT_FSIZE, inherited by the forked workers: each dashboard's JSON (~26 KB)
    is over it; the workers' EFBIG comes back as the build's placed environment problem."""
    out = tmp_path / "out"
    want = _one_process(synth, out)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    spec = sorted(synth.glob("mlops-serving-health-*.yaml"))[0]
    changed = tmp_path / "specs"
    shutil.copytree(synth, changed)
    (changed / spec.name).write_text(spec.read_text().replace(
        "\ndescription: ", "\ndescription: Changed. ", 1))
    r = subprocess.run([sys.executable, "-m", "mlops_dash", "build", "-q", "-j", "2",
                        "--specs", str(changed), "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300, preexec_fn=limit,
                       check=False)
    assert r.returncode == 2, r.stderr
    assert f"cannot write output in {out}" in r.stderr and "File too large" in r.stderr
    assert "Traceback" not in r.stderr
    assert snapshot(out) == want and not leftovers(out)


def test_a_put_outside_the_folder_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    with outdir.staging(out) as stage:
        for rel in ("../escape.txt", "/abs.txt", "a//b", outdir.MANIFEST):
            with pytest.raises(BuildError, match="refusing to write"):
                stage.put({rel: "x"})
        assert stage.put({"a/b.txt": "y"}) == {"a/b.txt": False}
        assert (stage.folder / "a" / "b.txt").read_text() == "y"
    assert not (tmp_path / "escape.txt").exists() and not out.exists()
    assert not leftovers(out)  # left without a finish: the new folder is gone


def test_an_environment_refused_leaves_every_environment_as_it_was(tmp_path):
    """Environments render one after the other into their own new folders (prod first); a
    problem in staging means prod's folder, rendered fine, is not replaced either."""
    specs, out = copy_example(tmp_path), tmp_path / "generated"
    assert len(pipeline.build_into(specs, out)) == 2
    before = {name: snapshot(out / name) for name in ("prod", "staging")}
    edit(specs / "platform.yaml", "value: 300,", "value: 350,")  # prod's threshold
    edit(specs / "environments" / "staging.yaml", "  latency_for: 30m", "  latency_for: 30")
    with pytest.raises(SpecErrors) as info:
        pipeline.build_into(specs, out)
    assert all("(environment staging)" in e.message for e in info.value.errors)
    assert {name: snapshot(out / name) for name in ("prod", "staging")} == before
    assert not leftovers(out / "prod") and not leftovers(out / "staging")
    edit(specs / "environments" / "staging.yaml", "  latency_for: 30", "  latency_for: 30m")
    built = pipeline.build_into(specs, out)
    assert [(name, folder) for name, folder, _ in built] == [("prod", out / "prod"),
                                                             ("staging", out / "staging")]
    assert "> 350" in (out / "prod" / "prometheus" / "mlops-serving-health.rules.yaml"
                       ).read_text()


def test_a_folder_where_the_output_should_be_is_refused_before_the_render(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a folder\n")
    with pytest.raises(EnvironmentProblem, match="is not a folder"):
        pipeline.build_into(ROOT / "specs", out)
    assert out.read_text() == "not a folder\n" and not leftovers(out)


def test_whole_set_files_are_made_here_while_the_workers_render(synth, tmp_path, monkeypatch,
                                                               worker_calls):
    import multiprocessing

    seen: list[tuple[int, int]] = []
    original = pipeline.whole_set_files

    def spy(spec_set):
        seen.append((os.getpid(), len(multiprocessing.active_children())))
        return original(spec_set)

    monkeypatch.setattr(pipeline, "whole_set_files", spy)
    want = _one_process(synth, tmp_path / "serial")
    seen.clear()
    pipeline.build_into(synth, tmp_path / "out", jobs=2)
    assert worker_calls == ["parse_files", "render_range"]
    assert seen == [(os.getpid(), 2)]  # in this process, both workers alive
    assert snapshot(tmp_path / "out") == want


def _failing_stage(spec_set):
    raise BuildError("a whole-set stage failed")


def test_a_whole_set_problem_waits_for_the_dashboards_problems(synth_copy, tmp_path,
                                                               monkeypatch, worker_calls):
    """The whole-set stages run beside the render, but their problems are reported as if they
    had run after it: a dashboard's problem first; else theirs, and nothing is written."""
    import multiprocessing

    monkeypatch.setattr(pipeline, "STAGES", [*pipeline.STAGES, _failing_stage])
    out = tmp_path / "out"
    err = _refused(synth_copy, out, BuildError)
    assert str(err) == "a whole-set stage failed"
    assert not out.exists() and not leftovers(out) and not multiprocessing.active_children()
    _oversize(sorted(synth_copy.glob("mlops-serving-health-*.yaml"))[-1])
    for jobs in (1, 2):
        with pytest.raises(BuildError) as info:
            pipeline.build_tree(synth_copy, jobs=jobs)
        assert "1 MiB" in str(info.value)
    assert worker_calls[:2] == ["parse_files", "render_range"]
