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
}


def _load(name: str) -> dict[str, Any]:
    ref = resources.files(SCHEMA_PACKAGE).joinpath(name)
    return json.loads(ref.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def _validator(name: str, ref: str | None = None) -> Any:
    import jsonschema

    schema = _load(name)
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


def dashboard_errors(dashboard: dict[str, Any]) -> list[str]:
    """Grafana 12 dashboard schema, plus each panel's options and custom field config."""
    errors = _errors(_validator("grafana-12/dashboard.jsonschema.json"), dashboard, "dashboard")
    for i, panel in enumerate(dashboard.get("panels", [])):
        name = PANEL_SCHEMAS.get(panel.get("type", ""))
        if name is None:
            continue
        file = f"grafana-12/{name}.jsonschema.json"
        defs = _load(file)["definitions"]
        if "Options" in defs:
            errors += _errors(_validator(file, "#/definitions/Options"), panel.get("options", {}),
                              f"panels/{i}/options")
        if "FieldConfig" in defs:
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
            errors += _errors(_validator(file, "#/definitions/FieldConfig"), custom,
                              f"panels/{i}/fieldConfig/defaults/custom")
        for t, target in enumerate(panel.get("targets", [])):
            if target.get("datasource", {}).get("type") == "prometheus":
                errors += _errors(
                    _validator("grafana-12/prometheus.jsonschema.json", "#/definitions/Dataquery"),
                    target, f"panels/{i}/targets/{t}")
    return errors


def manifest_errors(manifest: dict[str, Any]) -> list[str]:
    """Strict CRD schema of a Kubernetes manifest, chosen by its kind."""
    files = {
        "PrometheusRule": "prometheusrule_v1.strict.json",
        "AlertmanagerConfig": "alertmanagerconfig_v1alpha1.strict.json",
        "GrafanaDashboard": "grafanadashboard_v1beta1.strict.json",
    }
    kind = manifest.get("kind", "")
    if kind not in files:
        return []
    return _errors(_validator(files[kind]), manifest, kind)


def rule_file_errors(rule_file: dict[str, Any]) -> list[str]:
    """SchemaStore schema of a plain Prometheus rule file."""
    return _errors(_validator("prometheus.rules.json"), rule_file, "rules")


def alertmanager_errors(config: dict[str, Any]) -> list[str]:
    """SchemaStore schema of an Alertmanager configuration file."""
    return _errors(_validator("prometheus-alertmanager.json"), config, "alertmanager")
