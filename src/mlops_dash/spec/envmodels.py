"""Typed parameters, output selection (both in the platform spec) and ``kind: Environment``."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mlops_dash.spec.base import DURATION_RE, Strict
from mlops_dash.spec.fields import LabelName, Uid

ParamType = Literal["string", "number", "duration", "list", "bool"]
ParamValue = bool | int | float | str | list[str]


def value_error(ptype: str, value: Any) -> str | None:
    """Why ``value`` is not a ``ptype`` parameter value, or None."""
    ok = {
        "string": isinstance(value, str),
        "duration": isinstance(value, str) and re.match(DURATION_RE, value) is not None
        and value != "",
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }.get(ptype, False)
    if ok:
        return None
    words = {"string": "a string", "duration": "a Prometheus duration such as 5m or 1h",
             "number": "a number", "bool": "true or false", "list": "a list of strings"}
    return f"a {ptype} parameter takes {words.get(ptype, ptype)}, found {value!r}"


class Parameter(Strict):
    """A typed value declared once, referenced as ``${params.<name>}`` in any spec string."""

    type: ParamType
    value: ParamValue
    description: str = ""

    @field_validator("value")
    @classmethod
    def _typed(cls, v: ParamValue, info: ValidationInfo) -> ParamValue:
        ptype = info.data.get("type")
        problem = value_error(ptype, v) if ptype else None
        if problem:
            raise ValueError(problem)
        return v


class Outputs(Strict):
    """Which outputs the build writes (all by default: today's output)."""

    prometheus_rules: bool = Field(default=True, description="prometheus/<uid>.rules.yaml")
    prometheus_rule_manifests: bool = Field(
        default=True, description="kubernetes/prometheusrule-<uid>.yaml (Prometheus Operator)")
    alertmanager_config: bool = Field(
        default=True, description="alertmanager/alertmanager.yaml and notifications.tmpl")
    alertmanager_config_manifest: bool = Field(
        default=True, description="kubernetes/alertmanagerconfig-<platform>.yaml (Operator)")
    dashboards: bool = Field(default=True, description="grafana/<uid>.json")
    dashboard_manifests: bool = Field(
        default=True, description="kubernetes/ dashboard ConfigMaps or GrafanaDashboards "
        "(grafana_delivery says which)")
    pagerduty: bool = Field(default=True, description="pagerduty/escalation.tf.json")
    opsgenie: bool = Field(default=True, description="opsgenie/escalation.tf.json")
    alert_tests: bool = Field(default=True, description="prometheus/tests/ (promtool cases)")
    runbooks: bool = Field(default=True, description="runbooks/<Alert>.md")
    collectors: bool = Field(
        default=True, description="the exporter, collector jobs and digest manifests, and "
        "exporters/ configs")

    @model_validator(mode="after")
    def _tests_need_rules(self) -> Outputs:
        if self.alert_tests and not self.prometheus_rules:
            raise ValueError("alert_tests need prometheus_rules (the promtool cases load the "
                             "rule files); select both or neither")
        return self


class Environment(Strict):
    """``kind: Environment``: one rendering of the spec set (``build --env <name>``)."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Environment"]
    name: Uid = Field(description="the environment; its output goes to <out>/<name>/")
    description: str = ""
    parameters: dict[LabelName, ParamValue] = Field(
        default_factory=dict,
        description="values of parameters the platform spec declares (same type)")
    namespaces: dict[LabelName, str | list[str]] = Field(
        default_factory=dict, description="namespaces merged over the platform spec's")
    outputs: dict[str, bool] = Field(
        default_factory=dict, description="output selection merged over the platform spec's")
    platform: dict[str, Any] = Field(
        default_factory=dict,
        description="fields of the platform spec replaced in this environment (mappings are "
        "merged key by key, lists and values replaced), e.g. grafana_url, channels, routing")
