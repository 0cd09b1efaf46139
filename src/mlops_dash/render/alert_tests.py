"""Alerts → ``promtool test rules`` files: firing, quiet, pending and resolve cases per alert.

Pure: returns data. The cases are derived from the alert's fields (signal shape, threshold,
comparison, window, ``for``, interval), never written per alert:

* a *bad* signal value, clearly on the violating side of the threshold, and a *safe* value just
  on the other side (5% of the threshold away; the threshold itself when it is 0 and the
  comparison strict);
* a timeline per case (segments of bad/safe values) that the shape turns into input series on
  the contract's metrics, carrying the labels the expression groups by;
* evaluation times from the shape's warm-up (a rate needs two samples, a growth needs a full
  window of history, a baseline needs its history) and settle time (how long a rate window
  remembers the old value).

Firing is asserted through ``promql_expr_test`` on ``ALERTS{alertname, alertstate}`` with the
exact label set (severity, team, dashboard, the grouping labels): promtool's ``alert_rule_test``
compares annotations exactly, which would tie the tests to rendered ``$value`` text.
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash import promql
from mlops_dash.spec import models as m

SAFE_MARGIN = 0.05  # "just on the safe side": 5% of the threshold
BAD_MARGIN = 0.5  # "clearly violated": 50% of the threshold beyond it
EVENTS_PER_STEP = 100  # counter increase per input sample (ratio denominators, histograms)
BASELINE_LEVEL = 100.0  # the level a baseline signal's series holds before a case changes it
DIFFERENCE_BASE = 10.0  # the subtrahend of a difference signal


class AlertTestError(ValueError):
    """An alert whose cases cannot be derived generically (write them by hand in `tests:`)."""


# ------------------------------------------------------------------------------ durations


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def fmt_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``1d2h3m``); 0 is ``0s``."""
    s = int(round(seconds))
    if s == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def _num(value: float) -> str:
    """A sample value or label value as text: integers plain, floats by repr (round-trips)."""
    value = _round(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _round(value: float) -> float:
    """Drop binary noise (0.15 * 100 = 15.000000000000002): 12 significant digits."""
    return float(f"{value:.12g}")


# ------------------------------------------------------------------------------ label values


def _regex_example(regex: str) -> str | None:
    """A string fully matching a (simple) RE2 regex, or None."""
    alternatives = regex.split("|") if "(" not in regex else [regex]
    for alt in alternatives:
        s = alt.strip("^$")
        s = re.sub(r"\.\*", "", s)
        s = re.sub(r"\.\+", "x", s)
        s = s.replace("\\d", "0").replace(".", "0").replace("\\", "")
        if re.fullmatch(regex, s):
            return s
    return None


_NON_MATCHING = ("other", "ok", "succeeded", "200", "none")


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def matching_value(label: str, raw: str) -> str:
    """A label value a spec matcher (``v``, ``=~re``, ``!=v``, ``!~re``) accepts."""
    if raw.startswith("=~"):
        found = _regex_example(raw[2:])
        if found is None:
            raise AlertTestError(f"cannot derive a value of {label} matching {raw[2:]!r}")
        return found
    if raw.startswith("!="):
        return f"not-{raw[2:]}" if raw[2:] else "x"
    if raw.startswith("!~"):
        return non_matching_value(label, "=~" + raw[2:])
    return raw


@functools.lru_cache(maxsize=8192)  # pure, and called for every series of every case
def non_matching_value(label: str, raw: str) -> str:
    """A label value a spec matcher rejects."""
    if raw.startswith("!="):
        return raw[2:]
    if raw.startswith("!~"):
        return matching_value(label, "=~" + raw[2:])
    regex = raw[2:] if raw.startswith("=~") else re.escape(raw)
    for candidate in _NON_MATCHING:
        if not re.fullmatch(regex, candidate):
            return candidate
    raise AlertTestError(f"cannot derive a value of {label} not matching {raw!r}")


def _selector_labels(sel: m.Selector) -> dict[str, str]:
    """Label values the selector's matchers accept (callers read it, never change it),
    remembered by the selector's identity (frozen models; each entry keeps its selector):
    every series of every case asks."""
    hit = _SELECTOR_LABELS.get(id(sel))
    if hit is not None and hit[0] is sel:
        return hit[1]
    labels = {k: matching_value(k, v) for k, v in sel.matchers.items()}
    if len(_SELECTOR_LABELS) >= 50_000:
        _SELECTOR_LABELS.clear()
    _SELECTOR_LABELS[id(sel)] = (sel, labels)
    return labels


_SELECTOR_LABELS: dict[int, tuple[m.Selector, dict[str, str]]] = {}


def series_text(metric: str, labels: dict[str, str]) -> str:
    """``metric{a="1", b="2"}`` with sorted labels."""
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}" if inner else metric


# ------------------------------------------------------------------------------ values


def is_violating(value: float, comparison: str, threshold: float) -> bool:
    return {
        ">": value > threshold, ">=": value >= threshold,
        "<": value < threshold, "<=": value <= threshold,
    }[comparison]


def bad_value(alert: m.Alert) -> float:
    """A signal value clearly on the violating side of the threshold."""
    thr = alert.threshold
    delta = abs(thr) * BAD_MARGIN if thr else 1.0
    up = alert.comparison in (">", ">=")
    value = thr + delta if up else thr - delta
    if isinstance(alert.signal, m.RatioSignal) and up and value >= 1:
        value = (thr + 1) / 2  # a share of events cannot pass 1
    return _round(value)


def safe_value(alert: m.Alert) -> float:
    """A signal value just on the safe side of the threshold."""
    thr = alert.threshold
    up = alert.comparison in (">", ">=")
    if thr == 0 and alert.comparison in (">", "<"):
        return 0.0
    delta = abs(thr) * SAFE_MARGIN if thr else SAFE_MARGIN
    return _round(thr - delta if up else thr + delta)


# ------------------------------------------------------------------------------ series


@dataclass
class Series:
    """One input series built from runs of samples, rendered in promtool's expanding notation."""

    name: str
    parts: list[str] = field(default_factory=list)
    last: float | None = None
    samples: int = 0

    def hold(self, value: float, n: int) -> None:
        """``n`` samples of a constant value."""
        if n <= 0:
            return
        self.parts.append(_num(value) if n == 1 else f"{_num(value)}x{n - 1}")
        self.last, self.samples = value, self.samples + n

    def ramp(self, start: float, step: float, n: int) -> None:
        """``n`` samples ``start, start+step, …``."""
        if n <= 0:
            return
        if step == 0:
            self.hold(start, n)
            return
        if n == 1:
            self.parts.append(_num(start))
        else:
            sign = "+" if step >= 0 else "-"
            self.parts.append(f"{_num(start)}{sign}{_num(abs(step))}x{n - 1}")
        self.last, self.samples = start + step * (n - 1), self.samples + n

    def stale(self) -> None:
        self.parts.append("stale")

    def render(self) -> dict[str, str]:
        return {"series": self.name, "values": " ".join(self.parts)}


@dataclass(frozen=True)
class Segment:
    """A run of input samples during which the signal holds one value (None: no series)."""

    steps: int
    value: float | None


@dataclass(frozen=True)
class Timing:
    """When a shape's signal shows a value, in seconds."""

    first: float  # earliest time the signal can be violated (warm-up)
    settle: float  # how long after a change the signal shows only the new value


# ------------------------------------------------------------------------------ shapes


@dataclass
class Context:
    dashboard: m.Dashboard
    alert: m.Alert
    catalogue: dict[str, m.MetricDef]
    interval: int  # input sample interval (s)
    eval_interval: int  # the test file's evaluation interval (s)

    @property
    def steps_per_window(self) -> int:
        return int(m.duration_seconds(self.alert.window or "0s")) // self.interval

    # what each case of the alert asks again: worked out once a context (an alert's file)
    @functools.cached_property
    def timing(self) -> Timing:
        return _shape_timing(self)

    @functools.cached_property
    def fixed_labels(self) -> dict[str, str]:
        return _fixed_labels_of(self)


def _instance_labels(ctx: Context, fixed: dict[str, str], k: int) -> dict[str, str] | None:
    """Labels of instance ``k`` (1, 2, …) of the alert: one value per grouping label.

    Labels a matcher fixes keep the matched value; None when instance k cannot differ from 1.
    """
    by = list(ctx.alert.signal.by)
    free = [b for b in by if b not in fixed]
    if k > 1 and not free:
        return None
    return {b: fixed[b] if b in fixed else f"{b.replace('_', '-')}-{k}" for b in by}


def _check_labels(ctx: Context, metric: str, labels: dict[str, str]) -> None:
    """Input series must use the contract's labels (recording rules are not in the contract)."""
    base = metric.removesuffix("_bucket")
    known = ctx.catalogue.get(metric) or ctx.catalogue.get(base)
    if known is None:
        if ":" in metric:
            return
        if metric in promql.BUILTIN_SERIES:
            raise AlertTestError(f"{metric} is Prometheus' own series, known without a "
                                 "catalogue entry; list it in the metric catalogue with its "
                                 "labels so test cases can be derived")
        raise AlertTestError(f"{metric} is not in the metric catalogue")
    extra = sorted(set(labels) - set(known.labels) - {"le"})
    if extra:
        raise AlertTestError(f"{metric} has no label(s) {extra} in the metric catalogue")


def _gauge_variants(s: m.GaugeSignal) -> list[tuple[m.Selector, dict[str, str], float]]:
    """(selector, extra labels, scale) for each term of a gauge union."""
    out = []
    for sel in s.series:
        if s.scale_by is None:
            out.append((sel, {}, 1.0))
        else:
            for value, scale in s.scale_by.values.items():
                out.append((sel, {s.scale_by.label: value}, scale))
    return out


def shape_timing(ctx: Context) -> Timing:
    """When the alert's signal can first be violated and how long it takes to settle."""
    return ctx.timing


def _shape_timing(ctx: Context) -> Timing:
    s = ctx.alert.signal
    window = m.duration_seconds(ctx.alert.window or "0s")
    if isinstance(s, m.RatioSignal) and s.of == "gauges":
        return Timing(first=0, settle=0)
    if isinstance(s, (m.RatioSignal, m.QuantileSignal)):
        return Timing(first=ctx.interval, settle=window)
    if isinstance(s, m.GrowthSignal):
        return Timing(first=window, settle=window)
    if isinstance(s, m.BaselineSignal):
        return Timing(first=baseline_history(s), settle=0)
    if isinstance(s, m.AgeSignal):
        return Timing(first=2 * ctx.eval_interval, settle=ctx.interval)
    if isinstance(s, m.GaugeSignal) and s.sustained:
        return Timing(first=m.duration_seconds(s.sustained), settle=0)
    if isinstance(s, m.GaugeSignal) and s.consecutive:
        # a check at every sample; the subquery sees one per step: N checks take N steps
        step = m.duration_seconds(s.consecutive.step)
        return Timing(first=s.consecutive.checks * step, settle=0)
    return Timing(first=0, settle=0)


BASELINE_HISTORY_S = 86400


def baseline_history(s: m.BaselineSignal) -> float:
    """History at the baseline level before a case changes the signal.

    One day, or the baseline window when shorter: promtool evaluates every rule of the file at
    every evaluation interval from 0, so a week of history per case costs ~5 s; the rolling
    average of a series that has existed one day is its one-day average, which exercises the
    same expression. tests/promtool/ holds hand-written cases with the full 7 days.
    """
    offset = m.duration_seconds(s.baseline_offset or "0s")
    return min(m.duration_seconds(s.baseline_window), BASELINE_HISTORY_S) + offset


def render_series(ctx: Context, segments: list[Segment], instance: int,
                  variants: list[int] | None = None) -> list[Series]:
    """Input series of one alert instance whose signal follows ``segments``."""
    s = ctx.alert.signal
    if isinstance(s, m.GaugeSignal):
        return _gauge_series(ctx, s, segments, instance, variants)
    if isinstance(s, m.DifferenceSignal):
        return _difference_series(ctx, s, segments, instance)
    if isinstance(s, m.RatioSignal):
        return _ratio_series(ctx, s, segments, instance)
    if isinstance(s, m.QuantileSignal):
        return _quantile_series(ctx, s, segments, instance)
    if isinstance(s, m.GrowthSignal):
        return _growth_series(ctx, s, segments, instance)
    if isinstance(s, m.BaselineSignal):
        return _baseline_series(ctx, s, segments, instance)
    raise AssertionError(f"no series for shape {s.shape}")  # age has its own path


def instance_exists(ctx: Context, instance: int) -> bool:
    s = ctx.alert.signal
    if isinstance(s, m.AgeSignal):
        return True
    return _instance_labels(ctx, _fixed_labels(ctx), instance) is not None


def _fixed_labels(ctx: Context) -> dict[str, str]:
    """Grouping labels whose value a matcher of the signal fixes (read, never changed)."""
    return ctx.fixed_labels


def _fixed_labels_of(ctx: Context) -> dict[str, str]:
    s = ctx.alert.signal
    sels: list[m.Selector] = []
    if isinstance(s, m.GaugeSignal):
        sels = list(s.series)
    elif isinstance(s, m.DifferenceSignal):
        sels = [s.minuend, s.subtrahend]
    elif isinstance(s, m.RatioSignal):
        sels = [s.numerator, s.denominator]
    elif isinstance(s, m.QuantileSignal):
        sels = [s.histogram]
    elif isinstance(s, (m.GrowthSignal, m.BaselineSignal)):
        sels = [s.series]
    fixed: dict[str, str] = {}
    for sel in sels:
        for label, value in _selector_labels(sel).items():
            if label in s.by:
                fixed.setdefault(label, value)
    return fixed


def instance_labels(ctx: Context, instance: int) -> dict[str, str]:
    labels = _instance_labels(ctx, _fixed_labels(ctx), instance)
    assert labels is not None
    return labels


def _series(ctx: Context, metric: str, labels: dict[str, str]) -> Series:
    _check_labels(ctx, metric, labels)
    return Series(series_text(metric, labels))


def _gauge_series(ctx: Context, s: m.GaugeSignal, segments: list[Segment], instance: int,
                  variants: list[int] | None) -> list[Series]:
    all_variants = _gauge_variants(s)
    chosen = variants if variants is not None else [0]
    share = 1.0 / len(chosen) if s.aggregate == "sum" else 1.0
    out = []
    join: dict[str, str] = {}
    if s.consecutive is not None:  # the checker's timestamp: a new check at every sample
        c = s.consecutive
        join = {label: f"{label.replace('_', '-')}-1" for label in c.join_on}
        checks = _series(ctx, c.check_timestamp.metric,
                         {**join, **_selector_labels(c.check_timestamp)})
        checks.ramp(1e9, ctx.interval, sum(seg.steps for seg in segments))
        if instance == 1:
            out.append(checks)
    for i in chosen:
        sel, extra, scale = all_variants[i]
        labels = {**instance_labels(ctx, instance), **_selector_labels(sel), **extra, **join}
        series = _series(ctx, sel.metric, labels)
        for seg in segments:
            series.hold((seg.value or 0.0) * scale * share, seg.steps)
        out.append(series)
    return out


def _difference_series(ctx: Context, s: m.DifferenceSignal, segments: list[Segment],
                       instance: int) -> list[Series]:
    labels = instance_labels(ctx, instance)
    base = DIFFERENCE_BASE + 2 * abs(ctx.alert.threshold)
    minuend = _series(ctx, s.minuend.metric, {**labels, **_selector_labels(s.minuend)})
    subtrahend = _series(ctx, s.subtrahend.metric, {**labels, **_selector_labels(s.subtrahend)})
    for seg in segments:
        minuend.hold(base + (seg.value or 0.0), seg.steps)
        subtrahend.hold(base, seg.steps)
    return [minuend, subtrahend]


def _counter(series: Series, increments: list[tuple[int, float]]) -> Series:
    """A counter that grows by ``inc`` per sample during each run of ``n`` samples."""
    value = 0.0
    first = True
    for n, inc in increments:
        if n <= 0:
            continue
        start = value if first else value + inc
        series.ramp(start, inc, n)
        value = start + inc * (n - 1)
        first = False
    return series


def _ratio_series(ctx: Context, s: m.RatioSignal, segments: list[Segment],
                  instance: int) -> list[Series]:
    labels = instance_labels(ctx, instance)
    num_labels = {**labels, **_selector_labels(s.numerator)}
    if s.of == "gauges":
        return _gauge_ratio_series(ctx, s, segments, labels)
    num = _counter(_series(ctx, s.numerator.metric, num_labels),
                   [(seg.steps, (seg.value or 0.0) * EVENTS_PER_STEP) for seg in segments])
    if s.numerator.metric != s.denominator.metric:
        den_labels = {**labels, **_selector_labels(s.denominator)}
        den = _counter(_series(ctx, s.denominator.metric, den_labels),
                       [(seg.steps, EVENTS_PER_STEP) for seg in segments])
        return [num, den]
    # The same counter: the denominator also counts the numerator's events, so the rest of the
    # events go to a series the numerator's matchers reject and the denominator's accept.
    rest_labels = {**labels, **_selector_labels(s.denominator)}
    for label, raw in s.numerator.matchers.items():
        if label not in s.denominator.matchers:
            rest_labels[label] = non_matching_value(label, raw)
    rest = _counter(_series(ctx, s.denominator.metric, rest_labels),
                    [(seg.steps, (1 - (seg.value or 0.0)) * EVENTS_PER_STEP)
                     for seg in segments])
    return [num, rest]


def _gauge_ratio_series(ctx: Context, s: m.RatioSignal, segments: list[Segment],
                        labels: dict[str, str]) -> list[Series]:
    """Two gauges (e.g. a job's last run: failed records and records): value·N over N."""
    num = _series(ctx, s.numerator.metric, {**labels, **_selector_labels(s.numerator)})
    den = _series(ctx, s.denominator.metric, {**labels, **_selector_labels(s.denominator)})
    for seg in segments:
        num.hold((seg.value or 0.0) * EVENTS_PER_STEP, seg.steps)
        den.hold(EVENTS_PER_STEP, seg.steps)
    return [num, den]


def quantile_buckets(values: list[float], q: float) -> tuple[list[float], dict[float, float]]:
    """Bucket bounds so that "every observation in the bucket of v" gives quantile ``v``.

    histogram_quantile interpolates linearly inside the bucket holding the rank: with all
    observations in (lo, hi] the estimate is lo + (hi - lo) * q. Each value gets a narrow
    bucket (v - q*δ, v + (1-q)*δ]; returns the sorted bounds and each value's upper bound.
    """
    distinct = sorted(set(values))
    gaps = [b - a for a, b in zip(distinct, distinct[1:], strict=False)]
    scale = max(abs(v) for v in distinct) or 1.0
    delta = min(gaps + [scale]) / 2
    bounds: list[float] = []
    upper: dict[float, float] = {}
    for v in distinct:
        lo, hi = v - q * delta, v + (1 - q) * delta
        bounds += [lo, hi]
        upper[v] = hi
    return bounds, upper


def _quantile_series(ctx: Context, s: m.QuantileSignal, segments: list[Segment],
                     instance: int) -> list[Series]:
    labels = {**instance_labels(ctx, instance), **_selector_labels(s.histogram)}
    # The same buckets in every case of the alert: one per value the cases use.
    values = [safe_value(ctx.alert), bad_value(ctx.alert)]
    values += [seg.value for seg in segments if seg.value is not None]
    bounds, upper = quantile_buckets(values, s.quantile)
    out = []
    for le in [*bounds, float("inf")]:
        le_text = "+Inf" if le == float("inf") else _num(le)
        incs = [
            (seg.steps, EVENTS_PER_STEP if seg.value is not None and le >= upper[seg.value]
             else 0.0)
            for seg in segments
        ]
        series = _series(ctx, f"{s.histogram.metric}_bucket", {**labels, "le": le_text})
        out.append(_counter(series, incs))
    return out


def _growth_series(ctx: Context, s: m.GrowthSignal, segments: list[Segment],
                   instance: int) -> list[Series]:
    labels = {**instance_labels(ctx, instance), **_selector_labels(s.series)}
    per_window = ctx.steps_per_window
    start = 10 * max(abs(ctx.alert.threshold), 1.0)
    series = _series(ctx, s.series.metric, labels)
    value = start
    first = True
    for seg in segments:
        inc = (seg.value or 0.0) / per_window
        begin = value if first else value + inc
        series.ramp(begin, inc, seg.steps)
        value = begin + inc * (seg.steps - 1)
        first = False
    return [series]


def _baseline_series(ctx: Context, s: m.BaselineSignal, segments: list[Segment],
                     instance: int) -> list[Series]:
    """A series at BASELINE_LEVEL·(1 + x) where x is the segment's relative change."""
    labels = {**instance_labels(ctx, instance), **_selector_labels(s.series)}
    series = _series(ctx, s.series.metric, labels)
    for seg in segments:
        series.hold(BASELINE_LEVEL * (1 + (seg.value or 0.0)), seg.steps)
    return [series]


# ------------------------------------------------------------------------------ cases


@dataclass
class Case:
    """One promtool test group: a name, input series and checks."""

    alert: str
    name: str
    series: list[Series]
    firing_at: list[tuple[float, list[dict[str, str]]]] = field(default_factory=list)
    pending_at: list[tuple[float, list[dict[str, str]]]] = field(default_factory=list)
    silent_at: list[float] = field(default_factory=list)  # neither pending nor firing

    def render(self, ctx: Context) -> dict[str, Any]:
        alert = ctx.alert.name
        exprs: list[dict[str, Any]] = []
        rule_tests: list[dict[str, Any]] = []
        for t, instances in self.firing_at:
            exprs.append(_alerts_check(ctx, "firing", t, instances))
        for t, instances in self.pending_at:
            exprs.append(_alerts_check(ctx, "pending", t, instances))
            if instances:  # pending, so not (yet) firing
                rule_tests.append({"eval_time": fmt_duration(t), "alertname": alert,
                                   "exp_alerts": []})
        for t in self.silent_at:
            exprs.append({"expr": f'ALERTS{{alertname="{alert}"}}', "eval_time": fmt_duration(t),
                          "exp_samples": []})
            rule_tests.append({"eval_time": fmt_duration(t), "alertname": alert,
                               "exp_alerts": []})
        group: dict[str, Any] = {
            "name": f"{alert}: {self.name}",
            "interval": fmt_duration(ctx.interval),
            "input_series": [s.render() for s in self.series],
        }
        if rule_tests:
            group["alert_rule_test"] = rule_tests
        group["promql_expr_test"] = exprs
        return group


def expected_labels(ctx: Context, instance: dict[str, str], state: str) -> str:
    labels = {
        "alertname": ctx.alert.name,
        "alertstate": state,
        cv.LABEL_SEVERITY: ctx.alert.severity,
        cv.LABEL_TEAM: ctx.dashboard.alert_team(ctx.alert),
        cv.LABEL_DASHBOARD: ctx.dashboard.uid,
        **ctx.alert.labels,
        **instance,
    }
    return series_text("ALERTS", labels)


def _alerts_check(ctx: Context, state: str, t: float,
                  instances: list[dict[str, str]]) -> dict[str, Any]:
    samples = [{"labels": expected_labels(ctx, inst, state), "value": 1} for inst in instances]
    return {
        "expr": f'ALERTS{{alertname="{ctx.alert.name}", alertstate="{state}"}}',
        "eval_time": fmt_duration(t),
        "exp_samples": samples,
    }


def _steps(ctx: Context, seconds: float) -> int:
    return int(seconds // ctx.interval)


def _round_up(ctx: Context, seconds: float) -> float:
    e = ctx.eval_interval
    return -(-seconds // e) * e


def _round_down(ctx: Context, seconds: float) -> float:
    e = ctx.eval_interval
    return (seconds // e) * e


@dataclass(frozen=True)
class Plan:
    """The times of an alert's generated cases (seconds)."""

    t_on: float  # first evaluation at which a bad signal violates the condition
    fire: float  # evaluation at which it has been violated longer than `for`
    pending: float  # violated for less than `for` (= t_on when `for` is 0)
    recover: float  # first sample of the recovered signal in the resolve case
    resolved: float  # evaluation at which the recovered alert is no longer firing
    end: float  # last evaluation of any case


def plan(ctx: Context) -> Plan:
    timing = shape_timing(ctx)
    pad = 2 * ctx.eval_interval
    hold = m.duration_seconds(ctx.alert.for_)
    t_on = _round_up(ctx, timing.first)
    fire = t_on + _round_up(ctx, hold) + pad
    pending = t_on + _round_down(ctx, hold / 2) if hold else t_on
    recover = fire + ctx.interval
    resolved = _round_up(ctx, recover + timing.settle) + pad
    return Plan(t_on, fire, pending, recover, resolved, resolved)


def _timeline(ctx: Context, p: Plan, level_before: float | None,
              parts: list[tuple[float, float | None]]) -> list[Segment]:
    """Segments: the shape's warm-up at ``level_before``, then (until, value) runs to p.end."""
    timing = shape_timing(ctx)
    segments = []
    t = 0.0
    if isinstance(ctx.alert.signal, m.BaselineSignal):
        segments.append(Segment(_steps(ctx, timing.first), level_before))
        t = _steps(ctx, timing.first) * ctx.interval
    for until, value in parts:
        n = _steps(ctx, until) - _steps(ctx, t)
        segments.append(Segment(n, value))
        t = _steps(ctx, until) * ctx.interval
    return segments


def generated_cases(ctx: Context) -> list[Case]:
    """firing, quiet, pending and resolves (plus one firing case per extra union term)."""
    if isinstance(ctx.alert.signal, m.AgeSignal):
        return _age_cases(ctx)
    p = plan(ctx)
    bad, safe = bad_value(ctx.alert), safe_value(ctx.alert)
    end = p.end + ctx.interval
    one = instance_labels(ctx, 1)
    two = instance_exists(ctx, 2)
    alert = ctx.alert.name
    baseline = 0.0 if isinstance(ctx.alert.signal, m.BaselineSignal) else None

    def series(parts: list[tuple[float, float | None]], variants: list[int] | None = None,
               instance: int = 1) -> list[Series]:
        return render_series(ctx, _timeline(ctx, p, baseline, parts), instance, variants)

    control = series([(end, safe)], instance=2) if two else []
    cases = [
        Case(alert, "firing", series([(end, bad)]) + control,
             firing_at=[(p.fire, [one])]),
        Case(alert, "quiet", series([(end, safe)], variants=_quiet_variants(ctx)) + control,
             silent_at=[p.fire]),
    ]
    if m.duration_seconds(ctx.alert.for_) > 0:
        cases.append(Case(alert, "pending", series([(end, bad)]),
                          pending_at=[(p.pending, [one])]))
    else:
        # No `for`: the alert fires at the first violating evaluation, with no pending phase.
        cases.append(Case(alert, "pending", series([(end, bad)]),
                          firing_at=[(p.pending, [one])], pending_at=[(p.pending, [])]))
    cases.append(Case(alert, "resolves", series([(p.recover, bad), (end, safe)]),
                      firing_at=[(p.fire, [one])], silent_at=[p.resolved]))
    if isinstance(ctx.alert.signal, m.GaugeSignal):
        for i, (sel, extra, _) in enumerate(_gauge_variants(ctx.alert.signal)):
            if i == 0:
                continue
            via = ", ".join(f"{k}={v}" for k, v in extra.items()) or sel.metric
            if extra and len(ctx.alert.signal.series) > 1:
                via = f"{sel.metric} {via}"
            cases.append(Case(alert, f"firing via {via}", series([(end, bad)], variants=[i]),
                              firing_at=[(p.fire, [one])]))
    return cases


def _quiet_variants(ctx: Context) -> list[int] | None:
    s = ctx.alert.signal
    if isinstance(s, m.GaugeSignal):
        return list(range(len(_gauge_variants(s))))
    return None


def _age_cases(ctx: Context) -> list[Case]:
    """An age signal grows with time: (now - start) / baseline crosses the threshold once.

    Each case places the run's start so the crossing falls where the case needs it; the
    baseline (usually a recording rule) is fed as a constant. Recovery is the run ending:
    its start timestamp series goes stale.
    """
    s = ctx.alert.signal
    assert isinstance(s, m.AgeSignal)
    if ctx.alert.comparison not in (">", ">="):
        raise AlertTestError("an age signal only grows; only > and >= alerts can be derived")
    p = plan(ctx)
    thr, safe = ctx.alert.threshold, safe_value(ctx.alert)
    # The baseline duration: long enough that a run started at 0 stays under half the
    # threshold until the last evaluation (the "young run" control).
    hours = max(1, -(-2 * p.end // (max(thr, 0.1) * 3600)))
    base = 3600 * hours if s.baseline is not None else 1  # no baseline: the age in seconds
    alert = ctx.alert.name
    n = _steps(ctx, p.end) + 2
    run = {b: f"{b.replace('_', '-')}-1" for b in s.by}
    other = {**run, **{b: f"{b.replace('_', '-')}-2" for b in s.by if b not in s.match_on}}
    shared = {b: run[b] for b in s.match_on}

    def start_series(labels: dict[str, str], start: float, samples: int,
                     stale: bool = False) -> Series:
        sel_labels = {**labels, **_selector_labels(s.start_timestamp)}
        series = _series(ctx, s.start_timestamp.metric, sel_labels)
        series.hold(start, samples)
        if stale:
            series.stale()
        return series

    def baseline() -> list[Series]:
        if s.baseline is None:
            return []
        series = _series(ctx, s.baseline.metric, {**shared, **_selector_labels(s.baseline)})
        series.hold(base, n)
        return [series]

    def crossing_at(t: float) -> float:
        """Start time whose age crosses the threshold at t."""
        return t - thr * base

    # A second run of the same pipeline, started at 0: stays young, never alerts.
    young = s.baseline is not None or 2 * p.end < thr  # a run started at 0 stays young
    control = [start_series(other, 0, n)] if other != run and young else []
    quiet_start = p.fire - safe * base
    # crossing one evaluation before t_on: strictly above the threshold from t_on on
    fire_start = crossing_at(p.t_on - ctx.eval_interval)
    return [
        Case(alert, "firing", [start_series(run, fire_start, n), *baseline(), *control],
             firing_at=[(p.fire, [run])]),
        Case(alert, "quiet", [start_series(run, quiet_start, n), *baseline(), *control],
             silent_at=[p.fire]),
        Case(alert, "pending", [start_series(run, fire_start, n), *baseline()],
             **({"pending_at": [(p.pending, [run])]} if m.duration_seconds(ctx.alert.for_)
                else {"firing_at": [(p.pending, [run])], "pending_at": [(p.pending, [])]})),
        Case(alert, "resolves",
             [start_series(run, fire_start, _steps(ctx, p.recover), stale=True), *baseline()],
             firing_at=[(p.fire, [run])], silent_at=[p.resolved]),
    ]


def spec_case(ctx: Context, case: m.AlertTestCase) -> dict[str, Any]:
    """A case written in the spec: its series as given; checks whether the alert fires."""
    firing = (f'clamp_max(count(ALERTS{{alertname="{ctx.alert.name}", alertstate="firing"}}), 1)'
              " or vector(0)")
    return {
        "name": f"{ctx.alert.name}: {case.name}",
        "interval": case.interval,
        "input_series": [{"series": s.series, "values": s.values} for s in case.input_series],
        "promql_expr_test": [{
            "expr": firing,
            "eval_time": case.eval_time,
            "exp_samples": [{"labels": "{}", "value": 1 if case.firing else 0}],
        }],
    }


# ------------------------------------------------------------------------------ files


def evaluation_interval(d: m.Dashboard) -> str:
    """The test file's evaluation interval: the dashboard's shortest rule group interval.

    promtool evaluates every group of the file at this interval (it ignores group intervals),
    so the shortest keeps the 1m groups exact; 5m groups are evaluated more often than in
    production, which does not change when a condition holds for `for`.
    """
    intervals = [a.interval for a in d.alerts] + [r.interval for r in d.recording_rules]
    return min(intervals, key=m.duration_seconds)


def test_file(d: m.Dashboard, catalogue: m.MetricCatalogue) -> dict[str, Any] | None:
    """The ``promtool test rules`` file of a dashboard's alerts, or None without alerts."""
    if not d.alerts:
        return None
    eval_interval = evaluation_interval(d)
    metrics = {md.name: md for md in catalogue.metrics}
    tests: list[dict[str, Any]] = []
    for index, alert in enumerate(d.alerts):
        ctx = Context(d, alert, metrics, interval=int(m.duration_seconds(eval_interval)),
                      eval_interval=int(m.duration_seconds(eval_interval)))
        try:
            if alert.signal.shape != "raw":  # a raw alert: the user's own cases only
                tests += [case.render(ctx) for case in generated_cases(ctx)]
        except AlertTestError as exc:
            exc.alert_index = index  # type: ignore[attr-defined]
            raise
        tests += [spec_case(ctx, c) for c in alert.tests]
    if not tests:
        return None
    # both paths are inside the output: rooted at "/", relpath needs no current folder
    rule_file = posixpath.relpath("/" + cv.rule_file_path(d.uid),
                                  posixpath.dirname("/" + cv.alert_test_path(d.uid)))
    return {
        "rule_files": [rule_file],
        "evaluation_interval": eval_interval,
        "tests": tests,
    }


def case_names(test_file_data: dict[str, Any]) -> list[tuple[str, str]]:
    """(alert, case) of every test group, from the ``Alert: case`` names."""
    out = []
    for group in test_file_data.get("tests", []):
        alert, _, case = str(group.get("name", "")).partition(": ")
        out.append((alert, case))
    return out
