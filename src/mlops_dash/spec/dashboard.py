"""``kind: Dashboard``: one Grafana dashboard with its panels, rules, alerts, SLOs and links."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops_dash.spec.alerts import Alert, RecordingRule
from mlops_dash.spec.base import PositiveDuration, Strict
from mlops_dash.spec.fields import Uid
from mlops_dash.spec.panels import Annotation, Link, Panel, Variable
from mlops_dash.spec.slos import SLO


class Dashboard(Strict):
    """``kind: Dashboard``: one Grafana dashboard with its panels, recording rules and alerts."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Dashboard"]
    uid: Uid
    title: str = Field(min_length=1)
    description: str = ""
    team: Uid = Field(description="owning team, the `team` label of every alert")
    tags: list[str] = Field(default_factory=list)
    refresh: PositiveDuration = "1m"
    time_from: str = "now-24h"
    variables: list[Variable] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    panels: list[Panel] = Field(min_length=1)
    recording_rules: list[RecordingRule] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    slos: list[SLO] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)

    def alert_team(self, alert: Alert) -> str:
        """The `team` label of an alert: its own team, else the dashboard's."""
        return alert.team or self.team
