"""PromQL helpers on a real parser (promql-parser): parse, walk, and render signal expressions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import promql_parser as pp

from mlops_dash.spec.models import (
    AgeSignal,
    Alert,
    BaselineSignal,
    DifferenceSignal,
    GaugeSignal,
    GrowthSignal,
    QuantileSignal,
    RatioSignal,
    Selector,
)

BUILTIN_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
_GRAFANA_RANGE_VARS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")
_GRAFANA_VARS = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class PromQLSyntaxError(ValueError):
    """An expression the PromQL parser refuses."""


def label_values_parts(query: str) -> tuple[str, str] | None:
    """``label_values(selector, label)`` → ``(selector, label)``; ``label_values(label)`` →
    ``("", label)``; None for any other query."""
    q = query.strip()
    if not (q.startswith("label_values(") and q.endswith(")")):
        return None
    body = q[len("label_values("):-1]
    depth = 0
    for i in range(len(body) - 1, -1, -1):
        c = body[i]
        if c in ")}":
            depth += 1
        elif c in "({":
            depth -= 1
        elif c == "," and depth == 0:
            return body[:i].strip(), body[i + 1:].strip()
    return "", body.strip()


def substitute_grafana_variables(expr: str) -> str:
    """Replace Grafana variables so a dashboard query parses as plain PromQL."""
    expr = _GRAFANA_RANGE_VARS.sub("5m", expr)
    return _GRAFANA_VARS.sub("var", expr)


def parse(expr: str) -> pp.Expr:
    """Parse PromQL; raise PromQLSyntaxError with the parser's message."""
    try:
        return pp.parse(expr)
    except Exception as exc:  # the parser raises plain exceptions with a message
        raise PromQLSyntaxError(str(exc).strip()) from None


def children(node: object) -> Iterator[object]:
    """Direct sub-expressions of an AST node."""
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and isinstance(child, pp.Expr):
            yield child
    args = getattr(node, "args", None)
    if args:
        for a in args:
            if isinstance(a, pp.Expr):
                yield a


def walk(node: object) -> Iterator[object]:
    """Every node of an AST, depth first."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(children(n))))


def vector_selectors(node: object) -> Iterator[pp.VectorSelector]:
    """Every vector selector in an AST (inside matrix selectors too)."""
    for n in walk(node):
        if isinstance(n, pp.VectorSelector):
            yield n


def selector_name(vs: pp.VectorSelector) -> str | None:
    """Metric name of a selector, from the name or a ``__name__`` matcher."""
    if vs.name:
        return str(vs.name)
    for m in vs.matchers.matchers:
        if m.name == "__name__":
            return str(m.value)
    return None


def metric_names(expr: str) -> list[str]:
    """Metric names an expression reads, in order of appearance, without duplicates."""
    names: list[str] = []
    for vs in vector_selectors(parse(expr)):
        name = selector_name(vs)
        if name and name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------------------- rendering


def selector(sel: Selector, suffix: str = "", extra: dict[str, str] | None = None) -> str:
    """``metric{label="v", other=~"re"}`` from a spec Selector."""
    parts = []
    for label, raw in {**sel.matchers, **(extra or {})}.items():
        op, value = "=", raw
        for candidate in ("=~", "!=", "!~"):
            if raw.startswith(candidate):
                op, value = candidate, raw[len(candidate):]
                break
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{label}{op}"{escaped}"')
    inner = "{" + ", ".join(parts) + "}" if parts else ""
    return f"{sel.metric}{suffix}{inner}"


def _by(labels: list[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def signal_expr(alert: Alert) -> str:
    """The expression of an alert's signal (the value compared with the threshold)."""
    s = alert.signal
    w = alert.window
    if isinstance(s, RatioSignal) and s.of == "gauges":
        return f"sum{_by(s.by)} ({selector(s.numerator)}) / sum{_by(s.by)} ({selector(s.denominator)})"
    if isinstance(s, RatioSignal):
        return (
            f"sum{_by(s.by)} (rate({selector(s.numerator)}[{w}]))"
            f" / sum{_by(s.by)} (rate({selector(s.denominator)}[{w}]))"
        )
    if isinstance(s, QuantileSignal):
        return (
            f"histogram_quantile({s.quantile:g}, sum by (le{''.join(', ' + b for b in s.by)})"
            f" (rate({selector(s.histogram, '_bucket')}[{w}])))"
        )
    if isinstance(s, GaugeSignal):
        terms = []
        for sel in s.series:
            if s.scale_by is None:
                terms.append(selector(sel))
            else:
                for value, scale in s.scale_by.values.items():
                    terms.append(f"{selector(sel, extra={s.scale_by.label: value})} / {scale:g}")
        union = " or ".join(terms)
        return f"{s.aggregate}{_by(s.by)} ({union})"
    if isinstance(s, DifferenceSignal):
        return (
            f"max{_by(s.by)} ({selector(s.minuend)}) - max{_by(s.by)} ({selector(s.subtrahend)})"
        )
    if isinstance(s, GrowthSignal):
        return (
            f"sum{_by(s.by)} ({selector(s.series)})"
            f" - sum{_by(s.by)} ({selector(s.series)} offset {w})"
        )
    if isinstance(s, BaselineSignal):
        current = f"{s.aggregate}{_by(s.by)} ({selector(s.series)})"
        return (
            f"{current} / avg_over_time(({current})[{s.baseline_window}:{s.baseline_step}]) - 1"
        )
    if isinstance(s, AgeSignal) and s.baseline is None:
        return f"time() - max{_by(s.by)} ({selector(s.start_timestamp)})"
    if isinstance(s, AgeSignal):
        assert s.baseline is not None
        return (
            f"(time() - max{_by(s.by)} ({selector(s.start_timestamp)}))"
            f" / on ({', '.join(s.match_on)}) group_left () {selector(s.baseline)}"
        )
    raise AssertionError(f"unknown signal shape {s!r}")


def alert_expr(alert: Alert) -> str:
    """The full alerting expression: ``(signal) <comparison> threshold``."""
    return f"({signal_expr(alert)}) {alert.comparison} {format_number(alert.threshold)}"


def format_number(value: float) -> str:
    """A threshold as PromQL writes it: integers without a decimal point, no exponent."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def signal_metrics(alert: Alert) -> list[str]:
    """Metric names read by an alert's expression."""
    return metric_names(alert_expr(alert))
