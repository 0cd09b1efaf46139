"""`simulate --history` is bounded: a span beyond 90 days is refused with a clear error before
any file is created (99999999d once grew to gigabytes), also when an alert's own window asks
for it; every shipped scenario's default history is within the bound."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS
from mlops_dash import simulate as sim
from mlops_dash.errors import EnvironmentProblem
from mlops_dash.spec.loader import load_specs


def _simulate(*args, specs=SPECS):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "mlops_dash", "simulate", "--specs", str(specs),
                           "--no-serve", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_huge_history_is_refused_before_writing(tmp_path):
    out = tmp_path / "h.om"
    r = _simulate("--history", "9999d", "--openmetrics-out", str(out))
    assert r.returncode == 2, r.stderr
    assert ("error: --history (9999d) is not between 0 and 90d: the history is 4-minute "
            "samples of every series") in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_the_bound_is_90_days():
    world = sim.build_world(load_specs(SPECS))
    assert world.history_span("healthy", 90 * 86400.0) == 90 * 86400.0
    with pytest.raises(EnvironmentProblem, match="at most 90d"):
        world.history_span("healthy", 90 * 86400.0 + 1)
    with pytest.raises(EnvironmentProblem):
        world.history_span("healthy", 0.0)
    # every scenario's default history (what its alerts' windows read) fits
    for name in ["healthy", *world.scenarios]:
        assert 0 < world.history_span(name) <= sim.MAX_HISTORY_S, name


def test_an_alert_window_beyond_the_bound_is_refused_too(specs_copy):
    """An alert's window cannot ask simulate for more than the bound: the spec refuses a
    `for` plus `window` longer than 3 days (its promtool test must run in seconds) before any
    history is planned, so history_span's own check is the second line of defence."""
    from mlops_dash.errors import SpecErrors

    f = specs_copy / "cost-optimization.yaml"
    text = f.read_text()
    assert text.count("    window: 1d\n") == 1
    f.write_text(text.replace("    window: 1d\n", "    window: 200d\n"))
    with pytest.raises(SpecErrors, match="window` 200d"):
        load_specs(specs_copy)
    assert sim.MAX_HISTORY_S > 3 * 86400
