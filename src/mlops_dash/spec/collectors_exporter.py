"""``collectors.exporter``: the long-running exporter's sources, intervals and name mappings.

Credentials are never values here: a source names the file that holds its credential (mounted
from a Secret, or a projected ServiceAccount token), or a Secret whose keys become environment
variables (``env_from_secrets``); spec/secrets.py refuses literals before this model sees them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlops_dash.spec.base import Duration, Strict, duration_seconds

COMPONENTS = ("ingestion", "training", "evaluation", "registration")
DEFAULT_DURATION_BUCKETS = (60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                            86400.0)
K8S_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
ABS_PATH = r"^/\S*$"
LISTEN_RE = r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$"


class SecretKeyRef(Strict):
    """A key of a Kubernetes Secret, mounted by the Deployment at the ``*_file`` path."""

    name: str = Field(pattern=K8S_NAME)
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")


class SourceBase(Strict):
    """What every source has: how often it is polled and how long one call may take."""

    interval: Duration = "1m"
    timeout: Duration = Field(default="10s", description="limit of each call to the source")

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> SourceBase:
        if duration_seconds(self.timeout) <= 0 or duration_seconds(self.interval) <= 0:
            raise ValueError("interval and timeout must be longer than 0s")
        return self

    @property
    def interval_s(self) -> float:
        return duration_seconds(self.interval)

    @property
    def timeout_s(self) -> float:
        return duration_seconds(self.timeout)


class ServiceAccountToken(Strict):
    """A projected ServiceAccount token (multi-user Kubeflow: audience pipelines.kubeflow.org)."""

    audience: str = "pipelines.kubeflow.org"
    path: str = Field(default="/var/run/secrets/kubeflow/pipelines/token", pattern=ABS_PATH)
    expiration_seconds: int = Field(default=3600, ge=600)


class KfpSource(SourceBase):
    """Kubeflow Pipelines v2beta1 API → mlops_pipeline_* series."""

    url: str = Field(pattern=r"^https?://", description="ml-pipeline API server base URL")
    namespaces: list[str] = Field(
        default_factory=list,
        description="multi-user installs: the profile namespaces whose runs are listed "
        "(one listing per namespace); empty: a single-user install, all runs")
    service_account_token: ServiceAccountToken | None = Field(
        default=None, description="send a projected ServiceAccount token (re-read every poll)")
    token_file: str | None = Field(
        default=None, pattern=ABS_PATH,
        description="a bearer token file mounted from a Secret (instead of a projected token)")
    token_secret_ref: SecretKeyRef | None = None
    pipelines: list[str] = Field(
        default_factory=list, description="pipeline names to export (empty: every pipeline)")
    components: dict[Literal["ingestion", "training", "evaluation", "registration"],
                     list[str]] = Field(
        default_factory=dict,
        description="KFP task names (display names, fnmatch globs) of each component kind; "
        "a failed task whose name matches none is not counted")
    duration_buckets: list[float] = Field(
        default_factory=lambda: list(DEFAULT_DURATION_BUCKETS), min_length=1,
        description="upper bounds (seconds) of mlops_pipeline_run_duration_seconds")
    page_size: int = Field(default=200, ge=1, le=200,
                           description="runs per ListRuns page (the API server serves at most "
                           "200: kubeflow/pipelines backend/src/apiserver/list/list.go)")
    finish_overlap: Duration = Field(
        default="10m",
        description="runs whose finished_at is up to this much before the high-water mark are "
        "listed again (a run recorded late, clock skew); counted run ids keep them from "
        "counting twice")

    @field_validator("duration_buckets")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= 0 for b in v) or any(a >= b for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("buckets must be positive and strictly increasing")
        return v

    @model_validator(mode="after")
    def _one_token(self) -> KfpSource:
        if self.service_account_token and self.token_file:
            raise ValueError("give service_account_token or token_file, not both")
        if self.token_secret_ref and not self.token_file:
            raise ValueError("token_secret_ref needs token_file (where it is mounted)")
        return self

    @property
    def token_path(self) -> str | None:
        if self.service_account_token:
            return self.service_account_token.path
        return self.token_file

    @property
    def overlap_s(self) -> float:
        return duration_seconds(self.finish_overlap)


class ModelSelection(Strict):
    """A registered model and which of its versions are exported."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(
        default_factory=list, description="versions by alias, e.g. champion, challenger")
    latest: int = Field(default=0, ge=0, le=50,
                        description="also the N highest version numbers")

    @model_validator(mode="after")
    def _some_versions(self) -> ModelSelection:
        if not self.aliases and not self.latest:
            raise ValueError("select versions by aliases, latest, or both")
        return self


class MlflowMetricKeys(Strict):
    """MLflow metric keys the evaluation job logs, per exported gauge."""

    mae: str = "mae"
    rmse: str = "rmse"
    accuracy: str = "accuracy"


class MlflowSource(SourceBase):
    """MLflow tracking server and model registry → mlops_model_* series."""

    interval: Duration = "5m"
    url: str = Field(pattern=r"^https?://", description="MLflow tracking server URL")
    models: list[ModelSelection] = Field(min_length=1)
    metric_keys: MlflowMetricKeys = Field(default_factory=MlflowMetricKeys)
    token_file: str | None = Field(default=None, pattern=ABS_PATH,
                                   description="bearer token file (MLFLOW_TRACKING_TOKEN)")
    token_secret_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _ref_needs_file(self) -> MlflowSource:
        if self.token_secret_ref and not self.token_file:
            raise ValueError("token_secret_ref needs token_file (where it is mounted)")
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model {dup[0]!r} is listed twice")
        return self


STORAGE_URL_RE = re.compile(r"^(s3|gs)://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(/.*)?$")


class StoragePrefix(Strict):
    """A bucket prefix whose objects' sizes are summed."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$",
                      description="the dataset (or prefix) label value")
    url: str = Field(pattern=STORAGE_URL_RE.pattern, description="s3://bucket/prefix/ or gs://…")
    kind: Literal["dataset", "artifacts"] = "dataset"

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def bucket(self) -> str:
        return STORAGE_URL_RE.match(self.url).group(2)  # type: ignore[union-attr]

    @property
    def prefix(self) -> str:
        return (STORAGE_URL_RE.match(self.url).group(3) or "/")[1:]  # type: ignore[union-attr]


class StorageSource(SourceBase):
    """Object storage prefixes → mlops_dataset_size_bytes / mlops_artifact_prefix_size_bytes."""

    interval: Duration = "15m"
    timeout: Duration = "60s"
    prefixes: list[StoragePrefix] = Field(min_length=1)
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://",
                                        description="S3-compatible endpoint (MinIO…)")
    s3_region: str | None = None
    gcs_credentials_file: str | None = Field(
        default=None, pattern=ABS_PATH, description="service account key file (else ADC)")
    gcs_credentials_secret_ref: SecretKeyRef | None = None
    gcs_endpoint_url: str | None = Field(default=None, pattern=r"^https?://")

    @model_validator(mode="after")
    def _unique(self) -> StorageSource:
        seen: set[tuple[str, str]] = set()
        for p in self.prefixes:
            if (p.kind, p.name) in seen:
                raise ValueError(f"{p.kind} {p.name!r} is listed twice")
            seen.add((p.kind, p.name))
        if self.gcs_credentials_secret_ref and not self.gcs_credentials_file:
            raise ValueError("gcs_credentials_secret_ref needs gcs_credentials_file")
        return self


class CostExplorerSource(SourceBase):
    """AWS Cost Explorer → mlops_cloud_cost_dollars for the last complete day."""

    interval: Duration = Field(
        default="1h", description="each get_cost_and_usage request is billed ($0.01): hourly "
        "keeps ExporterSourceStale (> 3h since the last success) meaningful")
    timeout: Duration = "30s"
    cost_tag: str = Field(min_length=1, max_length=128,
                          description="the cost allocation tag key grouped by (e.g. team)")
    metric: Literal["UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost",
                    "NetAmortizedCost"] = "UnblendedCost"
    region: str = "us-east-1"
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")

    @field_validator("interval")
    @classmethod
    def _not_too_often(cls, v: str) -> str:
        if duration_seconds(v) < 3600:
            raise ValueError("poll Cost Explorer at most once an hour (each request costs "
                             "money and the data changes daily)")
        return v


class TrainingCostSource(SourceBase):
    """mlops_training_run_cost_dollars: OpenCost's allocation × price series, summed over a
    finished run's pods (joined on kube-state-metrics' kube_pod_labels), from Prometheus."""

    interval: Duration = "1m"
    timeout: Duration = "30s"
    prometheus_url: str = Field(pattern=r"^https?://",
                                description="the Prometheus that scrapes OpenCost and "
                                "kube-state-metrics")
    run_id_label: str = Field(
        default="label_pipeline_runid", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="kube_pod_labels label holding the KFP run id (pod label pipeline/runid, "
        "exposed by kube-state-metrics --metric-labels-allowlist=pods=[pipeline/runid])")
    pipelines: list[str] = Field(
        default_factory=list, description="pipelines whose runs are costed (empty: all)")
    keep_runs: int = Field(default=20, ge=1, le=1000,
                           description="latest costed runs kept per pipeline (bounded series)")
    step: Duration = Field(default="1m", description="resolution of the cost integral")
    token_file: str | None = Field(default=None, pattern=ABS_PATH)
    token_secret_ref: SecretKeyRef | None = None


class ExporterSpec(Strict):
    """The exporter: its sources, how often each is polled, where it keeps its state."""

    listen: str = Field(default=":9210", pattern=LISTEN_RE,
                        description="host:port of /metrics (--listen overrides)")
    state_file: str = Field(
        default="/var/lib/mlops-exporter/state.json", pattern=ABS_PATH,
        description="the KFP high-water mark and counted run ids, kept across restarts "
        "(a PersistentVolumeClaim in the cluster)")
    state_volume_claim: str | None = Field(
        default=None, pattern=K8S_NAME,
        description="PersistentVolumeClaim mounted at the state file's folder (else emptyDir: "
        "a rescheduled pod recounts nothing but may miss runs finished while it was away)")
    backoff_max: Duration = Field(default="10m",
                                  description="longest wait after repeated failures")
    env_from_secrets: list[str] = Field(
        default_factory=list,
        description="Secrets whose keys become environment variables (e.g. AWS_ACCESS_KEY_ID "
        "for boto3 when IRSA is not used)")
    service_account: str = Field(default="mlops-exporter", pattern=K8S_NAME)
    service_account_annotations: dict[str, str] = Field(
        default_factory=dict, description="e.g. eks.amazonaws.com/role-arn for IRSA")
    kfp: KfpSource | None = None
    mlflow: MlflowSource | None = None
    storage: StorageSource | None = None
    aws_cost_explorer: CostExplorerSource | None = None
    training_cost: TrainingCostSource | None = None

    @model_validator(mode="after")
    def _some_source(self) -> ExporterSpec:
        if self.training_cost and not self.kfp:
            raise ValueError("training_cost needs kfp (the runs it costs)")
        if not (self.kfp or self.mlflow or self.storage or self.aws_cost_explorer):
            raise ValueError("the exporter needs at least one source "
                             "(kfp, mlflow, storage, aws_cost_explorer)")
        return self

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def backoff_max_s(self) -> float:
        return duration_seconds(self.backoff_max)
