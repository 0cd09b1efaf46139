"""The Kubernetes bundle: dashboards as sidecar ConfigMaps or GrafanaDashboards, a kustomization."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlops_dash import conventions as cv
from mlops_dash import output
from mlops_dash.spec import models as m


def _common_labels(platform: m.Platform) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "mlops-dash",
            "app.kubernetes.io/part-of": platform.name}


def dashboard_configmap(uid: str, dashboard_json: str, platform: m.Platform) -> dict[str, Any]:
    """A ConfigMap the Grafana Helm chart's sidecar loads: labelled, folder as an annotation."""
    labels = {**_common_labels(platform), **platform.grafana_sidecar.labels}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": cv.dashboard_configmap_name(uid),
            "namespace": platform.kubernetes_namespace,
            "labels": dict(sorted(labels.items())),
            "annotations": {platform.grafana_sidecar.folder_annotation: platform.grafana_folder},
        },
        "data": {f"{uid}.json": dashboard_json},
    }


def grafana_dashboard(uid: str, dashboard_json: str, platform: m.Platform) -> dict[str, Any]:
    """A grafana-operator ``GrafanaDashboard`` carrying the dashboard JSON inline."""
    op = platform.grafana_operator
    spec: dict[str, Any] = {
        "instanceSelector": {"matchLabels": dict(sorted(op.instance_selector.items()))},
        "folder": platform.grafana_folder,
    }
    if op.allow_cross_namespace_import:
        spec["allowCrossNamespaceImport"] = True
    if op.resync_period:
        spec["resyncPeriod"] = op.resync_period
    spec["json"] = dashboard_json
    return {
        "apiVersion": "grafana.integreatly.org/v1beta1",
        "kind": "GrafanaDashboard",
        "metadata": {
            "name": uid,
            "namespace": platform.kubernetes_namespace,
            "labels": dict(sorted(_common_labels(platform).items())),
        },
        "spec": spec,
    }


def object_size(manifest: dict[str, Any]) -> int:
    """Bytes of the object as a client sends it (compact JSON): what the object limit applies to."""
    return len(output.compact_json(manifest))


def kustomization(resources: Iterable[str]) -> dict[str, Any]:
    """``kustomization.yaml`` listing the given files (paths relative to the bundle folder)."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(resources),
    }
