"""The platform spec (``kind: Platform``): datasources, namespaces, channels and routing."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlops_dash import conventions as cv
from mlops_dash.spec.base import Duration, PositiveDuration, Strict
from mlops_dash.spec.cloudwatch import CloudWatchExporter
from mlops_dash.spec.collectors import Collectors
from mlops_dash.spec.fields import LabelName, Severity, Uid


class Datasource(Strict):
    """A Grafana datasource the dashboards select through a template variable."""

    type: str = Field(description="Grafana plugin id, e.g. prometheus")
    default: str = Field(description="datasource name preselected in the variable")
    regex: str = ""


class Datasources(Strict):
    prometheus: Datasource
    warehouse: Datasource
    loki: Datasource | None = Field(
        default=None, description="the Loki datasource logs panels query (type loki)")


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
