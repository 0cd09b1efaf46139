"""Paging beyond severity and the pagers: per-alert routing overrides (PipelineFailureRate pages
although a warning), Opsgenie and webhook receivers, the escalation check (exact steps and
delays, only critical alerts reach the third step) for PagerDuty and Opsgenie Terraform, and
``amtool config routes test`` on the Opsgenie case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool
from test_alertmanager import alert_instances, routes_test, spec_receivers

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline, semdiff
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.schemas import alertmanager_errors, manifest_errors
from mlops_dash.render import alertmanager
from mlops_dash.spec.loader import load_specs

OPSGENIE = ROOT / "tests" / "golden" / "opsgenie" / "specs"
SEED_CHAIN = [("On-call ML engineer", 0), ("ML platform lead", 30), ("Engineering manager", 60)]


@pytest.fixture(scope="module")
def og_set():
    return load_specs(OPSGENIE)


@pytest.fixture(scope="module")
def og_tree(og_set) -> dict[str, str]:
    return pipeline.render_tree(og_set)


@pytest.fixture(scope="module")
def og_dir(og_tree, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("og")
    output.write_tree(og_tree, out)
    return out


def _names(spec_set) -> dict[str, Any]:
    return {a.name: a for d in spec_set.dashboard_models() for a in d.alerts}


# ------------------------------------------------------------------ escalation check


def _pd_policy_steps(tree: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """PagerDuty service name → [(schedule, minutes after the incident opened)] of its policy.
    A PagerDuty rule's delay is the time until the *next* rule, so rule i starts at the sum
    of the delays before it."""
    res = json.loads(tree[cv.PAGERDUTY_TERRAFORM_PATH])["resource"]
    schedules = json.loads(tree[cv.PAGERDUTY_TERRAFORM_PATH])["data"]["pagerduty_schedule"]
    out = {}
    for key, svc in res["pagerduty_service"].items():
        policy = res["pagerduty_escalation_policy"][key]
        assert svc["escalation_policy"] == f"${{pagerduty_escalation_policy.{key}.id}}"
        start, steps = 0, []
        for rule in policy["rule"]:
            ref = rule["target"][0]["id"].split(".")[2]
            steps.append((schedules[ref]["name"], start))
            start += rule["escalation_delay_in_minutes"]
        out[svc["name"]] = steps
    return out


def test_pagerduty_policies_have_exactly_the_seed_steps_and_delays(tree, spec_set):
    steps = _pd_policy_steps(tree)
    assert steps == {
        "ML Platform": [("ml-oncall-primary", 0), ("ml-platform-lead", 30),
                        ("engineering-manager", 60)],
        "ML Platform paged warnings": [("ml-oncall-primary", 0), ("ml-platform-lead", 30)],
    }
    levels = [(lvl.name, lvl.delay_minutes) for lvl in spec_set.platform_model.escalation]
    assert levels == SEED_CHAIN


def test_only_critical_alerts_reach_the_third_step(tree, spec_set, tmp_path):
    """Each alert's pager receivers (amtool on the generated config) → the PagerDuty service
    → its policy: the engineering manager is reached by critical alerts only."""
    require_tool("amtool")
    output.write_tree(tree, tmp_path)
    cfg = tmp_path / cv.ALERTMANAGER_CONFIG_PATH
    platform = spec_set.platform_model
    service_of = {c.name: c.pagerduty_service for c in platform.channels
                  if c.type == "pagerduty"}
    steps = _pd_policy_steps(tree)
    reached: dict[str, set[str]] = {}
    for name, labels in alert_instances(spec_set):
        for receiver in routes_test(cfg, labels):
            if receiver in service_of:
                reached.setdefault(name, set()).update(
                    s for s, _t in steps[service_of[receiver]])
    severity = {a.name: a.severity for a in _names(spec_set).values()}
    third = {n for n, s in reached.items() if "engineering-manager" in s}
    assert third == {n for n, s in severity.items() if s == "critical"}
    assert reached["PipelineFailureRate"] == {"ml-oncall-primary", "ml-platform-lead"}
    assert not {n for n, s in severity.items() if s != "critical"} & third
    # the routes table and runbooks say the same
    for name, alert in _names(spec_set).items():
        chain = alertmanager.escalation_chain(platform, alert.severity, alert.routing)
        assert ("Engineering manager" in [lvl.name for lvl in chain]) == (name in third)


def test_opsgenie_escalations_are_if_not_closed_with_absolute_delays(og_tree):
    tf = json.loads(og_tree[cv.OPSGENIE_TERRAFORM_PATH])
    res = tf["resource"]
    assert tf["terraform"]["required_providers"]["opsgenie"]["source"] == "opsgenie/opsgenie"
    (team_key, team), = res["opsgenie_team"].items()
    assert team["name"] == "ML Platform"
    team_id = f"${{opsgenie_team.{team_key}.id}}"
    assert {s["name"] for s in res["opsgenie_schedule"].values()} == {
        "ml-oncall-primary", "ml-platform-lead"}
    assert all(s["owner_team_id"] == team_id for s in res["opsgenie_schedule"].values())

    def steps(key: str) -> list[tuple[str, str, int]]:
        esc = res["opsgenie_escalation"][key]
        assert esc["owner_team_id"] == team_id
        return [(r["condition"], r["recipient"][0]["id"], r["delay"]) for r in esc["rules"]]

    sched = "${opsgenie_schedule.%s.id}"
    assert steps(f"{team_key}_critical") == [
        ("if-not-closed", sched % "ml_oncall_primary", 0),
        ("if-not-closed", sched % "ml_platform_lead", 30),
        ("if-not-closed", "${data.opsgenie_user.manager_example_com.id}", 60)]
    assert steps(f"{team_key}_warning") == [
        ("if-not-closed", sched % "ml_oncall_primary", 0),
        ("if-not-closed", sched % "ml_platform_lead", 30)]
    # the team routes each severity tag to its escalation
    rules = res["opsgenie_team_routing_rule"]
    for sev in ("critical", "warning"):
        rule = rules[f"{team_key}_{sev}"]
        assert rule["criteria"][0]["conditions"] == [
            {"field": "tags", "operation": "contains", "expected_value": sev}]
        assert rule["notify"] == [{"type": "escalation",
                                   "id": f"${{opsgenie_escalation.{team_key}_{sev}.id}}"}]
    assert tf["data"]["opsgenie_user"] == {"manager_example_com": {"username":
                                                                   "manager@example.com"}}
    integ = next(iter(res["opsgenie_api_integration"].values()))
    assert integ["owner_team_id"] == team_id
    assert cv.PAGERDUTY_TERRAFORM_PATH not in og_tree  # Opsgenie is the pager here


def test_runbooks_explain_if_not_closed_versus_not_acknowledged(og_tree, tree):
    og = og_tree[cv.runbook_path("FeaturesVeryStale")]
    assert "Escalation (Opsgenie) while the alert is not closed" in og
    assert "`if-not-closed`" in og and "acknowledging does not stop it" in og
    pd = tree[cv.runbook_path("ResourceExhaustion")]
    assert "PagerDuty escalates on not-acknowledged" in pd


# ------------------------------------------------------------------ Opsgenie, webhook, overrides


def test_opsgenie_case_routes_each_alert_to_exactly_its_receivers(og_dir, og_set):
    require_tool("amtool")
    cfg = og_dir / cv.ALERTMANAGER_CONFIG_PATH
    r = __import__("mlops_dash.lint.tools", fromlist=["x"]).amtool_check_config(cfg)
    assert r.ok, r.output
    alerts = _names(og_set)
    got = {name: routes_test(cfg, labels) for name, labels in alert_instances(og_set)}
    expected = {name: spec_receivers(og_set, alerts[name].severity, alerts[name])
                for name in got}
    assert got == expected
    assert got["FeaturesVeryStale"] == ["audit-webhook", "opsgenie-ml", "slack"]
    assert got["FeaturesStale"] == ["audit-webhook", "opsgenie-ml", "slack"]  # paged warning
    assert got["FeaturesOld"] == [cv.NULL_RECEIVER]  # info: no pager, no channel


def test_opsgenie_api_key_and_webhook_token_only_from_files_or_secrets(og_tree):
    config = yaml.safe_load(og_tree[cv.ALERTMANAGER_CONFIG_PATH])
    assert alertmanager_errors(config) == []
    recv = {r["name"]: r for r in config["receivers"]}
    og = recv["opsgenie-ml"]["opsgenie_configs"][0]
    assert og["api_key_file"] == "/etc/am/opsgenie/api-key" and "api_key" not in og
    assert og["api_url"] == "https://api.eu.opsgenie.com/"
    assert og["responders"] == [{"name": "ML Platform", "type": "team"}]
    assert "{{ .CommonLabels.severity }}" in og["tags"]
    hook = recv["audit-webhook"]["webhook_configs"][0]
    assert hook["http_config"]["authorization"] == {"type": "Bearer",
                                                    "credentials_file": "/etc/am/webhook/token"}
    manifest = yaml.safe_load(og_tree[cv.alertmanager_config_manifest_path("og")])
    assert manifest_errors(manifest) == []
    mrecv = {r["name"]: r for r in manifest["spec"]["receivers"]}
    assert mrecv["opsgenie-ml"]["opsgenieConfigs"][0]["apiKey"] == {"name": "am-opsgenie",
                                                                   "key": "api-key"}
    assert mrecv["audit-webhook"]["webhookConfigs"][0]["httpConfig"]["authorization"][
        "credentials"] == {"name": "am-webhook", "key": "token"}
    assert manifest["spec"]["muteTimeIntervals"] == [{"name": "FeaturesLate-off-pager",
                                                      "timeIntervals": [{
                                                          "times": [{"startTime": "00:00",
                                                                     "endTime": "06:00"}],
                                                          "weekdays": ["saturday", "sunday"]}]}]


def test_a_literal_opsgenie_api_key_is_refused(tmp_path):
    import shutil

    specs = shutil.copytree(OPSGENIE, tmp_path / "specs")
    f = specs / "platform.yaml"
    f.write_text(f.read_text().replace("    api_key_file: /etc/am/opsgenie/api-key",
                                       "    api_key: 0123456789abcdef"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs)
    text = str(info.value)
    assert "channels[0].api_key" in text and "0123456789abcdef" not in text


def test_a_window_mutes_only_the_pager_of_that_alert(og_tree):
    config = yaml.safe_load(og_tree[cv.ALERTMANAGER_CONFIG_PATH])
    late = next(r for r in config["route"]["routes"]
                if 'alertname="FeaturesLate"' in r.get("matchers", []))
    muted = {c["receiver"]: c.get("mute_time_intervals") for c in late["routes"]}
    assert muted == {"slack": None, "audit-webhook": None,
                     "opsgenie-ml": ["FeaturesLate-off-pager"]}
    assert config["time_intervals"] == [{"name": "FeaturesLate-off-pager", "time_intervals": [
        {"times": [{"start_time": "00:00", "end_time": "06:00"}],
         "weekdays": ["saturday", "sunday"]}]}]


def test_routes_command_shows_the_overrides():
    from test_cli import run

    r = run("routes", "--specs", str(OPSGENIE), "--format", "tsv")
    assert r.returncode == 0, r.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in r.stdout.splitlines()[1:]}
    assert r.stdout.splitlines()[0].split("\t")[-1] == "override"
    assert rows["FeaturesStale"][4] == "pages although warning (stale features stop the fraud " \
                                       "model)"
    assert rows["FeaturesLate"][4].startswith("pager muted during saturday, sunday "
                                              "00:00-06:00 UTC")
    assert "opsgenie-ml (muted during the window)" in rows["FeaturesLate"][2]
    assert rows["FeaturesVeryStale"][4] == ""
    md = run("routes").stdout
    assert "| PipelineFailureRate | warning | pagerduty-ml-warnings, slack-ml-ops | " \
           "On-call ML engineer → ML platform lead (after 30 min) | pages although warning" in md


def test_diff_shows_the_override(tmp_path, specs_copy):
    f = specs_copy / "pipeline-reliability.yaml"
    text = f.read_text()
    line = "    routing: {page: true, reason: \"the seed's action: Page on-call; check runbook\"}\n"
    assert line in text
    f.write_text(text.replace(line, ""))
    base, head = tmp_path / "base", tmp_path / "head"
    output.write_tree(pipeline.build_tree(specs_copy), base)
    output.write_tree(pipeline.build_tree(ROOT / "specs"), head)
    from mlops_dash import treesource

    changes = semdiff.semantic_diff(treesource.read_folder(base), treesource.read_folder(head))
    routing = [(c.subject, c.before, c.after) for c in changes if c.area == "routing"]
    assert ("PipelineFailureRate", ["slack-ml-ops"],
            ["pagerduty-ml-warnings", "slack-ml-ops"]) in routing
    assert len(routing) == 1
    assert any(c.subject == "runbooks/PipelineFailureRate.md" for c in changes)


@pytest.mark.parametrize("edit,message", [
    (("routing: {page: true, reason:", "routing: {page: false, reason:"),
     "routing.page: false keeps a critical alert off the pager; a warning alert does not page"),
    (("routing: {page: true, reason: \"the seed's action: Page on-call; check runbook\"}",
      "routing: {page: true, reason: x, window: {weekdays: [monday]}}"),
     "`window` keeps an alert off the pager during it; it needs page: false"),
])
def test_override_mistakes_are_placed_spec_errors(specs_copy, edit, message):
    f = specs_copy / "pipeline-reliability.yaml"
    f.write_text(f.read_text().replace(*edit))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    (err,) = info.value.errors
    assert err.path.startswith("alerts[0].routing") and err.line and message in err.message


def test_paging_a_warning_needs_a_pager_of_its_own(specs_copy):
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("  paged_warning_channels: [pagerduty-ml-warnings]\n",
                                       ""))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    messages = [e.format() for e in info.value.errors]
    assert any("pipeline-reliability.yaml:" in msg and "alerts[0].routing.page: "
               "PipelineFailureRate asks to page, but the platform has no "
               "routing.paged_warning_channels" in msg for msg in messages), messages


def test_paged_warning_channel_must_be_a_pager(specs_copy):
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("paged_warning_channels: [pagerduty-ml-warnings]",
                                       "paged_warning_channels: [slack-ml-ops]"))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert any(e.path == "routing.paged_warning_channels[0]" and "is not a pager" in e.message
               for e in info.value.errors)
