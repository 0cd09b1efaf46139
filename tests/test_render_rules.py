"""Prometheus output: promtool-valid rule files, strict PrometheusRule manifests, conventions."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import require_tool

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.lint import tools
from mlops_dash.lint.schemas import manifest_errors, rule_file_errors


def _rule_files(tree):
    return {p: c for p, c in tree.items() if p.startswith("prometheus/") and p.endswith(".rules.yaml")}


def _alerts(tree):
    out = {}
    for content in _rule_files(tree).values():
        for group in yaml.safe_load(content)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]] = (group, rule)
    return out


def test_promtool_check_rules_passes_on_every_rule_file(tree, tmp_path: Path):
    require_tool("promtool")
    files = []
    for rel, content in _rule_files(tree).items():
        f = tmp_path / Path(rel).name
        f.write_text(content)
        files.append(f)
    result = tools.promtool_check_rules(*files)
    assert result.ok, result.output
    assert result.output.count("SUCCESS") == 5


def test_promtool_rejects_a_broken_expression(tmp_path: Path):
    require_tool("promtool")
    f = tmp_path / "bad.yaml"
    f.write_text("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: rate(up[5m]) >\n")
    assert not tools.promtool_check_rules(f).ok


def test_rule_files_pass_the_schemastore_schema(tree):
    for rel, content in _rule_files(tree).items():
        assert rule_file_errors(yaml.safe_load(content)) == [], rel


def test_prometheusrule_manifests_pass_the_strict_crd_schema(tree):
    manifests = [p for p in tree if p.startswith("kubernetes/prometheusrule-")]
    assert len(manifests) == 5
    for rel in manifests:
        doc = yaml.safe_load(tree[rel])
        assert doc["kind"] == "PrometheusRule"
        assert manifest_errors(doc) == [], rel


def test_strict_schema_rejects_an_unknown_field(tree):
    rel = next(p for p in tree if p.startswith("kubernetes/prometheusrule-"))
    doc = yaml.safe_load(tree[rel])
    doc["spec"]["groups"][0]["rules"][0]["severity"] = "warning"
    assert manifest_errors(doc)


def test_same_groups_in_plain_file_and_manifest(spec_set, tree):
    for d in spec_set.dashboard_models():
        plain = yaml.safe_load(tree[cv.rule_file_path(d.uid)])
        manifest = yaml.safe_load(tree[cv.prometheus_rule_manifest_path(d.uid)])
        assert plain["groups"] == manifest["spec"]["groups"]


LIVENESS_ALERTS = ("ExporterSourceDown", "ExporterSourceStale", "ScrapeTargetDown",
                   "DriftCheckStale", "DataValidationStale", "PushgatewayGroupStale")


def test_every_alert_has_labels_and_annotations(spec_set, tree):
    alerts = _alerts(tree)
    slo_alerts = sum(len(s.tiers) for d in spec_set.dashboard_models() for s in d.slos)
    # the seed's 15 alerts and the liveness alerts of the pushed and batch sources (METRICS.md)
    assert len(alerts) == 15 + len(LIVENESS_ALERTS) + slo_alerts
    assert set(LIVENESS_ALERTS) <= set(alerts)
    for d in spec_set.dashboard_models():
        for a in d.alerts:
            _, rule = alerts[a.name]
            assert rule["labels"]["severity"] == a.severity
            assert rule["labels"]["team"] == d.team
            assert rule["labels"]["dashboard"] == d.uid
            ann = rule["annotations"]
            assert set(ann) >= {"summary", "description", "runbook_url", "dashboard_url"}
            assert ann["runbook_url"].endswith(f"/{a.name}.md")
            assert f"/d/{d.uid}/" in ann["dashboard_url"] and "viewPanel=panel-" in ann[
                "dashboard_url"]
            assert "{{ $value" in ann["description"] or "{{ $value" in ann["summary"]
            assert "${" not in ann["description"] + ann["summary"]


def test_dashboard_url_fills_variables_from_alert_labels(tree):
    _, rule = _alerts(tree)["HighLatency"]
    url = rule["annotations"]["dashboard_url"]
    assert "var-model={{ $labels.destination_canonical_service }}" in url
    assert "var-namespace={{ $labels.destination_workload_namespace }}" in url


def test_expression_carries_threshold_comparison_window_and_for(spec_set, tree):
    alerts = _alerts(tree)
    for d in spec_set.dashboard_models():
        for a in d.alerts:
            group, rule = alerts[a.name]
            assert rule["expr"].endswith(f" {a.comparison} {promql.format_number(a.threshold)}")
            if a.window:
                assert f"{a.window}]" in rule["expr"] or f"offset {a.window}" in rule["expr"]
            assert rule.get("for", "0m") == a.for_
            assert group["interval"] == a.interval


def test_recording_rules_follow_level_metric_operations(tree):
    for content in _rule_files(tree).values():
        for group in yaml.safe_load(content)["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    assert cv.RECORD_NAME_RE.match(rule["record"]), rule["record"]


def test_costly_baselines_are_recorded(tree):
    records = {r["record"]: g for content in _rule_files(tree).values()
               for g in yaml.safe_load(content)["groups"] for r in g["rules"] if "record" in r}
    p95 = records["pipeline:mlops_pipeline_run_duration_seconds:p95_7d"]
    assert p95["interval"] == "5m"  # a 7d range, evaluated at a coarser step than 1m
    assert "cluster:node_total_hourly_cost:daily_sum" in records


def test_no_7d_range_selector_evaluated_every_minute(tree):
    import re

    for content in _rule_files(tree).values():
        for group in yaml.safe_load(content)["groups"]:
            if group["interval"] != "1m":
                continue
            for rule in group["rules"]:
                assert not re.search(r"\[7d\]", rule["expr"]), rule
