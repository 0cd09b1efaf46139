"""Validation of generated files against the vendored official schemas (compiled once)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_PACKAGE = "mlops_dash.schemas"

# panel type → schema file of its options / fieldConfig.defaults.custom (Grafana 12)
PANEL_SCHEMAS = {
    "timeseries": "timeseries",
    "stat": "stat",
    "piechart": "piechart",
    "heatmap": "heatmap",
    "bargauge": "bargauge",
    "table": "table",
    "state-timeline": "statetimeline",
    "text": "text",
    "histogram": "histogram",
    "gauge": "gauge",
    "annolist": "annotationslist",
    "logs": "logs",
}


def _load(name: str) -> dict[str, Any]:
    ref = resources.files(SCHEMA_PACKAGE).joinpath(name)
    return json.loads(ref.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# The ONE documented deviation from the vendored Grafana 12 schema. Its DynamicConfigValue types
# an override property's `value` as an object, but Grafana reads it per property id: a string for
# `unit` and `custom.axisPlacement`, a number for `min`/`decimals`, an object for `thresholds`
# (Grafana's own dashboards and docs write `{"id": "unit", "value": "percentunit"}`; the
# exported schema loses the CUE `_` "any" type). Only that one field is relaxed to any JSON
# value; everything else of an override (its `id`, the matcher, unknown keys) is still checked.
SCHEMA_EXCEPTIONS = {
    "grafana-12/dashboard.jsonschema.json": ("DynamicConfigValue", "value"),
}


def _with_exception(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    exception = SCHEMA_EXCEPTIONS.get(name)
    if exception is None:
        return schema
    definition, prop = exception
    schema = json.loads(json.dumps(schema))  # a copy: the vendored file stays as shipped
    schema["definitions"][definition]["properties"][prop] = {
        "description": "any JSON value (mlops-dash schema exception, see SCHEMA_EXCEPTIONS)"}
    return schema


@cache
def _validator(name: str, ref: str | None = None) -> Any:
    import jsonschema

    schema = _with_exception(name, _load(name))
    if ref is not None:
        schema = {"$schema": schema["$schema"], "definitions": schema["definitions"], "$ref": ref}
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: Any, doc: Any, prefix: str) -> list[str]:
    from jsonschema.exceptions import best_match

    out = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        while err.context:  # anyOf/oneOf: report the branch that came closest, not the union
            err = best_match(err.context)
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{prefix}{'/' + where if where else ''}: {err.message[:300]}")
    return out


def _panels_with_paths(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every panel with its JSON path: top-level ones and the panels inside rows."""
    out = []
    for i, panel in enumerate(dashboard.get("panels", [])):
        out.append((f"panels/{i}", panel))
        if panel.get("type") == "row":
            out += [(f"panels/{i}/panels/{j}", p) for j, p in enumerate(panel.get("panels", []))]
    return out


def dashboard_errors(dashboard: dict[str, Any]) -> list[str]:
    """Grafana 12 dashboard schema, plus each panel's options and custom field config (the
    panels of collapsed rows too)."""
    errors = _errors(_validator("grafana-12/dashboard.jsonschema.json"), dashboard, "dashboard")
    for where, panel in _panels_with_paths(dashboard):
        errors += panel_type_errors(panel, where)
    return errors


def panel_type_errors(panel: dict[str, Any], where: str) -> list[str]:
    """One panel's ``options`` and ``fieldConfig.defaults.custom`` against its type's schema,
    and its Prometheus targets against the Prometheus query schema."""
    errors: list[str] = []
    for prefix, validator, doc in _panel_parts(panel, where):
        errors += _errors(validator, doc, prefix)
    return errors


def _panel_parts(panel: dict[str, Any], where: str) -> list[tuple[str, Any, Any]]:
    """(JSON path, validator, value) of each part of a panel that has a schema."""
    parts: list[tuple[str, Any, Any]] = []
    kind = panel.get("type", "")
    if kind == "alertlist":
        parts.append((f"{where}/options", _inline_validator("alertlist"), panel.get("options", {})))
    name = PANEL_SCHEMAS.get(kind)
    if name is not None:
        file = f"grafana-12/{name}.jsonschema.json"
        defs = _load(file)["definitions"]
        if "Options" in defs:
            parts.append((f"{where}/options", _validator(file, "#/definitions/Options"),
                          panel.get("options", {})))
        if "FieldConfig" in defs:
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
            parts.append((f"{where}/fieldConfig/defaults/custom",
                          _validator(file, "#/definitions/FieldConfig"), custom))
    for t, target in enumerate(panel.get("targets", [])):
        if target.get("datasource", {}).get("type") == "prometheus":
            parts.append((f"{where}/targets/{t}",
                          _validator("grafana-12/prometheus.jsonschema.json",
                                     "#/definitions/Dataquery"), target))
    return parts


def raw_errors(panel: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of a rendered panel that has a ``raw`` part merged in: (JSON path inside the
    panel, message), against the dashboard schema's Panel (or RowPanel) definition and the
    panel type's own schemas."""
    ref = "#/definitions/RowPanel" if panel.get("type") == "row" else "#/definitions/Panel"
    out: list[tuple[tuple[str | int, ...], str]] = []
    checks = [((), _validator("grafana-12/dashboard.jsonschema.json", ref), panel)]
    for prefix, validator, doc in _panel_parts(panel, ""):
        checks.append((tuple(_path_part(p) for p in prefix.strip("/").split("/")), validator,
                       doc))
    for base, validator, doc in checks:
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.path))):
            path = (*base, *err.absolute_path)
            if err.validator == "additionalProperties" and isinstance(err.instance, dict):
                known = set(err.schema.get("properties", {}))
                extra = sorted(k for k in err.instance if k not in known)
                path = (*path, *extra[:1])
            out.append((path, err.message[:300]))
    return out


def _path_part(part: str) -> str | int:
    return int(part) if part.isdigit() else part


# Core kinds have no CRD schema to vendor. These are hand-written from the Kubernetes API
# reference (ObjectMeta, ConfigMap v1) and its validation rules (names, label syntax, the
# 1 MiB data limit): the essentials a generated object must meet, not the full OpenAPI schema.
_DNS_SUBDOMAIN = r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_KEY = (r"^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
              r"(?=[^/]{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = r"^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
OBJECT_META_ESSENTIALS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": _DNS_SUBDOMAIN},
        "namespace": {"type": "string", "pattern": _DNS_LABEL},
        "labels": {"type": "object", "propertyNames": {"pattern": _LABEL_KEY},
                   "additionalProperties": {"type": "string", "pattern": _LABEL_VALUE}},
        "annotations": {"type": "object", "propertyNames": {"pattern": _LABEL_KEY},
                        "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
_CONFIGMAP_KEY = r"^(?=.{1,253}$)[-._a-zA-Z0-9]+$"  # keys of data / binaryData
CONFIGMAP_ESSENTIALS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "ConfigMap v1 (essentials, hand-written; no official strict schema is vendored)",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"enum": ["v1"]},
        "kind": {"enum": ["ConfigMap"]},
        "metadata": {"type": "object"},
        "data": {"type": "object", "propertyNames": {"pattern": _CONFIGMAP_KEY},
                 "additionalProperties": {"type": "string"}},
        "binaryData": {"type": "object", "propertyNames": {"pattern": _CONFIGMAP_KEY},
                       "additionalProperties": {"type": "string"}},
        "immutable": {"type": "boolean"},
    },
    "additionalProperties": False,
}
KUSTOMIZATION_ESSENTIALS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Kustomization (the fields mlops-dash writes; hand-written)",
    "type": "object",
    "required": ["apiVersion", "kind", "resources"],
    "properties": {
        "apiVersion": {"enum": ["kustomize.config.k8s.io/v1beta1"]},
        "kind": {"enum": ["Kustomization"]},
        "resources": {"type": "array", "uniqueItems": True,
                      "items": {"type": "string", "pattern": r"^[^/][^\\]*\.ya?ml$"}},
    },
    "additionalProperties": False,
}
# Grafana's alert list panel has no official schema (no panelcfg CUE in grafana/grafana, none
# in grafana-foundation-sdk): its options as typed in grafana/grafana
# public/app/plugins/panel/alertlist/types.ts (UnifiedAlertListOptions, StateFilter, the SortOrder
# 1-5, GroupMode and ViewMode enums), unknown keys refused like the generated panel schemas.
_FLAG = {"type": "boolean"}
ALERTLIST_ESSENTIALS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "alertlist panel options (hand-written from Grafana's types.ts; no official schema)",
    "type": "object",
    "properties": {
        "maxItems": {"type": "integer", "minimum": 1},
        "sortOrder": {"enum": [1, 2, 3, 4, 5]},
        "dashboardAlerts": _FLAG,
        "groupMode": {"enum": ["default", "custom"]},
        "groupBy": {"type": "array", "items": {"type": "string"}},
        "alertName": {"type": "string"},
        "showInstances": _FLAG,
        "folder": {"type": "object", "properties": {"uid": {"type": "string"},
                                                     "title": {"type": "string"}},
                   "additionalProperties": False},
        "stateFilter": {"type": "object", "additionalProperties": False, "properties": {
            k: _FLAG for k in ("firing", "pending", "inactive", "recovering", "noData",
                               "normal", "error")}},
        "alertInstanceLabelFilter": {"type": "string"},
        "datasource": {"type": "string"},
        "viewMode": {"enum": ["list", "stat"]},
        "showInactiveAlerts": _FLAG,
    },
    "additionalProperties": False,
}
CONFIGMAP_DATA_LIMIT = 1024 * 1024  # apiserver: total bytes of data + binaryData values


@cache
def _inline_validator(name: str) -> Any:
    import jsonschema

    schema = {"meta": OBJECT_META_ESSENTIALS, "configmap": CONFIGMAP_ESSENTIALS,
              "kustomization": KUSTOMIZATION_ESSENTIALS, "alertlist": ALERTLIST_ESSENTIALS}[name]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """Strict schema of a Kubernetes manifest, chosen by its kind, and its metadata's essentials.

    CRD kinds use the vendored strict CRD schemas; a ConfigMap (core kind, no CRD) uses the
    hand-written essentials above plus the apiserver's 1 MiB data limit; a kustomization.yaml
    (kind Kustomization) the fields we write. An unknown kind is an error, so a new manifest
    kind cannot slip through unchecked.
    """
    files = {
        "PrometheusRule": "prometheusrule_v1.strict.json",
        "AlertmanagerConfig": "alertmanagerconfig_v1alpha1.strict.json",
        "GrafanaDashboard": "grafanadashboard_v1beta1.strict.json",
        "ServiceMonitor": "servicemonitor_v1.strict.json",
        "PodMonitor": "podmonitor_v1.strict.json",
        # Kubernetes 1.35 objects, strict (kubectl-validate's builtins, yannh-style derivation)
        "Deployment": "kubernetes/deployment-apps-v1.json",
        "Service": "kubernetes/service-v1.json",
        "CronJob": "kubernetes/cronjob-batch-v1.json",
        "NetworkPolicy": "kubernetes/networkpolicy-networking-v1.json",
        "ServiceAccount": "kubernetes/serviceaccount-v1.json",
    }
    kind = manifest.get("kind", "")
    if kind == "Kustomization":
        return _errors(_inline_validator("kustomization"), manifest, kind)
    if kind in files:
        errors = _errors(_validator(files[kind]), manifest, kind)
    elif kind == "ConfigMap":
        errors = _errors(_inline_validator("configmap"), manifest, kind)
        values = [*manifest.get("data", {}).values(), *manifest.get("binaryData", {}).values()]
        size = sum(len(str(v).encode()) for v in values)
        if size > CONFIGMAP_DATA_LIMIT:
            errors.append(f"{kind}/data: {size} bytes, over the 1 MiB limit "
                          f"({CONFIGMAP_DATA_LIMIT} bytes)")
    else:
        return [f"{kind or '(no kind)'}: no schema for this kind"]
    if isinstance(manifest.get("metadata"), dict):
        errors += _errors(_inline_validator("meta"), manifest["metadata"], f"{kind}/metadata")
    else:
        errors.append(f"{kind}/metadata: missing")
    return errors


def rule_file_errors(rule_file: dict[str, Any]) -> list[str]:
    """SchemaStore schema of a plain Prometheus rule file."""
    return _errors(_validator("prometheus.rules.json"), rule_file, "rules")


def alertmanager_errors(config: dict[str, Any]) -> list[str]:
    """SchemaStore schema of an Alertmanager configuration file."""
    return _errors(_validator("prometheus-alertmanager.json"), config, "alertmanager")
