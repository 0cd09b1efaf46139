"""Evaluate rules and expressions on hand-made series with the real ``promtool test rules``:
the series model what an exporter really exposes, so a test states the exporter's behaviour and
Prometheus' own evaluation decides."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from mlops_dash import conventions as cv
from mlops_dash.lint import tools

Sample = tuple[str, float]  # ('metric{a="b"}', value)


def panel_exprs(tree: dict[str, str], uid: str, title: str,
                variables: dict[str, str]) -> list[str]:
    """A rendered panel's queries with dashboard variables filled in (``$__rate_interval``:
    5m, Grafana's value for a 1m scrape interval at these ranges)."""
    dash = json.loads(tree[cv.dashboard_json_path(uid)])
    panel = next(p for p in dash["panels"] if p["title"] == title)
    out = []
    for t in panel["targets"]:
        expr = t["expr"].replace("$__rate_interval", "5m")
        for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(f"${name}", value)
        assert not re.search(r"\$[a-z_]", expr), expr
        out.append(expr)
    return out


def rule_labels(tree: dict[str, str], uid: str, alert: str) -> dict[str, str]:
    data = yaml.safe_load(tree[cv.rule_file_path(uid)])
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return dict(rule.get("labels", {}))
    raise LookupError(alert)


def run_case(tmp_path: Path, series: dict[str, str], checks: list[tuple[str, str, list[Sample]]],
             tree: dict[str, str] | None = None, rule_uids: tuple[str, ...] = (),
             extra_rules: list[dict[str, Any]] | None = None, interval: str = "1m",
             evaluation_interval: str = "1m") -> tools.ToolResult:
    """One promtool test: ``series`` (series → promtool values notation), each check an
    (expr, eval_time, expected samples) triple; rule files from ``tree`` and/or ``extra_rules``."""
    rule_files = []
    for uid in rule_uids:
        assert tree is not None
        path = tmp_path / f"{uid}.rules.yaml"
        path.write_text(tree[cv.rule_file_path(uid)])
        rule_files.append(path.name)
    if extra_rules:
        path = tmp_path / "extra.rules.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "extra", "interval": interval,
                                                     "rules": extra_rules}]}))
        rule_files.append(path.name)
    test = {
        "rule_files": rule_files,
        "evaluation_interval": evaluation_interval,
        "tests": [{
            "interval": interval,
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "promql_expr_test": [
                {"expr": expr, "eval_time": at,
                 "exp_samples": [{"labels": lbl, "value": val} for lbl, val in samples]}
                for expr, at, samples in checks],
        }],
    }
    file = tmp_path / "case.test.yaml"
    file.write_text(yaml.safe_dump(test, sort_keys=False))
    return tools.promtool_test_rules(file, cwd=tmp_path)


def series_text(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"
