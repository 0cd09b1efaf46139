"""The exporter's Kubernetes objects: ServiceAccount, ConfigMap (its configuration: the platform
spec), Deployment, Service, ServiceMonitor and NetworkPolicy. Pure: models in, dicts out.

One replica with the Recreate strategy: the state file (the KFP high-water mark) has one writer.
Credential files are mounted where the spec says (``*_file``): a projected volume per folder,
holding the Secret keys (``*_secret_ref``) and the projected ServiceAccount token for
multi-user Kubeflow. The pod runs as non-root on a read-only root filesystem.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from typing import Any

from mlops_dash.spec import models as m
from mlops_dash.spec.collectors_exporter import ExporterSpec

NAME = "mlops-exporter"
CONFIG_DIR = "/etc/mlops-exporter"
CONFIG_KEY = "platform.yaml"
PORT_NAME = "metrics"
SCRAPE_INTERVAL = "30s"


def labels(platform: m.Platform) -> dict[str, str]:
    return {"app.kubernetes.io/component": "exporter",
            "app.kubernetes.io/managed-by": "mlops-dash",
            "app.kubernetes.io/name": NAME,
            "app.kubernetes.io/part-of": platform.name}


def selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "exporter"}


def _meta(name: str, platform: m.Platform, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": platform.kubernetes_namespace,
            "labels": labels(platform), **extra}


def service_account(platform: m.Platform, spec: ExporterSpec) -> dict[str, Any]:
    meta = _meta(spec.service_account, platform)
    if spec.service_account_annotations:
        meta["annotations"] = dict(sorted(spec.service_account_annotations.items()))
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
            "automountServiceAccountToken": False}


def config_map(platform: m.Platform, config_yaml: str) -> dict[str, Any]:
    """The exporter's --config: the platform spec as the build read it (no credentials:
    specs hold only file paths and Secret references)."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{NAME}-config",
                                                                       platform),
            "data": {CONFIG_KEY: config_yaml}}


def _credential_files(spec: ExporterSpec) -> dict[str, list[dict[str, Any]]]:
    """Folder → projected volume sources for every credential file of the spec."""
    out: dict[str, list[dict[str, Any]]] = {}

    def secret(path: str | None, ref: Any) -> None:
        if path and ref:
            out.setdefault(posixpath.dirname(path), []).append(
                {"secret": {"name": ref.name,
                            "items": [{"key": ref.key, "path": posixpath.basename(path)}]}})

    if spec.kfp:
        sat = spec.kfp.service_account_token
        if sat:
            out.setdefault(posixpath.dirname(sat.path), []).append(
                {"serviceAccountToken": {"audience": sat.audience,
                                         "expirationSeconds": sat.expiration_seconds,
                                         "path": posixpath.basename(sat.path)}})
        secret(spec.kfp.token_file, spec.kfp.token_secret_ref)
    if spec.mlflow:
        secret(spec.mlflow.token_file, spec.mlflow.token_secret_ref)
    if spec.storage:
        secret(spec.storage.gcs_credentials_file, spec.storage.gcs_credentials_secret_ref)
    if spec.training_cost:
        secret(spec.training_cost.token_file, spec.training_cost.token_secret_ref)
    return dict(sorted(out.items()))


def deployment(platform: m.Platform, spec: ExporterSpec, image: str,
               config_hash: str) -> dict[str, Any]:
    state_dir = posixpath.dirname(spec.state_file)
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "state", "mountPath": state_dir},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{NAME}-config"}},
        ({"name": "state", "persistentVolumeClaim": {"claimName": spec.state_volume_claim}}
         if spec.state_volume_claim else {"name": "state", "emptyDir": {}}),
        {"name": "tmp", "emptyDir": {}},
    ]
    for i, (folder, sources) in enumerate(_credential_files(spec).items()):
        mounts.append({"name": f"credentials-{i}", "mountPath": folder, "readOnly": True})
        volumes.append({"name": f"credentials-{i}",
                        "projected": {"sources": sources, "defaultMode": 0o440}})
    container: dict[str, Any] = {
        "name": "exporter",
        "image": image,
        "args": ["exporter", "--config", f"{CONFIG_DIR}/{CONFIG_KEY}",
                 "--listen", f":{spec.port}"],
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT_NAME},
                           "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": PORT_NAME},
                          "periodSeconds": 20, "failureThreshold": 3},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }
    if spec.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": n}} for n in spec.env_from_secrets]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta(NAME, platform),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector()},
            "template": {
                "metadata": {"labels": labels(platform),
                             "annotations": {"mlops-dash/config-hash": config_hash}},
                "spec": {
                    "serviceAccountName": spec.service_account,
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                        "runAsGroup": 65532, "fsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def service(platform: m.Platform, spec: ExporterSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, platform),
            "spec": {"type": "ClusterIP", "selector": selector(),
                     "ports": [{"name": PORT_NAME, "port": spec.port,
                                "targetPort": PORT_NAME, "protocol": "TCP"}]}}


def service_monitor(platform: m.Platform) -> dict[str, Any]:
    meta = _meta(NAME, platform)
    meta["labels"] = dict(sorted({**meta["labels"], **platform.prometheus_rule_labels}.items()))
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": meta,
            "spec": {"selector": {"matchLabels": selector()},
                     "endpoints": [{"port": PORT_NAME, "path": "/metrics",
                                    "interval": SCRAPE_INTERVAL, "scrapeTimeout": "10s"}]}}


def _egress_ports(spec: ExporterSpec) -> list[int]:
    ports = set()
    for url in [spec.kfp.url if spec.kfp else None, spec.mlflow.url if spec.mlflow else None,
                spec.storage.s3_endpoint_url if spec.storage else None,
                spec.storage.gcs_endpoint_url if spec.storage else None,
                spec.aws_cost_explorer.endpoint_url if spec.aws_cost_explorer else None,
                spec.training_cost.prometheus_url if spec.training_cost else None]:
        if url:
            u = urllib.parse.urlsplit(url)
            ports.add(u.port or (443 if u.scheme == "https" else 80))
    if spec.storage or spec.aws_cost_explorer:
        ports.add(443)  # the cloud APIs (and the IRSA / workload identity token exchange)
    return sorted(ports)


def network_policy(platform: m.Platform, spec: ExporterSpec) -> dict[str, Any]:
    """Scrapes in on the metrics port; out only DNS and the sources' ports."""
    egress: list[dict[str, Any]] = [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"ports": [{"protocol": "TCP", "port": p} for p in _egress_ports(spec)]},
    ]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": _meta(NAME, platform),
            "spec": {"podSelector": {"matchLabels": selector()},
                     "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"ports": [{"protocol": "TCP", "port": spec.port}]}],
                     "egress": egress}}
