"""Dashboard contents: variables, queries, annotations and panels."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlops_dash import conventions as cv
from mlops_dash.spec.base import Number, Strict
from mlops_dash.spec.fields import AlertName, LabelName, PanelId, Uid

# --------------------------------------------------------------------------- dashboards


class Variable(Strict):
    """A Grafana template variable (the datasource variables are added by the renderer)."""

    name: LabelName
    label: str = ""
    query: str = Field(description="label_values(metric, label) or another variable query")
    default: str = "$__all"
    multi: bool = True
    include_all: bool = True
    regex: str = Field(
        default="", description="Grafana variable regex: keeps matching values; with a capture "
        "group, the value becomes the group (maps one source's names onto another's)")
    hide: bool = Field(default=False, description="hidden (a derived variable, e.g. a mapping)")

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        if v:
            body = v[1:v.rindex("/")] if v.startswith("/") and v.count("/") >= 2 else v
            try:
                re.compile(body)
            except re.error as exc:
                raise ValueError(f"invalid regex {v!r}: {exc}") from None
        return v


class Query(Strict):
    """One panel target."""

    expr: str = Field(min_length=1, description="PromQL, or SQL for the warehouse datasource")
    legend: str = ""
    datasource: Literal["prometheus", "warehouse"] = "prometheus"
    format: Literal["time_series", "table", "heatmap"] = "time_series"
    instant: bool = False
    hide: bool = False
    unit: str | None = Field(
        default=None, description="Grafana unit of this query's series when it differs from the "
        "panel's: rendered as a field override with its own (right) axis")


class PanelThreshold(Strict):
    value: Number
    color: str = "red"


class Annotation(Strict):
    """A dashboard annotation: a PromQL event query, or Grafana's own annotations by tag."""

    name: str
    expr: str | None = None
    tags: list[str] = Field(default_factory=list)
    title: str = ""
    text: str = ""
    color: str = "blue"
    panels: list[PanelId] = Field(
        default_factory=list, description="show only on these panels (default: all panels)")

    @model_validator(mode="after")
    def _one_source(self) -> Annotation:
        if (self.expr is None) == (not self.tags):
            raise ValueError("give exactly one of expr (a PromQL event query) or tags")
        return self


PanelType = Literal[
    "timeseries", "stat", "gauge", "piechart", "heatmap", "bargauge", "table",
    "state-timeline", "alert-history",
]


class Panel(Strict):
    """One dashboard panel."""

    id: PanelId = Field(description="stable identifier, used in deep links and diffs")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    type: PanelType
    unit: str = Field(min_length=1, description="Grafana unit id: ms, s, percentunit, bytes…")
    queries: list[Query] = Field(default_factory=list)
    alerts: list[AlertName] = Field(
        default_factory=list, description="alert-history panels: the alerts shown"
    )
    width: int = Field(default=12, ge=1, le=24)
    height: int = Field(default=8, ge=2, le=40)
    min: Number | None = None
    max: Number | None = None
    decimals: int | None = Field(default=None, ge=0, le=10)
    stacking: bool = False
    bars: bool = False
    log_scale: bool = False
    thresholds: list[PanelThreshold] = Field(default_factory=list)
    links: list[Link] = Field(
        default_factory=list, description="panel links: to another dashboard (drill down) or "
        "a platform link")
    time_from: str | None = Field(
        default=None, pattern=r"^[0-9]+[smhdwMy]$",
        description="relative time of this panel (Grafana timeFrom), e.g. 24h")

    @model_validator(mode="after")
    def _queries_or_alerts(self) -> Panel:
        if self.type == "alert-history":
            if self.queries:
                raise ValueError("alert-history panels take `alerts`, not `queries`")
        elif not self.queries:
            raise ValueError(f"a {self.type} panel needs at least one query")
        for i, q in enumerate(self.queries):
            if q.unit is None or q.unit == self.unit:
                continue
            if not q.legend:
                raise ValueError(f"queries[{i}] has its own unit {q.unit!r}: give it a legend "
                                 "(the unit override matches its series by display name)")
            pattern = re.compile(cv.legend_pattern(q.legend))
            for j, other in enumerate(self.queries):
                if j != i and pattern.fullmatch(cv.legend_example(other.legend) or "Value"):
                    raise ValueError(
                        f"queries[{i}] has its own unit {q.unit!r} but its legend "
                        f"{q.legend!r} also matches the series of queries[{j}] "
                        f"({other.legend!r}); make the legends distinct")
        return self


class Link(Strict):
    """A link from this dashboard: to another spec's dashboard (by uid), a platform link, or
    (``all_dashboards: true``, dashboard links only) every other dashboard of the spec set."""

    dashboard: Uid | None = None
    platform_link: str | None = None
    all_dashboards: bool = Field(
        default=False, description="links to every other dashboard of the spec set, in the "
        "order of their files (those linked on their own elsewhere in the list are skipped)")

    @model_validator(mode="after")
    def _one(self) -> Link:
        given = [self.dashboard is not None, self.platform_link is not None, self.all_dashboards]
        if sum(given) != 1:
            raise ValueError("give exactly one of dashboard, platform_link or "
                             "all_dashboards: true")
        return self
