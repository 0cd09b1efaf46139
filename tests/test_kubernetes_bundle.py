"""generated/kubernetes/: kustomization, dashboard ConfigMaps or GrafanaDashboards, object limit.

Rendering uses the real ``kubectl kustomize``. CRD kinds are checked against the vendored strict
CRD schemas; ConfigMap is a core kind with no CRD schema, so it is checked against hand-written
essentials (lint/schemas.py: names, label syntax, data keys, the 1 MiB data limit) and, below,
field by field.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import GENERATED, require_tool
from test_cli import digest, run

from mlops_dash import conventions as cv
from mlops_dash import output, pipeline
from mlops_dash.errors import BuildError
from mlops_dash.lint.schemas import manifest_errors
from mlops_dash.spec.loader import load_specs


class KubectlYaml(yaml.SafeLoader):
    """kubectl writes `matchType: =` unquoted; YAML 1.1's `=` value tag must not apply."""


KubectlYaml.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:value"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def kustomize(folder: Path) -> list[dict]:
    kubectl = require_tool("kubectl")
    r = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.load_all(r.stdout, Loader=KubectlYaml) if d]


def set_platform(specs: Path, extra: str) -> None:
    f = specs / "platform.yaml"
    f.write_text(f.read_text() + extra)


def manifests_in(folder: Path) -> list[tuple[str, str]]:
    """(kind, name) of every object in the folder's manifest files, kustomization excluded."""
    out = []
    for f in sorted(folder.rglob("*.yaml")):
        if f.name != "kustomization.yaml":
            out += [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(f.read_text())]
    return sorted(out)


def test_kustomize_renders_rules_and_labelled_dashboard_configmaps():
    objects = kustomize(GENERATED / "kubernetes")
    rendered = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert rendered == manifests_in(GENERATED / "kubernetes")  # nothing left out
    # the collector jobs' objects (collectors.jobs) are tested in tests/test_job_manifests.py
    objects = [o for o in objects if "app.kubernetes.io/name" not in o["metadata"]["labels"]]
    kinds = [o["kind"] for o in objects]
    dashboards = [o for o in objects if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"].startswith("grafana-dashboard-")]
    assert len(dashboards) == 6 and kinds.count("PrometheusRule") == 5  # 5 areas + overview
    # the rest: the exporter's objects (tests/test_exporter_manifests.py) and the digest CronJob
    assert set(kinds) <= {"ConfigMap", "PrometheusRule", "AlertmanagerConfig", "Deployment",
                          "Service", "ServiceMonitor", "NetworkPolicy", "ServiceAccount", "CronJob"}
    if (GENERATED / "alertmanager").exists():  # routing rendered: its CRD is in the bundle
        assert "AlertmanagerConfig" in kinds
    for o in objects:
        assert manifest_errors(o) == [], (o["kind"], o["metadata"]["name"])
    for cm in dashboards:
        meta = cm["metadata"]
        assert meta["labels"]["grafana_dashboard"] == "1"
        assert meta["annotations"] == {"grafana_folder": "MLOps"}
        assert meta["namespace"] == "monitoring"
        (key, text), = cm["data"].items()
        uid = key.removesuffix(".json")
        assert meta["name"] == f"grafana-dashboard-{uid}"
        # the sidecar writes exactly the committed dashboard file
        assert text == (GENERATED / "grafana" / key).read_text()
        assert json.loads(text)["uid"] == uid


def test_configmap_essentials_field_by_field(tree):
    doc = yaml.safe_load(tree[cv.dashboard_configmap_path("mlops-serving-health")])
    assert set(doc) == {"apiVersion", "kind", "metadata", "data"}
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "ConfigMap")
    assert set(doc["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert all(isinstance(v, str) for v in doc["metadata"]["labels"].values())
    assert list(doc["data"]) == ["mlops-serving-health.json"]


@pytest.mark.parametrize("breakage", [
    lambda d: d["metadata"]["labels"].update(grafana_dashboard=1),        # not a string
    lambda d: d["metadata"]["labels"].update(team="ml serving"),          # bad label value
    lambda d: d["metadata"].update(name="Grafana_Dashboard"),             # not a DNS name
    lambda d: d["metadata"].update(nmespace="monitoring"),                # typo'd field
    lambda d: d.update(spec={}),                                          # no such field
    lambda d: d["data"].update({"a/b.json": "{}"}),                       # bad data key
    lambda d: d["data"].update({"big.json": "x" * (1024 * 1024)}),        # over 1 MiB
    lambda d: d.update(apiVersion="v2"),
])
def test_configmap_check_rejects(tree, breakage):
    doc = yaml.safe_load(tree[cv.dashboard_configmap_path("mlops-serving-health")])
    assert manifest_errors(doc) == []
    breakage(doc)
    assert manifest_errors(doc)


def test_unknown_kind_is_not_silently_accepted():
    assert manifest_errors({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})


def test_kustomization_lists_exactly_the_manifests_in_the_folder():
    k = yaml.safe_load((GENERATED / cv.KUSTOMIZATION_PATH).read_text())
    assert manifest_errors(k) == []
    root = GENERATED / "kubernetes"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml")
                   if p.name != "kustomization.yaml")
    assert k["resources"] == files


def test_kustomization_picks_up_manifests_of_any_stage(spec_set, monkeypatch):
    """A stage added later (e.g. the AlertmanagerConfig) is listed without touching this code."""
    manifest = {"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "AlertmanagerConfig",
                "metadata": {"name": "later", "namespace": "monitoring"}, "spec": {}}

    def later_stage(_spec_set):
        return {"kubernetes/alertmanagerconfig-later.yaml": output.dump_yaml(manifest),
                "kubernetes/README.md": "not a manifest\n"}

    before = yaml.safe_load(pipeline.render_tree(spec_set)[cv.KUSTOMIZATION_PATH])["resources"]
    monkeypatch.setattr(pipeline, "STAGES", [*pipeline.STAGES, later_stage])
    tree = pipeline.render_tree(spec_set)
    k = yaml.safe_load(tree[cv.KUSTOMIZATION_PATH])
    assert sorted(k["resources"]) == sorted([*before, "alertmanagerconfig-later.yaml"])


def test_grafana_operator_delivery(tmp_path, specs_copy):
    set_platform(specs_copy, "grafana_delivery: grafana-operator\n"
                             "grafana_operator:\n  instance_selector: {dashboards: ml-grafana}\n")
    out = tmp_path / "out"
    r = run("build", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert not list((out / "kubernetes").glob("configmap-*"))
    objects = kustomize(out / "kubernetes")
    dashboards = [o for o in objects if o["kind"] == "GrafanaDashboard"]
    assert len(dashboards) == 6  # five areas and the overview
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == manifests_in(
        out / "kubernetes")
    for o in objects:
        assert manifest_errors(o) == [], (o["kind"], o["metadata"]["name"])
    for o in dashboards:
        spec = o["spec"]
        assert spec["instanceSelector"] == {"matchLabels": {"dashboards": "ml-grafana"}}
        assert spec["folder"] == "MLOps"
        uid = o["metadata"]["name"]
        assert spec["json"] == (out / "grafana" / f"{uid}.json").read_text()


def test_grafana_operator_schema_catches_a_wrong_selector(spec_set):
    from mlops_dash.render import kubernetes

    doc = kubernetes.grafana_dashboard("x", "{}", spec_set.platform_model)
    assert manifest_errors(doc) == []
    doc["spec"]["instanceSelector"] = {"dashboards": "grafana"}  # matchLabels forgotten
    assert manifest_errors(doc)


def test_folder_annotation_and_labels_are_configurable(specs_copy):
    f = specs_copy / "platform.yaml"
    f.write_text(f.read_text().replace("grafana_folder: MLOps", "grafana_folder: ML Platform"))
    set_platform(specs_copy, "grafana_sidecar:\n"
                             "  folder_annotation: k8s-sidecar-target-directory\n"
                             "  labels: {grafana_dashboard: mlops}\n")
    tree = pipeline.build_tree(specs_copy)
    meta = yaml.safe_load(tree[cv.dashboard_configmap_path("mlops-serving-health")])["metadata"]
    assert meta["annotations"] == {"k8s-sidecar-target-directory": "ML Platform"}
    assert meta["labels"]["grafana_dashboard"] == "mlops"


def test_unknown_delivery_is_a_spec_error(tmp_path, specs_copy):
    set_platform(specs_copy, "grafana_delivery: sidecar\n")
    r = run("build", "--specs", str(specs_copy), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "platform.yaml" in r.stderr and "grafana_delivery" in r.stderr


def _huge_dashboard(specs: Path) -> None:
    f = specs / "serving-health.yaml"
    text = f.read_text()
    assert "\ndescription: " in text
    f.write_text(text.replace("\ndescription: ", "\ndescription: " + "x" * 1_100_000 + " ", 1))


def test_dashboard_over_the_object_limit_fails_the_build_naming_it(tmp_path, specs_copy):
    out = tmp_path / "out"
    assert run("build", "--specs", str(specs_copy), "--out", str(out)).returncode == 0
    before = digest(out)
    _huge_dashboard(specs_copy)
    with pytest.raises(BuildError, match="mlops-serving-health.*over the 1 MiB limit"):
        pipeline.render_tree(load_specs(specs_copy))
    r = run("build", "--specs", str(specs_copy), "--out", str(out))
    assert r.returncode == 1
    assert "mlops-serving-health" in r.stderr and "1 MiB" in r.stderr
    assert "Traceback" not in r.stderr
    assert digest(out) == before


def test_object_limit_applies_to_grafana_dashboards_too(specs_copy):
    set_platform(specs_copy, "grafana_delivery: grafana-operator\n")
    _huge_dashboard(specs_copy)
    with pytest.raises(BuildError, match="mlops-serving-health.*GrafanaDashboard"):
        pipeline.render_tree(load_specs(specs_copy))
