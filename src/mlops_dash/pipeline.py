"""specs/ → models → renderers → a tree of files (in memory). ``build`` writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.render import alert_tests, grafana, rules
from mlops_dash.spec.loader import SpecSet, load_specs


def render_tree(spec_set: SpecSet) -> output.Tree:
    """Every generated file, by path relative to the output folder."""
    tree: output.Tree = {}
    for stage in STAGES:
        part = stage(spec_set)
        clash = sorted(set(part) & set(tree))
        assert not clash, f"two renderers produce {clash}"
        tree.update(part)
    return tree


def dashboards_and_rules(spec_set: SpecSet) -> output.Tree:
    """Grafana dashboards, plain rule files and PrometheusRule manifests."""
    platform = spec_set.platform_model
    dashboards = spec_set.dashboard_models()
    titles = {d.uid: d.title for d in dashboards}
    tree: output.Tree = {}
    for d in dashboards:
        tree[cv.dashboard_json_path(d.uid)] = output.dump_json(
            grafana.render_dashboard(d, platform, titles))
        groups = rules.rule_groups(d, platform)
        if groups:
            tree[cv.rule_file_path(d.uid)] = output.dump_yaml(rules.rule_file(groups))
            tree[cv.prometheus_rule_manifest_path(d.uid)] = output.dump_yaml(
                rules.prometheus_rule(d, groups, platform))
    return tree


def rule_tests(spec_set: SpecSet) -> output.Tree:
    """``promtool test rules`` files: generated cases for every alert, plus the spec's own."""
    catalogue = spec_set.catalogue_model
    tree: output.Tree = {}
    for d in spec_set.dashboard_models():
        data = alert_tests.test_file(d, catalogue)
        if data is not None:
            tree[cv.alert_test_path(d.uid)] = output.dump_yaml(data)
    return tree


# Each stage renders one kind of output from the whole spec set; add new outputs here.
STAGES: list[Callable[[SpecSet], output.Tree]] = [
    dashboards_and_rules,
    rule_tests,
]


def build_tree(specs_dir: Path) -> output.Tree:
    """Load, validate and render a specs folder."""
    return render_tree(load_specs(specs_dir))
