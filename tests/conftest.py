"""Shared fixtures: the repository, the shipped specs and their rendered tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_dash import pipeline
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
