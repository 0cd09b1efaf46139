"""specs/ → models → renderers → a tree of files (in memory). ``build`` writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.errors import BuildError
from mlops_dash.render import alertmanager, grafana, kubernetes, pagerduty, rules
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


def notification_templates() -> str:
    """The notification template file shipped with mlops-dash (templates/notifications.tmpl)."""
    from importlib import resources

    ref = resources.files("mlops_dash").joinpath("templates", cv.ALERTMANAGER_TEMPLATE_FILE)
    return ref.read_text(encoding="utf-8")


MATCHER_NOTE = """\
# The operator adds namespace="<this namespace>" to the top route of an AlertmanagerConfig,
# which would drop our alerts: their namespace label varies or is absent. Apply this in the
# Alertmanager's own namespace and set on the Alertmanager resource (operator >= v0.84)
#   spec.alertmanagerConfigMatcherStrategy.type: OnNamespaceExceptForAlertmanagerNamespace
# The top route selects mlops-dash alerts by their dashboard label instead. See README.
"""


def alert_routing(spec_set: SpecSet) -> output.Tree:
    """Alertmanager config with its templates, AlertmanagerConfig manifest, PagerDuty policy."""
    platform = spec_set.platform_model
    uids = [d.uid for d in spec_set.dashboard_models() if d.alerts]
    templates = notification_templates()
    tree: output.Tree = {
        cv.ALERTMANAGER_CONFIG_PATH: output.dump_yaml(alertmanager.alertmanager_config(platform)),
        cv.ALERTMANAGER_TEMPLATE_PATH: templates,
    }
    if uids:
        header, body = output.dump_yaml(alertmanager.alertmanager_config_manifest(
            platform, uids, templates)).split("\n", 1)
        tree[cv.alertmanager_config_manifest_path(platform.name)] = (
            f"{header}\n{MATCHER_NOTE}{body}")
    policy = pagerduty.escalation_terraform(platform)
    if policy is not None:
        tree[cv.PAGERDUTY_TERRAFORM_PATH] = output.dump_json(policy)
    return tree


# Each stage renders one kind of output from the whole spec set; add new outputs here.
STAGES: list[Callable[[SpecSet], output.Tree]] = [
    dashboards_and_rules,
    alert_routing,
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
