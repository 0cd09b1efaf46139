"""No secret in a spec, none in any generated file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import GENERATED, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import run

from mlops_dash import pipeline
from mlops_dash.errors import SpecErrors
from mlops_dash.spec import secrets
from mlops_dash.spec.loader import load_specs
from mlops_dash.spec.secrets import secret_kind

# Fakes shaped like the real thing (never real credentials).
SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
PD_KEY = "0123456789abcdef0123456789abcdef"

# What a credential looks like in a generated file: a known credential shape, or a credential
# field (not its *_file / Secret-ref form) with a value.
# (Opsgenie's api_url is the API host of its region, not a credential.)
SECRET_FIELD_RE = re.compile(
    r'(?im)^\s*-?\s*"?(routing_key|service_key|api_url|auth_password|password|token|'
    r'bearer_token|api_key|auth_secret|webhook_url)"?\s*[:=]\s*'
    r'(?!https://api(\.eu)?\.opsgenie\.com/$)\S')


def _refused(specs: Path, old: str, new: str) -> str:
    f = specs / "platform.yaml"
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs)
    return str(info.value)


@pytest.mark.parametrize("old,new,field", [
    ("    routing_key_file: /etc/alertmanager/secrets/pagerduty/routing-key\n",
     f"    routing_key: {PD_KEY}\n", "routing_key"),
    ("    api_url_file: /etc/alertmanager/secrets/slack/webhook-url\n",
     f"    api_url: {SLACK_URL}\n", "api_url"),
    ("    auth_password_file: /etc/alertmanager/secrets/smtp/password\n",
     "    auth_password: hunter2hunter2\n", "auth_password"),
])
def test_literal_secret_field_is_refused_with_file_line_and_field(specs_copy, old, new, field):
    line = (specs_copy / "platform.yaml").read_text().split(old)[0].count("\n") + 1
    msg = _refused(specs_copy, old, new)
    assert f"platform.yaml:{line}:" in msg
    assert "channels[" in msg and f".{field}:" in msg and f"{field}_file" in msg
    assert new.split(": ", 1)[1].strip() not in msg  # the secret is never echoed


@pytest.mark.parametrize("value,kind", [
    (SLACK_URL, "Slack webhook URL"),
    (PD_KEY, "PagerDuty"),
    ("https://alertmanager:s3cret@smtp.company.com", "embedded password"),
    ("xoxb-123456789012-abcdefghijkl", "Slack token"),
])
def test_secret_shaped_value_in_any_field_is_refused(specs_copy, value, kind):
    msg = _refused(specs_copy, "    description: PagerDuty service",
                   f"    description: {value} PagerDuty service")
    assert "channels[0].description" in msg and kind in msg and value not in msg


def test_secret_pasted_into_a_file_field_is_refused(specs_copy):
    msg = _refused(specs_copy, "api_url_file: /etc/alertmanager/secrets/slack/webhook-url",
                   f"api_url_file: {SLACK_URL}")
    assert "api_url_file" in msg and "Slack webhook URL" in msg


def test_secret_in_a_dashboard_spec_is_refused(specs_copy):
    f = specs_copy / "serving-health.yaml"
    text = f.read_text()
    f.write_text(text.replace("title:", f"title: see {SLACK_URL} ", 1))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert "serving-health.yaml:" in str(info.value) and SLACK_URL not in str(info.value)


def test_build_with_a_secret_exits_1_and_writes_nothing(specs_copy, tmp_path):
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace(
        "    api_url_file: /etc/alertmanager/secrets/slack/webhook-url\n",
        f"    api_url: {SLACK_URL}\n"))
    out = tmp_path / "out"
    r = run("build", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 1 and "api_url" in r.stderr and "platform.yaml:" in r.stderr
    assert SLACK_URL not in r.stderr + r.stdout and not out.exists()


def _secrets_in(files: dict[str, str]) -> list[str]:
    found = []
    for rel, text in files.items():
        for i, line in enumerate(text.splitlines(), 1):
            kind = secret_kind(line)
            if kind or SECRET_FIELD_RE.search(line):
                found.append(f"{rel}:{i}: {kind or 'credential field'}")
    return found


def test_no_secret_in_any_generated_file():
    """Every committed file under generated/ and every file a build of each case produces."""
    files = {str(p.relative_to(GENERATED)): p.read_text(encoding="utf-8")
             for p in sorted(GENERATED.rglob("*")) if p.is_file()}
    assert any(rel.startswith("alertmanager/") for rel in files)
    for specs in (ROOT / "specs", *sorted((ROOT / "tests" / "golden").glob("*/specs"))):
        files.update({f"{specs}:{k}": v for k, v in pipeline.build_tree(specs).items()})
    assert _secrets_in(files) == []


def test_the_generated_files_grep_would_catch_a_secret():
    assert _secrets_in({"a": f"    api_url: {SLACK_URL}"})
    assert _secrets_in({"a": "    routing_key: abc"})
    assert _secrets_in({"a": f'"key": "{PD_KEY}"'})
    assert _secrets_in({"a": "  auth_password: x"})
    assert not _secrets_in({"a": "    routing_key_file: /etc/x", "b": "    auth_password_file: /x"})


def test_long_tokens_are_scanned_in_linear_time():
    """A 1 MB unbroken token once took hours (a scheme regex retried at every position)."""
    import time

    start = time.monotonic()
    assert secret_kind("x" * 1_100_000) is None
    assert time.monotonic() - start < 5
    assert secret_kind("x" * 1000 + " https://u:p@example.com/") == "a URL with an embedded password"


# ------------------------------------------------------------ the quick pass before the walk
_LEAF = st.sampled_from([SLACK_URL, PD_KEY, "https://user:hunter2@example.com/x", "plain text",
                         "", None, 3, 2.5, True, "aHVudGVyMg==", "%68ooks.slack.com%2F",
                         "routing_key", "password", "api_key"]) | st.text(max_size=12)
_KEY = st.sampled_from(["name", "password", "api_key", "token_file", "routing-key", PD_KEY,
                        "expr"]) | st.text(min_size=1, max_size=8)
_DATA = st.recursive(_LEAF, lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(_KEY, c, max_size=3), max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_DATA)
def test_the_quick_pass_lets_through_every_document_the_walk_reports(data):
    """find_literal_secrets first tells documents with nothing to report by one loop
    (_may_report); the walk itself (a non-empty path skips that pass) finds nothing in those."""
    walked = list(secrets.find_literal_secrets(data, ("doc",)))
    if walked:
        assert secrets._may_report(data)
    assert len(list(secrets.find_literal_secrets(data))) == len(walked)


def test_a_field_name_seen_first_as_a_value_is_still_a_credential_field():
    """The quick pass remembers text found clean, so it skips it the next time; a value such
    as ``password`` is clean as text but not as a key (a credential field)."""
    data = {"name": "password", "nested": {"password": "hunter2"}}
    assert secrets._may_report({"again": "password"}) is False
    assert secrets._may_report(data)
    assert [field for _place, field, _msg in secrets.find_literal_secrets(data)] == [
        ("nested", "password")]


# ------------------------------------------------------------ the markers looked for first
_SHAPES = [SLACK_URL, "xoxb-123456789012-abcdefghij", PD_KEY, f"key_{PD_KEY}",
           "https://events.pagerduty.com/x/AbCdEfGhIjKlMnOpQrStUv",
           "https://user:hunter2@example.com/x", "-----BEGIN RSA PRIVATE KEY-----",
           "HOOKS.SLACK.COM/services/T0/B0/x", "Events.PagerDuty.com/v2/ABCDEFGHIJKLMNOPQRSTU",
           "-----begin private key-----", "postgres://u:p@db:5432/x", "xoxp-"]
_PIECES = st.sampled_from(_SHAPES + [s[:n] for s in _SHAPES for n in (3, 8, 12)]
                          + ["://", "@", "hooks.", "slack", "xox", "-----", " ", "\n", "_",
                             "K", "\u017f", "\u0130", "\u212a", "é"])
_TEXTS = st.lists(_PIECES | st.text(max_size=6), max_size=6).map("".join)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(_TEXTS)
def test_the_markers_looked_for_first_change_no_answer(text):
    """secrets._kind_in skips the patterns' search on ASCII text without any of their literal
    parts: the same answer as the search itself, on credential shapes, their pieces and
    look-alikes (non-ASCII text is always searched: case-insensitive matching of ``ſ`` or
    ``K`` (Kelvin) is not ``str.lower``'s)."""
    assert secrets._kind_in(text) == secrets._kind_in_searched(text)


def test_each_credential_shape_is_still_found_with_the_markers():
    for value, kind in [(SLACK_URL, "a Slack webhook URL"), (PD_KEY, "a PagerDuty Events API "
                        "integration key"), ("https://u:p@example.com/", "a URL with an "
                        "embedded password"), ("-----BEGIN EC PRIVATE KEY-----", "a private key"),
                        ("xoxb-123456789012-abcdefghij", "a Slack token"),
                        ("EVENTS.PAGERDUTY.COM/v2/enqueue/ABCDEFGHIJKLMNOPQRSTU",
                         "a PagerDuty events URL with a key"),
                        ("hooks.\u017flack.com/services/T0/B0/x", "a Slack webhook URL")]:
        assert secrets._kind_in(value) == kind, value
