"""Metrics an imported dashboard or rule file queries → catalogue entries.

Type from naming and usage (the Prometheus naming conventions): a ``_bucket`` series is a
histogram (its base name is catalogued; ``_sum``/``_count`` come with it), a ``_total`` series
or one read by ``rate``/``irate``/``increase``/``resets`` is a counter, anything else a gauge.
Labels: those its selectors match on, those the query groups by, and those a
``label_values(metric, label)`` variable lists. Names with a colon are recording rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import promql_parser as pp

from mlops_dash import promql

_COUNTER_FUNCS = {"rate", "irate", "increase", "resets"}


@dataclass
class Usage:
    """What the queries show of one series."""

    labels: set[str] = field(default_factory=set)
    counter_funcs: bool = False
    queries: int = 0


def _walk(node: object, labels: set[str], uses: dict[str, Usage], in_counter: bool) -> None:
    if isinstance(node, pp.Call) and str(node.func.name) in _COUNTER_FUNCS:
        in_counter = True
    if isinstance(node, pp.AggregateExpr) and node.modifier is not None:
        labels = labels | {str(x) for x in node.modifier.labels}
    if isinstance(node, pp.BinaryExpr) and node.modifier is not None:
        mod = node.modifier
        if mod.matching is not None and "ignoring" not in str(mod.matching.type).lower():
            labels = labels | {str(x) for x in mod.matching.labels}
        labels = labels | {str(x) for x in (mod.group_labels or [])}
    if isinstance(node, pp.VectorSelector):
        name = promql.selector_name(node)
        # ALERTS is Prometheus' own; its scrape series (up, scrape_*) are catalogued like any
        # other: their labels come from the scrape config, and alert tests need them listed
        if name and name not in promql.BUILTIN_SERIES - promql.SCRAPE_SERIES:
            u = uses.setdefault(name, Usage())
            u.labels |= {str(m.name) for m in node.matchers.matchers if m.name != "__name__"}
            u.labels |= labels
            u.counter_funcs |= in_counter
            u.queries += 1
        return
    for child in promql.children(node):
        _walk(child, labels, uses, in_counter)


def collect(exprs: list[str], uses: dict[str, Usage] | None = None) -> dict[str, Usage]:
    """Usage of every series the expressions read (Grafana variables substituted first)."""
    uses = {} if uses is None else uses
    for expr in exprs:
        try:
            node = promql.parse(promql.substitute_grafana_variables(expr))
        except promql.PromQLSyntaxError:
            continue  # reported where the query is
        _walk(node, set(), uses, False)
    return uses


def add_variable_labels(queries: list[str], uses: dict[str, Usage]) -> None:
    for q in queries:
        parts = promql.label_values_parts(q)
        if parts is None or not parts[0]:
            continue
        try:
            names = promql.metric_names(promql.substitute_grafana_variables(parts[0]))
        except promql.PromQLSyntaxError:
            continue
        sub = collect([parts[0]])
        for name in names:
            u = uses.setdefault(name, Usage())
            u.labels.add(parts[1])
            u.labels |= sub[name].labels if name in sub else set()


def metric_defs(uses: dict[str, Usage], known: set[str], source: str) -> list[dict[str, Any]]:
    """Catalogue entries of the series not in ``known`` (names as the catalogue lists them;
    a histogram's _bucket/_sum/_count count as its base name)."""
    bases = {n.removesuffix("_bucket") for n in uses if n.endswith("_bucket")}
    entries: dict[str, dict[str, Any]] = {}
    for name in sorted(uses):
        if ":" in name:
            continue  # a recording rule, defined by its rule file
        u = uses[name]
        base = next((b for b in bases if name in (f"{b}_bucket", f"{b}_sum", f"{b}_count")),
                    None)
        if base is not None:
            entry = entries.setdefault(base, {"name": base, "type": "histogram", "labels": set()})
            entry["labels"] |= u.labels - {"le"}
            continue
        kind = "counter" if name.endswith("_total") or u.counter_funcs else "gauge"
        entries[name] = {"name": name, "type": kind, "labels": set(u.labels)}
    out = []
    for name in sorted(entries):
        if name in known:
            continue
        e = entries[name]
        out.append({"name": name, "type": e["type"], "labels": sorted(e["labels"]),
                    "source": "imported", "help": f"queried by {source} (imported; confirm "
                    "type and labels)"})
    return out


def known_names(catalogue: dict[str, Any] | None) -> set[str]:
    return {str(md.get("name")) for md in (catalogue or {}).get("metrics") or []
            if isinstance(md, dict)}
