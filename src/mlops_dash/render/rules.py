"""Spec recording rules and alerts → Prometheus rule groups, wrapped twice (plain file, CRD)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.spec import models as m


def variable_labels(d: m.Dashboard) -> dict[str, str]:
    """Dashboard variable name → the series label whose values it lists."""
    out = {}
    for v in d.variables:
        if v.regex:  # a mapped variable's values are not the label's values
            continue
        parts = promql.label_values_parts(v.query)
        if parts is not None:
            out[v.name] = parts[1]
    return out


def alert_labels(alert: m.Alert) -> list[str]:
    """Labels that identify one instance of an alert (the signal's ``by``)."""
    return list(alert.signal.by)


def panel_link(d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> str:
    """Deep link to the panel that shows the alert's signal, variables filled from its labels."""
    index = next(i for i, p in enumerate(d.panels) if p.id == alert.panel)
    url = cv.dashboard_url(platform.grafana_url, d.uid, cv.slugify(d.title))
    params = [f"viewPanel=panel-{cv.panel_numeric_id(index)}"]
    by = alert_labels(alert)
    for var, label in variable_labels(d).items():
        if label in by:
            params.append(f"var-{quote(var)}={{{{ $labels.{label} }}}}")
    return f"{url}?{'&'.join(params)}"


def runbook_url(alert: m.Alert, platform: m.Platform) -> str:
    """Where the alert's generated runbook is published."""
    return cv.runbook_url(platform.runbook_base_url, alert.name)


def humanize_threshold(value: float, unit: str) -> str:
    """A threshold as a person reads it, in the signal's unit (``0.1`` percentunit → ``10%``)."""
    if unit == "percentunit":
        return f"{value * 100:g}%"
    if unit == "percent":
        return f"{value:g}%"
    if unit == "bytes":
        for factor, suffix in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(value) >= factor:
                return f"{value / factor:g} {suffix}"
        return f"{value:g} B"
    if unit == "s":
        for factor, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
            if value >= factor and value % factor == 0:
                return f"{value / factor:g}{suffix}"
        return f"{value:g}s"
    if unit in ("ms", "m", "h"):
        return f"{value:g} {unit}"
    if unit == "currencyUSD":
        return f"${value:,.2f}"
    return f"{value:g}"


def fill_placeholders(text: str, alert: m.Alert) -> str:
    """Replace ``${threshold}``, ``${window}`` and ``${for}`` with the alert's own fields."""
    return (
        text.replace("${threshold}", "" if alert.threshold is None
                     else humanize_threshold(alert.threshold, alert.unit))
        .replace("${window}", alert.window or "")
        .replace("${for}", alert.for_)
    )


def alert_rule(d: m.Dashboard, alert: m.Alert, platform: m.Platform) -> dict[str, Any]:
    """One alerting rule."""
    labels = {
        cv.LABEL_SEVERITY: alert.severity,
        cv.LABEL_TEAM: d.alert_team(alert),
        cv.LABEL_DASHBOARD: d.uid,
        **alert.labels,
    }
    annotations = {
        **alert.annotations,
        "summary": fill_placeholders(alert.summary, alert),
        "description": fill_placeholders(alert.description, alert),
        "runbook_url": alert.runbook_url or runbook_url(alert, platform),
        "dashboard_url": panel_link(d, alert, platform),
    }
    rule: dict[str, Any] = {"alert": alert.name, "expr": promql.alert_expr(alert)}
    if alert.for_ not in ("0m", "0s", "0h"):
        rule["for"] = alert.for_
    rule["labels"] = dict(sorted(labels.items()))
    rule["annotations"] = dict(sorted(annotations.items()))
    return rule


def recording_rule(rule: m.RecordingRule) -> dict[str, Any]:
    out: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
    if rule.labels:
        out["labels"] = dict(sorted(rule.labels.items()))
    return out


def alert_group_name(d: m.Dashboard, alert: m.Alert) -> str:
    """The rule group :func:`rule_groups` puts ``alert`` in: the one of its interval."""
    return cv.rule_group_name(d.uid, alert.interval)


def rule_groups(d: m.Dashboard, platform: m.Platform) -> list[dict[str, Any]]:
    """The rule groups of a dashboard: one per evaluation interval, records before alerts,
    then two groups per SLO (render/slo.py)."""
    intervals: list[str] = []
    for r in d.recording_rules:
        if r.interval not in intervals:
            intervals.append(r.interval)
    for a in d.alerts:
        if a.interval not in intervals:
            intervals.append(a.interval)
    intervals.sort(key=m.duration_seconds)
    groups = []
    for interval in intervals:
        rules = [recording_rule(r) for r in d.recording_rules if r.interval == interval]
        rules += [alert_rule(d, a, platform) for a in d.alerts if a.interval == interval]
        groups.append({
            "name": cv.rule_group_name(d.uid, interval),  # alert_group_name of its alerts
            "interval": interval,
            "rules": rules,
        })
    from mlops_dash.render import slo  # slo.py uses this module's helpers

    return groups + slo.rule_groups(d, platform)


def rule_file(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Plain Prometheus rule file (promtool, Thanos/Mimir/Cortex rulers)."""
    return {"groups": groups}


def prometheus_rule(d: m.Dashboard, groups: list[dict[str, Any]],
                    platform: m.Platform) -> dict[str, Any]:
    """The same groups as a prometheus-operator ``PrometheusRule`` manifest."""
    labels = {"app.kubernetes.io/managed-by": "mlops-dash", "app.kubernetes.io/part-of":
              platform.name, **platform.prometheus_rule_labels}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": d.uid,
            "namespace": platform.kubernetes_namespace,
            "labels": dict(sorted(labels.items())),
        },
        "spec": {"groups": groups},
    }
