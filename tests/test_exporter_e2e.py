"""End to end, loopback only: KFP replay + a real mlflow server → the exporter → a real
Prometheus with the shipped rules → a real Alertmanager with the generated routing → the
capture servers. A failing run makes PipelineFailureRate fire (Slack), a new model version with
a worse MAE makes ModelDegradation fire (PagerDuty), stopping a source raises its liveness
alert. Marked ``e2e``.

Test-only changes to the shipped files: rule groups evaluated every second (as in
tests/test_e2e.py) and the ``for`` of the alerts under test cut to 1s, so the run takes seconds
instead of the production minutes; expressions, labels and routing stay as generated. The MAE
baseline (7 days of mlops_model_mae) is backfilled with promtool, like tests/test_e2e.py does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import e2e_support as es
import pytest
import yaml
from conftest import GENERATED, require_tool
from kfp_replay import KfpReplay
from mlflow_support import log_evaluation, mlflow3_version

from mlops_dash.collect.exporter import Exporter
from mlops_dash.collect.kfp import KfpCollector
from mlops_dash.collect.mlflow import MlflowCollector
from mlops_dash.collect.state import StateFile
from mlops_dash.spec.collectors_exporter import KfpSource, MlflowSource

pytestmark = pytest.mark.e2e

RULE_FILES = sorted((GENERATED / "prometheus").glob("*.rules.yaml"))
AM_CONFIG = GENERATED / "alertmanager" / "alertmanager.yaml"
MODEL = "e2e-forecast"


def liveness_rules() -> list[dict[str, Any]]:
    """The shipped alerts on the exporter's own series."""
    return [r for r in es.rules_in(RULE_FILES) if "alert" in r
            and "mlops_exporter_source" in r["expr"]]


def short_for(dst: Path, names: set[str]) -> list[Path]:
    """Copies of the rule files with ``for`` of the named alerts set to 1s."""
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for f in RULE_FILES:
        doc = yaml.safe_load(f.read_text())
        for g in doc["groups"]:
            for r in g["rules"]:
                if r.get("alert") in names and "for" in r:
                    r["for"] = "1s"
        (dst / f.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(dst / f.name)
    return out


def backfill_mae(prom: es.Prometheus, workdir: Path, version: str, value: float) -> None:
    """7 days of the MAE the exporter exported before the test (one sample a minute)."""
    labels = {**prom.target_labels(0), "model": MODEL, "version": version}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    now = int(time.time())
    om = workdir / "mae-history.om"
    with om.open("w") as out:
        out.write("# TYPE mlops_model_mae gauge\n")
        for t in range(now - 7 * 86400, now - 600, 60):
            out.write(f"mlops_model_mae{{{inner}}} {value} {t}\n")
        out.write("# EOF\n")
    es.import_openmetrics(om, prom.data, workdir)


def test_exporter_to_alertmanager(tmp_path, mlflow_server):
    for tool in ("prometheus", "promtool", "prometheus-alertmanager"):
        require_tool(tool)
    live = liveness_rules()
    assert live, "the shipped rules must alert on mlops_exporter_source_* (exporter liveness)"
    live_names = {r["alert"] for r in live}
    rule_files = short_for(tmp_path / "rules",
                           {"PipelineFailureRate", "ModelDegradation", *live_names})
    # the sources
    kfp = KfpReplay().start()
    kfp.add_pipeline("p-1", "demand-forecast")
    kfp.add_run("history", "SUCCEEDED", time.time() - 7200, time.time() - 3600,
                pipeline_id="p-1")
    client = mlflow_server.client()
    v1, m1 = mlflow3_version(client, tmp_path, MODEL, 0.5, 1024, alias="champion")
    log_evaluation(client, m1, mae=10.0, rmse=12.0, accuracy=0.995)
    kfp_src = KfpCollector(KfpSource(url=kfp.url, interval="1s", timeout="2s"),
                           StateFile(tmp_path / "state.json"))
    mlflow_src = MlflowCollector(MlflowSource(url=mlflow_server.url, interval="1s",
                                              timeout="5s",
                                              models=[{"name": MODEL, "aliases": ["champion"]}]))
    exporter = Exporter([kfp_src, mlflow_src], backoff_max_s=2)
    http = exporter.serve("127.0.0.1", 0)
    exporter_url = f"http://127.0.0.1:{http.server_address[1]}"
    exporter.start()
    capture = es.CaptureServer().start()
    smtp = es.SmtpSink().start()
    am = prom = None
    try:
        cfg, _secrets = es.local_endpoints(yaml.safe_load(AM_CONFIG.read_text()), capture.url,
                                           smtp.port, tmp_path / "secrets")
        cfg = es.absolute_templates(cfg, [AM_CONFIG.parent])
        am = es.Alertmanager(tmp_path / "am", cfg).start()
        prom = es.Prometheus(tmp_path / "prom", rule_files, [f"{exporter_url}/metrics"],
                             alertmanager=am.url)
        backfill_mae(prom, tmp_path, v1, 10.0)
        prom.start()
        es.wait_for("exporter series in Prometheus", lambda: prom.query(
            'mlops_pipeline_runs_total{pipeline="demand-forecast"}') and prom.query(
            f'mlops_model_mae{{model="{MODEL}"}}'), 60)

        # quiet while healthy: a succeeded run, the same MAE as the week before
        kfp.add_run("ok-1", "SUCCEEDED", time.time() - 60, time.time(), pipeline_id="p-1")
        es.wait_for("the success counted", lambda: prom.query(
            'mlops_pipeline_runs_total{status="succeeded"} > 0'), 30)
        time.sleep(4)
        quiet = prom.active_alerts()
        assert "PipelineFailureRate" not in quiet and "ModelDegradation" not in quiet, quiet
        assert not live_names & set(quiet), quiet

        # a failing run → PipelineFailureRate → Slack (#ml-ops, warning)
        kfp.add_run("bad-1", "FAILED", time.time() - 60, time.time(), pipeline_id="p-1",
                    tasks={"train-model": "FAILED"})
        es.wait_for("a Slack message for PipelineFailureRate", lambda: [
            r for r in capture.posts("/slack") if "[FIRING" in str(r.body)
            and "PipelineFailureRate" in str(r.body) and "demand-forecast" in str(r.body)], 90)

        # a new version with a worse MAE takes the champion alias → ModelDegradation → PagerDuty
        v2, m2 = mlflow3_version(client, tmp_path, MODEL, 0.4, 2048)
        log_evaluation(client, m2, mae=14.0, rmse=16.0, accuracy=0.99)
        client.set_registered_model_alias(MODEL, "champion", v2)
        pages = es.wait_for("a PagerDuty trigger for ModelDegradation", lambda: [
            r.body for r in capture.posts("/pagerduty")
            if r.body.get("event_action") == "trigger"
            and r.body["payload"]["class"] == "ModelDegradation"], 90)
        assert MODEL in str(pages[0])

        # stopping a source raises its liveness alert, the exporter keeps serving the rest
        kfp.stop()

        def live_alert() -> list[dict[str, Any]]:
            return [a for a in prom.api("alerts")["alerts"]
                    if a["labels"]["alertname"] in live_names and a["state"] == "firing"
                    and a["labels"].get("source") == "kfp"]

        es.wait_for("the exporter liveness alert for source kfp", live_alert, 60)
        assert prom.query('mlops_exporter_source_up{source="mlflow"} == 1')
        assert prom.query(f'mlops_model_mae{{model="{MODEL}"}}')
    finally:
        for proc in (prom, am):
            if proc is not None:
                proc.stop()
        http.shutdown()
        exporter.stop()
        kfp.stop()
        capture.stop()
        smtp.stop()
