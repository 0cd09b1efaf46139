"""Labels the alert text and routing refer to, against the labels an alert's expression keeps.

Modelled on pint's ``alerts/template`` check (cloudflare/pint, docs/checks/alerts/template.md,
https://cloudflare.github.io/pint/checks/alerts/template.html): a template reading
``$labels.x`` where the query's aggregation removes ``x`` renders an empty string, every time.
Like pint, only a label the expression provably drops is reported: a plain selector (or
``without``) keeps labels we cannot list, so nothing is said about those.
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser as pp

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.lint.runner import Context

LabelSet = frozenset[str] | None  # None: unknown (the series' own labels, not listed here)
_LABEL_REF = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)|index\s+\$labels\s+\"([^\"]+)\"")
_KEEP_ALL = {"topk", "bottomk", "limitk", "limit_ratio"}
_NO_LABELS = {"time", "vector", "scalar", "pi"}
_ADD_LABEL = {"label_replace", "label_join"}


def _union(a: LabelSet, b: LabelSet) -> LabelSet:
    return None if a is None or b is None else a | b


def kept_labels(node: Any) -> LabelSet:
    """The labels the result series of ``node`` carry, when they can be listed."""
    if isinstance(node, pp.NumberLiteral | pp.StringLiteral):
        return frozenset()
    if isinstance(node, pp.VectorSelector | pp.MatrixSelector):
        return None
    if isinstance(node, pp.ParenExpr | pp.SubqueryExpr | pp.UnaryExpr):
        return kept_labels(node.expr)
    if isinstance(node, pp.AggregateExpr):
        op = str(node.op)
        if op in _KEEP_ALL:
            return kept_labels(node.expr)
        if node.modifier is None:
            kept: LabelSet = frozenset()
        elif str(node.modifier.type).endswith("Without"):
            return None
        else:
            kept = frozenset(node.modifier.labels)
        if op == "count_values" and isinstance(node.param, pp.StringLiteral):
            kept = kept | {node.param.val}
        return kept
    if isinstance(node, pp.Call):
        name = node.func.name
        if name in _NO_LABELS:
            return frozenset()
        vectors = [a for a in node.args if not isinstance(a, pp.NumberLiteral | pp.StringLiteral)]
        kept = kept_labels(vectors[0]) if vectors else frozenset()
        if name == "histogram_quantile" and len(node.args) > 1:
            kept = kept_labels(node.args[1])
            return None if kept is None else kept - {"le"}
        if name in _ADD_LABEL and kept is not None and len(node.args) > 1 \
                and isinstance(node.args[1], pp.StringLiteral):
            kept = kept | {node.args[1].val}
        return kept
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    return None


def _is_scalar(node: Any) -> bool:
    if isinstance(node, pp.NumberLiteral):
        return True
    if isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        return _is_scalar(node.expr)
    if isinstance(node, pp.Call):
        return str(node.func.return_type).lower().endswith("scalar")
    if isinstance(node, pp.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return False


def _binary(node: Any) -> LabelSet:
    lhs, rhs = kept_labels(node.lhs), kept_labels(node.rhs)
    scalar = (_is_scalar(node.lhs), _is_scalar(node.rhs))
    if scalar[1]:
        return lhs
    if scalar[0]:
        return rhs
    op = str(node.op)
    mod = node.modifier
    if op == "or":
        return _union(lhs, rhs)
    if op in ("and", "unless") or mod is None:
        return lhs
    card = str(mod.card)
    comparison = op in ("==", "!=", ">", "<", ">=", "<=") and not mod.return_bool
    if card.endswith("ManyToOne"):
        return _union(lhs, frozenset(mod.group_labels or ()))
    if card.endswith("OneToMany"):
        return _union(rhs, frozenset(mod.group_labels or ()))
    matching = mod.matching
    if comparison or matching is None:
        return lhs
    if str(matching.type).endswith("Include"):  # on(...): one-to-one keeps only those labels
        return frozenset(matching.labels)
    return None if lhs is None else lhs - set(matching.labels)


def label_references(text: str) -> list[str]:
    """Label names a template reads through ``$labels``."""
    return [a or b for a, b in _LABEL_REF.findall(text)]


def _alert_labels(ctx: Context) -> dict[str, LabelSet]:
    """Alert name → labels its notifications carry (kept by the expression, plus rule labels),
    from the rendered rule files (spec alerts and SLO alerts alike)."""
    from mlops_dash.render import slo as slo_render

    out: dict[str, LabelSet] = {}
    # SLO alerts read their recording rules, which keep the SLO's `by` and its `slo` label
    slo_kept = {name: frozenset(s.by) | {cv.LABEL_SLO} for doc in ctx.spec_set.dashboards
                for s in doc.model.slos for name in slo_render.alert_names(s)}
    for doc in ctx.spec_set.dashboards:
        for group in ctx.parsed_yaml(cv.rule_file_path(doc.model.uid)).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                ast = ctx.parsed_promql(str(rule["expr"]))
                kept = None if ast is None else kept_labels(ast)
                kept = slo_kept.get(str(rule["alert"])) if kept is None else kept
                static = frozenset(rule.get("labels") or {}) | {"alertname"}
                out[str(rule["alert"])] = None if kept is None else kept | static
    return out


def check_template_labels(ctx: Context) -> None:
    """``alert/template-label``: alert text reads a label the expression removes."""
    for doc in ctx.dashboards:
        for ai, alert in enumerate(doc.model.alerts):
            ast = ctx.parsed_promql(promql.alert_expr(alert))
            kept = None if ast is None else kept_labels(ast)
            if kept is None:
                continue
            texts = [("summary", alert.summary), ("description", alert.description)]
            texts += [(f"labels.{k}", v) for k, v in alert.labels.items()]
            for field, text in texts:
                for label in dict.fromkeys(label_references(text)):
                    if label not in kept:
                        path = ("alerts", ai, *field.split("."))
                        ctx.at_spec(doc, path, "alert/template-label",
                                    f"alert {alert.name}: {field} reads $labels.{label}, but "
                                    f"the expression keeps only {sorted(kept) or 'no labels'}, "
                                    f"so it is always empty; add {label} to the signal's `by` "
                                    "or drop the reference")


def check_group_by_labels(ctx: Context) -> None:
    """``routing/group-by-label``: a routing ``group_by`` label no alert carries."""
    routing = ctx.spec_set.platform_model.routing
    carried = _alert_labels(ctx)
    if not carried or any(v is None for v in carried.values()):
        return  # some alert keeps labels we cannot list: it may carry any of them
    known = frozenset().union(*[v for v in carried.values() if v is not None])
    for gi, label in enumerate(routing.group_by):
        if label not in known and label != "...":
            ctx.at_spec(ctx.spec_set.platform, ("routing", "group_by", gi),
                        "routing/group-by-label",
                        f"routing group_by label {label!r} is carried by no alert, so it groups "
                        "nothing (a typo?); alerts carry: " + ", ".join(sorted(known)))


CHECKS = [check_template_labels, check_group_by_labels]
