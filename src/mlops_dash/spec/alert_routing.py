"""An alert's ``routing`` override: page a warning alert, or keep a critical one off the pager.

Routing is by severity; the seed's PipelineFailureRate is a warning whose action says "Page
on-call", so one alert may page beyond its severity (``page: true``), and a critical alert may
be kept off the pager (``page: false``), always or only during a window of Alertmanager time
intervals (its other receivers still get it).
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from mlops_dash.spec.base import Strict

_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
_RANGE = r"^-?[0-9]+(:-?[0-9]+)?$"
_NAMED = r"^[a-z]+(:[a-z]+)?$|^[0-9]+(:[0-9]+)?$"


class TimeRange(Strict):
    """A time of day range, as Alertmanager's ``times`` (``start_time`` inclusive)."""

    start_time: str = Field(pattern=_TIME, description="HH:MM")
    end_time: str = Field(pattern=_TIME, description="HH:MM (exclusive)")


class TimeWindow(Strict):
    """When the pager stays quiet: Alertmanager ``time_intervals`` fields (all must match), in
    UTC (the operator's AlertmanagerConfig has no location field)."""

    weekdays: list[str] = Field(default_factory=list, description="e.g. saturday:sunday")
    times: list[TimeRange] = Field(default_factory=list)
    days_of_month: list[str] = Field(default_factory=list, description="e.g. 1:7, -1")
    months: list[str] = Field(default_factory=list, description="e.g. december, 1:3")
    years: list[str] = Field(default_factory=list, description="e.g. 2026, 2026:2027")

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if not (self.weekdays or self.times or self.days_of_month or self.months or self.years):
            raise ValueError("a window needs at least one of weekdays, times, days_of_month, "
                             "months, years (an empty window would always match)")
        for field, rx in (("weekdays", _NAMED), ("months", _NAMED),
                          ("days_of_month", _RANGE), ("years", _RANGE)):
            for v in getattr(self, field):
                if not re.match(rx, v):
                    raise ValueError(f"{field}: {v!r} is not an Alertmanager {field} value "
                                     "(a name or number, or a range a:b)")
        return self


class AlertRouting(Strict):
    """Per-alert override of the severity routing; shown in `routes`, runbooks and `diff`."""

    page: bool = Field(description="true: a warning alert pages (through the platform's "
                       "paged_warning_channels); false: a critical alert stays off the pager")
    reason: str = Field(min_length=1, description="why this alert is routed differently "
                        "(shown in the routes table and the runbook)")
    window: TimeWindow | None = Field(
        default=None, description="page: false only: off the pager only during this window")

    @model_validator(mode="after")
    def _window_only_when_off(self) -> AlertRouting:
        if self.window is not None and self.page:
            raise ValueError("`window` keeps an alert off the pager during it; it needs "
                             "page: false")
        return self
