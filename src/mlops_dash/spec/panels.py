"""Dashboard contents: variables, queries, annotations and panels."""

from __future__ import annotations

import re
from typing import Any, Literal

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
    datasource: Literal["prometheus", "warehouse", "loki"] = Field(
        default="prometheus", description="loki: a LogQL query, on the platform's Loki "
        "datasource (logs panels)")
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
    "state-timeline", "alert-history", "row", "text", "alertlist", "annolist", "logs",
]
# Kinds that draw query results in a unit (the nine kinds before rows, text, alert lists and logs)
DATA_KINDS = frozenset({"timeseries", "stat", "gauge", "piechart", "heatmap", "bargauge",
                        "table", "state-timeline", "alert-history"})
_LAYOUT = {"id", "title", "description", "type", "width", "height", "links", "raw"}
# The fields each newer kind takes (the data kinds take every field, as before)
KIND_FIELDS: dict[str, frozenset[str]] = {
    "row": frozenset({"id", "title", "type", "collapsed", "raw"}),
    "text": frozenset(_LAYOUT | {"content"}),
    "alertlist": frozenset(_LAYOUT),
    "annolist": frozenset(_LAYOUT),
    "logs": frozenset(_LAYOUT | {"queries", "time_from"}),
}


class Panel(Strict):
    """One dashboard panel, or a row: a row groups the panels after it up to the next row."""

    id: PanelId = Field(description="stable identifier, used in deep links and diffs")
    title: str = Field(min_length=1)
    description: str = Field(default="", description="what the panel shows (every kind but row)")
    type: PanelType
    unit: str = Field(default="", description="Grafana unit id: ms, s, percentunit, bytes… "
                      "(the data kinds; not row, text, alertlist, logs)")
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
    collapsed: bool = Field(
        default=False, description="rows: collapsed (its panels are inside the row, shown when "
        "it is opened) or expanded (its panels follow it)")
    content: str = Field(default="", description="text panels: the Markdown shown")
    raw: dict[str, Any] | None = Field(
        default=None, description="escape hatch: Grafana panel JSON merged into the rendered "
        "panel (objects key by key, other values replace), e.g. {options: {...}, fieldConfig: "
        "{defaults: {...}}}; checked against the panel type's official schema")

    @model_validator(mode="after")
    def _kind_fields(self) -> Panel:
        allowed = KIND_FIELDS.get(self.type)
        if allowed is not None:
            extra = sorted(self.model_fields_set - allowed)
            if extra:
                takes = ", ".join(sorted(allowed - {"id", "type"}))
                raise ValueError(f"{', '.join(extra)} does not apply to a panel of type "
                                 f"{self.type} (it takes {takes})")
        a = "an" if self.type[0] in "aeiou" else "a"
        if self.type != "row" and not self.description:
            raise ValueError(f"{a} {self.type} panel needs a description")
        if self.type in DATA_KINDS and not self.unit:
            raise ValueError(f"{a} {self.type} panel needs a unit (a Grafana unit id)")
        if self.type == "text" and not self.content:
            raise ValueError("a text panel needs content (Markdown)")
        if self.type == "logs":
            if not self.queries:
                raise ValueError("a logs panel needs at least one query")
            for i, q in enumerate(self.queries):
                if q.datasource != "loki":
                    raise ValueError(f"queries[{i}]: a logs panel reads logs: give the query "
                                     "`datasource: loki` (a LogQL query)")
        return self

    @model_validator(mode="after")
    def _queries_or_alerts(self) -> Panel:
        if self.type not in DATA_KINDS:
            return self
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
    """A link from this dashboard: to another spec's dashboard (by uid) or a platform link."""

    dashboard: Uid | None = None
    platform_link: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Link:
        if (self.dashboard is None) == (self.platform_link is None):
            raise ValueError("give exactly one of dashboard or platform_link")
        return self
