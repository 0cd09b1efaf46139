"""The spec format: pydantic v2 models, strict (``extra="forbid"``), one per YAML kind."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops_dash import conventions as cv
from mlops_dash.spec.alert_routing import AlertRouting, TimeRange, TimeWindow  # noqa: F401
from mlops_dash.spec.base import (  # noqa: F401 - models re-exports the duration helpers
    DURATION_RE,
    AlertText,
    Duration,
    Matcher,
    Number,
    PositiveDuration,
    RuleInterval,
    Strict,
    duration_error,
    duration_seconds,
    matcher_error,
)
from mlops_dash.spec.cloudwatch import CloudWatchExporter, CloudWatchMetric, series_name
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
    cloudwatch: CloudWatchMetric | None = Field(
        default=None, description="the CloudWatch metric behind this series: the build writes "
        "the cloudwatch_exporter config that produces it")

    @model_validator(mode="after")
    def _cloudwatch_name(self) -> MetricDef:
        cw = self.cloudwatch
        if cw is not None:
            produced = series_name(cw.namespace, cw.metric, cw.statistic)
            if produced != self.name:
                raise ValueError(f"the exporter names {cw.namespace} {cw.metric} "
                                 f"{cw.statistic} {produced!r}, not {self.name!r}")
            missing = [lbl for lbl in cw.labels() if lbl not in self.labels]
            if missing:
                raise ValueError(f"the exporter labels it with {missing} (its dimensions in "
                                 "snake_case); list them in `labels`")
        return self


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
    "opsgenie": {"api_key_file", "team", "region"},
    "slack": {"channel", "api_url_file"},
    "email": {"to", "from_", "smarthost", "auth_username", "auth_password_file", "require_tls"},
    "webhook": {"url", "bearer_token_file"},
    "msteams": {"webhook_url_file"},
}
CHANNEL_REQUIRED = {
    "pagerduty": ("routing_key_file", "secret_ref"),
    "opsgenie": ("api_key_file", "secret_ref", "team"),
    "slack": ("channel", "api_url_file", "secret_ref"),
    "email": ("to", "from_", "smarthost"),
    "webhook": ("url",),
    "msteams": ("webhook_url_file", "secret_ref"),
}
PAGER_TYPES = ("pagerduty", "opsgenie")


class Channel(Strict):
    """A notification channel. Secrets are never values here: only file paths or Secret refs.

    ``*_file`` is what the plain Alertmanager config reads (the file is mounted from a Secret);
    ``secret_ref`` is the same credential as a Secret key for the AlertmanagerConfig manifest.
    """

    name: Uid
    type: Literal["pagerduty", "opsgenie", "slack", "email", "webhook", "msteams"]
    description: str = ""
    # pagerduty (Events API v2)
    routing_key_file: SecretFile | None = None
    service: str | None = Field(
        default=None, description="PagerDuty service name (default: the channel name)")
    # opsgenie (Alert API, via Alertmanager's opsgenie_configs)
    api_key_file: SecretFile | None = None
    team: str | None = Field(default=None, description="Opsgenie team that responds (and owns "
                             "the escalation rendered to generated/opsgenie/)")
    region: Literal["us", "eu"] | None = Field(
        default=None, description="Opsgenie instance: us (api.opsgenie.com, default) or eu")
    # webhook (generic JSON POST; for Microsoft Teams on Alertmanager 0.25 via a proxy)
    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$",
                            description="endpoint; no credential in it (use bearer_token_file)")
    bearer_token_file: SecretFile | None = None
    # msteams (Alertmanager >= 0.26 msteams_configs; operator msteamsv2Configs)
    webhook_url_file: SecretFile | None = None
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
        if self.type == "webhook" and (self.bearer_token_file is None) != (
                self.secret_ref is None):
            raise ValueError("a webhook channel's bearer_token_file (plain config) and "
                             "secret_ref (AlertmanagerConfig) go together")
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
    group_interval: PositiveDuration = "5m"
    repeat_interval: PositiveDuration = "4h"


class Digest(Strict):
    """The daily email of every alert: ``mlops-dash digest`` as a CronJob (``via: job``) reading
    the ``ALERTS`` history, or the old catch-all Alertmanager route (``via: alertmanager``)."""

    channel: Uid
    via: Literal["job", "alertmanager"] = Field(
        default="job",
        description="job: a CronJob sends one email a day from Prometheus' ALERTS history "
        "(also on a quiet day); alertmanager: a catch-all route with 24h intervals (an "
        "approximation: one email per group, at times set by the first alert)")
    schedule: str = Field(default="0 7 * * *", pattern=r"^\S+( \S+){4}$",
                          description="cron schedule of the digest job (job only)")
    time_zone: str = Field(default="Etc/UTC", pattern=r"^[A-Za-z][A-Za-z0-9_+/-]*$",
                           description="IANA time zone of the schedule (CronJob timeZone)")
    lookback: Duration = Field(default="24h", description="history the digest covers (job)")
    prometheus_url: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090", pattern=r"^https?://",
        description="Prometheus the digest job queries for ALERTS (job only)")
    group_by: list[LabelName] = Field(
        default_factory=list,
        description="empty: one digest for all alerts; else one per value of these labels")
    group_wait: Duration = "5m"
    group_interval: PositiveDuration = "24h"
    repeat_interval: PositiveDuration = "24h"


class InhibitRule(Strict):
    """While a source alert fires, silence target alerts with the same (non-empty) labels."""

    equal: list[LabelName] = Field(
        min_length=1,
        description="labels identifying the same thing (e.g. [model]); every one must be "
        "set on the source alert, so alerts lacking them never inhibit each other")
    source_severities: list[Severity] = Field(default_factory=lambda: ["critical"], min_length=1)
    target_severities: list[Severity] = Field(
        default_factory=lambda: ["warning", "info"], min_length=1)
    across_teams: bool = Field(
        default=False,
        description="also silence other teams' alerts; by default `team` joins `equal`, so a "
        "symptom paged to one team never hides a likely cause that another team owns")
    description: str = ""

    @property
    def effective_equal(self) -> list[str]:
        """The ``equal`` labels Alertmanager compares: ``team`` added unless across teams."""
        if self.across_teams or cv.LABEL_TEAM in self.equal:
            return list(self.equal)
        return [*self.equal, cv.LABEL_TEAM]

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
    paged_warning_channels: list[Uid] = Field(
        default_factory=list,
        description="where a warning alert with `routing: {page: true}` pages: a pager channel "
        "of its own (a PagerDuty service has one escalation policy; paged warnings follow only "
        "the escalation levels that list `warning`)")

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
    grafana_folder: str = Field(
        default="MLOps", min_length=1,
        description="Grafana folder of the dashboards; the sidecar joins it to its folder, so "
        "it is relative and has no `..`")

    @field_validator("grafana_folder")
    @classmethod
    def _relative_folder(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/"):
            raise ValueError(f"{v!r}: the Grafana Helm chart's sidecar joins the folder to its "
                             "own (an absolute path or `..` would leave it); use a name such as "
                             "MLOps")
        return v
    kubernetes_namespace: str = Field(default="monitoring", pattern=cv.K8S_NAMESPACE_RE.pattern)
    prometheus_rule_labels: dict[str, str] = Field(default_factory=dict)
    grafana_delivery: Literal["configmap", "grafana-operator"] = Field(
        default="configmap",
        description="how generated/kubernetes/ delivers dashboards: ConfigMaps for the Grafana "
        "Helm chart's sidecar, or grafana-operator GrafanaDashboard resources",
    )
    grafana_sidecar: GrafanaSidecar = Field(default_factory=GrafanaSidecar)
    grafana_operator: GrafanaOperator = Field(default_factory=GrafanaOperator)
    alertmanager_version: str = Field(
        default="0.25", pattern=r"^0\.[0-9]+$",
        description="Alertmanager the plain config is for (Debian ships 0.25); msteams "
        "channels need 0.26 or later (lint: alert/msteams-unsupported)")

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
    cloudwatch: CloudWatchExporter = Field(
        default_factory=CloudWatchExporter,
        description="settings of the generated cloudwatch_exporter config")
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
        """Severities routed to a pager channel (PagerDuty or Opsgenie: where escalation can
        happen); warning too when ``paged_warning_channels`` lets single warnings page."""
        paging = {c.name for c in self.channels if c.type in PAGER_TYPES}
        return [s for s in cv.SEVERITIES
                if ((r := self.routing.route_for(s)) and paging & set(r.channels))
                or (s == "warning" and paging & set(self.routing.paged_warning_channels))]

    def pager_channels(self) -> set[str]:
        """Names of the PagerDuty and Opsgenie channels."""
        return {c.name for c in self.channels if c.type in PAGER_TYPES}


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


Signal = Annotated[
    RatioSignal | QuantileSignal | GaugeSignal | DifferenceSignal | GrowthSignal
    | BaselineSignal | AgeSignal,
    Field(discriminator="shape"),
]


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
    comparison: Comparison
    threshold: Number
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
    tests: list[AlertTestCase] = Field(default_factory=list)
    routing: AlertRouting | None = Field(
        default=None, description="override of the severity routing for this alert: page a "
        "warning, or keep a critical alert off the pager (always or during a window)")

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
    interval: RuleInterval = "1m"
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


GaugeSignal.model_rebuild()

Panel.model_rebuild()
