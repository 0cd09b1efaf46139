"""Spec dashboards → Grafana 12 dashboard JSON.

The dashboard is built as plain data, in the shape Grafana 12's schema takes (no nulls, no
legacy keys such as ``rows``/``style``/``span``, the options each panel type's schema requires),
so the output imports without migrations. (grafanalib built the data kinds' panels until issue
18: its import alone cost a build more than the rest of rendering a small spec set, and every
key of its output was then removed or rewritten; the bytes written are unchanged.)
"""

from __future__ import annotations

from typing import Any

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.promql import format_number
from mlops_dash.render import grafana_panels as gp
from mlops_dash.render.grafana_options import custom_field_config, panel_options
from mlops_dash.render.grafana_panels import layout  # noqa: F401 - re-exported
from mlops_dash.spec import models as m
from mlops_dash.spec.expand import expand_links

DS_PROM = {"type": "prometheus", "uid": "${%s}" % cv.DATASOURCE_VAR}


def _ds_warehouse(platform: m.Platform) -> dict[str, str]:
    return {"type": platform.datasources.warehouse.type, "uid": "${%s}" % cv.WAREHOUSE_VAR}


def _thresholds(panel: m.Panel, alerts: list[m.Alert]) -> list[dict[str, Any]]:
    """Threshold steps: the base step, then each alert's threshold (from the same spec field)."""
    steps: list[dict[str, Any]] = []
    values: list[tuple[float, str]] = [(t.value, t.color) for t in panel.thresholds]
    alerts = [a for a in alerts if a.threshold is not None]  # a raw alert may have none
    for a in alerts:
        color = {"critical": "red", "warning": "orange", "info": "blue"}[a.severity]
        values.append((a.threshold, color))
    below = all(a.comparison in ("<", "<=") for a in alerts) and bool(alerts)
    base = "red" if below else "green"
    steps.append({"color": base, "value": None})
    for value, color in sorted(set(values)):
        steps.append({"color": "green" if below else color, "value": value})
    return steps


def _targets(panel: m.Panel, platform: m.Platform) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for i, q in enumerate(panel.queries):
        ref = chr(ord("A") + i)
        if q.datasource == "warehouse":
            targets.append({"datasource": _ds_warehouse(platform), "rawSql": q.expr,
                            "format": q.format, "refId": ref, "rawQuery": True,
                            "editorMode": "code"})
        else:
            targets.append(_prom_target(q.expr, q.legend, ref, q.format, q.instant, q.hide))
    return targets


def _prom_target(expr: str, legend: str | None, ref: str, fmt: str = "time_series",
                 instant: bool = False, hide: bool = False) -> dict[str, Any]:
    return {"datasource": dict(DS_PROM), "expr": expr, "legendFormat": legend, "refId": ref,
            "format": fmt, "instant": instant, "range": not instant, "hide": hide,
            "editorMode": "code"}


# Alert history: ALERTS is 1 in both states, so the state is encoded in the value (pending 1,
# firing 2) and named in the legend; the value mapping colours and names each state.
ALERT_STATE_VALUES = {"pending": 1, "firing": 2}
_ALERT_STATE_COLORS = {"pending": "orange", "firing": "red"}


def alert_history_expr(alerts: list[str]) -> str:
    names = "|".join(alerts)
    terms = []
    for state, value in ALERT_STATE_VALUES.items():
        term = (f'max by (alertname, alertstate, severity) '
                f'(ALERTS{{alertname=~"{names}", alertstate="{state}"}})')
        terms.append(term if value == 1 else f"{term} * {value}")
    return " or ".join(reversed(terms))


def _alert_history_target(panel: m.Panel) -> dict[str, Any]:
    return _prom_target(alert_history_expr(panel.alerts),
                        "{{alertname}} ({{severity}}) {{alertstate}}", "A")


def _variables(d: m.Dashboard, platform: m.Platform) -> list[dict[str, Any]]:
    prom = platform.datasources.prometheus
    wh = platform.datasources.warehouse
    out: list[dict[str, Any]] = [
        {"name": cv.DATASOURCE_VAR, "label": "Prometheus", "type": "datasource",
         "query": prom.type, "regex": prom.regex,
         "current": {"text": prom.default, "value": prom.default}, "hide": 0},
    ]
    if any(q.datasource == "warehouse" for p in d.panels for q in p.queries):
        out.append({"name": cv.WAREHOUSE_VAR, "label": "Warehouse", "type": "datasource",
                    "query": wh.type, "regex": wh.regex,
                    "current": {"text": wh.default, "value": wh.default}, "hide": 0})
    loki = platform.datasources.loki
    if loki is not None and any(q.datasource == "loki" for p in d.panels for q in p.queries):
        out.append({"name": cv.LOKI_VAR, "label": "Loki", "type": "datasource",
                    "query": loki.type, "regex": loki.regex,
                    "current": {"text": loki.default, "value": loki.default}, "hide": 0})
    for v in d.variables:
        current = {"text": "All" if v.default == "$__all" else v.default,
                   "value": [v.default] if v.multi else v.default}
        out.append({
            "name": v.name, "label": v.label or v.name, "type": "query",
            "datasource": dict(DS_PROM),
            "query": v.query,
            "definition": v.query, "refresh": 2, "sort": 1,
            "multi": v.multi, "includeAll": v.include_all,
            "current": current, "hide": 2 if v.hide else 0, "options": [], "regex": v.regex,
        })
    return out


def _annotations(d: m.Dashboard) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts", "type": "dashboard",
    }]
    for a in d.annotations:
        if a.expr is not None:
            ann = {"name": a.name, "datasource": dict(DS_PROM), "enable": True,
                   "iconColor": a.color, "expr": a.expr, "titleFormat": a.title,
                   "textFormat": a.text, "step": "1m", "hide": False}
            if a.panels:
                ids = {p.id: cv.panel_numeric_id(i) for i, p in enumerate(d.panels)}
                ann["filter"] = {"exclude": False, "ids": [ids[p] for p in a.panels]}
            out.append(ann)
        else:
            out.append({"name": a.name, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True, "iconColor": a.color, "hide": False,
                        "target": {"type": "tags", "tags": list(a.tags), "limit": 100,
                                   "matchAny": True}})
    return out + _info_alert_annotations(d)


def _info_alert_annotations(d: m.Dashboard) -> list[dict[str, Any]]:
    """Info alerts are for the stand-up, not a receiver: each is an annotation on the panel
    that shows its signal, so the regions it fired in are visible where it is read."""
    ids = {p.id: cv.panel_numeric_id(i) for i, p in enumerate(d.panels)}
    return [{
        "name": f"{a.name} (info alert)", "datasource": dict(DS_PROM), "enable": True,
        "iconColor": "blue", "expr": f'ALERTS{{alertname="{a.name}", alertstate="firing"}}',
        "titleFormat": f"{a.name} (info)", "textFormat": a.action, "step": "1m",
        "hide": False, "filter": {"exclude": False, "ids": [ids[a.panel]]},
    } for a in d.alerts if a.severity == "info"]


def _links(d: m.Dashboard, platform: m.Platform, titles: dict[str, str]) -> list[dict[str, Any]]:
    return link_list(d.links, platform, titles, d.uid)


def link_list(links: list[m.Link], platform: m.Platform, titles: dict[str, str],
              own: str = "") -> list[dict[str, Any]]:
    """Dashboard or panel links (the same DashboardLink shape in Grafana 12); an
    ``all_dashboards`` link is one link per other dashboard (``titles`` in file order)."""
    if not links:
        return []
    by_title = {link.title: link for link in platform.links}
    out = []
    for link in expand_links(links, own, titles.keys()):
        if link.dashboard is not None:
            title = titles[link.dashboard]
            url = cv.dashboard_url(platform.grafana_url, link.dashboard, cv.slugify(title))
            out.append({"title": title, "type": "link", "url": url, "icon": "dashboard",
                        "tooltip": f"{title} dashboard", "tags": [], "asDropdown": False,
                        "targetBlank": False, "includeVars": False, "keepTime": True})
        else:
            ext = by_title[link.platform_link or ""]
            out.append({"title": ext.title, "type": "link", "url": ext.url, "icon": ext.icon,
                        "tooltip": ext.tooltip or ext.title, "tags": [], "asDropdown": False,
                        "targetBlank": True, "includeVars": False, "keepTime": False})
    return out


# ----------------------------------------------------------------------------- cleaning

def _drop_nulls(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) if isinstance(v, (dict, list)) else v
                for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) if isinstance(v, (dict, list)) else v for v in obj]
    return obj


def _panel(panel: m.Panel, index: int, grid: dict[str, int], alerts: list[m.Alert],
           links: list[dict[str, Any]], platform: m.Platform) -> dict[str, Any]:
    """A panel of a data kind (or alert history), with the options its type's schema needs."""
    targets = ([_alert_history_target(panel)] if panel.type == "alert-history"
               else _targets(panel, platform))
    p: dict[str, Any] = {
        "id": cv.panel_numeric_id(index), "title": panel.title,
        "description": panel.description, "transparent": False, "gridPos": dict(grid),
        "targets": targets,
    }
    p["datasource"] = dict(DS_PROM) if all("expr" in t for t in targets) else {
        "type": "datasource", "uid": "-- Mixed --"}
    p["links"] = links
    p["transformations"] = []
    if panel.type == "table" and all(q.format == "table" for q in panel.queries):
        # label columns only: the sample time and the 0/1 value of ALERTS say nothing
        p["transformations"] = [{"id": "organize", "options": {
            "excludeByName": {"Time": True, "Value": True}}}]
    if panel.time_from is not None:
        p["timeFrom"] = panel.time_from
    p["type"] = "state-timeline" if panel.type == "alert-history" else panel.type
    unit = "short" if panel.type == "alert-history" else panel.unit
    line = panel.type == "timeseries" and bool(
        [a for a in alerts if a.threshold is not None] or panel.thresholds)
    defaults: dict[str, Any] = {
        "unit": unit,
        "color": {"mode": "thresholds" if panel.type in ("stat", "gauge")
                  else "palette-classic"},
        "mappings": [],
        "thresholds": {"mode": "absolute", "steps": _thresholds(panel, alerts)},
        "custom": custom_field_config(panel, line),
    }
    if panel.type == "alert-history":
        defaults["color"] = {"mode": "fixed", "fixedColor": "red"}
        defaults["mappings"] = [{"type": "value", "options": {
            str(value): {"text": state, "color": _ALERT_STATE_COLORS[state], "index": i}
            for i, (state, value) in enumerate(ALERT_STATE_VALUES.items())}}]
    for key in ("min", "max", "decimals"):
        value = getattr(panel, key)
        if value is not None:
            defaults[key] = value
    p["fieldConfig"] = {"defaults": defaults, "overrides": _unit_overrides(panel)}
    p["options"] = panel_options(panel)
    return p


def _unit_overrides(panel: m.Panel) -> list[dict[str, Any]]:
    """Per-series units: a query whose unit differs from the panel's gets its own unit and, on
    time series, the right-hand axis (Grafana draws one axis per unit). Matched by display name
    (``byRegexpOrNames``, options an object as the Grafana 12 schema requires)."""
    out = []
    for q in panel.queries:
        if q.unit is None or q.unit == panel.unit:
            continue
        props: list[dict[str, Any]] = [{"id": "unit", "value": q.unit}]
        if panel.type == "timeseries":
            props.append({"id": "custom.axisPlacement", "value": "right"})
        out.append({"matcher": {"id": "byRegexpOrNames",
                                "options": {"pattern": cv.legend_pattern(q.legend)}},
                    "properties": props})
    return out


def render_dashboard(d: m.Dashboard, platform: m.Platform,
                     titles: dict[str, str]) -> dict[str, Any]:
    """One dashboard spec → Grafana dashboard JSON (a dict), schema-valid for Grafana 12."""
    return render_dashboard_agreed(d, platform, titles)[0]


def render_dashboard_agreed(d: m.Dashboard, platform: m.Platform, titles: dict[str, str]
                            ) -> tuple[dict[str, Any], bool]:
    """render_dashboard, and whether orjson writes it as json does (output.dump_json's
    ``agreed``), found in the walk that drops its nulls."""
    alerts_by_panel: dict[str, list[m.Alert]] = {}
    for a in d.alerts:
        alerts_by_panel.setdefault(a.panel, []).append(a)
    grid = gp.layout(d.panels)
    out: dict[str, Any] = {
        "uid": d.uid, "title": d.title, "description": d.description, "tags": sorted(d.tags),
        "timezone": "browser", "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "time": {"from": d.time_from, "to": "now"}, "refresh": d.refresh,
        "schemaVersion": cv.DASHBOARD_SCHEMA_VERSION, "version": 1,
        "timepicker": {"refresh_intervals": ["30s", "1m", "5m", "15m", "30m", "1h"]},
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
    }
    rendered = []
    for i, p in enumerate(d.panels):
        links = link_list(p.links, platform, titles, d.uid)
        if gp.is_data_kind(p):
            one = _panel(p, i, grid[i], alerts_by_panel.get(p.id, []), links, platform)
        else:
            one = _drop_nulls(gp.render_other(p, i, grid[i], links))
        rendered.append(one if p.raw is None else gp.merge_raw(one, p.raw))
    out["panels"] = rendered
    out["templating"] = {"list": _variables(d, platform)}
    out["annotations"] = {"list": _annotations(d)}
    out["links"] = _links(d, platform, titles)
    return _drop_nulls_except_thresholds(out)


def _drop_nulls_except_thresholds(dash: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Remove nulls everywhere but the base threshold step, whose null value means -Infinity;
    and whether orjson writes the result as json does (output.scan_json: the same walk). A
    part without nulls stays as it is (the render builds every part anew): looking is faster
    than copying, and most panels hold none."""
    panels = dash.pop("panels")
    null, agrees = output.scan_json(dash)
    clean = _drop_nulls(dash) if null else dash
    out_panels = []
    for p in panels:
        thresholds = p.get("fieldConfig", {}).get("defaults", {}).get("thresholds")
        steps = thresholds.get("steps") if isinstance(thresholds, dict) else None
        if steps is not None:
            thresholds["steps"] = []  # set aside: its nulls stay
            agrees = agrees and output.scan_json(steps)[1]
        null, plain = output.scan_json(p)
        agrees = agrees and plain
        if null:
            p = _drop_nulls(p)
        if steps is not None:
            p["fieldConfig"]["defaults"]["thresholds"]["steps"] = steps
        out_panels.append(p)
    clean["panels"] = gp.nest_rows(out_panels)
    return clean, agrees


def panel_threshold_values(dashboard_json: dict[str, Any], panel_id: int) -> list[str]:
    """Threshold values drawn on a panel, formatted as in alert expressions (for tests/lint)."""
    for p in all_panels(dashboard_json):
        if p["id"] == panel_id:
            return [format_number(s["value"]) for s in
                    p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]
    return []


def all_panels(dashboard_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard JSON: the top-level ones, and the panels of collapsed rows
    after their row."""
    out = []
    for p in dashboard_json.get("panels", []):
        out.append(p)
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
    return out
