"""PromQL helpers on a real parser (promql-parser): parse, walk, and render signal expressions."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import promql_parser as pp

from mlops_dash.spec.base import duration_seconds
from mlops_dash.spec.models import (
    AgeSignal,
    Alert,
    BaselineSignal,
    DifferenceSignal,
    GaugeSignal,
    GrowthSignal,
    QuantileSignal,
    RatioSignal,
    RawSignal,
    Selector,
)

# Series Prometheus writes itself, known without cataloguing them: per scrape target
# (https://prometheus.io/docs/concepts/jobs_instances: up, scrape_duration_seconds,
# scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added) and per
# alerting rule (ALERTS, ALERTS_FOR_STATE). Their labels depend on the scrape config (a
# ServiceMonitor adds namespace, pod, service...), so lint does not check them; catalogue one
# (e.g. up with its labels) to have them checked and alert tests derived.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                           "scrape_samples_post_metric_relabeling", "scrape_series_added"})
BUILTIN_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE"}) | SCRAPE_SERIES
_GRAFANA_RANGE_VARS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")
_GRAFANA_VARS = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


class PromQLSyntaxError(ValueError):
    """An expression the PromQL parser refuses."""


@functools.lru_cache(maxsize=4096)  # asked per alert of a dashboard, for each variable
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
        return _parsed(expr)
    except Exception as exc:  # the parser raises plain exceptions with a message
        raise PromQLSyntaxError(str(exc).strip()) from None


@functools.lru_cache(maxsize=4096)
def _parsed(expr: str) -> pp.Expr:
    """promql-parser's AST of ``expr``, kept: the cross-checks, the build checks, the rules,
    runbooks and alert tests parse the same expressions again (the shipped build parsed 177
    expressions 336 times), and the AST cannot be changed (its attributes are read-only)."""
    return pp.parse(expr)


_QUOTED_TOKEN = re.compile(r"(?:not a valid duration string|illegal regex for|unknown unit)"
                           r":? (.+)$")


def error_offset(expr: str, message: str) -> int | None:
    """Where in ``expr`` (0-based) the parser's ``message`` points, when it can be told: the
    parser names no position, so find the unmatched bracket or quote, or the quoted token."""
    if "parenthesis" in message or "braces" in message or "bracket" in message \
            or "unterminated quoted string" in message:
        return _unbalanced(expr)
    found = _QUOTED_TOKEN.search(message)
    if found:
        token = found.group(1).strip().strip("\"'")
        at = expr.find(f'"{token}')
        return at + 1 if at >= 0 else (expr.find(token) if token in expr else None)
    if message.startswith("duration must be greater than 0"):
        zero = re.search(r"\[\s*0+[a-z]*\s*[]:]|:\s*0+[a-z]*\s*\]", expr)
        return zero.start() if zero else None
    return None


def _unbalanced(expr: str) -> int | None:
    """Offset of the first unmatched bracket or unterminated string of ``expr``."""
    stack: list[int] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            end = i + 1
            while end < len(expr) and expr[end] != c:
                end += 2 if expr[end] == "\\" and c != "`" else 1
            if end >= len(expr):
                return i
            i = end
        elif c == "#":
            nl = expr.find("\n", i)
            i = len(expr) if nl < 0 else nl
        elif c in "([{":
            stack.append(i)
        elif c in ")]}":
            if not stack or expr[stack[-1]] != pairs[c]:
                return i
            stack.pop()
        i += 1
    return stack[-1] if stack else None


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


# signal_expr and alert_expr of the alerts seen so far, by identity: rules, runbooks, alert
# tests, the cross-checks and lint each ask them of every alert
_SIGNAL_EXPRS: dict[int, tuple[Any, Any]] = {}
_ALERT_EXPRS: dict[int, tuple[Any, Any]] = {}
MEMO_SIZE = 50_000

T = TypeVar("T")
R = TypeVar("R")


def by_identity(memo: dict[int, tuple[Any, Any]], obj: T, make: Callable[[T], R]) -> R:
    """``make(obj)``, remembered in ``memo`` by the object's identity: for frozen models only.
    Each entry keeps its object, so an id is not reused while the entry lives; the memo is
    cleared at MEMO_SIZE entries."""
    hit = memo.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]  # type: ignore[no-any-return]
    value = make(obj)
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[id(obj)] = (obj, value)
    return value


def signal_expr(alert: Alert) -> str:
    """The expression of an alert's signal (the value compared with the threshold)."""
    return by_identity(_SIGNAL_EXPRS, alert, _signal_expr)


def _signal_expr(alert: Alert) -> str:
    s = alert.signal
    w = alert.window
    if isinstance(s, RawSignal):
        return s.expr
    if isinstance(s, RatioSignal) and s.of == "gauges":
        return f"sum{_by(s.by)} ({selector(s.numerator)}) / sum{_by(s.by)} ({selector(s.denominator)})"
    if isinstance(s, RatioSignal):
        return (f"sum{_by(s.by)} ({counted(selector(s.numerator), str(w))})"
                f" / sum{_by(s.by)} ({counted(selector(s.denominator), str(w))})")
    if isinstance(s, QuantileSignal):
        return (
            f"histogram_quantile({s.quantile:g}, sum by (le{''.join(', ' + b for b in s.by)})"
            f" (rate({selector(s.histogram, '_bucket')}[{w}])))"
        )
    if isinstance(s, GaugeSignal) and s.events is not None:
        return _events_expr(s)
    if isinstance(s, GaugeSignal):
        terms = []
        for sel in s.series:
            if s.scale_by is None:
                terms.append(selector(sel))
            else:
                for value, scale in s.scale_by.values.items():
                    terms.append(f"{selector(sel, extra={s.scale_by.label: value})} / {scale:g}")
        union = " or ".join(terms)
        current = f"{s.aggregate}{_by(s.by)} ({union})"
        if s.consecutive is not None:
            return _consecutive_expr(alert, s, union)
        if s.sustained is None:
            return current
        # held at every point of the window: the extreme on the safe side is still violating
        hold = "max_over_time" if alert.comparison in ("<", "<=") else "min_over_time"
        existed = " or ".join(f"last_over_time({selector(sel)}[{SUSTAINED_EDGE}] offset "
                              f"{s.sustained})" for sel in s.series)
        return (f"{hold}(({current})[{s.sustained}:{SUSTAINED_STEP}])"
                f" and on ({', '.join(s.by)}) {s.aggregate}{_by(s.by)} ({existed})")
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
        rng = f"({current})[{s.baseline_window}:{s.baseline_step}]"
        if s.baseline_offset:
            rng += f" offset {s.baseline_offset}"
        stat = ("avg_over_time(" if s.baseline_stat == "avg" else "quantile_over_time(0.5, ")
        return f"{current} / {stat}{rng}) - 1"
    if isinstance(s, AgeSignal) and s.baseline is None:
        return f"time() - max{_by(s.by)} ({selector(s.start_timestamp)})"
    if isinstance(s, AgeSignal):
        assert s.baseline is not None
        return (
            f"(time() - max{_by(s.by)} ({selector(s.start_timestamp)}))"
            f" / on ({', '.join(s.match_on)}) group_left () {selector(s.baseline)}"
        )
    raise AssertionError(f"unknown signal shape {s!r}")


SUSTAINED_STEP = "5m"  # subquery resolution of a sustained condition
SUSTAINED_EDGE = "1h"  # the series must have a sample this close to the window's start


def counted(sel: str, window: str) -> str:
    """Events of a counter over ``window``, also for series first seen above 0.

    ``increase()`` needs two samples and counts from the first one, so a series that first
    appears already at N (a new pipeline whose first run failed, a counter whose producer
    restarted with new label values, a lazily created Istio series) adds nothing. A series with
    no sample in the window before, from a target that was scraped then (its ``up``), is new:
    its whole value counted from 0 (the contract's counters start at 0) is its increase. A
    Prometheus that has just started (no ``up`` a window ago) counts increases only."""
    new = (f"(({sel} unless last_over_time({sel}[{window}] offset {window})) and on (job, "
           f"instance) last_over_time(up[{window}] offset {window}))")
    return f"(increase({sel}[{window}]) unless {new}) or {new}"


def _consecutive_expr(alert: Alert, s: GaugeSignal, union: str) -> str:
    """Violating at the last N checks: the checks (changes of the check timestamp) since the
    last moment the value was on the safe side, counted in a subquery; that moment is fixed at
    the evaluation time with ``@ end()``. However late a check is, the value keeps the previous
    check's result and the count waits for it."""
    c = s.consecutive
    assert c is not None
    on = ", ".join(c.join_on)
    value = f"({union})"
    bad = f"{value} {alert.comparison} {format_number(alert.threshold)}"
    checked = f"({value} * 0 + on ({on}) group_left () max by ({on}) ({selector(c.check_timestamp)}))"
    last_ok = f"max_over_time(({checked} unless ({bad}))[{c.window}:{c.step}] @ end())"
    since = f"({checked} > ({last_ok} or {checked} * 0 - 1))"
    streak = f"changes({since}[{c.window}:{c.step}]) >= {c.checks - 1}"
    return f"{s.aggregate}{_by(s.by)} (({bad}) and ({streak}))"


def _events_expr(s: GaugeSignal) -> str:
    """0/1 states counted while newly set, and in-place restarts after a reason."""
    ev = s.events
    assert ev is not None
    terms = [f"({selector(sel)} > 0 unless max_over_time({selector(sel)}[{ev.seen}] offset "
             f"{ev.within}) > 0)" for sel in s.series]
    if ev.restarted is not None:
        r = ev.restarted
        recent = f"increase({selector(r.restarts)}[{ev.within}]) > 0"
        if r.timestamp is not None:
            recent += (f" or time() - {selector(r.timestamp)}"
                       f" < {format_number(duration_seconds(ev.within))}")
        terms.append(f"({selector(r.reason)} > 0 and on ({', '.join(r.container_labels)}) ({recent}))")
    return f"{s.aggregate}{_by(s.by)} ({' or '.join(terms)})"


def alert_expr(alert: Alert) -> str:
    """The full alerting expression: ``(signal) <comparison> threshold``; a raw signal as
    written (without a threshold: the expression itself; with one: parenthesised only where
    PromQL's precedence needs it, so an imported ``x > 5`` stays ``x > 5``)."""
    return by_identity(_ALERT_EXPRS, alert, _alert_expr)


def _alert_expr(alert: Alert) -> str:
    if isinstance(alert.signal, RawSignal):
        expr = alert.signal.expr
        if alert.comparison is None or alert.threshold is None:
            return expr
        return f"{_raw_operand(expr)} {alert.comparison} {format_number(alert.threshold)}"
    return f"({signal_expr(alert)}) {alert.comparison} {format_number(alert.threshold)}"


# binary operators that bind as loosely as a comparison or looser (prometheus promql/parser:
# comparisons, then and/unless, then or): a raw signal with one of them on top needs parentheses
_LOOSE_OPS = {"==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}


def _raw_operand(expr: str) -> str:
    try:
        node = parse(expr)
    except PromQLSyntaxError:
        return f"({expr})"
    if isinstance(node, pp.BinaryExpr) and str(node.op).lower() in _LOOSE_OPS:
        return f"({expr})"
    return expr


def format_number(value: float) -> str:
    """A threshold as PromQL writes it: integers without a decimal point, no exponent."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def signal_metrics(alert: Alert) -> list[str]:
    """Metric names read by an alert's expression."""
    return metric_names(alert_expr(alert))
