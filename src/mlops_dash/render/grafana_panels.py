"""Grafana 12 JSON of rows, text, alert list, annotations list and logs panels, the grid layout
with rows, and the ``raw`` escape hatch merged into a rendered panel. Pure: spec models in, JSON
dicts out.

Rows follow Grafana's classic (schema v1) dashboard model (grafana-foundation-sdk
``dashboard.jsonschema.json`` ``RowPanel``; Grafana ``DashboardModel.toggleRow``): a row is a
full-width, one-unit-high panel; the panels after it up to the next row are its panels. An
expanded row is followed by them in the dashboard's ``panels`` (its own ``panels`` is ``[]``); a
collapsed row carries them in its ``panels`` with the grid positions they take when it is
opened (just below the row), and the next row follows it directly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.spec import models as m
from mlops_dash.spec.panels import DATA_KINDS

GRID_WIDTH = 24
ROW_HEIGHT = 1


def layout(panels: list[m.Panel]) -> list[dict[str, int]]:
    """Grid positions: panels flow left to right in lines 24 units wide, in spec order; a row
    starts a new line and takes one; a collapsed row's panels are placed below it as when it
    is opened, and what follows the collapsed row starts right under it."""
    out = []
    x = y = line_h = 0
    collapsed_at: int | None = None  # y of the line under the collapsed row being filled
    for p in panels:
        if p.type == "row":
            if collapsed_at is not None:
                y, collapsed_at = collapsed_at, None
            else:
                y += line_h
            x, line_h = 0, 0
            out.append({"x": 0, "y": y, "w": GRID_WIDTH, "h": ROW_HEIGHT})
            y += ROW_HEIGHT
            if p.collapsed:
                collapsed_at = y
            continue
        if x + p.width > GRID_WIDTH:
            x, y, line_h = 0, y + line_h, 0
        out.append({"x": x, "y": y, "w": p.width, "h": p.height})
        x += p.width
        line_h = max(line_h, p.height)
    return out


def is_data_kind(panel: m.Panel) -> bool:
    """The data kinds (and alert history) are built by render/grafana.py, the others here."""
    return panel.type in DATA_KINDS


def ds_loki() -> dict[str, str]:
    return {"type": "loki", "uid": f"${{{cv.LOKI_VAR}}}"}


def render_other(panel: m.Panel, index: int, grid: dict[str, int],
                 links: list[dict[str, Any]]) -> dict[str, Any]:
    """A row, text, alert list, annotations list or logs panel (without its raw part)."""
    pid = cv.panel_numeric_id(index)
    if panel.type == "row":
        return {"type": "row", "id": pid, "title": panel.title, "collapsed": panel.collapsed,
                "gridPos": dict(grid), "panels": []}
    out: dict[str, Any] = {"type": panel.type, "id": pid, "title": panel.title,
                           "description": panel.description, "gridPos": dict(grid),
                           "links": links}
    if panel.type == "text":
        out["options"] = {"mode": "markdown", "content": panel.content,
                          "code": {"language": "plaintext", "showLineNumbers": False,
                                   "showMiniMap": False}}
    elif panel.type == "alertlist":
        out["options"] = dict(ALERTLIST_OPTIONS, stateFilter=dict(_ALERT_STATES))
    elif panel.type == "annolist":
        out["options"] = dict(ANNOLIST_OPTIONS, tags=[])
    elif panel.type == "logs":
        out["datasource"] = ds_loki()
        out["targets"] = [
            {"datasource": ds_loki(), "expr": q.expr, "refId": chr(ord("A") + i),
             "queryType": "range", "editorMode": "code", "hide": q.hide}
            for i, q in enumerate(panel.queries)]
        if panel.time_from is not None:
            out["timeFrom"] = panel.time_from
        out["options"] = dict(LOGS_OPTIONS)
    else:
        raise AssertionError(panel.type)
    out["fieldConfig"] = {"defaults": {}, "overrides": []}
    return out


# Grafana's alert list panel (unified alerting): every option of UnifiedAlertListOptions
# (grafana/grafana public/app/plugins/panel/alertlist/types.ts), with the panel's defaults
# (module.tsx): list view, alert rules of every datasource, firing and pending ones.
_ALERT_STATES = {"firing": True, "pending": True, "recovering": True, "noData": False,
                 "normal": False, "error": True}
ALERTLIST_OPTIONS: dict[str, Any] = {
    "viewMode": "list", "groupMode": "default", "groupBy": [], "maxItems": 20, "sortOrder": 1,
    "dashboardAlerts": False, "alertName": "", "alertInstanceLabelFilter": "",
    "showInstances": False, "showInactiveAlerts": False, "datasource": "",
    "folder": {"uid": "", "title": ""},
}
# The annotations list: the ten options its schema requires, with the schema's defaults
# (grafana-foundation-sdk annotationslist.jsonschema.json; `tags` has none: Grafana's is []).
ANNOLIST_OPTIONS: dict[str, Any] = {
    "onlyFromThisDashboard": False, "onlyInTimeRange": False, "limit": 10, "showUser": True,
    "showTime": True, "showTags": True, "navigateToPanel": True, "navigateBefore": "10m",
    "navigateAfter": "10m",
}
LOGS_OPTIONS: dict[str, Any] = {
    "showTime": True, "showLabels": False, "showCommonLabels": False, "wrapLogMessage": True,
    "prettifyLogMessage": False, "enableLogDetails": True, "enableInfiniteScrolling": False,
    "showLogContextToggle": False, "dedupStrategy": "none", "sortOrder": "Descending",
}


def merge_raw(rendered: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` over the rendered panel: mappings merge key by key, every other value (a list,
    a number, a string) replaces the rendered one."""
    out = copy.deepcopy(rendered)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_raw(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def nest_rows(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dashboard's panel list: a collapsed row takes the panels after it (up to the next
    row) into its ``panels``; an expanded row is followed by them."""
    out: list[dict[str, Any]] = []
    holder: dict[str, Any] | None = None
    for p in panels:
        if p["type"] == "row":
            holder = p if p["collapsed"] else None
            out.append(p)
        elif holder is not None:
            holder["panels"].append(p)
        else:
            out.append(p)
    return out


# Panel JSON keys the spec renders itself: `raw` cannot replace them (set the spec field)
RAW_OWNED = ("id", "type", "title", "description", "gridPos", "targets", "datasource", "panels",
             "collapsed", "links", "timeFrom")


def raw_problems(d: m.Dashboard, dashboard_json: dict[str, Any]
                 ) -> list[tuple[tuple[str | int, ...], str]]:
    """(spec field path, message) for each problem of a panel's ``raw`` part: a key the spec
    renders itself, or a merged panel the Grafana 12 schemas refuse (the dashboard schema's
    Panel definition, the panel type's options/fieldConfig schema), placed at the raw field
    that causes it."""
    from mlops_dash.lint.schemas import raw_errors

    by_id = {p["id"]: p for p in dashboard_json["panels"]}
    for row in dashboard_json["panels"]:
        by_id.update({p["id"]: p for p in row.get("panels", [])})
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, panel in enumerate(d.panels):
        if panel.raw is None:
            continue
        base: tuple[str | int, ...] = ("panels", i, "raw")
        owned = [k for k in panel.raw if k in RAW_OWNED]
        for key in owned:
            out.append(((*base, key), f"{key!r} is rendered from the panel's own fields; set "
                        "it there, not in raw"))
        not_finite = list(_not_finite(panel.raw, ()))
        for path in not_finite:
            out.append(((*base, *path), "not a finite number: JSON (and Grafana) has no NaN "
                        "or infinity"))
        if owned or not_finite:
            continue
        for path, message in raw_errors(by_id[cv.panel_numeric_id(i)]):
            out.append(((*base, *_within(panel.raw, path)),
                        f"the Grafana 12 schema of a {panel.type} panel refuses it: {message}"))
    return out


def _not_finite(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _not_finite(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _not_finite(v, (*path, i))


def _within(raw: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The longest start of ``path`` that ``raw`` holds (the raw value behind the problem)."""
    held: list[str | int] = []
    node = raw
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
        held.append(part)
    return tuple(held)
