"""Receivers of the channel types beyond PagerDuty, Slack and email: Opsgenie, a generic
webhook and Microsoft Teams, for the plain config and the AlertmanagerConfig manifest (pure).

* **Opsgenie** (``opsgenie_configs``): the API key only from ``api_key_file`` (plain) or the
  Secret of ``secret_ref`` (operator); the team as responder; tags carry the severity
  (``mlops-dash,<severity>,<team>``), which the rendered Opsgenie team routing rules match to
  choose the escalation (generated/opsgenie/). No ``priority``: SchemaStore's schema admits only
  literal P1..P5 there, not a template.
* **webhook** (``webhook_configs``): the URL is not a credential; a bearer token only from
  ``bearer_token_file`` (``http_config.authorization.credentials_file``). Alertmanager 0.25 has
  no ``url_file`` (added in 0.26), so a URL that embeds a token belongs behind a proxy.
* **msteams** (``msteams_configs``, Alertmanager >= 0.26): ``webhook_url_file``; the operator
  manifest uses ``msteamsv2Configs`` (adaptive cards, Workflows webhooks). For Alertmanager 0.25
  (Debian's), `mlops-dash lint` refuses it (``alert/msteams-needs-0.26``): reach Teams through a
  webhook channel pointing at a Teams proxy (prometheus-msteams) instead.
"""

from __future__ import annotations

from typing import Any

from mlops_dash.spec import models as m

OPSGENIE_API = {"us": "https://api.opsgenie.com/", "eu": "https://api.eu.opsgenie.com/"}
TYPES = ("opsgenie", "webhook", "msteams")


def _tpl(name: str) -> str:
    return f'{{{{ template "{name}" . }}}}'


def opsgenie_tags() -> str:
    """Tags of every Opsgenie alert; the team routing rules match the severity among them."""
    return "mlops-dash,{{ .CommonLabels.severity }},{{ .CommonLabels.team }}"


def plain_receiver(c: m.Channel) -> dict[str, Any]:
    """The plain Alertmanager receiver of an Opsgenie, webhook or msteams channel."""
    if c.type == "opsgenie":
        cfg: dict[str, Any] = {"api_key_file": c.api_key_file}
        if c.region == "eu":
            cfg["api_url"] = OPSGENIE_API["eu"]
        cfg.update({
            "send_resolved": True,
            "message": _tpl("mlops.title"),
            "description": _tpl("mlops.text"),
            "source": "mlops-dash",
            "entity": "{{ .CommonLabels.dashboard }}",
            "tags": opsgenie_tags(),
            "responders": [{"name": c.team, "type": "team"}],
            "details": {"runbook_url": _tpl("mlops.runbook_url"),
                        "dashboard_url": _tpl("mlops.dashboard_url"),
                        "severity": "{{ .CommonLabels.severity }}"},
        })
        return {"name": c.name, "opsgenie_configs": [cfg]}
    if c.type == "webhook":
        cfg = {"url": c.url, "send_resolved": True}
        if c.bearer_token_file is not None:
            cfg["http_config"] = {"authorization": {"type": "Bearer",
                                                    "credentials_file": c.bearer_token_file}}
        return {"name": c.name, "webhook_configs": [cfg]}
    assert c.type == "msteams", c.type
    return {"name": c.name, "msteams_configs": [{
        "webhook_url_file": c.webhook_url_file, "send_resolved": True,
        "title": _tpl("mlops.title"), "text": _tpl("mlops.text")}]}


def operator_receiver(c: m.Channel, plain: dict[str, Any],
                      secret: dict[str, str] | None) -> dict[str, Any]:
    """The AlertmanagerConfig receiver; ``plain`` has its templates inlined already."""
    if c.type == "opsgenie":
        p = plain["opsgenie_configs"][0]
        cfg: dict[str, Any] = {"apiKey": secret}
        if "api_url" in p:
            cfg["apiURL"] = p["api_url"]
        cfg.update({
            "sendResolved": True, "message": p["message"], "description": p["description"],
            "source": p["source"], "entity": p["entity"], "tags": p["tags"],
            "responders": [{"name": c.team, "type": "team"}],
            "details": [{"key": k, "value": v} for k, v in sorted(p["details"].items())],
        })
        return {"name": c.name, "opsgenieConfigs": [cfg]}
    if c.type == "webhook":
        cfg = {"url": c.url, "sendResolved": True}
        if secret is not None:
            cfg["httpConfig"] = {"authorization": {"type": "Bearer", "credentials": secret}}
        return {"name": c.name, "webhookConfigs": [cfg]}
    p = plain["msteams_configs"][0]
    return {"name": c.name, "msteamsv2Configs": [{
        "webhookURL": secret, "sendResolved": True, "title": p["title"], "text": p["text"]}]}
