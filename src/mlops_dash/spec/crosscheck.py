"""Checks that span files: unique names, references that resolve, metrics in the catalogue."""

from __future__ import annotations

from collections.abc import Iterator

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.errors import SpecError, SpecErrors
from mlops_dash.spec import models as m
from mlops_dash.render import slo as slo_render
from mlops_dash.spec.collisions import name_collisions
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


def check_spec_set(spec_set: SpecSet, *, check_metrics: bool = True) -> None:
    """Raise SpecErrors with every cross-file problem found."""
    errors: list[SpecError] = []
    metric_names = _MetricNames()
    platform = spec_set.platform_model
    known = catalogue_names(spec_set)
    known_list = sorted(known)

    dash_uids: dict[str, Document] = {}
    alert_names: dict[str, Document] = {}
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
                    f"alert name {a.name!r} is also used in {alert_names[a.name].path}"))
            alert_names.setdefault(a.name, doc)
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
                        f"alert name {name!r} is also used in {alert_names[name].path}"))
                alert_names.setdefault(name, doc)
        for ri, r in enumerate(d.recording_rules):
            if r.record.startswith("slo:"):
                errors.append(doc.source.error(
                    ("recording_rules", ri, "record"),
                    "recording rules named slo:… are generated from `slos`; choose another level"))
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
        for si, s in enumerate(d.slos):
            if s.panel is not None and s.panel not in panel_ids:
                errors.append(src.error(
                    ("slos", si, "panel"),
                    f"no panel {s.panel!r} in this dashboard{suggest(s.panel, sorted(panel_ids))}"))
            want = "counter" if isinstance(s.sli, m.EventsSLI) else "gauge"
            for sel in slo_render.sli_selectors(s):
                metric = known.get(sel.metric)
                if metric is not None and metric.type != want:
                    errors.append(src.error(
                        ("slos", si, "sli"),
                        f"{sel.metric} is a {metric.type}; a {s.sli.type} SLI reads {want}s"))
            try:
                for tier in (s.tiers if s.panel is None or s.panel in panel_ids else []):
                    slo_render.promtool_tests(d, s, tier, platform)
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
            for name in names if check_metrics else ():
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
    errors += _routing_errors(spec_set)
    errors += name_collisions(spec_set)
    if errors:
        raise SpecErrors(errors)


def _routing_errors(spec_set: SpecSet) -> list[SpecError]:
    """Fallback routed, escalation consistent with what pages, digest label unused."""
    platform = spec_set.platform_model
    psrc = spec_set.platform.source
    errors: list[SpecError] = []
    routing = platform.routing
    routed = [r.severity for r in routing.routes]
    if routing.fallback_severity not in routed:
        errors.append(psrc.error(
            ("routing", "fallback_severity") if "fallback_severity" in _routing_keys(spec_set)
            else ("routing", "routes"),
            f"fallback_severity {routing.fallback_severity!r} has no route; route it or set "
            f"fallback_severity to one of {routed}"))
        return errors
    names = {c.name for c in platform.channels}
    if any(ch not in names for r in routing.routes for ch in r.channels):
        return errors  # reported above
    if (routing.digest and routing.digest.channel in names
            and platform.channel(routing.digest.channel).type == "pagerduty"):
        errors.append(psrc.error(("routing", "digest", "channel"),
                                 "the digest would page for every alert once a day; give it an "
                                 "email (or slack) channel"))
    paged = platform.paged_severities()
    pd_channels = [c for c in platform.channels if c.type == "pagerduty"]
    used_pd = [c for c in pd_channels
               if any(c.name in r.channels for r in routing.routes)]
    if used_pd and not platform.escalation:
        errors.append(psrc.error(
            ("channels",), "a PagerDuty channel is routed but there is no `escalation`: a "
            "PagerDuty service needs an escalation policy (levels with delay_minutes)"))
    if platform.escalation and not used_pd:
        errors.append(psrc.error(
            ("escalation",), "escalation levels are given but no severity is routed to a "
            "PagerDuty channel; Alertmanager cannot escalate by itself"))
    delays = [lvl.delay_minutes for lvl in platform.escalation]
    if platform.escalation and delays[0] != 0:
        errors.append(psrc.error(("escalation", 0, "delay_minutes"),
                                 "the first escalation level is notified at once (delay 0)"))
    for i in range(1, len(delays)):
        if delays[i] <= delays[i - 1]:
            errors.append(psrc.error(
                ("escalation", i, "delay_minutes"),
                "escalation delays count from the incident's start and must increase "
                f"({delays[i]} after {delays[i - 1]})"))
    for i, lvl in enumerate(platform.escalation):
        for j, sev in enumerate(lvl.severities):
            if used_pd and sev not in paged:
                errors.append(psrc.error(
                    ("escalation", i, "severities", j) if "severities" in _level_keys(
                        spec_set, i) else ("escalation", i),
                    f"{sev} alerts are not routed to PagerDuty, so they cannot escalate; "
                    f"paged severities: {paged}"))
    # one PagerDuty service = one policy: its severities must escalate alike
    for c in used_pd:
        sevs = [s for s in paged if c.name in (routing.route_for(s) or routing.routes[0]).channels]
        chains = {s: [lvl.name for lvl in platform.escalation if s in lvl.severities]
                  for s in sevs}
        if len({tuple(v) for v in chains.values()}) > 1:
            errors.append(psrc.error(
                ("escalation",),
                f"severities {sevs} page the same PagerDuty service {c.pagerduty_service!r} "
                f"but escalate differently ({chains}); route them to separate PagerDuty "
                "channels"))
    return errors


def _routing_keys(spec_set: SpecSet) -> set[str]:
    return {p[1] for p in spec_set.platform.source.positions
            if len(p) == 2 and p[0] == "routing" and isinstance(p[1], str)}


def _level_keys(spec_set: SpecSet, i: int) -> set[str]:
    return {p[2] for p in spec_set.platform.source.positions
            if len(p) == 3 and p[:2] == ("escalation", i) and isinstance(p[2], str)}
