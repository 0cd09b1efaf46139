"""PromQL against the metric catalogue, on a real parser (promql-parser): every panel query,
variable and annotation query, recording rule, alert expression and runbook first query.

Label sets are inferred bottom-up from catalogue selectors; anything whose labels cannot be known
(recording rules, ``label_replace``, unknown functions) is not checked, so no false alarms come
from series the catalogue does not describe.
"""

from __future__ import annotations

from dataclasses import dataclass

import promql_parser as pp

from mlops_dash import promql
from mlops_dash.lint.runner import Context
from mlops_dash.spec import models as m
from mlops_dash.spec.crosscheck import queries
from mlops_dash.spec.loader import Document, suggest

RATE_FUNCS = frozenset({"rate", "irate", "increase"})
# Labels Prometheus attaches to every scraped series (target labels), whatever the catalogue says.
TARGET_LABELS = frozenset({"job", "instance"})
# Functions whose result keeps the labels of their (first vector) argument.
LABEL_PRESERVING = frozenset({
    "rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time", "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max",
    "exp", "ln", "log2", "log10", "sqrt", "sgn", "predict_linear", "holt_winters", "timestamp",
    "sort", "sort_desc",
})
# Functions whose result has the unit of their vector argument.
UNIT_PRESERVING = frozenset({
    "avg_over_time", "min_over_time", "max_over_time", "quantile_over_time", "last_over_time",
    "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max", "predict_linear",
    "sort", "sort_desc",
})
# Units a quantity can have (catalogue units plus what conversions produce) that a display unit
# can contradict. count/none/replicas/cores say nothing about the display.
DIMENSIONED = frozenset({
    "seconds", "milliseconds", "minutes", "hours", "bytes", "mebibytes", "ratio", "percent",
    "dollars", "dollars_per_hour", "dollars_per_gib_hour", "timestamp_seconds", "timestamp_ms",
})
# Grafana unit id → the quantity units it displays correctly.
GRAFANA_UNITS: dict[str, frozenset[str]] = {
    "ms": frozenset({"milliseconds"}), "dtdurationms": frozenset({"milliseconds"}),
    "clockms": frozenset({"milliseconds"}),
    "s": frozenset({"seconds"}), "dtdurations": frozenset({"seconds"}),
    "clocks": frozenset({"seconds"}),
    "m": frozenset({"minutes"}), "h": frozenset({"hours"}),
    "percentunit": frozenset({"ratio"}), "percent": frozenset({"percent"}),
    "bytes": frozenset({"bytes"}), "decbytes": frozenset({"bytes"}),
    "mbytes": frozenset({"mebibytes"}),
    "currencyUSD": frozenset({"dollars", "dollars_per_hour", "dollars_per_gib_hour"}),
    "dateTimeAsIso": frozenset({"timestamp_ms"}), "dateTimeAsUS": frozenset({"timestamp_ms"}),
    "dateTimeFromNow": frozenset({"timestamp_ms"}),
}
# (unit, operator, literal) → unit: the conversions queries write.
CONVERSIONS: dict[tuple[str, str, float], str] = {
    ("seconds", "/", 60): "minutes", ("seconds", "/", 3600): "hours",
    ("seconds", "*", 1000): "milliseconds", ("milliseconds", "/", 1000): "seconds",
    ("minutes", "*", 60): "seconds", ("hours", "*", 3600): "seconds",
    ("ratio", "*", 100): "percent", ("percent", "/", 100): "ratio",
    ("mebibytes", "*", 1048576): "bytes", ("bytes", "/", 1048576): "mebibytes",
    ("timestamp_seconds", "*", 1000): "timestamp_ms",
}
_SCALAR = "<scalar>"


@dataclass(frozen=True)
class Labels:
    """The labels an expression's series carry, and what they came from (for messages)."""

    names: frozenset[str]
    origin: str


class Analyzer:
    """One expression: walks it once, reports findings at the spec place of the expression."""

    def __init__(self, ctx: Context, doc: Document | None, path: tuple[str | int, ...],
                 *, bucket_check: bool = True,
                 found: list[tuple[str, str]] | None = None) -> None:
        self.ctx, self.doc, self.path = ctx, doc, path
        self.bucket_check = bucket_check
        self.rated: set[int] = set()
        self.found = found  # a list: findings are kept there instead of reported at doc/path

    def report(self, check_id: str, message: str) -> None:
        if self.found is not None:
            self.found.append((check_id, message))
            return
        assert self.doc is not None, "an Analyzer without a place keeps its findings"
        self.ctx.at_spec(self.doc, self.path, check_id, message)

    # ----------------------------------------------------------------------- labels
    def labels(self, node: object) -> Labels | None:  # noqa: C901 - one case per node type
        if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
            return self.labels(node.expr)
        if isinstance(node, pp.MatrixSelector):
            return self.labels(node.vector_selector)
        if isinstance(node, pp.VectorSelector):
            return self.selector(node)
        if isinstance(node, pp.Call):
            return self.call(node)
        if isinstance(node, pp.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, pp.BinaryExpr):
            return self.binary(node)
        return None  # literals: no labels to speak of

    def selector(self, vs: pp.VectorSelector) -> Labels | None:
        name = promql.selector_name(vs)
        if name is None:
            return None
        metric = self.ctx.metrics.get(name)
        if metric is None:
            if name not in self.ctx.records and name not in promql.BUILTIN_SERIES:
                known = sorted(set(self.ctx.metrics) | self.ctx.records)
                self.report("promql/unknown-metric",
                            f"metric {name!r} is not in the metric catalogue{suggest(name, known)}")
            return None
        if (self.bucket_check and name.endswith("_bucket") and metric.type == "histogram"
                and id(vs) not in self.rated):
            self.report("promql/bucket-without-rate",
                        f"{name} is a cumulative histogram counter; wrap it in "
                        f"rate()/increase() before aggregating or histogram_quantile")
        names = set(metric.labels) | TARGET_LABELS
        if name.endswith("_bucket") and metric.type == "histogram":
            names.add("le")
        for matcher in vs.matchers.matchers:
            if matcher.name != "__name__" and matcher.name not in names:
                self.report("promql/unknown-label",
                            f"matcher label {matcher.name!r}: metric {name} has no such label"
                            f"{suggest(matcher.name, sorted(names))} (labels: "
                            f"{', '.join(sorted(names))})")
        return Labels(frozenset(names), f"metric {name}")

    def call(self, node: pp.Call) -> Labels | None:
        fname = node.func.name
        args = list(node.args)
        if fname == "last_over_time" and args and isinstance(args[0], pp.MatrixSelector):
            # a deliberate read of the cumulative counts ("every observation so far"), e.g. a
            # baseline for pipelines too sparse for any rate window
            self.rated.add(id(args[0].vector_selector))
        if fname in RATE_FUNCS and args and isinstance(args[0], pp.MatrixSelector):
            vs = args[0].vector_selector
            self.rated.add(id(vs))
            name = promql.selector_name(vs)
            metric = self.ctx.metrics.get(name or "")
            if metric is not None and metric.type == "gauge":
                self.report("promql/rate-on-gauge",
                            f"{fname}() of {name}, a gauge in the metric catalogue; "
                            "use delta()/deriv() or the gauge itself")
        if fname == "histogram_quantile" and len(args) == 2:
            self.quantile_le(args[1])
        results = [self.labels(a) for a in args]
        vector_args = [r for a, r in zip(args, results, strict=True)
                       if not isinstance(a, pp.NumberLiteral | pp.StringLiteral)]
        first = vector_args[0] if vector_args else None
        if fname == "histogram_quantile":
            return None if first is None else Labels(first.names - {"le"}, first.origin)
        if fname in LABEL_PRESERVING:
            return first
        return None

    def quantile_le(self, arg: object) -> None:
        for n in promql.walk(arg):
            if isinstance(n, pp.Call) and n.func.name == "histogram_quantile":
                return
            if isinstance(n, pp.AggregateExpr) and str(n.op) not in ("topk", "bottomk"):
                mod = n.modifier
                kind = str(mod.type) if mod is not None else ""
                labels = list(mod.labels) if mod is not None else []
                dropped = ("Without" in kind and "le" in labels) or (
                    "Without" not in kind and "le" not in labels)
                if dropped:
                    self.report("promql/quantile-drops-le",
                                f"histogram_quantile over {str(n.op)}"
                                f"{' ' + kind.rsplit('.', 1)[-1].lower() if kind else ''}"
                                f"{' (' + ', '.join(labels) + ')' if labels else ''}, which "
                                "drops the `le` label; keep it: sum by (le, ...)")

    def check_labels(self, labels: list[str], inner: Labels | None, what: str) -> None:
        if inner is None:
            return
        for label in labels:
            if label not in inner.names:
                self.report("promql/unknown-label",
                            f"{what} label {label!r}: {inner.origin} has no such label"
                            f"{suggest(label, sorted(inner.names))} (labels: "
                            f"{', '.join(sorted(inner.names)) or 'none'})")

    def aggregate(self, node: pp.AggregateExpr) -> Labels | None:
        if node.param is not None:
            self.labels(node.param)
        inner = self.labels(node.expr)
        op = str(node.op)
        mod = node.modifier
        if op in ("topk", "bottomk", "limitk"):
            return inner
        if op == "count_values":
            return None
        if mod is None:
            return Labels(frozenset(), f"{op}(...)")
        labels = list(mod.labels)
        without = "Without" in str(mod.type)
        self.check_labels(labels, inner, "without" if without else "by")
        if without:
            return None if inner is None else Labels(inner.names - set(labels),
                                                     f"the {op} without (...)")
        return Labels(frozenset(labels), f"the {op} by ({', '.join(labels)})")

    def binary(self, node: pp.BinaryExpr) -> Labels | None:
        lhs, rhs = self.labels(node.lhs), self.labels(node.rhs)
        op = str(node.op)
        mod = node.modifier
        matching = getattr(mod, "matching", None) if mod is not None else None
        if matching is not None:
            labels = list(matching.labels)
            what = "on" if "Include" in str(matching.type) else "ignoring"
            if what == "on":
                self.check_labels(labels, lhs, "on")
                self.check_labels(labels, rhs, "on")
        card = str(getattr(mod, "card", "")) if mod is not None else ""
        group = list(getattr(mod, "group_labels", None) or []) if mod is not None else []
        if "ManyToOne" in card:
            self.check_labels(group, rhs, "group_left")
            return None if lhs is None else Labels(lhs.names | set(group), lhs.origin)
        if "OneToMany" in card:
            self.check_labels(group, lhs, "group_right")
            return None if rhs is None else Labels(rhs.names | set(group), rhs.origin)
        if isinstance(node.lhs, pp.NumberLiteral):
            return rhs
        if isinstance(node.rhs, pp.NumberLiteral):
            return lhs
        if op == "or":
            if lhs is None or rhs is None:
                return None
            return Labels(lhs.names | rhs.names, f"{lhs.origin} or {rhs.origin}")
        return lhs

    # ----------------------------------------------------------------------- units
    def unit(self, node: object) -> str | None:  # noqa: C901 - one case per node type
        if isinstance(node, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
            return self.unit(node.expr)
        if isinstance(node, pp.MatrixSelector):
            return self.unit(node.vector_selector)
        if isinstance(node, pp.NumberLiteral):
            return _SCALAR
        if isinstance(node, pp.VectorSelector):
            metric = self.ctx.metrics.get(promql.selector_name(node) or "")
            return metric.unit if metric is not None and metric.type == "gauge" else None
        if isinstance(node, pp.Call):
            args = list(node.args)
            fname = node.func.name
            if fname == "time":
                return "timestamp_seconds"
            if fname == "histogram_quantile" and len(args) == 2:
                for n in promql.walk(args[1]):
                    if isinstance(n, pp.VectorSelector):
                        metric = self.ctx.metrics.get(promql.selector_name(n) or "")
                        if metric is not None and metric.type == "histogram":
                            return metric.unit
                return None
            if fname in UNIT_PRESERVING:
                vectors = [a for a in args if not isinstance(a, pp.NumberLiteral)]
                return self.unit(vectors[0]) if vectors else None
            return None
        if isinstance(node, pp.AggregateExpr):
            if str(node.op) in ("count", "count_values", "group"):
                return None
            return self.unit(node.expr)
        if isinstance(node, pp.BinaryExpr):
            return self.binary_unit(node)
        return None

    def binary_unit(self, node: pp.BinaryExpr) -> str | None:
        op = str(node.op)
        lu, ru = self.unit(node.lhs), self.unit(node.rhs)
        if op in ("and", "unless") or op in (">", ">=", "<", "<=", "==", "!="):
            if node.modifier is not None and node.modifier.return_bool:
                return None
            return lu if lu != _SCALAR else ru
        if op == "or":
            return lu if lu == ru else None
        if _SCALAR in (lu, ru):
            if lu == ru:
                return _SCALAR
            unit, lit = (lu, node.rhs) if ru == _SCALAR else (ru, node.lhs)
            if unit is None:
                return None
            if op in ("+", "-"):
                return unit
            if op in ("*", "/") and isinstance(lit, pp.NumberLiteral):
                if op == "/" and lit is node.lhs:
                    return None
                return CONVERSIONS.get((unit, op, float(lit.val)))
            return None
        if lu is None or ru is None:
            return None
        if op in ("+", "-"):
            if lu == ru == "timestamp_seconds" and op == "-":
                return "seconds"
            if op == "-" and (lu, ru) == ("timestamp_seconds", "seconds"):
                return "timestamp_seconds"
            return lu if lu == ru else None
        if op == "/" and lu == ru:
            return "ratio"
        return None


def unit_problem(quantity: str | None, grafana_unit: str) -> str | None:
    """Why a quantity shown with a Grafana unit is wrong, or None when it is fine or unknown."""
    if quantity is None or quantity not in DIMENSIONED or grafana_unit not in GRAFANA_UNITS:
        return None
    ok = GRAFANA_UNITS[grafana_unit]
    if quantity in ok:
        return None
    fix = [u for u, q in GRAFANA_UNITS.items() if quantity in q]
    hint = f"; use unit {fix[0]!r} or convert the query" if fix else ""
    if quantity == "ratio" and grafana_unit == "percent":
        hint = "; a 0-1 ratio needs 'percentunit' (percent expects 0-100), or multiply by 100"
    if quantity == "percent" and grafana_unit == "percentunit":
        hint = "; a 0-100 percentage needs 'percent' (percentunit expects 0-1), or divide by 100"
    return f"the query is in {quantity} but the unit is {grafana_unit!r}{hint}"


Analysis = tuple[tuple[tuple[str, str], ...], "str | None"]


def analysis(ctx: Context, expr: str, bucket_check: bool) -> Analysis | None:
    """The label findings ``(check id, message)`` of an expression and its unit (None when it
    does not parse), worked out once per expression: they depend only on its text and the
    catalogue, and dashboards made from templates repeat their queries."""
    key = (expr, bucket_check)
    if key not in ctx.analyses:
        ast = ctx.parsed_promql(expr)
        if ast is None:
            ctx.analyses[key] = None
        else:
            found: list[tuple[str, str]] = []
            analyzer = Analyzer(ctx, None, (), bucket_check=bucket_check, found=found)
            analyzer.labels(ast)
            ctx.analyses[key] = (tuple(found), analyzer.unit(ast))
    return ctx.analyses[key]  # type: ignore[no-any-return]


def check_queries(ctx: Context) -> None:
    """unknown-metric, rate-on-gauge, bucket-without-rate, quantile-drops-le, unknown-label and
    the panel-query side of unit-mismatch, on every expression of every dashboard spec."""
    for doc in ctx.dashboards:
        d: m.Dashboard = doc.model
        for path, expr in queries(doc):
            found = analysis(ctx, expr, path[0] != "variables")
            if found is None:
                continue
            findings, unit = found
            for check_id, message in findings:
                ctx.at_spec(doc, path, check_id, message)
            if path[0] == "panels":
                panel = d.panels[int(path[1])]
                query = panel.queries[int(path[3])] if len(path) > 3 and path[2] == "queries" \
                    else None
                shown = (query.unit if query is not None and query.unit else None) or panel.unit
                problem = unit_problem(unit, shown)
                if problem:
                    ctx.at_spec(doc, path, "promql/unit-mismatch",
                                f"panel {panel.id!r}: {problem}")


CHECKS = [check_queries]
