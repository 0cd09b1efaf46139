"""SLOs → Sloth-style recording rules, multi-window multi-burn-rate alerts and inhibit rules
(their generated promtool burn-rate tests: render/slo_tests.py). Pure: every function returns
data.

Windows and burn-rate factors follow the Google SRE workbook as Sloth computes them
(slok/sloth ``internal/alert/window.go``): factor = budget share consumed × period / long window,
so 2 % of a 30d budget in 1h is 14.4 and of a 28d budget 13.44.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.promql import format_number, selector
from mlops_dash.render.rules import variable_labels
from mlops_dash.spec import models as m

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")  # plus the period
FAST_WINDOWS = ("5m", "30m", "1h", "6h")  # read by the page alert: evaluated every minute


@dataclass(frozen=True)
class BurnWindow:
    """One condition of a tier: burning ``budget_percent`` of the budget within ``long``."""

    tier: str
    budget_percent: float
    long: str
    short: str


# Google SRE workbook, "recommended parameters for an SLO-based alert" (Sloth's google-30d.yaml).
BURN_WINDOWS = (
    BurnWindow("page", 2, "1h", "5m"),
    BurnWindow("page", 5, "6h", "30m"),
    BurnWindow("ticket", 10, "1d", "2h"),
    BurnWindow("ticket", 10, "3d", "6h"),
)


def burn_factor(period: str, window: BurnWindow) -> float:
    """Burn rate at which ``window.budget_percent`` of the period's budget goes in ``long``."""
    hours_to_consume = window.budget_percent / 100 * m.duration_seconds(period) / 3600
    return round(hours_to_consume / (m.duration_seconds(window.long) / 3600), 6)


def error_budget(slo: m.SLO) -> float:
    """Allowed error ratio, ``1 - objective``, without float noise (0.99 → 0.01)."""
    return round(1 - slo.objective, 12)


def tier_windows(slo: m.SLO, tier: str) -> list[tuple[BurnWindow, float]]:
    """The two window pairs of a tier with their burn-rate factors."""
    return [(w, burn_factor(slo.period, w)) for w in BURN_WINDOWS if w.tier == tier]


def alert_stem(slo: m.SLO) -> str:
    return slo.alert or cv.slo_alert_stem(slo.name)


def alert_names(slo: m.SLO) -> list[str]:
    """Names of the alerts an SLO generates, one per tier."""
    return [cv.slo_alert_name(alert_stem(slo), t) for t in slo.tiers]


def record_names(slo: m.SLO) -> list[str]:
    """Every series an SLO records (shared names, told apart by the ``slo`` label)."""
    names = [cv.slo_error_ratio_record(w) for w in (*WINDOWS, slo.period)]
    if not isinstance(slo.sli, m.EventsSLI):
        names.insert(0, cv.SLO_SLI_INSTANT)
    return [*names, cv.SLO_BUDGET_REMAINING, cv.SLO_OBJECTIVE, cv.SLO_ERROR_BUDGET]


def sli_selectors(slo: m.SLO) -> list[m.Selector]:
    sli = slo.sli
    if isinstance(sli, m.EventsSLI):
        return [s for s in (sli.total, sli.bad, sli.good) if s is not None]
    if isinstance(sli, m.GaugeRatioSLI):
        return [sli.good_ratio]
    return [sli.gauge]


# ----------------------------------------------------------------------------- expressions


def _by(labels: list[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def _slo_filter(slo: m.SLO) -> str:
    return f'{{{cv.LABEL_SLO}="{slo.name}"}}'


def instant_error_expr(slo: m.SLO) -> str:
    """Error ratio now, for gauge SLIs (each window averages it over time)."""
    sli = slo.sli
    if isinstance(sli, m.GaugeRatioSLI):
        return f"1 - ({sli.aggregate}{_by(slo.by)} ({selector(sli.good_ratio)}))"
    if isinstance(sli, m.GaugeThresholdSLI):
        return (f"({sli.aggregate}{_by(slo.by)} ({selector(sli.gauge)}))"
                f" {sli.comparison} bool {format_number(sli.threshold)}")
    raise AssertionError("events SLIs have no instant error ratio")


def error_ratio_expr(slo: m.SLO, window: str) -> str:
    """Error ratio over ``window``: events from counters, gauges averaged over time."""
    sli = slo.sli
    if isinstance(sli, m.EventsSLI):
        if window == slo.period:
            # As Sloth: the period from the 5m ratio, so no query reads 30 days of raw counters.
            return f"avg_over_time({cv.slo_error_ratio_record('5m')}{_slo_filter(slo)}[{window}])"
        total = f"sum{_by(slo.by)} (rate({selector(sli.total)}[{window}]))"
        if sli.bad is not None:
            return f"sum{_by(slo.by)} (rate({selector(sli.bad)}[{window}])) / {total}"
        assert sli.good is not None
        return f"1 - sum{_by(slo.by)} (rate({selector(sli.good)}[{window}])) / {total}"
    return f"avg_over_time({cv.SLO_SLI_INSTANT}{_slo_filter(slo)}[{window}])"


def burn_condition(slo: m.SLO, window: str, factor: float) -> str:
    """``error ratio over window / budget > factor``; its value is the burn rate."""
    return (f"{cv.slo_error_ratio_record(window)}{_slo_filter(slo)}"
            f" / {format_number(error_budget(slo))} > {format_number(factor)}")


def alert_expr(slo: m.SLO, tier: str) -> str:
    """Either window pair of the tier burning faster than its factor (long and short window)."""
    pairs = [f"(\n  {burn_condition(slo, w.long, f)}\n  and\n  {burn_condition(slo, w.short, f)}\n)"
             for w, f in tier_windows(slo, tier)]
    return "\nor\n".join(pairs) + "\n"


# ----------------------------------------------------------------------------- rules


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _instance(slo: m.SLO) -> str:
    return " ".join(f"{{{{ $labels.{label} }}}}" for label in slo.by)


def alert_annotations(d: m.Dashboard, slo: m.SLO, tier: str,
                      platform: m.Platform) -> dict[str, str]:
    """Annotations without ``$value``, so generated tests can state them exactly."""
    instance = _instance(slo)
    of = f" of {instance}" if instance else ""
    speed = "fast" if tier == "page" else "steadily"
    pairs = " or ".join(
        f"{w.budget_percent:g}% in {w.long} (burn rate above {format_number(f)} over {w.long} "
        f"and {w.short})" for w, f in tier_windows(slo, tier))
    out = {
        "summary": f"SLO {slo.name}{of} is burning its error budget {speed}",
        "description": (
            f"{slo.description} Objective {_percent(slo.objective)} over {slo.period}; "
            f"this {tier} alert fires when the error budget is spent at {pairs}."),
        "runbook_url": cv.runbook_url(platform.runbook_base_url,
                                      cv.slo_alert_name(alert_stem(slo), tier)),
    }
    if slo.panel is not None:
        index = next(i for i, p in enumerate(d.panels) if p.id == slo.panel)
        url = cv.dashboard_url(platform.grafana_url, d.uid, cv.slugify(d.title))
        params = [f"viewPanel=panel-{cv.panel_numeric_id(index)}"]
        for var, label in variable_labels(d).items():
            if label in slo.by:
                params.append(f"var-{var}={{{{ $labels.{label} }}}}")
        out["dashboard_url"] = f"{url}?{'&'.join(params)}"
    return dict(sorted(out.items()))


def alert_labels(d: m.Dashboard, slo: m.SLO, tier: str) -> dict[str, str]:
    labels = {
        cv.LABEL_SEVERITY: cv.SLO_TIER_SEVERITY[tier],
        cv.LABEL_TIER: tier,
        cv.LABEL_TEAM: d.team,
        cv.LABEL_DASHBOARD: d.uid,
        **slo.labels,
    }
    return dict(sorted(labels.items()))


def alert_rule(d: m.Dashboard, slo: m.SLO, tier: str, platform: m.Platform) -> dict[str, Any]:
    return {
        "alert": cv.slo_alert_name(alert_stem(slo), tier),
        "expr": alert_expr(slo, tier),
        "labels": alert_labels(d, slo, tier),
        "annotations": alert_annotations(d, slo, tier, platform),
    }


def _record(name: str, expr: str, slo: m.SLO) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": {cv.LABEL_SLO: slo.name}}


def slo_rule_groups(d: m.Dashboard, slo: m.SLO, platform: m.Platform) -> list[dict[str, Any]]:
    """Two groups per SLO: short windows + page alert every minute; long windows, budget and
    ticket alert every 5 minutes. The page alert reads only its own group's records; the ticket
    alert reads the 6h ratio from the 1m group, which is fresher than its own interval."""
    fast: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    if not isinstance(slo.sli, m.EventsSLI):
        fast.append(_record(cv.SLO_SLI_INSTANT, instant_error_expr(slo), slo))
    for window in (*WINDOWS, slo.period):
        target = fast if window in FAST_WINDOWS else slow
        target.append(_record(cv.slo_error_ratio_record(window), error_ratio_expr(slo, window),
                              slo))
    budget = format_number(error_budget(slo))
    slow += [
        _record(cv.SLO_BUDGET_REMAINING,
                f"1 - {cv.slo_error_ratio_record(slo.period)}{_slo_filter(slo)} / {budget}", slo),
        _record(cv.SLO_OBJECTIVE, f"vector({format_number(slo.objective)})", slo),
        _record(cv.SLO_ERROR_BUDGET, f"vector({budget})", slo),
    ]
    if "page" in slo.tiers:
        fast.append(alert_rule(d, slo, "page", platform))
    if "ticket" in slo.tiers:
        slow.append(alert_rule(d, slo, "ticket", platform))
    return [
        {"name": cv.slo_rule_group_name(d.uid, slo.name, cv.SLO_FAST_INTERVAL),
         "interval": cv.SLO_FAST_INTERVAL, "rules": fast},
        {"name": cv.slo_rule_group_name(d.uid, slo.name, cv.SLO_SLOW_INTERVAL),
         "interval": cv.SLO_SLOW_INTERVAL, "rules": slow},
    ]


def rule_groups(d: m.Dashboard, platform: m.Platform) -> list[dict[str, Any]]:
    """The SLO rule groups of a dashboard, appended to its other groups in both envelopes."""
    return [g for slo in d.slos for g in slo_rule_groups(d, slo, platform)]


def inhibit_rules(dashboards: list[m.Dashboard]) -> list[dict[str, Any]]:
    """Alertmanager inhibit rules: a firing page mutes the ticket of the same SLO and instance.

    For the Alertmanager renderer: append these to ``inhibit_rules`` as they are.
    """
    out = []
    for d in dashboards:
        for slo in d.slos:
            if {"page", "ticket"} <= set(slo.tiers):
                same = f'{cv.LABEL_SLO}="{slo.name}"'
                out.append({
                    "source_matchers": [same, f'{cv.LABEL_TIER}="page"'],
                    "target_matchers": [same, f'{cv.LABEL_TIER}="ticket"'],
                    "equal": [cv.LABEL_SLO, *slo.by],
                })
    return out

