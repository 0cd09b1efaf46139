"""Dashboards that show what is true (issue 14, point 11): alert-history states, utilisation
over live pods, one model identity, per-series units and the one schema exception, the Feast
labels. Panel queries are taken from the rendered dashboards and evaluated by the real promtool
on series shaped as the exporters expose them."""

from __future__ import annotations

import json
import re

import pytest
from conftest import require_tool
from promql_eval import panel_exprs, run_case, series_text
from test_lint import lint_folder, only, replace_once

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecErrors
from mlops_dash.lint import schemas
from mlops_dash.render import grafana
from mlops_dash.spec.loader import load_specs

PIPELINES = "mlops-pipeline-reliability"
SERVING = "mlops-serving-health"
MODELS = "mlops-model-performance"


def dashboard(tree, uid):
    return json.loads(tree[cv.dashboard_json_path(uid)])


def panel(tree, uid, title):
    return next(p for p in dashboard(tree, uid)["panels"] if p["title"] == title)


# --------------------------------------------------------------------------- alert history


def test_alert_history_shows_pending_and_firing_as_distinct_states(tree, tmp_path):
    """Prometheus' ALERTS is 1 for a pending and for a firing alert, told apart only by
    `alertstate` (Prometheus docs, "Alerting rules: inspecting alerts during runtime"). The panel
    gives pending 1 and firing 2, names the state in the legend and maps both values."""
    require_tool("promtool")
    p = panel(tree, SERVING, "Serving Alert History")
    (expr,) = [t["expr"] for t in p["targets"]]
    assert "{{alertstate}}" in p["targets"][0]["legendFormat"]
    mapping = p["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert {v["text"] for v in mapping.values()} == {"pending", "firing"}
    assert mapping["1"]["text"] == "pending" and mapping["2"]["text"] == "firing"
    rule = {"alert": "ScalingIssue", "expr": "hpa_gap > 0", "for": "15m",
            "labels": {"severity": "warning"}}
    pending = series_text("", {"alertname": "ScalingIssue", "alertstate": "pending",
                               "severity": "warning"})
    firing = pending.replace("pending", "firing")
    r = run_case(tmp_path, {"hpa_gap": "2x40"}, [
        (expr, "10m", [(pending, 1)]),
        (expr, "20m", [(firing, 2)]),
        # the old query: the same value 1 in both states, so "pending" showed as "firing"
        ('max by (alertname, alertstate, severity) (ALERTS{alertname=~"ScalingIssue"})', "10m",
         [(pending, 1)]),
        ('max by (alertname, alertstate, severity) (ALERTS{alertname=~"ScalingIssue"})', "20m",
         [(firing, 1)]),
    ], extra_rules=[rule])
    assert r.ok, r.output


# --------------------------------------------------------------------------- utilisation


def test_resource_utilization_divides_by_requests_of_live_pods_only(tree, tmp_path):
    """kube-state-metrics keeps a finished pod's series (its requests included) until the pod
    is deleted; cAdvisor stops reporting its usage. A pipeline step that Succeeded must not halve
    the utilisation of the running one (kubernetes-mixin rules/apps.libsonnet filters requests by
    kube_pod_status_phase{phase=~"Pending|Running"} == 1)."""
    require_tool("promtool")
    cpu, mem, _gpu = panel_exprs(tree, PIPELINES, "Resource Utilization",
                                 {"namespace": "kubeflow"})
    ns = {"namespace": "kubeflow", "container": "main"}
    running, done = {**ns, "pod": "train-step-1"}, {**ns, "pod": "train-step-0"}
    series = {
        # 0.5 CPU-seconds per second, 1 GiB working set, of the running step
        series_text("container_cpu_usage_seconds_total", running): "0+30x30",
        series_text("container_memory_working_set_bytes", running): "1073741824x30",
        series_text("kube_pod_container_resource_requests",
                    {**running, "resource": "cpu", "unit": "core"}): "1x30",
        series_text("kube_pod_container_resource_requests",
                    {**done, "resource": "cpu", "unit": "core"}): "1x30",
        series_text("kube_pod_container_resource_requests",
                    {**running, "resource": "memory", "unit": "byte"}): "2147483648x30",
        series_text("kube_pod_container_resource_requests",
                    {**done, "resource": "memory", "unit": "byte"}): "2147483648x30",
    }
    for pod, phase in ((running, "Running"), (done, "Succeeded")):
        for ph in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            labels = {"namespace": "kubeflow", "pod": pod["pod"], "phase": ph}
            series[series_text("kube_pod_status_phase", labels)] = "1x30" if ph == phase else "0x30"
    r = run_case(tmp_path, series, [
        (cpu, "20m", [('{container="main"}', 0.5)]),
        (mem, "20m", [('{container="main"}', 0.5)]),
    ])
    assert r.ok, r.output
    # without the phase filter the finished step's requests count: 0.25 (the old panel)
    old = re.sub(r" \* on \(namespace, pod\) group_left \(\) max by \(namespace, pod\) "
                 r"\(kube_pod_status_phase\{[^}]*\} == 1\)", "", cpu)
    assert old != cpu
    r = run_case(tmp_path, series, [(old, "20m", [('{container="main"}', 0.25)])])
    assert r.ok, r.output


def test_every_query_over_requests_counts_live_pods_only(spec_set):
    from mlops_dash.spec.crosscheck import queries

    found = 0
    for doc in spec_set.dashboards:
        for _path, expr in queries(doc):
            n = expr.count("kube_pod_container_resource_requests{")
            if n:
                found += n
                assert expr.count('kube_pod_status_phase{') >= n, expr
                assert 'phase=~"Pending|Running"} == 1' in expr, expr
    assert found >= 3


# --------------------------------------------------------------------------- model identity


def test_cold_starts_filter_on_model_names_mapped_from_canonical_services(tree):
    """Istio names a KServe model by its predictor's canonical service, `<model>-predictor`;
    the cold-start counter by the model's name. The hidden model_name variable maps the selected
    services to names (Grafana keeps a variable regex's capture group as the value)."""
    dash = dashboard(tree, SERVING)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    mapped = variables["model_name"]
    assert mapped["hide"] == 2 and "$model" in mapped["query"]
    assert "destination_canonical_service" in mapped["query"]
    body = mapped["regex"][1:mapped["regex"].rindex("/")]
    names = [m.group(1) for s in ("fraud-detector-predictor", "demand-forecast-predictor",
                                  "kubeflow-ui") if (m := re.search(body, s))]
    assert names == ["fraud-detector", "demand-forecast"]
    (expr,) = [t["expr"] for t in panel(tree, SERVING, "Cold Start Frequency")["targets"]]
    assert 'model=~"$model_name"' in expr and '"$model"' not in expr
    # alerts never set the mapped variable from a label (its values are not label values)
    assert "var-model_name" not in tree[cv.rule_file_path(SERVING)]


def test_a_variable_regex_that_does_not_compile_is_a_spec_error(specs_copy):
    replace_once(specs_copy, "serving-health.yaml", 'regex: "/^(.+)-predictor$/"',
                 'regex: "/^(.+-predictor$/"')
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    assert "variables[3].regex" in exc.value.errors[0].path


# --------------------------------------------------------------------------- per-series units


def test_panels_that_mix_units_give_each_series_its_unit_and_axis(tree):
    cases = {
        (MODELS, "Accuracy/MAE/RMSE Trend"): ("accuracy", "percentunit"),
        (MODELS, "Error Budget Burn Rate"): ("budget left", "percentunit"),
        ("mlops-cost-optimization", "Spot Instance Interruptions"): ("duration (hours)", "h"),
    }
    for (uid, title), (suffix, unit) in cases.items():
        p = panel(tree, uid, title)
        (override,) = p["fieldConfig"]["overrides"]
        assert override["matcher"]["id"] == "byRegexpOrNames"
        assert {"id": "unit", "value": unit} in override["properties"]
        assert {"id": "custom.axisPlacement", "value": "right"} in override["properties"]
        pattern = re.compile(override["matcher"]["options"]["pattern"])
        legends = [t["legendFormat"].replace("{{model}}", "fraud").replace(
            "{{version}}", "v3").replace("{{nodepool}}", "spot") for t in p["targets"]]
        hits = [lg for lg in legends if pattern.fullmatch(lg)]
        assert len(hits) == 1 and hits[0].endswith(suffix), (title, hits)


def test_prediction_drift_compares_shares_not_raw_counts(tree):
    p = panel(tree, "mlops-drift-data-quality", "Prediction Drift")
    assert p["fieldConfig"]["defaults"]["unit"] == "percentunit"
    for t in p["targets"]:
        assert "/ scalar(sum(increase(mlops_prediction_value_count" in t["expr"]


def test_a_per_series_unit_needs_a_legend_only_its_series_match(specs_copy):
    replace_once(specs_copy, "model-performance.yaml",
                 'legend: "{{model}} {{version}} accuracy"', 'legend: "{{model}} {{version}}"')
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    assert "also matches the series of queries[0]" in exc.value.errors[0].message


def test_unit_lint_checks_each_series_against_its_own_unit(specs_copy):
    replace_once(specs_copy, "model-performance.yaml",
                 "        unit: percentunit         # its own (right) axis: MAE/RMSE",
                 "        unit: percent         # its own (right) axis: MAE/RMSE")
    (hit,) = only(lint_folder(specs_copy), "promql/unit-mismatch")
    assert "quality-trend" in hit.message


def test_a_per_series_unit_grafana_does_not_know_is_reported(specs_copy):
    replace_once(specs_copy, "model-performance.yaml",
                 "        unit: percentunit         # its own (right) axis: MAE/RMSE",
                 "        unit: percentage         # its own (right) axis: MAE/RMSE")
    (hit,) = only(lint_folder(specs_copy), "dashboard/panel-unit")
    assert "'percentage' is not a Grafana unit id" in hit.message


def test_legend_pattern_escapes_regex_characters():
    assert cv.legend_pattern("{{model}} p95 (ms) [x]") == r".+ p95 \(ms\) \[x\]"
    assert re.fullmatch(cv.legend_pattern("{{a}}/{{b}} 1.5x"), "m/v 1.5x")
    assert not re.fullmatch(cv.legend_pattern("{{a}} 1.5x"), "m 1-5x")


# --------------------------------------------------------------------------- schema exception


UNIT_OVERRIDE = {"matcher": {"id": "byRegexpOrNames", "options": {"pattern": ".+ accuracy"}},
                 "properties": [{"id": "unit", "value": "percentunit"}]}


def _with_override(tree, override):
    dash = dashboard(tree, MODELS)
    dash["panels"][0]["fieldConfig"]["overrides"] = [override]
    return dash


def test_the_vendored_schema_itself_rejects_a_string_override_value(tree):
    """Why the exception exists: the exported Grafana 12 schema (grafana-foundation-sdk
    jsonschema/dashboard) types DynamicConfigValue.value as an object, though Grafana reads
    `{"id": "unit", "value": "percentunit"}` (a string), as its dashboards and the
    grafana-foundation-sdk builders (`fields.Unit`) write it."""
    import jsonschema

    raw = schemas._load("grafana-12/dashboard.jsonschema.json")
    assert raw["definitions"]["DynamicConfigValue"]["properties"]["value"]["type"] == "object"
    validator = jsonschema.validators.validator_for(raw)(raw)
    assert list(validator.iter_errors(_with_override(tree, UNIT_OVERRIDE)))
    assert schemas.dashboard_errors(_with_override(tree, UNIT_OVERRIDE)) == []


@pytest.mark.parametrize("override", [
    {"matcher": {"id": "byRegexpOrNames", "options": {"pattern": "x"}},
     "properties": [{"value": "percentunit"}]},                              # no id
    {"matcher": {"id": "byRegexpOrNames", "options": {"pattern": "x"}},
     "properties": [{"id": "unit", "value": "percentunit", "colour": "red"}]},  # unknown key
    {"matcher": {"id": "byName", "options": "x accuracy"},                   # matcher options
     "properties": [{"id": "unit", "value": "percentunit"}]},                # stay checked
    {"properties": [{"id": "unit", "value": "percentunit"}]},                # no matcher
    {"matcher": {"id": "byRegexpOrNames", "options": {"pattern": "x"}},
     "properties": {"id": "unit", "value": "percentunit"}},                  # not a list
    {"matcher": {"id": 7}, "properties": []},                               # id not a string
])
def test_no_other_override_violation_slips_through(tree, override):
    assert schemas.dashboard_errors(_with_override(tree, override))


def test_the_exception_is_the_only_one_and_leaves_the_vendored_file_alone():
    assert schemas.SCHEMA_EXCEPTIONS == {
        "grafana-12/dashboard.jsonschema.json": ("DynamicConfigValue", "value")}
    raw = schemas._load("grafana-12/dashboard.jsonschema.json")
    assert raw["definitions"]["DynamicConfigValue"]["properties"]["value"]["type"] == "object"


def test_alert_history_mapping_values_match_the_encoding():
    assert grafana.ALERT_STATE_VALUES == {"pending": 1, "firing": 2}
    assert grafana.alert_history_expr(["A"]).count("ALERTS{") == 2


# --------------------------------------------------------------------------- Feast


def test_feast_materialization_counter_has_no_project_label(specs_copy):
    """feast sdk/python/feast/metrics.py: Counter("feast_materialization_result_total", ...,
    ["feature_view", "status"]); freshness has ["feature_view", "project"]."""
    replace_once(specs_copy, "drift-data-quality.yaml",
                 '      - increase(feast_materialization_result_total{status="failure"}[1h])',
                 '      - sum by (project) (increase(feast_materialization_result_total'
                 '{status="failure"}[1h]))')
    found = [f for f in lint_folder(specs_copy) if f.check_id == "promql/unknown-label"]
    assert any("project" in f.message for f in found), [f.text() for f in found]


def test_no_shipped_query_reads_project_of_the_materialization_counter(spec_set):
    from mlops_dash.spec.crosscheck import queries

    for doc in spec_set.dashboards:
        texts = [e for _p, e in queries(doc)] + [q for a in doc.model.alerts
                                                 for q in a.first_queries]
        for expr in texts:
            if "feast_materialization_result_total" in expr:
                assert "project" not in expr, expr
