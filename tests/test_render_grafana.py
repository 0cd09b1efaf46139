"""Grafana output: schema-valid for Grafana 12, seed visualisations, thresholds from specs."""

from __future__ import annotations

import json

import pytest

from mlops_dash import conventions as cv
from mlops_dash.lint.schemas import dashboard_errors
from mlops_dash.render.grafana import layout


def _dashboards(tree):
    return {p: json.loads(c) for p, c in tree.items() if p.startswith("grafana/")}


def _panel(dash, title):
    return next(p for p in dash["panels"] if p["title"] == title)


def test_five_dashboards_and_the_overview_rendered(tree):
    assert len(_dashboards(tree)) == 6
    assert "grafana/mlops-overview.json" in _dashboards(tree)


def test_every_dashboard_and_panel_passes_the_grafana12_schemas(tree):
    for path, dash in _dashboards(tree).items():
        assert dashboard_errors(dash) == [], path


def test_schema_check_catches_a_legacy_key(tree):
    dash = next(iter(_dashboards(tree).values()))
    dash["rows"] = []
    dash["panels"][0]["span"] = 6
    errors = dashboard_errors(dash)
    assert any("rows" in e for e in errors) and any("span" in e for e in errors)


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}/{i}")
    else:
        yield path, obj


def test_no_nulls_except_base_threshold_step(tree):
    for path, dash in _dashboards(tree).items():
        for where, value in _walk(dash):
            if value is None:
                assert where.endswith("/thresholds/steps/0/value"), (path, where)


def test_nulls_the_render_leaves_are_dropped_and_the_base_step_kept(spec_set):
    """A panel and a dashboard without description render without the key (their parts
    holding no null are kept as rendered, the others copied without them); the base
    threshold step keeps its null (-Infinity)."""
    from mlops_dash.render.grafana import render_dashboard

    d = next(x for x in spec_set.dashboard_models() if x.uid == "mlops-serving-health")
    bare = d.model_copy(update={"description": None, "panels": [
        p.model_copy(update={"description": None}) for p in d.panels]})
    titles = {x.uid: x.title for x in spec_set.dashboard_models()}
    dash = render_dashboard(bare, spec_set.platform_model, titles)
    assert "description" not in dash
    assert all("description" not in p for p in dash["panels"])
    nulls = [where for where, value in _walk(dash) if value is None]
    assert nulls and all(w.endswith("/thresholds/steps/0/value") for w in nulls)
    assert render_dashboard(d, spec_set.platform_model, titles)["panels"][0]["description"]


def test_a_rendered_dashboard_shares_nothing_with_the_next_render(spec_set):
    """The dashboard JSON is not copied after the render: no part of it may be a module's
    constant or shared with another render, or changing one would change the next."""
    import copy

    from mlops_dash.render.grafana import render_dashboard

    titles = {x.uid: x.title for x in spec_set.dashboard_models()}
    for d in spec_set.dashboard_models():
        first = render_dashboard(d, spec_set.platform_model, titles)
        expected = copy.deepcopy(first)
        stack = [first]
        while stack:  # empty every mapping and list of the first render
            node = stack.pop()
            stack.extend(v for v in (node.values() if isinstance(node, dict) else node)
                         if isinstance(v, dict | list))
            node.clear()
        assert render_dashboard(d, spec_set.platform_model, titles) == expected, d.uid


def test_schema_version_and_datasource_variables(tree):
    for dash in _dashboards(tree).values():
        assert dash["schemaVersion"] >= 39
        names = [v["name"] for v in dash["templating"]["list"]]
        assert cv.DATASOURCE_VAR in names
        for panel in dash["panels"]:
            for target in panel["targets"]:
                ds = target["datasource"]
                assert set(ds) == {"type", "uid"}
                assert ds["uid"].startswith("${"), "queries must use the datasource variable"


def test_visualisations_fit_the_seed(tree):
    d = _dashboards(tree)
    pipeline = d["grafana/mlops-pipeline-reliability.json"]
    assert _panel(pipeline, "Component Failure Breakdown")["type"] == "piechart"
    legends = [t["legendFormat"] for t in
               _panel(pipeline, "Average Pipeline Duration (minutes)")["targets"]]
    assert any("p50" in x for x in legends) and any("p99" in x for x in legends)
    serving = d["grafana/mlops-serving-health.json"]
    latency = _panel(serving, "Request Latency (ms)")
    assert latency["fieldConfig"]["defaults"]["unit"] == "ms"
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
    assert {a["name"] for a in serving["annotations"]["list"]} >= {"Scale up", "Scale down"}
    drift = d["grafana/mlops-drift-data-quality.json"]
    assert _panel(drift, "Feature Drift Scores")["type"] == "heatmap"
    assert _panel(drift, "Drift Alert History")["type"] == "state-timeline"
    assert "ALERTS" in _panel(drift, "Drift Alert History")["targets"][0]["expr"]
    model = d["grafana/mlops-model-performance.json"]
    assert _panel(model, "Prediction Distribution")["type"] in ("heatmap", "histogram",
                                                               "bargauge")
    kpi = _panel(model, "Business KPI Impact")
    assert kpi["targets"][0]["datasource"]["uid"] == "${warehouse}"
    assert "rawSql" in kpi["targets"][0]
    cost = d["grafana/mlops-cost-optimization.json"]
    assert _panel(cost, "Training Cost per Run ($)")["fieldConfig"]["defaults"]["unit"] == (
        "currencyUSD")
    assert _panel(cost, "GPU Utilization (%)")["fieldConfig"]["defaults"]["unit"] == "percent"


def test_alert_threshold_is_drawn_on_its_panel_from_the_spec_field(spec_set, tree):
    for d in spec_set.dashboard_models():
        dash = json.loads(tree[cv.dashboard_json_path(d.uid)])
        for alert in d.alerts:
            index = [p.id for p in d.panels].index(alert.panel)
            panel = dash["panels"][index]
            values = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
            assert alert.threshold in values, (d.uid, alert.name)
            if panel["type"] == "timeseries":
                assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == (
                    "line")


def test_changed_threshold_moves_the_panel_line(spec_set):
    from mlops_dash.render.grafana import render_dashboard

    d = next(x for x in spec_set.dashboard_models() if x.uid == "mlops-serving-health")
    alerts = [a.model_copy(update={"threshold": 250.0}) if a.name == "HighLatency" else a
              for a in d.alerts]
    d2 = d.model_copy(update={"alerts": alerts})
    titles = {x.uid: x.title for x in spec_set.dashboard_models()}
    dash = render_dashboard(d2, spec_set.platform_model, titles)
    steps = dash["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 250.0]


def test_panel_ids_are_stable_and_unique(tree):
    for dash in _dashboards(tree).values():
        ids = [p["id"] for p in dash["panels"]]
        assert ids == list(range(1, len(ids) + 1))


def test_links_reach_the_other_four_dashboards_and_external_links(spec_set, tree):
    for dash in _dashboards(tree).values():
        if dash["uid"] == "mlops-overview":
            continue  # it links to all five (tests/test_overview.py)
        urls = [link["url"] for link in dash["links"]]
        internal = [u for u in urls if "/d/mlops-" in u and "overview" not in u]
        assert len(internal) == 4
        assert "https://grafana.company.com/d/mlops-overview/mlops-overview" in urls


@pytest.mark.parametrize(
    "widths,expected",
    [([12, 12, 24], [(0, 0), (12, 0), (0, 8)]), ([8, 8, 8, 12], [(0, 0), (8, 0), (16, 0), (0, 8)])],
)
def test_layout_flows_in_rows_without_overlap(widths, expected):
    from mlops_dash.spec.models import Panel, Query

    panels = [Panel(id=f"p{i}", title="t", description="d", type="timeseries", unit="short",
                    width=w, queries=[Query(expr="up")]) for i, w in enumerate(widths)]
    assert [(g["x"], g["y"]) for g in layout(panels)] == expected
