"""`mlops-dash lint`: load the specs, render in memory, run every check family, report findings.

A finding points at the spec's own line when the problem is in a spec value, or at the generated
file (path relative to the output folder, prefixed ``generated/``) when it is about output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import yaml

from mlops_dash import conventions as cv
from mlops_dash import output, promql
from mlops_dash.errors import BuildError, SpecError, SpecErrors, format_place
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document, SpecSet
from mlops_dash.spec.yamlsource import Path as FieldPath
from mlops_dash.spec.yamlsource import SourceMap, format_path, load_yaml

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ERROR = "error"
WARNING = "warning"

# check id → (level, what it means). The README table lists exactly these (a test checks it).
CHECKS: dict[str, tuple[str, str]] = {
    "spec/invalid": (ERROR, "the specs do not load (the same message `build` prints)"),
    "params/unused": (WARNING, "a parameter the platform spec declares (`parameters:`) is "
                               "referenced by no spec"),
    "promql/unknown-metric": (ERROR, "a query reads a series that is not in the metric catalogue "
                                     "nor a recording rule"),
    "promql/rate-on-gauge": (ERROR, "`rate`/`irate`/`increase` applied to a gauge"),
    "promql/bucket-without-rate": (ERROR, "a histogram `_bucket` series used without `rate`/"
                                          "`irate`/`increase` around it"),
    "promql/quantile-drops-le": (ERROR, "`histogram_quantile` over an aggregation that drops "
                                        "`le`"),
    "promql/unknown-label": (ERROR, "a matcher, `by`, `without`, `on` or `group_*` label "
                                    "the metric (as the catalogue lists it) does not have"),
    "promql/unit-mismatch": (ERROR, "the unit a query or alert signal has (from the catalogue: "
                                    "ms vs s, bytes, ratio vs percent) disagrees with the panel "
                                    "or alert unit, an alert's unit with its panel's, or a ratio "
                                    "threshold above 1"),
    "promql/threshold-mismatch": (ERROR, "an alert's `comparison`/`threshold` disagrees with the "
                                         "rendered rule expression, the threshold line of its "
                                         "panel, or the words of its summary/description"),
    "dashboard/panel-title": (ERROR, "a panel without a title"),
    "dashboard/panel-description": (ERROR, "a panel without a description"),
    "dashboard/panel-unit": (ERROR, "a panel without a unit, or with one Grafana does not know"),
    "dashboard/fixed-datasource": (ERROR, "a panel, target, variable or annotation uses a fixed "
                                          "datasource uid instead of the datasource variable"),
    "dashboard/rate-interval": (ERROR, "a panel's `rate`/`irate` window is not "
                                       "`$__rate_interval` (or `increase` uses `$__interval`)"),
    "dashboard/unused-variable": (ERROR, "a template variable no query, title or link uses"),
    "dashboard/grid-overlap": (ERROR, "two panels' `gridPos` overlap, or a panel leaves the "
                                      "24-column grid"),
    "dashboard/duplicate-panel-id": (ERROR, "two panels of a dashboard share a numeric id"),
    "alert/name-style": (ERROR, "an alert name that is not CamelCase or longer than 40 "
                                "characters"),
    "alert/severity": (ERROR, "an alert whose `severity` label is not critical, warning or info"),
    "alert/missing-annotation": (ERROR, "an alert without `summary`, `description`, "
                                        "`runbook_url` or `dashboard_url`"),
    "alert/for-shorter-than-interval": (ERROR, "an alert whose `for` is positive but shorter "
                                               "than its group's evaluation interval"),
    "alert/msteams-unsupported": (ERROR, "a Microsoft Teams channel is routed but the "
                                         "`alertmanager_version` (0.25) has no "
                                         "`msteams_configs`"),
    "alert/raw-untested": (WARNING, "a raw-expression alert (`shape: raw`, usually imported) "
                           "without `tests`: it gets no generated promtool cases"),
    "alert/record-name": (ERROR, "a recording rule name not of the form "
                                 "`level:metric:operations`"),
    "alert/template-label": (ERROR, "alert text (summary, description, labels) reads a "
                                    "`$labels.x` the expression's aggregation removes"),
    "routing/group-by-label": (WARNING, "a routing `group_by` label that no alert carries"),
    "alert/inhibit-never-matches": (ERROR, "an Alertmanager inhibit rule no pair of generated "
                                           "alerts can satisfy: no source alert matches its "
                                           "source matchers or carries its `equal` labels, or "
                                           "no target alert does"),
    "tool/promtool": (ERROR, "`promtool check rules` refuses a generated rule file"),
    "tool/amtool": (ERROR, "`amtool check-config` refuses the generated Alertmanager config "
                           "(only when the build renders one)"),
    "schema/grafana-dashboard": (ERROR, "a dashboard or panel violates the Grafana 12 schemas"),
    "schema/prometheus-rules": (ERROR, "a rule file violates the Prometheus rule file schema"),
    "schema/kubernetes-crd": (ERROR, "a manifest violates its strict CRD schema"),
    "schema/alertmanager": (ERROR, "the Alertmanager config violates its schema"),
    "schema/cloudwatch-exporter": (ERROR, "the generated cloudwatch_exporter config has a key, "
                                          "type or value the exporter's config loader rejects "
                                          "or ignores"),
}

OUTPUT_PREFIX = "generated"


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding, at a place."""

    file: str
    line: int | None
    col: int | None
    check_id: str
    level: str
    message: str

    def text(self) -> str:
        return f"{format_place(self.file, self.line, self.col)}: {self.check_id}: {self.message}"

    def github(self) -> str:
        def esc(s: str, prop: bool = False) -> str:
            s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            return s.replace(":", "%3A").replace(",", "%2C") if prop else s

        props = [f"file={esc(self.file, True)}"]
        if self.line is not None:
            props.append(f"line={self.line}")
            if self.col is not None:
                props.append(f"col={self.col}")
        props.append(f"title={esc(self.check_id, True)}")
        kind = "error" if self.level == ERROR else "warning"
        return f"::{kind} {','.join(props)}::{esc(self.message)}"


def json_positions(obj: Any) -> dict[FieldPath, tuple[int, int]]:
    """Line and column of every value in ``output.dump_json(obj)`` (indent 2, sorted keys)."""
    pos: dict[FieldPath, tuple[int, int]] = {}
    line = 1

    def visit(o: Any, path: FieldPath, depth: int) -> None:
        nonlocal line
        pos[path] = (line, 2 * depth + 1)
        if isinstance(o, dict) and o:
            for k in sorted(o):
                line += 1
                visit(o[k], path + (k,), depth + 1)
            line += 1
        elif isinstance(o, list) and o:
            for i, v in enumerate(o):
                line += 1
                visit(v, path + (i,), depth + 1)
            line += 1

    visit(obj, (), 0)
    return pos


@dataclass
class Context:
    """What every check reads: the loaded specs, the rendered tree, the catalogue."""

    spec_set: SpecSet
    tree: output.Tree
    findings: list[Finding] = field(default_factory=list)
    # the spec field path of each finding reported at a spec (build prints it)
    fields: dict[Finding, str] = field(default_factory=dict)
    _maps: dict[str, SourceMap] = field(default_factory=dict)
    _yaml: dict[str, Any] = field(default_factory=dict)
    _asts: dict[str, Any] = field(default_factory=dict)
    # (expression, bucket check) → its label findings and unit (promql_checks.analysis)
    analyses: dict[tuple[str, bool], Any] = field(default_factory=dict)
    # the dashboards the per-dashboard checks look at (None: all of the spec set)
    only: list[Document] | None = None

    @property
    def dashboards(self) -> list[Document]:
        """The dashboard specs to check: ``only``, else every one of the spec set (checks
        that compare dashboards with each other read ``spec_set.dashboards``)."""
        return self.spec_set.dashboards if self.only is None else self.only

    # ------------------------------------------------------------------ parsed once, shared
    def parsed_yaml(self, rel: str) -> Any:
        """A rendered YAML file of the tree, parsed once for all checks ({} when absent)."""
        if rel not in self._yaml:
            text = self.tree.get(rel)
            self._yaml[rel] = (yaml.load(text, Loader=_YAML_LOADER) or {}) if text else {}
        return self._yaml[rel]

    def parsed_promql(self, expr: str) -> Any:
        """The AST of a PromQL expression, parsed once for all checks (None when invalid:
        the loader reports invalid PromQL)."""
        if expr not in self._asts:
            try:
                self._asts[expr] = promql.parse(expr)
            except promql.PromQLSyntaxError:
                self._asts[expr] = None
        return self._asts[expr]

    # ------------------------------------------------------------------ catalogue
    @cached_property
    def metrics(self) -> dict[str, m.MetricDef]:
        """Series name → its catalogue entry (histograms expanded into _bucket/_sum/_count)."""
        return {n: d for n, d in self.spec_set.series_names.items() if d is not None}

    @cached_property
    def records(self) -> set[str]:
        """Recording rules of the specs, SLO records included."""
        return {n for n, d in self.spec_set.series_names.items()
                if d is None and n not in promql.BUILTIN_SERIES}

    # ------------------------------------------------------------------ reporting
    def report(self, finding: Finding) -> None:
        self.findings.append(finding)

    def at_spec(self, doc: Document, path: FieldPath, check_id: str, message: str) -> None:
        # through the source map: in a template's instance, the place is the template's and
        # the message names the use (spec/expand.py)
        placed = doc.source.error(path, message)
        finding = Finding(placed.file, placed.line, placed.column, check_id,
                          CHECKS[check_id][0], placed.message)
        self.fields.setdefault(finding, format_path(path))
        self.report(finding)

    def at_output(self, rel: str, path: FieldPath, check_id: str, message: str) -> None:
        line, col = self._source(rel).locate(path) if rel in self.tree else (None, None)
        self.report(Finding(f"{OUTPUT_PREFIX}/{rel}", line, col, check_id,
                            CHECKS[check_id][0], message))

    def _source(self, rel: str) -> SourceMap:
        if rel not in self._maps:
            text = self.tree[rel]
            if rel.endswith(".json"):
                smap = SourceMap(rel, json_positions(json.loads(text)))
            else:
                try:
                    _, smap = load_yaml(text.encode("utf-8"), rel)
                except Exception:  # a multi-document file or other: no positions
                    smap = SourceMap(rel)
            self._maps[rel] = smap
        return self._maps[rel]

    # ------------------------------------------------------------------ rendered output
    @cached_property
    def _dashboards_json(self) -> dict[str, dict[str, Any]]:
        """Rendered dashboard JSON by output path, parsed once for all checks."""
        return {rel: json.loads(text) for rel, text in self.tree.items()
                if rel.startswith("grafana/") and rel.endswith(".json")}

    def dashboard_json(self, d: m.Dashboard) -> tuple[str, dict[str, Any]] | None:
        rel = cv.dashboard_json_path(d.uid)
        dash = self._dashboards_json.get(rel)
        return None if dash is None else (rel, dash)

    def rendered_dashboards(self) -> Iterator[tuple[Document, m.Dashboard, str, dict[str, Any]]]:
        """Each dashboard spec with its rendered JSON (spec document, model, path, JSON)."""
        for doc in self.spec_set.dashboards:
            rendered = self.dashboard_json(doc.model)
            if rendered is not None:
                yield doc, doc.model, rendered[0], rendered[1]


Check = Callable[[Context], None]


def spec_error_findings(exc: SpecErrors) -> list[Finding]:
    return [Finding(e.file, e.line, e.column, "spec/invalid", ERROR,
                    f"{e.path}: {e.message}" if e.path else e.message) for e in exc.errors]


def all_checks() -> list[Check]:
    from mlops_dash.lint import (
        alert_checks,
        dashboard_checks,
        inhibit_checks,
        label_checks,
        param_checks,
        promql_checks,
        threshold_checks,
        tool_checks,
    )

    return [*promql_checks.CHECKS, *threshold_checks.CHECKS, *dashboard_checks.CHECKS,
            *alert_checks.CHECKS,
            *label_checks.CHECKS, *inhibit_checks.CHECKS, *param_checks.CHECKS,
            *tool_checks.CHECKS]


def dashboard_build_checks() -> list[Check]:
    """What `build`, `check` and `test` run before writing anything, with
    platform_build_checks: the error-level checks of the specs themselves (metric contract,
    units, labels, rate on gauges, alert text labels, Grafana unit ids, `for` against the
    interval), on the spec models and PromQL ASTs only. ``lint`` runs them on the rendered
    output too, and adds the style checks, promtool, amtool and the official schemas. These
    look at one dashboard at a time (``Context.dashboards``): a parallel build runs them where
    it renders those dashboards (parallel.render_range)."""
    from mlops_dash.lint import (
        alert_checks,
        dashboard_checks,
        label_checks,
        promql_checks,
        threshold_checks,
    )

    return [promql_checks.check_queries, threshold_checks.check_spec_alerts,
            dashboard_checks.check_spec_units, alert_checks.check_spec_for,
            label_checks.check_template_labels]


def platform_build_checks() -> list[Check]:
    """The build checks of the platform spec (msteams on an Alertmanager without it)."""
    from mlops_dash.lint import alert_checks

    return [alert_checks.check_msteams]


Placed = tuple[Finding, str]  # an error-level finding and the spec field path it is at


def build_findings(spec_set: SpecSet, tree: output.Tree, checks: Iterable[Check],
                   dashboards: list[Document] | None = None) -> list[Placed]:
    """The error-level findings of ``checks`` (on ``dashboards``, by default all) with their
    field paths; warnings are left to ``lint``."""
    ctx = Context(spec_set, tree, only=dashboards)
    for check in checks:
        check(ctx)
    return [(f, ctx.fields.get(f, "")) for f in ctx.findings if f.level == ERROR]


def refuse_findings(found: Iterable[Placed]) -> None:
    """Raise SpecErrors for the findings (each once), placed as ``file:line:col: field:
    message [check-id]``."""
    errors = [SpecError(f.file, f"{f.message} [{f.check_id}]", line=f.line, column=f.col,
                        path=path) for f, path in dict(found).items()]
    if errors:
        raise SpecErrors(errors)


def lint_spec_set(spec_set: SpecSet, tree: output.Tree | None = None,
                  checks: Iterable[Check] | None = None) -> list[Finding]:
    """Run the checks on loaded specs (and their rendered tree); findings sorted by place."""
    from mlops_dash import pipeline

    ctx = Context(spec_set, pipeline.render_tree(spec_set) if tree is None else tree)
    for check in (all_checks() if checks is None else checks):
        check(ctx)
    return sorted(set(ctx.findings), key=lambda f: (f.file, f.line or 0, f.col or 0,
                                                    f.check_id, f.message))


def lint_folder(specs_dir: Any, checks: Iterable[Check] | None = None,
                env: str | None = None) -> list[Finding]:
    """Load a specs folder leniently (unknown metrics become findings) and lint it: as the
    environment ``env`` renders it, or each environment of the folder (None or ``all``; a
    finding some environments only have says which)."""
    from mlops_dash.spec.loader import read_folder

    try:  # every problem in the chosen format, also those found while rendering
        folder = read_folder(specs_dir)
        if not folder.environments and env in (None, "all"):
            return lint_spec_set(folder.spec_set(None, check_metrics=False), checks=checks)
        names = sorted(folder.environments) if env in (None, "all") else [env]
        chosen = [folder.environment(n) for n in names]
        found: dict[Finding, list[str]] = {}
        for name, picked in zip(names, chosen, strict=True):
            try:
                for f in lint_spec_set(folder.spec_set(picked, check_metrics=False),
                                       checks=checks):
                    found.setdefault(f, []).append(name)
            except SpecErrors as exc:
                for f in spec_error_findings(exc):
                    found.setdefault(f, []).append(name)
        out = [f if len(envs) == len(names) else
               Finding(f.file, f.line, f.col, f.check_id, f.level,
                       f"{f.message} (environment {', '.join(envs)})")
               for f, envs in found.items()]
        return sorted(out, key=lambda f: (f.file, f.line or 0, f.col or 0, f.check_id,
                                          f.message))
    except SpecErrors as exc:
        return spec_error_findings(exc)
    except SpecError as exc:
        return spec_error_findings(SpecErrors([exc]))
    except BuildError as exc:
        return [Finding(str(specs_dir), None, None, "spec/invalid", ERROR, str(exc))]


def format_findings(findings: list[Finding], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([asdict(f) for f in findings], indent=2) + "\n"
    if fmt == "github":
        return "".join(f.github() + "\n" for f in findings)
    return "".join(f.text() + "\n" for f in findings)
