"""Alert routing: the real amtool on the generated config, per-alert route tests derived from
the specs, inhibition semantics, the AlertmanagerConfig manifest and the PagerDuty policy."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline
from mlops_dash.lint import tools
from mlops_dash.lint.schemas import alertmanager_errors, manifest_errors
from mlops_dash.render import alertmanager, rules
from mlops_dash.spec.loader import SpecSet, load_specs

MINIMAL = ROOT / "tests" / "golden" / "minimal" / "specs"


@pytest.fixture(scope="module")
def am_dir(tree: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built tree on disk (the secret files it names do NOT exist)."""
    out = tmp_path_factory.mktemp("built")
    output.write_tree(tree, out)
    return out / "alertmanager"


@pytest.fixture(scope="module")
def config(tree: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(tree[cv.ALERTMANAGER_CONFIG_PATH])


def alert_instances(spec_set: SpecSet) -> list[tuple[str, dict[str, str]]]:
    """Every alert of the specs with the labels Prometheus gives it (rule labels + its `by`)."""
    platform = spec_set.platform_model
    out = []
    for d in spec_set.dashboard_models():
        for a in d.alerts:
            labels = {"alertname": a.name, **rules.alert_rule(d, a, platform)["labels"]}
            for label in rules.alert_labels(a):
                labels.setdefault(label, f"{label}-1")
            out.append((a.name, labels))
    return out


def spec_receivers(spec_set: SpecSet, severity: str, alert: Any = None) -> list[str]:
    """What the platform spec says an alert of ``severity`` reaches (written independently of
    the renderer): the channels of its route (of the fallback's if unrouted), the null receiver
    when there are none, the digest when it is the Alertmanager route; an alert's ``routing``
    override pages a warning (paged_warning_channels instead of nothing) or drops the pagers
    of a critical alert (kept, muted, when it has a window)."""
    platform = spec_set.platform_model
    routing = platform.routing
    by_sev = {r.severity: r.channels for r in routing.routes}
    channels = list(by_sev.get(severity, by_sev[routing.fallback_severity]))
    pagers = {c.name for c in platform.channels if c.type in ("pagerduty", "opsgenie")}
    override = getattr(alert, "routing", None)
    if override is not None and override.page:
        channels = list(routing.paged_warning_channels) + [c for c in channels
                                                           if c not in pagers]
    elif override is not None and override.window is None:
        channels = [c for c in channels if c not in pagers]
    got = channels or [cv.NULL_RECEIVER]
    if routing.digest and routing.digest.via == "alertmanager":
        got.append(routing.digest.channel)
    return sorted(set(got))


def spec_alerts(spec_set: SpecSet) -> dict[str, Any]:
    return {a.name: a for d in spec_set.dashboard_models() for a in d.alerts}


def routes_test(config_file: Path, labels: dict[str, str]) -> list[str]:
    r = tools.amtool_routes_test(config_file, labels)
    assert r.ok, r.output
    return sorted(r.stdout.strip().split(","))


# --------------------------------------------------------------------------- amtool


def test_amtool_check_config_passes_without_the_secret_files(am_dir: Path, spec_set):
    from mlops_dash.render import slo

    require_tool("amtool")
    for f in ("/etc/alertmanager/secrets/pagerduty/routing-key",
              "/etc/alertmanager/secrets/slack/webhook-url"):
        assert not Path(f).exists()  # amtool does not read *_file; Alertmanager does, at send
    r = tools.amtool_check_config(am_dir / "alertmanager.yaml")
    assert r.ok, r.output
    expected = len(spec_set.platform_model.routing.inhibit) + len(
        slo.inhibit_rules(spec_set.dashboard_models()))
    assert expected == 3  # two severity rules from the platform spec, one SLO page→ticket
    assert "1 templates" in r.output and f"{expected} inhibit rules" in r.output


def test_amtool_check_config_passes_for_the_minimal_case(tmp_path: Path):
    require_tool("amtool")
    output.write_tree(pipeline.build_tree(MINIMAL), tmp_path)
    r = tools.amtool_check_config(tmp_path / cv.ALERTMANAGER_CONFIG_PATH)
    assert r.ok, r.output


def test_amtool_rejects_a_broken_config(tmp_path: Path, tree: dict[str, str]):
    """The check is real: an unknown field fails it."""
    require_tool("amtool")
    f = tmp_path / "alertmanager.yaml"
    f.write_text(tree[cv.ALERTMANAGER_CONFIG_PATH].replace("routing_key_file:", "routing_keyfile:"))
    (tmp_path / cv.ALERTMANAGER_TEMPLATE_FILE).write_text(tree[cv.ALERTMANAGER_TEMPLATE_PATH])
    assert not tools.amtool_check_config(f).ok


def test_every_alert_of_the_specs_reaches_exactly_its_receivers(am_dir: Path,
                                                                 spec_set: SpecSet):
    require_tool("amtool")
    instances = alert_instances(spec_set)
    assert len(instances) == 21  # 15 seed alerts + 6 liveness alerts
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda it: routes_test(am_dir / "alertmanager.yaml", it[1]),
                            instances))
    alerts = spec_alerts(spec_set)
    expected = {name: spec_receivers(spec_set, labels["severity"], alerts[name])
                for name, labels in instances}
    wrong = {name: (g, expected[name])
             for (name, _labels), g in zip(instances, got, strict=True) if g != expected[name]}
    assert not wrong, wrong
    # the override is real: PipelineFailureRate (a warning) pages, other warnings do not
    assert "pagerduty-ml-warnings" in expected["PipelineFailureRate"]
    assert not {"pagerduty-ml-warnings", "pagerduty-ml-oncall"} & set(expected["HighLatency"])


def test_severity_semantics(am_dir: Path, config: dict[str, Any]):
    """critical → PagerDuty + Slack #ml-ops; warning → Slack only; info → no integration;
    a missing or mistyped severity goes where warnings go. (The digest is a job, not a route.)"""
    require_tool("amtool")
    cfg = am_dir / "alertmanager.yaml"
    receivers = {r["name"]: r for r in config["receivers"]}

    def kinds(names: list[str]) -> set[str]:
        return {k for n in names for k in receivers[n] if k != "name"}

    crit = routes_test(cfg, {"alertname": "X", "severity": "critical", "model": "m"})
    assert kinds(crit) == {"pagerduty_configs", "slack_configs"}
    slack = [n for n in crit if "slack_configs" in receivers[n]]
    assert [receivers[n]["slack_configs"][0]["channel"] for n in slack] == ["#ml-ops"]
    warn = routes_test(cfg, {"alertname": "X", "severity": "warning"})
    assert warn == [slack[0]]
    info = routes_test(cfg, {"alertname": "X", "severity": "info"})
    assert info == ["dashboard-only"]
    assert receivers["dashboard-only"] == {"name": "dashboard-only"}  # no integrations
    for labels in ({"alertname": "X"}, {"alertname": "X", "severity": "critcal"}):
        assert routes_test(cfg, labels) == [slack[0]]  # fallback: warning
    assert "email-digest" not in receivers  # the digest job sends it, not Alertmanager


def test_digest_is_a_catch_all_continue_route_with_daily_intervals(specs_copy: Path):
    """Only when asked for (via: alertmanager); by default the digest is a job."""
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("    via: job\n", "    via: alertmanager\n"))
    config = yaml.safe_load(pipeline.build_tree(specs_copy)[cv.ALERTMANAGER_CONFIG_PATH])
    first = config["route"]["routes"][0]
    assert first["receiver"] == "email-digest" and first["continue"] is True
    assert "matchers" not in first
    assert first["group_interval"] == first["repeat_interval"] == "24h"
    assert first["group_by"] == [cv.DIGEST_GROUP_LABEL]  # one group: one email


def test_severity_timings_come_from_the_spec(config: dict[str, Any], spec_set: SpecSet):
    by_matcher = {tuple(r.get("matchers", [])): r for r in config["route"]["routes"]}
    for route in spec_set.platform_model.routing.routes:
        r = by_matcher[(f'severity="{route.severity}"',)]
        assert (r["group_wait"], r["group_interval"], r["repeat_interval"]) == (
            route.group_wait, route.group_interval, route.repeat_interval)


# --------------------------------------------------------------------------- inhibition


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    mo = re.fullmatch(r'([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"(.*)"', matcher)
    assert mo, matcher
    name, op, value = mo.groups()
    have = labels.get(name, "")
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    hit = re.fullmatch(value, have) is not None
    return hit if op == "=~" else not hit


def inhibited(config: dict[str, Any], target: dict[str, str],
              firing: list[dict[str, str]]) -> bool:
    """Alertmanager's inhibition semantics: some firing source matches, the target matches,
    and every `equal` label has the same value on both (a missing label is the empty value)."""
    for rule in config.get("inhibit_rules", []):
        if not all(_matches(m, target) for m in rule["target_matchers"]):
            continue
        for src in firing:
            if src is target:
                continue
            if all(_matches(m, src) for m in rule["source_matchers"]) and all(
                    src.get(label, "") == target.get(label, "") for label in rule["equal"]):
                return True
    return False


def _labels(spec_set: SpecSet, name: str, **values: str) -> dict[str, str]:
    labels = dict(next(lbl for n, lbl in alert_instances(spec_set) if n == name))
    for k in list(labels):
        if k.endswith(("namespace", "service", "model", "pipeline", "pod")) and k not in values:
            labels[k] = f"{k}-1"
    labels.update(values)
    return labels


def _slo_labels(spec_set: SpecSet, tier: str, **values: str) -> dict[str, str]:
    """An SLO burn-rate alert as Prometheus sends it: rule labels, `slo` from its records, the
    SLO's `by` labels."""
    from mlops_dash.render import slo as slo_render

    d = next(d for d in spec_set.dashboard_models() if d.slos)
    s = d.slos[0]
    return {"alertname": cv.slo_alert_name(slo_render.alert_stem(s), tier),
            **slo_render.alert_labels(d, s, tier), cv.LABEL_SLO: s.name, **values}


def test_critical_silences_the_warning_about_the_same_model(config, spec_set):
    degraded = _labels(spec_set, "ModelDegradation", model="fraud")
    assert inhibited(config, _slo_labels(spec_set, "ticket", model="fraud"), [degraded])
    assert not inhibited(config, _slo_labels(spec_set, "ticket", model="churn"), [degraded])


def test_a_symptom_never_mutes_a_likely_cause_of_another_team(config, spec_set):
    """ModelDegradation (team ml-models) is the symptom; drift of the same model's features or
    predictions (team ml-data) is its likely cause and must still reach the data team."""
    degraded = _labels(spec_set, "ModelDegradation", model="fraud")
    budget = _labels(spec_set, "ErrorBudgetExhausted", model="fraud")
    assert degraded["team"] == "ml-models"
    for cause in ("FeatureDriftDetected", "PredictionAnomaly"):
        labels = _labels(spec_set, cause, model="fraud")
        assert labels["team"] == "ml-data", cause
        assert not inhibited(config, labels, [degraded, budget]), cause
    # what `team` in `equal` prevents: the same rule without it mutes the data team's alert
    naive = {"inhibit_rules": [dict(r, equal=[x for x in r["equal"] if x != "team"])
                               for r in config["inhibit_rules"]]}
    assert inhibited(naive, _labels(spec_set, "FeatureDriftDetected", model="fraud"), [degraded])


def test_every_platform_inhibit_rule_compares_team_unless_across_teams(spec_set):
    platform = spec_set.platform_model
    for rule in alertmanager.inhibit_rules(platform)[:len(platform.routing.inhibit)]:
        assert "team" in rule["equal"], rule
    across = platform.model_copy(update={"routing": platform.routing.model_copy(update={
        "inhibit": [r.model_copy(update={"across_teams": True})
                    for r in platform.routing.inhibit]})})
    for rule, spec in zip(alertmanager.inhibit_rules(across), platform.routing.inhibit,
                          strict=False):
        assert rule["equal"] == spec.equal


def test_serving_critical_silences_latency_of_the_same_service_only(config, spec_set):
    spike = _labels(spec_set, "ErrorRateSpike", destination_canonical_service="fraud",
                    destination_workload_namespace="ml-serving")
    same = _labels(spec_set, "HighLatency", destination_canonical_service="fraud",
                   destination_workload_namespace="ml-serving")
    other_ns = _labels(spec_set, "HighLatency", destination_canonical_service="fraud",
                       destination_workload_namespace="staging")
    assert inhibited(config, same, [spike])
    assert not inhibited(config, other_ns, [spike])


def test_alerts_without_identity_labels_do_not_silence_each_other(config, spec_set):
    """The trap: `equal: [model]` alone would let ResourceExhaustion (no model label) silence
    CostAnomaly (no model label either)."""
    oom = _labels(spec_set, "ResourceExhaustion")
    quality = _labels(spec_set, "DataQualityFailure")
    for name in ("CostAnomaly", "StorageGrowth", "LowGPUUtilization", "StaleFeatures",
                 "PipelineFailureRate"):
        assert not inhibited(config, _labels(spec_set, name), [oom, quality]), name
    naive = {"inhibit_rules": [{"source_matchers": ['severity="critical"'],
                                "target_matchers": ['severity=~"warning|info"'],
                                "equal": ["model"]}]}
    assert inhibited(naive, _labels(spec_set, "CostAnomaly"), [oom])  # what we avoid


def test_critical_never_silences_critical(config, spec_set):
    a = _labels(spec_set, "ModelDegradation", model="fraud")
    b = _labels(spec_set, "ErrorBudgetExhausted", model="fraud")
    assert not inhibited(config, b, [a])


# --------------------------------------------------------------------------- templates


def test_templates_render_links_with_real_amtool(am_dir: Path, tmp_path: Path):
    require_tool("amtool")
    data = {
        "receiver": "slack-ml-ops", "status": "firing",
        "alerts": [{"status": "firing",
                    "labels": {"alertname": "HighLatency", "severity": "warning"},
                    "annotations": {"summary": "p95 latency of fraud is 420 ms",
                                    "description": "above 300 ms",
                                    "runbook_url": "https://runbooks.example/HighLatency.md",
                                    "dashboard_url": "https://grafana.example/d/x?viewPanel=1"},
                    "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://prometheus.example/graph", "fingerprint": "1"}],
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "warning"},
        "commonAnnotations": {}, "externalURL": "https://am.example",
    }
    f = tmp_path / "data.json"
    f.write_text(json.dumps(data))
    text = ('{{ template "mlops.title" . }}\n{{ template "mlops.slack.text" . }}'
            '{{ template "mlops.pagerduty.severity" . }}|{{ template "mlops.runbook_url" . }}')
    r = tools.run("amtool", "template", "render",
                  f"--template.glob={am_dir / cv.ALERTMANAGER_TEMPLATE_FILE}",
                  f"--template.text={text}", f"--template.data={f}")
    assert r.ok, r.output
    assert r.stdout.startswith("[FIRING:1] HighLatency (warning)")
    assert "<https://runbooks.example/HighLatency.md|Runbook>" in r.stdout
    assert "<https://grafana.example/d/x?viewPanel=1|Dashboard panel>" in r.stdout
    assert "warning|https://runbooks.example/HighLatency.md" in r.stdout


def test_every_template_used_by_the_config_is_defined(tree: dict[str, str]):
    defs = alertmanager.template_definitions(tree[cv.ALERTMANAGER_TEMPLATE_PATH])
    used = set(re.findall(r'template "([^"]+)"', tree[cv.ALERTMANAGER_CONFIG_PATH]))
    assert used and used <= set(defs)


# --------------------------------------------------------------------------- manifest


def _manifest(tree: dict[str, str], name: str = "ml-platform") -> dict[str, Any]:
    return yaml.safe_load(tree[cv.alertmanager_config_manifest_path(name)])


def test_alertmanagerconfig_passes_the_strict_schema(tree: dict[str, str]):
    assert manifest_errors(_manifest(tree)) == []
    mini = pipeline.build_tree(MINIMAL)
    assert manifest_errors(_manifest(mini, "mini")) == []


def test_schema_check_is_real(tree: dict[str, str]):
    bad = _manifest(tree)
    bad["spec"]["receivers"][1]["pagerdutyConfigs"][0]["routing_key"] = "x"
    assert manifest_errors(bad)


def test_alertmanagerconfig_uses_secret_refs_and_inlined_templates(tree, spec_set):
    spec = _manifest(tree)["spec"]
    recv = {r["name"]: r for r in spec["receivers"]}
    assert recv["pagerduty-ml-oncall"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "alertmanager-pagerduty", "key": "routing-key"}
    assert recv["slack-ml-ops"]["slackConfigs"][0]["apiURL"] == {
        "name": "alertmanager-slack", "key": "webhook-url"}
    assert recv["pagerduty-ml-warnings"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "alertmanager-pagerduty-warnings", "key": "routing-key"}
    text = json.dumps(spec)
    assert 'template \\"' not in text  # the operator cannot load our template file
    assert "Runbook" in recv["slack-ml-ops"]["slackConfigs"][0]["text"]


def test_alertmanagerconfig_routes_like_the_plain_config(tree, config, spec_set):
    """Same tree, in operator field names; plus a top matcher selecting our alerts."""
    spec = _manifest(tree)["spec"]
    top = spec["route"]
    assert top["matchers"] == [{"name": "dashboard", "matchType": "=~", "value": "|".join(
        sorted(d.uid for d in spec_set.dashboard_models() if d.alerts))}]

    def shape(r: dict[str, Any]) -> tuple:
        return (r.get("receiver"), bool(r.get("continue")),
                r.get("group_interval", r.get("groupInterval")),
                tuple(shape(c) for c in r.get("routes", [])))

    assert [shape(r) for r in top["routes"]] == [shape(r) for r in config["route"]["routes"]]
    assert len(spec["inhibitRules"]) == len(config["inhibit_rules"])
    assert len(re.findall(r"\|", top["matchers"][0]["value"])) == 4


def test_plain_config_passes_the_schemastore_schema(config):
    assert alertmanager_errors(config) == []


# --------------------------------------------------------------------------- PagerDuty


def test_escalation_policy_is_terraform_for_the_paging_service(tree, spec_set):
    tf = json.loads(tree[cv.PAGERDUTY_TERRAFORM_PATH])
    res = tf["resource"]
    platform = spec_set.platform_model
    pd = next(c for c in platform.channels if c.type == "pagerduty")
    (svc_key, svc), = [(k, v) for k, v in res["pagerduty_service"].items()
                       if v["name"] == pd.service]
    assert svc["name"] == pd.service
    assert svc["escalation_policy"] == f"${{pagerduty_escalation_policy.{svc_key}.id}}"
    rules_ = res["pagerduty_escalation_policy"][svc_key]["rule"]
    targets = [r["target"][0]["id"] for r in rules_]
    assert targets == [f"${{data.pagerduty_schedule.{cv.terraform_name(t)}.id}}" for t in
                       ("ml-oncall-primary", "ml-platform-lead", "engineering-manager")]
    # delays are "until the next rule": lead after 30 min, manager after 60 min
    delays = [r["escalation_delay_in_minutes"] for r in rules_]
    assert delays[:2] == [30, 30] and sum(delays[:2]) == 60
    integ = next(iter(res["pagerduty_service_integration"].values()))
    assert integ["type"] == "events_api_v2_inbound_integration"
    assert integ["service"] == f"${{pagerduty_service.{svc_key}.id}}"


def test_no_pagerduty_output_without_a_paging_channel():
    assert cv.PAGERDUTY_TERRAFORM_PATH not in pipeline.build_tree(MINIMAL)


# --------------------------------------------------------------------------- spec checks


def _platform_error(specs: Path, old: str, new: str) -> str:
    f = specs / "platform.yaml"
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new))
    with pytest.raises(Exception) as info:
        load_specs(specs)
    return str(info.value)


def test_escalating_an_unpaged_severity_is_refused(specs_copy: Path):
    msg = _platform_error(specs_copy, "delay_minutes: 60, severities: [critical]}",
                          "delay_minutes: 60, severities: [critical, info]}")
    assert "platform.yaml:" in msg and "info alerts are not routed to a pager" in msg


def test_escalation_delays_must_increase(specs_copy: Path):
    msg = _platform_error(specs_copy, "delay_minutes: 60", "delay_minutes: 20")
    assert "must increase" in msg


def test_unrouted_fallback_is_refused(specs_copy: Path):
    f = specs_copy / "platform.yaml"
    text = f.read_text().replace("fallback_severity: warning", "fallback_severity: info")
    start, end = text.index("    - severity: info"), text.index("  fallback_severity")
    f.write_text(text[:start] + text[end:])  # info is no longer routed
    with pytest.raises(Exception) as info:
        load_specs(specs_copy)
    assert "fallback_severity 'info' has no route" in str(info.value)


def test_channel_fields_must_fit_its_type(specs_copy: Path):
    msg = _platform_error(specs_copy, '    channel: "#ml-ops"\n',
                          '    channel: "#ml-ops"\n    to: a@b.c\n')
    assert "'to' belongs to email channels, not slack" in msg


# --------------------------------------------------------------------------- real Alertmanager


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_real_alertmanager_inhibits_the_matching_warning_only(am_dir: Path, tmp_path: Path,
                                                              spec_set: SpecSet):
    """The generated config loaded by the real Alertmanager 0.25: a firing critical
    ErrorRateSpike silences HighLatency of the same service, not of another service; a
    critical without identity labels silences nothing; a critical ModelDegradation (ml-models)
    mutes its own team's ticket about the model, never ml-data's drift and anomaly alerts. (Secret files are absent, so no
    notification can leave the machine.)"""
    import subprocess
    import time
    import urllib.request

    binary = tools.find_tool("prometheus-alertmanager")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={am_dir / 'alertmanager.yaml'}",
         f"--storage.path={tmp_path}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/status", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("alertmanager did not start")
        alerts = {
            "spike": _labels(spec_set, "ErrorRateSpike", destination_canonical_service="fraud",
                             destination_workload_namespace="ml-serving"),
            "latency-same": _labels(spec_set, "HighLatency",
                                    destination_canonical_service="fraud",
                                    destination_workload_namespace="ml-serving"),
            "latency-other": _labels(spec_set, "HighLatency",
                                     destination_canonical_service="churn",
                                     destination_workload_namespace="ml-serving"),
            "oom": _labels(spec_set, "ResourceExhaustion"),
            "cost": _labels(spec_set, "CostAnomaly"),
            "degraded": _labels(spec_set, "ModelDegradation", model="fraud"),
            "drift-same-model": _labels(spec_set, "FeatureDriftDetected", model="fraud"),
            "anomaly-same-model": _labels(spec_set, "PredictionAnomaly", model="fraud"),
            "ticket-same-model": _slo_labels(spec_set, "ticket", model="fraud"),
        }
        body = json.dumps([{"labels": lbl} for lbl in alerts.values()]).encode()
        req = urllib.request.Request(f"{base}/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()
        got = json.loads(urllib.request.urlopen(f"{base}/alerts", timeout=5).read())
        state = {}
        for a in got:
            key = next(k for k, lbl in alerts.items() if lbl == a["labels"])
            state[key] = bool(a["status"]["inhibitedBy"])
        assert state == {"spike": False, "latency-same": True, "latency-other": False,
                         "oom": False, "cost": False, "degraded": False,
                         "drift-same-model": False, "anomaly-same-model": False,
                         "ticket-same-model": True}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- routes command


def test_routes_command_prints_every_alert_with_its_receivers_and_escalation(spec_set, tree):
    from test_cli import run

    r = run("routes")
    assert r.returncode == 0, r.stderr
    rows = [line.split(" | ") for line in r.stdout.splitlines()
            if line.startswith("| ") and not line.startswith(("| alert", "| ---"))]
    # every alert of every generated rule file: the spec alerts and the SLO burn-rate alerts
    instances = {rule["alert"]: rule["labels"] for rel, text in tree.items()
                 if rel.endswith(".rules.yaml")
                 for group in yaml.safe_load(text)["groups"] for rule in group["rules"]
                 if "alert" in rule}
    assert len(instances) == 23
    assert sorted(row[0].lstrip("| ") for row in rows) == sorted(instances)
    alerts = spec_alerts(spec_set)
    for row in rows:
        name, severity, receivers, escalation, override = (c.strip("| ") for c in row)
        assert severity == instances[name]["severity"]
        assert sorted(receivers.split(", ")) == spec_receivers(spec_set, severity,
                                                               alerts.get(name))
        if severity == "critical":
            assert escalation == ("On-call ML engineer → ML platform lead (after 30 min) → "
                                  "Engineering manager (after 60 min)")
        elif name == "PipelineFailureRate":  # the seed pages it: the first two levels only
            assert escalation == "On-call ML engineer → ML platform lead (after 30 min)"
            assert override.startswith("pages although warning")
        else:
            assert escalation == "none (not paged)"
            assert override == "-"
    assert "silences warning/info alerts with the same model" in r.stdout
    assert "SLO page alert silences the ticket alert" in r.stdout


def test_routes_command_reports_spec_errors(specs_copy: Path):
    from test_cli import run

    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("channels: [slack-ml-ops]", "channels: [slack-ml-opz]"))
    r = run("routes", "--specs", str(specs_copy))
    assert r.returncode == 1 and "no channel named 'slack-ml-opz'" in r.stderr
    assert "did you mean 'slack-ml-ops'" in r.stderr and "Traceback" not in r.stderr


def test_channel_without_its_secret_ref_is_refused(specs_copy: Path):
    ref = "    secret_ref: {name: alertmanager-slack, key: webhook-url}\n"
    msg = _platform_error(specs_copy, ref, "")
    assert "a slack channel needs secret_ref" in msg and "channels[2]" in msg


def test_digest_channel_that_does_not_exist_is_a_placed_spec_error(specs_copy: Path):
    """(Found by the structural fuzz test: this was an internal error, StopIteration.)"""
    from mlops_dash.errors import SpecErrors

    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("channel: email-digest", "channel: email-digets"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    (err,) = info.value.errors
    assert err.path == "routing.digest.channel" and err.line
    assert "no channel named 'email-digets'" in err.message


def test_digest_must_not_page(specs_copy: Path):
    msg = _platform_error(specs_copy, "channel: email-digest", "channel: pagerduty-ml-oncall")
    assert "routing.digest.channel" in msg and "page for every alert" in msg
