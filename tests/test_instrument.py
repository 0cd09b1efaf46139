"""Predictor instrumentation and the actuals job: an instrumented predictor served on loopback
and the actuals job's pushes → real Prometheus → the Prediction Distribution and Cold Start
Frequency panels' own queries (from specs/, Grafana variables expanded) return data."""

from __future__ import annotations

import re
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import e2e_support as es
import jobs_support as js
import pandas as pd
import pytest
import yaml
from conftest import SPECS
from prometheus_client import CollectorRegistry, generate_latest

from mlops_dash import promql
from mlops_dash.collect import actuals as ac
from mlops_dash.collect.inputs import JobError
from mlops_dash.collect.instrument import PredictionRecorder
from mlops_dash.spec.collectors_jobs import ActualsJob

BUCKETS = [10, 25, 50, 100, 250, 500]


def spec_doc(spec: str) -> dict:
    return yaml.safe_load((SPECS / spec).read_text())


def panel_queries(spec: str, panel: str) -> list[str]:
    (p,) = [p for p in spec_doc(spec)["panels"] if p["id"] == panel]
    return [q["expr"] for q in p["queries"]]


# Grafana's variable syntax: `$name` takes the longest name (`$model_name` is not `$model`)
GRAFANA_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def expand(expr: str, values: dict[str, str], rng: str = "5m") -> str:
    """Grafana's expansion of a query with the dashboard's variables set to ``values`` (already
    formatted for Prometheus) ($__range: the dashboard range, $__rate_interval: at least 4
    scrape intervals). A variable the test did not set fails here, not as an empty result."""
    known = {"__range": rng, "__rate_interval": "30s", **values}
    return GRAFANA_VAR.sub(lambda m: known[m.group(1) or m.group(2)], expr)


def regex_format(values: list[str]) -> str:
    """How Grafana's Prometheus data source writes a multi-value/All variable into a query:
    each value regex-escaped, one value alone, several as an alternation."""
    escaped = [re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def query_variable_options(prom: es.Prometheus, spec: str, name: str,
                           values: dict[str, str]) -> list[str]:
    """A query variable's options as Grafana computes them: its ``label_values(selector,
    label)`` run against Prometheus (the label values API with ``match[]``), then its
    ``regex``: values it does not match are dropped, of the others the capture group is kept."""
    (var,) = [v for v in spec_doc(spec)["variables"] if v["name"] == name]
    parts = promql.label_values_parts(expand(var["query"], values))
    assert parts, var["query"]
    selector, label = parts
    found = prom.api(f"label/{label}/values?match[]={quote(selector)}")
    regex = var.get("regex")
    if not regex:
        return sorted(found)
    body = regex[1:regex.rindex("/")]  # /pattern/flags
    matches = [m for v in found if (m := re.search(body, v))]
    return sorted({m.group(1) if m.groups() else m.group(0) for m in matches})


# One model version selected on Model Performance (its variables name models as MLflow does)
MODEL_PERFORMANCE = {"model": "demand-forecast", "version": "v3"}
# Serving Health selects by Istio canonical service: KServe's predictor of demand-forecast
SERVING_MODEL = "demand-forecast-predictor"
# what the predictor's Istio sidecar would expose (tests/predictor_app.py has no sidecar):
# pushed, so the hidden model_name variable's own query finds the service
ISTIO_SERIES = ('istio_requests_total{reporter="destination",'
                'destination_workload_namespace="ml-serving",'
                f'destination_canonical_service="{SERVING_MODEL}",'
                'destination_canonical_revision="demand-forecast-predictor-00003"} 40\n')


def test_recorder_counts_one_cold_start_and_observes_every_prediction():
    reg = CollectorRegistry()
    rec = PredictionRecorder("m", "1", [1, 2, 5], registry=reg)
    text = generate_latest(reg).decode()
    assert 'mlops_model_cold_starts_total{model="m",version="1"} 0.0' in text  # exists at 0
    rec.observe(1.5)
    rec.observe_many([0.5, 4.0, 9.0])
    text = generate_latest(reg).decode()
    assert 'mlops_model_cold_starts_total{model="m",version="1"} 1.0' in text
    assert 'mlops_prediction_value_bucket{le="2.0",model="m",version="1"} 2.0' in text
    assert 'mlops_prediction_value_count{model="m",version="1"} 4.0' in text
    warm = PredictionRecorder("w", "1", [1], registry=CollectorRegistry(), cold_start=False)
    warm.observe(1)
    assert 'cold_starts_total{model="w",version="1"} 0.0' in generate_latest(
        warm.registry).decode()
    with pytest.raises(ValueError, match="increasing"):
        PredictionRecorder("x", "1", [5, 1], registry=CollectorRegistry())


def actuals_job(path: Path) -> ActualsJob:
    return ActualsJob.model_validate({"model": "demand-forecast", "input": {"path": str(path)},
                                      "buckets": BUCKETS})


def test_actuals_histogram_is_cumulative_per_version(tmp_path):
    df = pd.DataFrame({"version": ["v3"] * 5 + ["v2"], "actual": [5, 10, 30, 300, 900, 1]})
    hist = ac.histograms_of(actuals_job(tmp_path / "a.csv"), df)
    assert hist["v3"] == ([2, 2, 3, 3, 3, 4], 5, 1245.0)  # le=10 holds 5 and 10; 900 only +Inf
    text = generate_latest(ac.registry_for(actuals_job(tmp_path / "a.csv"), hist)).decode()
    assert 'mlops_actual_value_bucket{le="+Inf",model="demand-forecast",version="v3"} 5.0' in text
    assert 'mlops_actual_value_bucket{le="10.0",model="demand-forecast",version="v3"} 2.0' in text
    with pytest.raises(JobError, match="not numeric"):
        ac.histograms_of(actuals_job(tmp_path / "a.csv"), df.assign(actual="x"))


def test_predictor_and_actuals_feed_the_distribution_and_cold_start_panels(tmp_path):
    app_port, metrics_port = es.free_port(), es.free_port()
    root = Path(__file__).resolve().parents[1]
    app = es.Process("predictor", ["env", f"PYTHONPATH={root / 'src'}", sys.executable,
                                   str(root / "tests" / "predictor_app.py"),
                                   str(app_port), str(metrics_port)], tmp_path)
    pg = js.Pushgateway(tmp_path).start()
    prom = js.prometheus_scraping(tmp_path / "prom", [], pg.url,
                                  [f"http://127.0.0.1:{metrics_port}/metrics"])
    try:
        app.start()
        urllib.request.urlopen(urllib.request.Request(
            f"{pg.url}/metrics/job/istio-proxy", data=ISTIO_SERIES.encode(), method="PUT"),
            timeout=5).close()
        prom.start()
        es.wait_for("predictor scraped", lambda: prom.query(
            'mlops_model_cold_starts_total{model="demand-forecast"} == 0'), 30)
        time.sleep(2)  # a scrape before the first request: increase() sees the cold start
        for i in range(20):
            out = es.http_json(f"http://127.0.0.1:{app_port}/predict",
                               {"instances": [{"traffic": float(i)}, {"traffic": 100.0 + i}]})
            assert len(out["predictions"]) == 2
        # the actuals job twice: the second run sees more actuals (cumulative histogram)
        data = tmp_path / "actuals.csv"
        pd.DataFrame({"version": "v3", "actual": [20.0, 60.0, 120.0]}).to_csv(data, index=False)
        cfg = tmp_path / "jobs.yaml"
        cfg.write_text(yaml.safe_dump({"apiVersion": "mlops-dash/v1", "kind": "CollectorJobs",
                                       "jobs": {"pushgateway": {"deploy": False, "url": pg.url},
                                                "actuals": [actuals_job(data).model_dump(
                                                    mode="json")]}}))
        assert js.run_cli("actuals", "--config", str(cfg)).returncode == 0
        time.sleep(2)
        pd.DataFrame({"version": "v3", "actual": [20.0, 60.0, 120.0, 30.0, 240.0]}).to_csv(
            data, index=False)
        r = js.run_cli("actuals", "--config", str(cfg))
        assert r.returncode == 0, r.stderr

        dist_pred, dist_actual = panel_queries("model-performance.yaml",
                                               "prediction-distribution")
        (cold,) = panel_queries("serving-health.yaml", "cold-starts")

        def value_by_le(expr: str) -> dict[float, float]:
            # le as float: the Pushgateway re-exposes pushed buckets in Go's form (le="10"),
            # prometheus_client writes le="10.0" (Prometheus 3 normalises both on ingestion)
            return {float(s["metric"]["le"]): float(s["value"][1])
                    for s in prom.query(expand(expr, MODEL_PERFORMANCE))}

        def ready() -> bool:
            p, a = value_by_le(dist_pred), value_by_le(dist_actual)
            return p.get(float("inf"), 0) >= 39 and a.get(float("inf"), 0) >= 1.5

        es.wait_for("distribution panel data", ready, 30)
        pred = value_by_le(dist_pred)
        # 20 predictions 5..43 and 20 in 205..243 (extrapolated increase: about 40)
        assert pred[50] == pytest.approx(pred[float("inf")] / 2, rel=0.1)
        actual = value_by_le(dist_actual)
        assert actual[25] == pytest.approx(0, abs=0.5)  # 20.0 was there before: no increase
        assert actual[float("inf")] > actual[100] > 0  # 30 and 240 arrived
        # Serving Health: $model a canonical service; model_name derived as Grafana would
        serving = {"model": regex_format([SERVING_MODEL])}
        names = es.wait_for("model_name options", lambda: query_variable_options(
            prom, "serving-health.yaml", "model_name", serving), 30)
        assert names == ["demand-forecast"]
        serving["model_name"] = regex_format(names)  # hidden, All: every option
        starts = prom.query(expand(cold, serving))
        assert [s["metric"] for s in starts] == [{"model": "demand-forecast", "version": "v3"}]
        assert float(starts[0]["value"][1]) > 0
    finally:
        prom.stop()
        app.stop()
        pg.stop()
