"""Cross-checks of the panel kinds: logs need a Loki datasource in the platform spec, alerts and
SLOs point at a panel that draws their signal (not a row, text, alert list or logs panel), a
warehouse query needs the warehouse datasource."""

from __future__ import annotations

from mlops_dash.errors import SpecError
from mlops_dash.spec.loader import SpecSet
from mlops_dash.spec.panels import DATA_KINDS


def panel_kind_errors(spec_set: SpecSet) -> list[SpecError]:
    errors: list[SpecError] = []
    has_loki = spec_set.platform_model.datasources.loki is not None
    platform_file = spec_set.platform.source.file
    for doc in spec_set.dashboards:
        d = doc.model
        kinds = {p.id: p.type for p in d.panels}
        for pi, p in enumerate(d.panels):
            for qi, q in enumerate(p.queries):
                if q.datasource == "loki" and not has_loki:
                    errors.append(doc.source.error(
                        ("panels", pi, "queries", qi, "datasource"),
                        f"no Loki datasource serves this logs query: declare "
                        f"`datasources.loki` (type loki) in the platform spec ({platform_file})"))
        refs = [(("alerts", ai, "panel"), a.panel) for ai, a in enumerate(d.alerts)]
        refs += [(("slos", si, "panel"), s.panel) for si, s in enumerate(d.slos)
                 if s.panel is not None]
        for path, pid in refs:
            kind = kinds.get(pid)
            if kind is not None and kind not in DATA_KINDS:
                errors.append(doc.source.error(
                    path, f"panel {pid!r} is a {kind} panel; point at the panel that draws the "
                    "signal (a time series, stat, gauge…)"))
    return errors


def warehouse_errors(spec_set: SpecSet) -> list[SpecError]:
    """A panel querying the warehouse needs the platform's ``datasources.warehouse``."""
    if spec_set.platform_model.datasources.warehouse is not None:
        return []
    return [doc.source.error(
        ("panels", pi, "queries", qi, "datasource"),
        f"panel {p.id!r} queries the warehouse, but the platform spec "
        f"({spec_set.platform.path}) declares no datasources.warehouse; add it, e.g. "
        "warehouse: {type: grafana-postgresql-datasource, default: Business Warehouse}")
        for doc in spec_set.dashboards for pi, p in enumerate(doc.model.panels)
        for qi, q in enumerate(getattr(p, "queries", None) or [])
        if getattr(q, "datasource", None) == "warehouse"]
