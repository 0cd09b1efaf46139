"""Credentials in every form a user may paste them — any case, no scheme, PGP armour, a
``key_`` prefix, URL- or base64-encoded, as a value or as a mapping key — are refused with a
place, never echoed, and never reach a generated file."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from mlops_dash.errors import SpecErrors
from mlops_dash.spec.loader import load_specs
from mlops_dash.spec.secrets import secret_kind
from test_cli import run

# Fakes shaped like the real thing (never real credentials).
SLACK = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
FORMS = {
    "slack-upper-case-host": (SLACK.replace("hooks.slack.com", "HOOKS.Slack.COM"),
                              "Slack webhook URL"),
    "slack-without-scheme": (SLACK.removeprefix("https://"), "Slack webhook URL"),
    "pgp-private-key": ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "private key"),
    "upper-case-scheme-with-password": ("HTTPS://alertmanager:s3cret@smtp.company.com",
                                        "embedded password"),
    "pagerduty-key-prefix": ("key_0123456789abcdef0123456789abcdef", "PagerDuty"),
    "url-encoded": (urllib.parse.quote(SLACK, safe=""), "Slack webhook URL (URL-encoded)"),
    "base64": (base64.b64encode(SLACK.encode()).decode(), "Slack webhook URL (base64-encoded)"),
    "base64-url-safe-password-url": (
        base64.urlsafe_b64encode(b"https://u:p@example.com/").decode(),
        "embedded password (base64-encoded)"),
}


def _refused(specs, file, old, new):
    f = specs / file
    text = f.read_text()
    assert text.count(old) == 1, old
    f.write_text(text.replace(old, new))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs)
    return str(info.value)


@pytest.mark.parametrize("form", FORMS)
def test_secret_form_in_a_value_is_refused(specs_copy, form):
    value, kind = FORMS[form]
    msg = _refused(specs_copy, "platform.yaml", "    description: PagerDuty service \"ML Platform\" (",
                   f"    description: {value} PagerDuty service \"ML Platform\" (")
    assert "platform.yaml:" in msg and "channels[0].description" in msg
    assert kind in msg and value not in msg


@pytest.mark.parametrize("form", FORMS)
def test_secret_form_as_a_scale_by_key_is_refused(specs_copy, form):
    value, kind = FORMS[form]
    msg = _refused(specs_copy, "drift-data-quality.yaml",
                   "values: {psi: 0.2, ks: 0.1}", f'values: {{psi: 0.2, ks: 0.1, "{value}": 0.3}}')
    assert "drift-data-quality.yaml:102:61: alerts[0].signal.scale_by.values: the key of " \
        "alerts[0].signal.scale_by.values contains" in msg
    assert kind in msg and value not in msg


@pytest.mark.parametrize("form", FORMS)
def test_secret_form_as_a_sidecar_label_key_is_refused(specs_copy, form):
    value, kind = FORMS[form]
    f = specs_copy / "platform.yaml"
    n = f.read_text().count("\n")
    f.write_text(f.read_text() + f'grafana_sidecar:\n  labels: {{"{value}": "1"}}\n')
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    msg = str(info.value)
    assert f"platform.yaml:{n + 2}:12: grafana_sidecar.labels: the key of " \
        "grafana_sidecar.labels contains" in msg
    assert kind in msg and value not in msg


def test_a_refused_key_builds_nothing(specs_copy, tmp_path):
    value = FORMS["base64"][0]
    f = specs_copy / "drift-data-quality.yaml"
    f.write_text(f.read_text().replace("values: {psi: 0.2, ks: 0.1}",
                                       f'values: {{psi: 0.2, ks: 0.1, "{value}": 0.3}}'))
    out = tmp_path / "out"
    r = run("build", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 1 and "drift-data-quality.yaml:102:" in r.stderr
    assert value not in r.stdout + r.stderr and not out.exists()


@pytest.mark.parametrize("text", [
    "see hooks.slack.com for the app",  # the host, no webhook path
    "https://example.com/user@team",  # an @ in a path, no password
    "mlops_model_accuracy_ratio_0123456789abcdef0123456789abcdef",  # a 32-run after a name
    base64.b64encode(b"just some harmless text here").decode(),
    "rate(http_requests_total{code=~\"5..\"}[5m]) / 100 % 7",
    "-----BEGIN PUBLIC KEY-----",
])
def test_near_misses_are_not_secrets(text):
    assert secret_kind(text) is None
