"""Reusable parts (``kind: Library``): selectors, panel and alert templates, links to all
dashboards. In-process loads of a copy of the shipped specs (cheap); the corpus cases
(tests/testdata/invalid/template-*) check the same errors through `build`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlops_dash.errors import SpecErrors
from mlops_dash.render.grafana import link_list
from mlops_dash.spec.jsonschema import spec_json_schema
from mlops_dash.spec.library import type_problem
from mlops_dash.spec.loader import SpecSet, load_specs


def _edit(specs: Path, file: str, old: str, new: str) -> None:
    path = specs / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _errors(specs: Path) -> list[str]:
    with pytest.raises(SpecErrors) as exc:
        load_specs(Path(specs.name))
    return [e.format() for e in exc.value.errors]


def _line(specs: Path, place: str) -> str:
    """The spec line a ``file:line:col`` place points at."""
    file, line, _ = place.rsplit(":", 2)
    return (specs.parent / file).read_text(encoding="utf-8").splitlines()[int(line) - 1]


@pytest.fixture()
def specs(specs_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(specs_copy.parent)  # places read specs/x.yaml, as the CLI prints them
    return specs_copy


def _dashboard(spec_set: SpecSet, uid: str):  # noqa: ANN202
    return next(d.model for d in spec_set.dashboards if d.model.uid == uid)


# ------------------------------------------------------------------------ instances


def test_panel_instance_is_the_flat_panel(spec_set: SpecSet) -> None:
    serving = _dashboard(spec_set, "mlops-serving-health")
    panel = next(p for p in serving.panels if p.id == "request-latency")
    assert (panel.type, panel.unit, panel.title) == ("timeseries", "ms", "Request Latency (ms)")
    assert [q.expr for q in panel.queries][1] == (
        "histogram_quantile(0.95, sum by (le, destination_canonical_service, "
        "destination_canonical_revision) (rate(istio_request_duration_milliseconds_bucket{"
        'reporter="destination", destination_workload_namespace="$namespace", '
        'destination_canonical_service=~"$model", destination_canonical_revision=~"$version"}'
        "[$__rate_interval])))")
    assert [q.legend for q in panel.queries] == [
        f"{{{{destination_canonical_service}}}} {{{{destination_canonical_revision}}}} {q}"
        for q in ("p50", "p95", "p99")]


def test_alert_instance_takes_defaults_selectors_and_overrides(spec_set: SpecSet) -> None:
    serving = _dashboard(spec_set, "mlops-serving-health")
    alert = next(a for a in serving.alerts if a.name == "ErrorRateSpike")
    assert (alert.severity, alert.threshold, alert.window, alert.for_) == (
        "critical", 0.02, "5m", "5m")
    # the named selector first, then the body's own matcher; the namespace parameter resolved
    assert alert.signal.numerator.matchers == {
        "reporter": "destination", "destination_workload_namespace": "ml-serving",
        "response_code": "=~5.."}
    assert alert.signal.denominator.matchers == {
        "reporter": "destination", "destination_workload_namespace": "ml-serving"}
    assert alert.panel == "error-rate"  # a field of the use, not of the template


def test_area_template_used_five_times(spec_set: SpecSet) -> None:
    overview = _dashboard(spec_set, "mlops-overview")
    areas = [p for p in overview.panels if p.id.endswith("-alerts")]
    assert len(areas) == 5
    for p in areas:
        (target,) = [link.dashboard for link in p.links]
        assert all(f'dashboard="{target}"' in q.expr for q in p.queries)
        assert p.title.endswith(": alerts firing") and (p.width, p.height) == (8, 5)
    headlines = [p for p in overview.panels if p.type == "stat" and p.width == 8
                 and p.height == 5 and not p.id.endswith("-alerts")]
    assert len(headlines) == 10  # area-stat: one query, one link down, the use's own unit
    assert all(len(p.queries) == 1 and len(p.links) == 1 for p in headlines)


def test_use_fields_replace_body_fields(specs: Path) -> None:
    _edit(specs, "serving-health.yaml", "    id: request-latency\n",
          "    id: request-latency\n    width: 24\n    unit: s\n")
    panel = next(p for p in _dashboard(load_specs(Path("specs")), "mlops-serving-health").panels
                 if p.id == "request-latency")
    assert (panel.width, panel.unit, len(panel.queries)) == (24, "s", 3)


def test_flat_form_renders_the_same(spec_set: SpecSet, specs: Path) -> None:
    """The serving dashboard written flat (as before the library, but for its links) renders
    byte for byte the same output as its template form."""
    from mlops_dash import pipeline

    flat = Path(__file__).parent / "testdata" / "flat" / "serving-health.yaml"
    (specs / "serving-health.yaml").write_text(flat.read_text(encoding="utf-8"))
    assert pipeline.render_tree(load_specs(specs)) == pipeline.render_tree(spec_set)


def test_flat_form_still_valid(specs: Path) -> None:
    (specs / "library.yaml").unlink()
    errors = _errors(specs)
    # only the uses fail: the flat panels and alerts around them load as before
    assert errors and all("unknown panel template" in e or "unknown alert template" in e
                          or "unknown selector" in e for e in errors), errors


# ------------------------------------------------------------------------ errors, placed


def test_error_in_template_body_names_both_places(specs: Path) -> None:
    _edit(specs, "library.yaml", '      comparison: ">"\n', '      comparison: "=>"\n')
    (error,) = _errors(specs)
    m = re.match(r"(specs/library\.yaml:\d+:\d+): alert_templates\.http-5xx-ratio\.body\."
                 r"comparison: .*\(in alert template 'http-5xx-ratio', used at "
                 r"(specs/serving-health\.yaml:\d+:\d+): alerts\[1\]\)$", error)
    assert m, error
    assert "comparison" in _line(specs, m.group(1))
    assert "use: http-5xx-ratio" in _line(specs, m.group(2))


def test_invalid_promql_in_template_is_placed_in_the_template(specs: Path) -> None:
    _edit(specs, "library.yaml",
          "        - expr: histogram_quantile(0.99, sum by (le, ${args.by}) (rate(",
          "        - expr: histogram_quantile(0.99, sum by (le, ${args.by} (rate(")
    errors = _errors(specs)
    assert len(errors) == 1 and "invalid PromQL" in errors[0], errors
    place = errors[0].split(": ", 1)[0]
    assert place.startswith("specs/library.yaml:") and "0.99" in _line(specs, place)
    assert "(in panel template 'latency-quantiles', used at specs/serving-health.yaml:" \
        in errors[0]


def test_value_from_an_argument_is_placed_at_the_argument(specs: Path) -> None:
    _edit(specs, "serving-health.yaml", "with: {counter: istio_requests_total,",
          "with: {counter: istio requests,")
    errors = _errors(specs)
    assert errors and all(e.startswith("specs/serving-health.yaml:") for e in errors), errors
    assert any(".with.counter:" in e and "'istio requests' is not valid" in e
               for e in errors), errors


@pytest.mark.parametrize(("old", "new", "wanted"), [
    ("  - use: latency-quantiles\n", "  - use: latency-quantile\n",
     r"panels\[0\]\.use: unknown panel template 'latency-quantile' \(did you mean "
     r"'latency-quantiles'\?\)"),
    ("      histogram: istio_request_duration_milliseconds\n", "",
     r"panels\[0\]\.with: missing required argument 'histogram' of panel template "
     r"'latency-quantiles' \(defined at specs/library\.yaml:\d+:\d+\)"),
    ("      legend: \"{{destination_canonical_service}} {{destination_canonical_revision}}\"\n",
     "      legend: \"{{destination_canonical_service}} {{destination_canonical_revision}}\"\n"
     "      legnd: x\n",
     r"panels\[0\]\.with\.legnd: unknown argument 'legnd' of panel template "
     r"'latency-quantiles' \(did you mean 'legend'\?\); the template is at "
     r"specs/library\.yaml:\d+:\d+"),
    ("selector: istio-serving, by: [destination_workload_namespace, "
     "destination_canonical_service]}",
     "selector: istio-serving, by: destination_canonical_service}",
     r"alerts\[1\]\.with\.by: argument 'by' of alert template 'http-5xx-ratio' must be a list "
     r"of strings, found the string 'destination_canonical_service' \(defined at "
     r"specs/library\.yaml:\d+:\d+\)"),
    ("matchers: {use: istio-serving}}", "matchers: {use: istio-servin}}",
     r"alerts\[0\]\.signal\.histogram\.matchers\.use: unknown selector 'istio-servin' \(did "
     r"you mean 'istio-serving'\?\)"),
])
def test_use_errors_are_placed_at_the_use(specs: Path, old: str, new: str,
                                          wanted: str) -> None:
    _edit(specs, "serving-health.yaml", old, new)
    errors = _errors(specs)
    assert any(re.fullmatch(r"specs/serving-health\.yaml:\d+:\d+: " + wanted, e)
               for e in errors), errors


def test_undeclared_argument_in_body(specs: Path) -> None:
    _edit(specs, "library.yaml", "      unit: ${args.unit}\n", "      unit: ${args.units}\n")
    errors = _errors(specs)
    assert any(re.fullmatch(
        r"specs/library\.yaml:\d+:\d+: panel_templates\.latency-quantiles\.body\.unit: "
        r"\$\{args\.units\} is not a parameter of this template \(did you mean 'unit'\?\); "
        r"declare it under params", e) for e in errors), errors


def test_names_defined_twice_across_libraries(specs: Path) -> None:
    (specs / "more.yaml").write_text(
        "apiVersion: mlops-dash/v1\nkind: Library\nselectors:\n"
        "  istio-serving: {reporter: source}\n", encoding="utf-8")
    errors = _errors(specs)
    assert any(e.startswith("specs/more.yaml:4:3: selectors.istio-serving: selector "
                            "'istio-serving' is defined twice") for e in errors), errors


def test_argument_types() -> None:
    assert type_problem("integer", 3) is None and type_problem("number", 0.5) is None
    assert type_problem("integer", 2.5) == "must be an integer, found the number 2.5"
    assert type_problem("number", True) == "must be a number, found the boolean true"
    assert type_problem("boolean", "yes") == "must be a boolean, found the string 'yes'"
    assert type_problem("string", 5) == "must be a string, found the number 5"


# ------------------------------------------------------------------------ links to all


_EXTRA = """apiVersion: mlops-dash/v1
kind: Dashboard
uid: mlops-extra
title: Extra
team: ml-platform
links: [{all_dashboards: true}]
panels:
  - {id: accuracy, title: Accuracy, description: Worst accuracy., type: stat, unit: percentunit,
     queries: [{expr: min(mlops_model_accuracy_ratio)}]}
"""


def _rendered_links(spec_set: SpecSet, uid: str) -> list[str]:
    """The titles of a dashboard's rendered links (dashboards and platform links)."""
    d = _dashboard(spec_set, uid)
    return [link["title"] for link in
            link_list(d.links, spec_set.platform_model, spec_set.dashboard_titles, uid)]


def test_a_sixth_dashboard_edits_one_file(specs: Path) -> None:
    (specs / "zz-extra.yaml").write_text(_EXTRA, encoding="utf-8")
    spec_set = load_specs(Path("specs"))
    titles = spec_set.dashboard_titles  # uid → title, in the order of the files
    assert list(titles)[-1] == "mlops-extra"
    for uid in titles:
        others = [t for u, t in titles.items() if u != uid]
        assert _rendered_links(spec_set, uid)[:len(others)] == others, uid
    assert "MLOps Overview" in _rendered_links(spec_set, "mlops-extra")
    # the models keep the link as written (places of errors stay those of the file)
    assert _dashboard(spec_set, "mlops-extra").links[0].all_dashboards


def test_links_listed_on_their_own_are_not_repeated(specs: Path) -> None:
    _edit(specs, "serving-health.yaml", "links: [{all_dashboards: true}]",
          "links: [{dashboard: mlops-overview}, {all_dashboards: true}]")
    linked = _rendered_links(load_specs(Path("specs")), "mlops-serving-health")
    assert linked[0] == "MLOps Overview" and linked.count("MLOps Overview") == 1
    assert len(linked) == 5


def test_explicit_link_after_all_keeps_its_place(specs: Path) -> None:
    _edit(specs, "serving-health.yaml", "links: [{all_dashboards: true}]",
          "links: [{all_dashboards: true}, {dashboard: mlops-cost-optimisation}]")
    errors = _errors(specs)
    assert any(re.fullmatch(r"specs/serving-health\.yaml:\d+:\d+: links\[1\]\.dashboard: "
                            r"no dashboard with uid 'mlops-cost-optimisation'.*", e)
               for e in errors), errors


def test_link_needs_exactly_one_target(specs: Path) -> None:
    _edit(specs, "serving-health.yaml", "links: [{all_dashboards: true}]",
          "links: [{all_dashboards: true, dashboard: mlops-overview}]")
    errors = _errors(specs)
    assert any("links[0]: give exactly one of dashboard, platform_link or all_dashboards: "
               "true" in e for e in errors), errors


# ------------------------------------------------------------------------ schema


def test_schema_knows_the_library_and_uses() -> None:
    schema = json.loads(spec_json_schema())
    defs = schema["$defs"]
    assert "Library" in defs and "Template" in defs
    assert any(s.get("$ref", "").endswith("/Library") for s in schema["anyOf"])
    panels = defs["Dashboard"]["properties"]["panels"]
    # the list may also be a whole ${params.x} reference (anyOf [the list, the reference])
    listed = next(s for s in panels.get("anyOf", [panels]) if s.get("type") == "array")
    assert {"$ref": "#/$defs/Use"} in listed["items"]["anyOf"]
    assert defs["Use"]["required"] == ["use"]
    assert "all_dashboards" in defs["Link"]["properties"]


def test_shipped_specs_validate_against_the_schema() -> None:
    import jsonschema
    import yaml
    from conftest import SPECS

    schema = json.loads(spec_json_schema())
    validator = jsonschema.validators.validator_for(schema)(schema)
    files = sorted(SPECS.glob("*.yaml"))
    assert any(f.name == "library.yaml" for f in files)
    for f in files:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(f.read_text()))]
        assert errors == [], f.name
    bad = {"apiVersion": "mlops-dash/v1", "kind": "Library",
           "panel_templates": {"x": {"params": [{"name": "a", "type": "text"}], "body": {}}}}
    assert list(validator.iter_errors(bad))


def test_lint_finding_in_an_instance_is_placed_in_the_template(specs: Path) -> None:
    from mlops_dash.lint.runner import lint_folder

    _edit(specs, "library.yaml",
          "        - expr: histogram_quantile(0.99, sum by (le, ${args.by}) (rate(${args.histogram}"
          "_bucket{", "        - expr: histogram_quantile(0.99, sum by (le, ${args.by}) (rate("
          "${args.histogram}_buckets{")
    hits = [f for f in lint_folder(Path("specs")) if f.check_id == "promql/unknown-metric"]
    assert len(hits) == 1, [f.text() for f in hits]
    assert hits[0].file == "specs/library.yaml" and "_buckets" in _line(
        specs, f"{hits[0].file}:{hits[0].line}:{hits[0].col}")
    assert "(in panel template 'latency-quantiles', used at specs/serving-health.yaml:" \
        in hits[0].message
