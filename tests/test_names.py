"""Names that become file names, URLs or Kubernetes names: no path traversal, nothing Grafana or
Kubernetes rejects, and a readable message with the nearest valid name when one is wrong."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecErrors
from mlops_dash.spec.loader import load_specs

HOSTILE = ["..", "../x", "../../etc/passwd", "a/b", "a\\b", "/abs", "a b", "a.b", "%2e%2e",
           "a\x00b", "", "-lead", "trail-", "ünïcode", "a\nb", "CON:", "x" * 300]

# Grafana: uid ≤ 40 of [a-zA-Z0-9-_]; Kubernetes object names: DNS-1123 subdomain (≤ 253).
GRAFANA_UID = re.compile(r"^[a-zA-Z0-9_-]{1,40}$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("rx", [cv.UID_RE, cv.PANEL_ID_RE, cv.ALERT_NAME_RE, cv.K8S_NAMESPACE_RE],
                         ids=["uid", "panel-id", "alert-name", "namespace"])
def test_hostile_names_are_refused_by_the_patterns(rx, value):
    assert not rx.match(value)


def _inside(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and len(p.parts) == 2


@settings(max_examples=200, deadline=None)
@given(st.from_regex(cv.UID_RE, fullmatch=True))
def test_every_valid_uid_is_a_grafana_uid_a_kubernetes_name_and_a_plain_file_name(uid):
    assert GRAFANA_UID.match(uid) and DNS1123_SUBDOMAIN.match(uid) and len(uid) <= 63
    for rel in (cv.dashboard_json_path(uid), cv.rule_file_path(uid),
                cv.prometheus_rule_manifest_path(uid)):
        assert _inside(rel), rel


@settings(max_examples=200, deadline=None)
@given(st.from_regex(cv.ALERT_NAME_RE, fullmatch=True))
def test_every_valid_alert_name_is_a_plain_file_name(name):
    assert _inside(cv.runbook_path(name)) and re.fullmatch(r"[A-Za-z0-9]{1,40}", name)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(cv.PANEL_ID_RE, fullmatch=True))
def test_every_valid_panel_id_is_url_safe(pid):
    assert re.fullmatch(r"[a-z0-9-]{1,64}", pid)


def _load_with(specs, file, old, new):
    path = specs / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs)
    return "\n".join(e.format() for e in info.value.errors)


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("serving-health.yaml", "uid: mlops-serving-health", 'uid: "../../etc/passwd"',
     "uid: '../../etc/passwd' is not valid; expected lowercase letters"),
    ("serving-health.yaml", "uid: mlops-serving-health", "uid: Serving_Health",
     "(did you mean 'serving-health'?)"),
    ("serving-health.yaml", "- name: HighLatency", "- name: high-latency/../x",
     "alerts[0].name: 'high-latency/../x' is not valid; expected CamelCase"),
    ("serving-health.yaml", "- name: HighLatency", "- name: high latency",
     "(did you mean 'HighLatency'?)"),
    ("serving-health.yaml", "- id: throughput", "- id: Through/put",
     "panels[2].id: 'Through/put' is not valid"),
    ("serving-health.yaml", "team: ml-serving", "team: ml serving",
     "(did you mean 'ml-serving'?)"),
    ("platform.yaml", "name: ml-platform", "name: ml.platform",
     "name: 'ml.platform' is not valid"),
    ("platform.yaml", "kubernetes_namespace: monitoring", "kubernetes_namespace: Monitoring_NS",
     "(did you mean 'monitoring-ns'?)"),
])
def test_bad_names_in_specs_are_refused_with_place_and_nearest_name(specs_copy, file, old, new,
                                                                     expected):
    message = _load_with(specs_copy, file, old, new)
    assert expected in message
    assert re.search(rf"{re.escape(file)}:\d+:\d+: ", message)


@pytest.mark.parametrize(("entry", "expected"), [
    ('"bad key!": x', "'bad key!' is not a valid Kubernetes label key"),
    ('team: "not ok value"', "label team: 'not ok value' is not a valid Kubernetes label value"),
])
def test_kubernetes_label_keys_and_values_are_checked(specs_copy, entry, expected):
    message = _load_with(specs_copy, "platform.yaml", "prometheus_rule_labels:\n",
                         f"prometheus_rule_labels:\n  {entry}\n")
    assert expected in message and "prometheus_rule_labels" in message
