"""The console script ends a finished build at once (mlops_dash/exiting.py), and that changes
nothing a user sees: exit statuses, messages on piped output, the output folder after a refused
build. Each case runs `python -m mlops_dash` as a process, as a user's shell or CI does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_dash import exiting

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

# registers an atexit handler, then runs the console script's entry point: the handler's
# line shows whether the process ended normally (it ran) or at once (it did not)
PROBE = """
import atexit, sys
atexit.register(lambda: print("atexit ran", file=sys.stderr, flush=True))
from mlops_dash.cli import run
sys.argv[0] = "mlops-dash"
run()
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_build_ends_at_once_with_its_message_and_status(tmp_path):
    out = tmp_path / "out"
    done = _run("build", "--specs", str(ROOT / "specs"), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # standard output is a pipe here (block-buffered): flushed before the process ended
    assert done.stdout.startswith(f"built 72 files into {out}: 72 written")
    assert "atexit ran" not in done.stderr
    checked = _run("check", "--specs", str(ROOT / "specs"), "--out", str(out), cwd=tmp_path)
    assert checked.returncode == 0 and "is up to date (72 files)" in checked.stdout
    assert "atexit ran" not in checked.stderr


def test_a_refused_build_keeps_its_status_messages_and_old_output(tmp_path):
    specs = tmp_path / "specs"
    subprocess.run([sys.executable, "-m", "mlops_dash", "init", str(tmp_path)], env=ENV,
                   check=True, capture_output=True)
    out = tmp_path / "out"
    assert _run("build", "--specs", str(specs), "--out", str(out), cwd=tmp_path).returncode == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    dashboard = next(p for p in specs.glob("*.yaml") if "kind: Dashboard" in p.read_text())
    dashboard.write_text(dashboard.read_text().replace("kind: Dashboard", "kind: Dashboard\n"
                                                      "bogus_field: 1", 1))
    refused = _run("build", "--specs", str(specs), "--out", str(out), cwd=tmp_path)
    assert refused.returncode == 1
    assert "bogus_field" in refused.stderr and "nothing was written" in refused.stderr
    assert "atexit ran" not in refused.stderr
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_usage_errors_and_other_commands_end_as_before(tmp_path):
    usage = _run("build", "--no-such-option", cwd=tmp_path)
    assert usage.returncode == 2 and "No such option" in usage.stderr
    # a collector command (its libraries may flush in atexit) ends normally
    helped = _run("drift", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "atexit ran" in helped.stderr
    version = _run("--version", cwd=tmp_path)
    assert version.returncode == 0 and "atexit ran" in version.stderr


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (1, 1), (2, 2), (256 + 3, 3),
                                              (True, None), ("a message", None)])
def test_exit_codes_map_as_sys_exit_does(code, status):
    assert exiting.status_of(code) == status


def test_a_closed_standard_output_gives_pythons_status(tmp_path):
    """`mlops-dash routes | head -1` style: the reader has gone when the output is flushed."""
    script = ("import os, sys\n"
              "from mlops_dash import exiting\n"
              "r, w = os.pipe(); os.close(r)\n"
              "sys.stdout = os.fdopen(w, 'w')\n"
              "sys.stdout.write('x' * 10)\n"
              "exiting.at_once(0)\n")
    done = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == exiting.FLUSH_FAILED


KEPT_PROBE = """
import gc, sys
from mlops_dash import exiting
from mlops_dash.cli import run
real = exiting.at_once
def report(status):
    print("kept", len(exiting._KEPT), "gc", gc.isenabled(), file=sys.stderr, flush=True)
    real(status)
exiting.at_once = report
sys.argv[0] = "mlops-dash"
run()
"""


def test_the_spec_set_is_kept_to_the_end_only_in_a_process_ending_at_once(tmp_path):
    """exiting.keep: the console script's build holds its parsed and validated spec set (and
    leaves the collector off) to its end, freeing nothing; the pipeline called in a process
    (tests, other callers) holds nothing and turns the collector back on."""
    import gc

    from mlops_dash import pipeline

    done = subprocess.run([sys.executable, "-c", KEPT_PROBE, "build", "-q", "--specs",
                           str(ROOT / "specs"), "--out", str(tmp_path / "out")], env=ENV,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "kept 2 gc False" in done.stderr  # the folder read and its spec set
    assert gc.isenabled()
    pipeline.build_trees(ROOT / "specs")
    assert exiting._KEPT == [] and gc.isenabled()
