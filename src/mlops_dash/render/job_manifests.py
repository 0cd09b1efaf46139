"""The collector jobs in the Kubernetes bundle: CronJobs, their config, the Pushgateway.

Pure: the platform model in, manifests (dicts) out. The CronJobs run the collectors image
(``collectors.image``) with ``mlops-dash drift|evaluate|actuals --model M``, reading the
``CollectorJobs`` file of a ConfigMap; the warehouse URL comes from a mounted Secret key.
"""

from __future__ import annotations

import posixpath
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash.spec import models as m
from mlops_dash.spec.collectors_jobs import JobsSpec

ACTIVE_DEADLINE_S = 3000  # a run never overlaps the next hourly one
COMPONENT = "app.kubernetes.io/component"


def jobs_document(jobs: JobsSpec) -> dict[str, Any]:
    """The CollectorJobs file: the spec's collectors.jobs, defaults left out."""
    return {"apiVersion": cv.API_VERSION, "kind": cv.JOBS_KIND,
            "jobs": jobs.model_dump(mode="json", exclude_defaults=True)}


def _labels(platform: m.Platform, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "mlops-dash",
            "app.kubernetes.io/name": component, "app.kubernetes.io/part-of": platform.name}


def _meta(platform: m.Platform, name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": platform.kubernetes_namespace,
            "labels": _labels(platform, component)}


def pushgateway_url(platform: m.Platform, jobs: JobsSpec) -> str:
    """Where the jobs push: the deployed Pushgateway's Service, or the existing one's URL."""
    if jobs.pushgateway.deploy:
        return cv.pushgateway_service_url(platform.kubernetes_namespace)
    assert jobs.pushgateway.url is not None
    return jobs.pushgateway.url


def config_map(platform: m.Platform, jobs_yaml: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(platform, cv.JOBS_CONFIG_MAP, "collector-jobs"),
            "data": {cv.JOBS_CONFIG_FILE: jobs_yaml}}


def cronjob(platform: m.Platform, jobs: JobsSpec, kind: str, model: str,
            schedule: str) -> dict[str, Any]:
    """One model's job (kind: drift, evaluate or actuals)."""
    assert platform.collectors is not None
    name = cv.job_cronjob_name(kind, model)
    env = [{"name": "MLOPS_DASH_JOBS_CONFIG",
            "value": f"{cv.JOBS_CONFIG_DIR}/{cv.JOBS_CONFIG_FILE}"}]
    if kind != "evaluate":
        env.append({"name": "MLOPS_DASH_PUSHGATEWAY", "value": pushgateway_url(platform, jobs)})
    mounts = [{"name": "config", "mountPath": cv.JOBS_CONFIG_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "config",
                                      "configMap": {"name": cv.JOBS_CONFIG_MAP}}]
    wh = jobs.warehouse
    if wh is not None and wh.secret_ref is not None and wh.url_file is not None:
        folder, file = posixpath.split(wh.url_file)
        mounts.append({"name": "warehouse", "mountPath": folder, "readOnly": True})
        volumes.append({"name": "warehouse", "secret": {
            "secretName": wh.secret_ref.name,
            "items": [{"key": wh.secret_ref.key, "path": file}]}})
    container = {
        "name": kind,
        "image": platform.collectors.image,
        "args": [kind, "--model", model],
        "env": env,
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                      "limits": {"memory": "2Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
    }
    pod = {"restartPolicy": "Never", "containers": [container], "volumes": volumes,
           "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": _meta(platform, name, f"{kind}-job"),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": ACTIVE_DEADLINE_S,
                "template": {"metadata": {"labels": _labels(platform, f"{kind}-job")},
                             "spec": pod},
            }},
        },
    }


def pushgateway(platform: m.Platform, jobs: JobsSpec) -> list[dict[str, Any]]:
    """Deployment, Service and ServiceMonitor (honorLabels: the pushed job/instance labels
    are the ones the rules and dashboards see) of the deployed Pushgateway."""
    name = cv.PUSHGATEWAY_NAME
    selector = {"app.kubernetes.io/name": "pushgateway",
                "app.kubernetes.io/part-of": platform.name}
    labels = _labels(platform, "pushgateway")
    port = {"name": "http", "containerPort": cv.PUSHGATEWAY_PORT, "protocol": "TCP"}
    probe = {"httpGet": {"path": "/-/ready", "port": "http"}, "periodSeconds": 10}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(platform, name, "pushgateway"),
        "spec": {
            "replicas": 1,  # one copy: each push must land where Prometheus scrapes
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{
                    "name": "pushgateway", "image": jobs.pushgateway.image,
                    "args": ["--persistence.file=/data/pushgateway.state",
                             "--persistence.interval=1m"],
                    "ports": [port], "readinessProbe": probe, "livenessProbe": probe,
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"memory": "256Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                        "capabilities": {"drop": ["ALL"]}},
                }],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
            }},
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(platform, name, "pushgateway"),
        "spec": {"selector": selector, "ports": [
            {"name": "http", "port": cv.PUSHGATEWAY_PORT, "targetPort": "http",
             "protocol": "TCP"}]},
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {**_meta(platform, name, "pushgateway"),
                     "labels": {**_labels(platform, "pushgateway"),
                                **platform.prometheus_rule_labels}},
        "spec": {"selector": {"matchLabels": labels},
                 "endpoints": [{"port": "http", "interval": "30s", "honorLabels": True}]},
    }
    return [deployment, service, monitor]


def job_objects(platform: m.Platform, jobs_yaml: str) -> list[dict[str, Any]]:
    """Every object of collectors.jobs (nothing when the spec has none)."""
    if platform.collectors is None or platform.collectors.jobs is None:
        return []
    jobs = platform.collectors.jobs
    out = [config_map(platform, jobs_yaml)]
    for kind, entries in (("drift", jobs.drift), ("evaluate", jobs.evaluate),
                          ("actuals", jobs.actuals)):
        out += [cronjob(platform, jobs, kind, e.model, e.schedule) for e in entries]
    if jobs.pushgateway.deploy:
        out += pushgateway(platform, jobs)
    return out
