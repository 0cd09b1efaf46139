"""The hand-made situations of ``mlops-dash simulate`` (issue 14), checked offline: what each
states, and that their series behave in time as the exporters they model (the real Prometheus
and Alertmanager run them in tests/test_e2e_situations.py)."""

from __future__ import annotations

import io

import pytest
import yaml
from conftest import GENERATED

from mlops_dash import simulate as sim
from mlops_dash.simulate.tracks import D, H

ANCHOR = 1_800_000_000.0
SITUATIONS = sim.situations(ANCHOR)
ALERTS = {r["alert"] for f in (GENERATED / "prometheus").glob("*.rules.yaml")
          for g in yaml.safe_load(f.read_text(encoding="utf-8"))["groups"] for r in g["rules"]
          if "alert" in r}


def history(name: str) -> dict[str, list[tuple[int, float]]]:
    out = io.StringIO()
    SITUATIONS[name].write_history(out, ANCHOR)
    series: dict[str, list[tuple[int, float]]] = {}
    for line in out.getvalue().splitlines():
        key, value, stamp = line.rsplit(" ", 2)
        series.setdefault(key, []).append((int(stamp), float(value)))
    return series


def live(name: str, t: float = ANCHOR) -> str:
    return SITUATIONS[name].exposition(t)


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_a_situation_says_what_fires_what_stays_quiet_and_why(name):
    s = SITUATIONS[name]
    assert s.summary and s.source and s.quiet, name
    assert s.fires or name == "estate"  # the estate is healthy: nothing may fire
    for e in [*s.fires, *s.quiet]:
        assert e.alert in ALERTS, f"{name}: {e.alert} is not a shipped alert"
        assert e.labels and e.why


def test_situations_never_share_a_series():
    """They run in one Prometheus at once, so each has its own label values."""
    seen: dict[str, str] = {}
    for name, s in SITUATIONS.items():
        for tr in s.tracks:
            key = tr.text()
            assert key not in seen, f"{key} in {seen.get(key)} and {name}"
            seen[key] = name


def test_a_new_kill_is_live_only_an_old_one_is_in_the_history():
    past = history("resource-events")
    assert not any("sim-step-oom-now" in k for k in past)
    old = [v for k, v in past.items() if "sim-step-oom-3d-ago" in k][0]
    assert old[0][0] <= ANCHOR - 3 * D + 240 and {x for _, x in old} == {1.0}  # kept for days
    assert 'pod="sim-step-oom-now"' in live("resource-events")


def test_a_new_pipeline_counter_first_appears_at_one():
    past = history("pipeline-first-failure")
    assert not any("sim-new-pipeline" in k for k in past)
    assert 'pipeline="sim-new-pipeline",status="failed",job="mlops-exporter",' \
           'instance="mlops-exporter:9210"} 1\n' in live("pipeline-first-failure")


def test_the_error_budget_sli_has_a_15_minute_gap():
    gappy = [v for k, v in history("error-budget-gap").items() if "sim-gappy-model" in k][0]
    stamps = [t for t, _ in gappy]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b - a > 240]
    assert gaps and all(b >= 900 for b in gaps) and len(gaps) == 1
    assert stamps[0] <= ANCHOR - 48 * H  # history back past the 48h window


def test_a_weekly_pipeline_has_no_finished_run_in_the_last_seven_days():
    past = history("pipeline-weekly-stuck")
    count = [v for k, v in past.items()
             if k.startswith("mlops_pipeline_run_duration_seconds_count{")
             and "sim-weekly-retrain" in k][0]
    week = [x for t, x in count if t >= ANCHOR - 7 * D]
    assert week[-1] - week[0] == 0  # last week's run finished 8 days ago: none in 7 days
    assert count[-1][1] - count[0][1] == 1 and count[0][0] <= ANCHOR - 8 * D


def test_a_stopped_producer_keeps_its_last_values():
    """The Pushgateway serves the last push forever: values and push_time_seconds freeze."""
    text = live("producer-stopped", ANCHOR + 3600)
    stamps = {ln.split("{")[0]: float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
              if 'job="sim-drift-stopped"' in ln and "timestamp" in ln or
              ln.startswith('push_time_seconds{job="sim-drift-stopped"')}
    assert set(stamps.values()) == {ANCHOR - 4 * H}


def test_the_late_third_drift_check_follows_two_breaching_checks():
    checks = [v for k, v in history("drift-late-check").items()
              if k.startswith("mlops_drift_check_last_success_timestamp_seconds")
              and "sim-drift-third-late" in k][0]
    landed = sorted({x for _, x in checks})
    assert [ANCHOR - t for t in landed] == [6 * H, 5 * H, 4 * H, 600]  # the third 4h late
