"""Synthetic metric source: every catalogue series for a small world, with one scenario per alert.

The world is derived from the specs: the metric catalogue gives the series (cross product of a few
label values per label), and each alert's spec (signal shape, threshold, comparison, window) gives
two targets for its signal: a *healthy* value on the safe side of the threshold and a *violating*
value beyond it. The ``healthy`` scenario applies every alert's healthy target; the scenario named
after an alert applies that alert's violating target on top. Values are functions of wall-clock
time, so the live ``/metrics`` and the OpenMetrics history (for ``promtool tsdb
create-blocks-from openmetrics``) agree, and counters never reset.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

import promql_parser as pp

from mlops_dash import promql
from mlops_dash.errors import EnvironmentProblem
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import SpecSet

HEALTHY = "healthy"

# A small synthetic estate. Label values per label name; a label not listed gets "default".
WORLD_LABELS: dict[str, list[str]] = {
    "pod": ["worker-0", "worker-1"],
    "container": ["main"],
    "reason": ["OOMKilled", "Evicted", "Completed"],
    "horizontalpodautoscaler": ["fraud-detector-predictor", "demand-forecast-predictor"],
    "resource": ["cpu", "memory", "nvidia_com_gpu"],
    "unit": ["core"],
    "gpu": ["0"],
    "UUID": ["GPU-5fd3a1c2"],
    "Hostname": ["gpu-node-1"],
    "reporter": ["destination"],
    "destination_canonical_service": ["fraud-detector", "demand-forecast"],
    "destination_canonical_revision": ["v3"],
    "response_code": ["200", "503"],
    "model_name": ["fraud-detector", "demand-forecast"],
    "model": ["fraud-detector", "demand-forecast"],
    "version": ["v3"],
    "project": ["ml-features"],
    "feature_view": ["customer_features", "transaction_features"],
    "status": ["succeeded", "failed"],
    "node": ["node-a", "node-b"],
    "instance_type": ["g5.xlarge"],
    "region": ["us-east-1"],
    "persistentvolume": ["pv-datasets"],
    "bucket_name": ["ml-artifacts"],
    "storage_type": ["StandardStorage"],
    "pipeline": ["training-pipeline", "feature-pipeline"],
    "run_id": ["run-0042"],
    "component": ["ingestion", "training", "evaluation", "registration"],
    "dataset": ["transactions"],
    "method": ["psi", "ks"],
    "feature": ["amount", "merchant_category"],
    "job": ["drift-checker"],
    "datasource": ["transactions-db", "events-stream"],
    "suite": ["schema"],
    "nodepool": ["gpu-spot"],
}
OTHER_NAMESPACES: list[str] = []  # namespaces outside the platform's (see README: not yet)
# Where a label means something else on one metric.
METRIC_LABELS: dict[tuple[str, str], list[str]] = {
    ("feast_materialization_result_total", "status"): ["success", "failure"],
    ("mlops_training_run_cost_dollars", "resource"): ["cpu", "gpu", "memory", "storage"],
}
# Plausible healthy levels of series no alert reads, by catalogue unit.
GAUGE_DEFAULTS = {
    "bytes": 5e9, "mebibytes": 8000, "ratio": 0.5, "percent": 70, "count": 1, "none": 0,
    "dollars": 120, "dollars_per_hour": 2.5, "dollars_per_gib_hour": 0.004, "cores": 2,
    "replicas": 3, "seconds": 60, "milliseconds": 50,
}
METRIC_DEFAULTS = {"mlops_model_mae": 1.2, "mlops_model_rmse": 1.8, "kubecost_node_is_spot": 1}
COUNTER_RATE = 0.5  # per second, for counters no alert reads
HISTOGRAM_BUCKETS = {
    "milliseconds": [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    "seconds": [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 600, 1800, 3600, 7200, 14400, 28800],
    "none": [0.1, 1, 10, 100, 1000, 10000],
}
HISTOGRAM_DEFAULT_OBSERVATION = {"milliseconds": 50, "seconds": 1800, "none": 100}
HISTOGRAM_RATE = 2.0  # observations per second
RATIO_GAUGE_TOTAL = 10000.0  # records of a simulated last validation run, per group
RATIO_TOTAL_RATE = 2.0  # denominator events per second and group of a ratio signal
LONG_LOOKBACK_S = 3600  # windows longer than this need backfilled history
HISTORY_STEP_S = 240.0  # spacing of backfilled samples: within the 5m lookback
# The longest history written: 90 days of 4-minute samples of every series is about 250 MB of
# OpenMetrics for the shipped specs (a day is ~2.5 MB); 99999999d would be terabytes.
MAX_HISTORY_S = 90 * 86400.0
_DURATION = r"[0-9]+(?:ms|s|m|h|d|w|y)(?:[0-9]+(?:ms|s|m|h|d|w|y))*"
_RANGE_RE = re.compile(rf"\[({_DURATION})(?::({_DURATION})?)?\]")
_OFFSET_RE = re.compile(rf"\boffset\s+({_DURATION})")


class SimulationError(ValueError):
    """The specs ask for a signal the simulator cannot produce (for example an unmatched regex)."""


# --------------------------------------------------------------------------- series and values

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Series:
    """One exposed sample stream."""

    name: str
    labels: Labels
    metric: str  # catalogue metric (histogram base name for _bucket/_sum/_count)
    cumulative: bool  # counters and histogram parts: value is the integral of a rate

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def text(self, extra: dict[str, str] | None = None) -> str:
        own = {k for k, _ in self.labels}  # like honor_labels: a series keeps its own labels
        labels = [*self.labels, *sorted((k, v) for k, v in (extra or {}).items() if k not in own)]
        if not labels:
            return self.name
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        return f"{self.name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# A behaviour gives, for a series in one state: a level (gauges) or a rate (cumulative series).
Level = Callable[[float], float]


@dataclass(frozen=True)
class Behaviour:
    level: Level | None = None
    rate: float = 0.0


def constant(value: float) -> Level:
    return lambda _t: value


@dataclass
class Scenario:
    """A named state: behaviours overriding the healthy ones, and how long ago it started."""

    name: str
    description: str
    overrides: dict[Series, Behaviour]
    lead_s: float = 600.0
    history_s: float = 0.0  # how much backfilled history the alert's windows need (0: none)
    alert: str | None = None


@dataclass
class Timeline:
    """Which scenario was active when: ``[(start, name), …]`` in time order."""

    segments: list[tuple[float, str]] = field(default_factory=lambda: [(-math.inf, HEALTHY)])

    def state_at(self, t: float) -> str:
        current = self.segments[0][1]
        for start, name in self.segments:
            if start <= t:
                current = name
        return current


# --------------------------------------------------------------------------- world


@dataclass
class World:
    """Series of the catalogue, their healthy behaviour, and every scenario's overrides."""

    series: list[Series]
    healthy: dict[Series, Behaviour]
    scenarios: dict[str, Scenario]
    origin: float  # counters are 0 here

    def behaviour(self, s: Series, state: str) -> Behaviour:
        if state != HEALTHY:
            b = self.scenarios[state].overrides.get(s)
            if b is not None:
                return b
        return self.healthy[s]

    def value(self, s: Series, timeline: Timeline, t: float) -> float:
        if not s.cumulative:
            level = self.behaviour(s, timeline.state_at(t)).level
            assert level is not None
            return level(t)
        total, points = 0.0, [*timeline.segments[1:], (t, "")]
        start, state = self.origin, timeline.segments[0][1]
        for seg_start, seg_state in points:
            end = min(max(seg_start, self.origin), t)
            if end > start:
                total += self.behaviour(s, state).rate * (end - start)
                start = end
            state = seg_state
        return total

    def timeline(self, scenario: str, anchor: float) -> Timeline:
        """The timeline of a scenario that is in full effect at ``anchor``."""
        if scenario == HEALTHY:
            return Timeline()
        sc = self.scenarios[scenario]
        return Timeline([(-math.inf, HEALTHY), (anchor - sc.lead_s, scenario)])

    def exposition(self, timeline: Timeline, t: float) -> str:
        """Prometheus text exposition of every series at ``t``."""
        lines = []
        seen: set[str] = set()
        for s in self.series:
            if s.metric not in seen:
                seen.add(s.metric)
                lines.append(f"# TYPE {s.metric} {self.types[s.metric]}")
            lines.append(f"{s.text()} {_num(self.value(s, timeline, t))}")
        return "\n".join(lines) + "\n"

    types: dict[str, str] = field(default_factory=dict)  # catalogue metric → type
    alert_exprs: dict[str, str] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)  # recording rule → expression

    def write_openmetrics(self, out: TextIO, scenario: str, anchor: float,
                          span_s: float | None = None, step_s: float = 0.0,
                          metrics: Iterable[str] | None = None,
                          target_labels: dict[str, str] | None = None) -> int:
        """History of a scenario before ``anchor`` as OpenMetrics with timestamps, ``# EOF``-ended.

        By default the span and the metrics are what the scenario's alert (for ``healthy``:
        every alert with a long window) reads. Samples are ``step_s`` apart (default
        HISTORY_STEP_S, within Prometheus' 5m lookback) at multiples of the step, so subqueries
        and offsets find them. ``target_labels`` (the ``job`` and ``instance`` Prometheus gives
        the scrape) are added to every series, so history and live samples are the same series.
        Returns the number of samples written."""
        plan = self.history_plan(scenario)
        span = self.history_span(scenario, span_s)
        step = step_s or HISTORY_STEP_S
        wanted = set(metrics) if metrics is not None else plan.metrics
        timeline = self.timeline(scenario, anchor)
        end = math.floor((anchor - 120) / step) * step  # the last minutes are the live scrape's
        times = []
        t = end - math.floor(span / step) * step
        while t <= end:
            times.append(t)
            t += step
        n = 0
        for s in self.series:
            if wanted and s.metric not in wanted:
                continue
            text = s.text(target_labels)
            for t in times:
                out.write(f"{text} {_num(self.value(s, timeline, t))} {int(t)}\n")
                n += 1
        out.write("# EOF\n")
        return n

    def history_span(self, scenario: str, span_s: float | None = None) -> float:
        """The span of history written for ``scenario`` (``span_s``, or what its alerts read),
        refused beyond MAX_HISTORY_S: the output grows by megabytes per simulated day."""
        span = span_s if span_s is not None else (self.history_plan(scenario).span_s or 3600.0)
        if not 0 < span <= MAX_HISTORY_S:
            what = "--history" if span_s is not None else f"the history {scenario} needs"
            raise EnvironmentProblem(
                f"{what} ({_days(span)}) is not between 0 and {_days(MAX_HISTORY_S)}: the "
                f"history is {HISTORY_STEP_S / 60:g}-minute samples of every series (megabytes "
                f"per day); give --history of at most {_days(MAX_HISTORY_S)}")
        return span

    def history_plan(self, scenario: str) -> HistoryPlan:
        """What history a scenario needs: span, catalogue metrics, recording rules read over a
        range (those need `promtool tsdb create-blocks-from rules`). ``healthy`` gets the
        history of every alert with a long window, so their windows see a quiet week."""
        names = [scenario] if scenario != HEALTHY else list(self.scenarios)
        plan = HistoryPlan()
        for n in names:
            sc = self.scenarios[n]
            if not sc.history_s:
                continue
            expr = self.alert_exprs[n]
            plan.span_s = max(plan.span_s, sc.history_s)
            plan.metrics |= catalogue_inputs(expr, self.records, set(self.types))
            plan.recorded |= recorded_in_ranges(expr, self.records)
        return plan


@dataclass
class HistoryPlan:
    span_s: float = 0.0
    metrics: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)


def catalogue_inputs(expr: str, records: dict[str, str], catalogue: set[str]) -> set[str]:
    """Catalogue metrics (histogram base names) an expression reads, through recording rules."""
    out: set[str] = set()
    for name in promql.metric_names(expr):
        if name in records:
            out |= catalogue_inputs(records[name], records, catalogue)
            continue
        for suffix in ("_bucket", "_sum", "_count", ""):
            base = name[: -len(suffix)] if suffix and name.endswith(suffix) else name
            if base in catalogue:
                out.add(base)
                break
    return out


def recorded_in_ranges(expr: str, records: dict[str, str]) -> set[str]:
    """Recording rules an expression (or a rule it reads) reads over a range or subquery:
    their history must be backfilled, their live evaluations alone are too short."""
    out: set[str] = set()
    for node in promql.walk(promql.parse(expr)):
        if isinstance(node, pp.MatrixSelector | pp.SubqueryExpr):
            for vs in promql.vector_selectors(node):
                name = promql.selector_name(vs)
                if name in records:
                    out.add(name)
    for name in promql.metric_names(expr):
        if name in records:
            out |= recorded_in_ranges(records[name], records)
    return out


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


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


def histogram_buckets(md: m.MetricDef) -> list[float]:
    return HISTOGRAM_BUCKETS.get(md.unit, HISTOGRAM_BUCKETS["none"])


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


# --------------------------------------------------------------------------- alert targets


def targets(alert: m.Alert) -> tuple[float, float]:
    """(healthy, violating) values of an alert's signal: clearly on each side of the threshold."""
    t, c = alert.threshold, alert.comparison
    ceiling = {"percentunit": 1.0, "percent": 100.0}.get(alert.unit)
    if alert.signal.shape == "baseline":
        healthy = 0.0  # a value equal to its own average
    elif c in (">", ">="):
        healthy = t / 2 if t > 0 else (2 * t if t < 0 else (0.0 if c == ">" else -1.0))
    else:
        healthy = (2 * t if ceiling is None else (t + ceiling) / 2) if t > 0 else \
            (t / 2 if t < 0 else (0.0 if c == "<" else 1.0))
    if c in (">", ">="):
        violating = 2 * t if t > 0 else (t / 2 if t < 0 else 1.0)
        if ceiling is not None:
            violating = min(violating, (t + ceiling) / 2)
    else:
        violating = t / 2 if t > 0 else (2 * t if t < 0 else -1.0)
    if not (_violates(c, violating, t) and not _violates(c, healthy, t)):
        raise SimulationError(f"{alert.name}: no healthy/violating values around {t}")
    return healthy, violating


def _violates(comparison: str, value: float, threshold: float) -> bool:
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold}[comparison]


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


def _linear(base: float, slope: float) -> Level:
    return lambda t: base + slope * (t - 1.7e9)


def _scaled(level: Level, factor: float) -> Level:
    return lambda t: level(t) * factor


def _age_start(age: float) -> Level:
    return lambda t: float(int(t - age))


def quantile_estimate(buckets: list[float], observation: float, q: float) -> float:
    """What histogram_quantile returns when every observation equals ``observation``."""
    lower = 0.0
    for b in buckets:
        if observation <= b:
            return lower + q * (b - lower)
        lower = b
    return buckets[-1]


def quantile_observation(buckets: list[float], q: float, comparison: str, threshold: float,
                         target: float) -> float:
    """An observation value whose quantile estimate is on the same side of ``threshold`` as
    ``target`` (and as close to ``target`` as the buckets allow)."""
    want = _violates(comparison, target, threshold)
    candidates = [b for b in buckets
                  if _violates(comparison, quantile_estimate(buckets, b, q), threshold) == want]
    if not candidates:
        raise SimulationError(f"no histogram bucket gives a quantile on that side of {threshold}")
    return min(candidates, key=lambda b: abs(quantile_estimate(buckets, b, q) - target))


def histogram_behaviours(base: list[Series], buckets: list[float],
                         observation: float) -> dict[Series, Behaviour]:
    """All observations equal ``observation``, at HISTOGRAM_RATE per second."""
    out = {}
    for x in base:
        if x.name.endswith("_bucket"):
            le = float(x.label_dict["le"])
            out[x] = Behaviour(rate=HISTOGRAM_RATE if observation <= le else 0.0)
        elif x.name.endswith("_sum"):
            out[x] = Behaviour(rate=HISTOGRAM_RATE * observation)
        else:
            out[x] = Behaviour(rate=HISTOGRAM_RATE)
    return out


def default_behaviours(series: list[Series], catalogue: dict[str, m.MetricDef]
                       ) -> dict[Series, Behaviour]:
    out: dict[Series, Behaviour] = {}
    hist: dict[str, list[Series]] = {}
    for s in series:
        md = catalogue[s.metric]
        if md.type == "histogram":
            hist.setdefault(md.name, []).append(s)
        elif md.type == "counter":
            out[s] = Behaviour(rate=COUNTER_RATE)
        elif md.unit == "timestamp_seconds":
            out[s] = Behaviour(level=_age_start(60.0))
        else:
            level = METRIC_DEFAULTS.get(md.name, GAUGE_DEFAULTS.get(md.unit, 1.0))
            out[s] = Behaviour(level=constant(level))
    for name, members in hist.items():
        md = catalogue[name]
        obs = HISTOGRAM_DEFAULT_OBSERVATION.get(md.unit, 1.0)
        out.update(histogram_behaviours(members, histogram_buckets(md), obs))
    return out


def lookback_seconds(expr: str) -> float:
    """The longest range, subquery range or offset an expression reads."""
    spans = [m.duration_seconds(x.group(1)) for x in _RANGE_RE.finditer(expr)]
    spans += [m.duration_seconds(x.group(1)) for x in _OFFSET_RE.finditer(expr)]
    return max(spans, default=0.0)


def chain_lookback(expr: str, records: dict[str, str]) -> float:
    """Lookback of an expression plus the longest lookback of the recording rules it reads."""
    inner = [chain_lookback(records[n], records) for n in promql.metric_names(expr)
             if n in records]
    return lookback_seconds(expr) + max(inner, default=0.0)


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


# --------------------------------------------------------------------------- HTTP server


class Simulator:
    """The world served over HTTP: ``/metrics`` follows the current scenario (switchable with
    ``POST /scenario/NAME``); ``/scenarios/NAME/metrics`` always serves NAME in full effect."""

    def __init__(self, world: World, scenario: str = HEALTHY, anchor: float | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if scenario != HEALTHY and scenario not in world.scenarios:
            raise SimulationError(f"unknown scenario {scenario!r}")
        self.world = world
        self.anchor = anchor if anchor is not None else time.time()
        self.current = world.timeline(scenario, self.anchor)
        self.current_name = scenario
        self.lock = threading.Lock()
        self.fixed = {name: world.timeline(name, self.anchor)
                      for name in [HEALTHY, *world.scenarios]}
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def switch(self, name: str, now: float | None = None) -> None:
        if name != HEALTHY and name not in self.world.scenarios:
            raise SimulationError(f"unknown scenario {name!r}")
        with self.lock:
            self.current.segments.append((now if now is not None else time.time(), name))
            self.current_name = name

    def start(self) -> Simulator:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="mlops-dash-simulate")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def render(self, path: str) -> tuple[int, str]:
        parts = [p for p in path.split("?")[0].split("/") if p]
        now = time.time()
        if parts == ["metrics"]:
            with self.lock:
                return 200, self.world.exposition(self.current, now)
        if len(parts) == 3 and parts[0] == "scenarios" and parts[2] == "metrics":
            tl = self.fixed.get(parts[1])
            if tl is None:
                return 404, f"unknown scenario {parts[1]}\n"
            return 200, self.world.exposition(tl, now)
        if parts in (["scenarios"], ["scenario"], []):
            lines = [f"current: {self.current_name}", f"{HEALTHY}: no alert fires"]
            lines += [f"{n}: {s.description}" for n, s in self.world.scenarios.items()]
            return 200, "\n".join(lines) + "\n"
        return 404, "not found\n"


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            code, body = sim.render(self.path)
            self._send(code, body)

        def do_POST(self) -> None:  # noqa: N802
            parts = [p for p in self.path.split("/") if p]
            if len(parts) == 2 and parts[0] == "scenario":
                try:
                    sim.switch(parts[1])
                except SimulationError as exc:
                    self._send(404, f"{exc}\n")
                    return
                self._send(200, f"scenario {parts[1]}\n")
                return
            self._send(404, "not found\n")

        def _send(self, code: int, body: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def _days(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    return f"{seconds:g}s"
