"""End to end on the real servers: simulator → prometheus (generated rules) → alertmanager
(generated routing) → PagerDuty / Slack / SMTP capture. Marked ``e2e`` (``make e2e``).

Each scenario gets its own Prometheus (fresh TSDB, history backfilled with promtool), run four at
a time; routing checks post alerts straight to Alertmanager; one test follows a real alert from
the scraped series to PagerDuty and back to resolved.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import e2e_support as es
import pytest
import yaml
from conftest import GENERATED, SPECS, require_tool

from mlops_dash import simulate as sim
from mlops_dash.spec.loader import load_specs

pytestmark = pytest.mark.e2e

RULE_FILES = sorted((GENERATED / "prometheus").glob("*.rules.yaml"))
AM_CONFIG = GENERATED / "alertmanager" / "alertmanager.yaml"
ALERTS = [a.name for d in load_specs(SPECS).dashboard_models() for a in d.alerts]
PARALLEL = 6


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("prometheus", "promtool", "prometheus-alertmanager"):
        require_tool(tool)


@pytest.fixture(scope="module")
def world(spec_set) -> sim.World:
    return sim.build_world(spec_set)


@pytest.fixture(scope="module")
def simulator(world):
    server = sim.Simulator(world).start()
    yield server
    server.stop()


@pytest.fixture()
def workdir(tmp_path_factory) -> Any:
    path = tmp_path_factory.mktemp("e2e")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def check_scenario(world: sim.World, simulator: sim.Simulator, scenario: str,
                   rule_files: list[Path], workdir: Path,
                   backfill: bool = True) -> es.ScenarioResult:
    """run_scenario, with a Prometheus that refuses the rule files reported as a problem."""
    expect = None if scenario == sim.HEALTHY else scenario
    try:
        return es.run_scenario(world, simulator, scenario, rule_files, workdir, expect,
                               backfill=backfill)
    except es.PrometheusExited as exc:
        return es.ScenarioResult(scenario, {}, [f"prometheus refused the rules: {exc}"])
    except TimeoutError as exc:
        return es.ScenarioResult(scenario, {}, [], error=str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def scenarios(tools, world, simulator, tmp_path_factory) -> dict[str, es.ScenarioResult]:
    """Every scenario in its own Prometheus, PARALLEL at a time."""
    base = tmp_path_factory.mktemp("scenarios")
    names = [sim.HEALTHY, *ALERTS]
    with ThreadPoolExecutor(PARALLEL) as pool:
        results = pool.map(lambda n: check_scenario(world, simulator, n, RULE_FILES, base / n),
                           names)
        return dict(zip(names, results, strict=True))


# ------------------------------------------------------------------ 1. rules load and evaluate


def test_every_rule_loads_and_evaluates_ok_on_healthy(scenarios):
    healthy = scenarios[sim.HEALTHY]
    assert not healthy.error, healthy.error
    assert healthy.rule_problems == []
    assert healthy.backfilled_samples > 0  # the long windows saw a backfilled quiet week


def test_a_rule_with_an_unknown_function_fails_the_check(tools, world, simulator, workdir):
    broken = workdir / "broken.rules.yaml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [
        {"record": "x:nonexistent:fn", "expr": "nonexistent_function(up)"}]}]}))
    result = check_scenario(world, simulator, sim.HEALTHY, [*RULE_FILES, broken],
                            workdir / "run", backfill=False)
    assert any("nonexistent_function" in p for p in result.rule_problems), result


def test_a_rule_failing_at_evaluation_fails_the_check(tools, world, simulator, workdir):
    # parses, but many-to-one matching without group_left fails on every evaluation
    broken = workdir / "eval.rules.yaml"
    broken.write_text(yaml.safe_dump({"groups": [{"name": "eval-error", "rules": [
        {"record": "x:many_to_one:error",
         "expr": "container_memory_working_set_bytes * on () vector(1)"}]}]}))
    result = check_scenario(world, simulator, sim.HEALTHY, [*RULE_FILES, broken],
                            workdir / "run", backfill=False)
    assert any(p.startswith("x:many_to_one:error: health 'err'") for p in result.rule_problems), \
        result


# ------------------------------------------------------------------ 2. scenarios fire their alert


def test_no_alert_fires_on_healthy(scenarios):
    assert scenarios[sim.HEALTHY].alerts == {}


def alerts_reading(metrics: set[str], world: sim.World) -> set[str]:
    """Alerts of the rule files whose expressions (through recording rules) read ``metrics``."""
    rules = es.rules_in(RULE_FILES)
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    return {r["alert"] for r in rules if "alert" in r
            and sim.catalogue_inputs(r["expr"], records, set(world.types)) & metrics}


@pytest.mark.parametrize("alert", ALERTS)
def test_scenario_makes_its_alert_and_no_unrelated_one_pending_or_firing(scenarios, world,
                                                                          alert):
    result = scenarios[alert]
    assert not result.error, result.error
    assert result.alerts.get(alert) in ("pending", "firing"), result.alerts
    # the scenario changes only its alert's input series; only alerts reading them may react
    # (e.g. the accuracy SLO's burn-rate alert with ErrorBudgetExhausted)
    changed = {s.metric for s in world.scenarios[alert].overrides}
    unrelated = set(result.alerts) - {alert} - alerts_reading(changed, world)
    assert not unrelated, f"unrelated alerts active too: {result.alerts}"
    assert result.rule_problems == []


# ------------------------------------------------------------------ 3./4. routing and texts


def load_am_config() -> dict[str, Any]:
    return yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))


def wrong_channel(config: dict[str, Any]) -> dict[str, Any]:
    for r in config["receivers"]:
        for sl in r.get("slack_configs", []):
            sl["channel"] = "#random"
    return config


def without_inhibition(config: dict[str, Any]) -> dict[str, Any]:
    config.pop("inhibit_rules", None)
    return config


@pytest.fixture(scope="module")
def routing(tools, tmp_path_factory) -> dict[str, es.RoutingReport]:
    """The generated routing and two deliberately broken copies, each in a real Alertmanager."""
    case = es.routing_case(RULE_FILES)
    variants = {"generated": load_am_config(), "wrong-channel": wrong_channel(load_am_config()),
                "no-inhibition": without_inhibition(load_am_config())}
    base = tmp_path_factory.mktemp("routing")
    with ThreadPoolExecutor(len(variants)) as pool:
        futures = {name: pool.submit(es.exercise_routing, cfg, AM_CONFIG.parent, case,
                                     base / name) for name, cfg in variants.items()}
        reports = {name: f.result() for name, f in futures.items()}
    shutil.rmtree(base, ignore_errors=True)
    return reports


def test_generated_routing_delivers_as_specified(routing):
    report = routing["generated"]
    assert es.routing_problems(report) == []
    # what that means, spelled out on the captured payloads
    crit_pd = [b for b in report.pagerduty if b["payload"]["class"] ==
               report.case.critical["labels"]["alertname"]]
    assert crit_pd[0]["event_action"] == "trigger"
    assert crit_pd[0]["routing_key"] == report.secrets["pagerduty-routing-key"]
    assert {b["channel"] for b in report.slack} == {"#ml-ops"}
    assert len(report.slack) == 2  # the critical and the other model's warning; not info
    assert len(report.pagerduty) == 1  # only the critical pages
    # the digest is a job now (tests/test_digest.py): Alertmanager mails nothing
    assert not report.digest_route and report.emails == []


def test_notifications_carry_runbook_and_dashboard_links(routing):
    report = routing["generated"]
    crit = report.case.critical["annotations"]
    links = {link["href"] for b in report.pagerduty for link in b.get("links", [])}
    assert {crit["runbook_url"], crit["dashboard_url"]} <= links
    slack_text = " ".join(a["text"] for b in report.slack for a in b["attachments"])
    assert crit["runbook_url"] in slack_text and crit["dashboard_url"] in slack_text


def test_a_receiver_on_the_wrong_channel_fails_the_routing_check(routing):
    problems = es.routing_problems(routing["wrong-channel"])
    assert "critical: Slack message to '#random', not #ml-ops" in problems
    assert "warning: Slack message to '#random', not #ml-ops" in problems


def test_a_missing_inhibition_fails_the_inhibition_check(routing):
    problems = es.routing_problems(routing["no-inhibition"])
    assert any(p.startswith("inhibition:") for p in problems), problems
    assert es.routing_problems(routing["generated"]) == []


def test_scraped_series_page_and_resolve_through_the_real_servers(tools, world, workdir):
    """A critical alert from scraped series: simulator → Prometheus → Alertmanager → PagerDuty
    and Slack; back to healthy → resolved notifications."""
    capture = es.CaptureServer().start()
    smtp = es.SmtpSink().start()
    server = sim.Simulator(world, "ResourceExhaustion").start()
    am = prom = None
    try:
        cfg, secrets = es.local_endpoints(load_am_config(), capture.url, smtp.port,
                                          workdir / "secrets")
        cfg = es.absolute_templates(cfg, [AM_CONFIG.parent])
        am = es.Alertmanager(workdir / "am", cfg).start()
        prom = es.Prometheus(workdir / "prom", RULE_FILES, [f"{server.url}/metrics"],
                             alertmanager=am.url).start()

        def pages(action: str) -> list[dict[str, Any]]:
            return [r.body for r in capture.posts("/pagerduty")
                    if r.body.get("event_action") == action
                    and r.body["payload"]["class"] == "ResourceExhaustion"]

        triggered = es.wait_for("a PagerDuty trigger for ResourceExhaustion",
                                lambda: pages("trigger"), 60)
        assert triggered[0]["routing_key"] == secrets["pagerduty-routing-key"]
        slack = es.wait_for("a Slack message for ResourceExhaustion", lambda: [
            r.body for r in capture.posts("/slack") if "[FIRING" in str(r.body)
            and "ResourceExhaustion" in str(r.body)], 30)
        assert {b["channel"] for b in slack} == {"#ml-ops"}
        server.switch(sim.HEALTHY)
        resolved = es.wait_for("a PagerDuty resolve for ResourceExhaustion",
                               lambda: pages("resolve"), 60)
        assert {b["dedup_key"] for b in resolved} <= {b["dedup_key"] for b in triggered}
        es.wait_for("a resolved Slack message", lambda: [
            r for r in capture.posts("/slack") if "[RESOLVED]" in str(r.body)
            and "ResourceExhaustion" in str(r.body)], 30)
        assert prom.active_alerts() == {}
    finally:
        for proc in (prom, am):
            if proc is not None:
                proc.stop()
        server.stop()
        capture.stop()
        smtp.stop()


def test_every_server_is_stopped(routing, scenarios, tmp_path_factory):
    """Nothing started by the suite outlives its test (process groups are killed)."""
    base = str(tmp_path_factory.getbasetemp())
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True,
                         check=False).stdout
    leftovers = [line for line in out.splitlines()
                 if ("prometheus" in line or "alertmanager" in line) and base in line]
    assert leftovers == []
