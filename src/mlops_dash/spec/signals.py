"""Alert signals, structured by shape (ratio, quantile, gauge, difference, growth, …)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlops_dash.spec.base import Duration, Matcher, Number, PositiveDuration, Strict
from mlops_dash.spec.fields import LabelName, MetricName


class Selector(Strict):
    """A metric and its label matchers, e.g. ``{metric: x, matchers: {status: failed}}``."""

    metric: MetricName
    matchers: dict[LabelName, Matcher] = Field(
        default_factory=dict,
        description='label matchers: "value" is =, "=~regex" / "!=v" / "!~regex" as written',
    )


class RatioSignal(Strict):
    """Share of events: increase of a counter over the window / increase of the total; or,
    ``of: gauges``, one gauge over another (e.g. a job's last-run failed records / records)."""

    shape: Literal["ratio"]
    of: Literal["counters", "gauges"] = Field(
        default="counters",
        description="counters: increase over `window` (a series first seen above 0 counts "
        "its value); gauges: the current values, no window (pushed last-run gauges)")
    numerator: Selector
    denominator: Selector
    by: list[LabelName] = Field(min_length=1)


class QuantileSignal(Strict):
    """A quantile of a histogram's observations over the window."""

    shape: Literal["quantile"]
    histogram: Selector = Field(description="histogram base name (without _bucket)")
    quantile: Number = Field(gt=0, lt=1)
    by: list[LabelName] = Field(min_length=1)

    @field_validator("histogram")
    @classmethod
    def _base_name(cls, v: Selector) -> Selector:
        for suffix in ("_bucket", "_count", "_sum"):
            if v.metric.endswith(suffix):
                raise ValueError(
                    f"give the histogram's base name {v.metric.removesuffix(suffix)!r}, "
                    f"without {suffix}: the quantile reads its _bucket series")
        return v


class GaugeSignal(Strict):
    """An aggregated gauge (several selectors are a union); optionally scaled per label value,
    counted only as new events (``events``), or held over a window (``sustained``)."""

    shape: Literal["gauge"]
    series: list[Selector] = Field(min_length=1)
    aggregate: Literal["max", "min", "avg", "sum"] = "max"
    by: list[LabelName] = Field(min_length=1)
    scale_by: ScaleBy | None = None
    events: Events | None = Field(
        default=None, description="0/1 state gauges counted only while newly set (events)")
    consecutive: Consecutive | None = Field(
        default=None, description="a gauge refreshed by periodic checks (pushed with a "
        "last-success timestamp): violating at this many consecutive checks, however late")
    sustained: Duration | None = Field(
        default=None, description="the condition must hold at every point of this window, "
        "computed from stored samples (survives scrape gaps and Prometheus restarts, unlike "
        "`for`), and the series must have existed that long")

    @model_validator(mode="after")
    def _one_mode(self) -> GaugeSignal:
        if self.events is not None and (self.sustained is not None or self.scale_by):
            raise ValueError("`events` takes neither `sustained` nor `scale_by`")
        if self.consecutive is not None and (self.sustained is not None
                                             or self.events is not None):
            raise ValueError("`consecutive` takes neither `sustained` nor `events`")
        return self


class Consecutive(Strict):
    """Count checks, not time: the gauge must violate at the last ``checks`` checks, each check
    being a change of ``check_timestamp`` (the checker's last-success time, same push group)."""

    checks: int = Field(ge=2, le=20)
    check_timestamp: Selector = Field(
        description="e.g. mlops_drift_check_last_success_timestamp_seconds")
    join_on: list[LabelName] = Field(
        min_length=1, description="labels the gauge shares with the timestamp (its push "
        "group: job)")
    window: Duration = Field(
        default="6h", description="checks are looked for this far back: the streak must fit "
        "(hourly checks: a third check up to ~4h late)")
    step: Duration = Field(
        default="5m", description="subquery resolution: a check counts within this long, and "
        "checks must be further apart")


class RestartEvents(Strict):
    """Containers restarted in place after a given termination reason (kube-state-metrics)."""

    reason: Selector = Field(description="last terminated reason, e.g. "
                             "kube_pod_container_status_last_terminated_reason{reason=OOMKilled}")
    restarts: Selector = Field(description="restart counter, "
                               "kube_pod_container_status_restarts_total")
    timestamp: Selector | None = Field(
        default=None, description="last termination time, "
        "kube_pod_container_status_last_terminated_timestamp")
    container_labels: list[LabelName] = Field(min_length=1,
                                              description="labels of one container")


class Events(Strict):
    """A 0/1 state (terminated reason, eviction) counts for ``within`` after it is set; a series
    already set during ``seen`` before that is an old state, not an event."""

    within: Duration = Field(default="10m", description="how long a new event keeps firing")
    seen: Duration = Field(
        default="1h", description="a series set at any point of this range before `within` "
        "is old (tolerates scrape gaps this long)")
    restarted: RestartEvents | None = None


class ScaleBy(Strict):
    """Divide the gauge by a per-label-value reference (e.g. drift threshold per method)."""

    label: LabelName
    values: dict[str, Number] = Field(min_length=1)


class DifferenceSignal(Strict):
    """One gauge minus another, matched on ``by``."""

    shape: Literal["difference"]
    minuend: Selector
    subtrahend: Selector
    by: list[LabelName] = Field(min_length=1)


class GrowthSignal(Strict):
    """How much a gauge grew over the window: ``x - x offset window``."""

    shape: Literal["growth"]
    series: Selector
    by: list[LabelName] = Field(min_length=1)


class BaselineSignal(Strict):
    """Relative change of a value against its own rolling average: ``current / baseline - 1``."""

    shape: Literal["baseline"]
    series: Selector
    aggregate: Literal["max", "min", "avg", "sum"] = "avg"
    by: list[LabelName] = Field(default_factory=list)
    baseline_window: PositiveDuration = "7d"
    baseline_step: PositiveDuration = Field(default="1h", description="subquery resolution")
    baseline_stat: Literal["avg", "median"] = Field(
        default="avg", description="average or median of the baseline window (a median keeps "
        "the old level until the new one fills half the window)")
    baseline_offset: PositiveDuration | None = Field(
        default=None, description="the baseline window ends this long ago, so a recent change "
        "is not yet part of its own baseline")


class AgeSignal(Strict):
    """Age of a timestamp gauge (now − its value): of a running run as a multiple of a
    baseline, or, without a baseline, in seconds (how long ago a producer last succeeded)."""

    shape: Literal["age"]
    start_timestamp: Selector = Field(description="a gauge holding a unix time in seconds")
    baseline: Selector | None = Field(
        default=None, description="usually a recording rule; none: the age in seconds")
    by: list[LabelName] = Field(min_length=1, description="labels identifying one instance")
    match_on: list[LabelName] = Field(
        default_factory=list, description="labels shared with baseline (required with it)")

    @model_validator(mode="after")
    def _match_on_with_baseline(self) -> AgeSignal:
        if self.baseline is not None and not self.match_on:
            raise ValueError("an age signal with a baseline needs `match_on`")
        if self.baseline is None and self.match_on:
            raise ValueError("`match_on` belongs to a baseline; this age signal has none")
        return self

    @field_validator("match_on")
    @classmethod
    def _match_on_kept(cls, v: list[str], info: ValidationInfo) -> list[str]:
        import difflib

        by = info.data.get("by", [])
        for label in v:
            if by and label not in by:
                close = difflib.get_close_matches(label, by, n=1, cutoff=0.75)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"match_on label {label!r} is not in `by` {by}{hint}: only the `by` "
                    "labels are left to match the baseline on")
        return v


class RawSignal(Strict):
    """A PromQL expression kept as written: an imported rule that matches no other shape.

    With the alert's ``comparison`` and ``threshold`` it is the signal (``expr <comparison>
    threshold``, drawn as the panel's threshold line); without them it is the whole alerting
    expression (it fires for every series it returns; no threshold line). A raw alert gets no
    generated promtool cases, only its own ``tests`` (lint warns when it has none)."""

    shape: Literal["raw"]
    expr: str = Field(min_length=1, description="PromQL, as written")
    by: list[LabelName] = Field(
        default_factory=list, description="labels that identify one instance (deep links)")

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        import promql_parser

        try:
            promql_parser.parse(v)
        except Exception as exc:  # the parser raises plain exceptions with a message
            raise ValueError(f"not PromQL: {str(exc).strip()}") from None
        return v


Signal = Annotated[
    RatioSignal | QuantileSignal | GaugeSignal | DifferenceSignal | GrowthSignal
    | BaselineSignal | AgeSignal | RawSignal,
    Field(discriminator="shape"),
]
