"""Exporter performance cases (`make bench-exporter`, or `bench.py --exporter`).

    python3 benchmarks/exporter_bench.py [--runs 100000] [--pipelines 1000] [--versions 500]

A loopback server in this process replays the KFP v2beta1 ListRuns / GetPipeline answers of
``--runs`` finished runs over ``--pipelines`` pipelines (pages of 200, the API server's maximum,
sorted by finished_at, as kubeflow/pipelines backend/src/apiserver/list/list.go serves them).
The exporter runs in a child process, so its figures are its own:

* full poll: the first poll after a high-water mark older than every run, all runs new
  (wall time, and the child's peak RSS after it);
* incremental poll with nothing new;
* ``/metrics`` median and p95 latency over 200 scrapes, with the runs above and ``--versions``
  model versions known (four gauges each);
* idle CPU: CPU seconds the exporter uses over 10 s between polls.

Targets (issue 15): /metrics ≤ 50 ms median; full poll ≤ 10 s and ≤ 300 MB RSS; incremental
poll ≤ 100 ms; idle CPU ≈ 0.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS = {"metrics_median_ms": 50, "full_poll_s": 10, "full_poll_rss_mb": 300,
           "incremental_poll_ms": 100}
T0 = 1_780_000_000


def ts(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Replay:
    """Pre-serialised runs sorted by finished_at; pages by position."""

    def __init__(self, runs: int, pipelines: int) -> None:
        self.rows: list[tuple[str, bytes]] = []
        for i in range(runs):
            created = T0 + i * 26  # 100,000 runs over a month
            finished = created + 600 + (i % 97) * 30
            state = "FAILED" if i % 10 == 0 else "SUCCEEDED"
            run = {"experiment_id": "e", "run_id": f"run-{i:07d}", "display_name": f"r{i}",
                   "storage_state": "AVAILABLE", "created_at": ts(created),
                   "scheduled_at": ts(created), "finished_at": ts(finished), "state": state,
                   "pipeline_version_reference": {"pipeline_id": f"p-{i % pipelines}",
                                                  "pipeline_version_id": "v"}}
            if state == "FAILED":
                run["run_details"] = {"task_details": [
                    {"run_id": run["run_id"], "task_id": f"t{i}-{k}", "display_name": name,
                     "state": "FAILED"}
                    for k, name in enumerate(("wf", "root", "train-model", "executor"))]}
            self.rows.append((ts(finished), json.dumps(run).encode()))
        self.rows.sort()
        self.keys = [r[0] for r in self.rows]
        self.pipelines = pipelines

    def page(self, params: dict[str, str]) -> bytes:
        flt = json.loads(params.get("filter") or "{}").get("predicates", [])
        start = 0
        for p in flt:
            if p["key"] == "state":
                return b"{}"  # no open runs
            if p["key"] == "finished_at":
                start = bisect.bisect_right(self.keys, p["timestamp_value"])
        if "desc" in params.get("sort_by", ""):
            return b'{"runs":[' + self.rows[-1][1] + b"]}"
        start = max(start, int(params.get("page_token") or 0))
        size = min(int(params.get("page_size") or 20), 200)
        chunk = self.rows[start:start + size]
        body = b'{"runs":[' + b",".join(r[1] for r in chunk) + b"]"
        if start + size < len(self.rows):
            body += b',"next_page_token":"' + str(start + size).encode() + b'"'
        return body + b"}"

    def serve(self) -> ThreadingHTTPServer:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                import socket
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(parts.query))
                if parts.path == "/apis/v2beta1/runs":
                    body = replay.page(params)
                else:
                    pid = parts.path.rsplit("/", 1)[1]
                    body = json.dumps({"pipeline_id": pid, "display_name": f"pipeline-{pid}",
                                       "name": pid}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def child(url: str, versions: int, workdir: str) -> dict[str, float]:
    """The exporter side, in its own process."""
    import http.client
    import resource
    import statistics

    sys.path.insert(0, str(ROOT / "src"))
    from mlops_dash.collect.exporter import Exporter
    from mlops_dash.collect.kfp import KfpCollector
    from mlops_dash.collect.state import StateFile
    from mlops_dash.spec.collectors_exporter import KfpSource

    state = StateFile(Path(workdir) / "state.json")
    state.section("kfp")["namespaces"] = {"": {"mark": 0.0, "counted": {}}}
    kfp = KfpCollector(KfpSource(url=url, interval="60s", timeout="30s",
                                 components={"training": ["train-*"]}), state)

    class Models:
        name, interval_s, timeout_s = "mlflow", 300.0, 10.0

        def poll(self) -> None:
            pass

        def families(self):
            from prometheus_client.core import GaugeMetricFamily
            out = []
            for metric in ("mlops_model_mae", "mlops_model_rmse", "mlops_model_accuracy_ratio",
                           "mlops_model_artifact_size_bytes"):
                g = GaugeMetricFamily(metric, metric, labels=["model", "version"])
                for v in range(versions):
                    g.add_metric([f"model-{v % 50}", str(v)], 1.0 + v)
                out.append(g)
            return out

        def close(self) -> None:
            pass

    exp = Exporter([kfp, Models()])
    t = time.perf_counter()
    assert exp.poll_once(kfp), exp.status["kfp"].last_error
    full = time.perf_counter() - t
    rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counted = sum(kfp.runs.values())
    incr = []
    for _ in range(5):
        t = time.perf_counter()
        assert exp.poll_once(kfp)
        incr.append(time.perf_counter() - t)
    assert sum(kfp.runs.values()) == counted
    t = time.perf_counter()
    exp.poll_once(exp.sources[1])
    render = time.perf_counter() - t
    server = exp.serve("127.0.0.1", 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    lat = []
    size = 0
    for _ in range(200):
        t = time.perf_counter()
        conn.request("GET", "/metrics")
        body = conn.getresponse().read()
        lat.append(time.perf_counter() - t)
        size = len(body)
    lat.sort()
    exp.start()  # both sources polled at once, then idle until their next interval
    time.sleep(3)
    cpu0 = time.process_time()
    time.sleep(10)
    idle = time.process_time() - cpu0
    exp.stop(timeout=1)
    server.shutdown()
    return {"runs_counted": counted, "pipelines": len(kfp.hist), "full_poll_s": full,
            "full_poll_rss_mb": rss_full, "incremental_poll_ms": statistics.median(incr) * 1000,
            "render_ms": render * 1000, "metrics_median_ms": statistics.median(lat) * 1000,
            "metrics_p95_ms": lat[int(len(lat) * 0.95)] * 1000, "metrics_bytes": size,
            "idle_cpu_s_per_10s": idle,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(runs: int, pipelines: int, versions: int) -> dict[str, float]:
    import tempfile

    replay = Replay(runs, pipelines)
    server = replay.serve()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, __file__, "--child", url, "--versions",
                              str(versions), "--workdir", tmp], capture_output=True, text=True,
                             timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    server.shutdown()
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(runs=runs, pipeline_count=pipelines, versions=versions)
    return result


def markdown(r: dict[str, float]) -> str:
    ok = {
        "metrics_median_ms": r["metrics_median_ms"] <= TARGETS["metrics_median_ms"],
        "full_poll_s": r["full_poll_s"] <= TARGETS["full_poll_s"],
        "full_poll_rss_mb": r["full_poll_rss_mb"] <= TARGETS["full_poll_rss_mb"],
        "incremental_poll_ms": r["incremental_poll_ms"] <= TARGETS["incremental_poll_ms"],
        "idle": r["idle_cpu_s_per_10s"] <= 0.05,
    }
    yes = {True: "yes", False: "NO"}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "\n".join([
        "## Exporter",
        "",
        f"Written by `make bench-exporter` (`benchmarks/exporter_bench.py`) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; load average at the end {load}. "
        f"{int(r['runs']):,} finished runs of {int(r['pipeline_count']):,} pipelines replayed "
        f"on loopback (pages of 200), {int(r['versions'])} model versions; the exporter in its "
        "own process.",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
        f"| /metrics median ≤ {TARGETS['metrics_median_ms']} ms | "
        f"{r['metrics_median_ms']:.2f} ms (p95 {r['metrics_p95_ms']:.2f} ms, "
        f"{int(r['metrics_bytes']):,} bytes) | {yes[ok['metrics_median_ms']]} |",
        f"| full KFP poll ≤ {TARGETS['full_poll_s']} s | {r['full_poll_s']:.2f} s "
        f"({int(r['runs_counted']):,} runs counted) | {yes[ok['full_poll_s']]} |",
        f"| full KFP poll ≤ {TARGETS['full_poll_rss_mb']} MB RSS | "
        f"{r['full_poll_rss_mb']:.0f} MB peak | {yes[ok['full_poll_rss_mb']]} |",
        f"| incremental poll, nothing new ≤ {TARGETS['incremental_poll_ms']} ms | "
        f"{r['incremental_poll_ms']:.1f} ms (median of 5) | {yes[ok['incremental_poll_ms']]} |",
        f"| idle CPU ≈ 0 | {r['idle_cpu_s_per_10s']:.3f} CPU s over 10 s | {yes[ok['idle']]} |",
        "",
        f"Rendering the exposition once (after a poll) takes {r['render_ms']:.0f} ms; "
        "scrapes copy those bytes.",
        "",
    ])


BLOCK_START, BLOCK_END = "<!-- exporter -->", "<!-- /exporter -->"


def write_block(results: Path, text: str) -> None:
    """Put the exporter section into RESULTS.md (replacing the previous one)."""
    old = results.read_text(encoding="utf-8") if results.exists() else ""
    block = f"{BLOCK_START}\n{text}{BLOCK_END}\n"
    if BLOCK_START in old:
        head, rest = old.split(BLOCK_START, 1)
        tail = rest.split(BLOCK_END, 1)[1].lstrip("\n")
        new = head + block + ("\n" + tail if tail else "")
    elif "<!-- notes -->" in old:
        head, tail = old.split("<!-- notes -->", 1)
        new = head.rstrip("\n") + "\n\n" + block + "\n<!-- notes -->" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block
    results.write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--pipelines", type=int, default=1000)
    ap.add_argument("--versions", type=int, default=500)
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.versions, args.workdir)))
        return 0
    r = run(args.runs, args.pipelines, args.versions)
    text = markdown(r)
    print(text)
    if str(args.results) != "-":
        write_block(args.results, text)
        print(f"wrote {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
