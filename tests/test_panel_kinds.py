"""Panel kinds: rows (collapsed and expanded), text, stat, gauge, bar gauge, table, alert list,
logs (on a Loki datasource), and the raw escape hatch, rendered and validated against the
Grafana 12 dashboard schema and each panel type's own schema.

Rows follow Grafana's classic dashboard model: grafana-foundation-sdk
``jsonschema/dashboard.jsonschema.json`` ``RowPanel`` (``collapsed``, ``panels`` required) and
Grafana's ``public/app/features/dashboard/state/DashboardModel.ts`` ``toggleRow``: a collapsed
row keeps its panels in ``row.panels`` with the positions they take below the row when opened;
an expanded row is followed by its panels in the dashboard's list.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from mlops_dash import pipeline
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.lint import dashboard_checks
from mlops_dash.lint.runner import lint_spec_set
from mlops_dash.lint.schemas import PANEL_SCHEMAS, dashboard_errors, panel_type_errors
from mlops_dash.render import grafana_panels as gp
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import load_specs

KINDS_SPEC = ROOT / "tests" / "testdata" / "panel_kinds" / "panel-kinds.yaml"
LOKI = "  loki: {type: loki, default: Loki}\n"
UID = "mlops-panel-kinds"


def _specs(tmp: Path, *, edits: tuple[tuple[str, str], ...] = (), loki: bool = True) -> Path:
    specs = tmp / "specs"
    shutil.copytree(SPECS, specs)
    if loki:
        platform = specs / "platform.yaml"
        text = platform.read_text()
        anchor = "  warehouse: {type: grafana-postgresql-datasource, default: Business Warehouse}\n"
        assert text.count(anchor) == 1
        platform.write_text(text.replace(anchor, anchor + LOKI))
    text = KINDS_SPEC.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (specs / "panel-kinds.yaml").write_text(text)
    return specs


def _render(specs: Path) -> dict:
    spec_set = load_specs(specs)
    doc = next(d for d in spec_set.dashboards if d.model.uid == UID)
    files = pipeline.render_dashboard_files(spec_set, doc)
    return json.loads(files[f"grafana/{UID}.json"])


def _errors(specs: Path) -> list[SpecError]:
    with pytest.raises(SpecErrors) as exc:
        _render(specs)
    return exc.value.errors


def _line_of(specs: Path, needle: str) -> int:
    lines = (specs / "panel-kinds.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[m.Dashboard, dict, Path]:
    specs = _specs(tmp_path_factory.mktemp("kinds"))
    spec_set = load_specs(specs)
    doc = next(d for d in spec_set.dashboards if d.model.uid == UID)
    dash = json.loads(pipeline.render_dashboard_files(spec_set, doc)[f"grafana/{UID}.json"])
    return doc.model, dash, specs


def _flat(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out += p.get("panels", []) if p["type"] == "row" else []
    return out


def test_every_kind_renders_and_passes_the_dashboard_and_panel_type_schemas(built):
    _, dash, _ = built
    kinds = {p["type"] for p in _flat(dash)}
    assert kinds >= {"row", "text", "timeseries", "stat", "gauge", "bargauge", "table",
                     "alertlist", "annolist", "logs"}
    assert dashboard_errors(dash) == []
    for p in _flat(dash):  # the type's own schema applies (alertlist: the hand-written one)
        assert p["type"] in PANEL_SCHEMAS or p["type"] in ("row", "alertlist")
        assert panel_type_errors(p, "p") == []


def test_the_schema_gate_reaches_the_panels_of_a_collapsed_row(built):
    _, dash, _ = built
    broken = json.loads(json.dumps(dash))
    row = next(p for p in broken["panels"] if p["type"] == "row" and p["collapsed"])
    logs = next(p for p in row["panels"] if p["type"] == "logs")
    logs["options"]["sortOrder"] = "Sideways"
    text = next(p for p in broken["panels"] if p["type"] == "text")
    del text["options"]["content"]
    alertlist = next(p for p in broken["panels"] if p["type"] == "alertlist")
    alertlist["options"]["viewMode"] = "grid"
    errors = dashboard_errors(broken)
    i = broken["panels"].index(row)
    j = row["panels"].index(logs)
    assert any(e.startswith(f"panels/{i}/panels/{j}/options/sortOrder") for e in errors), errors
    assert any("'content' is a required property" in e for e in errors), errors
    assert any("/options/viewMode" in e and "'grid'" in e for e in errors), errors


def test_rows_expanded_are_followed_by_their_panels_collapsed_carry_them(built):
    d, dash, _ = built
    top = dash["panels"]
    assert [p["type"] for p in top] == ["text", "row", "timeseries", "stat", "gauge", "row",
                                        "row", "alertlist", "annolist"]
    serving, details, alerts_row = (p for p in top if p["type"] == "row")
    assert serving == {"type": "row", "id": 2, "title": "Serving", "collapsed": False,
                       "gridPos": {"x": 0, "y": 3, "w": 24, "h": 1}, "panels": []}
    # the expanded row's panels start on the line under it
    assert [p["gridPos"] for p in top[2:5]] == [
        {"x": 0, "y": 4, "w": 12, "h": 8}, {"x": 12, "y": 4, "w": 6, "h": 8},
        {"x": 18, "y": 4, "w": 6, "h": 8}]
    assert details["collapsed"] is True and details["gridPos"]["y"] == 12
    # inside the collapsed row: the positions they take when it is opened, below the row
    assert [(p["type"], p["gridPos"]) for p in details["panels"]] == [
        ("bargauge", {"x": 0, "y": 13, "w": 12, "h": 8}),
        ("table", {"x": 12, "y": 13, "w": 12, "h": 8}),
        ("logs", {"x": 0, "y": 21, "w": 24, "h": 10})]
    # the next row follows the collapsed one directly, its panels under it
    assert alerts_row["gridPos"] == {"x": 0, "y": 13, "w": 24, "h": 1}
    assert [p["gridPos"] for p in top[-2:]] == [{"x": 0, "y": 14, "w": 24, "h": 8},
                                                {"x": 0, "y": 22, "w": 24, "h": 8}]
    # numeric ids stay the spec positions, inside rows too (deep links, annotations)
    assert [p["id"] for p in _flat(dash)] == list(range(1, len(d.panels) + 1))


def test_layout_of_rows_without_overlap():
    def panel(pid, kind="timeseries", width=12, height=8, collapsed=False):
        if kind == "row":
            return m.Panel(id=pid, title=pid, type="row", collapsed=collapsed)
        return m.Panel(id=pid, title=pid, description="d", type=kind, unit="s", width=width,
                       height=height, queries=[m.Query(expr="up")])
    panels = [panel("a", width=24, height=4), panel("r1", "row", collapsed=True),
              panel("b"), panel("c", height=5), panel("r2", "row"), panel("d", width=8),
              panel("r3", "row")]
    grid = gp.layout(panels)
    assert [(g["x"], g["y"], g["w"], g["h"]) for g in grid] == [
        (0, 0, 24, 4), (0, 4, 24, 1), (0, 5, 12, 8), (12, 5, 12, 5), (0, 5, 24, 1),
        (0, 6, 8, 8), (0, 14, 24, 1)]


def test_the_raw_escape_hatch_merges_into_the_rendered_panel(built):
    _, dash, _ = built
    flat = {p["title"]: p for p in _flat(dash)}
    gauge = flat["Share up"]["options"]
    assert (gauge["showThresholdLabels"], gauge["sizing"], gauge["minVizWidth"]) == (
        True, "manual", 120)
    assert gauge["reduceOptions"] == {"calcs": ["lastNotNull"], "fields": "", "values": False}
    custom = flat["Targets"]["fieldConfig"]["defaults"]["custom"]
    assert custom == {"align": "center", "inspect": False}  # merged key by key
    alertlist = flat["Firing alerts"]["options"]
    assert alertlist["maxItems"] == 50 and alertlist["viewMode"] == "list"
    assert alertlist["alertInstanceLabelFilter"] == '{team="ml-serving"}'
    annolist = flat["Deployments"]["options"]
    assert (annolist["onlyFromThisDashboard"], annolist["tags"], annolist["limit"]) == (
        True, ["deploy"], 10)


def test_merge_raw_replaces_lists_and_scalars():
    rendered = {"options": {"a": [1, 2], "b": {"c": 1, "d": 2}}, "fieldConfig": {"x": 1}}
    merged = gp.merge_raw(rendered, {"options": {"a": [3], "b": {"c": 5}}, "interval": "1m"})
    assert merged == {"options": {"a": [3], "b": {"c": 5, "d": 2}}, "fieldConfig": {"x": 1},
                      "interval": "1m"}
    assert rendered["options"]["a"] == [1, 2]  # the rendered panel is not changed


def test_logs_and_alertlist_json(built):
    _, dash, _ = built
    flat = {p["title"]: p for p in _flat(dash)}
    logs = flat["Server logs"]
    assert logs["datasource"] == {"type": "loki", "uid": "${loki}"}
    assert logs["targets"] == [{"datasource": {"type": "loki", "uid": "${loki}"},
                                "expr": '{namespace="ml-serving"} |= "error"', "refId": "A",
                                "queryType": "range", "editorMode": "code", "hide": False}]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["loki"]["type"] == "datasource" and variables["loki"]["query"] == "loki"
    text = flat["About"]
    assert text["options"]["mode"] == "markdown"
    assert text["options"]["content"].startswith("# Serving")
    assert "datasource" not in text and "targets" not in text


def test_dashboard_lint_checks_are_quiet_on_every_kind(built, tmp_path):
    _, _, specs = built
    findings = lint_spec_set(load_specs(specs), checks=dashboard_checks.CHECKS)
    assert [f for f in findings if "panel-kinds" in f.file] == []


def test_lint_checks_the_panels_inside_a_collapsed_row(tmp_path):
    # the bar gauge sits in the collapsed Details row; raw gives it a unit Grafana lacks
    specs = _specs(tmp_path, edits=(("    description: Targets up per job.\n",
                                     "    description: Targets up per job.\n"
                                     "    raw: {fieldConfig: {defaults: {unit: parsecs}}}\n"),))
    findings = lint_spec_set(load_specs(specs), checks=[dashboard_checks.check_panels])
    (finding,) = [f for f in findings if "panel-kinds" in f.file]
    assert finding.check_id == "dashboard/panel-unit" and "'parsecs'" in finding.message
    lines = (specs / "panel-kinds.yaml").read_text().splitlines()
    start = _line_of(specs, "id: up-bars")
    assert finding.line == next(i for i in range(start, len(lines) + 1)
                                if lines[i - 1].startswith("    unit:"))


def test_raw_problems_are_placed_at_the_raw_field(tmp_path):
    specs = _specs(tmp_path, edits=(
        ("      options: {showThresholdLabels: true, sizing: manual, minVizWidth: 120}\n",
         "      options: {showThresholdLabels: true, sizing: huge, minVizWidth: 120}\n"),
        ("      fieldConfig: {defaults: {custom: {align: center}}}\n",
         "      fieldConfig: {defaults: {custom: {align: middle}}}\n      maxPerRow: 4\n"
         "      bogus: 1\n"),
        ("      options: {maxItems: 50,", "      options: {maxItems: many,"),
    ))
    errors = {e.path: e for e in _errors(specs)}
    assert set(errors) == {"panels[4].raw.options.sizing",
                           "panels[7].raw.fieldConfig.defaults.custom.align",
                           "panels[7].raw.bogus", "panels[10].raw.options.maxItems"}, errors
    assert "'huge' is not one of" in errors["panels[4].raw.options.sizing"].message
    assert "'bogus' was unexpected" in errors["panels[7].raw.bogus"].message
    assert "'many' is not of type 'integer'" in errors["panels[10].raw.options.maxItems"].message
    assert errors["panels[4].raw.options.sizing"].line == _line_of(specs, "sizing: huge")
    assert errors["panels[7].raw.bogus"].line == _line_of(specs, "bogus: 1")


def test_raw_numbers_are_finite_and_rows_take_only_row_fields(tmp_path):
    specs = _specs(tmp_path, edits=(
        ("      fieldConfig: {defaults: {custom: {align: center}}}\n",
         "      fieldConfig: {defaults: {min: .nan, custom: {align: center}}}\n"),
        ("    title: Details\n    type: row\n",
         "    title: Details\n    type: row\n    raw: {options: {x: 1}}\n"),
        ("    title: Alerts\n    type: row\n",
         "    title: Alerts\n    type: row\n    raw: {repeat: model}\n"),
    ))
    errors = {e.path: e.message for e in _errors(specs)}
    assert set(errors) == {"panels[7].raw.fieldConfig.defaults.min", "panels[5].raw.options"}
    assert "not a finite number" in errors["panels[7].raw.fieldConfig.defaults.min"]
    assert "'options' was unexpected" in errors["panels[5].raw.options"]  # RowPanel's schema


def test_a_row_repeats_through_raw(tmp_path):
    row_spec = "    title: Alerts\n    type: row\n"
    specs = _specs(tmp_path, edits=((row_spec, row_spec + "    raw: {repeat: model}\n"),))
    dash = _render(specs)
    row = next(p for p in dash["panels"] if p.get("title") == "Alerts")
    assert row["repeat"] == "model" and dashboard_errors(dash) == []


def test_raw_cannot_replace_what_the_spec_renders(tmp_path):
    specs = _specs(tmp_path, edits=(
        ("      options: {maxItems: 50,", "      targets: []\n      options: {maxItems: 50,"),))
    (error,) = _errors(specs)
    assert error.path == "panels[10].raw.targets"
    assert "rendered from the panel's own fields" in error.message


def test_logs_without_a_loki_datasource_is_a_placed_error(tmp_path):
    specs = _specs(tmp_path, loki=False)
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    (error,) = exc.value.errors
    assert error.path == "panels[8].queries[0].datasource"
    assert error.line == _line_of(specs, "datasource: loki")
    assert "no Loki datasource" in error.message and "datasources.loki" in error.message


@pytest.mark.parametrize(("old", "new", "message"), [
    ("    title: Serving\n    type: row\n", "    title: Serving\n    type: row\n    unit: s\n",
     "unit does not apply to a panel of type row"),
    ('    content: "# Serving\\nRead the **runbook** first."\n', "",
     "a text panel needs content"),
    ("'{namespace=\"ml-serving\"} |= \"error\"', datasource: loki}",
     "'up', datasource: prometheus}", "a logs panel reads logs"),
    ("    type: gauge\n    unit: percentunit\n", "    type: gauge\n",
     "a gauge panel needs a unit"),
    ("    description: Alert rules firing or pending now.\n", "",
     "an alertlist panel needs a description"),
])
def test_fields_that_do_not_fit_the_kind_are_refused(tmp_path, old, new, message):
    specs = _specs(tmp_path, edits=((old, new),))
    with pytest.raises((SpecErrors, SpecError)) as exc:
        load_specs(specs)
    assert message in str(exc.value)


def test_an_alert_cannot_point_at_a_row(tmp_path):
    specs = _specs(tmp_path)
    path = specs / "serving-health.yaml"
    text = path.read_text()
    assert text.count("    panel: request-latency\n") >= 1
    path.write_text(text.replace("\npanels:\n",
                                 "\npanels:\n  - {id: top-row, title: Top, type: row}\n", 1)
                    .replace("    panel: request-latency\n", "    panel: top-row\n", 1))
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs)
    assert any("is a row panel" in e.message and e.path.endswith(".panel")
               for e in exc.value.errors), exc.value


def _expand(panels: list[dict], index: int) -> list[dict]:
    """Grafana's DashboardModel.toggleRow opening the collapsed row at ``index`` (grafana/grafana
    public/app/features/dashboard/state/DashboardModel.ts): its panels are shifted by
    ``yDiff = first.y - (row.y + row.h)``, inserted after the row, and every panel below the row
    is pushed down by ``yMax - row.y - 1``."""
    panels = json.loads(json.dumps(panels))
    row = panels[index]
    inner = row["panels"]
    y_diff = inner[0]["gridPos"]["y"] - (row["gridPos"]["y"] + row["gridPos"]["h"])
    y_max = row["gridPos"]["y"]
    for p in inner:
        p["gridPos"]["y"] -= y_diff
        y_max = max(y_max, p["gridPos"]["y"] + p["gridPos"]["h"])
    push = y_max - row["gridPos"]["y"] - 1
    below = panels[index + 1:]
    for p in below:
        p["gridPos"]["y"] += push
    row["collapsed"], row["panels"] = False, []
    return [*panels[:index + 1], *inner, *below]


def _overlaps(panels: list[dict]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            ga, gb = a["gridPos"], b["gridPos"]
            if (ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
                    and ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"]):
                out.append((a["title"], b["title"]))
    return out


def test_opening_a_collapsed_row_in_grafana_keeps_its_layout(built):
    _, dash, _ = built
    top = dash["panels"]
    index = next(i for i, p in enumerate(top) if p["type"] == "row" and p["collapsed"])
    row = top[index]
    # Grafana shifts nothing: the first panel already sits right under the row
    assert row["panels"][0]["gridPos"]["y"] == row["gridPos"]["y"] + row["gridPos"]["h"]
    assert _overlaps(top) == []
    opened = _expand(top, index)
    assert _overlaps(opened) == []
    # opened, the panels are where they were written, and the rows below move past them
    assert [p["gridPos"] for p in opened[index + 1:index + 4]] == [
        p["gridPos"] for p in row["panels"]]
    alerts_row = next(p for p in opened if p["title"] == "Alerts")
    assert alerts_row["gridPos"]["y"] == max(p["gridPos"]["y"] + p["gridPos"]["h"]
                                             for p in row["panels"])
