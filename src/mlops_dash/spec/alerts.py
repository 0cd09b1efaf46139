"""Alerts, their hand-written promtool cases, and recording rules."""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mlops_dash import conventions as cv
from mlops_dash.spec.alert_routing import AlertRouting
from mlops_dash.spec.base import AlertText, Duration, Number, PositiveDuration, RuleInterval, Strict
from mlops_dash.spec.fields import AlertName, Comparison, LabelName, PanelId, Severity, Uid
from mlops_dash.spec.signals import RatioSignal, Signal

_NUM = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:Inf|inf|NaN)"
# promtool's series notation (prometheus promql/parser: series_item): _, _xN, stale, a, axN,
# a+bxN, a-bxN
_SERIES_ITEM = re.compile(
    rf"^(?:_(?:x([0-9]+))?|stale|(?:{_NUM})(?:[-+](?:{_NUM}))?(?:x([0-9]+))?)$")
MAX_TEST_SAMPLES = 100_000


class SeriesSample(Strict):
    """One input series of a hand-written promtool case."""

    series: str
    values: str

    @field_validator("series")
    @classmethod
    def _selector(cls, v: str) -> str:
        import promql_parser

        try:
            parsed = promql_parser.parse(v)
        except Exception as exc:  # the parser raises plain exceptions with a message
            raise ValueError(f"not a series selector: {str(exc).strip()}") from None
        if not isinstance(parsed, promql_parser.VectorSelector):
            raise ValueError("a series is a metric name with labels, e.g. up{job=\"x\"}")
        return v

    @field_validator("values")
    @classmethod
    def _notation(cls, v: str) -> str:
        if v.lstrip().startswith("{{"):
            return v  # native histogram samples: left to promtool
        total = 0
        for item in v.split():
            found = _SERIES_ITEM.match(item)
            if not found:
                raise ValueError(f"{item!r} is not promtool series notation (a number, a+bxN, "
                                 "a-bxN, axN, _, _xN or stale)")
            total += 1 + int(found.group(1) or found.group(2) or 0)
        if total > MAX_TEST_SAMPLES:
            raise ValueError(f"expands to {total:,} samples; at most {MAX_TEST_SAMPLES:,}, so "
                             "the promtool test runs in seconds")
        return v


class AlertTestCase(Strict):
    """An extra promtool case written by hand in the spec."""

    name: str
    interval: RuleInterval = "1m"
    input_series: list[SeriesSample] = Field(min_length=1)
    eval_time: Duration
    firing: bool


class Alert(Strict):
    """One alerting rule. Threshold, comparison, window and ``for`` are fields, not text."""

    name: AlertName
    severity: Severity
    team: Uid | None = Field(
        default=None, description="owning team (the `team` label) when it is not the "
        "dashboard's, e.g. a likely cause shown here that another team acts on")
    panel: PanelId = Field(description="the panel that shows this alert's signal")
    summary: AlertText = Field(min_length=1)
    description: AlertText = Field(min_length=1)
    signal: Signal
    comparison: Comparison | None = Field(
        default=None, description="required, except for a raw signal that is the whole "
        "alerting expression")
    threshold: Number | None = None
    unit: str = Field(min_length=1, description="Grafana unit id of the signal, e.g. percentunit")
    window: PositiveDuration | None = Field(
        default=None, description="range the signal is computed over (ratio, quantile, growth)"
    )
    for_: Duration = Field(alias="for")
    interval: RuleInterval = Field(default="1m", description="rule evaluation interval")
    action: str = Field(min_length=1, description="what to do, from the design's Action column")
    runbook_steps: list[str] = Field(default_factory=list)
    first_queries: list[str] = Field(default_factory=list)
    labels: dict[LabelName, AlertText] = Field(default_factory=dict)
    runbook_url: str | None = Field(
        default=None, description="an existing runbook (imported rules): the runbook_url "
        "annotation points there instead of the generated runbook")
    annotations: dict[LabelName, AlertText] = Field(
        default_factory=dict, description="further annotations, rendered as written")
    tests: list[AlertTestCase] = Field(default_factory=list)
    routing: AlertRouting | None = Field(
        default=None, description="override of the severity routing for this alert: page a "
        "warning, or keep a critical alert off the pager (always or during a window)")

    @model_validator(mode="after")
    def _threshold_where_needed(self) -> Alert:
        if (self.comparison is None) != (self.threshold is None):
            raise ValueError("give both `comparison` and `threshold`, or neither")
        if self.comparison is None and self.signal.shape != "raw":
            raise ValueError(f"a {self.signal.shape} signal needs `comparison` and `threshold`")
        return self

    @field_validator("threshold", "comparison", mode="before")
    @classmethod
    def _not_null(cls, v: object, info: ValidationInfo) -> object:
        """Left out is allowed (a raw signal that is its whole rule); written as null is the
        usual mistake, reported as the type error it is."""
        if v is None:
            if info.field_name == "threshold":
                raise PydanticCustomError("float_type", "Input should be a valid number")
            raise PydanticCustomError("literal_error", "Input should be '>', '>=', '<' or '<='",
                                      {"expected": "'>', '>=', '<' or '<='"})
        return v

    @field_validator("annotations")
    @classmethod
    def _own_annotations(cls, v: dict[str, str]) -> dict[str, str]:
        clash = sorted({"summary", "description", "runbook_url", "dashboard_url"} & set(v))
        if clash:
            raise ValueError(f"annotations {clash} are set by mlops-dash; use the alert's "
                             "fields (summary, description, runbook_url)")
        return v

    @model_validator(mode="after")
    def _window_where_needed(self) -> Alert:
        needs = self.signal.shape in ("ratio", "quantile", "growth")
        if self.signal.shape == "raw":
            return self  # a raw expression has its windows inside
        if isinstance(self.signal, RatioSignal) and self.signal.of == "gauges":
            needs = False
        if needs and self.window is None:
            raise ValueError(f"a {self.signal.shape} signal needs `window`")
        if not needs and self.window is not None:
            raise ValueError(f"a {self.signal.shape} signal takes no `window`")
        return self

    @field_validator("labels")
    @classmethod
    def _reserved_labels(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = {cv.LABEL_SEVERITY, cv.LABEL_TEAM, cv.LABEL_DASHBOARD, cv.DIGEST_GROUP_LABEL,
                    "alertname"}
        clash = sorted(reserved & set(v))
        if clash:
            raise ValueError(f"labels {clash} are set by mlops-dash; use the alert's fields")
        return v


class RecordingRule(Strict):
    """A recording rule, named ``level:metric:operations``."""

    record: str = Field(pattern=cv.RECORD_NAME_RE.pattern)
    expr: str = Field(min_length=1)
    interval: RuleInterval = "1m"
    description: str = ""
    labels: dict[LabelName, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- SLOs
