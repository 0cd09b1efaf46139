"""Semantic diff of two trees of generated output: what changed for alerts, routing, dashboards.

Pure functions over ``{relative path: content}`` trees; the CLI reads the trees (folders or git
refs) and prints :func:`to_markdown` or :func:`to_json`. Alerts come from the plain rule files
(threshold and comparison from the expression's top-level comparison, windows from its range
selectors, subqueries and offsets), routing from ``alertmanager/alertmanager.yaml`` (the route
tree walked with each alert's labels), dashboards from ``grafana/*.json`` (panels matched by
title, then by identical queries, so a retitled panel is not reported as removed and added).
Anything not interpreted is still reported, as changed settings paths or changed files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from mlops_dash import conventions as cv

Tree = dict[str, str]

ALERTMANAGER_CONFIG = cv.ALERTMANAGER_CONFIG_PATH
_COMPARISONS = {">", "<", ">=", "<=", "==", "!="}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
_IGNORED_FILES = {".mlops-dash-files"}
_MAX_TEXT = 400
_MAX_LINES = 12  # changes shown per subject in Markdown; JSON has them all


@dataclass(frozen=True)
class Change:
    """One semantic change. ``field`` is empty for added/removed subjects."""

    area: str  # alert | recording_rule | routing | dashboard | panel | kubernetes | config | file
    subject: str  # alert name, dashboard uid, panel title, object, file path
    action: str  # added | removed | changed
    field: str = ""
    before: Any = None
    after: Any = None
    context: str = ""  # where the subject lives: dashboard uid, rule file, config file
    unit: str = ""  # Grafana unit of a threshold (of the alert's panel), for display


# ------------------------------------------------------------------------------ generic helpers


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading (libyaml when present: much faster) without YAML 1.1's ``=`` value tag,
    which breaks on an unquoted ``matchType: =`` as kubectl writes it."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:value"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LOADER = _Loader


def _load_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        return None


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def leaf_changes(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, before, after) of every leaf that differs between two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a:
                yield sub, None, b[k]
            elif k not in b:
                yield sub, a[k], None
            else:
                yield from leaf_changes(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from leaf_changes(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def _without(d: Any, keys: Iterable[str]) -> Any:
    if not isinstance(d, dict):
        return d
    drop = set(keys)
    return {k: v for k, v in d.items() if k not in drop}


def _settings(area: str, subject: str, a: Any, b: Any, context: str = "") -> list[Change]:
    return [Change(area, subject, "changed", path, x, y, context)
            for path, x, y in leaf_changes(a, b)]


# ------------------------------------------------------------------------------ alerts


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def _format_number(value: float) -> str:
    return str(_number(value))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[\s*([0-9][0-9a-z]*(?:\s*:\s*[0-9a-z]*)?)\s*\]")
_OFFSET = re.compile(r"\boffset\s+(-?[0-9][0-9a-z]*)")


def analyse_expr(expr: str) -> dict[str, Any]:
    """Comparison, threshold, windows and the thresholdless signal of an alert expression."""
    import promql_parser as pp

    from mlops_dash import promql

    out: dict[str, Any] = {"comparison": None, "threshold": None, "windows": [], "signal": expr}
    try:
        node = promql.parse(expr)
    except promql.PromQLSyntaxError:
        return out
    top = node
    while isinstance(top, pp.ParenExpr):
        top = top.expr
    signal = top
    if isinstance(top, pp.BinaryExpr) and str(top.op) in _COMPARISONS:
        op = str(top.op)
        if isinstance(top.rhs, pp.NumberLiteral):
            out["comparison"], out["threshold"], signal = op, _number(top.rhs.val), top.lhs
        elif isinstance(top.lhs, pp.NumberLiteral):
            out["comparison"], out["threshold"], signal = (
                _FLIP[op], _number(top.lhs.val), top.rhs)
    while isinstance(signal, pp.ParenExpr):  # `(x) > 1` and `x > 1` compare the same signal
        signal = signal.expr
    # windows as written (the parser would print 7d as 1w): range selectors, subqueries,
    # offsets, read from the text with string literals blanked out
    bare = _STRING.sub('""', expr)
    windows = [m.group(1) for m in _RANGE.finditer(bare)]
    windows += [f"offset {m.group(1)}" for m in _OFFSET.finditer(bare)]
    out["windows"] = sorted(set(windows))
    # the signal with its windows masked: a change here is a change of the expression's shape
    text = str(signal)
    text = re.sub(r"\[[^\]]*\]", "[…]", text)
    out["signal"] = re.sub(r"\boffset\s+[0-9a-z]+", "offset …", text)
    return out


def _rule_docs(tree: Tree) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, rule file body) of the plain rule files, or of PrometheusRule manifests if none."""
    plain = [rel for rel in sorted(tree) if rel.startswith("prometheus/")
             and rel.endswith((".yaml", ".yml"))]
    found = False
    for rel in plain:
        doc = _load_yaml(tree[rel])
        if isinstance(doc, dict) and isinstance(doc.get("groups"), list):
            found = True
            yield rel, doc
    if found:
        return
    for rel in sorted(tree):
        if rel.startswith(cv.KUBERNETES_DIR + "/") and rel.endswith((".yaml", ".yml")):
            doc = _load_yaml(tree[rel])
            if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
                yield rel, doc.get("spec") or {}


def rules_of(tree: Tree) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Alerts and recording rules by name, each with its file and group interval."""
    alerts: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    for rel, doc in _rule_docs(tree):
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                info = {**rule, "file": rel, "group": group.get("name"),
                        "interval": group.get("interval")}
                target, key = ((alerts, rule["alert"]) if "alert" in rule
                               else (records, rule.get("record", "?")))
                name, n = key, 2
                while name in target:  # the same name twice: keep both, visibly
                    name, n = f"{key}#{n}", n + 1
                target[name] = info
    return alerts, records


_VIEW_PANEL = re.compile(r"/d/([^/?]+)/[^?]*\?(?:[^#]*&)?viewPanel=panel-([0-9]+)")


def alert_units(tree: Tree) -> dict[str, str]:
    """Alert name → the Grafana unit of the panel its ``dashboard_url`` opens (the unit of
    its threshold)."""
    panels = {uid: {p.get("id"): _unit(p) for p in _flat_panels(d.get("panels") or [])}
              for uid, d in dashboards_of(tree).items()}
    out = {}
    for name, rule in rules_of(tree)[0].items():
        link = _VIEW_PANEL.search(str((rule.get("annotations") or {}).get("dashboard_url", "")))
        if link:
            unit = panels.get(link.group(1), {}).get(int(link.group(2)))
            if isinstance(unit, str):
                out[name] = unit
    return out


def with_unit(value: Any, unit: str) -> str:
    """A threshold as its panel shows it (``0.02`` percentunit → ``2%``), the number kept."""
    if not unit or not isinstance(value, int | float):
        return str(value)
    from mlops_dash.render.rules import humanize_threshold

    return humanize_threshold(float(value), unit)


def _alert_facts(rule: dict[str, Any], unit: str = "") -> dict[str, Any]:
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    facts = analyse_expr(str(rule.get("expr", "")))
    return {
        "unit": unit,
        "file": rule["file"],
        "dashboard": labels.get(cv.LABEL_DASHBOARD) or rule["file"],
        "severity": labels.pop(cv.LABEL_SEVERITY, None),
        "comparison": facts["comparison"],
        "threshold": facts["threshold"],
        "window": ", ".join(facts["windows"]) or None,
        "for": rule.get("for") or "0s",
        "interval": rule.get("interval"),
        "signal": facts["signal"],
        "expression": str(rule.get("expr", "")),
        "labels": labels,
        "annotations": dict(rule.get("annotations") or {}),
    }


def _alert_summary(facts: dict[str, Any]) -> dict[str, Any]:
    keys = ("file", "severity", "comparison", "threshold", "unit", "window", "for",
            "expression")
    return {k: facts[k] for k in keys}


def diff_alerts(base: Tree, head: Tree) -> list[Change]:
    (a_alerts, a_records), (b_alerts, b_records) = rules_of(base), rules_of(head)
    a_units, b_units = alert_units(base), alert_units(head)
    changes: list[Change] = []
    for name in sorted(set(a_alerts) | set(b_alerts)):
        if name not in b_alerts:
            f = _alert_facts(a_alerts[name], a_units.get(name, ""))
            changes.append(Change("alert", name, "removed", before=_alert_summary(f),
                                  context=f["dashboard"]))
            continue
        if name not in a_alerts:
            f = _alert_facts(b_alerts[name], b_units.get(name, ""))
            changes.append(Change("alert", name, "added", after=_alert_summary(f),
                                  context=f["dashboard"]))
            continue
        x = _alert_facts(a_alerts[name], a_units.get(name, ""))
        y = _alert_facts(b_alerts[name], b_units.get(name, ""))
        ctx = y["dashboard"]
        for key in ("file", "severity", "comparison", "threshold", "window", "for", "interval"):
            if x[key] != y[key]:
                unit = y["unit"] if key == "threshold" and x["unit"] == y["unit"] else ""
                changes.append(Change("alert", name, "changed", key, x[key], y[key], ctx,
                                      unit=unit))
        if x["unit"] != y["unit"]:
            changes.append(Change("alert", name, "changed", "unit", x["unit"] or None,
                                  y["unit"] or None, ctx))
        if x["signal"] != y["signal"]:
            changes.append(Change("alert", name, "changed", "expression", x["expression"],
                                  y["expression"], ctx))
        for kind in ("labels", "annotations"):
            for k in sorted(set(x[kind]) | set(y[kind])):
                if x[kind].get(k) != y[kind].get(k):
                    changes.append(Change("alert", name, "changed", f"{kind[:-1]} {k}",
                                          x[kind].get(k), y[kind].get(k), ctx))
    for name in sorted(set(a_records) | set(b_records)):
        x_rec, y_rec = a_records.get(name), b_records.get(name)
        if y_rec is None:
            changes.append(Change("recording_rule", name, "removed",
                                  before=x_rec and x_rec.get("expr"), context=x_rec["file"]))
        elif x_rec is None:
            changes.append(Change("recording_rule", name, "added", after=y_rec.get("expr"),
                                  context=y_rec["file"]))
        else:
            for key in ("expr", "interval", "labels", "file"):
                if x_rec.get(key) != y_rec.get(key):
                    field = "expression" if key == "expr" else key
                    changes.append(Change("recording_rule", name, "changed", field,
                                          x_rec.get(key), y_rec.get(key), y_rec["file"]))
    return changes


# ------------------------------------------------------------------------------ routing

_MATCHER = re.compile(r'^\s*([^\s=!~"]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value[1:-1]
    return value


def _split_matchers(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    parts, cur, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            cur, escaped = cur + ch, False
        elif ch == "\\":
            cur, escaped = cur + ch, True
        elif ch == '"':
            cur, quoted = cur + ch, not quoted
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def _matcher_ok(name: str, op: str, value: str, labels: dict[str, str]) -> bool:
    have = labels.get(name, "")
    if op == "=":
        return have == value
    if op == "!=":
        return have != value
    try:
        hit = re.fullmatch(value, have) is not None
    except re.error:
        return False
    return hit if op == "=~" else not hit


def route_matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    """Alertmanager route matching: ``matchers`` plus the deprecated ``match``/``match_re``."""
    for k, v in (route.get("match") or {}).items():
        if labels.get(str(k), "") != str(v):
            return False
    for k, v in (route.get("match_re") or {}).items():
        if not _matcher_ok(str(k), "=~", str(v), labels):
            return False
    for item in route.get("matchers") or []:
        for text in _split_matchers(str(item)):
            m = _MATCHER.match(text)
            if m is None:
                return False
            if not _matcher_ok(m.group(1), m.group(2), _unquote(m.group(3)), labels):
                return False
    return True


def route_receivers(route: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """Receivers an alert with ``labels`` reaches: depth-first, first match unless ``continue``."""

    def walk(node: dict[str, Any], inherited: str | None) -> list[str]:
        receiver = node.get("receiver", inherited)
        found: list[str] = []
        for child in node.get("routes") or []:
            if isinstance(child, dict) and route_matches(child, labels):
                found += walk(child, receiver)
                if not child.get("continue", False):
                    break
        return found or ([receiver] if receiver else [])

    out: list[str] = []
    for r in walk(route, None):
        if r not in out:
            out.append(r)
    return out


def _alert_labels(name: str, rule: dict[str, Any]) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    return {**labels, "alertname": name.split("#")[0]}


def diff_routing(base: Tree, head: Tree) -> list[Change]:
    if ALERTMANAGER_CONFIG not in base or ALERTMANAGER_CONFIG not in head:
        if (ALERTMANAGER_CONFIG in base) != (ALERTMANAGER_CONFIG in head):
            action = "added" if ALERTMANAGER_CONFIG in head else "removed"
            return [Change("routing", ALERTMANAGER_CONFIG, action)]
        return []
    a_cfg, b_cfg = _load_yaml(base[ALERTMANAGER_CONFIG]), _load_yaml(head[ALERTMANAGER_CONFIG])
    if not isinstance(a_cfg, dict) or not isinstance(b_cfg, dict):
        return []
    a_route, b_route = a_cfg.get("route") or {}, b_cfg.get("route") or {}
    (a_alerts, _), (b_alerts, _) = rules_of(base), rules_of(head)
    changes: list[Change] = []
    for name in sorted(set(a_alerts) | set(b_alerts)):
        before = route_receivers(a_route, _alert_labels(name, a_alerts[name])) \
            if name in a_alerts else None
        after = route_receivers(b_route, _alert_labels(name, b_alerts[name])) \
            if name in b_alerts else None
        if before != after:
            action = "changed" if before is not None and after is not None else (
                "added" if before is None else "removed")
            changes.append(Change("routing", name, action, "receivers", before, after))
    # everything else in the Alertmanager configuration, as settings paths
    changes += _settings("config", ALERTMANAGER_CONFIG, a_cfg, b_cfg)
    return changes


# ------------------------------------------------------------------------------ dashboards


def dashboards_of(tree: Tree) -> dict[str, dict[str, Any]]:
    out = {}
    for rel in sorted(tree):
        if rel.startswith("grafana/") and rel.endswith(".json"):
            doc = _load_json(tree[rel])
            if isinstance(doc, dict):
                out[str(doc.get("uid") or rel)] = doc
    return out


def _flat_panels(panels: list[Any]) -> list[dict[str, Any]]:
    out = []
    for p in panels or []:
        if isinstance(p, dict):
            out.append(p)
            out += _flat_panels(p.get("panels") or [])
    return out


def _queries(panel: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(refId, query text, legend) of each target."""
    return [(str(t.get("refId", "")), str(t.get("expr") or t.get("rawSql") or ""),
             str(t.get("legendFormat", "")))
            for t in panel.get("targets") or [] if isinstance(t, dict)]


def match_panels(a: list[dict[str, Any]], b: list[dict[str, Any]]
                 ) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], list[Any], list[Any]]:
    """Pairs of the same panel (by title, then by identical queries, then by panel id and
    type: the spec's panel at the same place, edited in title and queries), removed, added."""
    pairs = []
    left, right = list(a), list(b)
    for p in list(left):
        q = next((x for x in right if x.get("title") == p.get("title")), None)
        if q is not None:
            pairs.append((p, q))
            left.remove(p)
            right.remove(q)
    for p in list(left):
        texts = [t for _, t, _ in _queries(p)]
        q = next((x for x in right if texts and [t for _, t, _ in _queries(x)] == texts), None)
        if q is not None:
            pairs.append((p, q))
            left.remove(p)
            right.remove(q)
    for p in list(left):
        q = next((x for x in right if p.get("id") is not None and x.get("id") == p.get("id")
                  and x.get("type") == p.get("type")), None)
        if q is not None:
            pairs.append((p, q))
            left.remove(p)
            right.remove(q)
    return pairs, left, right


def _grid(p: dict[str, Any]) -> dict[str, Any]:
    return dict(p.get("gridPos") or {})


def _thresholds(p: dict[str, Any]) -> list[Any]:
    steps = (((p.get("fieldConfig") or {}).get("defaults") or {}).get("thresholds") or {}) \
        .get("steps") or []
    return [s.get("value") for s in steps if isinstance(s, dict) and s.get("value") is not None]


def _unit(p: dict[str, Any]) -> Any:
    return ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit")


_PANEL_FIELDS = {"id", "title", "type", "gridPos", "targets", "description", "links", "panels"}


def diff_panel(uid: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    title = str(b.get("title"))
    out: list[Change] = []

    def add(field: str, before: Any, after: Any) -> None:
        out.append(Change("panel", title, "changed", field, before, after, uid))

    if a.get("title") != b.get("title"):
        add("title", a.get("title"), b.get("title"))
    if a.get("type") != b.get("type"):
        add("type", a.get("type"), b.get("type"))
    ga, gb = _grid(a), _grid(b)
    pos_a, pos_b = (ga.get("x"), ga.get("y")), (gb.get("x"), gb.get("y"))
    if pos_a != pos_b:
        add("position", f"x={pos_a[0]} y={pos_a[1]}", f"x={pos_b[0]} y={pos_b[1]}")
    size_a, size_b = (ga.get("w"), ga.get("h")), (gb.get("w"), gb.get("h"))
    if size_a != size_b:
        add("size", f"{size_a[0]}×{size_a[1]}", f"{size_b[0]}×{size_b[1]}")
    qa, qb = _queries(a), _queries(b)
    texts_a, texts_b = [t for _, t, _ in qa], [t for _, t, _ in qb]
    legends_a = {t: leg for _, t, leg in qa}
    for ref, text, legend in qb:
        if text in texts_a:
            if legends_a[text] != legend:
                add(f"query {ref} legend", legends_a[text], legend)
    gone = [(r, t) for r, t, _ in qa if t not in texts_b]
    new = [(r, t) for r, t, _ in qb if t not in texts_a]
    for (ra, ta), (rb, tb) in zip(gone, new, strict=False):
        add(f"query {rb}", ta, tb)
    for ra, ta in gone[len(new):]:
        add(f"query {ra}", ta, None)
    for rb, tb in new[len(gone):]:
        add(f"query {rb}", None, tb)
    if _unit(a) != _unit(b):
        add("unit", _unit(a), _unit(b))
    if _thresholds(a) != _thresholds(b):
        add("thresholds", ", ".join(map(_format_number, _thresholds(a))) or None,
            ", ".join(map(_format_number, _thresholds(b))) or None)
    if a.get("description") != b.get("description"):
        add("description", a.get("description"), b.get("description"))
    links_a = {str(x.get("title")): x.get("url") for x in a.get("links") or []}
    links_b = {str(x.get("title")): x.get("url") for x in b.get("links") or []}
    for k in sorted(set(links_a) | set(links_b)):
        if links_a.get(k) != links_b.get(k):
            add(f"link {k}", links_a.get(k), links_b.get(k))
    # fieldConfig/options details not interpreted above; thresholds and unit already reported
    rest_a, rest_b = _without(a, _PANEL_FIELDS), _without(b, _PANEL_FIELDS)
    for path, x, y in leaf_changes(rest_a, rest_b):
        if path == "fieldConfig.defaults.unit" or path.startswith(
                "fieldConfig.defaults.thresholds"):
            continue
        add(path, x, y)
    return out


_DASHBOARD_FIELDS = {"panels", "templating", "links", "title", "uid", "version", "tags"}


def _by_name(items: list[Any], key: str) -> dict[str, dict[str, Any]]:
    return {str(i.get(key)): i for i in items or [] if isinstance(i, dict)}


def diff_dashboard(uid: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    out: list[Change] = []

    def add(field: str, before: Any, after: Any) -> None:
        out.append(Change("dashboard", uid, "changed", field, before, after, uid))

    if a.get("title") != b.get("title"):
        add("title", a.get("title"), b.get("title"))
    if sorted(a.get("tags") or []) != sorted(b.get("tags") or []):
        add("tags", ", ".join(a.get("tags") or []), ", ".join(b.get("tags") or []))
    va = _by_name((a.get("templating") or {}).get("list"), "name")
    vb = _by_name((b.get("templating") or {}).get("list"), "name")
    for name in sorted(set(va) | set(vb)):
        if name not in vb:
            add(f"variable {name}", va[name].get("query"), None)
        elif name not in va:
            add(f"variable {name}", None, vb[name].get("query"))
        else:
            for path, x, y in leaf_changes(_without(va[name], {"definition"}),
                                           _without(vb[name], {"definition"})):
                add(f"variable {name} {path}", x, y)
    la, lb = _by_name(a.get("links"), "title"), _by_name(b.get("links"), "title")
    for name in sorted(set(la) | set(lb)):
        if name not in lb:
            add(f"link {name}", la[name].get("url"), None)
        elif name not in la:
            add(f"link {name}", None, lb[name].get("url"))
        else:
            for path, x, y in leaf_changes(la[name], lb[name]):
                add(f"link {name} {path}", x, y)
    for path, x, y in leaf_changes(_without(a, _DASHBOARD_FIELDS), _without(b, _DASHBOARD_FIELDS)):
        add(path, x, y)
    pairs, removed, added = match_panels(_flat_panels(a.get("panels") or []),
                                         _flat_panels(b.get("panels") or []))
    for p in removed:
        out.append(Change("panel", str(p.get("title")), "removed", before=_panel_summary(p),
                          context=uid))
    for p in added:
        out.append(Change("panel", str(p.get("title")), "added", after=_panel_summary(p),
                          context=uid))
    for p, q in sorted(pairs, key=lambda pq: (_grid(pq[1]).get("y", 0), _grid(pq[1]).get("x", 0))):
        out += diff_panel(uid, p, q)
    return out


def _panel_summary(p: dict[str, Any]) -> dict[str, Any]:
    g = _grid(p)
    return {"type": p.get("type"), "unit": _unit(p), "position": f"x={g.get('x')} y={g.get('y')}",
            "queries": [t for _, t, _ in _queries(p)]}


def diff_dashboards(base: Tree, head: Tree) -> list[Change]:
    a, b = dashboards_of(base), dashboards_of(head)
    out: list[Change] = []
    for uid in sorted(set(a) | set(b)):
        if uid not in b:
            out.append(Change("dashboard", uid, "removed", before=a[uid].get("title"),
                              context=uid))
        elif uid not in a:
            panels = _flat_panels(b[uid].get("panels") or [])
            out.append(Change("dashboard", uid, "added",
                              after={"title": b[uid].get("title"), "panels": len(panels),
                                     "panel_list": [{"title": p.get("title"), **_panel_summary(p)}
                                                    for p in panels]},
                              context=uid))
        else:
            out += diff_dashboard(uid, a[uid], b[uid])
    return out


# ------------------------------------------------------------------------------ kubernetes


def _objects(tree: Tree) -> dict[str, dict[str, Any]]:
    out = {}
    for rel in sorted(tree):
        if not (rel.startswith(cv.KUBERNETES_DIR + "/") and rel.endswith((".yaml", ".yml"))):
            continue
        try:
            docs = list(yaml.load_all(tree[rel], Loader=_LOADER))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") and doc.get("kind") != "Kustomization":
                meta = doc.get("metadata") or {}
                key = f"{doc['kind']} {meta.get('namespace', '')}/{meta.get('name', rel)}"
                out[key] = doc
    return out


def _object_body(doc: dict[str, Any]) -> dict[str, Any]:
    """An object without what other sections already explain (rule groups, dashboard JSON)."""
    body = json.loads(json.dumps(doc))
    kind = body.get("kind")
    if kind == "PrometheusRule":
        (body.get("spec") or {}).pop("groups", None)
    elif kind == "GrafanaDashboard":
        (body.get("spec") or {}).pop("json", None)
    elif kind == "ConfigMap" and isinstance(body.get("data"), dict):
        body["data"] = {k: "…" for k in body["data"]}
    return body


def diff_kubernetes(base: Tree, head: Tree) -> list[Change]:
    a, b = _objects(base), _objects(head)
    out: list[Change] = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            out.append(Change("kubernetes", key, "removed"))
        elif key not in a:
            out.append(Change("kubernetes", key, "added"))
        else:
            out += _settings("kubernetes", key, _object_body(a[key]), _object_body(b[key]))
    return out


# ------------------------------------------------------------------------------ other files


def _interpreted(rel: str, rule_files: set[str]) -> bool:
    """Files the sections above explain (rule files only if they are rule files)."""
    return (rel in _IGNORED_FILES or rel == ALERTMANAGER_CONFIG or rel in rule_files
            or (rel.startswith("grafana/") and rel.endswith(".json"))
            or (rel.startswith(cv.KUBERNETES_DIR + "/") and rel.endswith((".yaml", ".yml"))))


def diff_files(base: Tree, head: Tree) -> list[Change]:
    out = []
    rule_files = {rel for rel, _ in _rule_docs(base)} | {rel for rel, _ in _rule_docs(head)}
    for rel in sorted(set(base) | set(head)):
        if _interpreted(rel, rule_files):
            continue
        if rel not in head:
            out.append(Change("file", rel, "removed"))
        elif rel not in base:
            out.append(Change("file", rel, "added"))
        elif base[rel] != head[rel]:
            # a few changed values are listed; derived files (promtool tests) change in bulk
            a, b = _structured(rel, base[rel]), _structured(rel, head[rel])
            settings = _settings("file", rel, a, b) if a is not None and b is not None else []
            if 0 < len(settings) <= 5:
                out += settings
            else:
                out.append(Change("file", rel, "changed",
                                  after=f"{len(settings)} values" if settings else None))
    return out


def _structured(rel: str, text: str) -> Any:
    """JSON or YAML content of a file, so its changes can be named by path; else None."""
    if rel.endswith(".json"):
        return _load_json(text)
    if rel.endswith((".yaml", ".yml")):
        return _load_yaml(text)
    return None


# ------------------------------------------------------------------------------ entry points


def semantic_diff(base: Tree, head: Tree) -> list[Change]:
    """Every semantic change from ``base`` to ``head`` (empty: no semantic change)."""
    return (diff_alerts(base, head) + diff_routing(base, head) + diff_dashboards(base, head)
            + diff_kubernetes(base, head) + diff_files(base, head))


_AREA_TITLES = {
    "alert": "Alerts",
    "recording_rule": "Recording rules",
    "routing": "Routing (receivers per alert)",
    "config": "Alertmanager configuration",
    "dashboard": "Dashboards",
    "kubernetes": "Kubernetes objects",
    "file": "Other generated files",
}


def summary(changes: list[Change]) -> dict[str, int]:
    """Changed subjects per area (panels counted with their dashboards' panels)."""
    out: dict[str, int] = {}
    seen = set()
    for c in changes:
        key = (c.area, c.context if c.area == "panel" else "", c.subject)
        if key not in seen:
            seen.add(key)
            out[c.area] = out.get(c.area, 0) + 1
    return out


def to_json(changes: list[Change], base: str, head: str) -> str:
    return json.dumps({"base": base, "head": head, "changed": bool(changes),
                       "summary": summary(changes), "changes": [asdict(c) for c in changes]},
                      indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _code(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        value = ", ".join(map(str, value)) if value else "(none)"
    text = " ".join(str(value).split())
    if len(text) > _MAX_TEXT:
        text = text[:_MAX_TEXT - 1] + "…"
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def trim_common(before: str, after: str, keep: int = 30) -> tuple[str, str]:
    """Long texts that differ in a small part: drop the shared start and end (``…``)."""
    start = 0
    while start < min(len(before), len(after)) and before[start] == after[start]:
        start += 1
    end = 0
    while (end < min(len(before), len(after)) - start
           and before[-1 - end] == after[-1 - end]):
        end += 1
    cut_start = max(0, start - keep)
    cut_end = max(0, end - keep)
    if cut_start:  # start and end on word boundaries
        space = before.find(" ", cut_start, start)
        cut_start = space + 1 if space >= 0 else cut_start
    if cut_end:
        space = before.rfind(" ", len(before) - end, len(before) - cut_end)
        cut_end = len(before) - space if space >= 0 else cut_end
    head = "…" if cut_start else ""
    tail = "…" if cut_end else ""
    return (head + before[cut_start:len(before) - cut_end] + tail,
            head + after[cut_start:len(after) - cut_end] + tail)


def _change_line(c: Change) -> str:
    if c.action == "changed" and not c.field:
        return "changed"
    if c.action == "changed":
        if c.before is None:
            return f"{c.field}: added {_code(c.after)}"
        if c.after is None:
            return f"{c.field}: removed (was {_code(c.before)})"
        before, after = c.before, c.after
        if c.unit:
            before, after = with_unit(before, c.unit), with_unit(after, c.unit)
        if isinstance(before, str) and isinstance(after, str) and len(before) > 100:
            before, after = trim_common(before, after)
        return f"{c.field}: {_code(before)} → {_code(after)}"
    return c.action


def _added_alert(facts: dict[str, Any]) -> str:
    bits = [f"severity {facts['severity']}"] if facts.get("severity") else []
    if facts.get("threshold") is not None:
        bits.append(f"threshold {facts['comparison']} "
                    f"{with_unit(facts['threshold'], facts.get('unit', ''))}")
    if facts.get("window"):
        bits.append(f"window {facts['window']}")
    bits.append(f"for {facts['for']}")
    return ", ".join(bits)


_SUMMARY_ORDER = ("alert", "recording_rule", "routing", "config", "dashboard", "panel",
                  "kubernetes", "file")
_NOUNS = {"alert": "alert", "recording_rule": "recording rule", "dashboard": "dashboard",
          "panel": "panel", "kubernetes": "Kubernetes object", "file": "other file"}


def _count_text(area: str, n: int) -> str:
    if area == "routing":
        return f"routing of {n} alert{'s' if n != 1 else ''}"
    if area == "config":
        return "Alertmanager configuration"
    return f"{n} {_NOUNS.get(area, area)}{'s' if n != 1 else ''}"


def to_markdown(changes: list[Change], base: str, head: str) -> str:
    """A PR comment: a summary line, then one section per area, nested by subject."""
    if not changes:
        return "no semantic change\n"
    counts = summary(changes)
    parts = [_count_text(area, counts[area]) for area in _SUMMARY_ORDER if area in counts]
    lines = [f"### mlops-dash: semantic diff of generated output ({_code(base)} → {_code(head)})",
             "", "Changed: " + ", ".join(parts) + ".", ""]
    for area in ("alert", "recording_rule", "routing", "config", "dashboard", "kubernetes",
                 "file"):
        if area == "dashboard":
            mine = [c for c in changes if c.area in ("dashboard", "panel")]
        else:
            mine = [c for c in changes if c.area == area]
        if not mine:
            continue
        lines += [f"#### {_AREA_TITLES[area]}", ""]
        if area == "dashboard":
            lines += _dashboard_lines(mine)
        elif area == "routing":
            for c in mine:
                if c.field == "receivers" and c.before is None:
                    lines.append(f"- **{c.subject}** (new alert): {_code(c.after)}")
                elif c.field == "receivers" and c.after is None:
                    lines.append(f"- **{c.subject}** (alert removed): was {_code(c.before)}")
                elif c.field == "receivers":
                    lines.append(f"- **{c.subject}**: {_code(c.before)} → {_code(c.after)}")
                else:
                    lines.append(f"- `{c.subject}` {c.action}")
        else:
            lines += _grouped_lines(mine)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _grouped_lines(changes: list[Change]) -> list[str]:
    lines: list[str] = []
    order: list[str] = []
    by_subject: dict[str, list[Change]] = {}
    for c in changes:
        if c.subject not in by_subject:
            order.append(c.subject)
        by_subject.setdefault(c.subject, []).append(c)
    for subject in order:
        group = by_subject[subject]
        first = group[0]
        where = f" ({_code(first.context)})" if first.context else ""
        if first.action in ("added", "removed"):
            detail = ""
            if first.area == "alert":
                detail = ": " + _added_alert(first.after or first.before)
                expr = (first.after or first.before)["expression"]
                lines.append(f"- **{subject}** {first.action}{where}{detail}")
                lines.append(f"  - expression: {_code(expr)}")
                continue
            if first.area == "recording_rule":
                detail = f": {_code(first.after or first.before)}"
            lines.append(f"- **{subject}** {first.action}{where}{detail}")
            continue
        if len(group) == 1 and not first.field:
            detail = f" ({first.after})" if first.after else ""
            lines.append(f"- **{subject}**{where} {first.action}{detail}")
            continue
        lines.append(f"- **{subject}**{where}")
        lines += [f"  - {_change_line(c)}" for c in group[:_MAX_LINES]]
        if len(group) > _MAX_LINES:
            lines.append(f"  - … {len(group) - _MAX_LINES} more (see `--format json`)")
    return lines


def _dashboard_lines(changes: list[Change]) -> list[str]:
    lines: list[str] = []
    uids: list[str] = []
    for c in changes:
        if c.context not in uids:
            uids.append(c.context)
    for uid in uids:
        mine = [c for c in changes if c.context == uid]
        dash = [c for c in mine if c.area == "dashboard"]
        if dash and dash[0].action in ("added", "removed"):
            title = (dash[0].after or {}).get("title") if dash[0].action == "added" \
                else dash[0].before
            lines.append(f"- **{title}** ({_code(uid)}) {dash[0].action}")
            for s in (dash[0].after or {}).get("panel_list", []) if dash[0].action == "added" \
                    else []:
                lines.append(f"  - panel **{s['title']}** ({s['type']}, {s['unit']}, at "
                             f"{s['position']})")
            continue
        lines.append(f"- dashboard {_code(uid)}")
        lines += [f"  - {_change_line(c)}" for c in dash]
        panels: dict[str, list[Change]] = {}
        for c in mine:
            if c.area == "panel":
                panels.setdefault(c.subject, []).append(c)
        for title, group in panels.items():
            if group[0].action in ("added", "removed"):
                s = group[0].after or group[0].before
                lines.append(f"  - panel **{title}** {group[0].action} "
                             f"({s['type']}, {s['unit']}, at {s['position']})")
                continue
            lines.append(f"  - panel **{title}**")
            lines += [f"    - {_change_line(c)}" for c in group]
    return lines
