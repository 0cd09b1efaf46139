"""specs/ → models → renderers → a tree of files (in memory). ``build`` writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.errors import BuildError
from mlops_dash.render import grafana, kubernetes, rules
from mlops_dash.spec.loader import SpecSet, load_specs


def render_tree(spec_set: SpecSet) -> output.Tree:
    """Every generated file, by path relative to the output folder."""
    tree: output.Tree = {}
    for stage in STAGES:
        part = stage(spec_set)
        clash = sorted(set(part) & set(tree))
        assert not clash, f"two renderers produce {clash}"
        tree.update(part)
    for finish in FINISHING_STAGES:
        part = finish(spec_set, tree)
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


# Each stage renders one kind of output from the whole spec set; add new outputs here.
STAGES: list[Callable[[SpecSet], output.Tree]] = [
    dashboards_and_rules,
]


def dashboard_manifests(spec_set: SpecSet, tree: output.Tree) -> output.Tree:
    """Each dashboard's JSON (the same bytes as grafana/<uid>.json) as a Kubernetes object."""
    platform = spec_set.platform_model
    wrap, path = (
        (kubernetes.dashboard_configmap, cv.dashboard_configmap_path)
        if platform.grafana_delivery == "configmap"
        else (kubernetes.grafana_dashboard, cv.grafana_dashboard_manifest_path)
    )
    part: output.Tree = {}
    for d in spec_set.dashboard_models():
        manifest = wrap(d.uid, tree[cv.dashboard_json_path(d.uid)], platform)
        size = kubernetes.object_size(manifest)
        if size > cv.KUBERNETES_OBJECT_LIMIT:
            raise BuildError(
                f"dashboard {d.uid!r} ({d.title}) does not fit in one Kubernetes object: its "
                f"{manifest['kind']} would be {size:,} bytes, over the 1 MiB limit "
                f"({cv.KUBERNETES_OBJECT_LIMIT:,} bytes); split it into smaller dashboards"
            )
        part[path(d.uid)] = output.dump_yaml(manifest)
    return part


def kustomization(spec_set: SpecSet, tree: output.Tree) -> output.Tree:
    """kubernetes/kustomization.yaml listing every manifest the other stages put there."""
    prefix = cv.KUBERNETES_DIR + "/"
    resources = [
        rel[len(prefix):] for rel in tree
        if rel.startswith(prefix) and rel.endswith((".yaml", ".yml"))
        and rel != cv.KUSTOMIZATION_PATH
    ]
    if not resources:
        return {}
    return {cv.KUSTOMIZATION_PATH: output.dump_yaml(kubernetes.kustomization(resources))}


# Stages that see the tree the others produced, run in order after them; the kustomization
# comes last so it lists every manifest, whichever stage added it.
FINISHING_STAGES: list[Callable[[SpecSet, output.Tree], output.Tree]] = [
    dashboard_manifests,
    kustomization,
]


def build_tree(specs_dir: Path) -> output.Tree:
    """Load, validate and render a specs folder."""
    return render_tree(load_specs(specs_dir))
