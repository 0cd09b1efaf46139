"""Who each alert reaches: severity routing plus the alert's own ``routing`` override (pure).

* no override: the severity's channels (and the Alertmanager digest route, when used);
* ``page: true`` (a warning): the platform's ``paged_warning_channels`` first, then the
  warning channels; it escalates only through the levels that list ``warning`` (the seed keeps
  the engineering manager for critical issues), on a pager service of its own;
* ``page: false`` (a critical alert): the critical channels without the pagers; with a
  ``window``, the pagers stay, muted during that Alertmanager time interval.

An override becomes its own route before the severity routes, matching the alert by
``alertname`` and ``dashboard``, so ``amtool config routes test`` and ``mlops-dash diff`` see it.
"""

from __future__ import annotations

from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.spec import models as m
from mlops_dash.spec.alert_routing import AlertRouting, TimeWindow


def severity_channels(platform: m.Platform, severity: str) -> tuple[str, ...]:
    """Channels of a severity's route (the null receiver when it notifies nobody)."""
    route = platform.routing.route_for(severity)
    if route is None or not route.channels:
        return (cv.NULL_RECEIVER,)
    return tuple(route.channels)


def alert_channels(platform: m.Platform, severity: str,
                   override: AlertRouting | None) -> tuple[str, ...]:
    """Channels one alert reaches (the digest route not included)."""
    base = severity_channels(platform, severity)
    if override is None:
        return base
    pagers = platform.pager_channels()
    rest = tuple(c for c in base if c not in pagers and c != cv.NULL_RECEIVER)
    if override.page:
        return tuple(platform.routing.paged_warning_channels) + rest
    if override.window is not None:
        return rest + tuple(c for c in base if c in pagers)
    return rest or (cv.NULL_RECEIVER,)


def digest_route_channel(platform: m.Platform) -> str | None:
    """The digest channel when the digest is the Alertmanager route approximation."""
    d = platform.routing.digest
    return d.channel if d is not None and d.via == "alertmanager" else None


def alert_receivers(platform: m.Platform, severity: str,
                    override: AlertRouting | None = None) -> list[str]:
    """All receivers of one alert in routing order, the digest route's first."""
    out = []
    digest = digest_route_channel(platform)
    if digest:
        out.append(digest)
    out += [r for r in alert_channels(platform, severity, override) if r not in out]
    return out


def muted_pagers(platform: m.Platform, override: AlertRouting | None) -> list[str]:
    """Pager channels of an alert that are muted during its window."""
    if override is None or override.page or override.window is None:
        return []
    return [c for c in alert_channels(platform, "critical", override)
            if c in platform.pager_channels()]


def alert_pages(platform: m.Platform, severity: str, override: AlertRouting | None) -> bool:
    """Whether an alert reaches a pager (at least outside its window)."""
    return bool(platform.pager_channels() & set(alert_channels(platform, severity, override)))


def alert_escalation(platform: m.Platform, severity: str,
                     override: AlertRouting | None = None) -> list[m.EscalationLevel]:
    """Escalation levels one alert goes through (empty when it does not page)."""
    if not alert_pages(platform, severity, override):
        return []
    if severity not in platform.paged_severities():
        return []
    return [lvl for lvl in platform.escalation if severity in lvl.severities]


def overrides(dashboards: list[m.Dashboard]) -> list[tuple[str, m.Alert]]:
    """(dashboard uid, alert) of every alert with a routing override, in spec order."""
    return [(d.uid, a) for d in dashboards for a in d.alerts if a.routing is not None]


def override_text(platform: m.Platform, alert: m.Alert) -> str:
    """The override in words (routes table, runbooks)."""
    o = alert.routing
    if o is None:
        return ""
    if o.page:
        return f"pages although {alert.severity} ({o.reason})"
    if o.window is not None:
        return f"pager muted during {window_text(o.window)} ({o.reason})"
    return f"kept off the pager ({o.reason})"


def window_text(w: TimeWindow) -> str:
    parts = []
    if w.weekdays:
        parts.append(", ".join(w.weekdays))
    if w.times:
        parts.append(", ".join(f"{t.start_time}-{t.end_time}" for t in w.times))
    if w.days_of_month:
        parts.append("days " + ", ".join(w.days_of_month))
    if w.months:
        parts.append(", ".join(w.months))
    if w.years:
        parts.append(", ".join(w.years))
    return " ".join(parts) + " UTC"


def _matcher(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}="{escaped}"'


def override_routes(platform: m.Platform, dashboards: list[m.Dashboard]) -> list[dict[str, Any]]:
    """One route per overridden alert (plain Alertmanager field names), before the severities."""
    out = []
    for uid, a in overrides(dashboards):
        route = platform.routing.route_for(a.severity)
        assert route is not None, "crosscheck guarantees a routed severity"
        receivers = alert_channels(platform, a.severity, a.routing)
        muted = set(muted_pagers(platform, a.routing))
        r: dict[str, Any] = {
            "matchers": [_matcher("alertname", a.name), _matcher(cv.LABEL_DASHBOARD, uid)],
            "receiver": receivers[0],
            "group_wait": route.group_wait, "group_interval": route.group_interval,
            "repeat_interval": route.repeat_interval,
        }
        if len(receivers) > 1 or muted:
            children = []
            for i, name in enumerate(receivers):
                child: dict[str, Any] = {"receiver": name}
                if name in muted:
                    child["mute_time_intervals"] = [cv.off_pager_interval(a.name)]
                if i < len(receivers) - 1:
                    child["continue"] = True
                children.append(child)
            r["routes"] = children
        out.append(r)
    return out


def time_intervals(dashboards: list[m.Dashboard]) -> list[dict[str, Any]]:
    """Plain-config ``time_intervals`` of the overrides' windows."""
    out = []
    for _uid, a in overrides(dashboards):
        if a.routing is None or a.routing.window is None:
            continue
        w = a.routing.window
        spec: dict[str, Any] = {}
        if w.times:
            spec["times"] = [{"start_time": t.start_time, "end_time": t.end_time}
                             for t in w.times]
        for key in ("weekdays", "days_of_month", "months", "years"):
            if getattr(w, key):
                spec[key] = list(getattr(w, key))
        out.append({"name": cv.off_pager_interval(a.name), "time_intervals": [spec]})
    return out


def operator_time_intervals(plain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same windows as AlertmanagerConfig ``muteTimeIntervals``."""
    out = []
    for ti in plain:
        specs = []
        for spec in ti["time_intervals"]:
            o: dict[str, Any] = {}
            if "times" in spec:
                o["times"] = [{"startTime": t["start_time"], "endTime": t["end_time"]}
                              for t in spec["times"]]
            if "weekdays" in spec:
                o["weekdays"] = spec["weekdays"]
            if "days_of_month" in spec:
                o["daysOfMonth"] = [_day_range(v) for v in spec["days_of_month"]]
            for key in ("months", "years"):
                if key in spec:
                    o[key] = spec[key]
            specs.append(o)
        out.append({"name": ti["name"], "timeIntervals": specs})
    return out


def _day_range(value: str) -> dict[str, int]:
    start, _, end = value.partition(":")
    return {"start": int(start), "end": int(end or start)}
