"""End to end through the real Alertmanager with captured endpoints on loopback: a critical alert
reaches Opsgenie when Opsgenie is the pager (and the webhook), PipelineFailureRate pages on its
own PagerDuty service although it is a warning, an info alert reaches no pager (nor any
channel). Only endpoints, secrets and timings of the generated configs are changed
(e2e_support.local_endpoints)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import e2e_support as es
import pytest
import yaml
from conftest import GENERATED, ROOT, require_tool

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline

pytestmark = pytest.mark.e2e

OPSGENIE = ROOT / "tests" / "golden" / "opsgenie" / "specs"
QUIET_S = 3.0  # several group intervals (1s in the test copies): anything else would be sent


def _rules(folder: Path) -> list[dict[str, Any]]:
    return [r for r in es.rules_in(sorted((folder / "prometheus").glob("*.rules.yaml")))
            if "alert" in r]


def _alert(rules: list[dict[str, Any]], name: str, labels: dict[str, str]) -> dict[str, Any]:
    return es.alert_from_rule(next(r for r in rules if r["alert"] == name), labels)


def _run(config: dict[str, Any], template_dir: Path, alerts: list[dict[str, Any]],
         workdir: Path, until: Any) -> tuple[es.CaptureServer, dict[str, str]]:
    """Post ``alerts`` to a real Alertmanager; wait for ``until(capture)``, then a quiet spell."""
    require_tool("prometheus-alertmanager")
    capture = es.CaptureServer().start()
    smtp = es.SmtpSink().start()
    am = None
    try:
        cfg, secrets = es.local_endpoints(config, capture.url, smtp.port, workdir / "secrets")
        am = es.Alertmanager(workdir, es.absolute_templates(cfg, [template_dir])).start()
        am.post_alerts(alerts)
        es.wait_for("the expected notifications", lambda: until(capture), 30)
        time.sleep(QUIET_S)
        return capture, secrets
    finally:
        if am is not None:
            am.stop()
        capture.stop()
        smtp.stop()


@pytest.fixture(scope="module")
def og_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("og-built")
    output.write_tree(pipeline.build_tree(OPSGENIE), out)
    return out


def test_a_critical_alert_reaches_opsgenie_when_opsgenie_is_the_pager(og_out, tmp_path):
    rules = _rules(og_out)
    critical = _alert(rules, "FeaturesVeryStale", {"feature_view": "transactions"})
    info = _alert(rules, "FeaturesOld", {"feature_view": "clicks"})
    config = yaml.safe_load((og_out / cv.ALERTMANAGER_CONFIG_PATH).read_text())

    def genie(c: es.CaptureServer) -> list[es.Captured]:
        return [r for r in c.posts("/opsgenie/") if r.path.startswith("/opsgenie/v2/alerts")]

    capture, secrets = _run(config, og_out / "alertmanager", [critical, info], tmp_path,
                            lambda c: genie(c) and c.posts("/webhook/"))
    (created,) = genie(capture)
    assert created.headers["Authorization"] == f"GenieKey {secrets['opsgenie-api-key-opsgenie-ml']}"
    body = created.body
    assert body["message"] == "[FIRING:1] FeaturesVeryStale (critical)"
    assert "transactions" in body["description"]  # the summary and labels
    assert body["responders"] == [{"name": "ML Platform", "type": "team"}]
    assert "critical" in body["tags"]  # the team routing rule picks the 3-step escalation
    assert body["details"]["runbook_url"] == critical["annotations"]["runbook_url"]
    assert body["details"]["dashboard_url"] == critical["annotations"]["dashboard_url"]
    # the webhook got the critical with its bearer token; the info alert reached no one
    (hook,) = capture.posts("/webhook/audit-webhook")
    assert hook.headers["Authorization"] == f"Bearer {secrets['webhook-token-audit-webhook']}"
    assert [a["labels"]["alertname"] for a in hook.body["alerts"]] == ["FeaturesVeryStale"]
    assert "FeaturesOld" not in json.dumps([r.body for r in capture.requests])


def test_pipeline_failure_rate_pages_although_a_warning_and_info_reaches_no_pager(tmp_path):
    rules = _rules(GENERATED)
    paged = _alert(rules, "PipelineFailureRate", {"pipeline": "fraud-training"})
    other = _alert(rules, "PipelineStuck", {"pipeline": "fraud-training", "run_id": "r1"})
    info = _alert(rules, "LowGPUUtilization", {"namespace": "ml-training", "pod": "trainer-0"})
    config = yaml.safe_load((GENERATED / cv.ALERTMANAGER_CONFIG_PATH).read_text())

    def arrived(c: es.CaptureServer) -> bool:
        slack = json.dumps([r.body for r in c.posts("/slack")])
        return bool(c.posts("/pagerduty")) and "PipelineStuck" in slack

    capture, secrets = _run(config, GENERATED / "alertmanager", [paged, other, info], tmp_path,
                            arrived)
    pages = [r.body for r in capture.posts("/pagerduty")]
    assert [p["payload"]["class"] for p in pages] == ["PipelineFailureRate"]
    (page,) = pages
    assert page["event_action"] == "trigger"
    # its own service (the paged-warnings routing key), not the critical one
    assert page["routing_key"] == secrets["pagerduty-routing-key-pagerduty-ml-warnings"]
    assert page["routing_key"] != secrets["pagerduty-routing-key"]
    assert page["payload"]["severity"] == "warning"
    slack = json.dumps([r.body for r in capture.posts("/slack")])
    assert "PipelineFailureRate" in slack and "PipelineStuck" in slack  # Slack as warnings
    assert "LowGPUUtilization" not in json.dumps([r.body for r in capture.requests])
