"""Drift job end to end: shifted data → `mlops-dash drift` → real Pushgateway → real Prometheus
with the shipped rules → FeatureDriftDetected and PredictionAnomaly; Pushgateway faults.

The Pushgateway's grouping and PUT semantics are those of prometheus/pushgateway README
("PUT ... replaces all metrics of the group", grouping key in the URL path); Prometheus scrapes
it with honor_labels as the shipped ServiceMonitor does.
"""

from __future__ import annotations

import re
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


SERIES = re.compile(r'^(\w+)\{(.*)\} (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
STEP_S = 300  # the rule's subquery step ([6h:5m]): a check is seen at the next 5m boundary
QUIET_PHASE_S = 25  # the push and the quiet phase take ~12s


def pushed_series(text: str, names: set[str]) -> list[tuple[str, dict[str, str], float]]:
    """The Pushgateway's series of ``names``, with the labels Prometheus keeps (no empty ones)."""
    out = []
    for line in text.splitlines():
        m = SERIES.match(line)
        if m and m.group(1) in names:
            labels = {k: v for k, v in LABEL.findall(m.group(2)) if v}
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def history(pushed: list[tuple[str, dict[str, str], float]],
            checks: list[tuple[float, bool]], end: int, workdir: Path,
            scrape_s: int = 60) -> Path:
    """OpenMetrics of what Prometheus would have scraped from the Pushgateway while the drift
    job ran hourly ``checks`` (time, shifted model breaching?) before ``end``: each check
    pushes the scores (the pushed ones when breaching, 0 when not; the steady model's always)
    and its last-success timestamp, the series the live push continues."""
    om = workdir / "history.om"
    with om.open("w", encoding="utf-8") as f:
        for ts in range(int(checks[0][0]), end, scrape_s):
            at, breaching = [c for c in checks if c[0] <= ts][-1]
            for name, labels, value in pushed:
                if name == "mlops_drift_check_last_success_timestamp_seconds":
                    value = at
                elif labels.get("model") == "demand-forecast" and not breaching:
                    value = 0.0
                body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                f.write(f"{name}{{{body}}} {value!r} {ts}\n")
        f.write("# EOF\n")
    return om


def test_shifted_data_fires_drift_alerts_and_steady_data_does_not(tmp_path, pushgateway):
    """FeatureDriftDetected counts checks, not time: three consecutive breaching checks (the
    last-success timestamp changing between them), however late the third, as its [6h:5m]
    subquery sees them. Checks pushed seconds apart would fall in one 5m step and count once,
    and a check is not seen by the subquery before the next 5m boundary: so the earlier hourly
    checks are the scrape history of the same series, backfilled into the TSDB before
    Prometheus starts, and the live push of `mlops-dash drift` is the latest check. The rule
    expression is the shipped one; only group intervals and `for` are compressed."""
    assert duration_seconds(rule_for("FeatureDriftDetected")) == 0  # checks, not `for`
    # the live push must not be seen by the subquery during the quiet phase: no 5m boundary
    # may pass from the push to that phase's end
    if STEP_S - time.time() % STEP_S < QUIET_PHASE_S:
        time.sleep(STEP_S - time.time() % STEP_S + 1)
    config = jobs_file(tmp_path, [write_windows(tmp_path, "demand-forecast", shift=1.0),
                                  write_windows(tmp_path, "churn", shift=0.0)])
    r = js.run_cli("drift", "--config", str(config), "--pushgateway", pushgateway.url)
    assert r.returncode == 0, r.stderr
    assert "DRIFT (> 0.2)" in r.stdout and "pushed group job=mlops-dash-drift model=churn" \
        in r.stdout
    pushed = pushed_series(pushgateway.metrics_text(),
                           {"mlops_feature_drift_score",
                            "mlops_drift_check_last_success_timestamp_seconds"})
    assert {lb.get("model") for _, lb, _ in pushed} == {"demand-forecast", "churn"}
    live = max(v for n, _, v in pushed
               if n == "mlops_drift_check_last_success_timestamp_seconds")
    boundary = int(live) - int(live) % STEP_S  # the last step the subquery sees, for now
    hour = 3600
    alerts = {"FeatureDriftDetected", "PredictionAnomaly"}
    # the shipped liveness alerts must stay quiet while the job pushes on time
    liveness = {"DriftCheckStale", "PushgatewayGroupStale"}

    def run(name: str, checks: list[tuple[float, bool]], until: str) -> dict[str, list[str]]:
        workdir = tmp_path / name
        workdir.mkdir()
        prom = js.prometheus_scraping(workdir / "prom",
                                      compressed_rules(workdir, alerts | liveness),
                                      pushgateway.url)
        om = history(pushed, [*checks, (live, True)], int(time.time()) - 2, workdir)
        es.import_openmetrics(om, prom.data, workdir)
        prom.start()
        try:
            seen: dict[str, list[str]] = {a: [] for a in alerts}

            def observe() -> bool:
                for a in prom.api("alerts")["alerts"]:
                    alert = a["labels"]["alertname"]
                    assert alert in alerts, a  # no liveness alert
                    assert a["labels"]["model"] == "demand-forecast", a  # never the steady one
                    if not seen[alert] or seen[alert][-1] != a["state"]:
                        seen[alert].append(a["state"])
                return all(seen[a] and seen[a][-1] == "firing" for a in until.split(","))

            es.wait_for(f"{name}: {until} firing", observe, 20, interval=0.2)
            # the live scrape continues the backfilled series: one series each, not two
            assert len(prom.query("mlops_feature_drift_score")) == sum(
                n == "mlops_feature_drift_score" for n, _, _ in pushed)
            # five more evaluations (1s) of every rule: what fires stays, the rest stays quiet
            mark = time.monotonic()
            es.wait_for(f"{name}: settle", lambda: observe() and time.monotonic() - mark > 5,
                        10, interval=0.2)
            loaded = {r["name"] for g in prom.api("rules")["groups"] for r in g["rules"]}
            assert liveness <= loaded  # they were evaluated, and stayed quiet
            if "FeatureDriftDetected" in until:
                drifted = {a["labels"]["feature"] for a in prom.api("alerts")["alerts"]
                           if a["labels"]["alertname"] == "FeatureDriftDetected"}
                assert drifted == {"price"}  # traffic and region did not move
                pv = prom.query('mlops_prediction_drift_pvalue{method="ks"}')
                assert {s["metric"]["model"] for s in pv} == {"demand-forecast", "churn"}
                assert prom.query("mlops_drift_check_last_success_timestamp_seconds"
                                  '{job="mlops-dash-drift"}')
            return seen
        finally:
            prom.stop()

    # two breaching checks since the last clean one (one before that breached too), the live
    # push not seen yet: quiet
    seen = run("two-checks", [(boundary - 4 * hour, True), (boundary - 3 * hour, False),
                              (boundary - 2 * hour, True), (boundary - hour, True)],
               "PredictionAnomaly")
    assert time.time() < boundary + STEP_S, "a 5m boundary passed: the live check was counted"
    assert seen["FeatureDriftDetected"] == []
    # a third breaching check, late (110 min after the second): fires, no `for`, no pending
    seen = run("three-checks", [(boundary - 4 * hour, False), (boundary - 3 * hour, True),
                                (boundary - 2 * hour, True), (boundary - 10 * 60, True)],
               "FeatureDriftDetected,PredictionAnomaly")
    assert seen["FeatureDriftDetected"] == ["firing"]
    if duration_seconds(rule_for("PredictionAnomaly")) > 0:
        assert seen["PredictionAnomaly"] == ["pending", "firing"]
    else:  # no `for` in the shipped rule: firing at the first evaluation, no pending
        assert seen["PredictionAnomaly"] == ["firing"]


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
