"""Spec error messages: the did-you-mean of an unknown field comes from the fields valid at that
place, and a field with no near miss lists what the place accepts."""

from __future__ import annotations

import pytest
from conftest import SPECS

from mlops_dash.errors import SpecErrors
from mlops_dash.spec import models as m
from mlops_dash.spec.loader import fields_at, load_specs


def test_fields_at_follows_lists_unions_and_tags():
    assert "thresholds" in fields_at(m.Dashboard, ("panels", 0))
    assert fields_at(m.Dashboard, ("alerts", 0, "signal", "quantile")) == [
        "shape", "histogram", "quantile", "by"]
    assert fields_at(m.Dashboard, ("alerts", 0, "signal", "quantile", "histogram")) == [
        "metric", "matchers"]
    assert fields_at(m.Platform, ("channels", 0, "secret_ref")) == ["name", "key"]
    assert fields_at(m.Dashboard, ("nope",)) is None


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    unit: reqps\n", "    unit: reqps\n    tresholds: []\n",
     "panels[2].tresholds: unknown field 'tresholds' (did you mean 'thresholds'?)"),
    ("      histogram: {metric: istio_request_duration_milliseconds, matchers:",
     "      histogram: {metric: istio_request_duration_milliseconds, matcher:",
     "alerts[0].signal.histogram.matcher: unknown field 'matcher' (did you mean 'matchers'?)"),
    ("      quantile: 0.95\n", "      quantile: 0.95\n      colour: red\n",
     "unknown field 'colour' (fields here: by, histogram, quantile, shape)"),
])
def test_unknown_field_suggestions_are_scoped(specs_copy, old, new, expected):
    f = specs_copy / "serving-health.yaml"
    text = f.read_text()
    assert text.count(old) == 1
    f.write_text(text.replace(old, new))
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    assert any(expected in e.format() for e in info.value.errors), info.value


def test_shipped_specs_still_load():
    assert load_specs(SPECS).dashboards
