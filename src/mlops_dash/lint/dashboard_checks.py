"""Dashboard lint (the rules of grafana/dashboard-linter that apply, done offline) on the
rendered Grafana JSON, reported at the spec panel when there is one, else at the JSON line."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import promql_parser as pp

from mlops_dash import promql
from mlops_dash.lint.runner import Context
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document

# Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts), the common ones;
# `suffix:`, `prefix:`, `si:`, `count:`, `currency:` and `time:` custom units are accepted too.
GRAFANA_UNIT_IDS = frozenset("""
none short string percent percentunit humidity dB hex0x hex sci locale pixel
bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes decgbytes tbytes dectbytes
pbytes decpbytes pps bps Bps binBps binbps KBs Kbits KiBs Kibits MBs Mbits MiBs Mibits GBs Gbits
GiBs Gibits TBs Tbits TiBs Tibits PBs Pbits PiBs Pibits
hertz ns µs ms s m h d dtdurationms dtdurations dthms dtdhms timeticks clockms clocks
cps ops reqps rps wps iops eps mps recps rrecps cpm opm reqpm rpm wpm iopm epm mpm recpm
ops/s ops/m
currencyUSD currencyGBP currencyEUR currencyJPY currencyRUB currencyUAH currencyBRL currencyDKK
currencyISK currencyNOK currencySEK currencyCZK currencyCHF currencyPLN currencyBTC currencymBTC
currencyμBTC currencyZAR currencyINR currencyKRW currencyIDR currencyPHP currencyVND
dateTimeAsIso dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday
dateTimeAsLocal dateTimeAsLocalNoDateIfToday dateTimeAsSystem dateTimeFromNow
watt kwatt mwatt Wm2 voltamp kvoltamp voltampreact kvoltampreact watth kwatth kwattm amp kamp
mamp volt kvolt mvolt dBm ohm kohm Mohm farad µfarad nfarad pfarad ffarad henry mhenry µhenry
joule ev celsius fahrenheit kelvin lengthmm lengthm lengthft lengthkm lengthmi areaM2 areaF2
areaMI2 massmg massg masskg masst mlitre litre m3 Nm3 dm3 gallons velocityms velocitykmh
velocitymph velocityknot flowgpm flowcms flowcfs flowcfm litreh flowlpm flowmlpm lux
accMS2 accFS2 accG degree radian grad arcmin arcsec pressurembar pressurebar pressurekbar
pressurehpa pressurekpa pressurehg pressurepsi bool bool_yes_no bool_on_off ppm conppb
conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL conmmolL
""".split())
_CUSTOM_UNIT = re.compile(r"^(suffix|prefix|si|count|currency|time):.+")
BUILTIN_DATASOURCE_UIDS = frozenset({"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"})
_RATE_SENTINELS = {"__rate_interval": "7777s", "__interval": "7778s", "__range": "7779s"}
_SENTINEL_SECONDS = {7777: "$__rate_interval", 7778: "$__interval", 7779: "$__range"}


def _spec_panel(d: m.Dashboard, panel: dict[str, Any]) -> int | None:
    """Index of the spec panel a rendered panel came from (ids are 1-based positions)."""
    pid = panel.get("id")
    return pid - 1 if isinstance(pid, int) and 1 <= pid <= len(d.panels) else None


def valid_unit(unit: Any) -> bool:
    return isinstance(unit, str) and (unit in GRAFANA_UNIT_IDS or bool(_CUSTOM_UNIT.match(unit)))


def check_panels(ctx: Context) -> None:
    """panel-title, panel-description, panel-unit, duplicate-panel-id, grid-overlap."""
    for doc, d, rel, dash in ctx.rendered_dashboards():
        seen: dict[Any, tuple[Any, ...]] = {}
        for where, p in panel_places(dash):
            si = _spec_panel(d, p)

            def report(field: str, out_path: tuple[Any, ...], check: str, msg: str,
                       si: int | None = si, where: tuple[Any, ...] = where) -> None:
                if si is not None:
                    ctx.at_spec(doc, ("panels", si, field), check, msg)
                else:
                    ctx.at_output(rel, (*where, *out_path), check, msg)

            name = p.get("title") or f"panel {p.get('id')}"
            if not str(p.get("title", "")).strip():
                report("title", ("title",), "dashboard/panel-title", f"{name} has no title")
            if p.get("type") != "row" and not str(p.get("description", "")).strip():
                report("description", ("description",), "dashboard/panel-description",
                       f"panel {name!r} has no description")
            if p.get("type") not in UNITLESS_KINDS:
                unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
                if not unit or not str(unit).strip():
                    report("unit", ("fieldConfig", "defaults"), "dashboard/panel-unit",
                           f"panel {name!r} has no unit")
                elif not valid_unit(unit):
                    report("unit", ("fieldConfig", "defaults", "unit"), "dashboard/panel-unit",
                           f"panel {name!r}: {unit!r} is not a Grafana unit id "
                           "(e.g. s, ms, bytes, percentunit, short, reqps, currencyUSD)")
                for o, override in enumerate(p.get("fieldConfig", {}).get("overrides", [])):
                    for k, prop in enumerate(override.get("properties", [])):
                        value = prop.get("value")
                        if prop.get("id") == "unit" and not (isinstance(value, str)
                                                             and valid_unit(value)):
                            report("queries", ("fieldConfig", "overrides", o, "properties", k),
                                   "dashboard/panel-unit",
                                   f"panel {name!r}: a series' unit {value!r} is not a Grafana "
                                   "unit id")
            pid = p.get("id")
            if pid in seen:
                first = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in seen[pid])
                ctx.at_output(rel, (*where, "id"), "dashboard/duplicate-panel-id",
                              f"panel id {pid} is also used by {first.lstrip('.')}")
            seen.setdefault(pid, where)
        panels = dash.get("panels", [])
        _grid(ctx, rel, panels, ("panels",))
        for i, row in enumerate(panels):  # a collapsed row's panels: laid out among themselves
            if row.get("type") == "row" and row.get("panels"):
                _grid(ctx, rel, row["panels"], ("panels", i, "panels"))


# Kinds without a unit: rows, text, alert lists, logs (and Grafana's annotations list)
UNITLESS_KINDS = frozenset({"row", "text", "alertlist", "logs", "annolist"})


def panel_places(dash: dict[str, Any]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """(JSON path, panel) of every panel: top-level ones, then a row's own panels after it."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for i, p in enumerate(dash.get("panels", [])):
        out.append((("panels", i), p))
        if p.get("type") == "row":
            out += [(("panels", i, "panels", j), c) for j, c in enumerate(p.get("panels", []))]
    return out


def check_spec_units(ctx: Context) -> None:
    """panel-unit on the specs (what `build` runs): every panel's and query's unit is a Grafana
    unit id; the rendered JSON is not read."""
    for doc in ctx.dashboards:
        for pi, panel in enumerate(doc.model.panels):
            unit = getattr(panel, "unit", None)
            if panel.type not in UNITLESS_KINDS and unit and not valid_unit(unit):
                ctx.at_spec(doc, ("panels", pi, "unit"), "dashboard/panel-unit",
                            f"panel {panel.title!r}: {unit!r} is not a Grafana unit id "
                            "(e.g. s, ms, bytes, percentunit, short, reqps, currencyUSD)")
            for qi, q in enumerate(getattr(panel, "queries", None) or []):
                if getattr(q, "unit", None) and not valid_unit(q.unit):
                    ctx.at_spec(doc, ("panels", pi, "queries", qi, "unit"),
                                "dashboard/panel-unit",
                                f"panel {panel.title!r}: a series' unit {q.unit!r} is not a "
                                "Grafana unit id")


def _grid(ctx: Context, rel: str, panels: list[dict[str, Any]], at: tuple[Any, ...]) -> None:
    boxes = []
    for i, p in enumerate(panels):
        g = p.get("gridPos") or {}
        x, y, w, h = (int(g.get(k, 0)) for k in ("x", "y", "w", "h"))
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > 24:
            ctx.at_output(rel, (*at, i, "gridPos"), "dashboard/grid-overlap",
                          f"panel {p.get('title')!r} at x={x} w={w} leaves the 24-column grid")
        for j, (bx, by, bw, bh) in boxes:
            if x < bx + bw and bx < x + w and y < by + bh and by < y + h:
                ctx.at_output(rel, (*at, i, "gridPos"), "dashboard/grid-overlap",
                              f"panel {p.get('title')!r} overlaps panel "
                              f"{panels[j].get('title')!r}")
        boxes.append((i, (x, y, w, h)))


def _datasource_places(dash: dict[str, Any]) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    for where, p in panel_places(dash):
        out.append(((*where, "datasource"), p.get("datasource")))
        for t, target in enumerate(p.get("targets", [])):
            out.append(((*where, "targets", t, "datasource"), target.get("datasource")))
    for v, var in enumerate(dash.get("templating", {}).get("list", [])):
        if var.get("type") != "datasource":
            out.append((("templating", "list", v, "datasource"), var.get("datasource")))
    for a, ann in enumerate(dash.get("annotations", {}).get("list", [])):
        out.append((("annotations", "list", a, "datasource"), ann.get("datasource")))
    return out


def check_datasources(ctx: Context) -> None:
    """fixed-datasource: every datasource reference is a variable (or Grafana's built-ins)."""
    for doc in ctx.spec_set.dashboards:
        rendered = ctx.dashboard_json(doc.model)
        if rendered is None:
            continue
        rel, dash = rendered
        for path, ds in _datasource_places(dash):
            if ds is None:
                continue
            uid = ds.get("uid") if isinstance(ds, dict) else ds
            if not isinstance(uid, str) or uid.startswith("$") or uid in BUILTIN_DATASOURCE_UIDS:
                continue
            ctx.at_output(rel, (*path, "uid") if isinstance(ds, dict) else path,
                          "dashboard/fixed-datasource",
                          f"datasource uid {uid!r} is fixed; use the datasource variable "
                          "(${datasource}) so the dashboard works on every Grafana")


def _rate_windows(expr: str) -> list[tuple[str, str]]:
    """(function, window as written) for every rate/irate/increase of a panel query."""
    text = expr
    for var, sentinel in _RATE_SENTINELS.items():
        text = re.sub(r"\$\{?" + var + r"\}?", sentinel, text)
    try:
        ast = promql.parse(promql.substitute_grafana_variables(text))
    except promql.PromQLSyntaxError:
        return []
    out = []
    for n in promql.walk(ast):
        if isinstance(n, pp.Call) and n.func.name in ("rate", "irate", "increase"):
            args = list(n.args)
            if args and isinstance(args[0], pp.MatrixSelector):
                rng: timedelta = args[0].range
                secs = int(rng.total_seconds())
                out.append((n.func.name, _SENTINEL_SECONDS.get(secs, _fmt(rng))))
    return out


def _fmt(rng: timedelta) -> str:
    secs = int(rng.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def check_rate_intervals(ctx: Context) -> None:
    """rate-interval: `rate`/`irate` windows on panels are `$__rate_interval`.

    `increase` over a deliberate fixed period (`[1h]`, `[$__range]`: "how many in the last hour")
    is allowed, as the linter's own documentation suggests; `increase(...[$__interval])` is not.
    """
    for doc in ctx.spec_set.dashboards:
        d: m.Dashboard = doc.model
        for pi, panel in enumerate(d.panels):
            for qi, q in enumerate(panel.queries):
                if q.datasource != "prometheus":
                    continue
                for func, window in _rate_windows(q.expr):
                    bad = (window != "$__rate_interval" if func in ("rate", "irate")
                           else window == "$__interval")
                    if bad:
                        ctx.at_spec(doc, ("panels", pi, "queries", qi, "expr"),
                                    "dashboard/rate-interval",
                                    f"{func}() over [{window}] on panel {panel.id!r}; use "
                                    "[$__rate_interval] so every zoom level has enough samples")


def check_variables(ctx: Context) -> None:
    """unused-variable: every template variable is referenced somewhere in the dashboard."""
    for doc, d, rel, dash in ctx.rendered_dashboards():
        variables = dash.get("templating", {}).get("list", [])
        for v, var in enumerate(variables):
            name = var.get("name", "")
            rest = {**dash, "templating": {"list": [x for x in variables if x is not var]}}
            text = json.dumps(rest)
            pattern = (r"\$" + re.escape(name) + r"\b|\$\{" + re.escape(name)
                       + r"(:[^}]*)?\}|\[\[" + re.escape(name) + r"\]\]")
            if re.search(pattern, text):
                continue
            msg = f"template variable {name!r} is not used by any query, title or link"
            spec_index = _variable_index(doc, name)
            if spec_index is not None:
                ctx.at_spec(doc, ("variables", spec_index, "name"), "dashboard/unused-variable",
                            msg)
            else:
                ctx.at_output(rel, ("templating", "list", v, "name"),
                              "dashboard/unused-variable", msg)


def _variable_index(doc: Document, name: str) -> int | None:
    for i, v in enumerate(doc.model.variables):
        if v.name == name:
            return i
    return None


CHECKS = [check_panels, check_datasources, check_rate_intervals, check_variables]
