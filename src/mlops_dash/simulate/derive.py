"""The synthetic world of a spec set: catalogue series, healthy levels, one scenario per alert."""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Iterable

from mlops_dash import promql
from mlops_dash.simulate.levels import (
    _age_start,
    _linear,
    _scaled,
    chain_lookback,
    default_behaviours,
    histogram_behaviours,
    histogram_buckets,
    quantile_estimate,
    quantile_observation,
    targets,
)
from mlops_dash.simulate.world import (
    GAUGE_DEFAULTS,
    HISTOGRAM_DEFAULT_OBSERVATION,
    LONG_LOOKBACK_S,
    METRIC_LABELS,
    OTHER_NAMESPACES,
    RATIO_GAUGE_TOTAL,
    RATIO_TOTAL_RATE,
    WORLD_LABELS,
    Behaviour,
    Scenario,
    Series,
    SimulationError,
    World,
    _num,
    constant,
)
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import SpecSet


def label_values(metric: str, label: str, extra: dict[str, set[str]],
                 platform: m.Platform) -> list[str]:
    if (metric, label) in METRIC_LABELS:
        values = list(METRIC_LABELS[(metric, label)])
    elif label in ("namespace", "destination_workload_namespace"):
        serving = platform.namespace_list("serving")
        pipelines = platform.namespace_list("pipelines")
        # beyond the platform's namespaces: kube-system, and for Istio the Istio-injected
        # Kubeflow namespace (kubeflow/manifests common/kubeflow-namespace): their series keep
        # default values (half of their Istio requests fail), which scoped alerts must ignore
        values = [*serving, *pipelines, *OTHER_NAMESPACES] if label.startswith("destination") \
            else [*pipelines, *platform.namespace_list("training"), *serving, *OTHER_NAMESPACES]
        values = list(dict.fromkeys(values))
    else:
        values = list(WORLD_LABELS.get(label, ["default"]))
    for v in sorted(extra.get(label, ())):
        if v not in values and (metric, label) not in METRIC_LABELS:
            values.append(v)
    return values


def catalogue_series(catalogue: m.MetricCatalogue, platform: m.Platform,
                     extra: dict[str, set[str]]) -> tuple[list[Series], dict[str, str]]:
    """Every series of the catalogue (histograms as _bucket, _sum and _count)."""
    out: list[Series] = []
    types: dict[str, str] = {}
    for md in catalogue.metrics:
        types[md.name] = md.type
        combos = itertools.product(*(label_values(md.name, lb, extra, platform)
                                     for lb in md.labels))
        for combo in combos:
            labels = tuple(zip(md.labels, combo, strict=True))
            if md.type == "histogram":
                for le in [*histogram_buckets(md), math.inf]:
                    out.append(Series(f"{md.name}_bucket", (*labels, ("le", _num(le))),
                                      md.name, True))
                out.append(Series(f"{md.name}_sum", labels, md.name, True))
                out.append(Series(f"{md.name}_count", labels, md.name, True))
            else:
                out.append(Series(md.name, labels, md.name, md.type == "counter"))
    return out, types


def matches(labels: dict[str, str], matchers: dict[str, str]) -> bool:
    """Whether a series' labels satisfy spec matchers (``v``, ``=~re``, ``!=v``, ``!~re``)."""
    for label, raw in matchers.items():
        value = labels.get(label, "")
        if raw.startswith("=~"):
            ok = re.fullmatch(raw[2:], value) is not None
        elif raw.startswith("!~"):
            ok = re.fullmatch(raw[2:], value) is None
        elif raw.startswith("!="):
            ok = value != raw[2:]
        else:
            ok = value == raw
        if not ok:
            return False
    return True


def _group_key(s: Series, by: list[str]) -> tuple[str, ...]:
    d = s.label_dict
    return tuple(d.get(b, "") for b in by)


def _selected(series: list[Series], sel: m.Selector, name: str | None = None) -> list[Series]:
    name = name or sel.metric
    return [s for s in series if s.name == name and matches(s.label_dict, sel.matchers)]


def _groups(series: Iterable[Series], by: list[str]) -> dict[tuple[str, ...], list[Series]]:
    out: dict[tuple[str, ...], list[Series]] = {}
    for s in series:
        out.setdefault(_group_key(s, by), []).append(s)
    return out


class Derivation:
    """Turns a target signal value into series behaviours, by signal shape."""

    def __init__(self, series: list[Series], catalogue: dict[str, m.MetricDef],
                 records: dict[str, str], healthy: dict[Series, Behaviour]) -> None:
        self.series = series
        self.catalogue = catalogue
        self.records = records  # recording rule name → expression
        self.healthy = healthy

    def behaviours(self, alert: m.Alert, value: float, lead_s: float) -> dict[Series, Behaviour]:
        s = alert.signal
        handler = getattr(self, f"_{s.shape}")
        out: dict[Series, Behaviour] = handler(alert, s, value, lead_s)
        if not out:
            raise SimulationError(f"{alert.name}: its selectors match no simulated series")
        return out

    def _ratio(self, alert, s: m.RatioSignal, v: float, _lead: float):
        out: dict[Series, Behaviour] = {}
        den = _selected(self.series, s.denominator)
        num = set(_selected(self.series, s.numerator))
        same = s.numerator.metric == s.denominator.metric
        if not num:
            raise SimulationError(f"{alert.name}: no simulated series matches the numerator")
        num_groups = _groups(num, s.by)
        for key, members in _groups(den, s.by).items():
            n = num_groups.get(key, [])
            rest = [x for x in members if x not in num] if same else members
            if not n or not rest:
                continue
            if s.of == "gauges":  # a last run of RATIO_GAUGE_TOTAL records, v of them failed
                for x in n:
                    out[x] = Behaviour(level=constant(v * RATIO_GAUGE_TOTAL / len(n)))
                for x in rest:
                    out[x] = Behaviour(level=constant(RATIO_GAUGE_TOTAL / len(rest)))
                continue
            total = RATIO_TOTAL_RATE
            for x in n:
                out[x] = Behaviour(rate=v * total / len(n))
            for x in rest:
                out[x] = Behaviour(rate=((1 - v) if same else 1.0) * total / len(rest))
        return out

    def _quantile(self, alert, s: m.QuantileSignal, v: float, _lead: float):
        md = self.catalogue[s.histogram.metric]
        obs = quantile_observation(histogram_buckets(md), s.quantile, alert.comparison,
                                   alert.threshold, v)
        base = [x for x in self.series if x.metric == md.name
                and matches(x.label_dict, s.histogram.matchers)]
        return histogram_behaviours(base, histogram_buckets(md), obs)

    def _gauge(self, alert, s: m.GaugeSignal, v: float, _lead: float):
        out: dict[Series, Behaviour] = {}
        picked: list[tuple[Series, float]] = []
        for sel in s.series:
            if s.scale_by is None:
                picked += [(x, 1.0) for x in _selected(self.series, sel)]
            else:
                for lv, scale in s.scale_by.values.items():
                    sub = m.Selector(metric=sel.metric,
                                     matchers={**sel.matchers, s.scale_by.label: lv})
                    picked += [(x, scale) for x in _selected(self.series, sub)]
        for members in _groups([x for x, _ in picked], s.by).values():
            for i, x in enumerate(members):
                scale = dict(picked)[x]
                level = v * scale if (s.aggregate != "sum" or i == 0) else 0.0
                out[x] = Behaviour(level=constant(level))
        return out

    def _difference(self, alert, s: m.DifferenceSignal, v: float, _lead: float):
        out: dict[Series, Behaviour] = {}
        base = GAUGE_DEFAULTS.get(self.catalogue[s.minuend.metric].unit, 3)
        for x in _selected(self.series, s.minuend):
            out[x] = Behaviour(level=constant(base + v))
        for x in _selected(self.series, s.subtrahend):
            out[x] = Behaviour(level=constant(base))
        return out

    def _growth(self, alert, s: m.GrowthSignal, v: float, _lead: float):
        # grows linearly by v per window: x - x offset window = v
        window = m.duration_seconds(alert.window or "1d")
        members = _selected(self.series, s.series)
        out: dict[Series, Behaviour] = {}
        for group in _groups(members, s.by).values():
            for i, x in enumerate(group):
                slope = v / window if i == 0 else 0.0
                base = GAUGE_DEFAULTS.get(self.catalogue[x.metric].unit, 1.0)
                out[x] = Behaviour(level=_linear(base, slope))
        return out

    def _baseline(self, alert, s: m.BaselineSignal, v: float, lead: float):
        # scale the raw inputs: current / (rolling average including `lead` of the new level)
        w = m.duration_seconds(s.baseline_window)
        frac = min(lead / w, 0.5)
        offset = m.duration_seconds(s.baseline_offset or "0s")
        if offset >= lead or (s.baseline_stat == "median" and frac < 0.5):
            frac = 0.0  # the new level is not (or does not move) the baseline yet
        factor = 1.0 + (v / (1 - (1 + v) * frac) if v else 0.0)
        out: dict[Series, Behaviour] = {}
        for metric, matchers in self.raw_inputs(s.series):
            sel = m.Selector(metric=metric, matchers=matchers)
            for x in _selected(self.series, sel):
                level = self.healthy[x].level
                assert level is not None, f"{metric} is not a gauge"
                out[x] = Behaviour(level=_scaled(level, factor))
        return out

    def _age(self, alert, s: m.AgeSignal, v: float, _lead: float):
        baseline = self.baseline_value(s.baseline) if s.baseline is not None else 1.0
        out: dict[Series, Behaviour] = {}
        for x in _selected(self.series, s.start_timestamp):
            out[x] = Behaviour(level=_age_start(v * baseline))
        return out

    def raw_inputs(self, sel: m.Selector) -> list[tuple[str, dict[str, str]]]:
        """Catalogue metrics a selector reads, through recording rules."""
        if sel.metric not in self.records:
            return [(sel.metric, dict(sel.matchers))]
        out = []
        for name in promql.metric_names(self.records[sel.metric]):
            out += self.raw_inputs(m.Selector(metric=name))
        return out

    def baseline_value(self, sel: m.Selector) -> float:
        """The healthy value of an age signal's baseline (a gauge or a recorded quantile)."""
        if sel.metric in self.records:
            expr = self.records[sel.metric]
            hit = re.search(r"histogram_quantile\(\s*([0-9.]+)\s*,.*?([A-Za-z_:][A-Za-z0-9_:]*)"
                            r"_bucket", expr)
            if not hit:
                raise SimulationError(f"cannot simulate the baseline {sel.metric}: {expr}")
            q, metric = float(hit.group(1)), hit.group(2)
            md = self.catalogue[metric]
            obs = HISTOGRAM_DEFAULT_OBSERVATION.get(md.unit, 1.0)
            return quantile_estimate(histogram_buckets(md), obs, q)
        x = _selected(self.series, sel)
        if not x or self.healthy[x[0]].level is None:
            raise SimulationError(f"cannot simulate the baseline {sel.metric}")
        level = self.healthy[x[0]].level
        assert level is not None
        return level(0.0)


def scenario_lead(alert: m.Alert) -> float:
    """How long before "now" a scenario's violation starts, so its windows see only it."""
    s = alert.signal
    if isinstance(s, m.BaselineSignal):
        return m.duration_seconds(s.baseline_window) / 7
    if isinstance(s, m.GaugeSignal) and s.sustained:
        return m.duration_seconds(s.sustained) + 3600  # held for the whole window
    if isinstance(s, m.GaugeSignal) and s.consecutive:  # N checks seen by the subquery
        return (s.consecutive.checks + 2) * m.duration_seconds(s.consecutive.step)
    if alert.window:
        return 2 * m.duration_seconds(alert.window)
    return 600.0


def alert_expression(alert: m.Alert) -> str:
    return promql.alert_expr(alert)


def build_world(spec_set: SpecSet, origin: float | None = None) -> World:
    """The synthetic world of a spec set: series, healthy behaviours, one scenario per alert."""
    catalogue_model = spec_set.catalogue_model
    platform = spec_set.platform_model
    dashboards = spec_set.dashboard_models()
    # raw alerts (imported expressions) have no shape to drive: not simulated
    alerts = [a for d in dashboards for a in d.alerts if a.signal.shape != "raw"]
    records = {r.record: r.expr for d in dashboards for r in d.recording_rules}
    extra: dict[str, set[str]] = {}
    for a in alerts:
        for sel in _alert_selectors(a):
            for label, raw in sel.matchers.items():
                if not raw.startswith(("=~", "!=", "!~")):
                    extra.setdefault(label, set()).add(raw)
        if a.signal.shape == "gauge" and a.signal.scale_by:  # type: ignore[union-attr]
            sb = a.signal.scale_by  # type: ignore[union-attr]
            extra.setdefault(sb.label, set()).update(sb.values)
    series, types = catalogue_series(catalogue_model, platform, extra)
    catalogue = {md.name: md for md in catalogue_model.metrics}
    healthy = default_behaviours(series, catalogue)
    derive = Derivation(series, catalogue, records, healthy)
    violations: dict[str, tuple[dict[Series, Behaviour], float]] = {}
    for a in alerts:
        h, v = targets(a)
        lead = scenario_lead(a)
        healthy.update(derive.behaviours(a, h, lead))
    for a in alerts:
        h, v = targets(a)
        lead = scenario_lead(a)
        violations[a.name] = (derive.behaviours(a, v, lead), lead)
    scenarios = {}
    for a in alerts:
        overrides, lead = violations[a.name]
        look = chain_lookback(alert_expression(a), records)
        history = look + lead + 3600 if look > LONG_LOOKBACK_S else 0.0
        scenarios[a.name] = Scenario(
            name=a.name, alert=a.name, overrides=overrides, lead_s=lead, history_s=history,
            description=(f"{a.name} ({a.severity}): signal {_fmt(targets(a)[1])} "
                         f"{a.comparison} {_fmt(a.threshold)}"))
    if origin is None:
        origin = math.floor(time.time() / 86400) * 86400 - 60 * 86400
    world = World(series=series, healthy=healthy, scenarios=scenarios, origin=origin)
    world.types = types
    world.alert_exprs = {a.name: alert_expression(a) for a in alerts}
    world.records = records
    return world


def _fmt(v: float) -> str:
    return f"{v:g}"


def _alert_selectors(a: m.Alert) -> list[m.Selector]:
    s = a.signal
    if isinstance(s, m.RatioSignal):
        return [s.numerator, s.denominator]
    if isinstance(s, m.QuantileSignal):
        return [s.histogram]
    if isinstance(s, m.GaugeSignal):
        return list(s.series)
    if isinstance(s, m.DifferenceSignal):
        return [s.minuend, s.subtrahend]
    if isinstance(s, m.AgeSignal):
        return [s.start_timestamp]
    return [s.series]

