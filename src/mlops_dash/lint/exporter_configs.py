"""Validation of generated exporter configs. No schema is published for the cloudwatch_exporter
config, so this is written from the code that reads it: prometheus/cloudwatch_exporter
``src/main/java/io/prometheus/cloudwatch/CloudWatchCollector.java`` (``loadConfig``: the keys it
reads and their Java types, the IllegalArgumentExceptions it throws) and the README's
configuration table. The exporter ignores keys it does not know, so a misspelt key silently
keeps the default; here it is an error."""

from __future__ import annotations

from typing import Any

from mlops_dash.spec.cloudwatch import STATISTICS

_COMMON = {"period_seconds": int, "range_seconds": int, "delay_seconds": int,
           "set_timestamp": bool, "use_get_metric_data": bool, "list_metrics_cache_ttl": int,
           "warn_on_empty_list_dimensions": bool}
_TOP = {"region": str, "role_arn": str, "metrics": list, **_COMMON}
_METRIC = {"aws_namespace": str, "aws_metric_name": str, "help": str, "aws_dimensions": list,
           "aws_dimension_select": dict, "aws_dimension_select_regex": dict,
           "aws_statistics": list, "aws_extended_statistics": list, "aws_tag_select": dict,
           **_COMMON}
_TAG_SELECT = {"tag_selections": dict, "resource_type_selection": str,
               "resource_id_dimension": str, "arn_resource_id_regexp": str}


def _typed(where: str, data: dict[str, Any], known: dict[str, type]) -> list[str]:
    out = []
    for key, value in data.items():
        want = known.get(key)
        if want is None:
            out.append(f"{where}: unknown key {key!r} (the exporter would ignore it)")
        elif want is int and (isinstance(value, bool) or not isinstance(value, int)):
            out.append(f"{where}.{key}: expected a number, found {value!r}")
        elif want is not int and not isinstance(value, want):
            out.append(f"{where}.{key}: expected {want.__name__}, found {value!r}")
    return out


def cloudwatch_config_errors(config: Any) -> list[str]:
    """Problems the cloudwatch_exporter would have with a config (empty: it loads)."""
    if not isinstance(config, dict):
        return ["config: expected a mapping"]
    errors = _typed("config", config, _TOP)
    metrics = config.get("metrics")
    if metrics is None:
        return [*errors, "config: Must provide metrics"]
    for i, rule in enumerate(metrics if isinstance(metrics, list) else []):
        where = f"metrics[{i}]"
        if not isinstance(rule, dict):
            errors.append(f"{where}: expected a mapping")
            continue
        errors += _typed(where, rule, _METRIC)
        if "aws_namespace" not in rule or "aws_metric_name" not in rule:
            errors.append(f"{where}: Must provide aws_namespace and aws_metric_name")
        if "aws_dimension_select" in rule and "aws_dimension_select_regex" in rule:
            errors.append(f"{where}: aws_dimension_select and aws_dimension_select_regex "
                          "cannot be used at once")
        for stat in rule.get("aws_statistics") or []:
            if stat not in STATISTICS:
                errors.append(f"{where}.aws_statistics: {stat!r} is not one of "
                              f"{', '.join(STATISTICS)}")
        tag = rule.get("aws_tag_select")
        if isinstance(tag, dict):
            errors += _typed(f"{where}.aws_tag_select", tag, _TAG_SELECT)
            if "resource_type_selection" not in tag or "resource_id_dimension" not in tag:
                errors.append(f"{where}.aws_tag_select: Must provide resource_type_selection "
                              "and resource_id_dimension")
    return errors
