"""The round trip: import → build → ``mlops-dash diff`` against the original.

``semdiff`` compares whole trees; an imported set renders its own defaults (options, colours,
datasource variables, generated annotations) that the original never had. These views keep,
of both sides, exactly the features the importer supports, so a change that remains is a
change of a supported feature: per panel the title, type, size, queries and legends, unit
(when the original sets one), threshold values, min/max/decimals, description (when the
original has one) and link URLs; per dashboard the title, tags and query variables; per alert
the expression, ``for``, interval, severity, labels and summary/description/runbook_url;
per recording rule the expression and labels. Legacy inputs are compared after Grafana's own
migration (migrate.py). Panel positions are not kept (panels re-flow in order), nor a
row's height (Grafana draws every row one unit high).
"""

from __future__ import annotations

from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.importer import grafana as gi
from mlops_dash.importer import migrate as mg


def dashboard_view(dash: dict[str, Any], uid: str, original: bool) -> dict[str, Any]:
    if original:
        dash = mg.migrate(dash)
    panels = []
    for _, p in gi.flat_panels(dash.get("panels") or []):
        kind = p.get("type")
        title = str(p.get("title") or "").strip() or {"row": "Row", "text": "Text",
                                                        "alertlist": "Alerts"}.get(str(kind), "")
        if kind not in gi.SPEC_PANEL_TYPES or not title:
            continue  # reported as not representable by the importer
        targets = [{"expr": t["expr"], "legendFormat": t.get("legendFormat") or "",
                    "refId": ""} for t in p.get("targets") or []
                   if isinstance(t, dict) and isinstance(t.get("expr"), str) and t["expr"].strip()]
        if not targets and p.get("type") not in gi.LAYOUT_KINDS:
            continue
        if p.get("type") == "text" and not ((p.get("options") or {}).get("content")
                                             or p.get("content")):
            continue
        d = ((p.get("fieldConfig") or {}).get("defaults")) or {}
        grid = p.get("gridPos") or {}
        defaults: dict[str, Any] = {"thresholds": {"steps": [
            {"value": s.get("value")} for s in (d.get("thresholds") or {}).get("steps") or []
            if isinstance(s, dict) and isinstance(s.get("value"), int | float)]}}
        for key in ("min", "max", "decimals"):
            if d.get(key) is not None:
                defaults[key] = d[key]
        view = {"title": title, "type": p.get("type"), "targets": targets,
                "content": (p.get("options") or {}).get("content") or p.get("content"),
                # a row's height is Grafana's own (the migration leaves the legacy row height)
                "gridPos": {} if kind == "row" else {
                    "w": grid.get("w", 12), "h": min(max(grid.get("h", 8), 2), 40)},
                "links": [{"title": x.get("title"), "url": x.get("url")}
                          for x in p.get("links") or [] if isinstance(x, dict)],
                "fieldConfig": {"defaults": defaults}}
        if d.get("unit"):
            view["fieldConfig"]["defaults"]["unit"] = d["unit"]
        if str(p.get("description") or "").strip():
            view["description"] = str(p["description"]).strip()
        panels.append(view)
    variables = [{"name": v.get("name"), "query": (v["query"].get("query")
                                                  if isinstance(v.get("query"), dict)
                                                  else v.get("query"))}
                 for v in (dash.get("templating") or {}).get("list") or []
                 if isinstance(v, dict) and v.get("type", "query") == "query"]
    return {"uid": uid, "title": dash.get("title"), "tags": dash.get("tags") or [],
            "panels": panels, "templating": {"list": variables},
            "links": [{"title": x.get("title"), "url": x.get("url")}
                      for x in dash.get("links") or [] if isinstance(x, dict)]}


def strip_defaults(view: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    """The built side without what the importer filled in where the original had nothing
    (unit ``short``, the title as description)."""
    by_title = {p["title"]: p for p in original["panels"]}
    for p in view["panels"]:
        o = by_title.get(p["title"])
        if o is None:
            continue
        if "unit" not in o["fieldConfig"]["defaults"]:
            p["fieldConfig"]["defaults"].pop("unit", None)
        if "description" not in o:
            p.pop("description", None)
    return view


def rules_view(doc: dict[str, Any], reported: set[str] = frozenset()) -> dict[str, Any]:
    """A rule file body with only the supported features (mlops-dash's own labels and
    generated annotations left out; a missing interval is Prometheus' default 1m), without
    the rules the import ``reported`` as not representable (by name)."""
    groups = []
    for g in doc.get("groups") or []:
        rules = []
        for r in g.get("rules") or []:
            if r.get("alert", r.get("record")) in reported:
                continue
            if "record" in r:
                rules.append({k: r[k] for k in ("record", "expr", "labels") if k in r})
                continue
            labels = {k: v for k, v in (r.get("labels") or {}).items()
                      if k not in (cv.LABEL_TEAM, cv.LABEL_DASHBOARD)}
            ann = {k: v for k, v in (r.get("annotations") or {}).items()
                   if k not in ("dashboard_url", "runbook_url")}
            out = {"alert": r["alert"], "expr": r["expr"], "labels": labels, "annotations": ann}
            if str(r.get("for") or "0s") not in ("0s", "0m", "0h", "0"):
                out["for"] = r["for"]
            rules.append(out)
        groups.append({"name": "rules", "interval": g.get("interval") or "1m", "rules": rules})
    return {"groups": groups}
