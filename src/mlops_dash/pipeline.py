"""specs/ → models → renderers → a tree of files (in memory). ``build`` writes it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mlops_dash import conventions as cv
from mlops_dash import outdir, output, parallel, whole_set
from mlops_dash.errors import BuildError, SpecError, SpecErrors
from mlops_dash.render import (
    alert_tests,
    grafana,
    grafana_panels,
    kubernetes,
    rules,
    runbooks,
    slo,
)
from mlops_dash.render import slo_tests as slo_test_files
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document, SpecSet, load_specs, read_folder
from mlops_dash.spec.parsing import Started

T = TypeVar("T")


def render_tree(spec_set: SpecSet, *, jobs: int = 1, lint: bool = False,
                stage: outdir.Stage | None = None, unchecked: bool = False) -> output.Tree:
    """Every generated file, by path relative to the output folder.

    Per-dashboard files come from DASHBOARD_STAGES, run for each dashboard (in ``jobs``
    processes when there are many dashboards; the result does not depend on ``jobs``); files
    that depend on the whole spec set come from STAGES (in this process, while the workers
    render), then FINISHING_STAGES. With ``lint``,
    what can never work is refused once everything rendered: the offline error-level lint
    checks (lint/runner.dashboard_build_checks, run where the dashboards render, and
    platform_build_checks). With ``stage`` (a build writing its output), the per-dashboard
    files are written into it where they render (parallel.render_dashboards) and the tree
    returned holds the others. ``unchecked``: ``spec_set`` comes without its cross-file checks
    (FolderSpecs.spec_set, ``cross_check=False``): those of the whole set run here, first,
    and each dashboard's where it renders (in the workers, which so reuse what the checks
    computed); their problems are the build's, reported as check_spec_set reports them.
    """
    names = None
    if unchecked:
        from mlops_dash.spec import crosscheck

        names, problems = crosscheck.whole_set_errors(spec_set)
        if problems:  # every problem, in check_spec_set's order (the dashboards' included)
            raise SpecErrors(crosscheck.cross_file_errors(spec_set))
    tree, findings = parallel.render_dashboards(
        spec_set, jobs, lint=lint, stage=stage,
        meanwhile=functools.partial(whole_set_files, spec_set), checks=names)
    tree = select_outputs(tree, spec_set.platform_model.outputs)
    paths = [*tree, *(stage.staged if stage is not None else ())]
    for finish in FINISHING_STAGES:
        output.merge_tree(tree, finish(spec_set, paths))
    if lint:
        from mlops_dash.lint import runner

        findings += runner.build_findings(spec_set, tree, runner.platform_build_checks())
        runner.refuse_findings(findings)
    return tree


def whole_set_files(spec_set: SpecSet) -> output.Tree:
    """The files of STAGES: those that depend on the whole spec set (made while the workers
    render the dashboards)."""
    tree: output.Tree = {}
    for render in STAGES:
        output.merge_tree(tree, render(spec_set))
    return tree


def select_outputs(tree: output.Tree, outputs: m.Outputs) -> output.Tree:
    """The files of the outputs ``outputs`` selects (all by default: the tree itself)."""
    off = {name for name, on in outputs if not on}
    if not off:
        return tree
    return {rel: text for rel, text in tree.items() if cv.output_kind(rel) not in off}


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
    dashboard, agreed = grafana.render_dashboard_agreed(d, platform, spec_set.dashboard_titles)
    if any(p.raw is not None for p in d.panels):
        problems = grafana_panels.raw_problems(d, dashboard)
        if problems:
            raise SpecErrors(doc.source.error(path, message)
                             for path, message in problems)
    tree: output.Tree = {cv.dashboard_json_path(d.uid): output.dump_json(dashboard,
                                                                         agreed=agreed)}
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


def slo_tests(spec_set: SpecSet, doc: Document, _files: output.Tree) -> output.Tree:
    """Generated promtool burn-rate tests, one file per SLO and tier."""
    platform = spec_set.platform_model
    d: m.Dashboard = doc.model
    return {cv.slo_test_path(s.name, tier): output.dump_yaml(
        slo_test_files.promtool_tests(d, s, tier, platform)) for s in d.slos for tier in s.tiers}


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
    text = output.dump_yaml(manifest)
    if platform.grafana_delivery == "configmap":
        header, body = text.split("\n", 1)
        text = f"{header}\n{sidecar_note(platform)}{body}"
    return {path(d.uid): text}


def sidecar_note(platform: m.Platform) -> str:
    """What the Grafana Helm chart must set for the sidecar to honour the folder annotation."""
    return (
        "# Grafana Helm chart: its dashboard sidecar reads the folder annotation below only with\n"
        f"#   sidecar.dashboards.folderAnnotation: {platform.grafana_sidecar.folder_annotation}\n"
        "#   sidecar.dashboards.provider.foldersFromFilesStructure: true\n"
        "# (the chart's defaults set neither: every dashboard lands in General). README:\n"
        "# Kubernetes bundle.\n")


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
    whole_set.alert_routing,
    whole_set.exporter_bundle,
    whole_set.exporter_configs,
    whole_set.digest_job,
    whole_set.collector_jobs,
]


def kustomization(spec_set: SpecSet, paths: list[str]) -> output.Tree:
    """kubernetes/kustomization.yaml listing every manifest the other stages put there."""
    prefix = cv.KUBERNETES_DIR + "/"
    resources = [
        rel[len(prefix):] for rel in paths
        if rel.startswith(prefix) and rel.endswith((".yaml", ".yml"))
        and rel != cv.KUSTOMIZATION_PATH
    ]
    if not resources:
        return {}
    return {cv.KUSTOMIZATION_PATH: output.dump_yaml(kubernetes.kustomization(resources))}


# Stages that see the paths of every file the others produced, run in order after them; the
# kustomization comes last so it lists every manifest, whichever stage added it.
FINISHING_STAGES: list[Callable[[SpecSet, list[str]], output.Tree]] = [
    kustomization,
]


def build_tree(specs_dir: Path, *, jobs: int = 1, env: str | None = None,
               lint: bool = True) -> output.Tree:
    """Load, validate and render a specs folder (``jobs``: see render_tree) as ``env``
    renders it (None: the platform spec as written); ``lint``: see render_tree."""
    spec_set = load_specs(specs_dir, jobs=jobs, env=env)
    return render_tree(spec_set, jobs=jobs, lint=lint)


ALL = "all"


def build_trees(specs_dir: Path, *, env: str | None = None, jobs: int = 1, lint: bool = True,
                started: Started | None = None) -> list[tuple[str | None, output.Tree]]:
    """The trees to write: ``[(None, tree)]`` for a folder without Environment files, else
    one per environment (``env``: one name; None or ``all``: every one), by name. Problems of
    every environment are reported together. ``started``: the folder's parse, begun before
    this module was imported (spec/parsing.start)."""
    from mlops_dash.gctuning import fewer_collections

    def render(_name: str | None, spec_set: SpecSet) -> output.Tree:
        return render_tree(spec_set, jobs=jobs, lint=lint, unchecked=True)

    with fewer_collections():
        return _build_trees(specs_dir, env, jobs, render, started)


def build_into(specs_dir: Path, out_dir: Path, *, env: str | None = None, jobs: int = 1,
               lint: bool = True, started: Started | None = None
               ) -> list[tuple[str | None, Path, outdir.WriteReport]]:
    """build_trees written: each tree into ``out_dir`` (with environments: ``out_dir/<name>``),
    by name and folder. Each folder's new version is begun before its render, whose workers
    write their files into it; the folders are replaced only once every environment rendered,
    so a refused build leaves them all as they were."""
    import contextlib

    from mlops_dash.gctuning import fewer_collections

    with fewer_collections(), contextlib.ExitStack() as begun:
        def render(name: str | None, spec_set: SpecSet
                   ) -> tuple[Path, outdir.Stage, output.Tree]:
            folder = out_dir if name is None else out_dir / name
            stage = begun.enter_context(outdir.staging(folder))
            return folder, stage, render_tree(spec_set, jobs=jobs, lint=lint, stage=stage,
                                              unchecked=True)

        built = _build_trees(specs_dir, env, jobs, render, started)
        return [(name, folder, stage.finish(tree)) for name, (folder, stage, tree) in built]


def _build_trees(specs_dir: Path, env: str | None, jobs: int,
                 render: Callable[[str | None, SpecSet], T], started: Started | None
                 ) -> list[tuple[str | None, T]]:
    from mlops_dash import exiting

    folder = read_folder(specs_dir, jobs=jobs, started=started)
    exiting.keep(folder)  # freed at the process's end, if it ends at once (exiting.py)
    if not folder.environments:
        if env is not None and env != ALL:
            folder.environment(env)  # raises: there is none
        spec_set = folder.spec_set(None, cross_check=False)
        exiting.keep(spec_set)
        return [(None, render(None, spec_set))]
    names = sorted(folder.environments) if env in (None, ALL) else [env]
    chosen = [folder.environment(n) for n in names]
    trees: list[tuple[str | None, T]] = []
    found: dict[str, tuple[SpecError, list[str]]] = {}
    for name, picked in zip(names, chosen, strict=True):
        try:
            spec_set = folder.spec_set(picked, cross_check=False)
            exiting.keep(spec_set)
            trees.append((name, render(name, spec_set)))
        except SpecErrors as exc:
            for e in exc.errors:
                found.setdefault(e.format(), (e, []))[1].append(name)
    if found:
        raise SpecErrors(_per_environment(list(found.values()), len(names)))
    return trees


def _per_environment(found: list[tuple[SpecError, list[str]]], count: int) -> list[SpecError]:
    """The same mistake (in a file every environment reads) reported once; one only some
    environments make says which."""
    return [e if len(envs) == count else
            SpecError(e.file, f"{e.message} (environment {', '.join(envs)})", line=e.line,
                      column=e.column, path=e.path) for e, envs in found]
