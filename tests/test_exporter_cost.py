"""Training run cost from a real Prometheus holding OpenCost and kube-state-metrics series
(backfilled with promtool): OpenCost's allocation/price series (opencost/opencost
pkg/costmodel/metrics.go: container_cpu_allocation, container_memory_allocation_bytes,
container_gpu_allocation, node_*_hourly_cost) joined on kube_pod_labels (kube-state-metrics,
label_<allow-listed pod label>)."""

from __future__ import annotations

import time

import e2e_support as es
import pytest
from conftest import require_tool
from exporter_support import series, values

from mlops_dash.collect.cost import TrainingCostCollector, cost_query
from mlops_dash.collect.source import SourceError
from mlops_dash.spec.collectors_exporter import TrainingCostSource

pytestmark = pytest.mark.e2e


def test_cost_of_a_finished_run_from_opencost_series(tmp_path):
    require_tool("prometheus")
    require_tool("promtool")
    prom = es.Prometheus(tmp_path / "prom", [], [])
    now = int(time.time()) // 60 * 60 - 3600
    start, end = now - 1800, now  # a 30-minute run
    lines = ["# TYPE node_cpu_hourly_cost gauge"]
    for t in range(start - 3600, end + 3600, 30):
        lines += [
            f'node_cpu_hourly_cost{{node="n1",instance_type="m5.xlarge",region="eu"}} 0.5 {t}',
            f'node_ram_hourly_cost{{node="n1",instance_type="m5.xlarge",region="eu"}} 0.01 {t}',
            f'node_gpu_hourly_cost{{node="n1",instance_type="m5.xlarge",region="eu"}} 2 {t}',
        ]
        if start <= t < end:  # the run's pod exists only while the run runs
            pod = 'namespace="kubeflow",pod="train-abc",container="main",node="n1"'
            lines += [
                f"container_cpu_allocation{{{pod}}} 2 {t}",
                f"container_memory_allocation_bytes{{{pod}}} {4 * 2**30} {t}",
                f"container_gpu_allocation{{{pod}}} 1 {t}",
                f'kube_pod_labels{{namespace="kubeflow",pod="train-abc",'
                f'label_pipeline_runid="run-1"}} 1 {t}',
                # another run's pod on the same node, same time: not this run's cost
                f'container_cpu_allocation{{namespace="kubeflow",pod="other",container="main",'
                f'node="n1"}} 8 {t}',
                f'kube_pod_labels{{namespace="kubeflow",pod="other",'
                f'label_pipeline_runid="run-2"}} 1 {t}',
            ]
    om = tmp_path / "opencost.om"
    om.write_text("\n".join(sorted(set(lines[1:]), key=lambda x: int(x.rsplit(" ", 1)[1])))
                  + "\n# EOF\n")
    es.import_openmetrics(om, prom.data, tmp_path)
    prom.start()
    try:
        c = TrainingCostCollector(TrainingCostSource(prometheus_url=prom.url, timeout="10s"))
        c.run_finished("demand-forecast", "run-1", start, end)
        c.poll()
        got = series(values(c.families()), "mlops_training_run_cost_dollars")
        cost = {dict(k)["resource"]: val for k, val in got.items()}
        # 2 cores × $0.5/h × 0.5 h; 4 GiB × $0.01/GiB-h × 0.5 h; 1 GPU × $2/h × 0.5 h
        assert cost["cpu"] == pytest.approx(0.5, rel=0.05)
        assert cost["memory"] == pytest.approx(0.02, rel=0.05)
        assert cost["gpu"] == pytest.approx(1.0, rel=0.05)
        assert {dict(k)["run_id"] for k in got} == {"run-1"}
        assert not c.pending
        # a run with no pods known costs 0; the latest keep_runs runs are kept
        c.spec = c.spec.model_copy(update={"keep_runs": 1})
        c.run_finished("demand-forecast", "run-unknown", start, end)
        c.poll()
        got = series(values(c.families()), "mlops_training_run_cost_dollars")
        assert {dict(k)["run_id"] for k in got} == {"run-unknown"}
        assert set(got.values()) == {0.0}
    finally:
        prom.stop()


def test_prometheus_down_keeps_the_runs_pending():
    c = TrainingCostCollector(TrainingCostSource(
        prometheus_url=f"http://127.0.0.1:{es.free_port()}", timeout="2s"))
    c.run_finished("p", "r", 100.0, 200.0)
    with pytest.raises(SourceError) as info:
        c.poll()
    assert info.value.kind == "unreachable"
    assert list(c.pending) == [("p", "r", 100.0, 200.0)]


def test_the_query_names_the_run_and_escapes_it():
    q = cost_query("cpu", "label_pipeline_runid", 'a"b', 1800, 60)
    assert 'kube_pod_labels{label_pipeline_runid="a\\"b"}' in q
    assert "[1800s:60s]" in q and q.endswith("* 60 / 3600")
