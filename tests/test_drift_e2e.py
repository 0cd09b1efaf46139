"""Drift job end to end: shifted data → `mlops-dash drift` → real Pushgateway → real Prometheus
with the shipped rules → FeatureDriftDetected and PredictionAnomaly; Pushgateway faults.

The Pushgateway's grouping and PUT semantics are those of prometheus/pushgateway README
("PUT ... replaces all metrics of the group", grouping key in the URL path); Prometheus scrapes
it with honor_labels as the shipped ServiceMonitor does.
"""

from __future__ import annotations

import time
from pathlib import Path

import e2e_support as es
import jobs_support as js
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import GENERATED

from mlops_dash.spec.base import duration_seconds

pytestmark = pytest.mark.e2e
RULES = [GENERATED / "prometheus" / "mlops-drift-data-quality.rules.yaml",
         GENERATED / "prometheus" / "mlops-model-performance.rules.yaml"]
FOR_IN_TEST = "4s"  # each shipped `for` (hours) compressed; the expressions are unchanged


def compressed_rules(dst: Path, keep: set[str]) -> list[Path]:
    """The shipped rule files with only the alerts in ``keep`` and every `for` set to 4s."""
    out = []
    for src in RULES:
        doc = yaml.safe_load(src.read_text())
        for g in doc["groups"]:
            g["rules"] = [r for r in g["rules"] if r.get("alert") in keep]
            for r in g["rules"]:
                if duration_seconds(r.get("for", "0s")) > 0:
                    r["for"] = FOR_IN_TEST
        doc["groups"] = [g for g in doc["groups"] if g["rules"]]
        if doc["groups"]:
            out.append(dst / src.name)
            out[-1].write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def rule_for(name: str) -> str:
    for src in RULES:
        for g in yaml.safe_load(src.read_text())["groups"]:
            for r in g["rules"]:
                if r.get("alert") == name:
                    return str(r.get("for", "0s"))
    raise AssertionError(f"{name} is not in the shipped rules")


def write_windows(folder: Path, model: str, shift: float, n: int = 5000) -> dict:
    rng = np.random.default_rng(42)
    ref = pd.DataFrame({"price": rng.normal(10, 2, n), "traffic": rng.gamma(2, 50, n),
                        "region": rng.choice(["north", "south", "east"], n),
                        "prediction": rng.normal(100, 15, n)})
    cur = pd.DataFrame({"price": rng.normal(10 + 2 * shift, 2, n),
                        "traffic": rng.gamma(2, 50, n),
                        "region": rng.choice(["north", "south", "east"], n),
                        "prediction": rng.normal(100 + 15 * shift, 15, n)})
    ref.to_parquet(folder / f"{model}-ref.parquet")
    cur.to_csv(folder / f"{model}-cur.csv", index=False)
    return {"model": model, "reference": {"path": str(folder / f"{model}-ref.parquet")},
            "current": {"path": str(folder / f"{model}-cur.csv")},
            "features": [{"name": "price"}, {"name": "traffic"},
                         {"name": "region", "kind": "categorical"}],
            "prediction": "prediction"}


def jobs_file(folder: Path, checks: list[dict], **pushgateway: object) -> Path:
    f = folder / "jobs.yaml"
    pg = {"deploy": False, "url": "http://unused.invalid:9091", **pushgateway}
    f.write_text(yaml.safe_dump({"apiVersion": "mlops-dash/v1", "kind": "CollectorJobs",
                                 "jobs": {"pushgateway": pg, "drift": checks}}))
    return f


@pytest.fixture()
def pushgateway(tmp_path):
    pg = js.Pushgateway(tmp_path).start()
    yield pg
    pg.stop()


def test_shifted_data_fires_drift_alerts_and_steady_data_does_not(tmp_path, pushgateway):
    config = jobs_file(tmp_path, [write_windows(tmp_path, "demand-forecast", shift=1.0),
                                  write_windows(tmp_path, "churn", shift=0.0)])
    r = js.run_cli("drift", "--config", str(config), "--pushgateway", pushgateway.url)
    assert r.returncode == 0, r.stderr
    assert "DRIFT (> 0.2)" in r.stdout and "pushed group job=mlops-dash-drift model=churn" \
        in r.stdout
    alerts = {"FeatureDriftDetected", "PredictionAnomaly"}
    # the shipped liveness alerts must stay quiet while the job pushes on time
    liveness = {"DriftCheckStale", "PushgatewayGroupStale"}
    prom = js.prometheus_scraping(tmp_path / "prom",
                                  compressed_rules(tmp_path, alerts | liveness),
                                  pushgateway.url).start()
    try:
        seen: dict[str, list[str]] = {a: [] for a in alerts}

        def both_firing() -> bool:
            for a in prom.api("alerts")["alerts"]:
                name = a["labels"]["alertname"]
                assert name in alerts, a  # no liveness alert
                assert a["labels"]["model"] == "demand-forecast", a  # never the steady model
                if not seen[name] or seen[name][-1] != a["state"]:
                    seen[name].append(a["state"])
            return all(s and s[-1] == "firing" for s in seen.values())

        es.wait_for("both drift alerts firing", both_firing, 40, interval=0.2)
        if duration_seconds(rule_for("FeatureDriftDetected")) > 0:
            assert seen["FeatureDriftDetected"] == ["pending", "firing"]
        if duration_seconds(rule_for("PredictionAnomaly")) > 0:
            assert seen["PredictionAnomaly"] == ["pending", "firing"]
        else:  # no `for` in the shipped rule: firing at the first evaluation, no pending
            assert seen["PredictionAnomaly"] == ["firing"]
        drifted = {a["labels"]["feature"] for a in prom.api("alerts")["alerts"]
                   if a["labels"]["alertname"] == "FeatureDriftDetected"}
        assert drifted == {"price"}  # traffic and region did not move
        # the drift panel's and the liveness series arrive with their contract labels
        pv = prom.query('mlops_prediction_drift_pvalue{method="ks"}')
        assert {s["metric"]["model"] for s in pv} == {"demand-forecast", "churn"}
        assert prom.query("mlops_drift_check_last_success_timestamp_seconds"
                          '{job="mlops-dash-drift"}')
        loaded = {r["name"] for g in prom.api("rules")["groups"] for r in g["rules"]}
        assert liveness <= loaded  # they were evaluated, and stayed quiet
    finally:
        prom.stop()


def test_one_models_push_leaves_the_other_models_group(tmp_path, pushgateway):
    a, b = write_windows(tmp_path, "alpha", 1.0), write_windows(tmp_path, "beta", 0.0)
    assert js.run_cli("drift", "--config", str(jobs_file(tmp_path, [a, b])),
                      "--pushgateway", pushgateway.url).returncode == 0
    before = pushgateway.metrics_text()
    # beta alone, its current window now shifted: alpha's scores stay as they were
    b = write_windows(tmp_path, "beta", 1.0)
    r = js.run_cli("drift", "--config", str(jobs_file(tmp_path, [a, b])), "--model", "beta",
                   "--pushgateway", pushgateway.url)
    assert r.returncode == 0, r.stderr
    after = pushgateway.metrics_text()

    def lines(text: str, model: str) -> list[str]:
        return sorted(x for x in text.splitlines()
                      if x.startswith("mlops_feature_drift_score") and f'model="{model}"' in x)

    assert lines(after, "alpha") == lines(before, "alpha") != []
    assert lines(after, "beta") != lines(before, "beta")


def test_unreachable_pushgateway_retries_then_fails_and_pushes_nothing(tmp_path):
    port = es.free_port()  # nothing listens there
    config = jobs_file(tmp_path, [write_windows(tmp_path, "m", 1.0)], retries=2,
                       timeout="1s")
    start = time.monotonic()
    r = js.run_cli("drift", "--config", str(config), "--pushgateway",
                   f"http://127.0.0.1:{port}")
    took = time.monotonic() - start
    assert r.returncode == 1
    assert r.stderr.count("retrying in") == 2  # 1s then 2s: bounded
    assert "failed after 3 attempt(s)" in r.stderr and "nothing of this group was pushed" \
        in r.stderr
    assert "Traceback" not in r.stderr
    assert 3 <= took < 30


def test_a_model_with_bad_input_fails_the_run_but_the_others_push(tmp_path, pushgateway):
    good = write_windows(tmp_path, "good", 0.5)
    bad = {**good, "model": "bad", "current": {"path": str(tmp_path / "missing.parquet")}}
    r = js.run_cli("drift", "--config", str(jobs_file(tmp_path, [good, bad])),
                   "--pushgateway", pushgateway.url)
    assert r.returncode == 1
    assert f"drift bad: current: {tmp_path / 'missing.parquet'}: no such file" in r.stderr
    assert "Traceback" not in r.stderr
    models = {g["labels"].get("model") for g in pushgateway.groups()}
    assert models == {"good"}
