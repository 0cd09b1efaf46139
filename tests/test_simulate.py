"""The synthetic metric source: series, scenario derivation, history, HTTP server, CLI."""

from __future__ import annotations

import io
import subprocess
import time
import urllib.request

import pytest
from conftest import require_tool
from test_cli import run

from mlops_dash import simulate as sim


@pytest.fixture(scope="module")
def world(spec_set) -> sim.World:
    return sim.build_world(spec_set)


def parse_exposition(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_every_catalogue_metric_is_served(world, spec_set):
    text = world.exposition(world.timeline("healthy", time.time()), time.time())
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if not line.startswith("#")}
    for md in spec_set.catalogue_model.metrics:
        wanted = f"{md.name}_bucket" if md.type == "histogram" else md.name
        assert wanted in names, md.name


def test_one_scenario_per_alert(world, spec_set):
    alerts = {a.name for d in spec_set.dashboard_models() for a in d.alerts}
    assert set(world.scenarios) == alerts
    for name, sc in world.scenarios.items():
        assert sc.overrides, name


@pytest.mark.parametrize("comparison,threshold,unit", [
    (">", 0.1, "percentunit"), (">", 0, "short"), ("<", 0.99, "percentunit"),
    ("<", 50, "percent"), (">=", -0.2, "percentunit"), ("<=", 0, "short"),
])
def test_targets_lie_on_each_side_of_the_threshold(spec_set, comparison, threshold, unit):
    gauge = next(a for d in spec_set.dashboard_models() for a in d.alerts
                 if a.signal.shape == "gauge")
    alert = gauge.model_copy(
        update={"comparison": comparison, "threshold": threshold, "unit": unit})
    healthy, violating = sim.targets(alert)
    ops = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}
    assert ops[comparison](float(violating), float(threshold))
    assert not ops[comparison](float(healthy), float(threshold))
    if unit == "percentunit" and threshold > 0:
        assert 0 <= healthy <= 1 and 0 <= violating <= 1


def test_scenario_changes_only_its_alerts_series(world):
    t = time.time()
    healthy = parse_exposition(world.exposition(world.timeline("healthy", t), t))
    oom = parse_exposition(world.exposition(world.timeline("ResourceExhaustion", t), t))
    changed = {k for k in healthy if healthy[k] != oom[k] and not _cumulative(k)}
    assert changed
    assert all(k.startswith(("kube_pod_container_status_terminated_reason",
                             "kube_pod_status_reason")) for k in changed), changed


def _cumulative(key: str) -> bool:
    name = key.split("{")[0]
    return name.endswith(("_total", "_bucket", "_sum", "_count"))


def test_quantile_observation_respects_the_buckets():
    buckets = [5, 10, 25, 50, 100, 250, 500, 1000]
    hot = sim.quantile_observation(buckets, 0.95, ">", 300, 600)
    cold = sim.quantile_observation(buckets, 0.95, ">", 300, 150)
    assert sim.quantile_estimate(buckets, hot, 0.95) > 300
    assert sim.quantile_estimate(buckets, cold, 0.95) <= 300


def test_counters_never_decrease_across_a_switch(world):
    tl = world.timeline("healthy", 1_800_000_000)
    s = next(x for x in world.series if x.name == "istio_requests_total")
    before = world.value(s, tl, 1_800_000_100)
    tl.segments.append((1_800_000_100, "ErrorRateSpike"))
    assert world.value(s, tl, 1_800_000_100) == pytest.approx(before)
    assert world.value(s, tl, 1_800_000_200) >= before


def test_history_is_openmetrics_that_promtool_backfills(world, tmp_path):
    promtool = require_tool("promtool")
    buf = io.StringIO()
    anchor = time.time()
    n = world.write_openmetrics(buf, "ModelDegradation", anchor,
                                target_labels={"job": "sim", "instance": "x:1"})
    text = buf.getvalue()
    assert text.endswith("# EOF\n")
    samples = [line.rsplit(" ", 2) for line in text.splitlines()[:-1]]
    assert len(samples) == n > 0
    assert all(line[0].startswith("mlops_model_mae{") and 'job="sim"' in line[0]
               for line in samples)
    stamps = sorted({int(x[2]) for x in samples})
    assert stamps[-1] < anchor - 60 and stamps[-1] - stamps[0] >= 7 * 86400
    assert {b - a for a, b in zip(stamps, stamps[1:], strict=False)} == {sim.HISTORY_STEP_S}
    f = tmp_path / "h.om"
    f.write_text(text)
    r = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(f),
                        str(tmp_path / "blocks")], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert any((tmp_path / "blocks").iterdir())


def test_server_switches_scenarios_at_runtime(world):
    server = sim.Simulator(world).start()
    try:
        def oom() -> float:
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as r:
                values = parse_exposition(r.read().decode())
            return sum(v for k, v in values.items()
                       if k.startswith("kube_pod_container_status_terminated_reason")
                       and 'reason="OOMKilled"' in k)

        assert oom() == 0
        req = urllib.request.Request(f"{server.url}/scenario/ResourceExhaustion", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        assert oom() > 0
        with urllib.request.urlopen(f"{server.url}/scenarios/healthy/metrics", timeout=5) as r:
            assert "OOMKilled" in r.read().decode()
        bad = urllib.request.Request(f"{server.url}/scenario/NoSuchAlert", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bad, timeout=5)
    finally:
        server.stop()


def test_cli_lists_scenarios_and_writes_history(tmp_path):
    r = run("simulate", "--list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("healthy")
    assert any(line.startswith("ErrorRateSpike: ") for line in r.stdout.splitlines())
    # one line per situation, with what fires and what stays quiet
    for name in sim.situations(0.0):
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith(f"{name}: ")]
        assert len(lines) == 1 and "; fires: " in lines[0] and "; quiet: " in lines[0], name
    out = tmp_path / "cost.om"
    r = run("simulate", "--scenario", "CostAnomaly", "--no-serve", "--openmetrics-out", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().endswith("# EOF\n")
    assert 'node_total_hourly_cost{' in out.read_text()


def test_cli_refuses_an_unknown_scenario():
    r = run("simulate", "--scenario", "NoSuchAlert", "--no-serve")
    assert r.returncode == 2
    assert "unknown scenario 'NoSuchAlert'" in r.stderr


def error_share(world: sim.World, scenario: str) -> float:
    """5xx share of istio requests over a minute of the scenario, from the served counters, in
    the serving namespace the alert is scoped to (the simulated world also has Kubeflow's own,
    Istio-injected namespace with failing requests that must not count)."""
    tl = world.timeline(scenario, 1_800_000_000)
    t0, t1 = 1_800_000_000, 1_800_000_060

    def increase(pred) -> float:
        return sum(world.value(s, tl, t1) - world.value(s, tl, t0) for s in world.series
                   if s.name == "istio_requests_total" and pred(s.label_dict)
                   and s.label_dict.get("destination_workload_namespace") == "ml-serving")

    bad = increase(lambda d: d["response_code"].startswith("5"))
    return bad / increase(lambda d: True)


def test_scenarios_follow_the_threshold_in_the_spec(specs_copy):
    from mlops_dash.spec.loader import load_specs

    world = sim.build_world(load_specs(specs_copy))
    assert error_share(world, "ErrorRateSpike") == pytest.approx(0.04)
    assert error_share(world, "healthy") == pytest.approx(0.01)
    spec = specs_copy / "serving-health.yaml"
    spec.write_text(spec.read_text().replace("threshold: 0.02", "threshold: 0.3"))
    world = sim.build_world(load_specs(specs_copy))
    assert error_share(world, "ErrorRateSpike") == pytest.approx(0.6)
    assert error_share(world, "healthy") == pytest.approx(0.15)


def test_a_situation_adds_its_series_to_the_healthy_world(world):
    server = sim.Simulator(world, "resource-events").start()
    try:
        def get(path: str) -> str:
            with urllib.request.urlopen(f"{server.url}{path}", timeout=5) as r:
                return r.read().decode()

        live = get("/metrics")
        assert 'pod="sim-step-oom-now"' in live and 'pod="worker-0"' in live
        alone = get("/situations/resource-events/metrics")
        assert 'pod="sim-step-oom-now"' in alone and 'pod="worker-0"' not in alone
        every = get("/situations/metrics")
        assert all(f'"{n}"' in every for n in ("sim-new-pipeline", "sim-gappy-model",
                                               "sim-drift-stopped", "centraldashboard"))
        server.switch(sim.HEALTHY)
        assert "sim-step-oom-now" not in get("/metrics")
        server.switch("estate")
        assert 'exported_namespace="ml-training"' in get("/metrics")
        with pytest.raises(urllib.error.HTTPError):
            get("/situations/no-such/metrics")
    finally:
        server.stop()
