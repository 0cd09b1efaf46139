"""Alerts → Markdown runbooks (``runbooks/<AlertName>.md``) from a jinja2 template.

Pure: the template text comes in, Markdown goes out. Everything in a runbook comes from the
same fields as the rule (expression, threshold, window, ``for``), the panel it links to, and
the platform's routing and escalation, so a runbook cannot drift from its alert.

Two kinds of alert share one template (``templates/runbook.md.j2``): spec alerts
(:func:`context`) and SLO burn-rate alerts, one per SLO tier (:func:`slo_context`, the template's
``slo`` branch). Both take their routing and escalation from :func:`routing_context`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jinja2

from mlops_dash import conventions as cv
from mlops_dash import output, promql
from mlops_dash.render import alertmanager, paging, rules
from mlops_dash.render import slo as slo_render
from mlops_dash.spec import models as m

AGGREGATE_WORDS = {"max": "highest", "min": "lowest", "avg": "average", "sum": "sum"}
COMPARISON_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}


def _code(text: str) -> str:
    return f"`{text}`"


def signal_sentence(alert: m.Alert) -> str:
    """What the alert measures, in words, by signal shape."""
    s = alert.signal
    w = alert.window
    if isinstance(s, m.RatioSignal) and s.of == "gauges":
        return (f"{_code(promql.selector(s.numerator))} as a share of "
                f"{_code(promql.selector(s.denominator))} (current values)")
    if isinstance(s, m.RatioSignal):
        return (f"the share of {_code(promql.selector(s.numerator))} among "
                f"{_code(promql.selector(s.denominator))} over the last {w}")
    if isinstance(s, m.QuantileSignal):
        return (f"the p{s.quantile * 100:g} of {_code(promql.selector(s.histogram))} "
                f"over the last {w}")
    if isinstance(s, m.GaugeSignal):
        names = " or ".join(_code(promql.selector(sel)) for sel in s.series)
        text = f"the {AGGREGATE_WORDS[s.aggregate]} of {names}"
        if s.scale_by:
            per = ", ".join(f"{k} {v:g}" for k, v in s.scale_by.values.items())
            text += f" as a multiple of its {s.scale_by.label}'s threshold ({per})"
        if s.events:
            text = (f"the number of series of {names} newly set in the last {s.events.within} "
                    f"(not set in the {s.events.seen} before)")
            if s.events.restarted:
                text += (f", or containers restarted in place with "
                         f"{_code(promql.selector(s.events.restarted.reason))}")
        if s.sustained:
            text += f", held at every point of the last {s.sustained}"
        return text
    if isinstance(s, m.DifferenceSignal):
        return (f"{_code(promql.selector(s.minuend))} minus "
                f"{_code(promql.selector(s.subtrahend))}")
    if isinstance(s, m.GrowthSignal):
        return f"the growth of {_code(promql.selector(s.series))} over the last {w}"
    if isinstance(s, m.BaselineSignal):
        stat = "median" if s.baseline_stat == "median" else "rolling average"
        ended = f", ending {s.baseline_offset} ago" if s.baseline_offset else ""
        return (f"the {AGGREGATE_WORDS[s.aggregate]} of {_code(promql.selector(s.series))} "
                f"relative to its own {s.baseline_window} {stat} (a point every "
                f"{s.baseline_step}{ended}), as a fraction,")
    if isinstance(s, m.AgeSignal) and s.baseline is None:
        return (f"the time since {_code(promql.selector(s.start_timestamp))} (now − its value), "
                "in seconds")
    if isinstance(s, m.AgeSignal):
        assert s.baseline is not None
        return (f"how long a run has been running (now − {_code(s.start_timestamp.metric)}) "
                f"as a multiple of {_code(promql.selector(s.baseline))}")
    if isinstance(s, m.RawSignal):
        return f"the expression {_code(s.expr)}"
    raise AssertionError(f"unknown shape {s.shape}")


def readable(text: str) -> str:
    """Alert text with Go templates shown as placeholders: ``{{ $labels.model }}`` → `{model}`."""
    if "{{" not in text:
        return text
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"`{\1}`", text)
    return re.sub(r"\{\{\s*\$value[^}]*\}\}", "`{value}`", text)


def static_panel_link(link: str) -> str:
    """A panel link without the alert-label variables (``var-x={{ $labels.y }}``)."""
    return re.sub(r"&var-[^=&]+=\{\{[^}]*\}\}", "", link)


def _channel_text(platform: m.Platform, name: str) -> str:
    if name == cv.NULL_RECEIVER:
        return ("no notification (dashboard only): the MLOps overview's stand-up panels list "
                "it for the daily stand-up")
    c = platform.channel(name)
    if c.type == "pagerduty":
        return f"PagerDuty ({c.service or c.name})" + (f": {c.description}" if c.description
                                                        else "")
    if c.type == "opsgenie":
        return f"Opsgenie (team {c.team})" + (f": {c.description}" if c.description else "")
    if c.type == "slack":
        return f"Slack {c.channel or c.name}"
    if c.type == "webhook":
        return f"webhook {c.url}"
    if c.type == "msteams":
        return f"Microsoft Teams ({c.name})"
    return f"email to {c.to}" if c.to else f"email ({c.name})"


def context(d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> dict[str, Any]:
    """Everything the runbook template shows."""
    index = next(i for i, p in enumerate(d.panels) if p.id == alert.panel)
    panel = d.panels[index]
    link = rules.panel_link(d, alert, platform)
    by = rules.alert_labels(alert)
    variables = [(var, label) for var, label in rules.variable_labels(d).items() if label in by]
    dashboard_link = cv.dashboard_url(platform.grafana_url, d.uid, cv.slugify(d.title))
    history = next((i for i, p in enumerate(d.panels)
                    if p.type == "alert-history" and alert.name in p.alerts), None)
    group = rules.alert_group_name(d, alert)  # not rule_groups(): that is linear per alert
    return {
        **routing_context(platform, alert.severity, alert),
        "header": output.markdown_header().rstrip("\n"),
        "slo": None,
        "name": alert.name,
        "alert": alert,
        "dashboard": d,
        "team": d.alert_team(alert),
        "summary": readable(rules.fill_placeholders(alert.summary, alert)),
        "description": readable(rules.fill_placeholders(alert.description, alert)),
        "signal": signal_sentence(alert),
        # a raw alert without a threshold (its whole expression) has neither
        "comparison_word": COMPARISON_WORDS.get(alert.comparison or "", ""),
        "threshold": ("" if alert.threshold is None
                      else promql.format_number(alert.threshold)),
        "threshold_human": ("" if alert.threshold is None
                            else rules.humanize_threshold(alert.threshold, alert.unit)),
        "expression": promql.alert_expr(alert),
        "signal_expression": promql.signal_expr(alert),
        "window": alert.window or "instant (no range)",
        "hold": alert.for_,
        "fires_immediately": m.duration_seconds(alert.for_) == 0,
        "interval": alert.interval,
        "group": group,
        "rule_file": cv.rule_file_path(d.uid),
        "test_file": cv.alert_test_path(d.uid),
        "labels": {cv.LABEL_SEVERITY: alert.severity, cv.LABEL_TEAM: d.alert_team(alert),
                   cv.LABEL_DASHBOARD: d.uid, **alert.labels},
        "by": by,
        "by_text": ", ".join(f"`{b}`" for b in by),
        "panel": panel,
        "panel_link": link,
        "panel_link_static": static_panel_link(link),
        "variables": variables,
        "history_panel": d.panels[history] if history is not None else None,
        "dashboard_link": dashboard_link,
        "history_link": (f"{dashboard_link}?viewPanel=panel-{cv.panel_numeric_id(history)}"
                         if history is not None else None),
        "runbook_url": rules.runbook_url(alert, platform),
    }


# routing_context of alerts without an override, by (platform, severity): the same for every
# alert of a severity (keyed by identity, the platform kept alive with its entry)
_ROUTING: dict[tuple[int, str], tuple[m.Platform, dict[str, Any]]] = {}


def routing_context(platform: m.Platform, severity: str,
                    alert: m.Alert | None = None) -> dict[str, Any]:
    """Receivers, timings and escalation of an alert of ``severity`` (both kinds of alert),
    with the spec alert's routing override. Callers must not modify it."""
    if alert is not None and alert.routing is not None:
        return _routing_context(platform, severity, alert)
    hit = _ROUTING.get((id(platform), severity))
    if hit is not None and hit[0] is platform:
        return hit[1]
    if len(_ROUTING) >= 64:
        _ROUTING.clear()
    result = _routing_context(platform, severity, None)
    _ROUTING[(id(platform), severity)] = (platform, result)
    return result


def _routing_context(platform: m.Platform, severity: str,
                     alert: m.Alert | None) -> dict[str, Any]:
    digest = platform.routing.digest
    override = alert.routing if alert is not None else None
    muted = paging.muted_pagers(platform, override)
    receivers = [
        {"name": r, "text": _channel_text(platform, r)
         + (f" (muted during {paging.window_text(override.window)})"
            if r in muted and override and override.window else ""),
         "digest": bool(digest and r == digest.channel)}
        for r in alertmanager.expected_receivers(platform, severity, override)
    ]
    chain = alertmanager.escalation_chain(platform, severity, override)
    pager_types = {platform.channel(r["name"]).type for r in receivers
                   if r["name"] in platform.pager_channels()}
    return {
        "severity": severity,
        "route": platform.routing.route_for(severity),
        "receivers": receivers,
        "override": paging.override_text(platform, alert) if alert is not None else "",
        "digest_job": digest if digest is not None and digest.via == "job" else None,
        "digest_to": (platform.channel(digest.channel).to or digest.channel
                      if digest is not None and digest.via == "job" else None),
        "pager": "Opsgenie" if pager_types == {"opsgenie"} else (
            "PagerDuty" if pager_types == {"pagerduty"} else "PagerDuty/Opsgenie"),
        "notifies": any(r["name"] != cv.NULL_RECEIVER and not r["digest"] for r in receivers),
        "escalation": chain,
        "paged_chain": next((alertmanager.escalation_chain(platform, s)
                             for s in platform.paged_severities()), []),
    }


def environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


@functools.lru_cache(maxsize=16)
def _compiled(template_text: str) -> jinja2.Template:
    """Each template is compiled once per process (compiling costs ~50x rendering); the
    shipped one comes compiled with the package (render/runbook_code.py)."""
    from mlops_dash.render import runbook_code

    env = environment()
    template = runbook_code.shipped(env, template_text)
    if template is not None:
        return template
    return env.from_string(template_text)


def _render(template_text: str, ctx: dict[str, Any]) -> str:
    text = _compiled(template_text).render(**ctx)
    while "\n\n\n" in text:  # every run of blank lines one blank line (faster than re.sub)
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip("\n") + "\n"


def runbook(template_text: str, d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> str:
    """The Markdown runbook of one alert."""
    return _render(template_text, context(d, alert, platform))


# ----------------------------------------------------------------------------- SLO alerts

TIER_SPEED = {"page": "fast", "ticket": "steadily"}


def _span(seconds: float) -> str:
    """A duration as a person reads it: ``50h``, ``5d``, ``30d`` (rounded to 0.1)."""
    hours = seconds / 3600
    if hours < 72:
        return f"{round(hours, 1):g}h"
    return f"{round(hours / 24, 1):g}d"


def _percent(value: float) -> str:
    return f"{round(value * 100, 6):g}%"


def sli_sentence(s: m.SLO) -> str:
    """What the SLI's error ratio is, in words, by SLI type."""
    sli = s.sli
    per = (" per " + ", ".join(_code(b) for b in s.by)) if s.by else ""
    if isinstance(sli, m.EventsSLI):
        total = _code(promql.selector(sli.total))
        if sli.bad is not None:
            return (f"the share of bad events {_code(promql.selector(sli.bad))} among all "
                    f"events {total}{per}, as a rate over each window")
        assert sli.good is not None
        return (f"the share of events {total} that are not good events "
                f"{_code(promql.selector(sli.good))}{per}, as a rate over each window")
    if isinstance(sli, m.GaugeRatioSLI):
        return (f"1 − the {AGGREGATE_WORDS[sli.aggregate]} of "
                f"{_code(promql.selector(sli.good_ratio))}{per} (a good ratio), averaged "
                "over each window")
    return (f"the share of evaluations at which the {AGGREGATE_WORDS[sli.aggregate]} of "
            f"{_code(promql.selector(sli.gauge))}{per} is {COMPARISON_WORDS[sli.comparison]} "
            f"{promql.format_number(sli.threshold)} (0 or 1 per evaluation, averaged over "
            "each window)")


def _related_panels(d: m.Dashboard, s: m.SLO, name: str) -> list[dict[str, Any]]:
    """Other panels of the SLO: those that query its records, and its alert-history panel."""
    marker = f'{cv.LABEL_SLO}="{s.name}"'
    out = []
    for i, p in enumerate(d.panels):
        if p.id == s.panel:
            continue
        shows_records = any(marker in q.expr for q in p.queries)
        shows_alert = p.type == "alert-history" and name in p.alerts
        if shows_records or shows_alert:
            out.append({"panel": p, "index": i, "history": shows_alert})
    return out


def slo_context(d: m.Dashboard, s: m.SLO, tier: str, platform: m.Platform) -> dict[str, Any]:
    """Everything the runbook template's ``slo`` branch shows for one SLO tier."""
    name = cv.slo_alert_name(slo_render.alert_stem(s), tier)
    severity = cv.SLO_TIER_SEVERITY[tier]
    annotations = slo_render.alert_annotations(d, s, tier, platform)
    dashboard_link = cv.dashboard_url(platform.grafana_url, d.uid, cv.slugify(d.title))
    budget = slo_render.error_budget(s)
    period_seconds = m.duration_seconds(s.period)
    pairs = [{
        "budget_percent": f"{w.budget_percent:g}%",
        "long": w.long,
        "short": w.short,
        "factor": promql.format_number(f),
        "exhausts_in": _span(period_seconds / f),
        "condition_long": slo_render.burn_condition(s, w.long, f),
        "condition_short": slo_render.burn_condition(s, w.short, f),
        "long_query": f"{cv.slo_error_ratio_record(w.long)}{{{cv.LABEL_SLO}=\"{s.name}\"}}"
                      f" / {promql.format_number(budget)}",
        "short_query": f"{cv.slo_error_ratio_record(w.short)}{{{cv.LABEL_SLO}=\"{s.name}\"}}"
                       f" / {promql.format_number(budget)}",
    } for w, f in slo_render.tier_windows(s, tier)]
    panel = None
    if s.panel is not None:
        panel = next(p for p in d.panels if p.id == s.panel)
    link = annotations.get("dashboard_url")
    by = list(s.by)
    variables = [(var, label) for var, label in rules.variable_labels(d).items() if label in by]
    groups = slo_render.slo_rule_groups(d, s, platform)
    group = next(g for g in groups if any(r.get("alert") == name for r in g["rules"]))
    related = [{
        "title": r["panel"].title,
        "link": f"{dashboard_link}?viewPanel=panel-{cv.panel_numeric_id(r['index'])}",
        "history": r["history"],
    } for r in _related_panels(d, s, name)]
    # Inhibition: the SLO's own rule (page mutes ticket) and the platform's severity rules
    # whose `equal` labels this alert carries (Alertmanager needs them on both alerts).
    own = [r for r in slo_render.inhibit_rules([d])
           if f'{cv.LABEL_SLO}="{s.name}"' in r["source_matchers"]]
    other_tier = "ticket" if tier == "page" else "page"
    platform_rules = [r for r in platform.routing.inhibit if set(r.equal) <= set(by)]
    filt = f'{{{cv.LABEL_SLO}="{s.name}"}}'
    sli = s.sli
    if isinstance(sli, m.EventsSLI):
        source_query = slo_render.error_ratio_expr(s, "5m")
    else:
        source_query = slo_render.instant_error_expr(s)
    return {
        **routing_context(platform, severity),
        "header": output.markdown_header().rstrip("\n"),
        "slo": s,
        "name": name,
        "tier": tier,
        "other_tier_name": (cv.slo_alert_name(slo_render.alert_stem(s), other_tier)
                            if other_tier in s.tiers else None),
        "speed": TIER_SPEED[tier],
        "dashboard": d,
        "team": d.team,
        "summary": readable(annotations["summary"]),
        "sli_text": sli_sentence(s),
        "objective": promql.format_number(s.objective),
        "objective_human": _percent(s.objective),
        "budget": promql.format_number(budget),
        "budget_human": _percent(budget),
        "pairs": pairs,
        "expression": slo_render.alert_expr(s, tier).rstrip("\n"),
        "interval": group["interval"],
        "group": group["name"],
        "rule_file": cv.rule_file_path(d.uid),
        "test_file": cv.slo_test_path(s.name, tier),
        "labels": {**slo_render.alert_labels(d, s, tier), cv.LABEL_SLO: s.name},
        "by": by,
        "by_text": ", ".join(f"`{b}`" for b in by),
        "panel": panel,
        "panel_link": link,
        "panel_link_static": static_panel_link(link) if link else None,
        "variables": variables,
        "related": related,
        "dashboard_link": dashboard_link,
        "inhibit_own": own,
        "inhibit_platform": platform_rules,
        "record_filter": filt,
        "budget_remaining_query": f"{cv.SLO_BUDGET_REMAINING}{filt}",
        "period_query": f"{cv.slo_error_ratio_record(s.period)}{filt}",
        "source_query": source_query,
        "runbook_url": annotations["runbook_url"],
    }


def slo_runbook(template_text: str, d: m.Dashboard, s: m.SLO, tier: str,
                platform: m.Platform) -> str:
    """The Markdown runbook of one SLO tier's burn-rate alert."""
    return _render(template_text, slo_context(d, s, tier, platform))
