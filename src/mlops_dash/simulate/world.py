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

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

import promql_parser as pp

from mlops_dash import promql
from mlops_dash.errors import EnvironmentProblem

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
# Namespaces outside the platform's in the derived world (none: every namespace multiplies the
# series, and the e2e scrapes them once a second). The realistic cluster around the platform's
# namespaces (kubeflow and kube-system Istio traffic, their HPAs, old terminated pods, DCGM's
# exported_* labels) is the hand-made healthy estate, ``estate.py``.
OTHER_NAMESPACES: list[str] = []
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



def _days(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    return f"{seconds:g}s"
