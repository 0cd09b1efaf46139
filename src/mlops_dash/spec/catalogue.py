"""The metric catalogue (``kind: MetricCatalogue``): every queried series, its type and unit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlops_dash.spec.base import Strict
from mlops_dash.spec.cloudwatch import CloudWatchMetric, series_name
from mlops_dash.spec.fields import LabelName, MetricName

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
