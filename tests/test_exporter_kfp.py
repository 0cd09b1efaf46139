"""The Kubeflow Pipelines source against the v2beta1 replay (tests/kfp_replay.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from exporter_support import series, v, values
from kfp_replay import KfpReplay, validate

from mlops_dash.collect.kfp import KfpCollector
from mlops_dash.collect.source import SourceError
from mlops_dash.collect.state import StateFile
from mlops_dash.spec.collectors_exporter import KfpSource

NOW = 1_790_000_000.0  # server time; the exporter never compares it with its own clock
COMPONENTS = {"ingestion": ["ingest-*"], "training": ["train-model"],
              "evaluation": ["evaluate"], "registration": ["register-model"]}


@pytest.fixture()
def kfp():
    server = KfpReplay().start()
    server.add_pipeline("p-1", "demand-forecast")
    server.add_pipeline("p-2", "churn")
    yield server
    server.stop()


def collector(server: KfpReplay, tmp_path: Path, **spec) -> KfpCollector:
    cfg = {"url": server.url, "timeout": "2s", "page_size": 2, "components": COMPONENTS,
           "finish_overlap": "10m", "duration_buckets": [60, 600, 3600], **spec}
    return KfpCollector(KfpSource(**cfg), StateFile(tmp_path / "state.json"))


def vals(c: KfpCollector):
    return values(c.families())


def runs(c, pipeline, status):
    return v(vals(c), "mlops_pipeline_runs_total", pipeline=pipeline, status=status)


def test_fixtures_follow_the_swagger(kfp):
    run = kfp.add_run("r-x", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-1")
    validate(run, "v2beta1Run")
    bad = dict(run, finished="yesterday")  # a field the API does not have
    with pytest.raises(Exception, match="Additional properties"):
        validate(bad, "v2beta1Run")
    with pytest.raises(Exception, match="is not one of"):
        validate(dict(run, state="DONE"), "v2beta1Run")


def test_first_poll_counts_no_history_but_creates_series_at_zero(kfp, tmp_path):
    for i in range(5):
        kfp.add_run(f"old-{i}", "FAILED", NOW - 3600 - i, NOW - 3000 - i, pipeline_id="p-1",
                    tasks={"train-model": "FAILED"})
    c = collector(kfp, tmp_path)
    c.poll()
    assert runs(c, "demand-forecast", "failed") == 0
    assert runs(c, "demand-forecast", "succeeded") == 0
    for comp in COMPONENTS:
        assert v(vals(c), "mlops_pipeline_component_failures_total",
                 pipeline="demand-forecast", component=comp) == 0
    assert v(vals(c), "mlops_pipeline_run_duration_seconds_count",
             pipeline="demand-forecast") == 0
    # then a new failure counts, once, across pages
    kfp.add_run("new-1", "FAILED", NOW, NOW + 120, pipeline_id="p-1",
                tasks={"ingest-sales": "SUCCEEDED", "train-model": "FAILED"})
    c.poll()
    c.poll()
    assert runs(c, "demand-forecast", "failed") == 1
    assert v(vals(c), "mlops_pipeline_component_failures_total",
             pipeline="demand-forecast", component="training") == 1
    assert v(vals(c), "mlops_pipeline_component_failures_total",
             pipeline="demand-forecast", component="ingestion") == 0


def test_pagination_and_every_state(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    states = ["PENDING", "RUNNING", "SUCCEEDED", "SKIPPED", "FAILED", "CANCELING", "CANCELED",
              "PAUSED", "RUNTIME_STATE_UNSPECIFIED"]
    for i, s in enumerate(states):
        finished = NOW + 100 + i if s in ("SUCCEEDED", "SKIPPED", "FAILED", "CANCELED") else None
        kfp.add_run(f"r-{i}", s, NOW + i, finished, pipeline_id="p-2",
                    tasks={"evaluate": "FAILED" if s == "FAILED" else "SUCCEEDED"})
    kfp.requests.clear()
    c.poll()
    pages = [r for r in kfp.requests if "page_token=" in r]
    assert pages, "page_size 2 must page through next_page_token"
    assert runs(c, "churn", "succeeded") == 2  # SUCCEEDED + SKIPPED
    assert runs(c, "churn", "failed") == 1
    assert set(series(vals(c), "mlops_pipeline_runs_total")) == {
        (("pipeline", p), ("status", s)) for p in ("churn",) for s in ("failed", "succeeded")}
    # SKIPPED is not a duration: only SUCCEEDED and FAILED are observed
    assert v(vals(c), "mlops_pipeline_run_duration_seconds_count", pipeline="churn") == 2
    started = series(vals(c), "mlops_pipeline_run_start_timestamp_seconds")
    assert set(started) == {(("pipeline", "churn"), ("run_id", "r-0")),
                            (("pipeline", "churn"), ("run_id", "r-1"))}
    assert started[(("pipeline", "churn"), ("run_id", "r-1"))] == NOW + 1
    assert v(vals(c), "mlops_pipeline_component_failures_total", pipeline="churn",
             component="evaluation") == 1


def test_state_changes_between_polls_count_once(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("a", "RUNNING", NOW, pipeline_id="p-1")
    kfp.add_run("b", "PENDING", NOW, pipeline_id="p-1")
    c.poll()
    assert len(series(vals(c), "mlops_pipeline_run_start_timestamp_seconds")) == 2
    kfp.set_state("a", "SUCCEEDED", NOW + 700)
    kfp.set_state("b", "FAILED", NOW + 30, tasks={"register-model": "FAILED"})  # PENDING→RUNNING→FAILED
    c.poll()
    c.poll()
    assert runs(c, "demand-forecast", "succeeded") == 1
    assert runs(c, "demand-forecast", "failed") == 1
    assert series(vals(c), "mlops_pipeline_run_start_timestamp_seconds") == {}
    h = vals(c)
    assert v(h, "mlops_pipeline_run_duration_seconds_bucket", pipeline="demand-forecast",
             le="60.0") == 1
    assert v(h, "mlops_pipeline_run_duration_seconds_bucket", pipeline="demand-forecast",
             le="3600.0") == 2
    assert v(h, "mlops_pipeline_run_duration_seconds_sum", pipeline="demand-forecast") == 730
    assert v(h, "mlops_pipeline_component_failures_total", pipeline="demand-forecast",
             component="registration") == 1


def test_argo_nodes_and_unmapped_tasks_are_not_components(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    run = kfp.add_run("f", "FAILED", NOW, NOW + 10, pipeline_id="p-1",
                      tasks={"train-model": "FAILED", "notify-slack": "FAILED"})
    names = {t["display_name"] for t in run["run_details"]["task_details"]
             if t["state"] == "FAILED"}
    assert {"root", "executor", "wf-f", "train-model", "notify-slack"} <= names
    c.poll()
    fails = series(vals(c), "mlops_pipeline_component_failures_total")
    assert sum(fails.values()) == 1
    assert fails[(("component", "training"), ("pipeline", "demand-forecast"))] == 1


def test_failed_run_without_details_is_fetched(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("nd", "FAILED", NOW, NOW + 10, pipeline_id="p-1",
                tasks={"evaluate": "FAILED"})
    listed = dict(kfp.runs["nd"])
    del listed["run_details"]
    full = kfp.runs["nd"]
    kfp.runs["nd"] = listed
    kfp.before_request = lambda path, _p: kfp.runs.__setitem__("nd", full) \
        if path.endswith("/runs/nd") else None
    c.poll()
    assert v(vals(c), "mlops_pipeline_component_failures_total", pipeline="demand-forecast",
             component="evaluation") == 1


def test_pipeline_names_inline_spec_and_deleted_pipelines(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("i", "SUCCEEDED", NOW, NOW + 5, inline_name="adhoc-backfill",
                tasks={"ingest-x": "SUCCEEDED"})
    kfp.add_run("k", "SUCCEEDED", NOW, NOW + 6, pipeline_id="p-1")
    # p-2 is deleted while the poll runs, before its name was ever fetched
    kfp.add_run("d", "SUCCEEDED", NOW, NOW + 7, pipeline_id="p-2")
    kfp.before_request = lambda path, _p: kfp.pipelines.pop("p-2", None)
    c.poll()
    assert runs(c, "adhoc-backfill", "succeeded") == 1
    assert runs(c, "demand-forecast", "succeeded") == 1
    assert runs(c, "p-2", "succeeded") == 1
    # a pipeline deleted after its name was seen keeps its name
    kfp.before_request = None
    kfp.pipelines.pop("p-1")
    kfp.add_run("k2", "FAILED", NOW, NOW + 8, pipeline_id="p-1")
    c.poll()
    assert runs(c, "demand-forecast", "failed") == 1


def test_pipeline_selection(kfp, tmp_path):
    c = collector(kfp, tmp_path, pipelines=["churn"])
    c.poll()
    kfp.add_run("s1", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-1")
    kfp.add_run("s2", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-2")
    c.poll()
    assert {dict(k)["pipeline"] for k in series(vals(c), "mlops_pipeline_runs_total")} \
        == {"churn"}


def test_restart_neither_recounts_nor_misses(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("x1", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-1")
    kfp.add_run("x2", "RUNNING", NOW, pipeline_id="p-1")
    c.poll()
    assert runs(c, "demand-forecast", "succeeded") == 1
    c.close()
    # while the exporter is away: x2 finishes, a new run finishes
    kfp.set_state("x2", "SUCCEEDED", NOW + 50)
    kfp.add_run("x3", "FAILED", NOW, NOW + 60, pipeline_id="p-1")
    again = collector(kfp, tmp_path)
    again.poll()
    assert runs(again, "demand-forecast", "succeeded") == 1  # x2 only; x1 not recounted
    assert runs(again, "demand-forecast", "failed") == 1


def test_run_recorded_late_behind_the_mark_is_counted_by_the_recheck(kfp, tmp_path):
    c = collector(kfp, tmp_path, finish_overlap="1m")
    c.poll()
    kfp.add_run("long", "RUNNING", NOW - 86400, pipeline_id="p-1")
    kfp.add_run("later", "SUCCEEDED", NOW, NOW + 3600, pipeline_id="p-1")
    c.poll()
    # "long" finished an hour before the mark but is recorded only now
    kfp.set_state("long", "FAILED", NOW)
    c.poll()
    c.poll()
    assert runs(c, "demand-forecast", "failed") == 1
    assert runs(c, "demand-forecast", "succeeded") == 1


def test_deleted_running_run_is_forgotten(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("gone", "RUNNING", NOW, pipeline_id="p-1")
    c.poll()
    assert series(vals(c), "mlops_pipeline_run_start_timestamp_seconds")
    del kfp.runs["gone"]
    c.poll()
    assert series(vals(c), "mlops_pipeline_run_start_timestamp_seconds") == {}
    assert runs(c, "demand-forecast", "succeeded") == 0


def test_duplicate_rows_and_duplicate_ids_count_once(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    for i in range(5):
        kfp.add_run(f"dup-{i}", "SUCCEEDED", NOW, NOW + 10 + i, pipeline_id="p-1")
    kfp.fault = "duplicate"
    c.poll()
    c.poll()
    assert runs(c, "demand-forecast", "succeeded") == 5


def test_retried_run_counts_its_new_finish(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    kfp.add_run("re", "FAILED", NOW, NOW + 10, pipeline_id="p-1")
    c.poll()
    kfp.set_state("re", "RUNNING")
    c.poll()
    kfp.set_state("re", "SUCCEEDED", NOW + 400)
    c.poll()
    assert runs(c, "demand-forecast", "failed") == 1
    assert runs(c, "demand-forecast", "succeeded") == 1


def test_clock_skew_finished_before_created(kfp, tmp_path):
    c = collector(kfp, tmp_path)
    c.poll()
    # the API server's clock is years ahead of ours, and one run's times are inverted
    future = time.time() + 10 * 365 * 86400
    kfp.add_run("sk1", "SUCCEEDED", future, future + 30, pipeline_id="p-1")
    kfp.add_run("sk2", "SUCCEEDED", future + 500, future + 40, pipeline_id="p-1")
    c.poll()
    assert runs(c, "demand-forecast", "succeeded") == 2
    assert v(vals(c), "mlops_pipeline_run_duration_seconds_count",
             pipeline="demand-forecast") == 1


def test_multi_user_namespaces_with_service_account_token(tmp_path):
    token = tmp_path / "token"
    token.write_text("sa-token-1\n")
    server = KfpReplay(token="sa-token-1", multi_user=True).start()
    try:
        server.add_pipeline("p-1", "demand-forecast")
        c = collector(server, tmp_path, namespaces=["team-a", "team-b"],
                      token_file=str(token))
        c.poll()
        server.add_run("a1", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-1", namespace="team-a")
        server.add_run("b1", "FAILED", NOW, NOW + 5, pipeline_id="p-1", namespace="team-b")
        server.add_run("c1", "FAILED", NOW, NOW + 5, pipeline_id="p-1", namespace="team-c")
        c.poll()
        assert runs(c, "demand-forecast", "succeeded") == 1
        assert runs(c, "demand-forecast", "failed") == 1
        assert all("namespace=team-" in r for r in server.requests if "/runs?" in r)
        # the token rotates: re-read from the file; a refused token is an auth error
        token.write_text("rotated")
        with pytest.raises(SourceError) as info:
            c.poll()
        assert info.value.kind == "auth"
        server.token = "rotated"
        c.poll()
    finally:
        server.stop()


def test_single_user_client_against_multi_user_server_says_why(tmp_path):
    server = KfpReplay(multi_user=True).start()
    try:
        c = collector(server, tmp_path)
        with pytest.raises(SourceError) as info:
            c.poll()
        assert info.value.kind == "http_4xx"
        assert "must specify a namespace" in info.value.reason
    finally:
        server.stop()
