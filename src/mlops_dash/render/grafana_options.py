"""Options and custom field config of the data kinds (timeseries, stat, gauge, piechart, heatmap,
bar gauge, table, state timeline, alert history): every field each type's Grafana 12 schema
requires, written explicitly so the output imports without migrations."""

from __future__ import annotations

from typing import Any

from mlops_dash.spec import models as m


def _legend(placement: str = "bottom") -> dict[str, Any]:
    return {"calcs": [], "displayMode": "list", "placement": placement, "showLegend": True}


_TOOLTIP = {"mode": "multi", "sort": "desc"}


def _reduce() -> dict[str, Any]:
    return {"calcs": ["lastNotNull"], "fields": "", "values": False}


def custom_field_config(panel: m.Panel, has_threshold_line: bool) -> dict[str, Any]:
    if panel.type == "timeseries":
        custom: dict[str, Any] = {
            "drawStyle": "bars" if panel.bars else "line",
            "lineWidth": 1, "fillOpacity": 80 if panel.bars else 10,
            "gradientMode": "none", "showPoints": "never", "pointSize": 4,
            "lineInterpolation": "linear", "spanNulls": False, "axisPlacement": "auto",
            "axisLabel": "", "barAlignment": 0,
            "scaleDistribution": ({"type": "log", "log": 10} if panel.log_scale
                                  else {"type": "linear"}),
            "stacking": {"mode": "normal" if panel.stacking else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if has_threshold_line else "off"},
            "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        }
        return custom
    if panel.type in ("alert-history", "state-timeline"):
        return {"lineWidth": 0, "fillOpacity": 80, "spanNulls": False,
                "hideFrom": {"legend": False, "tooltip": False, "viz": False}}
    if panel.type == "heatmap":
        return {"scaleDistribution": {"type": "linear"},
                "hideFrom": {"legend": False, "tooltip": False, "viz": False}}
    if panel.type == "piechart":
        return {"hideFrom": {"legend": False, "tooltip": False, "viz": False}}
    if panel.type == "table":
        return {"align": "auto", "inspect": False}
    return {}


def panel_options(panel: m.Panel) -> dict[str, Any]:
    t = panel.type
    if t == "timeseries":
        return {"legend": _legend(), "tooltip": dict(_TOOLTIP)}
    if t in ("alert-history", "state-timeline"):
        return {"showValue": "never", "rowHeight": 0.8, "mergeValues": True, "alignValue": "left",
                "legend": _legend(), "tooltip": dict(_TOOLTIP)}
    if t == "stat":
        return {"graphMode": "area", "colorMode": "background", "justifyMode": "auto",
                "textMode": "value_and_name", "wideLayout": True, "showPercentChange": False,
                "reduceOptions": _reduce(), "percentChangeColorMode": "standard",
                "orientation": "auto"}
    if t == "gauge":
        # the gauge schema requires the sizing fields too (Grafana's defaults: auto, 75, 75)
        return {"reduceOptions": _reduce(), "orientation": "auto",
                "showThresholdLabels": False, "showThresholdMarkers": True,
                "sizing": "auto", "minVizWidth": 75, "minVizHeight": 75}
    if t == "piechart":
        return {"pieType": "donut", "displayLabels": ["percent"], "tooltip": dict(_TOOLTIP),
                "reduceOptions": _reduce(),
                "legend": {**_legend("right"), "values": ["percent"]},
                "orientation": "auto"}
    if t == "heatmap":
        return {"calculate": False, "color": {"mode": "scheme", "scheme": "RdYlGn",
                                             "reverse": True, "fill": "dark-orange",
                                             "scale": "exponential", "exponent": 0.5,
                                             "steps": 64, "min": 0, "max": 2},
                "rowsFrame": {"layout": "auto"}, "showValue": "never", "cellGap": 1,
                "yAxis": {"axisPlacement": "left", "reverse": False},
                "legend": {"show": True}, "tooltip": {"mode": "single", "yHistogram": False,
                                                      "showColorScale": True},
                "exemplars": {"color": "rgba(255,0,255,0.7)"}, "selectionMode": "x"}
    if t == "bargauge":
        return {"displayMode": "gradient", "valueMode": "color", "namePlacement": "auto",
                "showUnfilled": True, "sizing": "auto", "minVizWidth": 8, "minVizHeight": 16,
                "legend": _legend(), "reduceOptions": _reduce(), "maxVizHeight": 300,
                "orientation": "vertical"}
    if t == "table":
        return {"showHeader": True, "cellHeight": "sm", "frameIndex": 0,
                "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": []}}
    raise AssertionError(t)
