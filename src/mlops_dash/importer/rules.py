"""A Prometheus rule file or ``PrometheusRule`` manifest → a Dashboard spec of its alerts and
recording rules (one panel per alert, showing its signal and threshold line).

An alert keeps its name, ``for``, group interval, labels and annotations (summary,
description and runbook_url as the spec's fields, others as ``annotations``); its severity label
is mapped onto critical/warning/info. Its expression becomes a known signal shape when
shapes.py recognises one, else a ``shape: raw`` signal; a top-level comparison with a number is
split off as ``comparison`` and ``threshold`` (the panel's threshold line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import promql_parser as pp

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.errors import SpecError
from mlops_dash.importer import shapes
from mlops_dash.importer.report import Report, jpath, placed
from mlops_dash.spec import models as m
from mlops_dash.spec.yamlsource import SourceMap, load_yaml

SEVERITY_MAP = {"critical": "critical", "page": "critical", "error": "critical",
                "high": "critical", "p1": "critical", "warning": "warning", "warn": "warning",
                "medium": "warning", "ticket": "warning", "p2": "warning", "p3": "warning",
                "info": "info", "low": "info", "none": "info", "notice": "info",
                "informational": "info", "p4": "info"}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">="}
_RULE_KEYS = {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}
_MANAGED_LABELS = {cv.LABEL_TEAM, cv.LABEL_DASHBOARD, cv.DIGEST_GROUP_LABEL}


@dataclass
class ImportedRules:
    spec: dict[str, Any]
    report: Report = field(default_factory=Report)


def read_rules(path: Path) -> tuple[list[Any], SourceMap, tuple[Any, ...]]:
    """The groups of a rule file or PrometheusRule manifest, its source map and the path of
    ``groups`` in it; placed errors for anything else."""
    file = str(path)
    data, smap = load_yaml(path.read_bytes(), file)
    base: tuple[Any, ...] = ()
    if isinstance(data, dict) and data.get("kind") == "PrometheusRule":
        data, base = data.get("spec") or {}, ("spec",)
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise SpecError(file, "not a Prometheus rule file: no `groups` list (nor a "
                        "PrometheusRule manifest's spec.groups)", line=1, column=1)
    return data["groups"], smap, base + ("groups",)


def _split(expr: str) -> tuple[str, str | None, float | None]:
    """(signal, comparison, threshold) when the top of ``expr`` compares with a number."""
    node = promql.parse(expr)
    top = node
    while isinstance(top, pp.ParenExpr):
        top = top.expr
    if isinstance(top, pp.BinaryExpr) and str(top.op) in _FLIP and \
            not (top.modifier is not None and top.modifier.return_bool):
        if isinstance(top.rhs, pp.NumberLiteral):
            return _text(expr, top.lhs), str(top.op), float(top.rhs.val)
        if isinstance(top.lhs, pp.NumberLiteral):
            return _text(expr, top.rhs), _FLIP[str(top.op)], float(top.lhs.val)
    return expr, None, None


def _text(expr: str, node: object) -> str:
    """The side of a comparison as written (its windows as the author wrote them): the text
    before the last top-level comparison operator, else the parser's rendering."""
    rendered = str(node)
    texts = [expr.strip()]
    while texts[-1].startswith("(") and texts[-1].endswith(")"):
        texts.append(texts[-1][1:-1].strip())  # `(x > 1)`: the comparison inside parentheses
    for text in texts:
        m = re.match(r"^(.*?)\s*(>=|<=|>|<)\s*[-+]?[0-9.eE+]+$", text, re.S)
        if not m:
            continue
        try:
            if str(promql.parse(m.group(1))) == rendered:
                return m.group(1)
        except promql.PromQLSyntaxError:
            pass
    return rendered


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


def _alert(rule: dict[str, Any], where: str, interval: str, report: Report,
           file: str, line: int | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    name = str(rule["alert"])
    if not cv.ALERT_NAME_RE.match(name):
        report.skip(where, name, "an alert name must be CamelCase, at most 40 characters",
                    rule)
        return None
    expr = str(rule.get("expr", "")).strip()
    try:
        signal, comparison, threshold = _split(expr)
    except promql.PromQLSyntaxError as exc:
        raise placed(file, f"{where}.expr", f"alert {name}: invalid PromQL: {exc}",
                     line) from None
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    raw_sev = labels.pop(cv.LABEL_SEVERITY, "")
    severity = SEVERITY_MAP.get(raw_sev.lower())
    if severity is None:
        severity = "warning"
        report.note(f"{where} {name}: severity {raw_sev or '(none)'!r} mapped to warning")
    elif severity != raw_sev:
        report.note(f"{where} {name}: severity {raw_sev!r} mapped to {severity}")
    for lbl in sorted(_MANAGED_LABELS & set(labels)):
        report.skip(f"{where}.labels.{lbl}", name, f"label {lbl!r} is set by mlops-dash",
                    {lbl: labels.pop(lbl)})
    ann = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
    summary = ann.pop("summary", "").strip()
    description = ann.pop("description", "").strip()
    runbook = ann.pop("runbook_url", "").strip()
    if "dashboard_url" in ann:
        report.skip(f"{where}.annotations.dashboard_url", name, "dashboard_url is generated "
                    "(the deep link to the alert's panel)", ann.pop("dashboard_url"))
    if not summary:
        report.note(f"{where} {name}: no summary; the alert name is used")
    if not description:
        report.note(f"{where} {name}: no description; the summary is used")
    for key in sorted(set(rule) - _RULE_KEYS):
        report.skip(f"{where}.{key}", name, f"rule field {key!r} is not in the spec format",
                    rule[key])
    if "keep_firing_for" in rule:
        report.skip(f"{where}.keep_firing_for", name, "keep_firing_for is not in the spec "
                    "format", rule["keep_firing_for"])
    panel_id = re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()
    alert: dict[str, Any] = {
        "name": name, "severity": severity, "panel": panel_id,
        "summary": summary or name, "description": description or summary or name,
        "unit": "short", "for": str(rule.get("for") or "0m"), "interval": interval,
        "action": (f"Follow the runbook: {runbook}" if runbook else
                   "Investigate as the description says (imported rule; write the action)"),
    }
    if comparison is not None:
        alert["comparison"], alert["threshold"] = comparison, _number(threshold or 0.0)
    found = shapes.recognise(signal, {**alert, "signal": {"shape": "raw", "expr": signal}}) \
        if comparison is not None else None
    if found is not None:
        alert["signal"] = found[0]
        if found[1] is not None:
            alert["window"] = found[1]
    else:
        alert["signal"] = {"shape": "raw", "expr": signal}
    if labels:
        alert["labels"] = labels
    if runbook:
        alert["runbook_url"] = runbook
    if ann:
        alert["annotations"] = ann
    panel = {"id": panel_id, "title": name, "description": summary or name,
             "type": "timeseries", "unit": "short",
             "queries": [{"expr": signal if found is None else
                          promql.signal_expr(m.Alert.model_validate(alert))}]}
    return alert, panel


def import_rules(path: Path, team: str = "imported") -> ImportedRules:
    from mlops_dash.importer.grafana import spec_uid

    groups, smap, base = read_rules(path)
    file = str(path)
    report = Report()
    alerts, panels, records = [], [], []
    seen: set[str] = set()
    for gi, group in enumerate(groups):
        if not isinstance(group, dict):
            raise placed(file, jpath(*base, gi), "a rule group is a mapping",
                         *smap.locate((*base, gi)))
        interval = str(group.get("interval") or "1m")
        for ri, rule in enumerate(group.get("rules") or []):
            where = jpath(*base, gi, "rules", ri)
            line = smap.locate((*base, gi, "rules", ri, "expr"))[0]
            if not isinstance(rule, dict) or ("alert" in rule) == ("record" in rule):
                raise placed(file, where, "a rule has exactly one of `alert` or `record`",
                             *smap.locate((*base, gi, "rules", ri)))
            if "record" in rule:
                rec = str(rule["record"])
                try:
                    promql.parse(str(rule.get("expr", "")))
                except promql.PromQLSyntaxError as exc:
                    raise placed(file, f"{where}.expr", f"record {rec}: invalid PromQL: "
                                 f"{exc}", line) from None
                if rec.startswith("slo:"):
                    report.skip(where, rec, "slo:… records are generated from an SLO (`slos:` "
                                "in a Dashboard spec): write the SLO", rule)
                    continue
                if not cv.RECORD_NAME_RE.match(rec):
                    report.skip(where, rec, "a recording rule is named level:metric:operations",
                                rule)
                    continue
                r: dict[str, Any] = {"record": rec, "expr": str(rule["expr"]),
                                     "interval": interval}
                if rule.get("labels"):
                    r["labels"] = {str(k): str(v) for k, v in rule["labels"].items()}
                records.append(r)
                continue
            if rule["alert"] in seen:
                report.skip(where, str(rule["alert"]), "a second alert of the same name", rule)
                continue
            if re.search(r"\bslo:[a-zA-Z_]", str(rule.get("expr", ""))):
                report.skip(where, str(rule["alert"]), "an SLO's burn-rate alert (it reads "
                            "slo:… records): write the SLO", rule)
                continue
            out = _alert(rule, where, interval, report, file, line)
            if out is not None:
                seen.add(out[0]["name"])
                alerts.append(out[0])
                panels.append(out[1])
    uid = spec_uid(path.name.split(".")[0])
    spec: dict[str, Any] = {"apiVersion": "mlops-dash/v1", "kind": "Dashboard", "uid": uid,
                            "title": f"{path.name} (imported rules)", "team": team,
                            "panels": panels}
    if alerts:
        panels.append({"id": "alert-history", "title": "Alert history", "type": "alert-history",
                       "description": "When the imported alerts were pending and firing",
                       "unit": "short", "width": 24,
                       "alerts": [a["name"] for a in alerts]})
    if records:
        spec["recording_rules"] = records
    if alerts:
        spec["alerts"] = alerts
    if not panels:
        spec["panels"] = [{"id": "records", "title": "Recording rules", "description":
                           "The imported recording rules", "type": "timeseries",
                           "unit": "short", "queries": [{"expr": r["record"]}
                                                        for r in records[:10]] or [
                                                            {"expr": "vector(0)"}]}]
    return ImportedRules(spec=spec, report=report)
