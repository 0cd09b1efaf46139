"""The healthy estate: a realistic cluster around the platform's namespaces, on which no alert
may be pending or firing.

* Kubeflow's own namespace is Istio-injected (kubeflow/manifests
  common/kubeflow-namespace/base/namespace.yaml: ``istio-injection: enabled``): its UI and API
  traffic is in ``istio_requests_total`` too, slow and with 5xx, as is traffic in kube-system;
  neither is the serving team's.
* HPAs outside the serving namespace (kubeflow, kube-system) scaling up, desired above current.
* Finished pods keep their old terminated reasons (kube-state-metrics keeps a pod's series
  until pod garbage collection, kubernetes pkg/controller/podgc): OOM kills and evictions days
  ago, completed steps.
* dcgm-exporter scraped with the chart default ``honorLabels: false``: the GPU's pod arrives as
  ``exported_namespace``/``exported_pod``, ``namespace``/``pod`` are the exporter's own
  (NVIDIA/dcgm-exporter#85); a busy training GPU, an idle serving GPU, an unassigned GPU.
"""

from __future__ import annotations

from mlops_dash.simulate.situations import EXPORTER, Expect, Situation
from mlops_dash.simulate.tracks import D, H, Track, Value, histogram, level, steps, track
from mlops_dash.simulate.tracks import events as counter

LATENCY_BUCKETS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]


def _rate(a: float, per_s: float) -> Value:
    def at(t: float) -> float:
        return float(int((t - (a - 3 * D)) * per_s))
    return at


def _istio(a: float, ns: str, service: str, ok_rate: float, err_rate: float,
           latency_ms: float) -> list[Track]:
    lb = {"reporter": "destination", "destination_workload_namespace": ns,
          "destination_canonical_service": service, "destination_canonical_revision": "v1"}
    out = []
    for code, r in (("200", ok_rate), ("503", err_rate)):
        out.append(track("istio_requests_total", _rate(a, r), **lb, response_code=code))
        # every request takes latency_ms: all observations in one bucket
        out += _latency(a, r, latency_ms, {**lb, "response_code": code})
    return out


def _latency(a: float, per_s: float, ms: float, labels: dict[str, str]) -> list[Track]:
    base = "istio_request_duration_milliseconds"
    out = []
    for le in [*LATENCY_BUCKETS, float("inf")]:
        out.append(track(f"{base}_bucket", _rate(a, per_s if ms <= le else 0.0), **labels,
                         le="+Inf" if le == float("inf") else f"{le:g}"))
    out.append(track(f"{base}_sum", _rate(a, per_s * ms), **labels))
    out.append(track(f"{base}_count", _rate(a, per_s), **labels))
    return out


def _dcgm(a: float, util: float, gpu: str, exported: dict[str, str]) -> list[Track]:
    own = {"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-7xk2p",
           "container": "nvidia-dcgm-exporter", "gpu": gpu, "UUID": f"GPU-sim-{gpu}",
           "Hostname": "gpu-node-1"}
    return [track("DCGM_FI_DEV_GPU_UTIL", level(a, util), **own, **exported),
            track("DCGM_FI_DEV_FB_USED", level(a, 30000 if util else 0), **own, **exported)]


def healthy_estate(a: float) -> Situation:
    tr: list[Track] = []
    tr += _istio(a, "ml-serving", "sim-fraud-detector", 20.0, 0.02, 40)
    tr += _istio(a, "kubeflow", "centraldashboard", 2.0, 1.0, 2500)
    tr += _istio(a, "kubeflow", "ml-pipeline-ui", 1.0, 0.5, 5000)
    tr += _istio(a, "kube-system", "metrics-server", 3.0, 1.0, 1000)
    for ns, hpa, desired, current in (("ml-serving", "sim-fraud-detector-predictor", 3, 3),
                                      ("kubeflow", "ml-pipeline-ui", 4, 2),
                                      ("kube-system", "coredns", 6, 2)):
        g = {"namespace": ns, "horizontalpodautoscaler": hpa}
        tr += [track("kube_horizontalpodautoscaler_status_desired_replicas", level(a, desired),
                     **g),
               track("kube_horizontalpodautoscaler_status_current_replicas", level(a, current),
                     **g)]
    for ns, pod, reason, phase in (("kubeflow", "sim-step-oom-5d-ago", "OOMKilled", "Failed"),
                                   ("kubeflow", "sim-step-done-2d-ago", "Completed", "Succeeded"),
                                   ("ml-training", "sim-train-oom-4d-ago", "OOMKilled", "Failed")):
        tr += [track("kube_pod_container_status_terminated_reason", level(a, 1), namespace=ns,
                     pod=pod, container="main", reason=reason),
               track("kube_pod_status_phase", level(a, 1), namespace=ns, pod=pod, phase=phase)]
    tr.append(track("kube_pod_status_reason", steps(a, (-3 * D, 0), (-2 * D, 1)),
                    namespace="ml-training", pod="sim-evicted-2d-ago-estate", reason="Evicted"))
    tr += _dcgm(a, 85, "0", {"exported_namespace": "ml-training",
                             "exported_pod": "sim-trainer-gpu-0", "exported_container": "main"})
    tr += _dcgm(a, 12, "1", {"exported_namespace": "ml-serving",
                             "exported_pod": "sim-fraud-detector-gpu",
                             "exported_container": "kserve"})
    tr += _dcgm(a, 0, "2", {})  # no pod on this GPU: no exported_* labels at all
    # a steady pipeline and a steady model, for the counters and gauges around them
    tr += histogram(a, "mlops_pipeline_run_duration_seconds", [600, 1800, 3600, 7200],
                    [(-D + i * 4 * H, 1500.0) for i in range(6)], before=20,
                    before_duration=1500.0, pipeline="sim-nightly", **EXPORTER)
    tr.append(track("mlops_pipeline_runs_total", counter(a, [-D + i * 4 * H for i in range(6)],
                                                         base=20),
                    pipeline="sim-nightly", status="succeeded", **EXPORTER))
    tr.append(track("mlops_model_accuracy_ratio", level(a, 0.995), model="sim-steady-model",
                    version="v7", **EXPORTER))
    q = [Expect(al, {"destination_workload_namespace": ns}, why)
         for al in ("ErrorRateSpike", "HighLatency")
         for ns, why in (("kubeflow", "Kubeflow's own Istio traffic"),
                         ("kube-system", "not the serving namespace"),
                         ("ml-serving", "0.1% errors, 40 ms"))]
    q += [Expect("ScalingIssue", {"namespace": ns}, "an HPA outside the serving namespace")
          for ns in ("kubeflow", "kube-system")]
    q += [Expect("ScalingIssue", {"namespace": "ml-serving"}, "desired = current"),
          Expect("ResourceExhaustion", {"pod": "sim-step-oom-5d-ago"}, "killed 5 days ago"),
          Expect("ResourceExhaustion", {"pod": "sim-train-oom-4d-ago"}, "killed 4 days ago"),
          Expect("ResourceExhaustion", {"pod": "sim-evicted-2d-ago-estate"}, "2 days ago"),
          Expect("LowGPUUtilization", {"exported_pod": "sim-trainer-gpu-0"}, "85% busy"),
          Expect("LowGPUUtilization", {"exported_pod": "sim-fraud-detector-gpu"},
                 "serving GPUs are not training's"),
          Expect("PipelineFailureRate", {"pipeline": "sim-nightly"}, "every run succeeds"),
          Expect("ErrorBudgetExhausted", {"model": "sim-steady-model"}, "99.5%")]
    return Situation(
        "estate", "a realistic healthy cluster: kubeflow and kube-system Istio traffic and "
        "HPAs, finished pods with old terminated reasons, exported_* DCGM labels",
        "kubeflow/manifests common/kubeflow-namespace/base/namespace.yaml; "
        "NVIDIA/dcgm-exporter#85; kube-state-metrics pod metrics", 2 * H, tr, quiet=q)

