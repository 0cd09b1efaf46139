"""Shared fixtures: the repository, the shipped specs and their rendered tree."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from mlops_dash import parallel, pipeline
from mlops_dash.spec.loader import SpecSet, load_specs

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GENERATED = ROOT / "generated"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def spec_set() -> SpecSet:
    return load_specs(SPECS)


@pytest.fixture(scope="session")
def tree(spec_set: SpecSet) -> dict[str, str]:
    return pipeline.render_tree(spec_set)


@pytest.fixture()
def specs_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped specs."""
    dst = tmp_path / "specs"
    shutil.copytree(SPECS, dst)
    return dst

# -- a spec set large enough to be split between processes (tests/test_parallel*.py)

SYNTH_DASHBOARDS = parallel.PARALLEL_MIN_DASHBOARDS + 10  # split between processes


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec set large enough to be split between processes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import synth_specs
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    out = tmp_path_factory.mktemp("synth") / "specs"
    synth_specs.write_specs(SYNTH_DASHBOARDS, out)
    return out


@pytest.fixture()
def synth_copy(synth: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "specs"
    shutil.copytree(synth, dst)
    return dst


@pytest.fixture()
def worker_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The steps (task names) that really ran in worker processes, in order."""
    calls: list[str] = []
    original = parallel._start_pool

    def spy(task, shared, workers):
        pool = original(task, shared, workers)
        if pool is not None:
            calls.append(task.__name__)
        return pool

    monkeypatch.setattr(parallel, "_start_pool", spy)
    return calls


def require_tool(name: str) -> str:
    """Path of a real tool; the suite installs them (`make tools`), so absence is a failure."""
    found = shutil.which(name)
    assert found, f"{name} is not installed; run `make tools` (Debian packages)"
    return found


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One real `mlflow server` on loopback for the whole session (it starts slowly)."""
    from mlflow_support import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()
