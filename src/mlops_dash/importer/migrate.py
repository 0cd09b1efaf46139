"""Legacy Grafana dashboards upgraded the way Grafana's own dashboard migration does.

Followed from grafana/grafana:
- ``public/app/features/dashboard/state/DashboardMigrator.ts``: ``upgradeToGridLayout``
  (schema < 16: ``rows`` with ``span``/``height`` → ``gridPos`` on a 24-column grid, row panels
  when a row is collapsed, repeated or shows its title; ``getGridHeight``: px / (30 + 8)
  rounded up, at least 90 px) and ``migrateSinglestat`` (``gauge.show`` → gauge, else stat);
- ``public/app/plugins/panel/timeseries/migrations.ts`` (``graphPanelChangedHandler`` →
  ``flotToGraphOptions``): the left y axis gives unit, decimals, min, max, log scale and label;
  ``bars``/``lines``/``points`` the draw style, ``stack`` the stacking, ``fill`` ×10 the fill
  opacity, the angular ``thresholds`` (op gt/lt, colorMode) the threshold steps;
- ``packages/grafana-ui/src/components/SingleStatShared/SingleStatBaseOptions.ts``
  (``migrateFromAngularSinglestat``, which ``sharedSingleStatPanelChangedHandler`` runs for an
  angular singlestat): ``format`` → unit, ``decimals``, ``nullText`` → ``noValue``,
  ``tableColumn`` → the reduce fields, the comma-separated ``thresholds`` with ``colors`` → one
  step per colour (base step the first), ``valueName`` → the reducer (``fieldReducers``: id or
  alias, else mean), value/range maps → mappings, ``gauge.minValue``/``maxValue``.
Only the parts the spec format (and the round trip) reads are migrated; the rest of a legacy
panel (series overrides, aliasColors, legend tables) is reported by the importer.
"""

from __future__ import annotations

import copy
import math
from typing import Any

GRID_COLUMN_COUNT = 24
GRID_CELL_HEIGHT = 30
GRID_CELL_VMARGIN = 8
MIN_PANEL_HEIGHT = GRID_CELL_HEIGHT * 3
DEFAULT_ROW_HEIGHT = 250
DEFAULT_PANEL_SPAN = 4
# packages/grafana-data/src/transformations/fieldReducer.ts (fieldReducers): the reducer ids and
# their aliasIds; migrateFromAngularSinglestat takes fieldReducers.getIfExists(valueName), else
# mean (so the singlestat's "name" and "last_time" become mean, as in Grafana)
REDUCER_IDS = frozenset({
    "lastNotNull", "last", "firstNotNull", "first", "min", "max", "mean", "variance", "stdDev",
    "sum", "count", "range", "delta", "step", "diff", "logmin", "allIsZero", "allIsNull",
    "changeCount", "distinctCount", "diffperc", "allValues", "uniqueValues"})
REDUCER_ALIASES = {"current": "lastNotNull", "avg": "mean", "total": "sum"}


def grid_height(height: Any) -> int:
    """DashboardMigrator.ts getGridHeight."""
    if isinstance(height, str):
        digits = "".join(c for c in height.replace("px", "") if c.isdigit())
        height = int(digits) if digits else DEFAULT_ROW_HEIGHT
    if not isinstance(height, int | float):
        height = DEFAULT_ROW_HEIGHT
    height = max(height, MIN_PANEL_HEIGHT)
    return math.ceil(height / (GRID_CELL_HEIGHT + GRID_CELL_VMARGIN))


class _RowArea:
    """DashboardMigrator.ts RowArea: the filled cells of one legacy row."""

    def __init__(self, height: int, y: int) -> None:
        self.area = [0] * GRID_COLUMN_COUNT
        self.y = y
        self.height = height

    def add(self, pos: dict[str, int]) -> None:
        for i in range(pos["x"], min(pos["x"] + pos["w"], GRID_COLUMN_COUNT)):
            bottom = pos["y"] + pos["h"] - self.y
            if not self.area[i] or bottom > self.area[i]:
                self.area[i] = bottom

    def place(self, width: int, once: bool = False) -> dict[str, int] | None:
        start = end = None
        for i in range(len(self.area) - 1, -1, -1):
            if self.height - self.area[i] > 0:
                if end is None:
                    end = i
                elif i < len(self.area) - 1 and self.area[i] <= self.area[i + 1]:
                    start = i
                else:
                    break
            else:
                break
        if start is not None and end is not None and end - start >= width - 1:
            return {"x": start, "y": max(self.area[start:])}
        if once:
            return None
        self.y += self.height
        self.area = [0] * GRID_COLUMN_COUNT
        return self.place(width, True)


def upgrade_to_grid_layout(old: dict[str, Any]) -> list[dict[str, Any]]:
    """Legacy ``rows`` → the flat ``panels`` list with gridPos (and row panels)."""
    rows = [r for r in old.get("rows") or [] if isinstance(r, dict)]
    ids = [p.get("id") for r in rows for p in r.get("panels") or []
           if isinstance(p, dict) and isinstance(p.get("id"), int)]
    next_row_id = (max(ids) if ids else 0) + 1
    show_rows = any(r.get("collapse") or r.get("showTitle") or r.get("repeat") for r in rows)
    panels: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        if row.get("repeatIteration"):
            continue
        row_h = grid_height(row.get("height") or DEFAULT_ROW_HEIGHT)
        row_panel: dict[str, Any] | None = None
        if show_rows:
            row_panel = {"id": next_row_id, "type": "row", "title": row.get("title", ""),
                         "collapsed": bool(row.get("collapse")), "panels": [],
                         "gridPos": {"x": 0, "y": y, "w": GRID_COLUMN_COUNT, "h": row_h}}
            if row.get("repeat"):
                row_panel["repeat"] = row["repeat"]
            next_row_id += 1
            y += 1
        area = _RowArea(row_h, y)
        for panel in row.get("panels") or []:
            if not isinstance(panel, dict):
                continue
            panel = copy.deepcopy(panel)
            span = panel.pop("span", None) or DEFAULT_PANEL_SPAN
            width = int(math.floor(float(span))) * (GRID_COLUMN_COUNT // 12)
            height = grid_height(panel["height"]) if panel.get("height") else row_h
            pos = area.place(width) or {"x": 0, "y": 0}
            y = area.y
            panel["gridPos"] = {"x": pos["x"], "y": y + pos["y"], "w": width, "h": height}
            area.add(panel["gridPos"])
            if row_panel is not None and row_panel["collapsed"]:
                row_panel["panels"].append(panel)
            else:
                panels.append(panel)
        if row_panel is not None:
            panels.append(row_panel)
        if not (row_panel is not None and row_panel["collapsed"]):
            y += row_h
    return panels


def _number(value: Any) -> float | int | None:
    """migrations.ts validNumber: numbers, and strings that read as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and value.strip():
        try:
            f = float(value)
        except ValueError:
            return None
        return int(f) if f.is_integer() else f
    return None


def _threshold_color(t: dict[str, Any]) -> str:
    mode = t.get("colorMode")
    if mode == "warning":
        return "orange"
    if mode == "custom":
        return str(t.get("fillColor") or t.get("lineColor") or "red")
    return "red"


def graph_thresholds(thresholds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """migrations.ts flotToGraphOptions: angular thresholds → absolute steps."""
    steps: list[dict[str, Any]] = []
    ts = sorted((t for t in thresholds if isinstance(t, dict) and _number(t.get("value"))
                 is not None), key=lambda t: _number(t.get("value")) or 0)
    for i, t in enumerate(ts):
        nxt = ts[i + 1] if i + 1 < len(ts) else None
        value = _number(t.get("value"))
        if t.get("op") == "gt":
            steps.append({"value": value, "color": _threshold_color(t)})
        if t.get("op") == "lt":
            if not steps:
                steps.append({"value": None, "color": _threshold_color(t)})
            if nxt and nxt.get("op") == "lt":
                steps.append({"value": value, "color": _threshold_color(nxt)})
            else:
                steps.append({"value": value, "color": "transparent"})
    if steps and steps[0]["value"] is not None:
        steps.insert(0, {"value": None, "color": "transparent"})
    return steps


def graph_to_timeseries(panel: dict[str, Any]) -> dict[str, Any]:
    """A legacy ``graph`` panel as the ``timeseries`` panel Grafana turns it into."""
    out = {k: v for k, v in panel.items() if k not in (
        "yaxes", "xaxis", "lines", "bars", "points", "stack", "fill", "linewidth", "legend",
        "thresholds", "nullPointMode", "percentage", "steppedLine", "tooltip", "aliasColors",
        "seriesOverrides", "dashes", "fillGradient", "pointradius", "renderer", "spaceLength",
        "dashLength", "timeShift", "yaxis", "hiddenSeries", "options", "grid", "span")}
    if panel.get("seriesOverrides"):
        out["seriesOverrides"] = panel["seriesOverrides"]  # reported by the importer
    out["type"] = "timeseries"
    yaxes = panel.get("yaxes") or []
    y1 = yaxes[0] if yaxes and isinstance(yaxes[0], dict) else {}
    defaults: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    if y1:
        custom["axisPlacement"] = "auto" if y1.get("show", True) else "hidden"
        if y1.get("label"):
            custom["axisLabel"] = y1["label"]
        if y1.get("logBase") in (2, 10):
            custom["scaleDistribution"] = {"type": "log", "log": y1["logBase"]}
        if y1.get("format"):
            defaults["unit"] = y1["format"]
        for key in ("decimals", "min", "max"):
            if _number(y1.get(key)) is not None:
                defaults[key] = _number(y1.get(key))
    custom["drawStyle"] = ("bars" if panel.get("bars") else
                           "line" if panel.get("lines", True) else "points")
    if panel.get("stack"):
        custom["stacking"] = {"mode": "normal", "group": "A"}
    if isinstance(panel.get("fill"), int | float):
        custom["fillOpacity"] = panel["fill"] * 10
    if custom["drawStyle"] == "bars":
        custom["fillOpacity"] = 100
    defaults["custom"] = custom
    thresholds = panel.get("thresholds")
    if isinstance(thresholds, list) and thresholds:
        steps = graph_thresholds(thresholds)
        if steps:
            defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    out["fieldConfig"] = {"defaults": defaults, "overrides": []}
    return out


def singlestat_to_stat(panel: dict[str, Any]) -> dict[str, Any]:
    """A legacy ``singlestat`` as the ``stat`` (or, with ``gauge.show``, ``gauge``) panel."""
    gauge = panel.get("gauge") if isinstance(panel.get("gauge"), dict) else {}
    out = {k: v for k, v in panel.items() if k not in (
        "format", "decimals", "thresholds", "colors", "valueName", "gauge", "sparkline",
        "colorBackground", "colorValue", "prefix", "postfix", "valueMaps", "mappingType",
        "mappingTypes", "rangeMaps", "nullPointMode", "nullText", "valueFontSize",
        "prefixFontSize", "postfixFontSize", "tableColumn", "colorPostfix", "colorPrefix",
        "options", "span", "cacheTimeout", "interval")}
    out["type"] = "gauge" if gauge.get("show") else "stat"
    defaults: dict[str, Any] = {}
    if panel.get("format"):
        defaults["unit"] = panel["format"]
    if _number(panel.get("decimals")) is not None:
        defaults["decimals"] = _number(panel.get("decimals"))
    # "Convert thresholds and color values": only with both, one step per colour (the first
    # the base), each later one at the threshold before it
    raw, colors = panel.get("thresholds"), panel.get("colors")
    if isinstance(raw, str) and raw.strip() and isinstance(colors, list) and colors:
        levels = [_number(v.strip()) for v in raw.split(",")]
        steps: list[dict[str, Any]] = []
        for color in colors:
            idx = len(steps) - 1
            if idx < 0:
                steps.append({"value": None, "color": color})
            elif idx < len(levels) and levels[idx] is not None:
                steps.append({"value": levels[idx], "color": color})
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    if panel.get("nullText"):
        defaults["noValue"] = panel["nullText"]
    # convertOldAngularValueMappings: kept as written, the importer reports them by name
    maps = [m for key in ("valueMaps", "rangeMaps") for m in panel.get(key) or []]
    if maps:
        defaults["mappings"] = maps
    if gauge.get("show"):
        for key, src in (("min", "minValue"), ("max", "maxValue")):
            if _number(gauge.get(src)) is not None:
                defaults[key] = _number(gauge.get(src))
    out["fieldConfig"] = {"defaults": defaults, "overrides": []}
    name = str(panel.get("valueName") or "")
    reducer = name if name in REDUCER_IDS else REDUCER_ALIASES.get(name, "mean")
    fields = f"/^{panel['tableColumn']}$/" if panel.get("tableColumn") else ""
    out["options"] = {"reduceOptions": {"calcs": [reducer], "fields": fields, "values": False}}
    return out


def _panel(panel: dict[str, Any]) -> dict[str, Any]:
    t = panel.get("type")
    if t == "graph":
        panel = graph_to_timeseries(panel)
    elif t == "singlestat":
        panel = singlestat_to_stat(panel)
    if isinstance(panel.get("panels"), list):
        panel = {**panel, "panels": [_panel(p) for p in panel["panels"] if isinstance(p, dict)]}
    return panel


def migrate(dash: dict[str, Any]) -> dict[str, Any]:
    """The dashboard as Grafana's migration leaves it (for the parts the importer reads)."""
    out = copy.deepcopy(dash)
    if isinstance(out.get("rows"), list) and not out.get("panels"):
        out["panels"] = upgrade_to_grid_layout(out)
    out.pop("rows", None)
    out["panels"] = [_panel(p) for p in out.get("panels") or [] if isinstance(p, dict)]
    return out


def is_legacy_panel(panel: dict[str, Any]) -> bool:
    return panel.get("type") in ("graph", "singlestat")
