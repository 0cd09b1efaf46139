"""Checks that span files: unique names, references that resolve, metrics in the catalogue."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_dash import promql
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document, SpecSet, suggest


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
        inner = _label_values_metric(var.query)
        if inner:
            yield ("variables", vi, "query"), promql.substitute_grafana_variables(inner)
    for ai, ann in enumerate(d.annotations):
        if ann.expr:
            yield ("annotations", ai, "expr"), promql.substitute_grafana_variables(ann.expr)
    for ri, rule in enumerate(d.recording_rules):
        yield ("recording_rules", ri, "expr"), rule.expr
    for ai, alert in enumerate(d.alerts):
        yield ("alerts", ai, "signal"), promql.alert_expr(alert)
        for fi, fq in enumerate(alert.first_queries):
            yield ("alerts", ai, "first_queries", fi), fq


def _label_values_metric(query: str) -> str | None:
    """The series selector inside ``label_values(selector, label)``, if that is the query."""
    q = query.strip()
    if q.startswith("label_values(") and q.endswith(")"):
        body = q[len("label_values("):-1]
        depth = 0
        for i in range(len(body) - 1, -1, -1):
            c = body[i]
            if c in ")}":
                depth += 1
            elif c in "({":
                depth -= 1
            elif c == "," and depth == 0:
                return body[:i].strip()
        return None
    return None


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


def check_spec_set(spec_set: SpecSet) -> None:
    """Raise SpecErrors with every cross-file problem found."""
    errors: list[SpecError] = []
    metric_names = _MetricNames()
    platform = spec_set.platform_model
    known = catalogue_names(spec_set)
    known_list = sorted(known)

    dash_uids: dict[str, Document] = {}
    alert_names: dict[str, Document] = {}
    records: dict[str, tuple[Document, m.RecordingRule]] = {}
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
                    f"alert name {a.name!r} is also used in {alert_names[a.name].path}"))
            alert_names.setdefault(a.name, doc)
        for ri, r in enumerate(d.recording_rules):
            if r.record in records:
                errors.append(doc.source.error(
                    ("recording_rules", ri, "record"),
                    f"recording rule {r.record!r} is also defined in {records[r.record][0].path}"))
            records.setdefault(r.record, (doc, r))

    link_titles = [link.title for link in platform.links]
    for doc in spec_set.dashboards:
        d = doc.model
        src = doc.source
        panel_ids: dict[str, int] = {}
        for pi, p in enumerate(d.panels):
            if p.id in panel_ids:
                errors.append(src.error(("panels", pi, "id"),
                                        f"panel id {p.id!r} is used twice in this dashboard"))
            panel_ids.setdefault(p.id, pi)
            for ai, name in enumerate(p.alerts):
                if name not in alert_names:
                    errors.append(src.error(
                        ("panels", pi, "alerts", ai),
                        f"no alert named {name!r}{suggest(name, sorted(alert_names))}"))
        var_names = [v.name for v in d.variables]
        if len(set(var_names)) != len(var_names):
            errors.append(src.error(("variables",), "variable names must be unique"))
        for ai, a in enumerate(d.alerts):
            if a.panel not in panel_ids:
                errors.append(src.error(
                    ("alerts", ai, "panel"),
                    f"no panel {a.panel!r} in this dashboard{suggest(a.panel, sorted(panel_ids))}"))
            elif d.panels[panel_ids[a.panel]].type == "alert-history":
                errors.append(src.error(
                    ("alerts", ai, "panel"),
                    "an alert must point at the panel showing its signal, not an alert history"))
            for name in metric_names(promql.alert_expr(a)):
                if name in records and records[name][1].interval != a.interval:
                    errors.append(src.error(
                        ("alerts", ai, "interval"),
                        f"alert reads recording rule {name} evaluated every "
                        f"{records[name][1].interval}; evaluate the alert at the same interval "
                        f"(now {a.interval}) so the recorded series is never stale"))
        if d.alerts and not any(p.type == "alert-history" for p in d.panels):
            errors.append(src.error(
                ("panels",),
                "a dashboard with alerts needs an alert-history panel showing them"))
        for li, link in enumerate(d.links):
            if link.dashboard is not None and link.dashboard not in dash_uids:
                errors.append(src.error(
                    ("links", li, "dashboard"),
                    f"no dashboard with uid {link.dashboard!r}"
                    f"{suggest(link.dashboard, sorted(dash_uids))}"))
            if link.platform_link is not None and link.platform_link not in link_titles:
                errors.append(src.error(
                    ("links", li, "platform_link"),
                    f"no link titled {link.platform_link!r} in the platform spec"
                    f"{suggest(link.platform_link, link_titles)}"))
        for path, expr in queries(doc):
            try:
                names = metric_names(expr)
            except promql.PromQLSyntaxError as exc:
                errors.append(src.error(path, f"invalid PromQL: {exc}"))
                continue
            for name in names:
                if name not in known:
                    errors.append(src.error(
                        path,
                        f"metric {name!r} is not in the metric catalogue"
                        f"{suggest(name, known_list)}"))

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
                                         f"no channel named {ch!r}{suggest(ch, channel_names)}"))
    if platform.routing.digest and platform.routing.digest.channel not in channel_names:
        errors.append(psrc.error(("routing", "digest", "channel"),
                                 f"no channel named {platform.routing.digest.channel!r}"))
    if errors:
        raise SpecErrors(errors)
