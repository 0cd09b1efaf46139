"""The spec format: pydantic v2 models, strict (``extra="forbid"``), one per YAML kind.

The models live in one module per part (catalogue, platform, panels, signals, alerts, slos,
dashboard); this module is the one place the rest of the code imports them from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlops_dash.spec.alert_routing import (  # noqa: F401 - re-exported
    AlertRouting,
    TimeRange,
    TimeWindow,
)
from mlops_dash.spec.alerts import (  # noqa: F401 - re-exported
    _NUM,
    _SERIES_ITEM,
    MAX_TEST_SAMPLES,
    Alert,
    AlertTestCase,
    RecordingRule,
    SeriesSample,
)
from mlops_dash.spec.base import (  # noqa: F401 - re-exported
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
from mlops_dash.spec.catalogue import (  # noqa: F401 - re-exported
    MetricCatalogue,
    MetricDef,
)
from mlops_dash.spec.cloudwatch import (  # noqa: F401 - re-exported
    CloudWatchExporter,
    CloudWatchMetric,
    series_name,
)
from mlops_dash.spec.collectors import (  # noqa: F401 - re-exported
    Collectors,
)
from mlops_dash.spec.dashboard import (  # noqa: F401 - re-exported
    Dashboard,
)
from mlops_dash.spec.envmodels import (  # noqa: F401 - re-exported
    Environment,
    Outputs,
    Parameter,
)
from mlops_dash.spec.fields import (  # noqa: F401 - re-exported
    AlertName,
    Comparison,
    LabelName,
    MetricName,
    PanelId,
    Severity,
    Uid,
)
from mlops_dash.spec.panels import (  # noqa: F401 - re-exported
    Annotation,
    Link,
    Panel,
    PanelThreshold,
    PanelType,
    Query,
    Variable,
)
from mlops_dash.spec.platform import (  # noqa: F401 - re-exported
    CHANNEL_FIELDS,
    CHANNEL_REQUIRED,
    DEFAULT_NAMESPACES,
    PAGER_TYPES,
    Channel,
    Datasource,
    Datasources,
    Digest,
    EscalationLevel,
    ExternalLink,
    GrafanaOperator,
    GrafanaSidecar,
    InhibitRule,
    NamespaceName,
    NamespaceValue,
    Platform,
    Routing,
    SecretFile,
    SecretRef,
    SeverityRoute,
)
from mlops_dash.spec.signals import (  # noqa: F401 - re-exported
    AgeSignal,
    BaselineSignal,
    Consecutive,
    DifferenceSignal,
    Events,
    GaugeSignal,
    GrowthSignal,
    QuantileSignal,
    RatioSignal,
    RawSignal,
    RestartEvents,
    ScaleBy,
    Selector,
    Signal,
)
from mlops_dash.spec.slos import (  # noqa: F401 - re-exported
    MIN_ERROR_BUDGET,
    SLI,
    SLO,
    EventsSLI,
    GaugeRatioSLI,
    GaugeThresholdSLI,
    SLOTier,
)


class Header(Strict):
    """What every spec file starts with."""

    api_version: Literal["mlops-dash/v1"] = Field(alias="apiVersion")
    kind: Literal["Dashboard", "Platform", "MetricCatalogue", "Environment", "Library"]


GaugeSignal.model_rebuild()

Panel.model_rebuild()
