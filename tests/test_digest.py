"""The daily digest: ``mlops-dash digest`` against a real Prometheus holding ALERTS history
(backfilled with promtool as the e2e suite does) and a captured SMTP server: one email covering
the day's alerts, one saying nothing fired on a quiet day; its CronJob in the bundle; the
overview's stand-up panels read the same history (an info alert shows there)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import e2e_support as es
import pytest
import yaml
from conftest import GENERATED, ROOT, require_tool

from mlops_dash import conventions as cv
from mlops_dash import pipeline
from mlops_dash.collect import digest as dg
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.schemas import manifest_errors
from mlops_dash.spec.loader import load_specs

RUNBOOKS = "https://github.com/company/ml-platform-monitoring/blob/main/generated/runbooks"


# ------------------------------------------------------------------ pure parts


def test_periods_split_at_gaps_and_last_one_step_past_the_last_sample():
    assert dg.periods([0, 60, 120, 600, 660], 60) == [(0, 180), (600, 720)]
    assert dg.periods([], 60) == []
    assert dg.periods([120, 0, 60], 60) == [(0, 180)]  # order does not matter


def test_render_a_day_and_a_quiet_day():
    links = dg.Links(RUNBOOKS, "https://grafana.company.com")
    quiet_subject, quiet_body = dg.render(dg.Digest(0, 86400, []), "ml-platform", links)
    assert quiet_subject == "[mlops-dash digest] ml-platform: nothing fired"
    assert "Nothing fired" in quiet_body
    busy = dg.Digest(0, 86400, [
        dg.Firing({"alertname": "HighLatency", "severity": "warning", "dashboard": "mlops-s",
                   "destination_canonical_service": "fraud"}, [(3600, 7200)], False),
        dg.Firing({"alertname": "ErrorRateSpike", "severity": "critical"},
                  [(80000, 86400)], True)])
    subject, body = dg.render(busy, "ml-platform", links)
    assert subject == "[mlops-dash digest] ml-platform: 2 fired, 1 still firing"
    assert "[warning] HighLatency — resolved" in body and "fired for 1 h 00 min" in body
    assert "[critical] ErrorRateSpike — STILL FIRING" in body
    assert f"Runbook: {RUNBOOKS}/HighLatency.md" in body
    assert "Dashboard: https://grafana.company.com/d/mlops-s" in body
    assert "destination_canonical_service=fraud" in body


def test_cli_needs_an_smtp_target_unless_dry_run():
    r = subprocess.run([sys.executable, "-m", "mlops_dash", "digest", "--prometheus-url",
                        "http://127.0.0.1:9"], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--smarthost, --from and --to" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mlops_dash", "digest", "--prometheus-url",
                        "http://127.0.0.1:9", "--dry-run"], capture_output=True, text=True,
                       cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "did not answer the ALERTS query" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_digest_needs_no_extra_dependency():
    """urllib, smtplib and email only: the CronJob image needs nothing beyond mlops-dash."""
    import ast

    tree = ast.parse(Path(dg.__file__).read_text())
    imported = {n.names[0].name.split(".")[0] if isinstance(n, ast.Import)
                else (n.module or "").split(".")[0]
                for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


# ------------------------------------------------------------------ the CronJob


@pytest.fixture(scope="module")
def cronjob(tree) -> dict[str, Any]:
    return yaml.safe_load(tree[cv.DIGEST_CRONJOB_PATH])


def test_the_cronjob_is_in_the_bundle_and_schema_valid(tree, cronjob, spec_set):
    assert manifest_errors(cronjob) == []
    kustomization = yaml.safe_load(tree[cv.KUSTOMIZATION_PATH])
    assert Path(cv.DIGEST_CRONJOB_PATH).name in kustomization["resources"]
    platform = spec_set.platform_model
    digest = platform.routing.digest
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"]) == (digest.schedule, digest.time_zone)
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == platform.collectors.image
    assert container["command"] == ["mlops-dash"] and container["args"][0] == "digest"
    channel = platform.channel(digest.channel)
    args = container["args"]
    assert args[args.index("--password-file") + 1] == channel.auth_password_file
    assert pod["volumes"][0]["secret"]["secretName"] == channel.secret_ref.name
    assert container["volumeMounts"][0]["mountPath"] == str(Path(channel.auth_password_file).parent)
    assert (GENERATED / cv.DIGEST_CRONJOB_PATH).read_text() == tree[cv.DIGEST_CRONJOB_PATH]


def test_no_cronjob_when_the_route_approximation_is_asked_for(specs_copy):
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("    via: job\n", "    via: alertmanager\n"))
    tree = pipeline.build_tree(specs_copy)
    assert cv.DIGEST_CRONJOB_PATH not in tree
    config = yaml.safe_load(tree[cv.ALERTMANAGER_CONFIG_PATH])
    assert config["route"]["routes"][0]["receiver"] == "email-digest"


def test_the_job_needs_the_collectors_image(specs_copy):
    f = specs_copy / "platform.yaml"
    text = f.read_text()
    f.write_text(text[:text.index("collectors:")])
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    (err,) = info.value.errors
    assert err.path == "routing.digest" and "collectors" in err.message and err.line


# ------------------------------------------------------------------ real Prometheus and SMTP

NOW_SLACK = 30  # the history ends this many seconds before the digest runs


def alerts_history(now: float) -> tuple[str, dict[str, Any]]:
    """OpenMetrics with ALERTS samples every minute: what fired when (relative to now)."""
    series = [
        # (labels, start minutes ago, end minutes ago) — end 0: still firing
        ({"alertname": "PipelineFailureRate", "alertstate": "firing", "severity": "warning",
          "team": "ml-platform", "dashboard": "mlops-pipeline-reliability",
          "pipeline": "fraud-training"}, 600, 480),
        ({"alertname": "ErrorRateSpike", "alertstate": "firing", "severity": "critical",
          "team": "ml-serving", "dashboard": "mlops-serving-health",
          "destination_canonical_service": "fraud-detector",
          "destination_workload_namespace": "ml-serving"}, 180, 150),
        ({"alertname": "LowGPUUtilization", "alertstate": "firing", "severity": "info",
          "team": "ml-platform", "dashboard": "mlops-cost-optimization",
          "namespace": "ml-training", "pod": "trainer-0"}, 45, 0),
        # pending only: never fired
        ({"alertname": "ModelDegradation", "alertstate": "pending", "severity": "critical",
          "team": "ml-models", "dashboard": "mlops-model-performance", "model": "m1"}, 90, 80),
        # the day before: outside the 24h window
        ({"alertname": "StorageGrowth", "alertstate": "firing", "severity": "warning",
          "team": "ml-platform", "dashboard": "mlops-cost-optimization",
          "bucket_name": "artifacts"}, 1800, 1700),
    ]
    lines = ["# TYPE ALERTS gauge"]
    end = int(now) - NOW_SLACK
    for labels, start_min, end_min in series:
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for t in range(end - start_min * 60, end - end_min * 60 + 1, 60):
            lines.append(f"ALERTS{{{text}}} 1 {t}")
    return "\n".join(lines) + "\n# EOF\n", {s[0]["alertname"]: s for s in series}


def start_prometheus(workdir: Path, openmetrics: str | None) -> es.Prometheus:
    prom = es.Prometheus(workdir, [], [])
    if openmetrics is not None:
        om = workdir / "alerts.om"
        om.write_text(openmetrics, encoding="utf-8")
        assert es.import_openmetrics(om, prom.data, workdir) > 0
    return prom.start()


def run_digest(cronjob: dict[str, Any], prom_url: str, smtp: es.SmtpSink,
               password_file: Path) -> subprocess.CompletedProcess[str]:
    """The CronJob's own arguments, with only the endpoints made local."""
    args = list(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "args"])
    for flag, value in (("--prometheus-url", prom_url),
                        ("--smarthost", f"127.0.0.1:{smtp.port}"),
                        ("--password-file", str(password_file))):
        args[args.index(flag) + 1] = value
    return subprocess.run([sys.executable, "-m", "mlops_dash", *args, "--no-require-tls"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def history_prometheus(tmp_path_factory):
    require_tool("prometheus")
    require_tool("promtool")
    now = time.time()
    text, series = alerts_history(now)
    prom = start_prometheus(tmp_path_factory.mktemp("digest-prom"), text)
    try:
        yield prom, series
    finally:
        prom.stop()


@pytest.mark.e2e
def test_the_digest_sends_one_email_covering_the_days_alerts(history_prometheus, cronjob,
                                                             spec_set, tmp_path):
    prom, series = history_prometheus
    smtp = es.SmtpSink().start()
    try:
        password = tmp_path / "password"
        password.write_text("digest-smtp-password\n")
        r = run_digest(cronjob, prom.url, smtp, password)
        assert r.returncode == 0, r.stderr
        time.sleep(0.5)
        assert len(smtp.messages) == 1, smtp.texts()
        msg = smtp.messages[0]
        channel = spec_set.platform_model.channel(spec_set.platform_model.routing.digest.channel)
        assert msg["to"] == [channel.to] and msg["from"] == channel.from_
        assert smtp.logins == [(channel.auth_username, "digest-smtp-password")]
    finally:
        smtp.stop()
    text = smtp.texts()[0]
    assert "3 fired, 1 still firing" in text
    assert "(1 critical, 1 warning, 1 info)" in text
    assert "[critical] ErrorRateSpike — resolved" in text
    assert "[warning] PipelineFailureRate — resolved" in text
    assert "[info] LowGPUUtilization — STILL FIRING" in text
    assert "ModelDegradation" not in text  # pending, never fired
    assert "StorageGrowth" not in text  # yesterday
    # for how long: PipelineFailureRate fired 2h (+ the 5 minutes Prometheus keeps a
    # backfilled series without staleness markers)
    block = text.split("PipelineFailureRate — resolved", 1)[1].split("\n\n", 1)[0]
    assert "fired for 2 h 0" in block and "pipeline=fraud-training" in block
    for name, (labels, _s, _e) in series.items():
        if name in ("ModelDegradation", "StorageGrowth"):
            continue
        assert f"Runbook: {RUNBOOKS}/{name}.md" in text
        assert f"Dashboard: https://grafana.company.com/d/{labels['dashboard']}" in text


@pytest.mark.e2e
def test_a_quiet_day_sends_one_email_saying_nothing_fired(cronjob, tmp_path):
    require_tool("prometheus")
    prom = start_prometheus(tmp_path / "prom", None)
    smtp = es.SmtpSink().start()
    try:
        password = tmp_path / "password"
        password.write_text("x")
        r = run_digest(cronjob, prom.url, smtp, password)
        assert r.returncode == 0, r.stderr
        time.sleep(0.5)
        assert len(smtp.messages) == 1
        assert "nothing fired" in smtp.texts()[0] and "Nothing fired" in smtp.texts()[0]
    finally:
        smtp.stop()
        prom.stop()


@pytest.mark.e2e
def test_an_info_alert_shows_on_the_overview(history_prometheus, tree):
    """The overview's own queries, evaluated by the real Prometheus holding the history."""
    prom, _series = history_prometheus
    overview = json.loads(tree[cv.dashboard_json_path(cv.OVERVIEW_UID)])
    by_title = {p["title"]: p for p in overview["panels"]}

    def names(title: str) -> set[str]:
        expr = by_title[title]["targets"][0]["expr"]
        return {s["metric"].get("alertname") for s in prom.query(expr)}

    assert names("Stand-up: info alerts (24h)") == {"LowGPUUtilization"}
    assert names("Stand-up: resolved alerts (24h)") == {"PipelineFailureRate",
                                                        "ErrorRateSpike"}
    firing = {t["legendFormat"]: prom.query(t["expr"])[0]["value"][1]
              for t in by_title["Firing now"]["targets"]}
    assert firing == {"critical": "0", "warning": "0", "info": "1"}
    cost = next(p for p in overview["panels"] if p["title"] == "Cost: alerts firing")
    values = {t["legendFormat"]: prom.query(t["expr"])[0]["value"][1] for t in cost["targets"]}
    assert values == {"critical": "0", "warning": "0", "info": "1"}
    # its annotation query (the overview and the cost dashboard's GPU panel) finds it too
    ann = next(a for a in overview["annotations"]["list"] if a["name"] == "Info alerts")
    assert {s["metric"]["alertname"] for s in prom.query(ann["expr"])} == {"LowGPUUtilization"}
