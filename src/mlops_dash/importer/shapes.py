"""Recognising a known signal shape in an imported alert expression.

A candidate shape is read from the expression's syntax tree (gauge: ``max by (…) (x)``;
quantile: ``histogram_quantile(q, sum by (le, …) (rate(x_bucket[w])))``; ratio of gauges or of
counters; difference; growth; age), then rendered by mlops-dash's own renderer
(``promql.signal_expr``) and kept only when the rendering parses to the same expression as the
original: a recognised shape never changes what the rule computes. Anything else is kept as a
``shape: raw`` signal, as written.
"""

from __future__ import annotations

from typing import Any

import promql_parser as pp
from pydantic import ValidationError

from mlops_dash import promql
from mlops_dash.spec import models as m

_OPS = {"=": "", "!=": "!=", "=~": "=~", "!~": "!~"}


def selector(node: object) -> dict[str, Any] | None:
    """A plain vector selector as a spec Selector dict (no offset, no @, a metric name)."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if not isinstance(node, pp.VectorSelector) or node.offset is not None \
            or node.at is not None or not node.name:
        return None
    matchers = {}
    for mt in node.matchers.matchers:
        op = str(mt.op).replace("MatchOp.", "")
        op = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}.get(op, op)
        if mt.name == "__name__" or op not in _OPS:
            return None
        matchers[str(mt.name)] = f"{_OPS[op]}{mt.value}"
    return {"metric": str(node.name), "matchers": matchers}


def _agg(node: object, ops: tuple[str, ...]) -> tuple[str, list[str], object] | None:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if not isinstance(node, pp.AggregateExpr) or node.modifier is None \
            or node.param is not None:
        return None
    op = str(node.op)
    if op not in ops or "without" in str(node.modifier.type).lower():
        return None
    return op, [str(x) for x in node.modifier.labels], node.expr


def _union(node: object) -> list[dict[str, Any]] | None:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.BinaryExpr) and str(node.op) == "or":
        a, b = _union(node.lhs), _union(node.rhs)
        return a + b if a is not None and b is not None else None
    sel = selector(node)
    return [sel] if sel else None


def _first_range(node: object, func: str) -> tuple[dict[str, Any], str] | None:
    for n in promql.walk(node):
        if isinstance(n, pp.Call) and str(n.func.name) == func and n.args:
            arg = n.args[0]
            if isinstance(arg, pp.MatrixSelector):
                sel = selector(arg.vector_selector)
                if sel:
                    return sel, _duration(arg.range)
    return None


def _duration(td: Any) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def candidates(signal: object) -> list[tuple[dict[str, Any], str | None]]:
    """(signal dict, window) guesses read from the syntax tree of a thresholdless signal."""
    out: list[tuple[dict[str, Any], str | None]] = []
    node = signal
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    g = _agg(node, ("max", "min", "avg", "sum"))
    if g is not None:
        series = _union(g[2])
        if series and g[1]:
            out.append(({"shape": "gauge", "series": series, "aggregate": g[0], "by": g[1]},
                        None))
    if isinstance(node, pp.Call) and str(node.func.name) == "histogram_quantile" \
            and len(node.args) == 2 and isinstance(node.args[0], pp.NumberLiteral):
        inner = _agg(node.args[1], ("sum",))
        found = _first_range(node.args[1], "rate")
        if inner is not None and found is not None and inner[1][:1] == ["le"]:
            sel, window = found
            if sel["metric"].endswith("_bucket"):
                sel = {**sel, "metric": sel["metric"].removesuffix("_bucket")}
                out.append(({"shape": "quantile", "histogram": sel,
                             "quantile": float(node.args[0].val), "by": inner[1][1:]}, window))
    if isinstance(node, pp.BinaryExpr) and str(node.op) in ("/", "-"):
        lhs, rhs = node.lhs, node.rhs
        op = str(node.op)
        a, b = _agg(lhs, ("sum", "max")), _agg(rhs, ("sum", "max"))
        if op == "/" and a and b and a[0] == b[0] == "sum":
            sa, sb = selector(a[2]), selector(b[2])
            if sa and sb:
                out.append(({"shape": "ratio", "of": "gauges", "numerator": sa,
                             "denominator": sb, "by": a[1]}, None))
            ra, rb = _first_range(a[2], "increase"), _first_range(b[2], "increase")
            if ra and rb and ra[1] == rb[1]:
                out.append(({"shape": "ratio", "numerator": ra[0], "denominator": rb[0],
                             "by": a[1]}, ra[1]))
        if op == "-" and a and b and a[0] == b[0] == "max":
            sa, sb = selector(a[2]), selector(b[2])
            if sa and sb:
                out.append(({"shape": "difference", "minuend": sa, "subtrahend": sb,
                             "by": a[1]}, None))
        if op == "-" and a and b and a[0] == b[0] == "sum":
            sa = selector(a[2])
            inner = b[2]
            while isinstance(inner, pp.ParenExpr):
                inner = inner.expr
            if sa and isinstance(inner, pp.VectorSelector) and inner.offset is not None:
                out.append(({"shape": "growth", "series": sa, "by": a[1]},
                             _duration(inner.offset)))
        if op == "-" and isinstance(lhs, pp.Call) and str(lhs.func.name) == "time":
            c = _agg(rhs, ("max",))
            sel = selector(c[2]) if c else None
            if c and sel and c[1]:
                out.append(({"shape": "age", "start_timestamp": sel, "by": c[1]}, None))
    return out


def _bare(expr: str) -> str:
    node = promql.parse(expr)
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    return str(node)


def recognise(signal_text: str, base: dict[str, Any]) -> tuple[dict[str, Any], str | None] | None:
    """The first candidate shape whose rendering is the same expression, with its window."""
    try:
        original = _bare(signal_text)
    except promql.PromQLSyntaxError:
        return None
    for sig, window in candidates(promql.parse(signal_text)):
        data = {**base, "signal": sig}
        if window is not None:
            data["window"] = window
        try:
            alert = m.Alert.model_validate(data)
        except ValidationError:
            continue
        try:
            rendered = _bare(promql.signal_expr(alert))
        except promql.PromQLSyntaxError:
            continue
        if rendered == original:
            return sig, window
    return None
