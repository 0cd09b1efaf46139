"""The spec format: pydantic v2 models, strict (``extra="forbid"``), one per YAML kind."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlops_dash import conventions as cv
from mlops_dash.spec.base import DURATION_RE, Duration, Strict, duration_seconds
from mlops_dash.spec.collectors import Collectors

Uid = Annotated[
    str,
    Field(
        pattern=cv.UID_RE.pattern,
        description="lowercase letters, digits and '-', at most 40 characters",
    ),
]
PanelId = Annotated[str, Field(pattern=cv.PANEL_ID_RE.pattern)]
AlertName = Annotated[
    str, Field(pattern=cv.ALERT_NAME_RE.pattern, description="CamelCase, at most 40 characters")
]
LabelName = Annotated[str, Field(pattern=cv.LABEL_NAME_RE.pattern)]
MetricName = Annotated[str, Field(pattern=cv.METRIC_NAME_RE.pattern)]
Severity = Literal["critical", "warning", "info"]
Comparison = Literal[">", ">=", "<", "<="]

class Header(Strict):
    """What every spec file starts with."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Dashboard", "Platform", "MetricCatalogue"]


# --------------------------------------------------------------------------- metric catalogue


class MetricDef(Strict):
    """One series of the metric contract."""

    name: MetricName
    type: Literal["counter", "gauge", "histogram"]
    labels: list[LabelName] = Field(default_factory=list)
    unit: Literal[
        "seconds", "milliseconds", "bytes", "mebibytes", "ratio", "percent", "count",
        "dollars", "dollars_per_hour", "dollars_per_gib_hour", "cores", "replicas",
        "timestamp_seconds", "none",
    ] = "none"
    source: str
    help: str = ""


class MetricCatalogue(Strict):
    """``kind: MetricCatalogue``: names, types, labels and units of every queried series."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["MetricCatalogue"]
    metrics: list[MetricDef] = Field(min_length=1)


# --------------------------------------------------------------------------- platform


class Datasource(Strict):
    """A Grafana datasource the dashboards select through a template variable."""

    type: str = Field(description="Grafana plugin id, e.g. prometheus")
    default: str = Field(description="datasource name preselected in the variable")
    regex: str = ""


class Datasources(Strict):
    prometheus: Datasource
    warehouse: Datasource


class ExternalLink(Strict):
    title: str
    url: str = Field(pattern=r"^https?://")
    tooltip: str = ""
    icon: Literal["external link", "dashboard", "doc", "info", "bolt", "cloud"] = "external link"


NamespaceName = Annotated[str, Field(pattern=cv.K8S_NAMESPACE_RE.pattern)]
NamespaceValue = NamespaceName | Annotated[list[NamespaceName], Field(min_length=1)]
DEFAULT_NAMESPACES: dict[str, str] = {
    "pipelines": "kubeflow", "training": "ml-training", "serving": "ml-serving"}


SecretFile = Annotated[
    str,
    Field(
        pattern=r"^/[^\s]*$",
        description="absolute path of a file holding the credential (mounted from a Secret); "
        "never the credential itself",
    ),
]


class SecretRef(Strict):
    """A key of a Kubernetes Secret (for the AlertmanagerConfig manifest)."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")


CHANNEL_FIELDS = {
    "pagerduty": {"routing_key_file", "service"},
    "slack": {"channel", "api_url_file"},
    "email": {"to", "from_", "smarthost", "auth_username", "auth_password_file", "require_tls"},
}
CHANNEL_REQUIRED = {
    "pagerduty": ("routing_key_file", "secret_ref"),
    "slack": ("channel", "api_url_file", "secret_ref"),
    "email": ("to", "from_", "smarthost"),
}


class Channel(Strict):
    """A notification channel. Secrets are never values here: only file paths or Secret refs.

    ``*_file`` is what the plain Alertmanager config reads (the file is mounted from a Secret);
    ``secret_ref`` is the same credential as a Secret key for the AlertmanagerConfig manifest.
    """

    name: Uid
    type: Literal["pagerduty", "slack", "email"]
    description: str = ""
    # pagerduty (Events API v2)
    routing_key_file: SecretFile | None = None
    service: str | None = Field(
        default=None, description="PagerDuty service name (default: the channel name)")
    # slack
    channel: str | None = Field(default=None, pattern=r"^[#@]?[a-z0-9][a-z0-9._-]*$")
    api_url_file: SecretFile | None = None
    # email
    to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    from_: str | None = Field(default=None, alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    smarthost: str | None = Field(default=None, pattern=r"^[^\s:]+:[0-9]+$")
    auth_username: str | None = None
    auth_password_file: SecretFile | None = None
    require_tls: bool = True
    # kubernetes Secret holding the credential, for the AlertmanagerConfig manifest
    secret_ref: SecretRef | None = None

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> Channel:
        own = CHANNEL_FIELDS[self.type]
        for other, fields in CHANNEL_FIELDS.items():
            for f in sorted(fields - own):
                if getattr(self, f) not in (None, True):
                    alias = "from" if f == "from_" else f
                    raise ValueError(f"{alias!r} belongs to {other} channels, not {self.type}")
        missing = [("from" if f == "from_" else f) for f in CHANNEL_REQUIRED[self.type]
                   if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} channel needs {', '.join(missing)}")
        if self.type == "email" and self.auth_username is not None:
            if self.auth_password_file is None or self.secret_ref is None:
                raise ValueError("an email channel with auth_username needs auth_password_file "
                                 "(plain config) and secret_ref (AlertmanagerConfig)")
        if self.type == "email" and self.auth_username is None and (
                self.auth_password_file is not None or self.secret_ref is not None):
            raise ValueError("auth_password_file / secret_ref need auth_username")
        return self

    @property
    def pagerduty_service(self) -> str:
        return self.service or self.name


class SeverityRoute(Strict):
    """Where alerts of one severity go, and how often."""

    severity: Severity
    channels: list[Uid] = Field(
        default_factory=list, description="empty: no notification (dashboards only)")
    description: str = ""
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"


class Digest(Strict):
    """A periodic email of everything, approximated with a catch-all ``continue`` route."""

    channel: Uid
    group_by: list[LabelName] = Field(
        default_factory=list,
        description="empty: one digest for all alerts; else one per value of these labels")
    group_wait: Duration = "5m"
    group_interval: Duration = "24h"
    repeat_interval: Duration = "24h"


class InhibitRule(Strict):
    """While a source alert fires, silence target alerts with the same (non-empty) labels."""

    equal: list[LabelName] = Field(
        min_length=1,
        description="labels identifying the same thing (e.g. [model]); every one must be "
        "set on the source alert, so alerts lacking them never inhibit each other")
    source_severities: list[Severity] = Field(default_factory=lambda: ["critical"], min_length=1)
    target_severities: list[Severity] = Field(
        default_factory=lambda: ["warning", "info"], min_length=1)
    description: str = ""

    @model_validator(mode="after")
    def _disjoint(self) -> InhibitRule:
        both = sorted(set(self.source_severities) & set(self.target_severities))
        if both:
            raise ValueError(f"severities {both} are both source and target: an alert would "
                             "silence itself")
        return self


class EscalationLevel(Strict):
    """One rule of the PagerDuty escalation policy."""

    name: str
    target: str = Field(description="PagerDuty schedule name, or a user's email")
    target_type: Literal["schedule", "user"] = "schedule"
    delay_minutes: int = Field(ge=0, description="minutes after the incident opened")
    severities: list[Severity] = Field(default_factory=lambda: ["critical"])

    @model_validator(mode="after")
    def _user_is_email(self) -> EscalationLevel:
        if self.target_type == "user" and "@" not in self.target:
            raise ValueError("a user target is the user's email address")
        return self


class Routing(Strict):
    group_by: list[LabelName] = Field(default_factory=lambda: ["alertname"])
    routes: list[SeverityRoute] = Field(min_length=1)
    fallback_severity: Severity = Field(
        default="warning",
        description="alerts whose severity label is missing or not routed go where this "
        "severity goes, so a typo never drops an alert")
    digest: Digest | None = None
    inhibit: list[InhibitRule] = Field(default_factory=list)

    def route_for(self, severity: str) -> SeverityRoute | None:
        """The route of a severity; unrouted severities take the fallback's route."""
        for r in self.routes:
            if r.severity == severity:
                return r
        if severity != self.fallback_severity:
            return self.route_for(self.fallback_severity)
        return None


class GrafanaSidecar(Strict):
    """The Grafana Helm chart's dashboard sidecar: which ConfigMaps it loads, where it files them."""

    labels: dict[str, str] = Field(
        default_factory=lambda: {"grafana_dashboard": "1"},
        description="labels the sidecar selects (chart: sidecar.dashboards.label/labelValue)",
    )
    folder_annotation: str = Field(
        default="grafana_folder",
        description="annotation naming the folder (chart: sidecar.dashboards.folderAnnotation)",
    )


class GrafanaOperator(Strict):
    """grafana-operator: which Grafana instances import the ``GrafanaDashboard`` resources."""

    instance_selector: dict[str, str] = Field(
        default_factory=lambda: {"dashboards": "grafana"},
        description="matchLabels of spec.instanceSelector",
    )
    allow_cross_namespace_import: bool = False
    resync_period: str | None = Field(
        default=None, pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
        description="how often the operator re-applies a dashboard (operator default 10m)",
    )


class Platform(Strict):
    """``kind: Platform``: datasources, namespaces, links, routing, escalation, channels."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Platform"]
    name: Uid
    grafana_url: str = Field(pattern=r"^https?://")
    runbook_base_url: str = Field(pattern=r"^https?://")
    grafana_folder: str = "MLOps"
    kubernetes_namespace: str = Field(default="monitoring", pattern=cv.K8S_NAMESPACE_RE.pattern)
    prometheus_rule_labels: dict[str, str] = Field(default_factory=dict)
    grafana_delivery: Literal["configmap", "grafana-operator"] = Field(
        default="configmap",
        description="how generated/kubernetes/ delivers dashboards: ConfigMaps for the Grafana "
        "Helm chart's sidecar, or grafana-operator GrafanaDashboard resources",
    )
    grafana_sidecar: GrafanaSidecar = Field(default_factory=GrafanaSidecar)
    grafana_operator: GrafanaOperator = Field(default_factory=GrafanaOperator)

    @field_validator("prometheus_rule_labels")
    @classmethod
    def _kubernetes_labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if len(key) > 253 or not cv.K8S_LABEL_KEY_RE.match(key):
                raise ValueError(f"{key!r} is not a valid Kubernetes label key "
                                 "([prefix/]name, name of letters, digits, '-', '_', '.')")
            if not cv.K8S_LABEL_VALUE_RE.match(value):
                raise ValueError(f"label {key}: {value!r} is not a valid Kubernetes label value "
                                 "(at most 63 letters, digits, '-', '_', '.')")
        return v
    datasources: Datasources
    namespaces: dict[LabelName, NamespaceValue] = Field(
        default_factory=lambda: dict(DEFAULT_NAMESPACES),
        description="the platform's namespaces, referenced in any spec string as "
        "${namespaces.<name>} (pipelines, training and serving have defaults; add others). "
        "A list (e.g. Kubeflow profile namespaces) is a regex alternation, =~ in matchers",
    )
    links: list[ExternalLink] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    routing: Routing
    escalation: list[EscalationLevel] = Field(default_factory=list)
    collectors: Collectors | None = Field(
        default=None,
        description="the exporter and the jobs that produce the mlops_* series (METRICS.md)",
    )

    @field_validator("namespaces")
    @classmethod
    def _default_namespaces(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        return {**DEFAULT_NAMESPACES, **v}

    def namespace_list(self, name: str) -> list[str]:
        """The namespaces of one entry of ``namespaces``, as a list."""
        value = self.namespaces[name]
        return [value] if isinstance(value, str) else list(value)

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.name == name)

    def paged_severities(self) -> list[str]:
        """Severities routed to a PagerDuty channel (where escalation can happen)."""
        paging = {c.name for c in self.channels if c.type == "pagerduty"}
        return [s for s in cv.SEVERITIES
                if (r := self.routing.route_for(s)) and paging & set(r.channels)]


# --------------------------------------------------------------------------- dashboards


class Variable(Strict):
    """A Grafana template variable (the datasource variables are added by the renderer)."""

    name: LabelName
    label: str = ""
    query: str = Field(description="label_values(metric, label) or another variable query")
    default: str = "$__all"
    multi: bool = True
    include_all: bool = True


class Query(Strict):
    """One panel target."""

    expr: str = Field(min_length=1, description="PromQL, or SQL for the warehouse datasource")
    legend: str = ""
    datasource: Literal["prometheus", "warehouse"] = "prometheus"
    format: Literal["time_series", "table", "heatmap"] = "time_series"
    instant: bool = False
    hide: bool = False


class PanelThreshold(Strict):
    value: float
    color: str = "red"


class Annotation(Strict):
    """A dashboard annotation: a PromQL event query, or Grafana's own annotations by tag."""

    name: str
    expr: str | None = None
    tags: list[str] = Field(default_factory=list)
    title: str = ""
    text: str = ""
    color: str = "blue"

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
    min: float | None = None
    max: float | None = None
    decimals: int | None = Field(default=None, ge=0, le=10)
    stacking: bool = False
    bars: bool = False
    log_scale: bool = False
    thresholds: list[PanelThreshold] = Field(default_factory=list)

    @model_validator(mode="after")
    def _queries_or_alerts(self) -> Panel:
        if self.type == "alert-history":
            if self.queries:
                raise ValueError("alert-history panels take `alerts`, not `queries`")
        elif not self.queries:
            raise ValueError(f"a {self.type} panel needs at least one query")
        return self


class Selector(Strict):
    """A metric and its label matchers, e.g. ``{metric: x, matchers: {status: failed}}``."""

    metric: MetricName
    matchers: dict[LabelName, str] = Field(
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
    quantile: float = Field(gt=0, lt=1)
    by: list[LabelName] = Field(min_length=1)


class GaugeSignal(Strict):
    """An aggregated gauge (several selectors are a union); optionally scaled per label value."""

    shape: Literal["gauge"]
    series: list[Selector] = Field(min_length=1)
    aggregate: Literal["max", "min", "avg", "sum"] = "max"
    by: list[LabelName] = Field(min_length=1)
    scale_by: ScaleBy | None = None


class ScaleBy(Strict):
    """Divide the gauge by a per-label-value reference (e.g. drift threshold per method)."""

    label: LabelName
    values: dict[str, float] = Field(min_length=1)


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
    baseline_window: Duration = "7d"
    baseline_step: Duration = Field(default="1h", description="subquery resolution")


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


Signal = Annotated[
    RatioSignal | QuantileSignal | GaugeSignal | DifferenceSignal | GrowthSignal
    | BaselineSignal | AgeSignal,
    Field(discriminator="shape"),
]


class SeriesSample(Strict):
    series: str
    values: str


class AlertTestCase(Strict):
    """An extra promtool case written by hand in the spec."""

    name: str
    interval: Duration = "1m"
    input_series: list[SeriesSample] = Field(min_length=1)
    eval_time: Duration
    firing: bool


class Alert(Strict):
    """One alerting rule. Threshold, comparison, window and ``for`` are fields, not text."""

    name: AlertName
    severity: Severity
    panel: PanelId = Field(description="the panel that shows this alert's signal")
    summary: str = Field(min_length=1)
    description: str = Field(min_length=1)
    signal: Signal
    comparison: Comparison
    threshold: float
    unit: str = Field(min_length=1, description="Grafana unit id of the signal, e.g. percentunit")
    window: Duration | None = Field(
        default=None, description="range the signal is computed over (ratio, quantile, growth)"
    )
    for_: Duration = Field(alias="for")
    interval: Duration = Field(default="1m", description="rule evaluation interval")
    action: str = Field(min_length=1, description="what to do, from the design's Action column")
    runbook_steps: list[str] = Field(default_factory=list)
    first_queries: list[str] = Field(default_factory=list)
    labels: dict[LabelName, str] = Field(default_factory=dict)
    tests: list[AlertTestCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window_where_needed(self) -> Alert:
        needs = self.signal.shape in ("ratio", "quantile", "growth")
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
    interval: Duration = "1m"
    description: str = ""
    labels: dict[LabelName, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- SLOs


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
    threshold: float


SLI = Annotated[EventsSLI | GaugeRatioSLI | GaugeThresholdSLI, Field(discriminator="type")]
SLOTier = Literal["page", "ticket"]


class SLO(Strict):
    """A service level objective with multi-window, multi-burn-rate alerts (Google SRE workbook)."""

    name: Uid = Field(description="the `slo` label of every generated series and alert")
    description: str = Field(min_length=1)
    sli: SLI
    objective: float = Field(default=0.99, gt=0, lt=1, description="e.g. 0.99")
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
    labels: dict[LabelName, str] = Field(default_factory=dict)

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


class Link(Strict):
    """A link from this dashboard: to another spec's dashboard (by uid) or a platform link."""

    dashboard: Uid | None = None
    platform_link: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Link:
        if (self.dashboard is None) == (self.platform_link is None):
            raise ValueError("give exactly one of dashboard or platform_link")
        return self


class Dashboard(Strict):
    """``kind: Dashboard``: one Grafana dashboard with its panels, recording rules and alerts."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Dashboard"]
    uid: Uid
    title: str = Field(min_length=1)
    description: str = ""
    team: Uid = Field(description="owning team, the `team` label of every alert")
    tags: list[str] = Field(default_factory=list)
    refresh: Duration = "1m"
    time_from: str = "now-24h"
    variables: list[Variable] = Field(default_factory=list)
    annotations: list[Annotation] = Field(default_factory=list)
    panels: list[Panel] = Field(min_length=1)
    recording_rules: list[RecordingRule] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    slos: list[SLO] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


GaugeSignal.model_rebuild()
