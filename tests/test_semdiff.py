"""`mlops-dash diff`: semantic diff of generated output between folders or git refs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import GENERATED, SPECS, require_tool
from test_cli import run

from mlops_dash import output, pipeline, semdiff
from mlops_dash.treesource import read_folder

# the serving dashboard in its flat form (no templates): these tests edit its panels and alerts
# as text; it renders the same as the shipped one (tests/test_library.py)
FLAT_SERVING = Path(__file__).parent / "testdata" / "flat" / "serving-health.yaml"


@pytest.fixture()
def specs_copy(specs_copy: Path) -> Path:
    shutil.copyfile(FLAT_SERVING, specs_copy / "serving-health.yaml")
    return specs_copy


def build(specs: Path, out: Path) -> Path:
    output.write_tree(pipeline.build_tree(specs), out)
    return out


def edit(specs: Path, file: str, old: str, new: str, count: int = 1) -> None:
    f = specs / file
    text = f.read_text()
    assert text.count(old) >= count, old
    f.write_text(text.replace(old, new, count))


def changes_of(base: Path, head: Path) -> list[semdiff.Change]:
    return semdiff.semantic_diff(read_folder(base), read_folder(head))


def find(changes, area, subject, field=""):
    return [c for c in changes if c.area == area and c.subject == subject
            and (not field or c.field == field)]


# ------------------------------------------------------------------ the must-show scenarios


def test_threshold_change_reports_the_alert_with_both_values(tmp_path, specs_copy):
    edit(specs_copy, "serving-health.yaml", "threshold: 300", "threshold: 250")
    other = build(specs_copy, tmp_path / "other")
    r = run("diff", "generated", str(other))
    assert r.returncode == 0, r.stderr
    assert "**HighLatency**" in r.stdout
    assert "threshold: `300 ms` → `250 ms`" in r.stdout  # in the unit of the alert's panel
    # derived files are named, not dumped value by value
    assert "- **runbooks/HighLatency.md** changed" in r.stdout
    assert "input_series" not in r.stdout
    r = run("diff", "generated", str(other), "--format", "json", "--exit-code")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["changed"] is True
    threshold = [c for c in doc["changes"] if c["field"] == "threshold"]
    assert threshold == [{"area": "alert", "subject": "HighLatency", "action": "changed",
                          "field": "threshold", "before": 300, "after": 250,
                          "context": "mlops-serving-health", "unit": "ms"}]
    # nothing else about the alert changed in substance; its panel's threshold line did
    alert_fields = {c["field"] for c in doc["changes"] if c["area"] == "alert"}
    assert alert_fields == {"threshold", "annotation description"}
    panel = [c for c in doc["changes"] if c["area"] == "panel"]
    assert [(c["subject"], c["field"], c["before"], c["after"]) for c in panel] == [
        ("Request Latency (ms)", "thresholds", "300", "250")]


def test_moving_a_panel_reports_the_move(tmp_path, specs_copy):
    f = specs_copy / "serving-health.yaml"
    text = f.read_text()
    start = text.index("  - id: cold-starts\n")
    end = text.index("  - id: serving-alert-history\n")
    block = text[start:end]
    text = text[:start] + text[end:]
    at = text.index("  - id: throughput\n")
    f.write_text(text[:at] + block + text[at:])
    other = build(specs_copy, tmp_path / "other")
    changes = changes_of(GENERATED, other)
    moved = find(changes, "panel", "Cold Start Frequency", "position")
    assert [(c.before, c.after) for c in moved] == [("x=0 y=16", "x=0 y=8")]
    assert not [c for c in changes if c.action in ("added", "removed")]
    r = run("diff", "generated", str(other))
    assert "panel **Cold Start Frequency**" in r.stdout
    assert "position: `x=0 y=16` → `x=0 y=8`" in r.stdout


def test_unchanged_rebuild_reports_no_change(tmp_path):
    other = build(SPECS, tmp_path / "other")
    r = run("diff", "generated", str(other), "--exit-code")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "no semantic change\n"
    r = run("diff", "generated", str(other), "--format", "json")
    assert json.loads(r.stdout)["changes"] == []


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    r = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                       check=True, timeout=60)
    return r.stdout


def test_git_ref_base(tmp_path, specs_copy):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shutil.copytree(GENERATED, repo / "generated")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "generated output")
    edit(specs_copy, "serving-health.yaml", "threshold: 300", "threshold: 250")
    build(specs_copy, repo / "generated")  # the working tree moves on, uncommitted
    r = run("diff", "main", cwd=repo)  # HEAD defaults to ./generated
    assert r.returncode == 0, r.stderr
    assert "`main:generated` → `generated`" in r.stdout
    assert "threshold: `300 ms` → `250 ms`" in r.stdout  # in the unit of the alert's panel
    # after committing, two refs; from a subfolder; REF:PATH
    _git(repo, "commit", "-qam", "lower HighLatency threshold")
    (repo / "docs").mkdir()
    r = run("diff", "main~1", "main", "--generated", "../generated", cwd=repo / "docs")
    assert r.returncode == 0, r.stderr
    assert "threshold: `300 ms` → `250 ms`" in r.stdout  # in the unit of the alert's panel
    r = run("diff", "main~1:generated", "main:generated", "--format", "json", cwd=repo)
    assert [c["after"] for c in json.loads(r.stdout)["changes"]
            if c["field"] == "threshold"] == [250]
    assert run("diff", "main", "main", "--exit-code", cwd=repo).stdout == "no semantic change\n"


def test_ref_without_generated_output_reports_everything_added(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "first")
    shutil.copytree(GENERATED, repo / "generated")
    r = run("diff", "main", "--format", "json", cwd=repo)
    assert r.returncode == 0, r.stderr
    added = {c["subject"] for c in json.loads(r.stdout)["changes"]
             if c["area"] == "alert" and c["action"] == "added"}
    alerts, _ = semdiff.rules_of(read_folder(GENERATED))
    assert "HighLatency" in added and added == set(alerts)


def test_unknown_base_is_a_usage_error(tmp_path):
    r = run("diff", "no-such-ref-or-folder", "generated")
    assert r.returncode == 2
    assert "neither a folder nor a git ref" in r.stderr and "Traceback" not in r.stderr
    r = run("diff", "generated", cwd=tmp_path)
    assert r.returncode == 2


# ------------------------------------------------------------------ what the diff explains


def test_retitle_unit_query_variable_and_link_changes(tmp_path, specs_copy):
    edit(specs_copy, "serving-health.yaml", "title: Cold Start Frequency",
         "title: Cold Starts")
    text = (specs_copy / "serving-health.yaml").read_text()
    block = text[text.index("  - id: throughput\n"):text.index("  - id: autoscaler-activity\n")]
    unit_line = next(line for line in block.splitlines() if line.strip().startswith("unit:"))
    edit(specs_copy, "serving-health.yaml", block,
         block.replace(unit_line, unit_line.split("unit:")[0] + "unit: rps"))
    edit(specs_copy, "serving-health.yaml", "[$__rate_interval]", "[$__interval]")
    edit(specs_copy, "serving-health.yaml", "label: Model", "label: Served model")
    edit(specs_copy, "serving-health.yaml", "links: [{all_dashboards: true}]",
         "links: [{all_dashboards: true}, {platform_link: MLflow}]")
    other = build(specs_copy, tmp_path / "other")
    changes = changes_of(GENERATED, other)
    uid = "mlops-serving-health"
    assert [(c.before, c.after) for c in find(changes, "panel", "Cold Starts", "title")] == [
        ("Cold Start Frequency", "Cold Starts")]
    assert not [c for c in changes if c.action in ("added", "removed")]
    unit = find(changes, "panel", "Throughput (requests/sec)", "unit")
    assert len(unit) == 1 and unit[0].after == "rps"
    query = [c for c in changes if c.area == "panel" and c.field.startswith("query ")
             and "legend" not in c.field]
    assert len(query) == 1 and "[$__interval]" in query[0].after
    assert "[$__rate_interval]" in query[0].before
    variable = [c for c in changes if c.area == "dashboard" and c.field == "variable model label"]
    assert [(c.before, c.after) for c in variable] == [("Model", "Served model")]
    link = [c for c in changes if c.area == "dashboard" and c.field == "link MLflow"]
    assert len(link) == 1 and link[0].before is None and link[0].subject == uid
    md = semdiff.to_markdown(changes, "a", "b")
    assert "title: `Cold Start Frequency` → `Cold Starts`" in md
    assert "link MLflow: added" in md


def test_alert_fields_window_for_severity_labels_and_expression(tmp_path, specs_copy):
    text = (specs_copy / "serving-health.yaml").read_text()
    alert = text[text.index("  - name: HighLatency"):text.index("  - name: ErrorRateSpike")]
    changed = (alert.replace("window: 5m", "window: 10m").replace("for: 10m", "for: 15m")
               .replace("severity: warning", "severity: critical")
               .replace("quantile: 0.95", "quantile: 0.99"))
    assert changed.count("\n") == alert.count("\n") and changed != alert
    edit(specs_copy, "serving-health.yaml", alert, changed)
    other = build(specs_copy, tmp_path / "other")
    changes = find(changes_of(GENERATED, other), "alert", "HighLatency")
    by_field = {c.field: (c.before, c.after) for c in changes}
    assert by_field["window"] == ("5m", "10m")
    assert by_field["for"] == ("10m", "15m")
    assert by_field["severity"] == ("warning", "critical")
    assert "histogram_quantile(0.99" in by_field["expression"][1]
    assert "threshold" not in by_field


def test_added_and_removed_alerts_and_dashboards(tmp_path, specs_copy):
    (specs_copy / "cost-optimization.yaml").unlink()
    (specs_copy / "overview.yaml").unlink()  # it summarises the cost dashboard too
    for f in specs_copy.glob("*.yaml"):
        f.write_text(f.read_text().replace("  - {dashboard: mlops-cost-optimization}\n", ""))
    other = build(specs_copy, tmp_path / "other")
    changes = changes_of(GENERATED, other)
    removed = {c.subject for c in changes if c.area == "alert" and c.action == "removed"}
    assert removed == {"CostAnomaly", "LowGPUUtilization", "StorageGrowth"}
    assert find(changes, "dashboard", "mlops-cost-optimization")[0].action == "removed"
    reverse = changes_of(other, GENERATED)
    added = {c.subject for c in reverse if c.area == "alert" and c.action == "added"}
    assert added == removed
    md = semdiff.to_markdown(reverse, "a", "b")
    assert "(`mlops-cost-optimization`) added" in md


# ------------------------------------------------------------------ routing

ROUTES = {
    "route": {
        "receiver": "default",
        "group_by": ["alertname"],
        "routes": [
            {"matchers": ['severity="critical"'], "receiver": "pagerduty", "continue": True},
            {"matchers": ['severity=~"critical|warning"'], "receiver": "slack"},
            {"match": {"severity": "info"}, "receiver": "null"},
        ],
    },
    "receivers": [{"name": n} for n in ("default", "pagerduty", "slack", "null")],
}


def _with_routing(folder: Path, config: dict) -> Path:
    (folder / "alertmanager").mkdir(exist_ok=True)
    (folder / "alertmanager" / "alertmanager.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_route_walk():
    route = ROUTES["route"]
    assert semdiff.route_receivers(route, {"severity": "critical"}) == ["pagerduty", "slack"]
    assert semdiff.route_receivers(route, {"severity": "warning"}) == ["slack"]
    assert semdiff.route_receivers(route, {"severity": "info"}) == ["null"]
    assert semdiff.route_receivers(route, {}) == ["default"]
    nested = {"receiver": "root", "routes": [
        {"matchers": ["team=ml-serving", 'alertname!~"Cost.*"'],
         "routes": [{"match_re": {"severity": "crit.*"}, "receiver": "oncall"}]}]}
    assert semdiff.route_receivers(nested, {"team": "ml-serving", "severity": "critical",
                                            "alertname": "HighLatency"}) == ["oncall"]
    # a matching parent without a matching child: the parent's (inherited) receiver
    assert semdiff.route_receivers(nested, {"team": "ml-serving", "severity": "warning",
                                            "alertname": "HighLatency"}) == ["root"]
    assert semdiff.route_receivers(nested, {"team": "ml-serving", "severity": "critical",
                                            "alertname": "CostAnomaly"}) == ["root"]


def test_routing_changes_per_alert(tmp_path, specs_copy):
    base = _with_routing(build(specs_copy, tmp_path / "base"), ROUTES)
    edit(specs_copy, "serving-health.yaml", "    severity: warning\n",
         "    severity: critical\n")  # HighLatency is the first alert of the file
    head = _with_routing(build(specs_copy, tmp_path / "head"), ROUTES)
    routing = [c for c in changes_of(base, head) if c.area == "routing"]
    assert [(c.subject, c.before, c.after) for c in routing] == [
        ("HighLatency", ["slack"], ["pagerduty", "slack"])]
    # a route change moves every alert of a severity; other settings are listed too
    config = json.loads(json.dumps(ROUTES))
    config["route"]["routes"][1]["receiver"] = "email"
    config["route"]["group_wait"] = "10s"
    head2 = _with_routing(build(specs_copy, tmp_path / "head2"), config)
    changes = changes_of(head, head2)
    moved = {c.subject: (c.before, c.after) for c in changes if c.area == "routing"}
    assert moved["HighLatency"] == (["pagerduty", "slack"], ["pagerduty", "email"])
    assert all(after != ["slack"] for _, after in moved.values())
    assert {"route.group_wait", "route.routes[1].receiver"} <= {
        c.field for c in changes if c.area == "config"}
    md = semdiff.to_markdown(changes, "a", "b")
    assert "- **HighLatency**: `pagerduty, slack` → `pagerduty, email`" in md


def test_routing_needs_both_sides(tmp_path):
    a = build(SPECS, tmp_path / "a")
    shutil.rmtree(a / "alertmanager", ignore_errors=True)  # this side has no routing output
    b = _with_routing(shutil.copytree(a, tmp_path / "b"), ROUTES)
    changes = changes_of(a, b)
    assert [(c.area, c.subject, c.action) for c in changes] == [
        ("routing", "alertmanager/alertmanager.yaml", "added")]


# ------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(("expr", "comparison", "threshold", "windows"), [
    ("(histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))) > 300", ">", 300, ["5m"]),
    ("0.1 > sum(rate(a[5m])) / sum(rate(b[1h]))", "<", 0.1, ["1h", "5m"]),
    ("(sum(x) - sum(x offset 1h)) >= 1e9", ">=", 1000000000, ["offset 1h"]),
    ("x / avg_over_time((x)[7d:1h]) - 1 > 0.5", ">", 0.5, ["7d:1h"]),
    ("absent(up)", None, None, []),
    ("x < -5", "<", -5, []),
    ("x > 1 and y", None, None, []),  # not a plain threshold: reported as expression changes
    ('rate(x{a=~"[0-9]+"}[ 2m ]) == 0', "==", 0, ["2m"]),
])
def test_analyse_expr(expr, comparison, threshold, windows):
    facts = semdiff.analyse_expr(expr)
    assert (facts["comparison"], facts["threshold"], facts["windows"]) == (
        comparison, threshold, windows)


def test_markdown_code_spans_survive_backticks_and_newlines():
    c = semdiff.Change("file", "x", "changed", "f", "a `b`\nc", "d")
    line = semdiff.to_markdown([semdiff.Change("alert", "A", "changed", "summary",
                                               c.before, c.after)], "x", "y")
    assert "``a `b` c``" in line


def test_leaf_changes_paths():
    a = {"a": {"b": [1, 2]}, "c": 1}
    b = {"a": {"b": [1, 3]}, "d": 2}
    assert list(semdiff.leaf_changes(a, b)) == [
        ("a.b[1]", 2, 3), ("c", 1, None), ("d", None, 2)]


def test_route_walk_agrees_with_amtool_for_every_shipped_alert():
    """The receivers diff reports are the ones the real Alertmanager routing tree gives."""
    amtool = require_tool("amtool")
    config_file = GENERATED / "alertmanager" / "alertmanager.yaml"
    route = yaml.safe_load(config_file.read_text())["route"]
    alerts, _ = semdiff.rules_of(read_folder(GENERATED))
    assert len(alerts) >= 15
    for name, rule in alerts.items():
        labels = {**rule["labels"], "alertname": name}
        r = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config_file}",
                            *(f"{k}={v}" for k, v in labels.items())],
                           capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        expected = sorted(r.stdout.strip().split(","))
        assert sorted(semdiff.route_receivers(route, labels)) == expected, name


# ------------------------------------------------------------------ issue 13: units, ids, panels


def test_threshold_shows_the_unit_of_its_panel(tmp_path, specs_copy):
    edit(specs_copy, "serving-health.yaml", "threshold: 0.02", "threshold: 0.05")
    other = build(specs_copy, tmp_path / "other")
    r = run("diff", "generated", str(other))
    assert "threshold: `2%` → `5%`" in r.stdout, r.stdout  # percentunit, as the panel shows it


def test_panel_retitled_and_requeried_in_place_is_one_changed_panel(tmp_path, specs_copy):
    """Title and queries both changed: matched by its panel id, so its changes (here the
    threshold line of the alert it shows) are not hidden behind removed + added."""
    edit(specs_copy, "serving-health.yaml", "    title: Error Rate (%)",
         "    title: Failure Share (%)")
    text = (specs_copy / "serving-health.yaml").read_text()
    (specs_copy / "serving-health.yaml").write_text(
        text.replace('response_code=~"4.."}', 'response_code=~"4..|3.."}'))
    edit(specs_copy, "serving-health.yaml", "threshold: 0.02", "threshold: 0.05")
    other = build(specs_copy, tmp_path / "other")
    changes = changes_of(GENERATED, other)
    panels = [c for c in changes if c.area == "panel"]
    assert not [c for c in panels if c.action in ("added", "removed")], panels
    fields = {c.field for c in panels if c.subject == "Failure Share (%)"}
    assert {"title", "thresholds"} <= fields, panels


def test_added_dashboard_lists_its_panels(tmp_path, specs_copy):
    (specs_copy / "cost-optimization.yaml").unlink()
    (specs_copy / "overview.yaml").unlink()  # it summarises the cost dashboard too
    for f in specs_copy.glob("*.yaml"):
        f.write_text(f.read_text().replace("  - {dashboard: mlops-cost-optimization}\n", ""))
    other = build(specs_copy, tmp_path / "other")
    md = semdiff.to_markdown(changes_of(other, GENERATED), "a", "b")
    added = md.split("(`mlops-cost-optimization`) added", 1)[1]
    shipped = json.loads((GENERATED / "grafana" / "mlops-cost-optimization.json").read_text())
    for p in shipped["panels"]:
        assert f"  - panel **{p['title']}** (" in added, p["title"]
