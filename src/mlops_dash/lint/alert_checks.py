"""Alert lint (monitoring-mixins conventions) on the rendered rule files, reported at the spec
alert when the rule came from one, else at the rule file's line.

Decision on ``for``: ``for`` absent or 0 is allowed (fire at the first evaluation that sees the
condition, a deliberate choice for page-worthy signals); a positive ``for`` shorter than the
group's evaluation interval is an error, because Prometheus can only check it once per interval
and the alert waits a whole interval anyway, so the number in the spec is a lie.
"""

from __future__ import annotations

import re
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.lint.runner import Context
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import Document

CAMEL_CASE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")
DEFAULT_GROUP_INTERVAL = "1m"  # Prometheus' global.evaluation_interval default
# rendered rule field → spec alert field, to point at the spec's own line
_SPEC_FIELD = {"alert": "name", "for": "for", "labels": "severity", "annotations": "summary"}


def _rule_files(ctx: Context) -> list[tuple[Document, str, dict[str, Any]]]:
    out = []
    for doc in ctx.spec_set.dashboards:
        rel = cv.rule_file_path(doc.model.uid)
        if rel in ctx.tree:
            out.append((doc, rel, ctx.parsed_yaml(rel)))
    return out


def name_problem(name: str) -> str | None:
    if len(name) > 40:
        return f"alert name {name!r} is {len(name)} characters; at most 40"
    if not CAMEL_CASE.match(name) or not any(c.islower() for c in name):
        return f"alert name {name!r} is not CamelCase (e.g. HighRequestLatency)"
    return None


def check_rules(ctx: Context) -> None:
    for doc, rel, data in _rule_files(ctx):
        d: m.Dashboard = doc.model
        spec_alerts = {a.name: i for i, a in enumerate(d.alerts)}
        spec_records = {r.record: i for i, r in enumerate(d.recording_rules)}
        for gi, group in enumerate(data.get("groups", [])):
            interval = str(group.get("interval") or DEFAULT_GROUP_INTERVAL)
            for ri, rule in enumerate(group.get("rules", [])):
                base = ("groups", gi, "rules", ri)

                def report(field: str, check: str, msg: str, rule: dict[str, Any] = rule,
                           base: tuple[Any, ...] = base) -> None:
                    name = rule.get("alert")
                    if name in spec_alerts:
                        spec_field = _SPEC_FIELD.get(field, field)
                        ctx.at_spec(doc, ("alerts", spec_alerts[name], spec_field), check, msg)
                    elif rule.get("record") in spec_records:
                        ctx.at_spec(doc, ("recording_rules", spec_records[rule["record"]],
                                          "record"), check, msg)
                    else:
                        ctx.at_output(rel, (*base, field), check, msg)

                if "record" in rule:
                    record = str(rule["record"])
                    if not cv.RECORD_NAME_RE.match(record):
                        report("record", "alert/record-name",
                               f"recording rule {record!r} is not named level:metric:operations "
                               "(e.g. job:http_requests:rate5m)")
                    continue
                name = str(rule.get("alert", ""))
                problem = name_problem(name)
                if problem:
                    report("alert", "alert/name-style", problem)
                severity = (rule.get("labels") or {}).get(cv.LABEL_SEVERITY)
                if severity not in cv.SEVERITIES:
                    report("labels", "alert/severity",
                           f"alert {name}: severity {severity!r} is not one of "
                           f"{', '.join(cv.SEVERITIES)}")
                annotations = rule.get("annotations") or {}
                for key in REQUIRED_ANNOTATIONS:
                    value = annotations.get(key)
                    if not isinstance(value, str) or not value.strip():
                        report("annotations", "alert/missing-annotation",
                               f"alert {name} has no {key} annotation")
                for_ = str(rule.get("for") or "0s")
                for_s, every_s = m.duration_seconds(for_), m.duration_seconds(interval)
                if 0 < for_s < every_s:
                    report("for", "alert/for-shorter-than-interval",
                           for_message(name, for_, interval))


def check_spec_for(ctx: Context) -> None:
    """for-shorter-than-interval on the specs (what `build` runs): an alert's ``for`` against
    its own ``interval`` (the rule group it is rendered into)."""
    for doc in ctx.dashboards:
        for ai, a in enumerate(doc.model.alerts):
            for_, interval = a.for_ or "0s", a.interval
            if 0 < m.duration_seconds(for_) < m.duration_seconds(interval):
                ctx.at_spec(doc, ("alerts", ai, "for"), "alert/for-shorter-than-interval",
                            for_message(a.name, for_, interval))


def for_message(name: str, for_: str, interval: str) -> str:
    return (f"alert {name}: for {for_} is shorter than its group's evaluation interval "
            f"{interval}; it cannot fire sooner than {interval}, so use for: {interval} (or 0 "
            "to fire at the first evaluation)")


def check_msteams(ctx: Context) -> None:
    """Alertmanager < 0.26 refuses ``msteams_configs`` (it reads the file as unknown fields), so
    a routed msteams channel would break the plain config: say so at the channel."""
    platform = ctx.spec_set.platform_model
    major, minor = (int(p) for p in platform.alertmanager_version.split("."))
    if (major, minor) >= (0, 26) or not any(c.type == "msteams" for c in platform.channels):
        return  # (no parse of the Alertmanager file: 40 ms on 1,000 dashboards)
    config = ctx.parsed_yaml(cv.ALERTMANAGER_CONFIG_PATH)
    used = {r["name"] for r in config.get("receivers", []) if "msteams_configs" in r}
    for i, c in enumerate(platform.channels):
        if c.type == "msteams" and c.name in used:
            ctx.at_spec(ctx.spec_set.platform, ("channels", i, "type"),
                        "alert/msteams-unsupported",
                        f"channel {c.name!r}: Alertmanager {platform.alertmanager_version} has "
                        "no msteams_configs (added in 0.26) and refuses the file; reach Teams "
                        "through a webhook channel (a Teams proxy such as prometheus-msteams), "
                        "or set alertmanager_version when yours is newer (the operator's "
                        "AlertmanagerConfig gets msteamsv2Configs either way)")


def check_raw_untested(ctx: Context) -> None:
    """A raw alert's expression has no shape to derive cases from: its promtool tests are the
    user's own ``tests``; without any it is untested."""
    for doc in ctx.spec_set.dashboards:
        for ai, alert in enumerate(doc.model.alerts):
            if alert.signal.shape == "raw" and not alert.tests:
                ctx.at_spec(doc, ("alerts", ai, "signal"), "alert/raw-untested",
                            f"alert {alert.name} has a raw expression and no `tests`: "
                            "write a firing and a quiet case (input_series, eval_time, "
                            "firing)")


CHECKS = [check_rules, check_msteams, check_raw_untested]
