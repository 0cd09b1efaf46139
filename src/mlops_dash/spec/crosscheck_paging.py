"""Cross-file checks of paging: alert routing overrides, paged-warning channels, the digest job,
the routes and the escalation policy."""

from __future__ import annotations

from mlops_dash.errors import SpecError
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import SpecSet, suggest


def paging_errors(spec_set: SpecSet, channel_names: list[str]) -> list[SpecError]:
    """Problems of overrides and paged warnings, each at its place."""
    platform = spec_set.platform_model
    psrc = spec_set.platform.source
    routing = platform.routing
    errors: list[SpecError] = []
    pagers = platform.pager_channels()
    for i, name in enumerate(routing.paged_warning_channels):
        where = ("routing", "paged_warning_channels", i)
        if name not in channel_names:
            errors.append(psrc.error(where, f"no channel named {name!r}"
                                     f"{suggest(name, channel_names)}"))
        elif name not in pagers:
            errors.append(psrc.error(where, f"channel {name!r} is not a pager (pagerduty or "
                                     "opsgenie); paged warnings need one"))
    critical = routing.route_for("critical")
    for doc in spec_set.dashboards:
        d: m.Dashboard = doc.model
        for ai, a in enumerate(d.alerts):
            o = a.routing
            if o is None:
                continue
            where = ("alerts", ai, "routing", "page")
            if o.page and a.severity != "warning":
                errors.append(doc.source.error(where, (
                    f"routing.page: true pages a warning alert; a {a.severity} alert "
                    + ("pages already" if a.severity == "critical"
                       else "is for the stand-up, not the pager"))))
                continue
            if not o.page and a.severity != "critical":
                errors.append(doc.source.error(where, (
                    "routing.page: false keeps a critical alert off the pager; a "
                    f"{a.severity} alert does not page anyway")))
                continue
            if o.page and not routing.paged_warning_channels:
                errors.append(doc.source.error(
                    ("alerts", ai, "routing", "page"),
                    f"{a.name} asks to page, but the platform has no "
                    "routing.paged_warning_channels (a pager service of their own: a "
                    "PagerDuty service has one escalation policy)"))
            if not o.page and not (critical and pagers & set(critical.channels)):
                errors.append(doc.source.error(
                    ("alerts", ai, "routing", "page"),
                    f"{a.name} is kept off the pager, but critical alerts do not page"))
    digest = routing.digest
    if digest is not None and digest.via == "job" and digest.channel in channel_names:
        where = ("routing", "digest", "channel")
        if platform.channel(digest.channel).type != "email":
            errors.append(psrc.error(where, "the digest job sends email: give it an email "
                                     "channel (or set via: alertmanager)"))
        elif platform.collectors is None:
            errors.append(psrc.error(("routing", "digest"), "the digest job runs the "
                                     "collectors image: add a `collectors:` section with "
                                     "`image:` (or set via: alertmanager)"))
    return errors


def routing_errors(spec_set: SpecSet) -> list[SpecError]:
    """Fallback routed, escalation consistent with what pages, digest label unused."""
    platform = spec_set.platform_model
    psrc = spec_set.platform.source
    errors: list[SpecError] = []
    routing = platform.routing
    if not routing.routes:  # no default: several channels (platform.py _default_route)
        return [psrc.error(("routing", "routes"),
                           f"no routes, and {len(platform.channels)} channels: say which "
                           "severities go to which (routes: [{severity: critical, channels: "
                           "[...]}, ...]); only a single channel or none has a default route")]
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
    pd_channels = [c for c in platform.channels if c.type in m.PAGER_TYPES]
    used_pd = [c for c in pd_channels
               if any(c.name in r.channels for r in routing.routes)
               or c.name in routing.paged_warning_channels]
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
                    f"{sev} alerts are not routed to a pager, so they cannot escalate; "
                    f"paged severities: {paged}"))
    # one PagerDuty service = one policy: its severities must escalate alike
    for c in used_pd:
        if c.type != "pagerduty":
            continue  # Opsgenie picks the escalation per alert (team routing rules on tags)
        sevs = [s for s in paged if c.name in (routing.route_for(s) or routing.routes[0]).channels
                or (s == "warning" and c.name in routing.paged_warning_channels)]
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
