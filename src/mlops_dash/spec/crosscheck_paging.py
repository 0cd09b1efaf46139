"""Cross-file checks of paging: alert routing overrides, paged-warning channels, the digest job."""

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
