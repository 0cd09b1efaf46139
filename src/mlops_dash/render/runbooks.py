"""Alerts → Markdown runbooks (``runbooks/<AlertName>.md``) from a jinja2 template.

Pure: the template text comes in, Markdown goes out. Everything in a runbook comes from the
same fields as the rule (expression, threshold, window, ``for``), the panel it links to, and
the platform's routing and escalation, so a runbook cannot drift from its alert.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

from mlops_dash import conventions as cv
from mlops_dash import output, promql
from mlops_dash.render import alertmanager, rules
from mlops_dash.spec import models as m

AGGREGATE_WORDS = {"max": "highest", "min": "lowest", "avg": "average", "sum": "sum"}
COMPARISON_WORDS = {">": "above", ">=": "at or above", "<": "below", "<=": "at or below"}


def _code(text: str) -> str:
    return f"`{text}`"


def signal_sentence(alert: m.Alert) -> str:
    """What the alert measures, in words, by signal shape."""
    s = alert.signal
    w = alert.window
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
        return text
    if isinstance(s, m.DifferenceSignal):
        return (f"{_code(promql.selector(s.minuend))} minus "
                f"{_code(promql.selector(s.subtrahend))}")
    if isinstance(s, m.GrowthSignal):
        return f"the growth of {_code(promql.selector(s.series))} over the last {w}"
    if isinstance(s, m.BaselineSignal):
        return (f"the {AGGREGATE_WORDS[s.aggregate]} of {_code(promql.selector(s.series))} "
                f"relative to its own {s.baseline_window} rolling average (a point every "
                f"{s.baseline_step}), as a fraction,")
    if isinstance(s, m.AgeSignal):
        return (f"how long a run has been running (now − {_code(s.start_timestamp.metric)}) "
                f"as a multiple of {_code(promql.selector(s.baseline))}")
    raise AssertionError(f"unknown shape {s.shape}")


def readable(text: str) -> str:
    """Alert text with Go templates shown as placeholders: ``{{ $labels.model }}`` → `{model}`."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"`{\1}`", text)
    return re.sub(r"\{\{\s*\$value[^}]*\}\}", "`{value}`", text)


def static_panel_link(link: str) -> str:
    """A panel link without the alert-label variables (``var-x={{ $labels.y }}``)."""
    return re.sub(r"&var-[^=&]+=\{\{[^}]*\}\}", "", link)


def _channel_text(platform: m.Platform, name: str) -> str:
    if name == cv.NULL_RECEIVER:
        return "no notification (dashboard only)"
    c = platform.channel(name)
    if c.type == "pagerduty":
        return f"PagerDuty ({c.service or c.name})" + (f": {c.description}" if c.description
                                                        else "")
    if c.type == "slack":
        return f"Slack {c.channel or c.name}"
    return f"email to {c.to}" if c.to else f"email ({c.name})"


def context(d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> dict[str, Any]:
    """Everything the runbook template shows."""
    index = next(i for i, p in enumerate(d.panels) if p.id == alert.panel)
    panel = d.panels[index]
    link = rules.panel_link(d, alert, platform)
    by = rules.alert_labels(alert)
    variables = [(var, label) for var, label in rules.variable_labels(d).items() if label in by]
    dashboard_link = cv.dashboard_url(platform.grafana_url, d.uid, cv.slugify(d.title))
    route = platform.routing.route_for(alert.severity)
    digest = platform.routing.digest
    receivers = [
        {"name": r, "text": _channel_text(platform, r),
         "digest": bool(digest and r == digest.channel)}
        for r in alertmanager.expected_receivers(platform, alert.severity)
    ]
    history = next((i for i, p in enumerate(d.panels)
                    if p.type == "alert-history" and alert.name in p.alerts), None)
    groups = rules.rule_groups(d, platform)
    group = next(g["name"] for g in groups if any(r.get("alert") == alert.name
                                                  for r in g["rules"]))
    return {
        "header": output.markdown_header().rstrip("\n"),
        "alert": alert,
        "dashboard": d,
        "team": d.team,
        "summary": readable(rules.fill_placeholders(alert.summary, alert)),
        "description": readable(rules.fill_placeholders(alert.description, alert)),
        "signal": signal_sentence(alert),
        "comparison_word": COMPARISON_WORDS[alert.comparison],
        "threshold": promql.format_number(alert.threshold),
        "threshold_human": rules.humanize_threshold(alert.threshold, alert.unit),
        "expression": promql.alert_expr(alert),
        "signal_expression": promql.signal_expr(alert),
        "window": alert.window or "instant (no range)",
        "hold": alert.for_,
        "fires_immediately": m.duration_seconds(alert.for_) == 0,
        "interval": alert.interval,
        "group": group,
        "rule_file": cv.rule_file_path(d.uid),
        "test_file": cv.alert_test_path(d.uid),
        "labels": {cv.LABEL_SEVERITY: alert.severity, cv.LABEL_TEAM: d.team,
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
        "route": route,
        "receivers": receivers,
        "notifies": any(r["name"] != cv.NULL_RECEIVER and not r["digest"] for r in receivers),
        "escalation": alertmanager.escalation_chain(platform, alert.severity),
        "paged_chain": next((alertmanager.escalation_chain(platform, s)
                             for s in platform.paged_severities()), []),
        "runbook_url": rules.runbook_url(alert, platform),
    }


def environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def runbook(template_text: str, d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> str:
    """The Markdown runbook of one alert."""
    text = environment().from_string(template_text).render(**context(d, alert, platform))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.rstrip("\n") + "\n"
