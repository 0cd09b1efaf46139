"""The real tools and the official schemas on the rendered tree (written to a temporary folder):
``promtool check rules``, ``amtool check-config`` (when the build renders an Alertmanager
config), the Grafana 12 dashboard and panel schemas, the strict CRD schemas, the rule file and
Alertmanager config schemas. A missing promtool/amtool is an EnvironmentProblem (exit 2)."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from mlops_dash import conventions as cv
from mlops_dash.lint import schemas, tools
from mlops_dash.lint.runner import Context

ALERTMANAGER_CONFIG = cv.ALERTMANAGER_CONFIG_PATH


def _write(tree: dict[str, str], root: Path) -> None:
    for rel, content in tree.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def _tool_message(result: tools.ToolResult, tmp: Path) -> str:
    text = result.output.replace(str(tmp) + "/", "")
    lines = []
    for ln in text.splitlines():
        ln = re.sub(r"^Checking \S+\s*", "", ln).strip()
        if ln and ln not in ("FAILED:", "SUCCESS") and not ln.startswith("amtool: error: failed"):
            lines.append(ln)
    return "; ".join(lines)[:1000] or f"exit code {result.returncode}"


def check_tools(ctx: Context) -> None:
    rule_files = sorted(rel for rel in ctx.tree
                        if rel.startswith("prometheus/") and rel.endswith(".rules.yaml"))
    has_am = ALERTMANAGER_CONFIG in ctx.tree
    if not rule_files and not has_am:
        return
    with tempfile.TemporaryDirectory(prefix="mlops-dash-lint-") as name:
        tmp = Path(name)
        _write(ctx.tree, tmp)
        if rule_files:
            result = tools.promtool_check_rules(*(tmp / rel for rel in rule_files))
            if not result.ok:
                for rel in rule_files:  # attribute the failure to each failing file
                    one = tools.promtool_check_rules(tmp / rel)
                    if not one.ok:
                        ctx.at_output(rel, (), "tool/promtool",
                                      f"promtool check rules: {_tool_message(one, tmp)}")
        if has_am:
            result = tools.amtool_check_config(tmp / ALERTMANAGER_CONFIG)
            if not result.ok:
                ctx.at_output(ALERTMANAGER_CONFIG, (), "tool/amtool",
                              f"amtool check-config: {_tool_message(result, tmp)}")


_POINTER = re.compile(r"^(?P<pointer>[^:]*): (?P<message>.*)$", re.DOTALL)


def _report_schema(ctx: Context, rel: str, check_id: str, errors: list[str],
                   strip_first: bool = True) -> None:
    for err in errors:
        match = _POINTER.match(err)
        path: tuple[Any, ...] = ()
        message = err
        if match:
            parts = match.group("pointer").split("/")
            if strip_first and parts and parts[0] != "panels":
                parts = parts[1:]
            path = tuple(int(p) if p.isdigit() else p for p in parts if p)
            message = f"{match.group('pointer')}: {match.group('message')}"
        ctx.at_output(rel, path, check_id, message)


def check_schemas(ctx: Context) -> None:
    for rel in sorted(ctx.tree):
        text = ctx.tree[rel]
        if rel.startswith("grafana/") and rel.endswith(".json"):
            _report_schema(ctx, rel, "schema/grafana-dashboard",
                           schemas.dashboard_errors(json.loads(text)))
        elif rel.startswith("prometheus/") and rel.endswith(".rules.yaml"):
            _report_schema(ctx, rel, "schema/prometheus-rules",
                           schemas.rule_file_errors(yaml.safe_load(text) or {}))
        elif rel.startswith("kubernetes/") and rel.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict):
                    _report_schema(ctx, rel, "schema/kubernetes-crd",
                                   schemas.manifest_errors(doc))
        elif rel == ALERTMANAGER_CONFIG:
            _report_schema(ctx, rel, "schema/alertmanager",
                           schemas.alertmanager_errors(yaml.safe_load(text) or {}))
        elif rel == cv.CLOUDWATCH_EXPORTER_CONFIG_PATH:
            from mlops_dash.lint.exporter_configs import cloudwatch_config_errors

            _report_schema(ctx, rel, "schema/cloudwatch-exporter",
                           cloudwatch_config_errors(yaml.safe_load(text)))


CHECKS = [check_schemas, check_tools]
