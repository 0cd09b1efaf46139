"""The exporter core with fake sources, the KFP source's faults through it, and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import e2e_support as es
import pytest
import yaml
from conftest import ROOT
from exporter_support import parse_exposition, series, v
from kfp_replay import KfpReplay
from prometheus_client.core import GaugeMetricFamily

from mlops_dash.collect.exporter import Exporter
from mlops_dash.collect.kfp import KfpCollector
from mlops_dash.collect.source import SourceError
from mlops_dash.collect.state import StateFile
from mlops_dash.spec.collectors_exporter import KfpSource

NOW = 1_790_000_000.0


class Fake:
    def __init__(self, name: str, fail: Exception | None = None) -> None:
        self.name = name
        self.interval_s = 0.05
        self.timeout_s = 1
        self.fail = fail
        self.polls = 0

    def poll(self) -> None:
        self.polls += 1
        if self.fail:
            raise self.fail

    def families(self):
        g = GaugeMetricFamily(f"fake_{self.name.replace('-', '_')}_polls", "polls")
        g.add_metric([], self.polls)
        return [g]

    def close(self) -> None:
        pass


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        return r.read()


def test_a_failing_source_never_stops_or_empties_the_others():
    ok = Fake("mlflow")
    down = Fake("kfp", SourceError("http_5xx", "KFP API: HTTP 503: upstream connect error"))
    buggy = Fake("s3", ZeroDivisionError("a bug"))
    exp = Exporter([ok, down, buggy], backoff_max_s=0.2)
    server = exp.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    exp.start()
    try:
        es.wait_for("a few polls", lambda: ok.polls > 3 and down.polls > 2 and buggy.polls > 2,
                    10, 0.05)
        vals = parse_exposition(scrape(url))
        assert v(vals, "mlops_exporter_source_up", source="mlflow") == 1
        assert v(vals, "mlops_exporter_source_up", source="kfp") == 0
        assert v(vals, "mlops_exporter_source_up", source="s3") == 0
        assert v(vals, "mlops_exporter_source_errors_total", source="kfp", kind="http_5xx") >= 2
        assert v(vals, "mlops_exporter_source_errors_total", source="s3", kind="other") >= 2
        assert v(vals, "mlops_exporter_source_last_success_timestamp_seconds",
                 source="kfp") == 0
        assert v(vals, "mlops_exporter_source_last_success_timestamp_seconds",
                 source="mlflow") > time.time() - 60
        assert v(vals, "fake_mlflow_polls") >= 3
        status = json.loads(urllib.request.urlopen(f"{url}/status", timeout=5).read())
        assert status["kfp"]["last_error"]["reason"].startswith("KFP API: HTTP 503")
        assert status["kfp"]["last_error"]["kind"] == "http_5xx"
        # the failing source recovers
        down.fail = None
        es.wait_for("kfp up", lambda: v(parse_exposition(scrape(url)),
                                         "mlops_exporter_source_up", source="kfp") == 1, 10)
    finally:
        server.shutdown()
        exp.stop()


def test_backoff_grows_and_is_capped():
    src = Fake("kfp", SourceError("timeout", "slow"))
    src.interval_s = 60
    exp = Exporter([src], backoff_max_s=600)
    delays = []
    for _ in range(6):
        exp.poll_once(src)
        delays.append(exp.delay(src))
    assert 54 <= delays[0] <= 66 and 108 <= delays[1] <= 132
    assert all(d <= 660 for d in delays) and delays[-1] >= 540
    src.fail = None
    exp.poll_once(src)
    assert exp.delay(src) == 60


def test_scrapes_serve_the_bytes_rendered_at_the_last_poll():
    src = Fake("kfp")
    exp = Exporter([src])
    exp.poll_once(src)
    server = exp.serve("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        renders = exp.renders
        bodies = {scrape(url) for _ in range(20)}
        assert len(bodies) == 1 and exp.renders == renders
    finally:
        server.shutdown()


@pytest.fixture()
def kfp():
    server = KfpReplay(token="good").start()
    server.add_pipeline("p-1", "demand-forecast")
    yield server
    server.stop()


def kfp_source(kfp: KfpReplay, tmp_path: Path) -> KfpCollector:
    token = tmp_path / "token"
    if not token.exists():
        token.write_text("good")
    return KfpCollector(KfpSource(url=kfp.url, timeout="1s", page_size=2,
                                  token_file=str(token),
                                  components={"training": ["train"]}),
                        StateFile(tmp_path / "state.json"))


@pytest.mark.parametrize("fault,kind", [
    ("5xx", "http_5xx"), ("slow", "timeout"), ("malformed", "malformed"),
    ("drop", "unreachable"), ("bad-token", "auth"), ("unreachable", "unreachable"),
])
def test_kfp_faults_report_down_with_reason_and_never_double_count(kfp, tmp_path, fault,
                                                                   kind):
    src = kfp_source(kfp, tmp_path)
    exp = Exporter([src])
    assert exp.poll_once(src)
    for i in range(3):
        kfp.add_run(f"r{i}", "FAILED", NOW, NOW + 10 + i, pipeline_id="p-1",
                    tasks={"train": "FAILED"})
    assert exp.poll_once(src)
    before = parse_exposition(exp.body)
    assert v(before, "mlops_pipeline_runs_total", pipeline="demand-forecast",
             status="failed") == 3
    kfp.add_run("r9", "SUCCEEDED", NOW, NOW + 50, pipeline_id="p-1")
    port = None
    if fault == "bad-token":
        (tmp_path / "token").write_text("stale")
    elif fault == "unreachable":
        port = kfp.server.server_address[1]
        kfp.stop()
    else:
        kfp.fault = fault
        kfp.slow_s = 2.5
    t0 = time.monotonic()
    assert not exp.poll_once(src)
    assert time.monotonic() - t0 < 8, "a poll must give up at the timeout"
    st = exp.status["kfp"]
    assert st.last_error["kind"] == kind, st.last_error
    assert st.last_error["reason"]
    during = parse_exposition(exp.body)
    assert v(during, "mlops_exporter_source_up", source="kfp") == 0
    assert v(during, "mlops_exporter_source_errors_total", source="kfp", kind=kind) == 1
    # last values kept while down
    assert v(during, "mlops_pipeline_runs_total", pipeline="demand-forecast",
             status="failed") == 3
    # recovery: the missed run counts once, nothing counts twice
    if fault == "bad-token":
        (tmp_path / "token").write_text("good")
    elif fault == "unreachable":
        kfp.start(port)  # back on the same port: the URL in the spec
    else:
        kfp.fault = None
    assert exp.poll_once(src)
    assert exp.poll_once(src)
    after = parse_exposition(exp.body)
    assert v(after, "mlops_pipeline_runs_total", pipeline="demand-forecast",
             status="failed") == 3
    assert v(after, "mlops_pipeline_runs_total", pipeline="demand-forecast",
             status="succeeded") == 1
    assert v(after, "mlops_pipeline_component_failures_total", pipeline="demand-forecast",
             component="training") == 3
    assert v(after, "mlops_exporter_source_up", source="kfp") == 1


def test_corrupt_state_file_is_set_aside(tmp_path):
    f = tmp_path / "state.json"
    f.write_text("{not json")
    st = StateFile(f)
    assert "unreadable" in st.problem
    assert (tmp_path / "state.json.corrupt").exists()
    st.section("kfp")["x"] = 1
    st.save()
    assert json.loads(f.read_text())["kfp"] == {"x": 1}


# --------------------------------------------------------------------------- the command


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "mlops_dash", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def platform_with(tmp_path: Path, exporter: object) -> Path:
    doc = yaml.safe_load((ROOT / "specs" / "platform.yaml").read_text())
    doc["collectors"] = {"image": "registry.company.com/ml-platform/collectors:0.1.0",
                         "exporter": exporter}
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_bad_configuration_is_a_placed_error_before_anything_starts(tmp_path):
    cfg = platform_with(tmp_path, {"kfp": {"url": "http://ml-pipeline:8888",
                                           "interval": "1 minute"}})
    r = run_cli("exporter", "--config", str(cfg))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "collectors.exporter.kfp.interval" in r.stderr
    line = [ln for ln in r.stderr.splitlines() if "interval" in ln][0]
    assert line.startswith(f"error: {cfg}:") and line[len(f"error: {cfg}:"):].split(":")[0].isdigit()
    cfg = platform_with(tmp_path, {"kfp": {"url": "http://ml-pipeline:8888",
                                           "token": "abc123secretvalue"}})
    r = run_cli("exporter", "--config", str(cfg))
    assert r.returncode == 1 and "credential" in r.stderr and "abc123" not in r.stderr


def test_the_command_serves_and_stops_cleanly(tmp_path, kfp):
    (tmp_path / "token").write_text("good")
    state = tmp_path / "state" / "state.json"
    cfg = platform_with(tmp_path, {
        "state_file": str(state),
        "kfp": {"url": kfp.url, "interval": "1s", "token_file": str(tmp_path / "token")}})
    kfp.add_run("c1", "RUNNING", NOW, pipeline_id="p-1")
    port = es.free_port()
    proc = es.Process("exporter", [sys.executable, "-m", "mlops_dash", "exporter", "--config",
                                   str(cfg), "--listen", f"127.0.0.1:{port}"], tmp_path)
    env_before = dict(os.environ)
    os.environ["PYTHONPATH"] = str(ROOT / "src")
    try:
        proc.start()
        url = f"http://127.0.0.1:{port}"
        vals = es.wait_for("the exporter's first KFP poll", lambda: (
            lambda vals: vals if v(vals, "mlops_exporter_source_up", source="kfp") == 1
            else None)(parse_exposition(scrape(url))), 60)
        assert series(vals, "mlops_pipeline_run_start_timestamp_seconds") == {
            (("pipeline", "demand-forecast"), ("run_id", "c1")): NOW}
        os.killpg(proc.proc.pid, signal.SIGTERM)
        assert proc.proc.wait(20) == 0, proc.log()
        assert json.loads(state.read_text())["kfp"]["namespaces"][""]["open"] == {
            "c1": "demand-forecast"}
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        proc.stop()


class SameName(Fake):
    def families(self):
        g = GaugeMetricFamily("mlops_dataset_size_bytes", "bytes", labels=["dataset"])
        g.add_metric([self.name], 1.0)
        return [g]


def test_sources_sharing_a_family_are_merged_into_one_valid_family():
    a, b = SameName("s3"), SameName("gcs")
    exp = Exporter([a, b])
    exp.poll_once(a)
    exp.poll_once(b)
    text = exp.body.decode()
    assert text.count("# TYPE mlops_dataset_size_bytes gauge") == 1
    vals = parse_exposition(exp.body)
    assert v(vals, "mlops_dataset_size_bytes", dataset="s3") == 1
    assert v(vals, "mlops_dataset_size_bytes", dataset="gcs") == 1


def test_a_poll_with_nothing_new_does_not_render_the_source_again(kfp, tmp_path):
    src = kfp_source(kfp, tmp_path)
    exp = Exporter([src])
    exp.poll_once(src)
    kfp.add_run("n1", "SUCCEEDED", NOW, NOW + 5, pipeline_id="p-1")
    exp.poll_once(src)
    version = exp.status["kfp"].version
    exp.poll_once(src)
    exp.poll_once(src)
    assert exp.status["kfp"].version == version
    kfp.add_run("n2", "SUCCEEDED", NOW, NOW + 6, pipeline_id="p-1")
    exp.poll_once(src)
    assert exp.status["kfp"].version == version + 1
    assert v(parse_exposition(exp.body), "mlops_pipeline_runs_total",
             pipeline="demand-forecast", status="succeeded") == 2


def test_finished_runs_reach_the_training_cost_source(kfp, tmp_path):
    from mlops_dash.collect.run import build_sources
    from mlops_dash.spec.collectors_exporter import ExporterSpec

    (tmp_path / "token").write_text("good")
    spec = ExporterSpec(kfp={"url": kfp.url, "token_file": str(tmp_path / "token")},
                        training_cost={"prometheus_url": "http://127.0.0.1:9",
                                       "pipelines": ["demand-forecast"]})
    kfp_src, cost = build_sources(spec, StateFile(tmp_path / "s.json"))
    assert (kfp_src.name, cost.name) == ("kfp", "training-cost")
    kfp_src.poll()
    kfp.add_run("c1", "SUCCEEDED", NOW, NOW + 600, pipeline_id="p-1")
    kfp.add_run("c2", "CANCELED", NOW, NOW + 60, pipeline_id="p-1")
    kfp_src.poll()
    assert list(cost.pending) == [("demand-forecast", "c1", NOW, NOW + 600)]
