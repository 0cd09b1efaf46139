"""The alert side of ``promql/unit-mismatch`` and ``promql/threshold-mismatch``: an alert's
unit against its signal's (from the catalogue) and its panel's, a ratio threshold above 1, and
its ``comparison``/``threshold`` against the words of its summary and description and (``lint``
only) the rendered rule expression and the threshold line of its panel."""

from __future__ import annotations

import re

import promql_parser as pp

from mlops_dash import promql
from mlops_dash.lint.dashboard_checks import panel_places
from mlops_dash.lint.promql_checks import GRAFANA_UNITS, Analyzer, unit_problem
from mlops_dash.lint.runner import Context
from mlops_dash.render.rules import humanize_threshold
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document

_DIRECTION = re.compile(
    r"\b(above|over|exceeds?|exceeding|more than|greater than|higher than|at least|"
    r"below|under|less than|lower than|fewer than|at most)\s+(\$\{threshold\}|[0-9][0-9.,]*)"
    r"\s*(%?)(?!\s*(?:[0-9]|min|mins|minutes?|hours?|days?|weeks?|runs?|times?)\b)",
    re.IGNORECASE)
_UP = ("above", "over", "exceed", "exceeds", "exceeding", "more than", "greater than",
       "higher than", "at least")


def check_alerts(ctx: Context) -> None:
    """The alert side of unit-mismatch and threshold-mismatch."""
    _alerts(ctx, rendered_too=True)


def check_spec_alerts(ctx: Context) -> None:
    """check_alerts on the specs only (what `build` runs): not the rendered threshold lines
    and rule expressions, which only a renderer bug could break."""
    _alerts(ctx, rendered_too=False)


def _alerts(ctx: Context, *, rendered_too: bool) -> None:
    for doc in ctx.dashboards:
        d: m.Dashboard = doc.model
        panels = {p.id: p for p in d.panels}
        rendered = ctx.dashboard_json(d) if rendered_too else None
        for ai, alert in enumerate(d.alerts):
            if alert.signal.shape == "raw":
                continue  # raw-alert/no-tests (alert_checks.py) covers imported expressions
            an = Analyzer(ctx, doc, ("alerts", ai, "unit"))
            ast = ctx.parsed_promql(promql.signal_expr(alert))
            quantity = an.unit(ast) if ast is not None else None
            problem = unit_problem(quantity, alert.unit)
            if problem:
                an.report("promql/unit-mismatch", f"alert {alert.name}: {problem}")
            panel = panels.get(alert.panel)
            if panel is not None and panel.unit != alert.unit:
                fam_a, fam_p = GRAFANA_UNITS.get(alert.unit), GRAFANA_UNITS.get(panel.unit)
                if fam_a is not None and fam_p is not None and fam_a != fam_p:
                    an.report("promql/unit-mismatch",
                              f"alert {alert.name} is in {alert.unit!r} but its panel "
                              f"{panel.id!r} shows {panel.unit!r}: the threshold line "
                              "would be drawn at the wrong height")
            _bounded_threshold(ctx, doc, ai, alert, quantity)
            _threshold_text(ctx, doc, ai, alert)
            if rendered is not None and panel is not None:
                _threshold_line(ctx, doc, ai, alert, d, rendered)
            if rendered_too:
                _rendered_expr(ctx, doc, ai, alert, d)


def _bounded_threshold(ctx: Context, doc: Document, ai: int, alert: m.Alert,
                       quantity: str | None) -> None:
    s = alert.signal
    bound = None
    if isinstance(s, m.RatioSignal) or quantity == "ratio" and not isinstance(
            s, m.BaselineSignal):
        bound = 1.0
    elif quantity == "percent":
        bound = 100.0
    if bound is not None and alert.threshold > bound:
        hint = (f"; {alert.threshold:g} looks like a percentage, write "
                f"{alert.threshold / 100:g}" if bound == 1.0 else "")
        kind = "0-1 ratio" if bound == 1.0 else "0-100 percentage"
        ctx.at_spec(doc, ("alerts", ai, "threshold"), "promql/unit-mismatch",
                    f"alert {alert.name}: the signal is a {kind} but the threshold is "
                    f"{alert.threshold:g}{hint}")


def _threshold_text(ctx: Context, doc: Document, ai: int, alert: m.Alert) -> None:
    up = alert.comparison in (">", ">=")
    for field in ("summary", "description"):
        text = getattr(alert, field)
        for match in _DIRECTION.finditer(text):
            word, value, pct = match.group(1).lower(), match.group(2), match.group(3)
            says_up = word in _UP
            if value == "${threshold}":
                if says_up != up:
                    ctx.at_spec(doc, ("alerts", ai, field), "promql/threshold-mismatch",
                                f"alert {alert.name}: the {field} says {word!r} the threshold "
                                f"but the comparison is {alert.comparison!r}")
                continue
            try:
                number = float(value.replace(",", "").rstrip("."))
            except ValueError:
                continue
            candidates = {alert.threshold}
            if pct and alert.unit == "percentunit":
                candidates = {alert.threshold * 100}
            if not any(abs(number - c) <= 1e-9 * max(1.0, abs(c)) for c in candidates):
                ctx.at_spec(doc, ("alerts", ai, field), "promql/threshold-mismatch",
                            f"alert {alert.name}: the {field} says {match.group(0).strip()!r} "
                            f"but the threshold is "
                            f"{humanize_threshold(alert.threshold, alert.unit)}; "
                            "write ${threshold} instead of the number")


def _threshold_line(ctx: Context, doc: Document, ai: int, alert: m.Alert, d: m.Dashboard,
                    rendered: tuple[str, dict]) -> None:
    rel, dash = rendered
    index = next(i for i, p in enumerate(d.panels) if p.id == alert.panel)
    for where, p in panel_places(dash):  # a collapsed row's panels too
        if p.get("id") != index + 1:
            continue
        steps = p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get(
            "steps", [])
        values = [s.get("value") for s in steps if s.get("value") is not None]
        if not any(abs(float(v) - alert.threshold) < 1e-9 for v in values):
            ctx.at_output(rel, (*where, "fieldConfig", "defaults", "thresholds"),
                          "promql/threshold-mismatch",
                          f"alert {alert.name} fires at {alert.threshold:g} but panel "
                          f"{alert.panel!r} draws no threshold at that value "
                          f"(steps: {values})")


def _rendered_expr(ctx: Context, doc: Document, ai: int, alert: m.Alert,
                   d: m.Dashboard) -> None:
    """The rule file must compare the signal exactly as the spec's fields say."""
    from mlops_dash import conventions as cv

    rel = cv.rule_file_path(d.uid)
    if rel not in ctx.tree:
        return
    data = ctx.parsed_yaml(rel)
    for gi, group in enumerate(data.get("groups", [])):
        for ri, rule in enumerate(group.get("rules", [])):
            if rule.get("alert") != alert.name:
                continue
            where = ("groups", gi, "rules", ri, "expr")
            ast = ctx.parsed_promql(str(rule.get("expr", "")))
            ok = (isinstance(ast, pp.BinaryExpr) and str(ast.op) == alert.comparison
                  and not (ast.modifier is not None and ast.modifier.return_bool)
                  and isinstance(ast.rhs, pp.NumberLiteral)
                  and float(ast.rhs.val) == float(alert.threshold))
            if not ok:
                ctx.at_output(rel, where, "promql/threshold-mismatch",
                              f"alert {alert.name}: the rule expression does not end in "
                              f"`{alert.comparison} {promql.format_number(alert.threshold)}` "
                              "as the spec's comparison and threshold say")


CHECKS = [check_alerts]
