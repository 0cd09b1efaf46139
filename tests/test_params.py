"""Spec parameters (`${namespaces.<name>}`): resolved at load, placed errors, lists as regex
alternations, and the shipped specs scoped by `namespaces` of specs/platform.yaml alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import promql_parser as pp
import pytest
import yaml
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_dash import pipeline, promql
from mlops_dash.errors import SpecErrors
from mlops_dash.spec import params
from mlops_dash.spec.loader import load_specs
from mlops_dash.spec.yamlsource import SourceMap

NAMESPACE_LABELS = ("namespace", "destination_workload_namespace", "exported_namespace")
OLD = {"kubeflow", "ml-training", "ml-serving"}
NEW = {"pipelines": ["team-a-runs", "team-b-runs"], "training": "train-zone",
       "serving": "serve-zone"}
NEW_NAMES = {"team-a-runs", "team-b-runs", "train-zone", "serve-zone"}
PARAMS: dict[str, params.Value] = {"namespaces.pipelines": ["a", "b"],
                                   "namespaces.serving": "s"}


def _resolve(data, path=()):
    out, errors = params.resolve(data, SourceMap("x.yaml", {}), PARAMS)
    assert not errors, errors
    return out


# ------------------------------------------------------------------------------ resolution


def test_single_value_in_a_promql_matcher_keeps_equality():
    assert _resolve({"expr": 'x{namespace="${namespaces.serving}"}'}) == \
        {"expr": 'x{namespace="s"}'}


def test_list_in_a_promql_equality_matcher_becomes_a_regex_matcher():
    got = _resolve({"e": 'x{namespace="${namespaces.pipelines}"} or y{ns!="${namespaces.pipelines}"}'})
    assert got == {"e": 'x{namespace=~"a|b"} or y{ns!~"a|b"}'}


def test_list_inside_a_regex_is_an_alternation():
    got = _resolve({"e": 'x{namespace=~"${namespaces.pipelines}|${namespaces.serving}"}'})
    assert got == {"e": 'x{namespace=~"a|b|s"}'}


def test_list_in_a_spec_matcher_becomes_regex_and_single_stays_equal():
    got = _resolve({"matchers": {"namespace": "${namespaces.pipelines}",
                                 "other": "${namespaces.serving}",
                                 "neg": "!=${namespaces.pipelines}"}})
    assert got == {"matchers": {"namespace": "=~a|b", "other": "s", "neg": "!~a|b"}}


def test_list_in_a_variable_default_gives_its_first_entry():
    got = _resolve({"variables": [{"default": "${namespaces.pipelines}"}]})
    assert got == {"variables": [{"default": "a"}]}


def test_placeholders_and_grafana_variables_are_left_alone():
    text = "${threshold} ${for} $namespace ${model} ${__field.labels.pod} ${__data.fields.x}"
    assert _resolve({"d": text}) == {"d": text}


def test_unknown_names_and_sections_are_errors_naming_the_declared_ones():
    smap = SourceMap("x.yaml", {("a",): (3, 5)})
    _, errors = params.resolve({"a": "${namespaces.servng} ${env.prod}"}, smap, PARAMS)
    messages = [e.format() for e in errors]
    assert messages == [
        "x.yaml:3:5: a: unknown parameter ${namespaces.servng} (did you mean "
        "${namespaces.serving}?); declared parameters: ${namespaces.pipelines}, "
        "${namespaces.serving}",
        "x.yaml:3:5: a: unknown parameter (no section 'env') ${env.prod}; declared parameters: "
        "${namespaces.pipelines}, ${namespaces.serving}",
    ]


def _copying_resolve(node, path=()):
    """The resolution as a copy of every container: each text with a reference resolved
    alone, at its own path (the path decides the matcher and default rules)."""
    if isinstance(node, dict):
        return {k: _copying_resolve(v, (*path, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_copying_resolve(v, (*path, i)) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        alone: object = node
        for part in reversed(path):
            alone = ({part: alone} if isinstance(part, str)
                     else [None] * part + [alone])
        out = _resolve(alone)
        for part in path:
            out = out[part]
        return out
    return node


_TEXT = st.sampled_from(["${namespaces.pipelines}", "ns=${namespaces.serving}", "plain", "$x",
                         "${__rate_interval}", "{{ $labels.x }}"])
_DOC = st.recursive(_TEXT | st.integers() | st.none() | st.booleans(),
                    lambda c: st.lists(c, max_size=3)
                    | st.dictionaries(st.sampled_from(["expr", "matchers", "a", "b"]), c,
                                      max_size=3), max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(["panels", "alerts", "title"]), _DOC, max_size=3))
def test_resolution_copies_only_what_changes_and_leaves_the_parsed_data_as_it_was(data):
    """Only containers holding a reference are copied (the rest is shared with the parsed
    data, which nothing changes afterwards): the result is the full copy's, and the input
    is left as it was."""
    before = json.dumps(data, sort_keys=True)
    out = _resolve(data)
    assert json.dumps(data, sort_keys=True) == before
    assert out == _copying_resolve(data)


def test_a_text_resolved_again_keeps_its_context_and_its_errors_are_placed_each_time():
    """Resolved texts are looked up, per Declared, by text and context: the same reference is
    a regex matcher in one spec matcher and an alternation elsewhere, and an unknown one is
    reported at every place it is written."""
    declared = params.Declared(dict(PARAMS))
    data = {"matchers": {"namespace": "${namespaces.pipelines}"},
            "expr": "${namespaces.pipelines}", "again": "${namespaces.pipelines}",
            "bad": ["${namespaces.nope}", "${namespaces.nope}"]}
    smap = SourceMap("x.yaml", {("bad", 0): (7, 5), ("bad", 1): (8, 5)})
    out, errors = params.resolve(data, smap, declared)
    assert out["matchers"]["namespace"] == "=~a|b"
    assert out["expr"] == out["again"] == "a|b"
    assert [(e.line, e.path) for e in errors] == [(7, "bad[0]"), (8, "bad[1]")]
    again, errors = params.resolve(data, smap, declared)  # everything looked up now
    assert again == out and [(e.line, e.path) for e in errors] == [(7, "bad[0]"), (8, "bad[1]")]


def test_platform_can_declare_more_namespaces_and_lists(specs_copy: Path):
    platform = specs_copy / "platform.yaml"
    text = platform.read_text(encoding="utf-8")
    text = text.replace("  pipelines: kubeflow\n",
                        "  pipelines: [kubeflow, kubeflow-user-alice]\n  system: kube-system\n")
    platform.write_text(text, encoding="utf-8")
    dash = specs_copy / "cost-optimization.yaml"
    dash.write_text(dash.read_text(encoding="utf-8").replace(
        'container_gpu_allocation{namespace="${namespaces.serving}"}',
        'container_gpu_allocation{namespace="${namespaces.system}"}'), encoding="utf-8")
    spec_set = load_specs(specs_copy)
    assert spec_set.platform_model.namespace_list("pipelines") == ["kubeflow",
                                                                   "kubeflow-user-alice"]
    exprs = [q.expr for d in spec_set.dashboard_models() for p in d.panels for q in p.queries]
    assert any('container_gpu_allocation{namespace="kube-system"}' in e for e in exprs)


def test_bad_namespace_value_is_a_placed_error(specs_copy: Path):
    platform = specs_copy / "platform.yaml"
    platform.write_text(platform.read_text(encoding="utf-8").replace(
        "  serving: ml-serving\n", "  serving: ML_Serving\n"), encoding="utf-8")
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    assert "platform.yaml:" in str(exc.value) and "namespaces.serving" in str(exc.value)


# ------------------------------------------------------------------------------ shipped specs


def _expressions(tree: dict[str, str]) -> dict[str, str]:
    """Every PromQL expression of a build, keyed by where it stands: rules, panel targets,
    variable queries, annotations (Grafana variables replaced so they parse)."""
    out: dict[str, str] = {}
    for rel, content in sorted(tree.items()):
        if rel.startswith("prometheus/") and rel.endswith(".rules.yaml"):
            for g in yaml.safe_load(content)["groups"]:
                for i, r in enumerate(g["rules"]):
                    out[f"{rel}:{g['name']}:{i}"] = r["expr"]
        elif rel.startswith("grafana/") and rel.endswith(".json"):
            dash = json.loads(content)
            for p in dash["panels"]:
                for t in p.get("targets", []):
                    if "expr" in t:
                        out[f"{rel}:{p['id']}:{t['refId']}"] = t["expr"]
            for v in dash["templating"]["list"]:
                parts = promql.label_values_parts(str(v.get("query", {}).get("query", "")
                                                      if isinstance(v.get("query"), dict)
                                                      else v.get("query", "")))
                if parts and parts[0]:
                    out[f"{rel}:var:{v['name']}"] = parts[0]
            for a in dash["annotations"]["list"]:
                if a.get("expr"):
                    out[f"{rel}:annotation:{a['name']}"] = a["expr"]
    return {k: promql.substitute_grafana_variables(v) for k, v in out.items()}


def _namespace_matchers(expr: str) -> list[tuple[str, str, str]]:
    found = []
    for vs in promql.vector_selectors(promql.parse(expr)):
        for mt in vs.matchers.matchers:
            if mt.name in NAMESPACE_LABELS:
                op = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~",
                      "MatchOp.NotRe": "!~"}.get(str(mt.op), str(mt.op))
                found.append((mt.name, op, mt.value))
    return found


def _variable_defaults(tree: dict[str, str]) -> dict[str, object]:
    out = {}
    for rel, content in tree.items():
        if rel.startswith("grafana/") and rel.endswith(".json"):
            for v in json.loads(content)["templating"]["list"]:
                if v["name"] == "namespace":
                    out[rel] = v["current"]["value"]
    return out


def test_editing_only_platform_namespaces_changes_every_namespace_scoped_query(
        specs_copy: Path):
    before = pipeline.render_tree(load_specs(SPECS))
    platform = specs_copy / "platform.yaml"
    text = platform.read_text(encoding="utf-8")
    block = "namespaces:\n  pipelines: kubeflow\n  training: ml-training\n  serving: ml-serving\n"
    assert block in text
    platform.write_text(text.replace(block, "namespaces: " + json.dumps(NEW) + "\n"),
                        encoding="utf-8")
    after = pipeline.render_tree(load_specs(specs_copy))
    old_exprs, new_exprs = _expressions(before), _expressions(after)
    assert old_exprs.keys() == new_exprs.keys()
    scoped = [k for k, e in old_exprs.items() if any(v != "var" for _, _, v in
                                                      _namespace_matchers(e))]
    # alerts (serving, HPA, GPU, OOM), panels, variable queries and the cost panel
    assert len(scoped) >= 10, scoped
    for where in scoped:
        assert new_exprs[where] != old_exprs[where], where
    for where, expr in new_exprs.items():
        for label, op, value in _namespace_matchers(expr):
            if value == "var":  # a Grafana variable, e.g. $namespace
                continue
            names = set(re.split(r"\|", value))
            assert names <= NEW_NAMES, (where, label, value)
            assert not names & OLD, (where, label, value)
            if len(names) > 1:
                assert op in ("=~", "!~"), (where, label, op, value)
    # the list of pipeline namespaces is a regex matcher where an alert scopes by it
    rules = "\n".join(c for r, c in after.items() if r.endswith(".rules.yaml"))
    assert 'namespace=~"team-a-runs|team-b-runs|train-zone"' in rules
    assert 'destination_workload_namespace="serve-zone"' in rules
    assert _variable_defaults(after) == {
        "grafana/mlops-pipeline-reliability.json": "team-a-runs",
        "grafana/mlops-serving-health.json": "serve-zone",
        "grafana/mlops-cost-optimization.json": "train-zone",
    }
    assert _variable_defaults(before) == {
        "grafana/mlops-pipeline-reliability.json": "kubeflow",
        "grafana/mlops-serving-health.json": "ml-serving",
        "grafana/mlops-cost-optimization.json": "ml-training",
    }


def test_generated_files_hold_resolved_values_only(tree: dict[str, str]):
    for rel, content in tree.items():
        assert "${namespaces." not in content, rel


def test_every_alert_reading_namespaced_series_is_scoped(spec_set):
    """Alerts on series of namespaced workloads name a namespace matcher (serving: Kubeflow's
    own namespace is Istio-injected, kubeflow/manifests common/kubeflow-namespace/base/
    namespace.yaml, so unscoped Istio series include the Kubeflow UI)."""
    namespaced = {"istio_requests_total", "istio_request_duration_milliseconds_bucket",
                  "kube_horizontalpodautoscaler_status_desired_replicas",
                  "kube_horizontalpodautoscaler_status_current_replicas", "DCGM_FI_DEV_GPU_UTIL",
                  "kube_pod_container_status_terminated_reason", "kube_pod_status_reason"}
    for d in spec_set.dashboard_models():
        for a in d.alerts:
            expr = promql.alert_expr(a)
            for vs in promql.vector_selectors(promql.parse(expr)):
                if promql.selector_name(vs) in namespaced:
                    labels = {mt.name for mt in vs.matchers.matchers}
                    assert labels & set(NAMESPACE_LABELS), (a.name, expr)
