"""Grafana dashboard JSON → a Dashboard spec (a plain dict, written as YAML by output.py).

The input is first migrated (migrate.py) as Grafana would; then every panel, query, variable,
annotation and link the spec format can express is mapped, and everything else is reported by
name (report.py) and kept as written in the sidecar file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecError
from mlops_dash.importer import migrate as mg
from mlops_dash.importer.report import Report, jpath, json_error, placed

SPEC_PANEL_TYPES = {"timeseries", "stat", "gauge", "piechart", "heatmap", "bargauge", "table",
                    "state-timeline", "row", "text", "alertlist", "logs"}
LAYOUT_KINDS = {"row", "text", "alertlist"}  # panels without queries
_DURATION = re.compile(r"^[0-9]+[smhdwy]$")
_TIME_FROM = re.compile(r"^[0-9]+[smhdwMy]$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# panel fields the spec reads; anything else set on a panel is reported as not kept
_READ_PANEL_KEYS = {"id", "type", "title", "description", "gridPos", "targets", "fieldConfig",
                    "options", "datasource", "links", "timeFrom", "panels", "collapsed",
                    "pluginVersion", "transparent", "interval", "maxDataPoints",
                    "transformations", "hideTimeOverride", "scopedVars", "repeatDirection",
                    "height", "tooltip", "error", "editable", "isNew", "renderer", "legend",
                    "cacheTimeout", "timeShift", "seriesOverrides", "aliasColors"}


@dataclass
class Imported:
    """One imported dashboard: its spec, the external links it needs, what was left out."""

    spec: dict[str, Any]
    links: list[dict[str, str]] = field(default_factory=list)  # platform links to declare
    report: Report = field(default_factory=Report)
    migrated: dict[str, Any] = field(default_factory=dict)  # the input after migration


def read_dashboard(path: Path) -> dict[str, Any]:
    """The dashboard object of a JSON file (plain, or the ``{"dashboard": …}`` API form);
    placed errors for broken JSON and for JSON that is no dashboard."""
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(file, f"not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(file, exc) from None
    if isinstance(data, dict) and isinstance(data.get("dashboard"), dict):
        data = data["dashboard"]
    if not isinstance(data, dict):
        raise SpecError(file, f"not a Grafana dashboard: the top level is a "
                        f"{type(data).__name__}, not an object", line=1, column=1)
    if not isinstance(data.get("panels"), list) and not isinstance(data.get("rows"), list):
        raise SpecError(file, "not a Grafana dashboard: no `panels` (or legacy `rows`) list",
                        line=1, column=1)
    for i, p in enumerate(data.get("panels") or []):
        if not isinstance(p, dict):
            raise placed(file, jpath("panels", i), f"a panel is an object, not "
                         f"{type(p).__name__}")
    return data


def spec_uid(text: str) -> str:
    uid = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:40].strip("-")
    return uid or "imported"


def _unique(base: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:56].strip("-") or "panel"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def flat_panels(panels: list[Any], where: str = "panels") -> list[tuple[str, dict[str, Any]]]:
    """(JSON path, panel) in dashboard order, the panels of collapsed rows after their row."""
    out = []
    for i, p in enumerate(panels):
        if isinstance(p, dict):
            out.append((f"{where}[{i}]", p))
            out += flat_panels(p.get("panels") or [], f"{where}[{i}].panels")
    return out


def _query(t: dict[str, Any], at: str, title: str, report: Report,
           logs: bool = False) -> dict[str, Any] | None:
    expr = t.get("expr")
    if logs and isinstance(expr, str) and expr.strip():
        return {"expr": expr, "datasource": "loki"}
    if not isinstance(expr, str) or not expr.strip():
        what = "rawSql" if t.get("rawSql") else (t.get("queryType") or "non-PromQL")
        report.skip(at, title, f"a {what} query: only Prometheus (PromQL) queries are "
                    "imported", t)
        return None
    q: dict[str, Any] = {"expr": expr}
    if t.get("legendFormat"):
        q["legend"] = str(t["legendFormat"])
    if t.get("format") in ("table", "heatmap"):
        q["format"] = t["format"]
    if t.get("instant") and not t.get("range"):
        q["instant"] = True
    if t.get("hide"):
        q["hide"] = True
    return q


def _thresholds(defaults: dict[str, Any]) -> list[dict[str, Any]]:
    steps = ((defaults.get("thresholds") or {}).get("steps")) or []
    out = []
    for s in steps:
        if isinstance(s, dict) and isinstance(s.get("value"), int | float) \
                and not isinstance(s.get("value"), bool):
            out.append({"value": s["value"], "color": str(s.get("color") or "red")})
    return out


def _panel(p: dict[str, Any], at: str, taken: set[str], report: Report,
           links: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    title = str(p.get("title") or "").strip()
    kind = p.get("type")
    if kind == "row":
        spec_row: dict[str, Any] = {"id": _unique(title or "row", taken),
                                    "title": title or "Row", "type": "row"}
        if p.get("collapsed"):
            spec_row["collapsed"] = True
        for key in ("repeat",):
            if p.get(key):
                report.skip(f"{at}.{key}", spec_row["title"], "repeated rows are not in the "
                            "spec format", p[key])
        return spec_row
    if kind in ("text", "alertlist"):
        return _layout_panel(p, at, taken, report, links)
    if kind not in SPEC_PANEL_TYPES:
        report.skip(at, title or str(kind), f"panel type {kind!r} is not in the spec format", p)
        return None
    if not title:
        report.skip(at, f"(untitled {kind})", "a panel needs a title (panels are matched by "
                    "title)", p)
        return None
    queries = []
    for ti, t in enumerate(p.get("targets") or []):
        if isinstance(t, dict):
            q = _query(t, f"{at}.targets[{ti}]", title, report, kind == "logs")
            if q is not None:
                queries.append(q)
    if not queries:
        report.skip(at, title, "no PromQL query left to show", p)
        return None
    if kind == "logs":
        spec_logs: dict[str, Any] = {
            "id": _unique(title, taken), "title": title, "type": "logs",
            "description": str(p.get("description") or "").strip() or title,
            "queries": queries}
        if isinstance(p.get("timeFrom"), str) and _TIME_FROM.match(p["timeFrom"]):
            spec_logs["time_from"] = p["timeFrom"]
        _size(p, spec_logs, at, title, report)
        return spec_logs
    fc = p.get("fieldConfig") if isinstance(p.get("fieldConfig"), dict) else {}
    defaults = fc.get("defaults") if isinstance(fc.get("defaults"), dict) else {}
    custom = defaults.get("custom") if isinstance(defaults.get("custom"), dict) else {}
    spec: dict[str, Any] = {
        "id": _unique(title, taken), "title": title,
        "description": str(p.get("description") or "").strip() or title,
        "type": kind, "unit": str(defaults.get("unit") or "short"),
    }
    _size(p, spec, at, title, report)
    for key in ("min", "max"):
        if isinstance(defaults.get(key), int | float) and not isinstance(defaults[key], bool):
            spec[key] = defaults[key]
    if isinstance(defaults.get("decimals"), int) and 0 <= defaults["decimals"] <= 10:
        spec["decimals"] = defaults["decimals"]
    if kind == "timeseries":
        if (custom.get("stacking") or {}).get("mode") in ("normal", "percent"):
            spec["stacking"] = True
        if custom.get("drawStyle") == "bars":
            spec["bars"] = True
        if (custom.get("scaleDistribution") or {}).get("type") == "log":
            spec["log_scale"] = True
    thresholds = _thresholds(defaults)
    if thresholds:
        spec["thresholds"] = thresholds
    if isinstance(p.get("timeFrom"), str) and _TIME_FROM.match(p["timeFrom"]):
        spec["time_from"] = p["timeFrom"]
    panel_links = _links(p.get("links") or [], f"{at}.links", title, report, links)
    if panel_links:
        spec["links"] = panel_links
    spec["queries"] = queries
    _dropped_settings(p, at, title, report)
    return spec


def _dropped_settings(p: dict[str, Any], at: str, title: str, report: Report) -> None:
    """Panel settings that change what a panel shows and that the spec cannot hold."""
    fc = p.get("fieldConfig") if isinstance(p.get("fieldConfig"), dict) else {}
    defaults = fc.get("defaults") if isinstance(fc.get("defaults"), dict) else {}
    found = {
        "alert": ("a legacy Grafana alert rule on the panel (use the imported rules or write "
                  "an alert)", p.get("alert")),
        "repeat": ("a repeated panel (one per variable value)", p.get("repeat")),
        "transformations": ("transformations", p.get("transformations")),
        "fieldConfig.overrides": ("per-series overrides", fc.get("overrides")),
        "fieldConfig.defaults.mappings": ("value mappings", defaults.get("mappings")),
        "fieldConfig.defaults.noValue": ("the text shown without data", defaults.get("noValue")),
        "options.reduceOptions.fields": ("the field the value is computed from",
                                         _reduce_fields(p)),
        "seriesOverrides": ("legacy series overrides", p.get("seriesOverrides")),
    }
    for key, (what, value) in found.items():
        if value:
            report.skip(f"{at}.{key}", title, f"{what}: not in the spec format (paste into "
                        "the panel's `raw:` to keep)", value)


def _reduce_fields(p: dict[str, Any]) -> Any:
    options = p.get("options") if isinstance(p.get("options"), dict) else {}
    reduce = options.get("reduceOptions") if isinstance(options.get("reduceOptions"), dict) else {}
    return reduce.get("fields")


def _size(p: dict[str, Any], spec: dict[str, Any], at: str, title: str,
          report: Report) -> None:
    grid = p.get("gridPos") if isinstance(p.get("gridPos"), dict) else {}
    w, h = grid.get("w", 12), grid.get("h", 8)
    if isinstance(w, int) and 1 <= w <= 24:
        spec["width"] = w
    if isinstance(h, int):
        spec["height"] = min(max(h, 2), 40)
        if spec["height"] != h:
            report.note(f"{at} {title!r}: height {h} clamped to {spec['height']}")


def _layout_panel(p: dict[str, Any], at: str, taken: set[str], report: Report,
                  links: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """A text or alert list panel: its options go through the raw escape hatch."""
    kind = str(p["type"])
    title = str(p.get("title") or "").strip() or ("Text" if kind == "text" else "Alerts")
    options = p.get("options") if isinstance(p.get("options"), dict) else {}
    spec: dict[str, Any] = {"id": _unique(title, taken), "title": title, "type": kind,
                            "description": str(p.get("description") or "").strip() or title}
    if kind == "text":
        content = options.get("content", p.get("content"))
        if not isinstance(content, str) or not content.strip():
            report.skip(at, title, "a text panel without content", p)
            return None
        spec["content"] = content
        mode = options.get("mode", p.get("mode"))
        if mode in ("html", "code"):
            spec["raw"] = {"options": {"mode": mode}}
    elif options:
        spec["raw"] = {"options": options}
    _size(p, spec, at, title, report)
    panel_links = _links(p.get("links") or [], f"{at}.links", title, report, links)
    if panel_links:
        spec["links"] = panel_links
    return spec


def _links(items: list[Any], at: str, owner: str, report: Report,
           declared: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for i, link in enumerate(items):
        if not isinstance(link, dict):
            continue
        title, url = str(link.get("title") or "").strip(), link.get("url")
        if link.get("type", "link") != "link" or not isinstance(url, str) or not url or not title:
            report.skip(f"{at}[{i}]", title or owner, "only links with a title and a URL are "
                        "imported (not tag-based dashboard lists)", link)
            continue
        prior = declared.get(title)
        if prior is not None and prior["url"] != url:
            report.skip(f"{at}[{i}]", title, f"a link titled {title!r} already goes to "
                        f"{prior['url']}; platform links are one URL per title", link)
            continue
        declared[title] = {"title": title, "url": url}
        out.append({"platform_link": title})
    return out


def _variable(v: dict[str, Any], at: str, report: Report) -> dict[str, Any] | None:
    name = str(v.get("name") or "")
    kind = v.get("type", "query")
    if kind == "datasource":
        report.note(f"{at} {name!r}: the datasource variable is the platform's "
                    f"(`{cv.DATASOURCE_VAR}`)")
        return None
    query = v.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    if kind != "query" or not isinstance(query, str) or not query.strip():
        report.skip(at, name, f"a {kind} variable: only query variables are in the spec "
                    "format", v)
        return None
    if not _LABEL.match(name):
        report.skip(at, name, "a variable name must be a label name", v)
        return None
    spec: dict[str, Any] = {"name": name, "query": query}
    if v.get("label"):
        spec["label"] = str(v["label"])
    current = (v.get("current") or {}).get("value")
    if isinstance(current, list):
        current = current[0] if len(current) == 1 else None
    if isinstance(current, str) and current and current != "$__all":
        spec["default"] = current
    spec["multi"] = bool(v.get("multi"))
    spec["include_all"] = bool(v.get("includeAll"))
    if isinstance(v.get("regex"), str) and v["regex"]:
        spec["regex"] = v["regex"]
    if v.get("hide") == 2:
        spec["hide"] = True
    return spec


def _annotation(a: dict[str, Any], at: str, report: Report) -> dict[str, Any] | None:
    name = str(a.get("name") or "")
    if a.get("builtIn"):
        return None  # Grafana's own "Annotations & Alerts", which every dashboard gets
    target = a.get("target") if isinstance(a.get("target"), dict) else {}
    color = str(a.get("iconColor") or "blue")
    if isinstance(a.get("expr"), str) and a["expr"].strip():
        spec: dict[str, Any] = {"name": name, "expr": a["expr"], "color": color}
        if a.get("titleFormat"):
            spec["title"] = str(a["titleFormat"])
        if a.get("textFormat"):
            spec["text"] = str(a["textFormat"])
        return spec
    tags = target.get("tags") or a.get("tags")
    if target.get("type") == "tags" or (isinstance(tags, list) and tags):
        if isinstance(tags, list) and tags:
            return {"name": name, "tags": [str(t) for t in tags], "color": color}
    report.skip(at, name, "only PromQL and tag annotations are in the spec format", a)
    return None


def import_dashboard(data: dict[str, Any], source: str, team: str = "imported") -> Imported:
    """A Grafana dashboard (JSON object) → the spec dict and its report."""
    report = Report()
    migrated = mg.migrate(data)
    legacy = sum(1 for _, p in flat_panels(data.get("panels") or []) if mg.is_legacy_panel(p))
    legacy += sum(1 for r in data.get("rows") or [] if isinstance(r, dict)
                  for p in r.get("panels") or [] if isinstance(p, dict) and mg.is_legacy_panel(p))
    if legacy or data.get("rows"):
        report.note(f"migrated schema version {data.get('schemaVersion')} as Grafana does: "
                    f"{legacy} graph/singlestat panel(s), rows to the grid layout")
    title = str(migrated.get("title") or Path(source).stem)
    uid = spec_uid(str(migrated.get("uid") or title))
    links: dict[str, dict[str, str]] = {}
    taken: set[str] = set()
    panels = []
    for at, p in flat_panels(migrated.get("panels") or []):
        spec = _panel(p, at, taken, report, links)
        if spec is not None:
            panels.append(spec)
    variables = [s for i, v in enumerate((migrated.get("templating") or {}).get("list") or [])
                 if isinstance(v, dict)
                 for s in [_variable(v, jpath("templating", "list", i), report)] if s]
    annotations = [s for i, a in enumerate((migrated.get("annotations") or {}).get("list") or [])
                   if isinstance(a, dict)
                   for s in [_annotation(a, jpath("annotations", "list", i), report)] if s]
    spec: dict[str, Any] = {"apiVersion": "mlops-dash/v1", "kind": "Dashboard", "uid": uid,
                            "title": title, "team": team}
    if migrated.get("description"):
        spec["description"] = str(migrated["description"])
    tags = [str(t) for t in migrated.get("tags") or [] if isinstance(t, str)]
    if tags:
        spec["tags"] = tags
    refresh = migrated.get("refresh")
    if isinstance(refresh, str) and _DURATION.match(refresh) and not refresh.startswith("0"):
        spec["refresh"] = refresh
    time_from = (migrated.get("time") or {}).get("from")
    if isinstance(time_from, str) and time_from:
        spec["time_from"] = time_from
    if variables:
        spec["variables"] = variables
    if annotations:
        spec["annotations"] = annotations
    dash_links = _links(migrated.get("links") or [], "links", title, report, links)
    if dash_links:
        spec["links"] = dash_links
    spec["panels"] = panels
    if not panels:
        report.skip("panels", title, "no panel could be imported: the spec needs at least one")
    return Imported(spec=spec, links=list(links.values()), report=report, migrated=migrated)
