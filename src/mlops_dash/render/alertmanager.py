"""Platform routing → Alertmanager config, AlertmanagerConfig manifest and the routes table.

Routing tree (plain config; the manifest has the same shape):

* first child: the digest, matching every alert, ``continue: true``, long intervals;
* one route per severity (``severity="critical"`` ...) with that severity's timings; a
  severity with several channels fans out to one child route per channel (``continue: true``
  on all but the last), so every receiver is exactly one channel and ``amtool config routes
  test`` answers with channel names;
* a last route for alerts whose severity is missing or not routed: they go where
  ``fallback_severity`` goes, so a typo in a severity never drops an alert.

Inhibition: one rule per ``routing.inhibit`` entry; every ``equal`` label is required on the
source alert (``label=~".+"``), because Alertmanager counts two missing labels as equal and a
critical alert without a ``model`` label would otherwise silence every warning without one.
``team`` joins ``equal`` (unless ``across_teams``): a symptom paged to one team never mutes a
likely cause another team owns (ModelDegradation of ml-models never hides ml-data's drift).

Pure: returns data; the caller serialises.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.render import paging, receivers
from mlops_dash.spec import models as m

RESOLVE_TIMEOUT = "5m"


# --------------------------------------------------------------------------- routing plan


severity_receivers = paging.severity_channels


def expected_receivers(platform: m.Platform, severity: str,
                       override: m.AlertRouting | None = None) -> list[str]:
    """All receivers of an alert of ``severity`` (and its routing override), digest route
    included, in routing order."""
    return paging.alert_receivers(platform, severity, override)


def _matcher(name: str, op: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}{op}"{escaped}"'


def _re_escape(text: str) -> str:
    """Escape RE2 metacharacters only (Alertmanager regexes are RE2, anchored)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _timings(obj: m.SeverityRoute | m.Digest) -> dict[str, str]:
    return {"group_wait": obj.group_wait, "group_interval": obj.group_interval,
            "repeat_interval": obj.repeat_interval}


def _route(matchers: list[str], receivers: tuple[str, ...],
           timings: dict[str, str]) -> dict[str, Any]:
    """A route sending to every receiver: the receiver itself, or one child route each."""
    route: dict[str, Any] = {"matchers": matchers, "receiver": receivers[0], **timings}
    if len(receivers) > 1:
        route["routes"] = [
            {"receiver": r, "continue": True} if i < len(receivers) - 1 else {"receiver": r}
            for i, r in enumerate(receivers)
        ]
    return route


def digest_group_by(digest: m.Digest) -> list[str]:
    return list(digest.group_by) or [cv.DIGEST_GROUP_LABEL]


def route_tree(platform: m.Platform,
               dashboards: Sequence[m.Dashboard] = ()) -> dict[str, Any]:
    """The routing tree below the root (plain Alertmanager field names); the dashboards'
    alert routing overrides come right after the digest route."""
    routing = platform.routing
    routes: list[dict[str, Any]] = []
    if routing.digest and routing.digest.via == "alertmanager":
        d = routing.digest
        routes.append({
            "receiver": d.channel,
            "group_by": digest_group_by(d),
            **_timings(d),
            "continue": True,
        })
    routes += paging.override_routes(platform, list(dashboards))
    for r in routing.routes:
        routes.append(_route([_matcher(cv.LABEL_SEVERITY, "=", r.severity)],
                             severity_receivers(platform, r.severity), _timings(r)))
    routed = "|".join(_re_escape(r.severity) for r in routing.routes)
    fallback = routing.route_for(routing.fallback_severity)
    assert fallback is not None, "crosscheck guarantees a routed fallback severity"
    routes.append(_route([_matcher(cv.LABEL_SEVERITY, "!~", routed)],
                         severity_receivers(platform, routing.fallback_severity),
                         _timings(fallback)))
    return {
        "receiver": cv.NULL_RECEIVER,
        "group_by": list(routing.group_by),
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": routes,
    }


def inhibit_rules(platform: m.Platform,
                  extra: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Plain-config inhibit rules: a source alert must carry every ``equal`` label.

    ``extra`` rules (SLO page mutes ticket, from render/slo.py) are appended as they are.
    """
    out = []
    for rule in platform.routing.inhibit:
        out.append({
            "source_matchers": [_severity_matcher(rule.source_severities)]
            + [_matcher(label, "=~", ".+") for label in rule.equal],
            "target_matchers": [_severity_matcher(rule.target_severities)],
            "equal": rule.effective_equal,
        })
    return out + [dict(r) for r in extra]


def _severity_matcher(severities: list[str]) -> str:
    if len(severities) == 1:
        return _matcher(cv.LABEL_SEVERITY, "=", severities[0])
    return _matcher(cv.LABEL_SEVERITY, "=~", "|".join(severities))


# --------------------------------------------------------------------------- receivers


def _used_channels(platform: m.Platform) -> list[m.Channel]:
    names: set[str] = set()
    for r in platform.routing.routes:
        names.update(r.channels)
    names.update(platform.routing.paged_warning_channels)
    if platform.routing.digest and platform.routing.digest.via == "alertmanager":
        names.add(platform.routing.digest.channel)
    return [c for c in platform.channels if c.name in names]


def _tpl(name: str) -> str:
    return f'{{{{ template "{name}" . }}}}'


def _receiver(c: m.Channel) -> dict[str, Any]:
    if c.type in receivers.TYPES:
        return receivers.plain_receiver(c)
    if c.type == "pagerduty":
        cfg: dict[str, Any] = {
            "routing_key_file": c.routing_key_file,
            "send_resolved": True,
            "description": _tpl("mlops.title"),
            "severity": _tpl("mlops.pagerduty.severity"),
            "class": "{{ .CommonLabels.alertname }}",
            "component": "{{ .CommonLabels.dashboard }}",
            "group": "{{ .CommonLabels.team }}",
            "links": [
                {"href": _tpl("mlops.runbook_url"), "text": "Runbook"},
                {"href": _tpl("mlops.dashboard_url"), "text": "Dashboard panel"},
            ],
        }
        return {"name": c.name, "pagerduty_configs": [cfg]}
    if c.type == "slack":
        cfg = {
            "api_url_file": c.api_url_file,
            "channel": c.channel,
            "send_resolved": True,
            "title": _tpl("mlops.title"),
            "title_link": _tpl("mlops.dashboard_url"),
            "text": _tpl("mlops.slack.text"),
            "color": _tpl("mlops.slack.color"),
        }
        return {"name": c.name, "slack_configs": [cfg]}
    cfg = {"to": c.to, "from": c.from_, "smarthost": c.smarthost}
    if c.auth_username is not None:
        cfg["auth_username"] = c.auth_username
        cfg["auth_password_file"] = c.auth_password_file
    cfg.update({
        "require_tls": c.require_tls,
        "send_resolved": True,
        "headers": {"Subject": _tpl("mlops.digest.subject")},
        "text": _tpl("mlops.digest.text"),
    })
    return {"name": c.name, "email_configs": [cfg]}


def alertmanager_config(platform: m.Platform,
                        extra_inhibit: Sequence[dict[str, Any]] = (),
                        dashboards: Sequence[m.Dashboard] = ()) -> dict[str, Any]:
    """The plain Alertmanager configuration (Alertmanager ≥ 0.25 field names)."""
    used = [{"name": cv.NULL_RECEIVER}] + [_receiver(c) for c in _used_channels(platform)]
    config: dict[str, Any] = {
        "global": {"resolve_timeout": RESOLVE_TIMEOUT},
        "templates": [cv.ALERTMANAGER_TEMPLATE_FILE],
        "route": route_tree(platform, dashboards),
        "inhibit_rules": inhibit_rules(platform, extra_inhibit),
        "receivers": used,
        "time_intervals": paging.time_intervals(list(dashboards)),
    }
    for key in ("inhibit_rules", "time_intervals"):
        if not config[key]:
            del config[key]
    return config


# --------------------------------------------------------------------------- templates


_DEFINE_RE = re.compile(
    r'{{-?\s*define\s+"([^"]+)"\s*-?}}(.*?){{-?\s*end\s*-?}}(?=\s*(?:{{-?\s*define|\Z))', re.S)
_CALL_RE = re.compile(r'{{\s*template\s+"([^"]+)"\s+\.\s*}}')


def template_definitions(text: str) -> dict[str, str]:
    """``define`` name → body of a notification template file (top-level defines only)."""
    body = re.sub(r"{{/\*.*?\*/}}", "", text, flags=re.S)
    return {name: value for name, value in _DEFINE_RE.findall(body)}


def inline_templates(value: str, defs: dict[str, str]) -> str:
    """Replace ``{{ template "x" . }}`` with x's body (for configs that cannot load files)."""
    for _ in range(10):
        new = _CALL_RE.sub(lambda mo: defs[mo.group(1)] if mo.group(1) in defs else mo.group(0),
                           value)
        if new == value:
            return new
        value = new
    return value


def _inline_all(data: Any, defs: dict[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _inline_all(v, defs) for k, v in data.items()}
    if isinstance(data, list):
        return [_inline_all(v, defs) for v in data]
    if isinstance(data, str):
        return inline_templates(data, defs)
    return data


# --------------------------------------------------------------------------- operator manifest


def _op_matcher(text: str) -> dict[str, str]:
    mo = re.fullmatch(r'([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)"(.*)"', text)
    assert mo, text
    value = mo.group(3).replace('\\"', '"').replace("\\\\", "\\")
    return {"name": mo.group(1), "matchType": mo.group(2), "value": value}


_ROUTE_KEYS = {"receiver": "receiver", "group_by": "groupBy", "group_wait": "groupWait",
               "group_interval": "groupInterval", "repeat_interval": "repeatInterval",
               "continue": "continue", "mute_time_intervals": "muteTimeIntervals"}


def _op_route(route: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in route.items():
        if key == "matchers":
            out["matchers"] = [_op_matcher(x) for x in value]
        elif key == "routes":
            out["routes"] = [_op_route(r) for r in value]
        else:
            out[_ROUTE_KEYS[key]] = value
    return out


def _op_secret(c: m.Channel) -> dict[str, str]:
    assert c.secret_ref is not None
    return {"name": c.secret_ref.name, "key": c.secret_ref.key}


def _op_receiver(c: m.Channel, defs: dict[str, str]) -> dict[str, Any]:
    plain = _inline_all(_receiver(c), defs)
    if c.type in receivers.TYPES:
        return receivers.operator_receiver(c, plain, _op_secret(c) if c.secret_ref else None)
    if c.type == "pagerduty":
        p = plain["pagerduty_configs"][0]
        cfg = {
            "routingKey": _op_secret(c),
            "sendResolved": True,
            "description": p["description"],
            "severity": p["severity"],
            "class": p["class"],
            "component": p["component"],
            "group": p["group"],
            "pagerDutyLinkConfigs": [{"href": link["href"], "alt": link["text"]}
                                     for link in p["links"]],
        }
        return {"name": c.name, "pagerdutyConfigs": [cfg]}
    if c.type == "slack":
        s = plain["slack_configs"][0]
        cfg = {
            "apiURL": _op_secret(c),
            "channel": s["channel"],
            "sendResolved": True,
            "title": s["title"],
            "titleLink": s["title_link"],
            "text": s["text"],
            "color": s["color"],
        }
        return {"name": c.name, "slackConfigs": [cfg]}
    e = plain["email_configs"][0]
    cfg = {"to": e["to"], "from": e["from"], "smarthost": e["smarthost"]}
    if c.auth_username is not None:
        cfg["authUsername"] = c.auth_username
        cfg["authPassword"] = _op_secret(c)
    cfg.update({
        "requireTLS": c.require_tls,
        "sendResolved": True,
        "headers": [{"key": "Subject", "value": e["headers"]["Subject"]}],
        "text": e["text"],
    })
    return {"name": c.name, "emailConfigs": [cfg]}


def own_alerts_matcher(dashboard_uids: list[str]) -> str:
    """Matches exactly the alerts mlops-dash generates (their ``dashboard`` label)."""
    return _matcher(cv.LABEL_DASHBOARD, "=~",
                    "|".join(_re_escape(u) for u in sorted(dashboard_uids)))


def alertmanager_config_manifest(platform: m.Platform, dashboard_uids: list[str],
                                 templates: str,
                                 extra_inhibit: Sequence[dict[str, Any]] = (),
                                 dashboards: Sequence[m.Dashboard] = ()) -> dict[str, Any]:
    """The same routing as a prometheus-operator ``AlertmanagerConfig`` (v1alpha1).

    Credentials are Secret key references (``secret_ref``). The operator cannot load template
    files from this resource, so the template definitions are inlined. The top route matches
    our alerts by their ``dashboard`` label; the operator adds a ``namespace`` matcher on top
    unless the Alertmanager's ``alertmanagerConfigMatcherStrategy`` says otherwise (README).
    """
    defs = template_definitions(templates)
    tree = route_tree(platform, dashboards)
    top = {"matchers": [_op_matcher(own_alerts_matcher(dashboard_uids))],
           **_op_route({k: v for k, v in tree.items() if k != "routes"})}
    top["routes"] = [_op_route(r) for r in tree["routes"]]
    used = [{"name": cv.NULL_RECEIVER}] + [_op_receiver(c, defs)
                                           for c in _used_channels(platform)]
    inhibit = []
    for rule in inhibit_rules(platform, extra_inhibit):
        inhibit.append({
            "sourceMatch": [_op_matcher(x) for x in rule["source_matchers"]],
            "targetMatch": [_op_matcher(x) for x in rule["target_matchers"]],
            "equal": rule["equal"],
        })
    labels = {"app.kubernetes.io/managed-by": "mlops-dash",
              "app.kubernetes.io/part-of": platform.name, **platform.prometheus_rule_labels}
    spec: dict[str, Any] = {"route": top, "receivers": used}
    if inhibit:
        spec["inhibitRules"] = inhibit
    intervals = paging.operator_time_intervals(paging.time_intervals(list(dashboards)))
    if intervals:
        spec["muteTimeIntervals"] = intervals
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {
            "name": platform.name,
            "namespace": platform.kubernetes_namespace,
            "labels": dict(sorted(labels.items())),
        },
        "spec": spec,
    }


# --------------------------------------------------------------------------- routes table


def escalation_chain(platform: m.Platform, severity: str,
                     override: m.AlertRouting | None = None) -> list[m.EscalationLevel]:
    """Escalation levels an alert of ``severity`` (with its routing override) goes through
    (empty when it does not page)."""
    return paging.alert_escalation(platform, severity, override)


def routes_table(platform: m.Platform, dashboards: list[m.Dashboard]) -> list[dict[str, str]]:
    """One row per alert (spec alerts, then SLO burn-rate alerts): alert, dashboard, severity,
    receivers, escalation."""
    from mlops_dash.render import slo as slo_render

    rows = []
    for d in dashboards:
        named: list[tuple[str, str, m.Alert | None]] = [
            (a.name, a.severity, a) for a in d.alerts]
        for s in d.slos:
            stem = slo_render.alert_stem(s)
            named += [(cv.slo_alert_name(stem, tier), cv.SLO_TIER_SEVERITY[tier], None)
                      for tier in s.tiers]
        for name, severity, alert in named:
            override = alert.routing if alert is not None else None
            chain = escalation_chain(platform, severity, override)
            muted = paging.muted_pagers(platform, override)
            rows.append({
                "alert": name,
                "dashboard": d.uid,
                "severity": severity,
                "receivers": ", ".join(
                    f"{r} (muted during the window)" if r in muted else r
                    for r in expected_receivers(platform, severity, override)),
                "override": paging.override_text(platform, alert) if alert else "",
                "escalation": " → ".join(
                    f"{lvl.name} (after {lvl.delay_minutes} min)" if lvl.delay_minutes
                    else lvl.name for lvl in chain) or "none (not paged)",
            })
    return rows


def routes_markdown(platform: m.Platform, dashboards: list[m.Dashboard]) -> str:
    """The routes table as Markdown (for PR descriptions)."""
    rows = routes_table(platform, dashboards)
    lines = ["| alert | severity | receivers | escalation | override |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['alert']} | {r['severity']} | {r['receivers']} | "
                     f"{r['escalation']} | {r['override'] or '-'} |")
    for i, rule in enumerate(platform.routing.inhibit):
        if i == 0:
            lines += ["", "Inhibition:", ""]
        lines.append(f"* a firing {'/'.join(rule.source_severities)} alert silences "
                     f"{'/'.join(rule.target_severities)} alerts with the same "
                     f"{', '.join(rule.effective_equal)}")
    if any(len(s.tiers) > 1 for d in dashboards for s in d.slos):
        lines.append("* a firing SLO page alert silences the ticket alert of the same SLO and "
                     "instance")
    digest = platform.routing.digest
    if digest is not None and digest.via == "job":
        lines += ["", f"Daily digest: every alert that fired in the last {digest.lookback} is in "
                  f"one email to {platform.channel(digest.channel).to} (`mlops-dash digest`, "
                  f"CronJob `{digest.schedule}` {digest.time_zone})."]
    return "\n".join(lines) + "\n"
