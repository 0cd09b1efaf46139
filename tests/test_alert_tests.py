"""Alert semantics proven with the real `promtool test rules`: generated cases per alert,
hand-written cases for tricky semantics (tests/promtool/), and the `mlops-dash test` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import promql_parser as pp
import pytest
import yaml
from conftest import GENERATED, ROOT, require_tool
from seed import seed_dashboards

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline, promql
from mlops_dash.lint import alert_tests as runner
from mlops_dash.render import alert_tests as gen
from mlops_dash.spec import models as m

CASES = ("firing", "quiet", "pending", "resolves")
HAND_WRITTEN = ROOT / "tests" / "promtool"
FAST_DASHBOARDS = ("mlops-serving-health", "mlops-drift-data-quality",
                   "mlops-pipeline-reliability")


def _promtool(*files: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), "test", "rules", *map(str, files)],
                          capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def _promtool_each(files: list[Path]) -> dict[Path, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(files, pool.map(_promtool, files), strict=True))


def _build(specs: Path, out: Path, lint: bool = True) -> Path:
    output.write_tree(pipeline.build_tree(specs, lint=lint), out)
    return out


# ------------------------------------------------------------------------------ generation


def _is_alert_test(rel: str) -> bool:
    """Generated alert tests; the SLO burn-rate tests (slo-*) are checked in test_slo.py."""
    return rel.startswith("prometheus/tests/") and not Path(rel).name.startswith("slo-")


def test_every_seed_alert_has_the_four_generated_cases(tree):
    names: dict[str, set[str]] = {}
    for rel, content in tree.items():
        if _is_alert_test(rel):
            for alert, case in gen.case_names(yaml.safe_load(content)):
                names.setdefault(alert, set()).add(case)
    seed_alerts = {a for d in seed_dashboards().values() for a, _ in d["alerts"]}
    assert len(seed_alerts) == 15
    assert seed_alerts <= set(names)
    for alert in seed_alerts:
        assert set(CASES) <= names[alert], (alert, names[alert])


def test_test_files_point_at_the_plain_rule_file(tree):
    for rel, content in tree.items():
        if not _is_alert_test(rel):
            continue
        data = yaml.safe_load(content)
        uid = Path(rel).name.removesuffix(".test.yaml")
        assert rel == cv.alert_test_path(uid)
        (rule_file,) = data["rule_files"]
        resolved = os.path.normpath(os.path.join(os.path.dirname(rel), rule_file))
        assert resolved == cv.rule_file_path(uid) and resolved in tree


def test_input_series_use_contract_metrics_and_grouping_labels(spec_set, tree):
    catalogue = {md.name: md for md in spec_set.catalogue_model.metrics}
    records = {r.record for d in spec_set.dashboard_models() for r in d.recording_rules}
    alerts = {a.name: a for d in spec_set.dashboard_models() for a in d.alerts}
    for rel, content in tree.items():
        if not _is_alert_test(rel):
            continue
        for group in yaml.safe_load(content)["tests"]:
            alert = alerts[group["name"].partition(": ")[0]]
            read = set(promql.signal_metrics(alert))
            for s in group["input_series"]:
                vs = pp.parse(s["series"])
                name = promql.selector_name(vs)
                labels = {mm.name for mm in vs.matchers.matchers if mm.name != "__name__"}
                base = name.removesuffix("_bucket")
                assert name in read or base in read, (group["name"], name)
                if name in records:
                    continue
                assert set(labels) - {"le"} <= set(catalogue[base].labels), (name, labels)
                # every series carries the labels the expression groups by
                by = set(alert.signal.by)
                sig = alert.signal
                joined = (isinstance(sig, m.GaugeSignal) and sig.consecutive is not None
                          and name == sig.consecutive.check_timestamp.metric)
                if joined:  # the checker's timestamp carries only the push group's labels
                    assert labels == set(sig.consecutive.join_on), (name, labels)
                elif not isinstance(alert.signal, m.AgeSignal):
                    assert by <= labels, (group["name"], name, by, labels)


def test_spec_extra_cases_are_rendered(tree):
    data = yaml.safe_load(tree[cv.alert_test_path("mlops-drift-data-quality")])
    extra = [g for g in data["tests"] if g["name"].startswith("StaleFeatures: a feature view")]
    assert len(extra) == 1
    (check,) = extra[0]["promql_expr_test"]
    assert 'alertname="StaleFeatures"' in check["expr"]
    assert check["eval_time"] == "15m" and check["exp_samples"] == [{"labels": "{}", "value": 1}]


def test_values_follow_threshold_and_comparison():
    base = dict(name="X", severity="warning", panel="p", summary="s", description="d",
                unit="short", action="a", **{"for": "5m"})
    gauge = {"shape": "gauge", "series": [{"metric": "g"}], "by": ["job"]}
    above = m.Alert(**base, signal=gauge, comparison=">", threshold=300)
    below = m.Alert(**base, signal=gauge, comparison="<", threshold=0.99)
    zero = m.Alert(**base, signal=gauge, comparison=">", threshold=0)
    ratio = m.Alert(**base, signal={"shape": "ratio", "numerator": {"metric": "a"},
                                    "denominator": {"metric": "b"}, "by": ["job"]},
                    comparison=">", threshold=0.8, window="5m")
    assert (gen.bad_value(above), gen.safe_value(above)) == (450, 285)
    assert (gen.bad_value(below), gen.safe_value(below)) == (0.495, 1.0395)
    assert (gen.bad_value(zero), gen.safe_value(zero)) == (1, 0)
    assert gen.bad_value(ratio) == 0.9  # a share of events stays below 1
    for a in (above, below, zero, ratio):
        assert gen.is_violating(gen.bad_value(a), a.comparison, a.threshold)
        assert not gen.is_violating(gen.safe_value(a), a.comparison, a.threshold)


def test_quantile_buckets_put_each_value_at_the_quantile():
    bounds, upper = gen.quantile_buckets([285.0, 450.0], 0.95)
    assert bounds == sorted(bounds)
    for v in (285.0, 450.0):
        i = bounds.index(upper[v])
        lo, hi = bounds[i - 1], bounds[i]
        assert lo + (hi - lo) * 0.95 == pytest.approx(v)


def test_label_values_satisfy_matchers():
    assert gen.matching_value("namespace", "=~kubeflow|ml-training") == "kubeflow"
    assert re.fullmatch("5..", gen.matching_value("response_code", "=~5.."))
    assert not re.fullmatch("5..", gen.non_matching_value("response_code", "=~5.."))
    assert gen.non_matching_value("status", "failed") != "failed"
    assert gen.matching_value("status", "!=failed") != "failed"


# ------------------------------------------------------------------------------ promtool


def test_generated_tests_pass_under_promtool():
    """The committed test files, verbatim (relative rule_files), all pass."""
    files = sorted((GENERATED / "prometheus" / "tests").glob("*.test.yaml"))
    assert len([f for f in files if not f.name.startswith("slo-")]) == 5  # + SLO tier files
    for f, r in _promtool_each(files).items():
        assert r.returncode == 0, f"{f.name}:\n{r.stdout}{r.stderr}"
        assert "SUCCESS" in r.stdout


def test_changed_threshold_changes_the_tests_and_they_pass(specs_copy, tmp_path):
    before = _build(specs_copy, tmp_path / "before")
    path = specs_copy / "serving-health.yaml"
    text = path.read_text()
    assert text.count("threshold: 300\n") == 1
    path.write_text(text.replace("threshold: 300\n", "threshold: 800\n"))
    after = _build(specs_copy, tmp_path / "after")
    rel = cv.alert_test_path("mlops-serving-health")
    old, new = (before / rel).read_text(), (after / rel).read_text()
    assert old != new
    # the histogram buckets follow the threshold: p95 of 760 ms (safe) and 1200 ms (bad)
    def bounds(text: str) -> set[float]:
        return {float(v) for v in re.findall(r'le="([0-9.e+-]+)"', text)}

    assert bounds(new) == set(gen.quantile_buckets([760.0, 1200.0], 0.95)[0])
    assert bounds(old) == set(gen.quantile_buckets([285.0, 450.0], 0.95)[0])
    assert "> 800" in (after / cv.rule_file_path("mlops-serving-health")).read_text()
    r = _promtool(after / rel)
    assert r.returncode == 0, r.stdout + r.stderr
    # the old tests do not fit the new rule: their firing case (450 ms) no longer fires
    (after / rel).write_text(old)
    r = _promtool(after / rel)
    report = r.stdout + r.stderr
    assert r.returncode == 1
    assert re.search(r'alertname=\\"HighLatency\\", alertstate=\\"firing\\".*\n.*\n\s+got: nil',
                     report), report


def test_changed_threshold_everywhere_still_passes(specs_copy, tmp_path):
    """Every alert's threshold moved by 50%: regenerated cases still pass (fast dashboards)."""
    for f in specs_copy.glob("*.yaml"):
        data = f.read_text()
        data = re.sub(r"^(    threshold: )([0-9.]+)$",
                      lambda mm: f"{mm.group(1)}{float(mm.group(2)) * 1.5 or 1:g}", data,
                      flags=re.M)
        f.write_text(data)
    # without build-time lint: a budget threshold of 1.485 is (rightly) refused as a percentage
    out = _build(specs_copy, tmp_path / "out", lint=False)
    for f in (out / "prometheus" / "tests").glob("*.test.yaml"):
        if f.name.removesuffix(".test.yaml") not in FAST_DASHBOARDS:
            f.unlink()
    results = runner.run_alert_tests(out)
    generated = [r for r in results if r.case in CASES or r.case.startswith("firing via")]
    assert len(generated) == 62  # 15 seed alerts and 6 liveness alerts in these dashboards
    failing = [f"{r.alert}: {r.case}\n{r.output}" for r in generated if not r.ok]
    assert not failing, failing
    # the spec's own StaleFeatures case is written for 1800 s and now (rightly) fails
    assert [r.case for r in results if not r.ok] == ["a feature view stale for 10 minutes fires"]


def _invert_comparisons(rule_file: Path) -> int:
    inverse = {">": "<=", "<": ">=", ">=": "<", "<=": ">"}
    text, n = re.subn(r"^(    expr: \(.*\)) (>=|<=|>|<) (\S+)$",
                      lambda mm: f"{mm.group(1)} {inverse[mm.group(2)]} {mm.group(3)}",
                      rule_file.read_text(), flags=re.M)
    rule_file.write_text(text)
    return n


def test_broken_expression_fails_every_case(tmp_path):
    """Inverting the comparison in the generated rule file fails every case of every alert."""
    out = _build(ROOT / "specs", tmp_path / "out")
    for f in (out / "prometheus" / "tests").glob("*.test.yaml"):
        if f.name.removesuffix(".test.yaml") not in FAST_DASHBOARDS:
            f.unlink()
    inverted = sum(_invert_comparisons(out / cv.rule_file_path(uid)) for uid in FAST_DASHBOARDS)
    assert inverted == 15
    results = runner.run_alert_tests(out)
    generated = [r for r in results if r.case in CASES]
    assert {r.alert for r in generated} == {
        "HighLatency", "ErrorRateSpike", "ScalingIssue", "FeatureDriftDetected",
        "StaleFeatures", "DataQualityFailure", "PipelineFailureRate", "PipelineStuck",
        "ExporterSourceDown", "ExporterSourceStale", "ScrapeTargetDown", "DriftCheckStale",
        "DataValidationStale", "PushgatewayGroupStale",
        "ResourceExhaustion"}
    assert len(generated) == 60
    passing = [f"{r.alert}: {r.case}" for r in generated if r.ok]
    # Events and consecutive checks filter inside the expression (only newly set states, only
    # breaching values): with the outer comparison inverted nothing is left, so their quiet
    # cases stay quiet; their firing, pending and resolve cases fail as they should.
    assert sorted(passing) == ["FeatureDriftDetected: quiet", "ResourceExhaustion: quiet"], \
        passing


def test_hand_written_tricky_cases_pass():
    files = sorted(HAND_WRITTEN.glob("*.test.yaml"))
    assert {f.name for f in files} >= {
        "pipeline-stuck-p95.test.yaml", "model-degradation-7d.test.yaml",
        "error-budget-48h.test.yaml", "feature-drift-3-checks.test.yaml",
        "cost-anomaly-7d.test.yaml", "resource-exhaustion-events.test.yaml",
        "pipeline-first-failure-and-sparse.test.yaml"}
    for f, r in _promtool_each(files).items():
        assert r.returncode == 0, f"{f.name}:\n{r.stdout}{r.stderr}"


def test_hand_written_cases_catch_a_shorter_for(tmp_path):
    """The 48h and 3-check cases fail when their hold is shortened: they test it, not luck.
    (ErrorBudgetExhausted holds 48h in its expression, ModelDegradation's baseline is offset.)"""
    for name, uid, old, new in (
        ("error-budget-48h.test.yaml", "mlops-model-performance", "[48h:5m]", "[24h:5m]"),
        ("model-degradation-7d.test.yaml", "mlops-model-performance", "[7d:1h] offset 1d",
         "[7d:1h]"),
        ("resource-exhaustion-events.test.yaml", "mlops-pipeline-reliability",
         "[1h] offset 10m) > 0) or (kube_pod_status", "[1h] offset 10m) > 1) or (kube_pod_status"),
        ("feature-drift-3-checks.test.yaml", "mlops-drift-data-quality", ">= 2)", ">= 1)"),
    ):
        work = tmp_path / name
        (work / "generated" / "prometheus").mkdir(parents=True)
        (work / "tests" / "promtool").mkdir(parents=True)
        rules = (GENERATED / cv.rule_file_path(uid)).read_text()
        assert rules.count(old) == 1
        (work / "generated" / cv.rule_file_path(uid)).write_text(rules.replace(old, new))
        test = work / "tests" / "promtool" / name
        test.write_text((HAND_WRITTEN / name).read_text())
        assert _promtool(test).returncode == 1


def test_rules_stay_cheap(tree):
    """No raw range selector of 7d or more in a group evaluated more often than every 5m."""
    def long_ranges(expr: str) -> list[str]:
        return [str(n.range) for n in promql.walk(promql.parse(expr))
                if isinstance(n, pp.MatrixSelector) and n.range.total_seconds() >= 7 * 86400]

    assert long_ranges("increase(x[7d])") and long_ranges("avg_over_time(x[2w])")
    assert not long_ranges("avg_over_time((sum(x))[7d:1h])")  # a subquery at 1h steps
    checked = 0
    for rel, content in tree.items():
        if not rel.endswith(".rules.yaml"):
            continue
        for group in yaml.safe_load(content)["groups"]:
            for rule in group["rules"]:
                checked += 1
                if m.duration_seconds(group["interval"]) < 300:
                    assert not long_ranges(rule["expr"]), (group["name"], rule)
    assert checked > 15


# ------------------------------------------------------------------------------ CLI


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops_dash", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


MINIMAL = ROOT / "tests" / "golden" / "minimal" / "specs"


def test_cli_test_prints_a_table(tmp_path):
    r = _cli("test", "--specs", str(MINIMAL))
    assert r.returncode == 0, r.stderr
    assert re.search(r"^FeaturesStale\s+4/4\s+-$", r.stdout, flags=re.M), r.stdout
    assert "all 4 cases of 1 alerts passed" in r.stdout


def test_cli_test_fails_on_a_failing_case(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    for f in MINIMAL.iterdir():
        (specs / f.name).write_text(f.read_text())
    spec = specs / "freshness.yaml"
    text = spec.read_text()
    assert "    for: " in text
    spec.write_text(text + (
        "    tests:\n"
        "      - name: wrongly expected to fire\n"
        "        input_series:\n"
        "          - {series: 'feast_feature_freshness_seconds{feature_view=\"x\"}', "
        "values: '10x20'}\n"
        "        eval_time: 15m\n"
        "        firing: true\n"))
    r = _cli("test", "--specs", str(specs), "--out", str(tmp_path / "out"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^FeaturesStale\s+4/5\s+wrongly expected to fire$", r.stdout, flags=re.M)
    assert "FAILED FeaturesStale: wrongly expected to fire" in r.stderr
    assert (tmp_path / "out" / cv.alert_test_path("freshness")).exists()


def test_cli_test_without_promtool_exits_2(tmp_path):
    r = _cli("test", "--specs", str(MINIMAL), env={"PROMTOOL": str(tmp_path / "nope")})
    assert r.returncode == 2
    assert "promtool not found" in r.stderr and "Traceback" not in r.stderr


def test_makefile_test_target_runs_every_alert_case():
    """`make test` is the suite (a worker per CPU); the suite runs promtool on every committed
    alert test (test_generated_tests_pass_under_promtool) and the `mlops-dash test` command."""
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-m pytest" in target and "-n $(PYTEST_WORKERS)" in target
    source = Path(__file__).read_text()
    assert "def test_generated_tests_pass_under_promtool" in source
    assert '_cli("test", "--specs"' in source


def test_underivable_alert_is_a_spec_error_with_a_place(specs_copy):
    from mlops_dash.errors import SpecErrors

    spec = specs_copy / "pipeline-reliability.yaml"
    text = spec.read_text()
    start = text.index("  - name: PipelineStuck")
    at = text.index('comparison: ">"', start)
    spec.write_text(text[:at] + 'comparison: "<"' + text[at + len('comparison: ">"'):])
    with pytest.raises(SpecErrors) as exc:
        pipeline.build_tree(specs_copy)
    (err,) = exc.value.errors
    assert err.path == "alerts[1].signal" and err.line
    assert "cannot derive promtool cases for PipelineStuck" in err.message


# ------------------------------------------------------------------------------ genericity

_SHAPES = {
    "ratio": ({"shape": "ratio", "numerator": {"metric": "jobs_total", "matchers":
                                                {"status": "=~fail.*"}},
               "denominator": {"metric": "jobs_total"}, "by": ["job"]}, "15m"),
    "quantile": ({"shape": "quantile", "histogram": {"metric": "req_seconds"},
                  "quantile": 0.5, "by": ["job"]}, "5m"),
    "gauge": ({"shape": "gauge", "series": [{"metric": "temp"}, {"metric": "temp2"}],
               "aggregate": "max", "by": ["job"],
               "scale_by": {"label": "kind", "values": {"a": 2, "b": 0.5}}}, None),
    "difference": ({"shape": "difference", "minuend": {"metric": "temp"},
                    "subtrahend": {"metric": "temp2"}, "by": ["job"]}, None),
    "growth": ({"shape": "growth", "series": {"metric": "temp"}, "by": ["job"]}, "1h"),
    "baseline": ({"shape": "baseline", "series": {"metric": "temp"}, "by": ["job"],
                  "baseline_window": "6h", "baseline_step": "30m"}, None),
    "age": ({"shape": "age", "start_timestamp": {"metric": "started"},
             "baseline": {"metric": "typical"}, "by": ["job", "run"], "match_on": ["job"]},
            None),
}
_CATALOGUE = m.MetricCatalogue(apiVersion="mlops-dash/v1", kind="MetricCatalogue", metrics=[
    {"name": n, "type": t, "labels": ls, "source": "test"} for n, t, ls in (
        ("jobs_total", "counter", ["job", "status"]), ("req_seconds", "histogram", ["job"]),
        ("temp", "gauge", ["job", "kind"]), ("temp2", "gauge", ["job", "kind"]),
        ("started", "gauge", ["job", "run"]), ("typical", "gauge", ["job"]))])


@pytest.mark.parametrize("shape,comparison,threshold,hold", [
    ("ratio", ">=", 0.3, "10m"), ("ratio", "<", 0.5, "0m"),
    ("quantile", ">", 2.5, "3m"), ("quantile", "<=", 0.2, "0m"),
    ("gauge", ">", 40, "5m"), ("gauge", "<", -3, "2m"),
    ("difference", ">=", 0, "4m"), ("difference", "<", -2, "0m"),
    ("growth", ">", 1e9, "0m"), ("growth", "<", 0, "5m"),
    ("baseline", ">", 0.5, "30m"), ("baseline", "<", -0.25, "0m"),
    ("age", ">=", 1.5, "10m"), ("age", ">", 3, "0m"),
])
def test_cases_are_derived_by_shape_for_any_threshold(tmp_path, shape, comparison, threshold,
                                                      hold):
    """Synthetic alerts of every shape, both directions, with and without `for`: the derived
    cases pass promtool against the rule rendered from the same alert."""
    from mlops_dash.render import rules
    from mlops_dash.spec.loader import load_specs

    signal, window = _SHAPES[shape]
    alert = {"name": "Synthetic", "severity": "warning", "panel": "p", "summary": "s",
             "description": "d", "signal": signal, "comparison": comparison,
             "threshold": threshold, "unit": "short", "for": hold, "action": "a",
             "labels": {"tier": "gold"}, **({"window": window} if window else {})}
    d = m.Dashboard(apiVersion="mlops-dash/v1", kind="Dashboard", uid="synthetic",
                    title="Synthetic", team="qa", alerts=[alert], panels=[
                        {"id": "p", "title": "P", "description": "p", "type": "stat",
                         "unit": "short", "queries": [{"expr": "temp"}]}])
    platform = load_specs(MINIMAL).platform_model
    data = gen.test_file(d, _CATALOGUE)
    assert [c for _, c in gen.case_names(data)][:4] == list(CASES)
    (tmp_path / "prometheus" / "tests").mkdir(parents=True)
    (tmp_path / cv.rule_file_path(d.uid)).write_text(
        output.dump_yaml(rules.rule_file(rules.rule_groups(d, platform))))
    test = tmp_path / cv.alert_test_path(d.uid)
    test.write_text(output.dump_yaml(data))
    r = _promtool(test)
    assert r.returncode == 0, r.stdout + r.stderr


def test_firing_cases_expect_the_routing_labels(spec_set, tree):
    """Every generated firing case expects severity, team and dashboard as the spec sets them."""
    checked = 0
    for d in spec_set.dashboard_models():
        if not d.alerts:
            continue  # the overview has no alerts, so no test file
        data = yaml.safe_load(tree[cv.alert_test_path(d.uid)])
        for a in d.alerts:
            (group,) = [g for g in data["tests"] if g["name"] == f"{a.name}: firing"]
            (check,) = group["promql_expr_test"]
            (sample,) = check["exp_samples"]
            vs = pp.parse(sample["labels"])
            labels = {mm.name: mm.value for mm in vs.matchers.matchers}
            assert labels["alertname"] == a.name and labels["alertstate"] == "firing"
            assert (labels["severity"], labels["team"], labels["dashboard"]) == (
                a.severity, d.alert_team(a), d.uid)
            assert set(a.signal.by) <= set(labels)
            checked += 1
    assert checked == 21  # the seed's 15 and the 6 liveness alerts


def test_alert_whose_cases_cannot_be_derived_is_a_spec_error_with_a_place(specs_copy):
    """A catalogue metric without the labels an alert groups by: exit 1 at the alert's signal."""
    from test_cli import run

    f = specs_copy / "metrics.yaml"
    f.write_text(f.read_text().replace(
        "source: feast, labels: [project, feature_view]}", "source: feast}", 1))
    r = run("build", "--specs", str(specs_copy), "--out", str(specs_copy.parent / "out"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "drift-data-quality.yaml:" in r.stderr and "alerts[1].signal" in r.stderr
    assert "has no label(s) ['feature_view', 'project']" in r.stderr
    assert not (specs_copy.parent / "out").exists()
