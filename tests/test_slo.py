"""SLOs: Sloth's burn-rate factors, the generated rules under the real promtool (check and the
generated burn-rate tests), inhibit rules under amtool, spec validation, dashboard panels."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, require_tool

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline, promql
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.lint import tools
from mlops_dash.render import slo as slo_render
from mlops_dash.spec.loader import load_specs
from mlops_dash.spec.models import duration_seconds

SLO_GOLDEN = ROOT / "tests" / "golden" / "slo" / "specs"
ACCURACY = "model-accuracy"


def _model_performance(spec_set):
    return next(d for d in spec_set.dashboard_models() if d.uid == "mlops-model-performance")


def _accuracy(spec_set):
    return next(s for s in _model_performance(spec_set).slos if s.name == ACCURACY)


def _groups(tree, uid):
    return yaml.safe_load(tree[cv.rule_file_path(uid)])["groups"]


def _write(tree: dict[str, str], out: Path) -> Path:
    for rel, content in tree.items():
        f = out / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(content)
    return out


# ----------------------------------------------------------------------------- factors


@pytest.mark.parametrize("period,expected", [
    ("30d", [14.4, 6, 3, 1]),                # the SRE workbook's table
    ("28d", [13.44, 5.6, 2.8, 0.933333]),    # what Sloth generates for 28 days
])
def test_burn_factors_scale_with_the_period_as_sloth_computes_them(period, expected):
    assert [slo_render.burn_factor(period, w) for w in slo_render.BURN_WINDOWS] == expected


def test_windows_and_tiers_follow_the_workbook():
    got = [(w.tier, w.long, w.short) for w in slo_render.BURN_WINDOWS]
    assert got == [("page", "1h", "5m"), ("page", "6h", "30m"),
                   ("ticket", "1d", "2h"), ("ticket", "3d", "6h")]


# ----------------------------------------------------------------------------- rules


def test_accuracy_slo_records_every_window_and_the_remaining_budget(tree):
    records = {}
    for g in _groups(tree, "mlops-model-performance"):
        for r in g["rules"]:
            if "record" in r and r.get("labels", {}).get("slo") == ACCURACY:
                records[r["record"]] = (g, r)
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
    for w in windows:
        assert cv.slo_error_ratio_record(w) in records, w
    assert all(cv.RECORD_NAME_RE.match(name) for name in records)
    assert records["slo:sli_error:ratio"][1]["expr"] == (
        "1 - (min by (model) (mlops_model_accuracy_ratio))")
    budget = records["slo:error_budget_remaining:ratio"][1]["expr"]
    assert budget == '1 - slo:sli_error:ratio_rate30d{slo="model-accuracy"} / 0.01'
    # The long windows are evaluated less often than the short ones.
    assert records["slo:sli_error:ratio_rate5m"][0]["interval"] == "1m"
    assert records["slo:sli_error:ratio_rate30d"][0]["interval"] == "5m"
    assert records["slo:sli_error:ratio_rate3d"][0]["interval"] == "5m"


def _alert_rules(tree, uid):
    return {r["alert"]: (g, r) for g in _groups(tree, uid) for r in g["rules"] if "alert" in r}


def test_page_and_ticket_alerts_carry_tier_and_severity(tree):
    alerts = _alert_rules(tree, "mlops-model-performance")
    page_group, page = alerts["ModelAccuracyBudgetBurnPage"]
    ticket_group, ticket = alerts["ModelAccuracyBudgetBurnTicket"]
    assert page["labels"]["tier"] == "page" and page["labels"]["severity"] == "critical"
    assert ticket["labels"]["tier"] == "ticket" and ticket["labels"]["severity"] == "warning"
    assert "ratio_rate1h" in page["expr"] and "> 14.4" in page["expr"]
    assert "ratio_rate6h" in page["expr"] and "> 6" in page["expr"]
    assert "ratio_rate1d" in ticket["expr"] and "> 3" in ticket["expr"]
    assert "ratio_rate3d" in ticket["expr"] and "> 1\n" in ticket["expr"]
    assert "var-model={{ $labels.model }}" in page["annotations"]["dashboard_url"]
    assert page_group["interval"] == "1m" and ticket_group["interval"] == "5m"


def test_alerts_never_read_a_record_evaluated_less_often_than_themselves(tree, spec_set):
    """A record from a slower group could be stale when a rule reads it."""
    for d in spec_set.dashboard_models():
        if cv.rule_file_path(d.uid) not in tree:
            continue  # the overview has no rules
        groups = _groups(tree, d.uid)
        interval_of = {}
        for g in groups:
            for r in g["rules"]:
                if "record" in r:
                    interval_of.setdefault(r["record"], set()).add(g["interval"])
        for g in groups:
            for r in g["rules"]:
                for name in promql.metric_names(r["expr"]):
                    for iv in interval_of.get(name, ()):
                        assert duration_seconds(iv) <= duration_seconds(g["interval"]), (
                            g["name"], name)


def test_error_budget_exhausted_stays_as_the_seed_defines_it(tree):
    _, rule = _alert_rules(tree, "mlops-model-performance")["ErrorBudgetExhausted"]
    # below the SLO at every point of 48h, from stored samples (not `for`: see README)
    assert rule["expr"] == (
        "(max_over_time((min by (model) (mlops_model_accuracy_ratio))[48h:5m]) and on (model) "
        "min by (model) (last_over_time(mlops_model_accuracy_ratio[1h] offset 48h))) < 0.99")
    assert "for" not in rule and rule["labels"]["severity"] == "critical"


def test_generated_rules_pass_promtool_check(tree, tmp_path):
    require_tool("promtool")
    out = _write(tree, tmp_path)
    f = out / cv.rule_file_path("mlops-model-performance")
    result = tools.promtool_check_rules(f)
    assert result.ok, result.output
    golden = pipeline.build_tree(SLO_GOLDEN)
    g = _write(golden, tmp_path / "golden") / cv.rule_file_path("serving-slos")
    assert tools.promtool_check_rules(g).ok


# ----------------------------------------------------------------------------- burn-rate tests


def test_generated_tests_cover_each_tier_firing_and_quiet(tree, spec_set):
    acc = _accuracy(spec_set)
    for tier in ("page", "ticket"):
        doc = yaml.safe_load(tree[cv.slo_test_path(ACCURACY, tier)])
        assert doc["rule_files"] == ["../mlops-model-performance.rules.yaml"]
        cases = [c for t in doc["tests"] for c in t["alert_rule_test"]]
        assert {c["alertname"] for c in cases} == {cv.slo_alert_name("ModelAccuracyBudgetBurn",
                                                                     tier)}
        fired = [c for c in cases if c["exp_alerts"]]
        quiet_names = [t["name"] for t in doc["tests"] if "stays quiet" in t["name"]]
        assert fired and len(quiet_names) == 2, tier
        for w, f in slo_render.tier_windows(acc, tier):
            assert any(f"{w.long}/{w.short} factor {f:g} stays quiet" in n for n in quiet_names)
        for c in fired:
            for a in c["exp_alerts"]:
                assert a["exp_labels"]["tier"] == tier
                assert a["exp_labels"]["severity"] == cv.SLO_TIER_SEVERITY[tier]
    page = yaml.safe_load(tree[cv.slo_test_path(ACCURACY, "page")])
    assert page["evaluation_interval"] == "1m"
    fast = page["tests"][0]
    # fires while 100 % errors, then silent 6 minutes after they stop (short window 5m)
    assert [bool(c["exp_alerts"]) for c in fast["alert_rule_test"]] == [True, False]


def _promtool_tests(files: list[Path]) -> tools.ToolResult:
    require_tool("promtool")
    return tools.promtool_test_rules(*files)


def test_shipped_accuracy_burn_rate_tests_pass_under_promtool(tree, tmp_path):
    out = _write(tree, tmp_path)
    files = [out / cv.slo_test_path(ACCURACY, t) for t in ("page", "ticket")]
    result = _promtool_tests(files)
    assert result.ok, result.output
    assert result.output.count("SUCCESS") == 2


def test_other_sli_types_burn_rate_tests_pass_under_promtool(tmp_path):
    """Istio request success (events, 28d, 99.5%) and Feast freshness (0/1 threshold)."""
    tree = pipeline.build_tree(SLO_GOLDEN)
    out = _write(tree, tmp_path)
    names = sorted(p for p in tree if p.startswith("prometheus/tests/"))
    assert names == [cv.slo_test_path("feature-freshness", "ticket"),
                     cv.slo_test_path("request-success", "page"),
                     cv.slo_test_path("request-success", "ticket")]
    result = _promtool_tests([out / n for n in names])
    assert result.ok, result.output


def test_a_wrong_factor_fails_the_generated_tests(spec_set, tmp_path, monkeypatch):
    """Rules paging at 2.1 % of the budget per hour (15.12x) miss the 15.12x burn the tests
    expect to page: the tests pin the factor, not just "some alert"."""
    good = pipeline.render_tree(spec_set)
    wrong = slo_render.BurnWindow("page", 2.1, "1h", "5m")
    monkeypatch.setattr(slo_render, "BURN_WINDOWS", (wrong, *slo_render.BURN_WINDOWS[1:]))
    bad_rules = pipeline.render_tree(spec_set)[cv.rule_file_path("mlops-model-performance")]
    out = _write({**good, cv.rule_file_path("mlops-model-performance"): bad_rules}, tmp_path)
    result = _promtool_tests([out / cv.slo_test_path(ACCURACY, "page")])
    assert not result.ok
    assert "1.05x fires" in result.output


def test_without_the_short_window_the_page_would_not_reset(spec_set, tmp_path, monkeypatch):
    good = pipeline.render_tree(spec_set)
    monkeypatch.setattr(slo_render, "burn_condition", _long_only(slo_render.burn_condition))
    bad_rules = pipeline.render_tree(spec_set)[cv.rule_file_path("mlops-model-performance")]
    out = _write({**good, cv.rule_file_path("mlops-model-performance"): bad_rules}, tmp_path)
    result = _promtool_tests([out / cv.slo_test_path(ACCURACY, "page")])
    assert not result.ok
    assert "stops within the short window" in result.output


def _long_only(original):
    """A burn condition that ignores the short windows (always true for them)."""
    def condition(slo, window, factor):
        if window in ("5m", "30m", "2h") or (window == "6h" and factor < 6):
            return f'{cv.slo_error_ratio_record(window)}{{slo="{slo.name}"}} >= 0'
        return original(slo, window, factor)
    return condition


# ----------------------------------------------------------------------------- Alertmanager


def test_inhibit_rules_mute_the_ticket_while_the_page_fires(spec_set, tmp_path):
    rules = slo_render.inhibit_rules(spec_set.dashboard_models())
    assert rules == [{
        "source_matchers": ['slo="model-accuracy"', 'tier="page"'],
        "target_matchers": ['slo="model-accuracy"', 'tier="ticket"'],
        "equal": ["slo", "model"],
    }]
    require_tool("amtool")
    config = {"route": {"receiver": "null"}, "receivers": [{"name": "null"}],
              "inhibit_rules": rules}
    f = tmp_path / "alertmanager.yaml"
    f.write_text(output.dump_yaml(config))
    result = tools.amtool_check_config(f)
    assert result.ok, result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(port: int, path: str, data: object = None) -> object:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method="POST" if data is not None else "GET",
        data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if body.strip().startswith((b"[", b"{")) else body


def test_a_real_alertmanager_mutes_the_ticket_of_the_paging_instance_only(spec_set, tmp_path):
    """Page and ticket for model m1, ticket for m2: only m1's ticket is inhibited."""
    binary = tools.find_tool("prometheus-alertmanager")
    config = {"route": {"receiver": "null", "group_wait": "0s"}, "receivers": [{"name": "null"}],
              "inhibit_rules": slo_render.inhibit_rules(spec_set.dashboard_models())}
    (tmp_path / "am.yaml").write_text(output.dump_yaml(config))
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'am.yaml'}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _api(port, "/-/ready")
                break
            except OSError:
                assert time.monotonic() < deadline, "alertmanager did not become ready"
                time.sleep(0.2)

        def alert(tier: str, model: str) -> dict[str, dict[str, str]]:
            name = cv.slo_alert_name("ModelAccuracyBudgetBurn", tier)
            return {"labels": {"alertname": name, "slo": ACCURACY, "tier": tier, "model": model,
                               "severity": cv.SLO_TIER_SEVERITY[tier]}}

        _api(port, "/api/v2/alerts", [alert("page", "m1"), alert("ticket", "m1"),
                                      alert("ticket", "m2")])
        # The inhibitor learns of source alerts from its own subscription to the alert store
        # (alertmanager inhibit/inhibit.go, Inhibitor.Run, started with `go inhibitor.Run()`),
        # so just after the POST a target can read "active" before its source is seen: wait
        # for the settled state, not for the first processed one.
        want = {("page", "m1"): "active", ("ticket", "m1"): "suppressed",
                ("ticket", "m2"): "active"}
        state: dict[tuple[str, str], str] = {}
        while time.monotonic() < deadline:
            alerts = _api(port, "/api/v2/alerts")
            assert isinstance(alerts, list)
            state = {(a["labels"]["tier"], a["labels"]["model"]): a["status"]["state"]
                     for a in alerts}
            if state == want:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # settled: m2's ticket must stay active
        alerts = _api(port, "/api/v2/alerts")
        assert isinstance(alerts, list)
        state = {(a["labels"]["tier"], a["labels"]["model"]): a["status"]["state"]
                 for a in alerts}
        assert state == want
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_severity_routing_sends_page_to_critical_and_ticket_to_warning(spec_set, tree,
                                                                        tmp_path):
    """The platform routes by severity; the tiers' labels reach the matching routes."""
    routes = spec_set.platform_model.routing.routes
    config = {"route": {"receiver": "default", "routes": [
        {"receiver": r.severity, "matchers": [f'severity="{r.severity}"']} for r in routes]},
        "receivers": [{"name": "default"}, *({"name": r.severity} for r in routes)]}
    f = tmp_path / "am.yaml"
    f.write_text(output.dump_yaml(config))
    alerts = _alert_rules(tree, "mlops-model-performance")
    require_tool("amtool")
    for tier, receiver in (("page", "critical"), ("ticket", "warning")):
        _, rule = alerts[cv.slo_alert_name("ModelAccuracyBudgetBurn", tier)]
        labels = {**rule["labels"], "alertname": rule["alert"], "slo": ACCURACY, "model": "m"}
        result = tools.amtool_routes_test(f, labels)
        assert result.ok and result.stdout.strip() == receiver, result.output


def test_inhibit_rules_only_for_slos_with_both_tiers():
    d = load_specs(SLO_GOLDEN).dashboard_models()
    rules = slo_render.inhibit_rules(d)
    assert [r["equal"] for r in rules] == [["slo", "destination_canonical_service"]]


# ----------------------------------------------------------------------------- dashboard


def test_burn_rate_panel_shows_each_window_and_the_remaining_budget(tree):
    dash = json.loads(tree[cv.dashboard_json_path("mlops-model-performance")])
    panel = next(p for p in dash["panels"] if p["title"] == "Error Budget Burn Rate")
    exprs = [t["expr"] for t in panel["targets"]]
    for w in ("1h", "6h", "1d", "3d"):
        assert any(f"slo:sli_error:ratio_rate{w}{{" in e for e in exprs), w
    assert any(e.startswith("slo:error_budget_remaining:ratio{") for e in exprs)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert 1 in [s["value"] for s in steps]  # burn rate 1 = exactly the objective


def test_compliance_stat_uses_the_objective_as_threshold(tree, spec_set):
    dash = json.loads(tree[cv.dashboard_json_path("mlops-model-performance")])
    panel = next(p for p in dash["panels"] if p["title"].startswith("Accuracy SLO Compliance"))
    assert panel["type"] == "stat"
    assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    objective = _accuracy(spec_set).objective
    assert {"color": "green", "value": objective} in steps
    assert "slo:sli_error:ratio_rate30d" in panel["targets"][0]["expr"]


# ----------------------------------------------------------------------------- spec errors


def _load_with(specs_copy: Path, edit) -> SpecError:
    f = specs_copy / "model-performance.yaml"
    data = yaml.safe_load(f.read_text())
    edit(data["slos"][0], data)
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    return info.value.errors[0]


@pytest.mark.parametrize("edit,message", [
    (lambda s, d: s.update(objectve=0.9), "unknown field 'objectve'"),
    (lambda s, d: s.update(objective=0.9), "too low for burn-rate alerts"),
    (lambda s, d: s.update(period="7d"), "expected '28d' or '30d'"),
    (lambda s, d: s.update(tiers=["page", "page"]), "each tier at most once"),
    (lambda s, d: s.update(panel="error-budget-brun"), "did you mean 'error-budget-burn'"),
    (lambda s, d: s["sli"].update(good_ratio={"metric": "mlops_model_acuracy_ratio"}),
     "not in the metric catalogue"),
    (lambda s, d: s.update(sli={"type": "events", "total": {"metric": "mlops_model_mae"},
                                "bad": {"metric": "mlops_model_mae"}}), "is a gauge"),
    (lambda s, d: d["alerts"].append({**d["alerts"][1], "name": "ModelAccuracyBudgetBurnPage"}),
     "also used"),
    (lambda s, d: d.setdefault("recording_rules", []).append(
        {"record": "slo:sli_error:ratio_rate5m", "expr": "vector(1)"}), "generated from `slos`"),
])
def test_slo_spec_mistakes_are_reported_with_a_place(specs_copy, edit, message):
    err = _load_with(specs_copy, edit)
    assert message in err.message, err.message
    assert err.file.endswith("model-performance.yaml") and err.line > 0


def test_shipped_specs_have_one_accuracy_slo_with_both_tiers(spec_set):
    acc = _accuracy(spec_set)
    assert (acc.objective, acc.period, acc.by, acc.tiers) == (0.99, "30d", ["model"],
                                                              ["page", "ticket"])
