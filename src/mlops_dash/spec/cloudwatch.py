"""CloudWatch exporter (prometheus/cloudwatch_exporter) settings in the specs.

A catalogue entry names the CloudWatch metric it comes from (``cloudwatch:``); the build
writes the exporter's config from those entries (render/exporters.py), so the series the rules
query and the exporter's settings cannot drift apart. The checks here are what the exporter's
README and source say it needs (prometheus/cloudwatch_exporter, README "Timestamps" and the
configuration table; ``CloudWatchCollector.java``: ``loadConfig``, ``toSnakeCase``, ``safeName``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from mlops_dash.spec.base import Strict

STATISTICS = ("Sum", "SampleCount", "Minimum", "Maximum", "Average")
# S3 storage metrics are published once a day (Amazon S3 docs, "Metrics and dimensions":
# BucketSizeBytes and NumberOfObjects, daily storage metrics); the exporter's examples/S3.yml
# asks them with period 86400, range 172800 and set_timestamp false.
DAILY_METRICS = {("AWS/S3", "BucketSizeBytes"), ("AWS/S3", "NumberOfObjects")}
DAY = 86400


def snake_case(text: str) -> str:
    """The exporter's toSnakeCase: ``BucketSizeBytes`` → ``bucket_size_bytes``."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text).lower()


def safe_name(text: str) -> str:
    """The exporter's safeName: invalid characters → ``_``, runs of ``_`` merged."""
    return re.sub(r"__+", "_", re.sub(r"[^a-zA-Z0-9:_]", "_", text))


def series_name(namespace: str, metric: str, statistic: str) -> str:
    """The Prometheus name the exporter gives a CloudWatch metric and statistic."""
    base = safe_name(namespace.lower() + "_" + snake_case(metric))
    return base + "_" + safe_name(snake_case(statistic))


class CloudWatchMetric(Strict):
    """Where a catalogue series comes from in CloudWatch, and how the exporter must fetch it."""

    namespace: str = Field(min_length=1, description="aws_namespace, e.g. AWS/S3")
    metric: str = Field(min_length=1, description="aws_metric_name, e.g. BucketSizeBytes")
    dimensions: list[str] = Field(
        min_length=1, description="aws_dimensions: exactly the metric's dimensions "
        "(aws cloudwatch list-metrics); each becomes a snake_case label")
    statistic: Literal["Sum", "SampleCount", "Minimum", "Maximum", "Average"]
    period_seconds: int = Field(default=60, gt=0, description="exporter default 60")
    range_seconds: int = Field(default=600, gt=0, description="exporter default 600")
    delay_seconds: int = Field(default=600, ge=0, description="exporter default 600")
    set_timestamp: bool = Field(
        default=True, description="expose CloudWatch's timestamp (exporter default true)")

    @model_validator(mode="after")
    def _fetchable(self) -> CloudWatchMetric:
        daily = (self.namespace, self.metric) in DAILY_METRICS
        if daily and self.period_seconds != DAY:
            raise ValueError(f"{self.namespace} {self.metric} is published once a day: use "
                             f"period_seconds: {DAY}")
        if self.period_seconds >= 3600:
            # The newest complete datapoint is up to two periods old: a shorter range returns
            # nothing, and `x offset 1d` has nothing to compare with.
            if self.range_seconds < 2 * self.period_seconds:
                raise ValueError(f"range_seconds {self.range_seconds} is shorter than two "
                                 f"periods ({2 * self.period_seconds}): the exporter would "
                                 "find no datapoint")
            # With CloudWatch's timestamp the sample is hours old: Prometheus drops it or an
            # instant query (5m look-back) never sees it (exporter README, "Timestamps").
            if self.set_timestamp:
                raise ValueError("a metric updated every hour or less often needs "
                                 "set_timestamp: false (exporter README, Timestamps)")
        return self

    def labels(self) -> list[str]:
        return [safe_name(snake_case(d)) for d in self.dimensions]


class CloudWatchExporter(Strict):
    """Exporter-wide settings of the generated config."""

    region: str | None = Field(
        default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        description="AWS region; absent: the exporter's default region provider chain")
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$")
