"""The exporter's Kubernetes objects and its spec section: rendered from the spec, strict
schemas, real ``kubectl kustomize``, placed errors for bad configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import GENERATED
from test_kubernetes_bundle import kustomize

from mlops_dash import conventions as cv
from mlops_dash import pipeline
from mlops_dash.collect.run import load_exporter_spec
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.schemas import manifest_errors
from mlops_dash.spec.loader import load_specs

KINDS = ["ServiceAccount", "ConfigMap", "Deployment", "Service", "ServiceMonitor",
         "NetworkPolicy"]


def exporter_objects(tree: dict[str, str]) -> dict[str, dict]:
    return {k: yaml.safe_load(tree[cv.exporter_manifest_path(k)]) for k in KINDS}


def test_kustomize_renders_the_exporter_objects_and_they_pass_the_strict_schemas():
    objects = [o for o in kustomize(GENERATED / "kubernetes")
               if o["metadata"]["name"].startswith("mlops-exporter")]
    assert sorted(o["kind"] for o in objects) == sorted(KINDS)
    for o in objects:
        assert manifest_errors(o) == [], o["kind"]


def test_objects_follow_the_spec(spec_set, tree):
    spec = spec_set.platform_model.collectors.exporter
    objs = exporter_objects(tree)
    dep = objs["Deployment"]["spec"]["template"]["spec"]
    (c,) = dep["containers"]
    assert c["image"] == spec_set.platform_model.collectors.image
    assert c["args"] == ["exporter", "--config", "/etc/mlops-exporter/platform.yaml",
                         "--listen", ":9210"]
    assert objs["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts["/var/lib/mlops-exporter"] == "state"
    volumes = {v["name"]: v for v in dep["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == "mlops-exporter-state"
    token_dir = mounts["/var/run/secrets/kubeflow/pipelines"]
    (src,) = volumes[token_dir]["projected"]["sources"]
    assert src["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    assert src["serviceAccountToken"]["path"] == "token"
    assert spec.kfp.token_path == "/var/run/secrets/kubeflow/pipelines/token"
    assert dep["serviceAccountName"] == objs["ServiceAccount"]["metadata"]["name"]
    sm = objs["ServiceMonitor"]
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["selector"]["matchLabels"] == objs["Service"]["spec"]["selector"]
    pod_labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert objs["Service"]["spec"]["selector"].items() <= pod_labels.items()
    np = objs["NetworkPolicy"]["spec"]
    assert np["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9210}]}]
    egress_ports = {p["port"] for rule in np["egress"] for p in rule["ports"]}
    assert {53, 8888, 5000, 443} <= egress_ports


def test_the_configmap_is_a_config_the_exporter_reads(spec_set, tree, tmp_path):
    cm = exporter_objects(tree)["ConfigMap"]
    f = tmp_path / "platform.yaml"
    f.write_text(cm["data"]["platform.yaml"])
    assert load_exporter_spec(f) == spec_set.platform_model.collectors.exporter
    dep = exporter_objects(tree)["Deployment"]
    assert dep["spec"]["template"]["metadata"]["annotations"]["mlops-dash/config-hash"]


def _set_collectors(specs: Path, text: str) -> None:
    f = specs / "platform.yaml"
    body = f.read_text()
    body = body[:body.index("\ncollectors:")] + "\n" + text
    f.write_text(body)


def test_no_exporter_section_no_exporter_objects(specs_copy):
    # collectors without an exporter (the digest job still needs the image)
    _set_collectors(specs_copy, "collectors:\n  image: registry.company.com/ml/collectors:1\n")
    tree = pipeline.build_tree(specs_copy)
    assert not [p for p in tree if "exporter-" in p]
    assert "exporter-deployment.yaml" not in tree[cv.KUSTOMIZATION_PATH]


def test_secret_refs_are_mounted_at_their_file_paths(specs_copy):
    _set_collectors(specs_copy, """collectors:
  image: registry.company.com/ml/collectors:1
  exporter:
    env_from_secrets: [aws-cost-explorer-keys]
    kfp:
      url: https://kfp.company.com
      token_file: /etc/mlops-exporter/secrets/kfp-token
      token_secret_ref: {name: kfp-api, key: token}
    mlflow:
      url: http://mlflow:5000
      token_file: /etc/mlops-exporter/secrets/mlflow-token
      token_secret_ref: {name: mlflow-api, key: token}
      models: [{name: m, latest: 1}]
""")
    tree = pipeline.build_tree(specs_copy)
    dep = yaml.safe_load(tree[cv.exporter_manifest_path("Deployment")])
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["envFrom"] == [{"secretRef": {"name": "aws-cost-explorer-keys"}}]
    vol = next(v for v in pod["volumes"] if v["name"].startswith("credentials"))
    assert vol["projected"]["sources"] == [
        {"secret": {"name": "kfp-api", "items": [{"key": "token", "path": "kfp-token"}]}},
        {"secret": {"name": "mlflow-api", "items": [{"key": "token",
                                                     "path": "mlflow-token"}]}}]
    assert manifest_errors(dep) == []
    np = yaml.safe_load(tree[cv.exporter_manifest_path("NetworkPolicy")])
    assert {p["port"] for r in np["spec"]["egress"] for p in r["ports"]} == {53, 443, 5000}


@pytest.mark.parametrize("text,place,message", [
    ("collectors:\n  exporter:\n    kfp: {url: http://kfp:8888}\n",
     "collectors.image", "required"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter: {}\n",
     "collectors.exporter", "at least one source"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    kfp: {url: kfp:8888}\n",
     "collectors.exporter.kfp.url", ""),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    kfp:\n      url: http://k\n"
     "      token: abcdef0123456789\n", "collectors.exporter.kfp.token", "credential"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    kfp:\n      url: http://k\n"
     "      duration_buckets: [60, 30]\n", "collectors.exporter.kfp.duration_buckets",
     "increasing"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    aws_cost_explorer:\n"
     "      cost_tag: team\n      interval: 5m\n", "collectors.exporter.aws_cost_explorer",
     "at most once an hour"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    mlflow:\n"
     "      url: http://m\n      models: [{name: m}]\n", "collectors.exporter.mlflow.models[0]",
     "aliases, latest"),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    storage:\n"
     "      prefixes: [{name: d, url: 'http://bucket/x'}]\n",
     "collectors.exporter.storage.prefixes[0].url", ""),
    ("collectors:\n  image: r.company.com/x:1\n  exporter:\n    kfp:\n      url: http://k\n"
     "      components: {trainingg: [train]}\n", "collectors.exporter.kfp.components", ""),
])
def test_bad_exporter_configuration_is_a_placed_error(specs_copy, text, place, message):
    _set_collectors(specs_copy, text)
    with pytest.raises(SpecErrors) as info:
        load_specs(specs_copy)
    out = str(info.value)
    assert "platform.yaml:" in out and place in out, out
    assert message in out, out
    assert "abcdef0123456789" not in out
