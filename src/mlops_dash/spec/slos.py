"""SLOs: SLIs, objectives and their burn-rate alert tiers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlops_dash import conventions as cv
from mlops_dash.spec.base import AlertText, Number, Strict, duration_seconds
from mlops_dash.spec.fields import AlertName, Comparison, LabelName, PanelId, Uid
from mlops_dash.spec.signals import Selector


class EventsSLI(Strict):
    """Share of bad events: ``rate(bad) / rate(total)``, or ``1 - rate(good) / rate(total)``."""

    type: Literal["events"]
    total: Selector = Field(description="counter of all events, e.g. istio_requests_total")
    bad: Selector | None = Field(default=None, description="counter of bad events")
    good: Selector | None = Field(default=None, description="counter of good events")

    @model_validator(mode="after")
    def _good_or_bad(self) -> EventsSLI:
        if (self.bad is None) == (self.good is None):
            raise ValueError("give exactly one of bad or good")
        return self


class GaugeRatioSLI(Strict):
    """A gauge holding the good ratio (0–1, e.g. accuracy); the error ratio is ``1 - gauge``."""

    type: Literal["gauge_ratio"]
    good_ratio: Selector
    aggregate: Literal["min", "avg", "max"] = Field(
        default="min", description="across series of one instance: min takes the worst version")


class GaugeThresholdSLI(Strict):
    """Bad while a gauge crosses a threshold (e.g. feature freshness > 1800 s): 0/1 per sample."""

    type: Literal["gauge_threshold"]
    gauge: Selector
    aggregate: Literal["min", "avg", "max"] = "max"
    comparison: Comparison = Field(
        description="the sample is bad while `gauge <comparison> threshold`")
    threshold: Number


SLI = Annotated[EventsSLI | GaugeRatioSLI | GaugeThresholdSLI, Field(discriminator="type")]
SLOTier = Literal["page", "ticket"]


MIN_ERROR_BUDGET = 1e-6


class SLO(Strict):
    """A service level objective with multi-window, multi-burn-rate alerts (Google SRE workbook)."""

    name: Uid = Field(description="the `slo` label of every generated series and alert")
    description: AlertText = Field(min_length=1)
    sli: SLI
    objective: Number = Field(default=0.99, gt=0, lt=1, description="e.g. 0.99")
    period: Literal["28d", "30d"] = "30d"
    by: list[LabelName] = Field(
        default_factory=list, description="labels identifying one instance, e.g. [model]")
    tiers: list[SLOTier] = Field(
        default_factory=lambda: ["page", "ticket"], min_length=1,
        description="which alerts to generate: page (critical) and/or ticket (warning)")
    alert: AlertName | None = Field(
        default=None, description="alert name stem (default: CamelCase name + BudgetBurn); "
                                  "the tier is appended: …Page, …Ticket")
    panel: PanelId | None = Field(default=None, description="the panel that shows the burn rate")
    labels: dict[LabelName, AlertText] = Field(default_factory=dict)

    @field_validator("objective")
    @classmethod
    def _budget_left(cls, v: float) -> float:
        if round(1 - v, 12) < MIN_ERROR_BUDGET:
            raise ValueError(
                f"objective {v!r} leaves an error budget of {round(1 - v, 12):g}; the highest "
                f"objective is 0.999999 (a budget of {MIN_ERROR_BUDGET:g}: 2.6 s of errors in "
                "30 days)")
        return v

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each tier at most once")
        return v

    @field_validator("labels")
    @classmethod
    def _reserved(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = {cv.LABEL_SEVERITY, cv.LABEL_TEAM, cv.LABEL_DASHBOARD, cv.LABEL_SLO,
                    cv.LABEL_TIER, "alertname"}
        clash = sorted(reserved & set(v))
        if clash:
            raise ValueError(f"labels {clash} are set by mlops-dash")
        return v

    @model_validator(mode="after")
    def _by_not_reserved(self) -> SLO:
        if cv.LABEL_SLO in self.by or cv.LABEL_TIER in self.by:
            raise ValueError(f"`by` cannot hold {cv.LABEL_SLO!r} or {cv.LABEL_TIER!r}")
        # The fastest page burns 2 % of the budget in 1h: it needs an error ratio below 1.
        fastest = 0.02 * duration_seconds(self.period) / 3600
        if (1 - self.objective) * fastest >= 1:
            raise ValueError(
                f"objective {self.objective:g} is too low for burn-rate alerts over {self.period}: "
                f"the page factor {fastest:g} × budget {1 - self.objective:g} exceeds an error "
                f"ratio of 1; use an objective above {1 - 1 / fastest:.4f}")
        return self
