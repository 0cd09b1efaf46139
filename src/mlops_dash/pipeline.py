"""specs/ → models → renderers → a tree of files (in memory). ``build`` writes it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from mlops_dash import conventions as cv
from mlops_dash import output, parallel
from mlops_dash.errors import BuildError
from mlops_dash.render import (
    alert_tests,
    alertmanager,
    grafana,
    kubernetes,
    pagerduty,
    rules,
    runbooks,
    slo,
)
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document, SpecSet, load_specs


def render_tree(spec_set: SpecSet, *, jobs: int = 1) -> output.Tree:
    """Every generated file, by path relative to the output folder.

    Per-dashboard files come from DASHBOARD_STAGES, run for each dashboard (in ``jobs``
    processes when there are many dashboards; the result does not depend on ``jobs``); files
    that depend on the whole spec set come from STAGES, then FINISHING_STAGES.
    """
    tree = parallel.render_dashboards(spec_set, jobs)
    for stage in STAGES:
        output.merge_tree(tree, stage(spec_set))
    for finish in FINISHING_STAGES:
        output.merge_tree(tree, finish(spec_set, tree))
    return tree


def render_dashboard_files(spec_set: SpecSet, doc: Document) -> output.Tree:
    """The files of one dashboard: each DASHBOARD_STAGE sees what the earlier ones made."""
    files: output.Tree = {}
    for stage in DASHBOARD_STAGES:
        output.merge_tree(files, stage(spec_set, doc, files))
    return files


def dashboard_and_rules(spec_set: SpecSet, doc: Document, _files: output.Tree) -> output.Tree:
    """A Grafana dashboard, its plain rule file and PrometheusRule manifest."""
    platform = spec_set.platform_model
    d: m.Dashboard = doc.model
    tree: output.Tree = {cv.dashboard_json_path(d.uid): output.dump_json(
        grafana.render_dashboard(d, platform, spec_set.dashboard_titles))}
    groups = rules.rule_groups(d, platform)
    if groups:
        body = output.dump_yaml(rules.rule_file(groups), header=False)
        tree[cv.rule_file_path(d.uid)] = output.yaml_header() + body
        # the manifest's spec is the rule file's body, indented: not dumped twice
        tree[cv.prometheus_rule_manifest_path(d.uid)] = output.dump_yaml_nesting(
            rules.prometheus_rule(d, groups, platform), body)
    return tree


def rule_tests(spec_set: SpecSet, doc: Document, _files: output.Tree) -> output.Tree:
    """``promtool test rules`` file: generated cases for every alert, plus the spec's own."""
    d: m.Dashboard = doc.model
    try:
        data = alert_tests.test_file(d, spec_set.catalogue_model)
    except alert_tests.AlertTestError as exc:
        index = getattr(exc, "alert_index", 0)
        raise doc.source.error(
            ("alerts", index, "signal"),
            f"cannot derive promtool cases for {d.alerts[index].name}: {exc}") from None
    return {} if data is None else {cv.alert_test_path(d.uid): output.dump_yaml(data)}


@functools.cache
def runbook_template() -> str:
    """The runbook template shipped with mlops-dash (templates/runbook.md.j2)."""
    from importlib import resources

    ref = resources.files("mlops_dash").joinpath("templates", cv.RUNBOOK_TEMPLATE_FILE)
    return ref.read_text(encoding="utf-8")


def alert_runbooks(spec_set: SpecSet, doc: Document, _files: output.Tree) -> output.Tree:
    """One Markdown runbook per alert, where each alert's runbook_url points: every spec
    alert, and every SLO burn-rate alert (one per SLO tier)."""
    platform = spec_set.platform_model
    template = runbook_template()
    d: m.Dashboard = doc.model
    tree: output.Tree = {}
    for a in d.alerts:
        tree[cv.runbook_path(a.name)] = runbooks.runbook(template, d, a, platform)
    for s in d.slos:
        for tier in s.tiers:
            name = cv.slo_alert_name(slo.alert_stem(s), tier)
            tree[cv.runbook_path(name)] = runbooks.slo_runbook(template, d, s, tier, platform)
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
    dashboards = spec_set.dashboard_models()
    uids = [d.uid for d in dashboards if d.alerts or d.slos]
    slo_inhibit = slo.inhibit_rules(dashboards)
    templates = notification_templates()
    tree: output.Tree = {
        cv.ALERTMANAGER_CONFIG_PATH: output.dump_yaml(
            alertmanager.alertmanager_config(platform, slo_inhibit)),
        cv.ALERTMANAGER_TEMPLATE_PATH: templates,
    }
    if uids:
        header, body = output.dump_yaml(alertmanager.alertmanager_config_manifest(
            platform, uids, templates, slo_inhibit)).split("\n", 1)
        tree[cv.alertmanager_config_manifest_path(platform.name)] = (
            f"{header}\n{MATCHER_NOTE}{body}")
    policy = pagerduty.escalation_terraform(platform)
    if policy is not None:
        tree[cv.PAGERDUTY_TERRAFORM_PATH] = output.dump_terraform_json(policy)
    return tree


def slo_tests(spec_set: SpecSet, doc: Document, _files: output.Tree) -> output.Tree:
    """Generated promtool burn-rate tests, one file per SLO and tier."""
    platform = spec_set.platform_model
    d: m.Dashboard = doc.model
    return {cv.slo_test_path(s.name, tier): output.dump_yaml(
        slo.promtool_tests(d, s, tier, platform)) for s in d.slos for tier in s.tiers}


def dashboard_manifest(spec_set: SpecSet, doc: Document, files: output.Tree) -> output.Tree:
    """The dashboard's JSON (the same bytes as grafana/<uid>.json) as a Kubernetes object."""
    platform = spec_set.platform_model
    d: m.Dashboard = doc.model
    wrap, path = (
        (kubernetes.dashboard_configmap, cv.dashboard_configmap_path)
        if platform.grafana_delivery == "configmap"
        else (kubernetes.grafana_dashboard, cv.grafana_dashboard_manifest_path)
    )
    manifest = wrap(d.uid, files[cv.dashboard_json_path(d.uid)], platform)
    size = kubernetes.object_size(manifest)
    if size > cv.KUBERNETES_OBJECT_LIMIT:
        raise BuildError(
            f"dashboard {d.uid!r} ({d.title}) does not fit in one Kubernetes object: its "
            f"{manifest['kind']} would be {size:,} bytes, over the 1 MiB limit "
            f"({cv.KUBERNETES_OBJECT_LIMIT:,} bytes); split it into smaller dashboards"
        )
    return {path(d.uid): output.dump_yaml(manifest)}


# Each dashboard stage renders the files of one dashboard and may read what the stages before
# it made for that dashboard (the manifest wraps the dashboard JSON). Add per-dashboard
# outputs here: on large spec sets they are rendered in parallel.
DASHBOARD_STAGES: list[Callable[[SpecSet, Document, output.Tree], output.Tree]] = [
    dashboard_and_rules,
    rule_tests,
    alert_runbooks,
    slo_tests,
    dashboard_manifest,
]

# Each stage renders one kind of output from the whole spec set; add new outputs here.
STAGES: list[Callable[[SpecSet], output.Tree]] = [
    alert_routing,
]


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
    kustomization,
]


def build_tree(specs_dir: Path, *, jobs: int = 1) -> output.Tree:
    """Load, validate and render a specs folder (``jobs``: see render_tree)."""
    return render_tree(load_specs(specs_dir, jobs=jobs), jobs=jobs)
