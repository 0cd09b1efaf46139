"""``collectors.jobs``: the batch jobs that push to the Pushgateway or log to MLflow.

The drift checker (``mlops-dash drift``), the evaluation job (``mlops-dash evaluate``) and the
actuals job (``mlops-dash actuals``) each run as a Kubernetes CronJob; the Great Expectations
action and the predictor instrumentation run inside the user's own code and read nothing here.
Credentials are never values: a warehouse URL (which holds the password) is a file mounted from
a Secret (``url_file`` + ``secret_ref``) or an environment variable.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops_dash.spec.base import Duration, Strict

NAME_RE = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
COLUMN_RE = r"^[^\s].{0,127}$"
# five fields of a Kubernetes CronJob schedule (or @hourly/@daily/…)
CRON_RE = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$"


class SecretKeyRef(Strict):
    """A key of a Kubernetes Secret, mounted into the job at the matching ``*_file`` path."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")


class Warehouse(Strict):
    """The SQL warehouse (a SQLAlchemy URL read from a file or an environment variable)."""

    url_file: str | None = Field(
        default=None, pattern=r"^/", description="file holding the SQLAlchemy URL (mounted from "
        "secret_ref), e.g. postgresql+psycopg://user:pass@host/db")
    url_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$",
                                description="environment variable holding the URL instead")
    secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret key mounted at url_file in the CronJobs")
    connect_timeout: Duration = "10s"
    query_timeout: Duration = Field(default="5m", description="statement timeout of one query")

    @model_validator(mode="after")
    def _one_source(self) -> Warehouse:
        if (self.url_file is None) == (self.url_env is None):
            raise ValueError("give exactly one of url_file (with secret_ref) or url_env")
        if self.secret_ref is not None and self.url_file is None:
            raise ValueError("secret_ref is mounted at url_file: give url_file too")
        return self


class DataInput(Strict):
    """A table: a Parquet or CSV file (local path or s3://bucket/key) or a warehouse query."""

    path: str | None = Field(default=None, description="Parquet (.parquet) or CSV (.csv) file, "
                             "local or s3://bucket/key (S3 credentials: the usual AWS_* "
                             "environment or the pod's IAM role)")
    sql: str | None = Field(default=None, description="query against collectors.jobs.warehouse")

    @model_validator(mode="after")
    def _one_source(self) -> DataInput:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of path or sql")
        if self.path is not None and not self.path.endswith((".parquet", ".csv")):
            raise ValueError(f"path {self.path!r} must end with .parquet or .csv")
        return self


class Feature(Strict):
    """A feature column and how its drift is measured."""

    name: str = Field(pattern=COLUMN_RE)
    kind: Literal["numeric", "categorical"] = "numeric"


DriftMethod = Literal["psi", "ks"]


class DriftCheck(Strict):
    """One model's drift check: reference vs current window of its features and predictions."""

    model: str = Field(pattern=NAME_RE)
    schedule: str = Field(default="0 * * * *", pattern=CRON_RE)
    reference: DataInput
    current: DataInput
    features: list[Feature] = Field(default_factory=list)
    prediction: str | None = Field(default=None, pattern=COLUMN_RE,
                                   description="prediction column (prediction drift, KS p-value)")
    methods: list[DriftMethod] = Field(default_factory=lambda: ["psi", "ks"], min_length=1)
    thresholds: dict[DriftMethod, float] = Field(
        default_factory=lambda: {"psi": 0.2, "ks": 0.1},
        description="marks scores above these in the printed table (the alert's thresholds "
        "live in the dashboard spec)")
    bins: int = Field(default=10, ge=2, le=100, description="PSI bins (reference quantiles)")
    pvalue_sample: int = Field(
        default=2000, ge=50, le=1_000_000,
        description="rows drawn from each window for the KS p-value (seeded); see README")
    seed: int = Field(default=0, ge=0)
    min_rows: int = Field(default=100, ge=2,
                          description="fewer non-null values in a window: the column is skipped")

    @model_validator(mode="after")
    def _something(self) -> DriftCheck:
        if not self.features and self.prediction is None:
            raise ValueError("give features, a prediction column, or both")
        names = [f.name for f in self.features]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feature {dup[0]!r} is listed twice")
        return self


class Accuracy(Strict):
    """What "accurate" means for a model's predictions."""

    kind: Literal["classification", "within_tolerance"] = "within_tolerance"
    tolerance: float = Field(default=0.1, gt=0,
                             description="within_tolerance: allowed error")
    relative: bool = Field(default=True, description="tolerance as a share of |actual| "
                           "(False: in the target's units)")


class Evaluation(Strict):
    """One model's evaluation: recent predictions vs arrived actuals, logged to MLflow."""

    model: str = Field(pattern=NAME_RE)
    registered_model: str | None = Field(
        default=None, description="MLflow registered model name (default: model)")
    schedule: str = Field(default="30 * * * *", pattern=CRON_RE)
    tracking_uri: str = Field(pattern=r"^(https?|file|databricks|sqlite)://?")
    input: DataInput | None = Field(
        default=None, description="one table with the version, prediction and actual columns")
    predictions: DataInput | None = None
    actuals: DataInput | None = None
    join_on: list[str] = Field(default_factory=list, description="keys joining predictions "
                               "and actuals (when given separately)")
    version_column: str = "version"
    prediction_column: str = "prediction"
    actual_column: str = "actual"
    accuracy: Accuracy = Field(default_factory=Accuracy)
    min_rows: int = Field(default=30, ge=1, description="fewer rows for a version: not logged")

    @model_validator(mode="after")
    def _inputs(self) -> Evaluation:
        separate = self.predictions is not None or self.actuals is not None
        if (self.input is None) == (not separate) or (
                separate and (self.predictions is None or self.actuals is None)):
            raise ValueError("give input, or predictions and actuals (with join_on)")
        if separate and not self.join_on:
            raise ValueError("predictions and actuals given separately need join_on")
        return self


class ActualsJob(Strict):
    """Observed actuals as the ``mlops_actual_value`` histogram (cumulative: see README)."""

    model: str = Field(pattern=NAME_RE)
    schedule: str = Field(default="15 * * * *", pattern=CRON_RE)
    input: DataInput
    version_column: str = "version"
    actual_column: str = "actual"
    buckets: list[float] = Field(min_length=1, description="the predictor's histogram buckets")

    @model_validator(mode="after")
    def _sorted(self) -> ActualsJob:
        if sorted(set(self.buckets)) != self.buckets:
            raise ValueError("buckets must be increasing")
        return self


class Pushgateway(Strict):
    """Deploy a Pushgateway with the bundle, or use an existing one."""

    deploy: bool = True
    url: str | None = Field(default=None, pattern=r"^https?://",
                            description="existing Pushgateway (deploy: false)")
    image: str = "quay.io/prometheus/pushgateway:v1.11.1"
    timeout: Duration = "10s"
    retries: int = Field(default=4, ge=0, le=10, description="retries after a failed push "
                         "(exponential backoff from 1s, at most 30s apart)")

    @model_validator(mode="after")
    def _url(self) -> Pushgateway:
        if not self.deploy and self.url is None:
            raise ValueError("deploy: false needs the url of an existing Pushgateway")
        if self.deploy and self.url is not None:
            raise ValueError("url is for an existing Pushgateway (deploy: false); the deployed "
                             "one is reached by its Service")
        return self


class JobsSpec(Strict):
    """The drift checker, the evaluation job, the actuals job and the Pushgateway."""

    pushgateway: Pushgateway = Field(default_factory=Pushgateway)
    warehouse: Warehouse | None = None
    drift: list[DriftCheck] = Field(default_factory=list)
    evaluate: list[Evaluation] = Field(default_factory=list)
    actuals: list[ActualsJob] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> JobsSpec:
        for kind in ("drift", "evaluate", "actuals"):
            models = [j.model for j in getattr(self, kind)]
            dup = sorted({n for n in models if models.count(n) > 1})
            if dup:
                raise ValueError(f"{kind}: model {dup[0]!r} has two jobs")
        if self.warehouse is None:
            for kind, job in self.inputs():
                if job.sql is not None:
                    raise ValueError(f"{kind} reads sql but collectors.jobs.warehouse is not set")
        return self

    def inputs(self) -> list[tuple[str, DataInput]]:
        """(job kind and model, input) of every input of every job."""
        out: list[tuple[str, DataInput]] = []
        for d in self.drift:
            out += [(f"drift {d.model}", d.reference), (f"drift {d.model}", d.current)]
        for e in self.evaluate:
            out += [(f"evaluate {e.model}", i) for i in (e.input, e.predictions, e.actuals)
                    if i is not None]
        out += [(f"actuals {a.model}", a.input) for a in self.actuals]
        return out
