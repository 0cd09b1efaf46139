"""`mlops-dash import`: community and own files imported, built, linted and round-tripped.

Community files in tests/testdata/import/ (licences beside them): rfmoz/grafana-dashboards
(Apache-2.0) node-exporter-full-old.json (schema 14, legacy rows, 160 graph + 12 singlestat
panels) and nfs-full.json (schema 41); samber/awesome-prometheus-alerts (CC BY 4.0)
dist/rules/host-and-hardware/node-exporter.yml (35 alerts). The legacy migration follows
grafana/grafana public/app/features/dashboard/state/DashboardMigrator.ts (upgradeToGridLayout)
and public/app/plugins/panel/timeseries/migrations.ts (flotToGraphOptions).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlops_dash import pipeline, promql, semdiff
from mlops_dash.cli import cli
from mlops_dash.importer import migrate as mg
from mlops_dash.importer import roundtrip as rt
from mlops_dash.lint.runner import lint_spec_set
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import load_specs

DATA = Path(__file__).parent / "testdata" / "import"
GENERATED = Path(__file__).parent.parent / "generated"
# findings that are properties of the source queries, kept as written so the round trip holds
SOURCE_FINDINGS = {"dashboard/rate-interval", "alert/raw-untested"}


def _import(kind: str, src: Path, out: Path) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["import", kind, str(src), "--out", str(out)])
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    return res.exit_code, res.output


_BUILT: dict[Path, tuple[object, dict[str, str]]] = {}


def _build(out: Path) -> tuple[object, dict[str, str]]:
    """Load and render an imported folder (once per folder and test session)."""
    key = out.resolve()
    if key not in _BUILT:
        spec_set = load_specs(out)
        _BUILT[key] = (spec_set, pipeline.render_tree(spec_set))
    return _BUILT[key]


def _dashboard_changes(src: Path, out: Path, fresh: bool = False) -> list[semdiff.Change]:
    tree = pipeline.build_tree(out) if fresh else _build(out)[1]
    built = next(json.loads(v) for k, v in tree.items() if k.startswith("grafana/"))
    a = rt.dashboard_view(json.loads(src.read_text()), built["uid"], True)
    b = rt.strip_defaults(rt.dashboard_view(built, built["uid"], False), a)
    return semdiff.semantic_diff({"grafana/d.json": json.dumps(a)},
                                 {"grafana/d.json": json.dumps(b)})


def _rules_changes(src: Path, out: Path, reported: frozenset[str] = frozenset()
                   ) -> list[semdiff.Change]:
    orig = yaml.safe_load(src.read_text())
    orig = orig["spec"] if orig.get("kind") == "PrometheusRule" else orig
    tree = _build(out)[1]
    built = yaml.safe_load(next(v for k, v in tree.items() if k.endswith(".rules.yaml")))
    before = yaml.safe_dump(rt.rules_view(orig, reported))
    return semdiff.semantic_diff({"prometheus/r.yaml": before},
                                 {"prometheus/r.yaml": yaml.safe_dump(rt.rules_view(built))})


def _lint_ids(out: Path) -> set[str]:
    spec_set, tree = _build(out)
    return {f.check_id for f in lint_spec_set(spec_set, tree)}


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    """Each community file imported once per module: (exit code, stderr+stdout, folder)."""
    cache: dict[str, tuple[int, str, Path]] = {}

    def get(name: str) -> tuple[int, str, Path]:
        if name not in cache:
            out = tmp_path_factory.mktemp(name.split(".")[0])
            kind = "rules" if name.endswith(".yml") else "grafana"
            cache[name] = (*_import(kind, DATA / name, out), out)
        return cache[name]

    return get


@pytest.mark.parametrize("name", ["node-exporter-full-old.json", "nfs-full.json"])
def test_community_dashboard_imports_builds_lints_round_trips(community, name):
    code, output, out = community(name)
    # reported: the legacy file's series overrides (colours, negative-Y transforms: 55 panels)
    # and its 12 singlestats' value maps (null → "N/A", Grafana turns them into mappings), the
    # current file's per-series overrides (2 panels); everything else is representable
    reported = [ln for ln in output.splitlines() if ln.startswith("not representable")]
    expected = {"node-exporter-full-old.json": {"seriesOverrides": 55,
                                                "fieldConfig.defaults.mappings": 12},
                "nfs-full.json": {"fieldConfig.overrides": 2}}[name]
    kinds = Counter(re.search(r"^not representable: \S*?\.([A-Za-z.]+) ", ln)[1]
                    for ln in reported)
    assert code == 3 and kinds == expected, output
    assert _dashboard_changes(DATA / name, out) == []
    assert _lint_ids(out) <= SOURCE_FINDINGS
    spec = next(d for d in (yaml.safe_load(p.read_text()) for p in out.glob("*.yaml"))
                if d["kind"] == "Dashboard")
    assert [p["type"] for p in spec["panels"]].count("row") in (7, 19)  # nfs 7, legacy 19


def test_legacy_graph_and_singlestat_are_migrated(community):
    _, _, out = community("node-exporter-full-old.json")
    spec = yaml.safe_load((out / "node-exporter-full-old.yaml").read_text())
    types = [p["type"] for p in spec["panels"]]
    assert types.count("timeseries") == 160 and types.count("stat") + types.count("gauge") == 12
    units = {p["unit"] for p in spec["panels"] if p["type"] != "row"}
    assert {"bytes", "percent", "s"} <= units  # from yaxes[0].format / singlestat format
    cats = yaml.safe_load((out / "metrics.yaml").read_text())["metrics"]
    by = {c["name"]: c for c in cats}
    assert by["node_cpu"]["type"] == "counter"  # old name, read by irate()
    assert "mode" in by["node_cpu"]["labels"]


def test_round_trip_catches_a_changed_query(community, tmp_path):
    shutil.copytree(community("nfs-full.json")[2], tmp_path, dirs_exist_ok=True)
    spec_file = next(p for p in tmp_path.glob("*.yaml") if "kind: Dashboard" in p.read_text())
    spec_file.write_text(spec_file.read_text().replace("rate(", "irate(", 1))
    changes = _dashboard_changes(DATA / "nfs-full.json", tmp_path, fresh=True)
    assert changes and any(c.field.startswith("query") for c in changes)


def test_community_rule_file_35_alerts(community):
    src = DATA / "node-exporter.rules.yml"
    code, output, tmp_path = community("node-exporter.rules.yml")
    assert code == 0, output
    spec = yaml.safe_load((tmp_path / "node-exporter.yaml").read_text())
    assert len(spec["alerts"]) == 35
    a = next(x for x in spec["alerts"] if x["name"] == "HostOutOfMemory")
    assert a["signal"]["shape"] == "raw" and a["for"] == "2m" and a["severity"] == "warning"
    assert "{{ $labels.instance }}" in a["summary"]
    assert _rules_changes(src, tmp_path) == []
    ids = _lint_ids(tmp_path)
    assert ids <= SOURCE_FINDINGS and "alert/raw-untested" in ids


# the shapes each generated rule file's alerts are recognised as (the rest stays raw)
OWN_SHAPES = {
    "mlops-serving-health": {"quantile": 1, "ratio": 1, "difference": 1},
    "mlops-cost-optimization": {"gauge": 1, "growth": 1, "raw": 1},
    "mlops-drift-data-quality": {"age": 3, "gauge": 1, "ratio": 1, "raw": 1},
    "mlops-pipeline-reliability": {"age": 1, "gauge": 2, "ratio": 1, "raw": 2},
    "mlops-model-performance": {"gauge": 1, "raw": 2},
}


@pytest.mark.parametrize("name", sorted(OWN_SHAPES))
def test_own_generated_rules_round_trip(tmp_path, name):
    src = GENERATED / "prometheus" / f"{name}.rules.yaml"
    code, output = _import("rules", src, tmp_path)
    # the whole rules left out (not a label or annotation of a rule)
    reported = frozenset(re.findall(r"^not representable: \S*rules\[[0-9]+\] '([^']+)'",
                                    output, re.M))
    spec = yaml.safe_load((tmp_path / f"{name}.yaml").read_text())
    shapes = Counter(a["signal"]["shape"] for a in spec["alerts"])
    assert shapes == OWN_SHAPES[name]
    assert _rules_changes(src, tmp_path, reported) == []
    # only mlops-dash's own labels/annotations and the SLO parts are reported
    assert all("set by mlops-dash" in ln or "is generated" in ln or "SLO" in ln
               for ln in output.splitlines() if ln.startswith("not representable")), output


# serving-health reads no recording rule of another dashboard (those would need --specs)
@pytest.mark.parametrize("name", ["mlops-serving-health"])
def test_own_generated_dashboards_round_trip(tmp_path, name):
    src = GENERATED / "grafana" / f"{name}.json"
    _import("grafana", src, tmp_path)
    assert _dashboard_changes(src, tmp_path) == []


def test_invalid_json_is_placed(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "panels": [\n    {"title": "x",}\n  ]\n}\n')
    code, output = _import("grafana", bad, tmp_path / "out")
    assert code == 1 and f"{bad}:3:" in output and "invalid JSON" in output
    assert not (tmp_path / "out").exists()


def test_not_a_dashboard(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"groups": []}')
    code, output = _import("grafana", f, tmp_path / "out")
    assert code == 1 and "not a Grafana dashboard" in output


def test_rule_with_bad_expression_is_placed(tmp_path):
    f = tmp_path / "r.yml"
    f.write_text("groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: rate(x[5m]\n")
    code, output = _import("rules", f, tmp_path / "out")
    assert code == 1 and f"{f}:5:" in output and "groups[0].rules[0].expr" in output


def test_unknown_rule_fields_are_reported_by_name(tmp_path):
    f = tmp_path / "r.yml"
    f.write_text("groups:\n- name: g\n  rules:\n  - alert: Odd\n    expr: up == 0\n"
                 "    frobnicate: 1\n    labels: {severity: page}\n")
    code, output = _import("rules", f, tmp_path / "out")
    assert code == 3 and "groups[0].rules[0].frobnicate 'Odd'" in output
    assert "severity 'page' mapped to critical" in output
    side = json.loads((tmp_path / "out" / "r.not-representable.json").read_text())
    assert side["not_representable"][0]["original"] == 1


def test_help_documents_both_forms():
    out = CliRunner().invoke(cli, ["import", "--help"]).output
    assert "import grafana FILE.json" in out and "import rules FILE" in out


def test_graph_thresholds_follow_grafana_migration():
    # migrations.ts flotToGraphOptions: gt steps keep their colour, a transparent base first
    steps = mg.graph_thresholds([{"op": "gt", "value": 80, "colorMode": "critical"},
                                 {"op": "gt", "value": 50, "colorMode": "warning"}])
    assert steps == [{"value": None, "color": "transparent"},
                     {"value": 50, "color": "orange"}, {"value": 80, "color": "red"}]


def test_legacy_rows_grid_layout():
    # DashboardMigrator.ts upgradeToGridLayout: span 6 → w 12, height 250px → h 7
    panels = mg.upgrade_to_grid_layout({"rows": [{"height": 250, "panels": [
        {"id": 1, "span": 6}, {"id": 2, "span": 6}, {"id": 3, "span": 12}]}]})
    assert [p["gridPos"] for p in panels] == [
        {"x": 0, "y": 0, "w": 12, "h": 7}, {"x": 12, "y": 0, "w": 12, "h": 7},
        {"x": 0, "y": 7, "w": 24, "h": 7}]


def _raw_alert(expr: str, comparison: str | None, threshold: float | None) -> m.Alert:
    data = {"name": "Raw", "severity": "warning", "panel": "p", "summary": "s",
            "description": "d", "unit": "short", "for": "0m", "action": "a",
            "signal": {"shape": "raw", "expr": expr}}
    if comparison is not None:
        data |= {"comparison": comparison, "threshold": threshold}
    return m.Alert.model_validate(data)


def test_raw_signal_rendering():
    assert promql.alert_expr(_raw_alert("up", "<", 1)) == "up < 1"
    assert promql.alert_expr(_raw_alert("a and on (i) b", ">", 2)) == "(a and on (i) b) > 2"
    assert promql.alert_expr(_raw_alert("a > 1 and b", None, None)) == "a > 1 and b"
    with pytest.raises(ValueError):
        _raw_alert("rate(x[5m]", None, None)


def test_unrepresentable_parts_are_reported_and_kept(tmp_path):
    dash = {"title": "Mixed", "uid": "mixed", "schemaVersion": 39, "panels": [
        {"id": 1, "type": "timeseries", "title": "Up", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
         "targets": [{"expr": "up", "refId": "A"}], "fieldConfig": {"defaults": {"unit": "short"}}},
        {"id": 2, "type": "news", "title": "Feed", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 8}},
        {"id": 3, "type": "table", "title": "SQL", "targets": [{"rawSql": "select 1"}]}],
        "templating": {"list": [{"name": "env", "type": "custom", "query": "a,b"}]}}
    src = tmp_path / "mixed.json"
    src.write_text(json.dumps(dash))
    code, output = _import("grafana", src, tmp_path / "out")
    assert code == 3
    assert "panels[1] 'Feed': panel type 'news' is not in the spec format" in output
    assert "panels[2].targets[0] 'SQL'" in output
    assert "templating.list[0] 'env': a custom variable" in output
    side = json.loads((tmp_path / "out" / "mixed.not-representable.json").read_text())
    assert {s["name"] for s in side["not_representable"]} == {"Feed", "SQL", "env"}
    assert _dashboard_changes(src, tmp_path / "out") == []  # what was imported round-trips


def test_build_never_imports_the_importer():
    """Only the `import` commands (cli_import.py, lazily) and the importer itself import it."""
    src = Path(__file__).parent.parent / "src" / "mlops_dash"
    users = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                   if "mlops_dash.importer" in p.read_text() and p.parent.name != "importer")
    assert users == ["cli_import.py"]
    cli_text = (src / "cli_import.py").read_text()
    top = cli_text[:cli_text.index('@cli.group("import")')]
    assert "importer" not in top  # not at module level: a lazy import inside the commands


def test_singlestat_migrates_as_grafana_does():
    """grafana/grafana packages/grafana-ui/src/components/SingleStatShared/
    SingleStatBaseOptions.ts, migrateFromAngularSinglestat: one threshold step per colour (the
    first the base), only with both thresholds and colors; the reducer is the valueName's
    fieldReducers id or alias (avg → mean, current → lastNotNull, total → sum), else mean;
    nullText → noValue, tableColumn → reduce fields; value maps become mappings (reported)."""
    legacy = {"type": "singlestat", "title": "Up", "format": "percent", "decimals": 0,
              "valueName": "current", "thresholds": "50, 80",
              "colors": ["#d44a3a", "rgba(237, 129, 40, 0.89)", "#299c46"],
              "gauge": {"show": True, "minValue": 0, "maxValue": 100},
              "nullText": "n/a", "tableColumn": "host",
              "valueMaps": [{"op": "=", "text": "down", "value": "0"}]}
    out = mg.singlestat_to_stat(legacy)
    assert out["type"] == "gauge"
    d = out["fieldConfig"]["defaults"]
    assert d["thresholds"]["steps"] == [{"value": None, "color": "#d44a3a"},
                                        {"value": 50, "color": "rgba(237, 129, 40, 0.89)"},
                                        {"value": 80, "color": "#299c46"}]
    assert (d["unit"], d["decimals"], d["min"], d["max"]) == ("percent", 0, 0, 100)
    assert d["noValue"] == "n/a" and d["mappings"] == legacy["valueMaps"]
    assert out["options"]["reduceOptions"] == {"calcs": ["lastNotNull"], "fields": "/^host$/",
                                               "values": False}
    # thresholds without colours: none; a valueName fieldReducers does not know: mean
    bare = mg.singlestat_to_stat({"type": "singlestat", "title": "x", "thresholds": "1,2",
                                  "valueName": "name"})
    assert "thresholds" not in bare["fieldConfig"]["defaults"]
    assert bare["options"]["reduceOptions"]["calcs"] == ["mean"]
    assert bare["type"] == "stat"
    assert mg.singlestat_to_stat({"valueName": "total"})["options"]["reduceOptions"][
        "calcs"] == ["sum"]


def test_rules_import_into_an_existing_spec_set_builds(specs_copy):
    """`--specs DIR` adds imported-<uid>.yaml to the set and appends the series its catalogue
    lacks; the shipped set then still builds, its own rule files unchanged."""
    from mlops_dash.spec.loader import load_specs as load

    before = pipeline.render_tree(load(specs_copy))
    catalogue = (specs_copy / "metrics.yaml").read_text()
    res = CliRunner().invoke(cli, ["import", "rules", str(DATA / "node-exporter.rules.yml"),
                                   "--specs", str(specs_copy)])
    assert res.exit_code in (0, 3) and "Traceback" not in res.output, res.output
    added = sorted(p.name for p in specs_copy.glob("imported-*.yaml"))
    assert len(added) == 1
    grown = (specs_copy / "metrics.yaml").read_text()
    assert grown.startswith(catalogue.rstrip("\n")[:200]) and "node_filesystem_avail_bytes" in grown
    after = pipeline.render_tree(load(specs_copy))
    # the shipped alerts are untouched (dashboards gain a link to the imported one: all_dashboards)
    rules = [k for k in before if k.startswith("prometheus/") and k.endswith(".rules.yaml")]
    assert rules and all(after[k] == before[k] for k in rules)
    assert [k for k in after if k not in before and k.startswith("prometheus/")]
    assert len(after) > len(before)


@pytest.mark.parametrize("kind,src", [
    ("grafana", GENERATED / "grafana" / "mlops-serving-health.json"),
    ("rules", GENERATED / "prometheus" / "mlops-serving-health.rules.yaml"),
])
def test_out_and_specs_together_are_a_usage_error(tmp_path, kind, src):
    """One target: a new set (--out) or an existing one (--specs), never both; nothing is
    written to either."""
    out, specs = tmp_path / "out", tmp_path / "specs"
    specs.mkdir()
    res = CliRunner().invoke(cli, ["import", kind, str(src), "--out", str(out),
                                   "--specs", str(specs)])
    assert res.exit_code == 2 and "give --out or --specs, not both" in res.output, res.output
    assert not out.exists() and list(specs.iterdir()) == []
