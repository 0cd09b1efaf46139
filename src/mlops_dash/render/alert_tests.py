"""Alerts → ``promtool test rules`` files: firing, quiet, pending and resolve cases per alert.

Pure: returns data. The cases are derived from the alert's fields (signal shape, threshold,
comparison, window, ``for``, interval), never written per alert:

* a *bad* signal value, clearly on the violating side of the threshold, and a *safe* value just
  on the other side (5% of the threshold away; the threshold itself when it is 0 and the
  comparison strict);
* a timeline per case (segments of bad/safe values) that the shape turns into input series on
  the contract's metrics, carrying the labels the expression groups by;
* evaluation times from the shape's warm-up (a rate needs two samples, a growth needs a full
  window of history, a baseline needs its history) and settle time (how long a rate window
  remembers the old value).

Firing is asserted through ``promql_expr_test`` on ``ALERTS{alertname, alertstate}`` with the
exact label set (severity, team, dashboard, the grouping labels): promtool's ``alert_rule_test``
compares annotations exactly, which would tie the tests to rendered ``$value`` text.

Here: the cases and the files. The values, label values and series notation are in
alert_test_values.py, the input series of each signal shape in alert_test_series.py.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.render.alert_test_series import (  # noqa: F401 - quantile_buckets re-exported
    Context,
    _gauge_variants,
    _series,
    instance_exists,
    instance_labels,
    quantile_buckets,
    render_series,
)
from mlops_dash.render.alert_test_values import (  # noqa: F401 - re-exported
    AlertTestError,
    Segment,
    Series,
    _selector_labels,
    bad_value,
    fmt_duration,
    is_violating,
    matching_value,
    non_matching_value,
    safe_value,
    series_text,
)
from mlops_dash.spec import models as m

# ------------------------------------------------------------------------------ cases


@dataclass
class Case:
    """One promtool test group: a name, input series and checks."""

    alert: str
    name: str
    series: list[Series]
    firing_at: list[tuple[float, list[dict[str, str]]]] = field(default_factory=list)
    pending_at: list[tuple[float, list[dict[str, str]]]] = field(default_factory=list)
    silent_at: list[float] = field(default_factory=list)  # neither pending nor firing

    def render(self, ctx: Context) -> dict[str, Any]:
        alert = ctx.alert.name
        exprs: list[dict[str, Any]] = []
        rule_tests: list[dict[str, Any]] = []
        for t, instances in self.firing_at:
            exprs.append(_alerts_check(ctx, "firing", t, instances))
        for t, instances in self.pending_at:
            exprs.append(_alerts_check(ctx, "pending", t, instances))
            if instances:  # pending, so not (yet) firing
                rule_tests.append({"eval_time": fmt_duration(t), "alertname": alert,
                                   "exp_alerts": []})
        for t in self.silent_at:
            exprs.append({"expr": f'ALERTS{{alertname="{alert}"}}', "eval_time": fmt_duration(t),
                          "exp_samples": []})
            rule_tests.append({"eval_time": fmt_duration(t), "alertname": alert,
                               "exp_alerts": []})
        group: dict[str, Any] = {
            "name": f"{alert}: {self.name}",
            "interval": fmt_duration(ctx.interval),
            "input_series": [s.render() for s in self.series],
        }
        if rule_tests:
            group["alert_rule_test"] = rule_tests
        group["promql_expr_test"] = exprs
        return group


def expected_labels(ctx: Context, instance: dict[str, str], state: str) -> str:
    labels = {
        "alertname": ctx.alert.name,
        "alertstate": state,
        cv.LABEL_SEVERITY: ctx.alert.severity,
        cv.LABEL_TEAM: ctx.dashboard.alert_team(ctx.alert),
        cv.LABEL_DASHBOARD: ctx.dashboard.uid,
        **ctx.alert.labels,
        **instance,
    }
    return series_text("ALERTS", labels)


def _alerts_check(ctx: Context, state: str, t: float,
                  instances: list[dict[str, str]]) -> dict[str, Any]:
    samples = [{"labels": expected_labels(ctx, inst, state), "value": 1} for inst in instances]
    return {
        "expr": f'ALERTS{{alertname="{ctx.alert.name}", alertstate="{state}"}}',
        "eval_time": fmt_duration(t),
        "exp_samples": samples,
    }


def _steps(ctx: Context, seconds: float) -> int:
    return int(seconds // ctx.interval)


def _round_up(ctx: Context, seconds: float) -> float:
    e = ctx.eval_interval
    return -(-seconds // e) * e


def _round_down(ctx: Context, seconds: float) -> float:
    e = ctx.eval_interval
    return (seconds // e) * e


@dataclass(frozen=True)
class Plan:
    """The times of an alert's generated cases (seconds)."""

    t_on: float  # first evaluation at which a bad signal violates the condition
    fire: float  # evaluation at which it has been violated longer than `for`
    pending: float  # violated for less than `for` (= t_on when `for` is 0)
    recover: float  # first sample of the recovered signal in the resolve case
    resolved: float  # evaluation at which the recovered alert is no longer firing
    end: float  # last evaluation of any case


def plan(ctx: Context) -> Plan:
    timing = ctx.timing
    pad = 2 * ctx.eval_interval
    hold = m.duration_seconds(ctx.alert.for_)
    t_on = _round_up(ctx, timing.first)
    fire = t_on + _round_up(ctx, hold) + pad
    pending = t_on + _round_down(ctx, hold / 2) if hold else t_on
    recover = fire + ctx.interval
    resolved = _round_up(ctx, recover + timing.settle) + pad
    return Plan(t_on, fire, pending, recover, resolved, resolved)


def _timeline(ctx: Context, p: Plan, level_before: float | None,
              parts: list[tuple[float, float | None]]) -> list[Segment]:
    """Segments: the shape's warm-up at ``level_before``, then (until, value) runs to p.end."""
    timing = ctx.timing
    segments = []
    t = 0.0
    if isinstance(ctx.alert.signal, m.BaselineSignal):
        segments.append(Segment(_steps(ctx, timing.first), level_before))
        t = _steps(ctx, timing.first) * ctx.interval
    for until, value in parts:
        n = _steps(ctx, until) - _steps(ctx, t)
        segments.append(Segment(n, value))
        t = _steps(ctx, until) * ctx.interval
    return segments


def generated_cases(ctx: Context) -> list[Case]:
    """firing, quiet, pending and resolves (plus one firing case per extra union term)."""
    if isinstance(ctx.alert.signal, m.AgeSignal):
        return _age_cases(ctx)
    p = plan(ctx)
    bad, safe = bad_value(ctx.alert), safe_value(ctx.alert)
    end = p.end + ctx.interval
    one = instance_labels(ctx, 1)
    two = instance_exists(ctx, 2)
    alert = ctx.alert.name
    baseline = 0.0 if isinstance(ctx.alert.signal, m.BaselineSignal) else None

    def series(parts: list[tuple[float, float | None]], variants: list[int] | None = None,
               instance: int = 1) -> list[Series]:
        return render_series(ctx, _timeline(ctx, p, baseline, parts), instance, variants)

    control = series([(end, safe)], instance=2) if two else []
    cases = [
        Case(alert, "firing", series([(end, bad)]) + control,
             firing_at=[(p.fire, [one])]),
        Case(alert, "quiet", series([(end, safe)], variants=_quiet_variants(ctx)) + control,
             silent_at=[p.fire]),
    ]
    if m.duration_seconds(ctx.alert.for_) > 0:
        cases.append(Case(alert, "pending", series([(end, bad)]),
                          pending_at=[(p.pending, [one])]))
    else:
        # No `for`: the alert fires at the first violating evaluation, with no pending phase.
        cases.append(Case(alert, "pending", series([(end, bad)]),
                          firing_at=[(p.pending, [one])], pending_at=[(p.pending, [])]))
    cases.append(Case(alert, "resolves", series([(p.recover, bad), (end, safe)]),
                      firing_at=[(p.fire, [one])], silent_at=[p.resolved]))
    if isinstance(ctx.alert.signal, m.GaugeSignal):
        for i, (sel, extra, _) in enumerate(_gauge_variants(ctx.alert.signal)):
            if i == 0:
                continue
            via = ", ".join(f"{k}={v}" for k, v in extra.items()) or sel.metric
            if extra and len(ctx.alert.signal.series) > 1:
                via = f"{sel.metric} {via}"
            cases.append(Case(alert, f"firing via {via}", series([(end, bad)], variants=[i]),
                              firing_at=[(p.fire, [one])]))
    return cases


def _quiet_variants(ctx: Context) -> list[int] | None:
    s = ctx.alert.signal
    if isinstance(s, m.GaugeSignal):
        return list(range(len(_gauge_variants(s))))
    return None


def _age_cases(ctx: Context) -> list[Case]:
    """An age signal grows with time: (now - start) / baseline crosses the threshold once.

    Each case places the run's start so the crossing falls where the case needs it; the
    baseline (usually a recording rule) is fed as a constant. Recovery is the run ending:
    its start timestamp series goes stale.
    """
    s = ctx.alert.signal
    assert isinstance(s, m.AgeSignal)
    if ctx.alert.comparison not in (">", ">="):
        raise AlertTestError("an age signal only grows; only > and >= alerts can be derived")
    p = plan(ctx)
    thr, safe = ctx.alert.threshold, safe_value(ctx.alert)
    # The baseline duration: long enough that a run started at 0 stays under half the
    # threshold until the last evaluation (the "young run" control).
    hours = max(1, -(-2 * p.end // (max(thr, 0.1) * 3600)))
    base = 3600 * hours if s.baseline is not None else 1  # no baseline: the age in seconds
    alert = ctx.alert.name
    n = _steps(ctx, p.end) + 2
    run = {b: f"{b.replace('_', '-')}-1" for b in s.by}
    other = {**run, **{b: f"{b.replace('_', '-')}-2" for b in s.by if b not in s.match_on}}
    shared = {b: run[b] for b in s.match_on}

    def start_series(labels: dict[str, str], start: float, samples: int,
                     stale: bool = False) -> Series:
        sel_labels = {**labels, **_selector_labels(s.start_timestamp)}
        series = _series(ctx, s.start_timestamp.metric, sel_labels)
        series.hold(start, samples)
        if stale:
            series.stale()
        return series

    def baseline() -> list[Series]:
        if s.baseline is None:
            return []
        series = _series(ctx, s.baseline.metric, {**shared, **_selector_labels(s.baseline)})
        series.hold(base, n)
        return [series]

    def crossing_at(t: float) -> float:
        """Start time whose age crosses the threshold at t."""
        return t - thr * base

    # A second run of the same pipeline, started at 0: stays young, never alerts.
    young = s.baseline is not None or 2 * p.end < thr  # a run started at 0 stays young
    control = [start_series(other, 0, n)] if other != run and young else []
    quiet_start = p.fire - safe * base
    # crossing one evaluation before t_on: strictly above the threshold from t_on on
    fire_start = crossing_at(p.t_on - ctx.eval_interval)
    return [
        Case(alert, "firing", [start_series(run, fire_start, n), *baseline(), *control],
             firing_at=[(p.fire, [run])]),
        Case(alert, "quiet", [start_series(run, quiet_start, n), *baseline(), *control],
             silent_at=[p.fire]),
        Case(alert, "pending", [start_series(run, fire_start, n), *baseline()],
             **({"pending_at": [(p.pending, [run])]} if m.duration_seconds(ctx.alert.for_)
                else {"firing_at": [(p.pending, [run])], "pending_at": [(p.pending, [])]})),
        Case(alert, "resolves",
             [start_series(run, fire_start, _steps(ctx, p.recover), stale=True), *baseline()],
             firing_at=[(p.fire, [run])], silent_at=[p.resolved]),
    ]


def spec_case(ctx: Context, case: m.AlertTestCase) -> dict[str, Any]:
    """A case written in the spec: its series as given; checks whether the alert fires."""
    firing = (f'clamp_max(count(ALERTS{{alertname="{ctx.alert.name}", alertstate="firing"}}), 1)'
              " or vector(0)")
    return {
        "name": f"{ctx.alert.name}: {case.name}",
        "interval": case.interval,
        "input_series": [{"series": s.series, "values": s.values} for s in case.input_series],
        "promql_expr_test": [{
            "expr": firing,
            "eval_time": case.eval_time,
            "exp_samples": [{"labels": "{}", "value": 1 if case.firing else 0}],
        }],
    }


# ------------------------------------------------------------------------------ files


def evaluation_interval(d: m.Dashboard) -> str:
    """The test file's evaluation interval: the dashboard's shortest rule group interval.

    promtool evaluates every group of the file at this interval (it ignores group intervals),
    so the shortest keeps the 1m groups exact; 5m groups are evaluated more often than in
    production, which does not change when a condition holds for `for`.
    """
    intervals = [a.interval for a in d.alerts] + [r.interval for r in d.recording_rules]
    return min(intervals, key=m.duration_seconds)


def test_file(d: m.Dashboard, catalogue: m.MetricCatalogue) -> dict[str, Any] | None:
    """The ``promtool test rules`` file of a dashboard's alerts, or None without alerts."""
    if not d.alerts:
        return None
    eval_interval = evaluation_interval(d)
    metrics = {md.name: md for md in catalogue.metrics}
    tests: list[dict[str, Any]] = []
    for index, alert in enumerate(d.alerts):
        ctx = Context(d, alert, metrics, interval=int(m.duration_seconds(eval_interval)),
                      eval_interval=int(m.duration_seconds(eval_interval)))
        try:
            if alert.signal.shape != "raw":  # a raw alert: the user's own cases only
                tests += [case.render(ctx) for case in generated_cases(ctx)]
        except AlertTestError as exc:
            exc.alert_index = index  # type: ignore[attr-defined]
            raise
        tests += [spec_case(ctx, c) for c in alert.tests]
    if not tests:
        return None
    # both paths are inside the output: rooted at "/", relpath needs no current folder
    rule_file = posixpath.relpath("/" + cv.rule_file_path(d.uid),
                                  posixpath.dirname("/" + cv.alert_test_path(d.uid)))
    return {
        "rule_files": [rule_file],
        "evaluation_interval": eval_interval,
        "tests": tests,
    }


def case_names(test_file_data: dict[str, Any]) -> list[tuple[str, str]]:
    """(alert, case) of every test group, from the ``Alert: case`` names."""
    out = []
    for group in test_file_data.get("tests", []):
        alert, _, case = str(group.get("name", "")).partition(": ")
        out.append((alert, case))
    return out
