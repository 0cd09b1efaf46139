"""Signal shapes render to the PromQL the metric contract's alert table asks for."""

from __future__ import annotations

import pytest

from mlops_dash import promql
from mlops_dash.spec.models import Alert


def _alert(signal, **kw):
    base = dict(name="X", severity="warning", panel="p", summary="s", description="d",
                comparison=">", threshold=1, unit="none", action="a", signal=signal)
    base["for"] = kw.pop("for_", "5m")
    base.update(kw)
    return Alert.model_validate(base)


def test_ratio_of_counters():
    a = _alert({"shape": "ratio", "numerator": {"metric": "c_total", "matchers": {"s": "f"}},
                "denominator": {"metric": "c_total"}, "by": ["p"]}, window="6h", threshold=0.1)
    # increase() of the window, and a series with no sample in the window before counted with
    # its whole value (a counter first seen above 0)
    new = ('((c_total{s="f"} unless last_over_time(c_total{s="f"}[6h] offset 6h)) and on '
           '(job, instance) last_over_time(up[6h] offset 6h))')
    expr = promql.alert_expr(a)
    assert expr.startswith(f'(sum by (p) ((increase(c_total{{s="f"}}[6h]) unless {new}) or '
                           f'{new}) / sum by (p) ((increase(c_total[6h]) unless ')
    assert expr.endswith(") > 0.1")


def test_ratio_of_gauges_has_no_window():
    a = _alert({"shape": "ratio", "of": "gauges", "numerator": {"metric": "bad"},
                "denominator": {"metric": "all"}, "by": ["d"]}, threshold=0.05)
    assert promql.alert_expr(a) == "(sum by (d) (bad) / sum by (d) (all)) > 0.05"


def test_gauge_events_count_newly_set_states_and_restarts():
    a = _alert({"shape": "gauge", "series": [{"metric": "term", "matchers": {"r": "OOM"}}],
                "aggregate": "sum", "by": ["p"],
                "events": {"within": "10m", "seen": "1h", "restarted": {
                    "reason": {"metric": "last", "matchers": {"r": "OOM"}},
                    "restarts": {"metric": "restarts_total"}, "timestamp": {"metric": "ts"},
                    "container_labels": ["p", "c"]}}}, threshold=0)
    assert promql.alert_expr(a) == (
        '(sum by (p) ((term{r="OOM"} > 0 unless max_over_time(term{r="OOM"}[1h] offset 10m) > 0)'
        ' or (last{r="OOM"} > 0 and on (p, c) (increase(restarts_total[10m]) > 0 or '
        'time() - ts < 600)))) > 0')


def test_gauge_sustained_holds_over_stored_samples():
    a = _alert({"shape": "gauge", "series": [{"metric": "acc"}], "aggregate": "min",
                "by": ["m"], "sustained": "48h"}, threshold=0.99, comparison="<")
    assert promql.alert_expr(a) == (
        "(max_over_time((min by (m) (acc))[48h:5m]) and on (m) min by (m) "
        "(last_over_time(acc[1h] offset 48h))) < 0.99")


def test_baseline_median_with_offset():
    a = _alert({"shape": "baseline", "series": {"metric": "mae"}, "by": ["m"],
                "baseline_stat": "median", "baseline_offset": "1d"}, threshold=0.15)
    assert promql.alert_expr(a) == (
        "(avg by (m) (mae) / quantile_over_time(0.5, (avg by (m) (mae))[7d:1h] offset 1d) - 1)"
        " > 0.15")


def test_quantile_keeps_le():
    a = _alert({"shape": "quantile", "histogram": {"metric": "h"}, "quantile": 0.95,
                "by": ["m"]}, window="5m", threshold=300)
    assert promql.alert_expr(a) == (
        "(histogram_quantile(0.95, sum by (le, m) (rate(h_bucket[5m])))) > 300")


def test_gauge_scaled_per_label_value():
    a = _alert({"shape": "gauge", "series": [{"metric": "g"}], "by": ["f"],
                "scale_by": {"label": "method", "values": {"psi": 0.2, "ks": 0.1}}})
    assert promql.signal_expr(a) == (
        'max by (f) (g{method="psi"} / 0.2 or g{method="ks"} / 0.1)')


def test_matcher_operators_and_escaping():
    a = _alert({"shape": "gauge", "series": [{"metric": "g", "matchers": {
        "a": "=~x|y", "b": "!=z", "c": "!~w.*", "d": 'q"t'}}], "by": ["a"]})
    assert promql.signal_expr(a) == 'max by (a) (g{a=~"x|y", b!="z", c!~"w.*", d="q\\"t"})'


def test_baseline_uses_a_subquery_not_a_raw_7d_range():
    a = _alert({"shape": "baseline", "series": {"metric": "mae"}, "by": ["model"]},
               threshold=0.15)
    expr = promql.alert_expr(a)
    assert "[7d:1h]" in expr and expr.endswith("- 1) > 0.15")


def test_window_required_for_ratio_and_refused_for_gauge():
    with pytest.raises(ValueError, match="needs `window`"):
        _alert({"shape": "ratio", "numerator": {"metric": "a"}, "denominator": {"metric": "b"},
                "by": ["x"]})
    with pytest.raises(ValueError, match="takes no `window`"):
        _alert({"shape": "gauge", "series": [{"metric": "g"}], "by": ["x"]}, window="5m")


def test_every_rendered_expression_parses(spec_set):
    for d in spec_set.dashboard_models():
        for a in d.alerts:
            promql.parse(promql.alert_expr(a))


def test_label_values_parts_splits_at_the_last_top_level_comma():
    q = 'label_values(istio_requests_total{a=~"x,y", b="1"}, destination_canonical_service)'
    assert promql.label_values_parts(q) == (
        'istio_requests_total{a=~"x,y", b="1"}', "destination_canonical_service")
    assert promql.label_values_parts("query_result(up)") is None
    assert promql.label_values_parts("label_values(namespace)") == ("", "namespace")


def test_the_expressions_are_kept_for_the_alert_they_were_made_for(spec_set):
    """signal_expr and alert_expr remember their answer by the alert's identity (the models
    are frozen): a changed copy gets its own expressions, and the first keeps its own."""
    alert = next(a for d in spec_set.dashboard_models() for a in d.alerts
                 if a.threshold is not None and a.signal.shape != "raw")
    first = promql.alert_expr(alert)
    changed = alert.model_copy(update={"threshold": alert.threshold + 1})
    assert promql.alert_expr(changed) != first
    assert promql.alert_expr(changed).endswith(promql.format_number(alert.threshold + 1))
    assert promql.alert_expr(alert) == first == promql._alert_expr(alert)
    assert promql.signal_expr(alert) == promql._signal_expr(alert)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        alert.threshold = 0.0  # type: ignore[misc]
