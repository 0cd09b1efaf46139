"""`mlops-dash lint`: every check id fires on a mistake made for it, the shipped specs are clean,
findings point at the spec line (or the generated file), formats parse, exit codes hold."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SPECS
from test_cli import run

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline
from mlops_dash.errors import SpecErrors
from mlops_dash.lint import (
    alert_checks,
    dashboard_checks,
    inhibit_checks,
    param_checks,
    promql_checks,
    runner,
    schemas,
    threshold_checks,
    tool_checks,
)
from mlops_dash.lint.runner import CHECKS, Finding, json_positions, lint_spec_set
from mlops_dash.spec.loader import load_specs

SERVING = "serving-health.yaml"
# the serving dashboard in its flat form (no templates, no selectors): these tests edit its queries
# as text; it builds the same panels and rules as the shipped one (tests/test_library.py)
FLAT_SERVING = Path(__file__).parent / "testdata" / "flat" / SERVING


@pytest.fixture()
def specs_copy(specs_copy: Path) -> Path:
    shutil.copyfile(FLAT_SERVING, specs_copy / SERVING)
    return specs_copy


def query_line(text: str, panel_id: str, n: int = 0) -> int:
    """1-based line of the n-th query (`- expr:`) of a panel in a spec text."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == f"- id: {panel_id}")
    hits = [i for i in range(start, len(lines)) if lines[i].lstrip().startswith("- expr:")]
    return hits[n] + 1


def edit(specs: Path, file: str, line: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` on one line (1-based) of a spec; the line must contain it."""
    path = specs / file
    lines = path.read_text().splitlines(keepends=True)
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines))


def line_of(specs: Path, file: str, needle: str) -> int:
    lines = (specs / file).read_text().splitlines()
    hits = [i + 1 for i, ln in enumerate(lines) if needle in ln]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def replace_once(specs: Path, file: str, old: str, new: str) -> int:
    """Replace a unique snippet; return its 1-based line."""
    path = specs / file
    text = path.read_text()
    assert text.count(old) == 1, old
    line = text[:text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new))
    return line


# Spec-edit tests run every check but the external tools (covered by their own tests below).
SPEC_CHECKS = [*promql_checks.CHECKS, *threshold_checks.CHECKS, *dashboard_checks.CHECKS,
               *alert_checks.CHECKS, *inhibit_checks.CHECKS, *param_checks.CHECKS]


def lint_folder(specs: Path) -> list[Finding]:
    return runner.lint_folder(specs, checks=SPEC_CHECKS)


def ids(findings: list[Finding]) -> set[str]:
    return {f.check_id for f in findings}


def only(findings: list[Finding], check_id: str) -> list[Finding]:
    hits = [f for f in findings if f.check_id == check_id]
    assert hits, f"{check_id} did not fire; got {[f.text() for f in findings]}"
    return hits


# ------------------------------------------------------------------------------ shipped specs


def test_shipped_specs_lint_clean():
    # its time is a `make bench` target (lint-shipped, benchmarks/bench.py), not asserted here
    r = run("lint")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "" and "no problems found" in r.stderr


def test_json_format_parses_and_is_empty_on_shipped_specs():
    r = run("lint", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_every_check_id_is_documented_in_one_readme_table():
    readme = (ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `([a-z]+/[a-z-]+)` \|", readme, flags=re.M)
    assert sorted(documented) == sorted(CHECKS)
    for cid, (level, what) in CHECKS.items():
        assert f"| `{cid}` | {level} | {what.replace('|', chr(92) + '|')} |" in readme, cid


def test_every_check_id_has_a_test_here():
    source = Path(__file__).read_text()
    missing = [c for c in CHECKS if f'"{c}"' not in source.replace(
        "def test_every_check_id_has_a_test_here", "")]
    assert not missing


# ------------------------------------------------------------------------------ must show (CLI)


@pytest.mark.parametrize("check_id", ["promql/unknown-metric", "promql/rate-on-gauge",
                                      "promql/unknown-label"])
def test_must_show_cli_exit_1_with_check_id_and_spec_line(specs_copy, check_id):
    mistake = check_id.split("/")[1]
    text = (specs_copy / SERVING).read_text()
    if mistake == "unknown-metric":
        line = query_line(text, "throughput")
        edit(specs_copy, SERVING, line, "istio_requests_total", "istio_request_totals")
    elif mistake == "rate-on-gauge":
        line = query_line(text, "autoscaler-activity")
        edit(specs_copy, SERVING, line,
             'kube_horizontalpodautoscaler_status_current_replicas{namespace="$namespace"}',
             'rate(kube_horizontalpodautoscaler_status_current_replicas{namespace="$namespace"}'
             '[$__rate_interval])')
    else:
        line = query_line(text, "throughput")
        edit(specs_copy, SERVING, line, "sum by (destination_canonical_service)",
             "sum by (destination_pod)")
    r = run("lint", "--specs", str(specs_copy))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    expected = re.compile(rf"serving-health\.yaml:{line}:\d+: promql/{mistake}: ")
    assert expected.search(r.stdout), r.stdout
    r = run("lint", "--specs", str(specs_copy), "--format", "json")
    found = json.loads(r.stdout)
    assert any(f["check_id"] == f"promql/{mistake}" and f["line"] == line for f in found)
    r = run("lint", "--specs", str(specs_copy), "--format", "github")
    assert re.search(rf"^::error file=[^,]*serving-health\.yaml,line={line},col=\d+,"
                     rf"title=promql/{mistake}::", r.stdout, flags=re.M), r.stdout


def test_unknown_metric_is_still_a_build_error(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "throughput")
    edit(specs_copy, SERVING, line, "istio_requests_total", "istio_request_totals")
    r = run("build", "--specs", str(specs_copy), "--out", str(specs_copy.parent / "out"))
    assert r.returncode == 1 and "not in the metric catalogue" in r.stderr


def test_spec_errors_are_lint_findings(specs_copy):
    line = replace_once(specs_copy, SERVING, "    severity: warning\n    panel: request-latency",
                        "    severtiy: warning\n    panel: request-latency")
    r = run("lint", "--specs", str(specs_copy))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    check_id = "spec/invalid"
    assert re.search(rf"serving-health\.yaml:{line}:5: {check_id}: alerts\[0\]\.severtiy: "
                     r"unknown field 'severtiy' \(did you mean 'severity'\?\)", r.stdout)


def test_missing_promtool_is_exit_2_with_install_hint(tmp_path):
    r = subprocess_run_lint({"PROMTOOL": str(tmp_path / "no-promtool")})
    assert r.returncode == 2
    assert "promtool not found" in r.stderr and "apt-get install prometheus" in r.stderr
    assert "Traceback" not in r.stderr


def subprocess_run_lint(env: dict[str, str]):
    import os
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "mlops_dash", "lint"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
                          capture_output=True, text=True, timeout=120, check=False)


def test_bad_format_is_usage_error():
    assert run("lint", "--format", "xml").returncode == 2


# ------------------------------------------------------------------------------ promql/*


def lint_spec_edit(specs: Path, file: str, old: str, new: str) -> tuple[list[Finding], int]:
    line = replace_once(specs, file, old, new)
    return lint_folder(specs), line


def test_bucket_without_rate(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "request-latency")
    edit(specs_copy, SERVING, line,
         'rate(istio_request_duration_milliseconds_bucket{reporter="destination", '
         'destination_workload_namespace="$namespace", destination_canonical_service=~"$model", '
         'destination_canonical_revision=~"$version"}[$__rate_interval])',
         'istio_request_duration_milliseconds_bucket{reporter="destination"}')
    hits = only(lint_folder(specs_copy), "promql/bucket-without-rate")
    assert hits[0].line == line and "wrap it in rate()" in hits[0].message


def test_quantile_drops_le(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "request-latency", 1)
    edit(specs_copy, SERVING, line, "sum by (le, destination_canonical_service, ",
         "sum by (destination_canonical_service, ")
    hits = only(lint_folder(specs_copy), "promql/quantile-drops-le")
    assert [h.line for h in hits] == [line]


def test_quantile_without_le_also_drops_it(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "request-latency", 2)
    edit(specs_copy, SERVING, line, "sum by (le, destination_canonical_service, "
         "destination_canonical_revision)", "sum without (le)")
    assert [h.line for h in only(lint_folder(specs_copy), "promql/quantile-drops-le")] == [line]


def test_unknown_label_in_matcher_with_suggestion(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "throughput")
    edit(specs_copy, SERVING, line, 'reporter="destination"', 'reportr="destination"')
    hit = only(lint_folder(specs_copy), "promql/unknown-label")[0]
    assert hit.line == line and "(did you mean 'reporter'?)" in hit.message


def test_unknown_label_in_on_and_without(specs_copy):
    text = (specs_copy / "cost-optimization.yaml").read_text()
    line = query_line(text, "inference-cost-per-1k")
    f = specs_copy / "cost-optimization.yaml"
    f.write_text(text.replace("* on (node) group_left () node_cpu_hourly_cost",
                              "* on (nodename) group_left () node_cpu_hourly_cost", 1))
    line2 = query_line(text, "storage-growth")
    edit(specs_copy, "cost-optimization.yaml", line2, "sum by (bucket_name)", "sum without (pod)")
    hits = only(lint_folder(specs_copy), "promql/unknown-label")
    assert any("on label 'nodename'" in h.message and h.line == line for h in hits)
    assert any("without label 'pod'" in h.message and h.line == line2 for h in hits)


def test_a_repeated_query_is_reported_at_each_of_its_places(specs_copy):
    """An expression's findings are worked out once (promql_checks.analysis) and reported at
    every query that holds it, in this dashboard and in another."""
    text = (specs_copy / SERVING).read_text()
    hpa = "kube_horizontalpodautoscaler_status"
    bad = f'max by (hpa) ({hpa}_current_replicas{{namespace="$namespace"}})'
    first, second = (query_line(text, "autoscaler-activity", n) for n in (0, 1))
    edit(specs_copy, SERVING, first, f"max by (horizontalpodautoscaler) ({hpa}_current_replicas",
         f"max by (hpa) ({hpa}_current_replicas")
    edit(specs_copy, SERVING, second,
         f'max by (horizontalpodautoscaler) ({hpa}_desired_replicas{{namespace="$namespace"}})',
         bad)
    other = specs_copy / "cost-optimization.yaml"
    other_text = other.read_text()
    other_line = query_line(other_text, "training-cost-per-run")
    lines = other_text.splitlines(keepends=True)
    lines[other_line - 1] = lines[other_line - 1].split("- expr:")[0] + f"- expr: '{bad}'\n"
    other.write_text("".join(lines))
    hits = [(h.file.rsplit("/", 1)[-1], h.line) for h in
            only(lint_folder(specs_copy), "promql/unknown-label") if "'hpa'" in h.message]
    assert sorted(hits) == sorted([(SERVING, first), (SERVING, second),
                                   ("cost-optimization.yaml", other_line)])


def test_labels_of_recording_rules_are_not_guessed(specs_copy):
    """A `by` over a recording rule's output is not checked: its labels are not in the catalogue."""
    line = query_line((specs_copy / "pipeline-reliability.yaml").read_text(), "pipeline-duration",
                      3)
    edit(specs_copy, "pipeline-reliability.yaml", line,
         'pipeline:mlops_pipeline_run_duration_seconds:p95_7d{pipeline=~"$pipeline"} / 60',
         'max by (anything) (pipeline:mlops_pipeline_run_duration_seconds:p95_7d) / 60')
    assert "promql/unknown-label" not in ids(lint_folder(specs_copy))


def test_by_label_dropped_by_an_inner_aggregation_is_caught(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "throughput")
    edit(specs_copy, SERVING, line, "sum by (destination_canonical_service) (rate(",
         "max by (response_code) (sum by (destination_canonical_service) (rate(")
    edit(specs_copy, SERVING, line, "[$__rate_interval]))", "[$__rate_interval])))")
    hit = only(lint_folder(specs_copy), "promql/unknown-label")[0]
    assert "'response_code'" in hit.message and "sum by (destination_canonical_service)" in \
        hit.message


def test_unit_mismatch_panel_seconds_vs_milliseconds(specs_copy):
    findings, line = lint_spec_edit(specs_copy, SERVING, "    unit: ms\n    queries:",
                                    "    unit: s\n    queries:")
    hits = only(findings, "promql/unit-mismatch")
    assert any("in milliseconds but the unit is 's'" in h.message for h in hits)


def test_unit_mismatch_ratio_shown_as_percent(specs_copy):
    f = "model-performance.yaml"
    text = (specs_copy / f).read_text()
    line = query_line(text, "accuracy-vs-slo")
    panel_unit = text.index("unit: percentunit", text.index("- id: accuracy-vs-slo"))
    (specs_copy / f).write_text(text[:panel_unit] + "unit: percent" +
                                text[panel_unit + len("unit: percentunit"):])
    hits = only(lint_folder(specs_copy), "promql/unit-mismatch")
    assert any(h.line == line and "percentunit" in h.message for h in hits)


def test_unit_conversions_are_understood(specs_copy):
    """`/ 60` of seconds on a minutes panel and `/ 100` of a percent on percentunit are fine,
    but dropping the conversion is caught."""
    assert "promql/unit-mismatch" not in ids(lint_folder(specs_copy))
    f = "pipeline-reliability.yaml"
    line = query_line((specs_copy / f).read_text(), "pipeline-duration")
    edit(specs_copy, f, line, "[1h]))) / 60", "[1h])))")
    hit = only(lint_folder(specs_copy), "promql/unit-mismatch")[0]
    assert hit.line == line and "in seconds but the unit is 'm'" in hit.message


def test_unit_mismatch_alert_ratio_threshold_written_as_percent(specs_copy):
    findings, line = lint_spec_edit(specs_copy, SERVING, "    threshold: 0.02",
                                    "    threshold: 2")
    hit = only(findings, "promql/unit-mismatch")[0]
    assert hit.line == line and "write 0.02" in hit.message


def test_unit_mismatch_alert_unit_vs_panel_unit(specs_copy):
    findings, line = lint_spec_edit(specs_copy, SERVING, "    unit: ms\n    window: 5m",
                                    "    unit: s\n    window: 5m")
    hits = only(findings, "promql/unit-mismatch")
    assert any(h.line == line and "threshold line" in h.message for h in hits)


def test_threshold_mismatch_direction_words(specs_copy):
    findings, line = lint_spec_edit(
        specs_copy, SERVING, "has been above ${threshold} for ${for} (now {{ $value | printf",
        "has been below ${threshold} for ${for} (now {{ $value | printf")
    hit = only(findings, "promql/threshold-mismatch")[0]
    assert hit.line == line and "'below'" in hit.message and "'>'" in hit.message


def test_threshold_mismatch_number_written_in_text(specs_copy):
    findings, line = lint_spec_edit(
        specs_copy, SERVING, "has been above ${threshold} for ${for} (now {{ $value | printf",
        "has been above 250 ms for ${for} (now {{ $value | printf")
    hit = only(findings, "promql/threshold-mismatch")[0]
    assert hit.line == line and "300 ms" in hit.message
    # the same number as the threshold is fine
    (specs_copy / SERVING).write_text((specs_copy / SERVING).read_text().replace(
        "above 250 ms", "above 300 ms"))
    assert "promql/threshold-mismatch" not in ids(lint_folder(specs_copy))


def test_durations_in_text_are_not_thresholds(specs_copy):
    findings, _ = lint_spec_edit(
        specs_copy, SERVING, "has been above ${threshold} for ${for} (now {{ $value | printf",
        "has been above ${threshold} for over 10 minutes (now {{ $value | printf")
    assert "promql/threshold-mismatch" not in ids(findings)


def mutated(tree: dict[str, str], rel: str, change) -> dict[str, str]:
    """A copy of the rendered tree with one file changed (for checks on the output)."""
    new = dict(tree)
    if rel.endswith(".json"):
        data = json.loads(tree[rel])
        change(data)
        new[rel] = output.dump_json(data)
    else:
        data = yaml.safe_load(tree[rel])
        change(data)
        new[rel] = output.dump_yaml(data)
    return new


def test_threshold_mismatch_in_rendered_rule_and_panel(spec_set, tree):
    rel = "prometheus/mlops-serving-health.rules.yaml"

    def lower(data):
        rule = data["groups"][0]["rules"][0]
        assert rule["alert"] == "HighLatency"
        rule["expr"] = rule["expr"].replace("> 300", "> 250")

    hits = only(lint_spec_set(spec_set, mutated(tree, rel, lower), threshold_checks.CHECKS),
                "promql/threshold-mismatch")
    assert hits[0].file == f"generated/{rel}" and "> 300" in hits[0].message
    assert hits[0].line == tree[rel].splitlines().index(
        next(ln for ln in tree[rel].splitlines() if "> 300" in ln)) + 1

    dash = "grafana/mlops-serving-health.json"

    def no_line(data):
        data["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"] = [
            {"color": "green", "value": None}]

    hits = only(lint_spec_set(spec_set, mutated(tree, dash, no_line), threshold_checks.CHECKS),
                "promql/threshold-mismatch")
    assert hits[0].file == f"generated/{dash}" and "HighLatency" in hits[0].message


# ------------------------------------------------------------------------------ dashboard/*


def test_panel_title_description_and_unit(specs_copy):
    replace_once(specs_copy, SERVING, "    title: Throughput (requests/sec)", '    title: " "')
    replace_once(specs_copy, SERVING, "    description: Requests per second by model.",
                 '    description: "  "')
    line = replace_once(specs_copy, SERVING, "    unit: reqps", "    unit: requests")
    findings = lint_folder(specs_copy)
    only(findings, "dashboard/panel-title")
    only(findings, "dashboard/panel-description")
    hit = only(findings, "dashboard/panel-unit")[0]
    assert hit.line == line and "'requests' is not a Grafana unit id" in hit.message


def test_fixed_datasource(spec_set, tree):
    rel = "grafana/mlops-serving-health.json"

    def fix_uid(data):
        data["panels"][2]["targets"][0]["datasource"]["uid"] = "P1809F7CD0C75ACF3"

    hit = only(lint_spec_set(spec_set, mutated(tree, rel, fix_uid), dashboard_checks.CHECKS),
               "dashboard/fixed-datasource")[0]
    assert hit.file == f"generated/{rel}" and "P1809F7CD0C75ACF3" in hit.message
    text = mutated(tree, rel, fix_uid)[rel].splitlines()
    assert '"uid": "P1809F7CD0C75ACF3"' in text[hit.line - 1]


def test_rate_interval(specs_copy):
    line = query_line((specs_copy / SERVING).read_text(), "throughput")
    edit(specs_copy, SERVING, line, "[$__rate_interval]", "[5m]")
    hit = only(lint_folder(specs_copy), "dashboard/rate-interval")[0]
    assert hit.line == line and "rate() over [5m]" in hit.message


def test_increase_over_a_fixed_period_is_allowed_but_not_over_interval(specs_copy):
    f = "cost-optimization.yaml"
    line = query_line((specs_copy / f).read_text(), "spot-interruptions")
    assert "dashboard/rate-interval" not in ids(lint_folder(specs_copy))
    edit(specs_copy, f, line, "[1h]", "[$__interval]")
    assert only(lint_folder(specs_copy), "dashboard/rate-interval")[0].line == line


def test_unused_variable(specs_copy):
    line = replace_once(
        specs_copy, SERVING, "  - {name: version, label: Version,",
        '  - {name: unused, label: Unused, query: "label_values(istio_requests_total, reporter)"}\n'
        "  - {name: version, label: Version,")
    hit = only(lint_folder(specs_copy), "dashboard/unused-variable")[0]
    assert hit.line == line and "'unused'" in hit.message


def test_grid_overlap_and_duplicate_panel_id(spec_set, tree):
    rel = "grafana/mlops-serving-health.json"

    def clash(data):
        data["panels"][1]["gridPos"] = dict(data["panels"][0]["gridPos"])
        data["panels"][2]["id"] = data["panels"][0]["id"]

    findings = lint_spec_set(spec_set, mutated(tree, rel, clash), [dashboard_checks.check_panels])
    assert "overlaps panel 'Request Latency (ms)'" in only(findings,
                                                           "dashboard/grid-overlap")[0].message
    assert only(findings, "dashboard/duplicate-panel-id")[0].file == f"generated/{rel}"


# ------------------------------------------------------------------------------ alert/*


def test_alert_name_style(specs_copy):
    text = (specs_copy / SERVING).read_text().replace("HighLatency", "HIGHLATENCY")
    (specs_copy / SERVING).write_text(text)
    hit = only(lint_folder(specs_copy), "alert/name-style")[0]
    assert hit.line == line_of(specs_copy, SERVING, "- name: HIGHLATENCY")


def test_alert_severity_record_name_and_annotations_on_output(spec_set, tree):
    rel = "prometheus/mlops-pipeline-reliability.rules.yaml"

    def damage(data):
        for group in data["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    rule["record"] = "p95_pipeline_duration"
                else:
                    rule["alert"] = "Foreign" + rule["alert"]  # not a spec alert: output place
                    rule["labels"]["severity"] = "page"
                    del rule["annotations"]["runbook_url"]

    findings = lint_spec_set(spec_set, mutated(tree, rel, damage), alert_checks.CHECKS)
    assert "'page' is not one of" in only(findings, "alert/severity")[0].message
    assert only(findings, "alert/missing-annotation")[0].file == f"generated/{rel}"
    assert "level:metric:operations" in only(findings, "alert/record-name")[0].message


def test_missing_annotation_from_spec(specs_copy):
    line = replace_once(specs_copy, SERVING,
                        '    summary: "HPA {{ $labels.horizontalpodautoscaler }} is {{ $value }} '
                        'replicas short"', '    summary: " "')
    hit = only(lint_folder(specs_copy), "alert/missing-annotation")[0]
    assert hit.line == line and "no summary annotation" in hit.message


def test_for_shorter_than_interval(specs_copy):
    line = replace_once(specs_copy, SERVING, "    for: 15m", "    for: 30s")
    hit = only(lint_folder(specs_copy), "alert/for-shorter-than-interval")[0]
    assert hit.line == line and "interval 1m" in hit.message


def test_for_zero_is_allowed(specs_copy):
    replace_once(specs_copy, SERVING, "    for: 15m", "    for: 0m")
    assert "alert/for-shorter-than-interval" not in ids(lint_folder(specs_copy))


TEAMS = """  - name: teams-ml
    type: msteams
    webhook_url_file: /etc/alertmanager/secrets/teams/webhook-url
    secret_ref: {name: alertmanager-teams, key: webhook-url}
"""


def test_msteams_on_alertmanager_0_25_is_refused_at_the_channel(specs_copy):
    """Debian's Alertmanager 0.25 has no msteams_configs (amtool: "field msteams_configs not
    found in type config.plain"); lint says so where the channel is declared."""
    line = replace_once(specs_copy, "platform.yaml", "  - name: slack-ml-ops\n",
                        TEAMS + "  - name: slack-ml-ops\n")
    replace_once(specs_copy, "platform.yaml", "      channels: [slack-ml-ops]\n",
                 "      channels: [slack-ml-ops, teams-ml]\n")
    hit = only(lint_folder(specs_copy), "alert/msteams-unsupported")[0]
    assert hit.file.endswith("platform.yaml") and hit.line == line + 1
    assert "Alertmanager 0.25 has no msteams_configs" in hit.message
    assert "webhook" in hit.message
    # build refuses it too; past --no-lint the operator manifest reaches Teams through
    # msteamsv2Configs with the Secret
    with pytest.raises(SpecErrors, match=r"\[alert/msteams-unsupported\]"):
        pipeline.build_tree(specs_copy)
    tree = pipeline.build_tree(specs_copy, lint=False)
    manifest = yaml.safe_load(tree[cv.alertmanager_config_manifest_path("ml-platform")])
    teams = next(r for r in manifest["spec"]["receivers"] if r["name"] == "teams-ml")
    assert teams["msteamsv2Configs"][0]["webhookURL"] == {"name": "alertmanager-teams",
                                                          "key": "webhook-url"}
    assert schemas.manifest_errors(manifest) == []
    # a newer Alertmanager takes it
    replace_once(specs_copy, "platform.yaml", "grafana_folder: MLOps\n",
                 "grafana_folder: MLOps\nalertmanager_version: \"0.27\"\n")
    assert "alert/msteams-unsupported" not in ids(lint_folder(specs_copy))


# ------------------------------------------------------------------------------ tool/*, schema/*


def test_declared_parameter_no_spec_uses(specs_copy):
    line = replace_once(specs_copy, "platform.yaml", "namespaces:\n",
                        "parameters:\n  latency_p95_ms: {type: number, value: 300}\n"
                        "  spare: {type: string, value: x}\nnamespaces:\n") + 2
    replace_once(specs_copy, "serving-health.yaml", "    threshold: 300",
                 '    threshold: "${params.latency_p95_ms}"')
    hits = only(lint_folder(specs_copy), "params/unused")
    assert [(Path(h.file).name, h.line) for h in hits] == [("platform.yaml", line)]
    assert "parameter 'spare' is declared but no spec references ${params.spare}" in \
        hits[0].message
    # quiet side: every declared parameter used
    replace_once(specs_copy, "platform.yaml", "  spare: {type: string, value: x}\n", "")
    assert not [f for f in lint_folder(specs_copy) if f.check_id == "params/unused"]


def test_inhibit_rule_that_can_never_match(specs_copy):
    """The old `pipeline` rule: no critical alert carries `pipeline` (only PipelineFailureRate
    and PipelineStuck, both warnings, do), so Alertmanager could never use it."""
    line = replace_once(specs_copy, "platform.yaml", "  inhibit:\n",
                        "  inhibit:\n    - {equal: [pipeline], description: same pipeline}\n") + 1
    hits = only(lint_folder(specs_copy), "alert/inhibit-never-matches")
    assert [(Path(h.file).name, h.line) for h in hits] == [("platform.yaml", line)]
    assert ('no generated alert matches its source matchers severity="critical", '
            'pipeline=~".+"') in hits[0].message


def test_inhibit_rule_whose_source_severity_no_alert_has(specs_copy):
    replace_once(specs_copy, "platform.yaml", "    - {equal: [model], description: same model}",
                 "    - {equal: [model], source_severities: [info], target_severities: [warning]}")
    (hit,) = only(lint_folder(specs_copy), "alert/inhibit-never-matches")
    assert 'source matchers severity="info", model=~".+"' in hit.message


def test_inhibit_rules_that_can_match_are_not_reported(specs_copy):
    """Quiet side: the shipped rules (model; served model) and a pipeline rule once a critical
    alert carries `pipeline` match some pair of alerts."""
    assert not [f for f in lint_folder(specs_copy) if f.check_id == "alert/inhibit-never-matches"]
    replace_once(specs_copy, "platform.yaml", "  inhibit:\n",
                 "  inhibit:\n    - {equal: [pipeline], description: same pipeline}\n")
    replace_once(specs_copy, "pipeline-reliability.yaml",
                 "  - name: PipelineFailureRate\n    severity: warning\n",
                 "  - name: PipelineFailureRate\n    severity: critical\n")
    found = [f for f in lint_folder(specs_copy) if f.check_id == "alert/inhibit-never-matches"]
    assert not found, [f.text() for f in found]


def test_promtool_refuses_a_rule_file(spec_set, tree):
    rel = "prometheus/mlops-serving-health.rules.yaml"

    def repeat_group(data):
        data["groups"].append(dict(data["groups"][0]))

    hit = only(lint_spec_set(spec_set, mutated(tree, rel, repeat_group), [tool_checks.check_tools]),
               "tool/promtool")[0]
    assert hit.file == f"generated/{rel}" and "repeated" in hit.message


AM_OK = """route:
  receiver: default
receivers:
  - name: default
"""


def test_amtool_runs_only_when_an_alertmanager_config_is_rendered(spec_set, tree):
    assert tool_checks.ALERTMANAGER_CONFIG not in tree or True
    good = {**tree, tool_checks.ALERTMANAGER_CONFIG: AM_OK}
    assert lint_spec_set(spec_set, good, [tool_checks.check_tools]) == []
    bad = {**tree, tool_checks.ALERTMANAGER_CONFIG: AM_OK.replace("receiver: default",
                                                                  "receiver: nobody")}
    hit = only(lint_spec_set(spec_set, bad, [tool_checks.check_tools]), "tool/amtool")[0]
    assert hit.file == "generated/alertmanager/alertmanager.yaml" and "nobody" in hit.message


def test_schema_checks_on_output(spec_set, tree):
    dash = "grafana/mlops-serving-health.json"
    rules = "prometheus/mlops-serving-health.rules.yaml"
    crd = "kubernetes/prometheusrule-mlops-serving-health.yaml"

    def bad_grid(data):
        data["title"] = 42

    def bad_rules(data):
        data["groups"][0]["rules"][0]["expr"] = ["not", "a", "string"]

    def bad_crd(data):
        data["spec"]["colour"] = "blue"

    t = mutated(mutated(mutated(tree, dash, bad_grid), rules, bad_rules), crd, bad_crd)
    t[tool_checks.ALERTMANAGER_CONFIG] = "route: 42\n"
    findings = lint_spec_set(spec_set, t, [tool_checks.check_schemas])
    hit = only(findings, "schema/grafana-dashboard")[0]
    assert hit.file == f"generated/{dash}" and "dashboard/title: 42 is not of type" in hit.message
    assert '"title": 42' in t[dash].splitlines()[hit.line - 1]
    assert only(findings, "schema/prometheus-rules")[0].file == f"generated/{rules}"
    assert "colour" in only(findings, "schema/kubernetes-crd")[0].message
    assert only(findings, "schema/alertmanager")[0].file == "generated/alertmanager/alertmanager.yaml"


def test_cloudwatch_exporter_config_on_output(spec_set, tree):
    rel = "exporters/cloudwatch-exporter.yaml"
    assert not lint_spec_set(spec_set, tree, [tool_checks.check_schemas])
    t = dict(tree)
    t[rel] = tree[rel].replace("set_timestamp:", "set_timestamps:")
    hit = only(lint_spec_set(spec_set, t, [tool_checks.check_schemas]),
               "schema/cloudwatch-exporter")[0]
    assert hit.file == f"generated/{rel}" and "unknown key 'set_timestamps'" in hit.message


# ------------------------------------------------------------------------------ plumbing


def test_json_positions_match_the_dumped_text(tree):
    rel = "grafana/mlops-serving-health.json"
    data = json.loads(tree[rel])
    lines = tree[rel].splitlines()
    pos = json_positions(data)
    for path, (line, col) in pos.items():
        if path and isinstance(path[-1], str):
            assert lines[line - 1][col - 1:].startswith(json.dumps(path[-1]) + ":"), path


def test_github_format_escapes():
    f = Finding("a,b.yaml", 3, 4, "promql/unknown-metric", "error", "50% bad\nnext")
    assert f.github() == ("::error file=a%2Cb.yaml,line=3,col=4,title=promql/unknown-metric"
                          "::50%25 bad%0Anext")


def test_lint_in_process_matches_cli_on_shipped(spec_set):
    assert lint_spec_set(spec_set) == []
    assert runner.lint_folder(SPECS) == []
    assert load_specs(SPECS, check_metrics=False).dashboards
    assert pipeline.render_tree(spec_set)


def test_unknown_label_in_group_left(specs_copy):
    f = "cost-optimization.yaml"
    text = (specs_copy / f).read_text()
    line = query_line(text, "inference-cost-per-1k")
    (specs_copy / f).write_text(text.replace("group_left () node_ram_hourly_cost",
                                             "group_left (zone) node_ram_hourly_cost", 1))
    hits = only(lint_folder(specs_copy), "promql/unknown-label")
    assert any("group_left label 'zone'" in h.message and "node_ram_hourly_cost" in h.message
               and h.line == line for h in hits)


# ------------------------------------------------------------------------------ labels (issue 13)


def test_template_label_removed_by_aggregation(specs_copy):
    """pint's alerts/template: $labels.pod on `max by (namespace, horizontalpodautoscaler)`."""
    from mlops_dash.lint import label_checks

    assert not runner.lint_folder(specs_copy, checks=label_checks.CHECKS)
    line = replace_once(specs_copy, SERVING,
                        '    summary: "HPA {{ $labels.horizontalpodautoscaler }} is {{ $value }} '
                        'replicas short"',
                        '    summary: "HPA {{ $labels.pod }} in {{ $labels.namespace }} is short"')
    hits = only(runner.lint_folder(specs_copy, checks=label_checks.CHECKS),
                "alert/template-label")
    assert len(hits) == 1 and hits[0].line == line and hits[0].level == "error"
    assert "summary reads $labels.pod, but the expression keeps only " \
           "['horizontalpodautoscaler', 'namespace']" in hits[0].message


def test_group_by_label_no_alert_carries(specs_copy):
    from mlops_dash.lint import label_checks

    line = replace_once(specs_copy, "platform.yaml", "group_by: [alertname, namespace, model,",
                        "group_by: [alertname, namespace, modle, model,")
    hits = only(runner.lint_folder(specs_copy, checks=label_checks.CHECKS),
                "routing/group-by-label")
    assert len(hits) == 1 and hits[0].line == line and hits[0].level == "warning"
    assert "'modle' is carried by no alert" in hits[0].message


# ------------------------------------------------------------------------------ raw alerts


def test_raw_alert_is_untested_until_it_has_its_own_cases(tmp_path):
    """An imported raw-expression alert has no shape to derive promtool cases from: lint warns
    `alert/raw-untested` until the spec gives it `tests`, then is quiet."""
    rules = tmp_path / "r.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{
        "alert": "ThroughputGone", "for": "10m", "labels": {"severity": "warning"},
        "expr": "(sum(rate(istio_requests_total[5m])) or on() vector(0)) < 1",
        "annotations": {"summary": "no traffic", "description": "no traffic for 10m"}}]}]}))
    out = tmp_path / "specs"
    assert run("import", "rules", str(rules), "--out", str(out)).returncode == 0
    hits = only(lint_folder(out), "alert/raw-untested")
    assert len(hits) == 1 and hits[0].file.endswith("r.yaml") and hits[0].level == "warning"
    spec = out / "r.yaml"
    data = yaml.safe_load(spec.read_text())
    data["alerts"][0]["tests"] = [{
        "name": "no traffic fires", "eval_time": "15m", "firing": True,
        "input_series": [{"series": 'istio_requests_total{job="istio"}', "values": "0x30"}]}]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert not [f for f in lint_folder(out) if f.check_id == "alert/raw-untested"]
