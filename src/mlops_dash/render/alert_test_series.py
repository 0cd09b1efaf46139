"""Input series of the derived promtool cases (render/alert_tests.py): per signal shape, the
series on the contract's metrics whose value follows a case's timeline, with the labels the
alert's expression groups by, and when the shape can first be violated."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from mlops_dash import promql
from mlops_dash.render.alert_test_values import (
    AlertTestError,
    Segment,
    Series,
    Timing,
    _num,
    _selector_labels,
    bad_value,
    non_matching_value,
    safe_value,
    series_text,
)
from mlops_dash.spec import models as m

EVENTS_PER_STEP = 100  # counter increase per input sample (ratio denominators, histograms)
BASELINE_LEVEL = 100.0  # the level a baseline signal's series holds before a case changes it
DIFFERENCE_BASE = 10.0  # the subtrahend of a difference signal


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


def _shape_timing(ctx: Context) -> Timing:
    """When the alert's signal can first be violated and how long it takes to settle
    (Context.timing)."""
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
    return _instance_labels(ctx, ctx.fixed_labels, instance) is not None


def _fixed_labels_of(ctx: Context) -> dict[str, str]:
    """Grouping labels whose value a matcher of the signal fixes (Context.fixed_labels: read,
    never changed)."""
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
    labels = _instance_labels(ctx, ctx.fixed_labels, instance)
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
