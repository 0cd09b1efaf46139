"""Checks that span files: unique names, references that resolve, metrics in the catalogue."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.errors import SpecError, SpecErrors, format_place
from mlops_dash.render import slo as slo_render
from mlops_dash.render import slo_tests
from mlops_dash.spec import models as m
from mlops_dash.spec.collisions import name_collisions
from mlops_dash.spec.crosscheck_paging import paging_errors, routing_errors
from mlops_dash.spec.crosscheck_panels import panel_kind_errors, warehouse_errors
from mlops_dash.spec.loader import Document, SpecSet, suggest, suggest_ref


def catalogue_names(spec_set: SpecSet) -> dict[str, m.MetricDef | None]:
    """Every queryable series name: catalogue metrics (histograms expanded), records, builtins."""
    names: dict[str, m.MetricDef | None] = {n: None for n in promql.BUILTIN_SERIES}
    for metric in spec_set.catalogue_model.metrics:
        if metric.type == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                names[metric.name + suffix] = metric
        else:
            names[metric.name] = metric
    for doc in spec_set.dashboards:
        for rule in doc.model.recording_rules:
            names[rule.record] = None
        for s in doc.model.slos:
            for record in slo_render.record_names(s):
                names[record] = None
    return names


def queries(doc: Document) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every PromQL expression of a dashboard spec with its field path (Grafana vars replaced)."""
    d: m.Dashboard = doc.model
    for pi, panel in enumerate(d.panels):
        for qi, q in enumerate(panel.queries):
            if q.datasource == "prometheus":
                yield ("panels", pi, "queries", qi, "expr"), promql.substitute_grafana_variables(
                    q.expr
                )
    for vi, var in enumerate(d.variables):
        parts = promql.label_values_parts(var.query)
        if parts and parts[0]:
            yield ("variables", vi, "query"), promql.substitute_grafana_variables(parts[0])
    for ai, ann in enumerate(d.annotations):
        if ann.expr:
            yield ("annotations", ai, "expr"), promql.substitute_grafana_variables(ann.expr)
    for ri, rule in enumerate(d.recording_rules):
        yield ("recording_rules", ri, "expr"), rule.expr
    for ai, alert in enumerate(d.alerts):
        yield ("alerts", ai, "signal"), promql.alert_expr(alert)
        for fi, fq in enumerate(alert.first_queries):
            yield ("alerts", ai, "first_queries", fi), fq
    for si, s in enumerate(d.slos):
        yield ("slos", si, "sli"), slo_render.error_ratio_expr(s, "5m")
        if not isinstance(s.sli, m.EventsSLI):
            yield ("slos", si, "sli"), slo_render.instant_error_expr(s)


class _MetricNames:
    """``promql.metric_names`` parsing each distinct expression once (alert expressions are
    read twice, and dashboards made from one template repeat their queries)."""

    def __init__(self) -> None:
        self._seen: dict[str, list[str] | promql.PromQLSyntaxError] = {}

    def __call__(self, expr: str) -> list[str]:
        found = self._seen.get(expr)
        if found is None:
            try:
                found = promql.metric_names(expr)
            except promql.PromQLSyntaxError as exc:
                found = exc
            self._seen[expr] = found
        if isinstance(found, promql.PromQLSyntaxError):
            raise found
        return found


# The generated promtool test of an alert evaluates every rule of its file at the test's
# evaluation interval across `for` and the window: 1d of `for` at 1m costs promtool ~10 s, so
# the longest is 3 days of 1m evaluations (the shipped specs reach 2 days).
MAX_TEST_EVALUATIONS = 4320


def _test_length_errors(doc: Document) -> list[SpecError]:
    """`for` + `window` bounded in evaluations of the test file's interval."""
    from mlops_dash.render.alert_tests import evaluation_interval

    d: m.Dashboard = doc.model
    if not d.alerts:
        return []
    every = m.duration_seconds(evaluation_interval(d))
    out = []
    for ai, a in enumerate(d.alerts):
        if a.signal.shape == "raw":
            continue  # no generated cases: the user's own cases set their own length
        span = m.duration_seconds(a.for_) + m.duration_seconds(a.window or "0")
        if span / every > MAX_TEST_EVALUATIONS:
            field = "for" if m.duration_seconds(a.for_) >= m.duration_seconds(a.window or "0") \
                else "window"
            longest = _duration_text(MAX_TEST_EVALUATIONS * every)
            out.append(doc.source.error(
                ("alerts", ai, field),
                f"`for` {a.for_} plus `window` {a.window or '0'} is {span / every:,.0f} "
                f"evaluations at {evaluation_interval(d)}, the interval of this dashboard's "
                f"generated promtool test; at most {MAX_TEST_EVALUATIONS} ({longest} together), "
                "so the test runs in seconds (longer holds belong in a ticket or an SLO)"))
        for ti, case in enumerate(a.tests):
            steps = m.duration_seconds(case.eval_time) / m.duration_seconds(case.interval)
            if steps > MAX_TEST_EVALUATIONS:
                out.append(doc.source.error(
                    ("alerts", ai, "tests", ti, "eval_time"),
                    f"eval_time {case.eval_time} is {steps:,.0f} samples at {case.interval}; "
                    f"at most {MAX_TEST_EVALUATIONS}, so the promtool test runs in seconds"))
    return out


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


Place = tuple[Document, tuple[str | int, ...]]


def _where(doc: Document, path: tuple[str | int, ...]) -> str:
    """``file:line:column`` of a value, for messages naming a first definition."""
    line, col = doc.source.locate(path)
    return format_place(doc.path, line, col)


def _names_or_none(metric_names: _MetricNames, expr: str) -> list[str]:
    """The metric names of ``expr``; none when it does not parse (reported with its place by
    the query check)."""
    try:
        return metric_names(expr)
    except promql.PromQLSyntaxError:
        return []


def _written(d: m.Dashboard, path: tuple[str | int, ...]) -> str | None:
    """The text the user wrote at a query's path (None for generated expressions)."""
    if path[-1] not in ("expr", "query") and path[-2:-1] != ("first_queries",):
        return None
    node: object = d
    for part in path:
        node = node[part] if isinstance(part, int) else getattr(node, part)  # type: ignore[index]
    return node if isinstance(node, str) else None


def check_spec_set(spec_set: SpecSet, *, check_metrics: bool = True) -> None:
    """Raise SpecErrors with every cross-file problem found (cross_file_errors)."""
    errors = cross_file_errors(spec_set, check_metrics=check_metrics)
    if errors:
        raise SpecErrors(errors)


def cross_file_errors(spec_set: SpecSet, *, check_metrics: bool = True) -> list[SpecError]:
    """Every cross-file problem: those of the whole set's names, then each dashboard's
    (dashboard_errors), then the platform's."""
    whole, errors = set_names(spec_set, check_metrics)
    for doc in spec_set.dashboards:
        errors += dashboard_errors(whole, doc)
    return errors + platform_errors(spec_set)


def whole_set_errors(spec_set: SpecSet, *, check_metrics: bool = True
                     ) -> tuple[SetNames, list[SpecError]]:
    """The checks of check_spec_set that read the whole set (its names, the platform): their
    problems, and what each dashboard's checks need of the set. Without problems, the
    dashboards can be checked one by one, where they are rendered (pipeline.render_tree)."""
    names, errors = set_names(spec_set, check_metrics)
    return names, errors + platform_errors(spec_set)


@dataclass
class SetNames:
    """What the checks of one dashboard read of the whole set."""

    platform: m.Platform
    known: dict[str, m.MetricDef | None]
    dash_uids: dict[str, Document]
    alert_names: dict[str, Document]
    records: dict[str, tuple[Document, m.RecordingRule]]
    check_metrics: bool
    metric_names: _MetricNames = field(default_factory=_MetricNames)

    @functools.cached_property
    def known_list(self) -> list[str]:
        return sorted(self.known)

    @functools.cached_property
    def link_titles(self) -> list[str]:
        return [link.title for link in self.platform.links]


def set_names(spec_set: SpecSet, check_metrics: bool) -> tuple[SetNames, list[SpecError]]:
    """Names unique across the set (dashboard uids, alerts, SLOs, recording rules)."""
    errors: list[SpecError] = []

    dash_uids: dict[str, Document] = {}
    alert_names: dict[str, Document] = {}
    first_alert: dict[str, Place] = {}  # alert name → its first definition (placed lazily)
    first_record: dict[str, Place] = {}
    records: dict[str, tuple[Document, m.RecordingRule]] = {}
    slo_names: dict[str, Document] = {}
    for doc in spec_set.dashboards:
        d: m.Dashboard = doc.model
        if d.uid in dash_uids:
            errors.append(doc.source.error(
                ("uid",), f"dashboard uid {d.uid!r} is also used by {dash_uids[d.uid].path}"))
        dash_uids.setdefault(d.uid, doc)
        for ai, a in enumerate(d.alerts):
            if a.name in alert_names:
                errors.append(doc.source.error(
                    ("alerts", ai, "name"),
                    f"alert name {a.name!r} is also used in {_where(*first_alert[a.name])}"))
            alert_names.setdefault(a.name, doc)
            first_alert.setdefault(a.name, (doc, ("alerts", ai, "name")))
        for si, s in enumerate(d.slos):
            if s.name in slo_names:
                errors.append(doc.source.error(
                    ("slos", si, "name"), f"SLO name {s.name!r} is also used in "
                                          f"{slo_names[s.name].path}"))
            slo_names.setdefault(s.name, doc)
            for name in slo_render.alert_names(s):
                if not cv.ALERT_NAME_RE.match(name):
                    errors.append(doc.source.error(
                        ("slos", si, "name"),
                        f"generated alert name {name!r} is not CamelCase of at most 40 "
                        "characters; set `alert` to a shorter stem"))
                if name in alert_names:
                    errors.append(doc.source.error(
                        ("slos", si, "name"),
                        f"alert name {name!r} is also used in {_where(*first_alert[name])}"))
                alert_names.setdefault(name, doc)
                first_alert.setdefault(name, (doc, ("slos", si, "name")))
        for ri, r in enumerate(d.recording_rules):
            if r.record.startswith("slo:"):
                errors.append(doc.source.error(
                    ("recording_rules", ri, "record"),
                    "recording rules named slo:… are generated from `slos`; choose another level"))
            if r.record in records:
                errors.append(doc.source.error(
                    ("recording_rules", ri, "record"),
                    f"recording rule {r.record!r} is also defined in "
                    f"{_where(*first_record[r.record])}"))
            records.setdefault(r.record, (doc, r))
            first_record.setdefault(r.record, (doc, ("recording_rules", ri, "record")))
    return SetNames(spec_set.platform_model, spec_set.series_names, dash_uids, alert_names,
                    records, check_metrics), errors


def dashboard_errors(whole: SetNames, doc: Document) -> list[SpecError]:
    """The cross-file problems of one dashboard: its references (panels, alerts, links,
    recording rules) and its queries' metrics."""
    errors: list[SpecError] = []
    platform, known, metric_names = whole.platform, whole.known, whole.metric_names
    dash_uids, alert_names, records = whole.dash_uids, whole.alert_names, whole.records
    check_metrics = whole.check_metrics
    d: m.Dashboard = doc.model
    src = doc.source
    panel_ids: dict[str, int] = {}
    for pi, p in enumerate(d.panels):
        if p.id in panel_ids:
            first = _where(doc, ("panels", panel_ids[p.id], "id"))
            errors.append(src.error(("panels", pi, "id"),
                                    f"panel id {p.id!r} is used twice in this dashboard "
                                    f"(first at {first})"))
        panel_ids.setdefault(p.id, pi)
        for ai, name in enumerate(p.alerts):
            if name not in alert_names:
                errors.append(src.error(
                    ("panels", pi, "alerts", ai),
                    f"no alert named {name!r}{suggest_ref(name, sorted(alert_names))}"))
    var_names = [v.name for v in d.variables]
    if len(set(var_names)) != len(var_names):
        errors.append(src.error(("variables",), "variable names must be unique"))
    for ai, a in enumerate(d.alerts):
        if a.panel not in panel_ids:
            errors.append(src.error(
                ("alerts", ai, "panel"),
                f"no panel {a.panel!r} in this dashboard"
                f"{suggest_ref(a.panel, sorted(panel_ids))}"))
        elif d.panels[panel_ids[a.panel]].type == "alert-history":
            errors.append(src.error(
                ("alerts", ai, "panel"),
                "an alert must point at the panel showing its signal, not an alert history"))
        for name in _names_or_none(metric_names, promql.alert_expr(a)):
            if name in records and records[name][1].interval != a.interval:
                errors.append(src.error(
                    ("alerts", ai, "interval"),
                    f"alert reads recording rule {name} evaluated every "
                    f"{records[name][1].interval}; evaluate the alert at the same interval "
                    f"(now {a.interval}) so the recorded series is never stale"))
    errors += _test_length_errors(doc)
    for si, s in enumerate(d.slos):
        if s.panel is not None and s.panel not in panel_ids:
            errors.append(src.error(
                ("slos", si, "panel"),
                f"no panel {s.panel!r} in this dashboard"
                f"{suggest_ref(s.panel, sorted(panel_ids))}"))
        want = "counter" if isinstance(s.sli, m.EventsSLI) else "gauge"
        for sel in slo_render.sli_selectors(s):
            metric = known.get(sel.metric)
            if metric is not None and metric.type != want:
                errors.append(src.error(
                    ("slos", si, "sli"),
                    f"{sel.metric} is a {metric.type}; a {s.sli.type} SLI reads {want}s"))
        try:
            for tier in (s.tiers if s.panel is None or s.panel in panel_ids else []):
                slo_tests.promtool_tests(d, s, tier, platform)
        except ValueError as exc:
            errors.append(src.error(("slos", si, "sli"), str(exc)))
    if (d.alerts or d.slos) and not any(p.type == "alert-history" for p in d.panels):
        errors.append(src.error(
            ("panels",),
            "a dashboard with alerts needs an alert-history panel showing them"))
    elif d.alerts:
        shown = {n for p in d.panels if p.type == "alert-history" for n in p.alerts}
        for ai, a in enumerate(d.alerts):
            if a.name not in shown:
                errors.append(src.error(
                    ("alerts", ai, "name"),
                    f"alert {a.name} is in no alert-history panel of this dashboard; "
                    "add it to one so the dashboard shows its history"))
    all_links = [(("links", li), link) for li, link in enumerate(d.links)] + [
        (("panels", pi, "links", li), link)
        for pi, p in enumerate(d.panels) for li, link in enumerate(p.links)]
    panel_ids = [p.id for p in d.panels]
    for ni, ann in enumerate(d.annotations):
        for pi, pid in enumerate(ann.panels):
            if pid not in panel_ids:
                errors.append(src.error(("annotations", ni, "panels", pi),
                                        f"no panel {pid!r}{suggest(pid, panel_ids)}"))
    for where, link in all_links:
        if link.dashboard is not None and link.dashboard not in dash_uids:
            errors.append(src.error(
                (*where, "dashboard"),
                f"no dashboard with uid {link.dashboard!r}"
                f"{suggest_ref(link.dashboard, sorted(dash_uids))}"))
        if link.platform_link is not None and link.platform_link not in whole.link_titles:
            errors.append(src.error(
                (*where, "platform_link"),
                f"no link titled {link.platform_link!r} in the platform spec"
                f"{suggest_ref(link.platform_link, whole.link_titles)}"))
    for path, expr in queries(doc):
        try:
            names = metric_names(expr)
        except promql.PromQLSyntaxError as exc:
            written = _written(d, path)
            offset = promql.error_offset(written, str(exc)) if written else None
            errors.append(src.error_in_value(path, f"invalid PromQL: {exc}", written or "",
                                             offset))
            continue
        for name in names if check_metrics else ():
            if name not in known:
                errors.append(src.error(
                    path,
                    f"metric {name!r} is not in the metric catalogue"
                    f"{suggest(name, whole.known_list)}"))
    return errors


def platform_errors(spec_set: SpecSet) -> list[SpecError]:
    """The platform's cross-file problems: routes, channels, paging, panel kinds, names."""
    errors: list[SpecError] = []
    platform = spec_set.platform_model
    channel_names = [c.name for c in platform.channels]
    psrc = spec_set.platform.source
    seen_sev: set[str] = set()
    for ri, route in enumerate(platform.routing.routes):
        if route.severity in seen_sev:
            errors.append(psrc.error(("routing", "routes", ri, "severity"),
                                     f"severity {route.severity!r} is routed twice"))
        seen_sev.add(route.severity)
        for ci, ch in enumerate(route.channels):
            if ch not in channel_names:
                errors.append(psrc.error(("routing", "routes", ri, "channels", ci),
                                         f"no channel named {ch!r}"
                                         f"{suggest_ref(ch, channel_names)}"))
    errors += paging_errors(spec_set, channel_names)
    errors += panel_kind_errors(spec_set)
    if platform.routing.digest and platform.routing.digest.channel not in channel_names:
        errors.append(psrc.error(("routing", "digest", "channel"),
                                 f"no channel named {platform.routing.digest.channel!r}"))
    errors += routing_errors(spec_set)
    errors += name_collisions(spec_set)
    errors += warehouse_errors(spec_set)
    return errors
