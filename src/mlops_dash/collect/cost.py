"""Training run cost → mlops_training_run_cost_dollars{pipeline,run_id,resource}.

Computed in the exporter, not by recording rules: a finished run's cost is the integral of its
pods' cost rate over the run's lifetime, known only once it has finished and only with the
run's pipeline name (which no pod label carries; the KFP source knows it). So when the KFP
source counts a finished run, it hands (pipeline, run id, start, end) to this source, which asks
Prometheus once per resource, at the run's end:

    sum_over_time((sum(<allocation> * on (node) group_left () <price>
                       * on (namespace, pod) group_left () kube_pod_labels{<run_id_label>="<id>"}
                      ))[<duration>:<step>]) * <step> / 3600

OpenCost's container_cpu_allocation × node_cpu_hourly_cost (cpu),
container_memory_allocation_bytes / 2^30 × node_ram_hourly_cost (memory),
container_gpu_allocation × node_gpu_hourly_cost (gpu). Storage is not attributed to runs
(OpenCost prices volumes, not the pods using them). The latest ``keep_runs`` runs per pipeline
are exported, so the series stay bounded.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from mlops_dash.collect import source as src
from mlops_dash.collect.source import HttpJson, SourceError, read_token
from mlops_dash.spec.base import duration_seconds
from mlops_dash.spec.collectors_exporter import TrainingCostSource

log = logging.getLogger("mlops_dash.exporter")

RATES = {
    "cpu": "container_cpu_allocation * on (node) group_left () node_cpu_hourly_cost",
    "memory": "container_memory_allocation_bytes / 1073741824 * on (node) group_left () "
              "node_ram_hourly_cost",
    "gpu": "container_gpu_allocation * on (node) group_left () node_gpu_hourly_cost",
}
MAX_PENDING = 10_000


def cost_query(resource: str, label: str, run_id: str, duration_s: float, step_s: float) -> str:
    run = run_id.replace("\\", "\\\\").replace('"', '\\"')
    window = max(int(duration_s), int(step_s))
    return (f"sum_over_time((sum({RATES[resource]} * on (namespace, pod) group_left () "
            f'kube_pod_labels{{{label}="{run}"}}))[{window}s:{int(step_s)}s]) '
            f"* {int(step_s)} / 3600")


class TrainingCostCollector:
    def __init__(self, spec: TrainingCostSource) -> None:
        self.name = "training-cost"
        self.spec = spec
        self.interval_s = spec.interval_s
        self.timeout_s = spec.timeout_s
        self.step_s = duration_seconds(spec.step)
        self.http = HttpJson(spec.prometheus_url, spec.timeout_s, "Prometheus")
        self.pending: collections.deque[tuple[str, str, float, float]] = collections.deque(
            maxlen=MAX_PENDING)
        self.lock = threading.Lock()
        self.costs: dict[str, collections.OrderedDict[str, dict[str, float]]] = {}
        self.dirty = True

    def run_finished(self, pipeline: str, run_id: str, start: float, end: float) -> None:
        """Called by the KFP source (another thread) for every finished run it counts."""
        if self.spec.pipelines and pipeline not in self.spec.pipelines:
            return
        if end > start > 0:
            with self.lock:
                self.pending.append((pipeline, run_id, start, end))

    def poll(self) -> None:
        token = read_token(self.spec.token_file)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        while True:
            with self.lock:
                if not self.pending:
                    return
                pipeline, run_id, start, end = self.pending[0]
            costs = {}
            for resource in RATES:
                q = cost_query(resource, self.spec.run_id_label, run_id, end - start,
                               self.step_s)
                _, doc = self.http.get("/api/v1/query", {"query": q, "time": f"{end:.3f}"},
                                       headers)
                if not isinstance(doc, dict) or doc.get("status") != "success":
                    raise SourceError(src.MALFORMED, f"Prometheus: {str(doc)[:200]}")
                result = doc.get("data", {}).get("result", [])
                costs[resource] = sum(float(r["value"][1]) for r in result)
            runs = self.costs.setdefault(pipeline, collections.OrderedDict())
            runs[run_id] = costs
            while len(runs) > self.spec.keep_runs:
                runs.popitem(last=False)
            self.dirty = True
            with self.lock:
                self.pending.popleft()

    def families(self) -> Iterable[Metric]:
        g = GaugeMetricFamily("mlops_training_run_cost_dollars",
                              "Cost of a finished training run by resource (OpenCost)",
                              labels=["pipeline", "run_id", "resource"])
        for pipeline, runs in sorted(self.costs.items()):
            for run_id, costs in runs.items():
                for resource, value in costs.items():
                    g.add_metric([pipeline, run_id, resource], value)
        return [g]

    def close(self) -> None:
        self.http.close()
