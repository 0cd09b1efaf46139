"""Situations: hand-made series shaped as the real exporters expose them, each stating which
alerts must fire and which must stay quiet (issue 14's "How to prove it").

Unlike the derived per-alert scenarios (``derive.py``), a situation is written from the
exporter's documented behaviour, not from the rule: a terminated pod whose series stays for
days, a counter that first appears at 1, a weekly pipeline, a scrape gap, a late check, a
producer that stops pushing, and a realistic healthy estate around the platform's namespaces.
Every situation uses its own label values (``sim-…`` pods, pipelines, models, jobs), so all of
them can run in one Prometheus at once. Times are seconds from the anchor ("now"); a change at
``NEW`` (30 s before the anchor) is after the backfilled history (which ends two minutes
before the anchor), so the live scrapes see it happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from mlops_dash.simulate.tracks import (
    D,
    H,
    Track,
    at_events,
    events,
    exposition,
    histogram,
    last_event,
    level,
    steps,
    track,
    write_history,
)
from mlops_dash.simulate.world import HISTORY_STEP_S

NEW = -30.0  # a new event: after the backfilled history, seen by the live scrapes
# A check 10 minutes ago: in the backfilled history, and behind a 5-minute subquery step
# (FeatureDriftDetected counts checks in a [6h:5m] subquery, so it sees a check at the first
# 5-minute boundary after it: up to 5 minutes later)
RECENT = -600.0
EXPORTER = {"job": "mlops-exporter", "instance": "mlops-exporter:9210"}  # our collector target
DURATION_BUCKETS = [60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400]  # specs/platform.yaml


@dataclass(frozen=True)
class Expect:
    """An alert (by name and the labels identifying it) and why it fires or stays quiet."""

    alert: str
    labels: dict[str, str]
    why: str

    def matches(self, alert_labels: dict[str, str]) -> bool:
        return alert_labels.get("alertname") == self.alert and all(
            alert_labels.get(k) == v for k, v in self.labels.items())

    def __str__(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.alert}{{{inner}}}"


@dataclass
class Situation:
    name: str
    summary: str
    source: str  # where the modelled behaviour is documented
    history_s: float
    tracks: list[Track]
    fires: list[Expect] = field(default_factory=list)
    quiet: list[Expect] = field(default_factory=list)

    def line(self) -> str:
        """One line for ``--list``."""
        fires = ", ".join(str(e) for e in self.fires) or "none"
        quiet = ", ".join(str(e) for e in self.quiet)
        return f"{self.name}: {self.summary}; fires: {fires}; quiet: {quiet}"

    def exposition(self, t: float) -> str:
        return exposition(self.tracks, t)

    def write_history(self, out: TextIO, anchor: float, span_s: float | None = None,
                      step_s: float = HISTORY_STEP_S,
                      target_labels: dict[str, str] | None = None) -> int:
        return write_history(out, self.tracks, anchor, span_s or self.history_s, step_s,
                             target_labels)


def resource_events(a: float) -> Situation:
    ns_p, ns_t = "kubeflow", "ml-training"
    c = "main"
    tr = [
        # kube-state-metrics keeps a terminated pod's reason until pod GC (default: past
        # 12,500 terminated pods): an OOM kill 3 days ago is still exposed, every scrape
        track("kube_pod_container_status_terminated_reason", level(a, 1, -3 * D),
              namespace=ns_p, pod="sim-step-oom-3d-ago", container=c, reason="OOMKilled"),
        track("kube_pod_status_reason", steps(a, (-3 * D, 0), (-2 * D, 1)),
              namespace=ns_t, pod="sim-evicted-2d-ago", reason="Evicted"),
        track("kube_pod_container_status_restarts_total", events(a, [-D], -3 * D),
              namespace=ns_t, pod="sim-trainer-oom-1d-ago", container=c),
        track("kube_pod_container_status_last_terminated_reason", level(a, 1, -D),
              namespace=ns_t, pod="sim-trainer-oom-1d-ago", container=c, reason="OOMKilled"),
        track("kube_pod_container_status_last_terminated_timestamp", last_event(a, [-D]),
              namespace=ns_t, pod="sim-trainer-oom-1d-ago", container=c),
        # now: a new OOM kill of a step (restartPolicy Never), a new eviction, an in-place
        # restart after an OOM kill, one after an error, and an OOM kill in kube-system
        track("kube_pod_container_status_terminated_reason", level(a, 1, NEW),
              namespace=ns_p, pod="sim-step-oom-now", container=c, reason="OOMKilled"),
        track("kube_pod_status_reason", steps(a, (-3 * D, 0), (NEW, 1)),
              namespace=ns_t, pod="sim-evicted-now", reason="Evicted"),
        track("kube_pod_container_status_terminated_reason", level(a, 1, NEW),
              namespace="kube-system", pod="sim-coredns-oom-now", container="coredns",
              reason="OOMKilled"),
    ]
    for pod, reason in (("sim-trainer-oom-now", "OOMKilled"), ("sim-trainer-error-now", "Error")):
        tr += [
            track("kube_pod_container_status_restarts_total", events(a, [NEW], -3 * D),
                  namespace=ns_t, pod=pod, container=c),
            track("kube_pod_container_status_last_terminated_reason", level(a, 1, NEW),
                  namespace=ns_t, pod=pod, container=c, reason=reason),
            track("kube_pod_container_status_last_terminated_timestamp", last_event(a, [NEW]),
                  namespace=ns_t, pod=pod, container=c),
        ]
    ra = "ResourceExhaustion"
    return Situation(
        "resource-events", "terminated pods kept for days vs a new OOM kill, a new eviction, "
        "an in-place restart after an OOM kill",
        "kubernetes/kube-state-metrics docs/pod-metrics.md; kubernetes "
        "pkg/controller/podgc (--terminated-pod-gc-threshold 12500)", 3 * D, tr,
        fires=[Expect(ra, {"namespace": ns_p, "pod": "sim-step-oom-now"}, "a new OOM kill"),
               Expect(ra, {"namespace": ns_t, "pod": "sim-evicted-now"}, "a new eviction"),
               Expect(ra, {"namespace": ns_t, "pod": "sim-trainer-oom-now"},
                      "restarted in place after an OOM kill")],
        quiet=[Expect(ra, {"pod": "sim-step-oom-3d-ago"}, "killed 3 days ago, series kept"),
               Expect(ra, {"pod": "sim-evicted-2d-ago"}, "evicted 2 days ago"),
               Expect(ra, {"pod": "sim-trainer-oom-1d-ago"}, "restarted a day ago"),
               Expect(ra, {"pod": "sim-trainer-error-now"}, "restarted after an error"),
               Expect(ra, {"pod": "sim-coredns-oom-now"}, "kube-system is not ours")])


def pipeline_first_failure(a: float) -> Situation:
    name = "mlops_pipeline_runs_total"
    hourly = [-12 * H + i * H for i in range(13)]
    tr = [
        track("up", level(a, 1), **EXPORTER),  # the collector was scraped all along
        # a new pipeline: the collector sees it once its first run finished (and failed)
        track(name, level(a, 1, NEW), pipeline="sim-new-pipeline", status="failed", **EXPORTER),
        track(name, level(a, 1, NEW), pipeline="sim-new-ok-pipeline", status="succeeded",
              **EXPORTER),
        # an old pipeline whose one failure was a day ago: the counter stays at 1
        track(name, level(a, 1), pipeline="sim-old-failure", status="failed", **EXPORTER),
        track(name, events(a, hourly, base=40), pipeline="sim-old-failure",
              status="succeeded", **EXPORTER),
    ]
    pf = "PipelineFailureRate"
    return Situation(
        "pipeline-first-failure", "a counter that first appears at 1: the first (failed) run "
        "of a new pipeline", "prometheus docs: rate()/increase() need two samples of a series "
        "(querying/functions); a collector exposes a pipeline after its first run", 13 * H, tr,
        fires=[Expect(pf, {"pipeline": "sim-new-pipeline"}, "first run failed (appears at 1)")],
        quiet=[Expect(pf, {"pipeline": "sim-new-ok-pipeline"}, "first run succeeded"),
               Expect(pf, {"pipeline": "sim-old-failure"}, "its failure is a day old")])


def pipeline_weekly_stuck(a: float) -> Situation:
    tr: list[Track] = []
    for p in ("sim-weekly-retrain", "sim-weekly-features"):
        # one run a week, 50 minutes each: last week's started 8 days ago (a week before this
        # week's) and finished 50 minutes later, outside a 7-day increase()
        tr += histogram(a, "mlops_pipeline_run_duration_seconds", DURATION_BUCKETS,
                        [(-8 * D + 3000, 3000.0)], before=3, before_duration=3000.0,
                        pipeline=p, **EXPORTER)
    tr += [
        track("mlops_pipeline_run_start_timestamp_seconds", level(a, a - D, -D),
              pipeline="sim-weekly-retrain", run_id="sim-run-stuck-1d", **EXPORTER),
        track("mlops_pipeline_run_start_timestamp_seconds", level(a, a - 1800, -1800),
              pipeline="sim-weekly-features", run_id="sim-run-30m", **EXPORTER),
    ]
    ps = "PipelineStuck"
    return Situation(
        "pipeline-weekly-stuck", "one run a week; this week's run stuck for a day",
        "prometheus docs (querying/functions): increase() over 7d holds no run of a weekly "
        "pipeline whose last run finished 8 days ago", 9 * D, tr,
        fires=[Expect(ps, {"pipeline": "sim-weekly-retrain"}, "running 1d, p95 ~1h")],
        quiet=[Expect(ps, {"pipeline": "sim-weekly-features"}, "running 30m, p95 ~1h")])


def error_budget_gap(a: float) -> Situation:
    acc = "mlops_model_accuracy_ratio"
    tr = [
        # below the SLO for 50h, with a 15-minute scrape gap 30h ago (no samples, > 5m lookback)
        track(acc, level(a, 0.985, -50 * H, gaps=[(-30 * H, -30 * H + 900)]),
              model="sim-gappy-model", version="v1", **EXPORTER),
        track(acc, level(a, 0.97, -10 * H), model="sim-young-model", version="v1", **EXPORTER),
        track(acc, steps(a, (-50 * H, 0.985), (-20 * H, 0.995), (-19 * H, 0.985)),
              model="sim-recovered-model", version="v1", **EXPORTER),
    ]
    ee, bt = "ErrorBudgetExhausted", "ModelAccuracyBudgetBurnTicket"
    return Situation(
        "error-budget-gap", "48h below the SLO with a 15-minute scrape gap; a model deployed "
        "10h ago; one back above the SLO for an hour",
        "prometheus docs: --query.lookback-delta 5m, for-state restore only within "
        "--rules.alert.for-outage-tolerance (1h)", 50 * H, tr,
        fires=[Expect(ee, {"model": "sim-gappy-model"}, "48h below, the gap does not reset it"),
               *(Expect(bt, {"model": m}, "the accuracy SLO's budget burns (1.5-3x)")
                 for m in ("sim-gappy-model", "sim-young-model", "sim-recovered-model"))],
        quiet=[Expect(ee, {"model": "sim-young-model"}, "deployed 10h ago"),
               Expect(ee, {"model": "sim-recovered-model"}, "above the SLO 20h ago")])


def _drift_group(a: float, job: str, model: str, checks: list[tuple[float, float]]
                 ) -> list[Track]:
    """One drift checker's Pushgateway group: score, last-success timestamp, push time."""
    times = [t for t, _ in checks]
    return [
        track("mlops_feature_drift_score", at_events(a, checks), model=model, feature="amount",
              method="psi", job=job),
        track("mlops_drift_check_last_success_timestamp_seconds", last_event(a, times), job=job),
        track("push_time_seconds", last_event(a, times), job=job),
    ]


def drift_late_check(a: float) -> Situation:
    tr = _drift_group(a, "sim-drift-third-late", "sim-drift-model-a",
                      [(-6 * H, 0.1), (-5 * H, 0.3), (-4 * H, 0.3), (RECENT, 0.3)])
    tr += _drift_group(a, "sim-drift-two-checks", "sim-drift-model-b",
                       [(-6 * H, 0.1), (-3 * H, 0.3), (-2 * H, 0.3)])
    fd = "FeatureDriftDetected"
    return Situation(
        "drift-late-check", "hourly drift checks, PSI above 0.2: the third breaching check "
        "4 hours late (10 minutes ago) vs only two so far",
        "prometheus/pushgateway README: the last push is served until the next one", 7 * H, tr,
        fires=[Expect(fd, {"model": "sim-drift-model-a"}, "third breaching check, late")],
        quiet=[Expect(fd, {"model": "sim-drift-model-b"}, "two breaching checks (3h ago)")])


def producer_stopped(a: float) -> Situation:
    tr = _drift_group(a, "sim-drift-stopped", "sim-drift-model-c",
                      [(-8 * H + i * H, 0.05) for i in range(5)])  # last push 4h ago
    tr += _drift_group(a, "sim-drift-hourly", "sim-drift-model-d",
                       [(-8 * H + i * H, 0.05) for i in range(8)])  # last push 1h ago
    for job, ds, last in (("sim-validation-stopped", "sim-orders-db", -30 * H),
                          ("sim-validation-daily", "sim-events-db", -20 * H)):
        g = {"datasource": ds, "suite": "schema", "job": job}
        tr += [track("mlops_data_validation_last_run_records", level(a, 10000, last), **g),
               track("mlops_data_validation_last_run_failed_records", level(a, 12, last), **g),
               track("mlops_data_validation_last_run_timestamp_seconds",
                     last_event(a, [last]), **g),
               track("push_time_seconds", last_event(a, [last]), job=job)]
    for source, up, last in (("sim-mlflow", 0, -4 * H), ("sim-kfp", 1, -120)):
        tr += [track("mlops_exporter_source_up", steps(a, (-31 * H, 1), (-4 * H, up)),
                     source=source, **EXPORTER),
               track("mlops_exporter_source_last_success_timestamp_seconds",
                     _polls(a, last), source=source, **EXPORTER)]
    tr.append(track("up", steps(a, (-31 * H, 1), (-H, 0)), job="sim-dead-exporter",
                    instance="10.0.0.9:9100"))
    tr.append(track("up", level(a, 1), job="sim-live-exporter", instance="10.0.0.8:9100"))
    return Situation(
        "producer-stopped", "a drift checker, a validation job and an exporter source stop; "
        "their last values stay (the Pushgateway never expires series)",
        "prometheus/pushgateway README (a metrics cache, not an aggregator); "
        "prometheus.io/docs/practices/pushing (it never forgets series pushed to it)", 31 * H,
        tr,
        fires=[Expect("DriftCheckStale", {"job": "sim-drift-stopped"}, "last check 4h ago"),
               Expect("DataValidationStale", {"datasource": "sim-orders-db"}, "30h ago"),
               Expect("PushgatewayGroupStale", {"job": "sim-validation-stopped"}, "30h ago"),
               Expect("ExporterSourceStale", {"source": "sim-mlflow"}, "last poll 4h ago"),
               Expect("ExporterSourceDown", {"source": "sim-mlflow"}, "its polls fail"),
               Expect("ScrapeTargetDown", {"job": "sim-dead-exporter"}, "up 0 for 1h")],
        quiet=[Expect("DriftCheckStale", {"job": "sim-drift-hourly"}, "checked 1h ago"),
               Expect("PushgatewayGroupStale", {"job": "sim-drift-stopped"}, "4h < 26h"),
               Expect("DataValidationStale", {"datasource": "sim-events-db"}, "daily, 20h ago"),
               Expect("PushgatewayGroupStale", {"job": "sim-validation-daily"}, "20h ago"),
               Expect("DataQualityFailure", {"datasource": "sim-orders-db"}, "0.12% failed"),
               Expect("FeatureDriftDetected", {"model": "sim-drift-model-c"}, "frozen, low"),
               Expect("ExporterSourceStale", {"source": "sim-kfp"}, "polled 2m ago"),
               Expect("ExporterSourceDown", {"source": "sim-kfp"}, "up"),
               Expect("ScrapeTargetDown", {"job": "sim-live-exporter"}, "up")])


def _polls(a: float, last: float) -> Callable[[float], float | None]:
    """A 5-minute poll loop's last-success timestamp, stopping at ``last`` (from the anchor)."""
    def at(t: float) -> float | None:
        rel = min(t - a, last)
        return float(int(a + rel - (rel % 300)))
    return at


SITUATIONS = [resource_events, pipeline_first_failure, pipeline_weekly_stuck, error_budget_gap,
              drift_late_check, producer_stopped]


def situations(anchor: float) -> dict[str, Situation]:
    """Every situation (and the healthy estate, ``estate.py``) around ``anchor``."""
    from mlops_dash.simulate.estate import healthy_estate

    out = [f(anchor) for f in SITUATIONS] + [healthy_estate(anchor)]
    return {s.name: s for s in out}
