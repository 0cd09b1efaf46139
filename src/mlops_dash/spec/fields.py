"""Field types shared by the spec models: uids, names, severities."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mlops_dash import conventions as cv

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

