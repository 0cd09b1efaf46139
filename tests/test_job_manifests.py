"""collectors.jobs in the bundle: CronJobs, their config file, the Pushgateway objects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops_dash import conventions as cv
from mlops_dash.collect.config import load_jobs
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.schemas import manifest_errors
from mlops_dash.pipeline import build_tree
from mlops_dash.render import job_manifests
from mlops_dash.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "generated" / "kubernetes" / "collectors"


def objects() -> dict[tuple[str, str], dict]:
    out = {}
    for f in sorted(GENERATED.glob("*.yaml")):
        d = yaml.safe_load(f.read_text())
        out[(d["kind"], d["metadata"]["name"])] = d
    return out


def test_shipped_bundle_has_the_jobs_and_a_pushgateway_passing_the_strict_schemas():
    objs = objects()
    assert sorted(objs) == [
        ("ConfigMap", "mlops-dash-jobs"), ("CronJob", "actuals-demand-forecast"),
        ("CronJob", "drift-demand-forecast"), ("CronJob", "evaluate-demand-forecast"),
        ("Deployment", "mlops-dash-pushgateway"), ("Service", "mlops-dash-pushgateway"),
        ("ServiceMonitor", "mlops-dash-pushgateway")]
    for key, o in objs.items():
        assert manifest_errors(o) == [], key
    monitor = objs[("ServiceMonitor", "mlops-dash-pushgateway")]
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    service = objs[("Service", "mlops-dash-pushgateway")]
    assert monitor["spec"]["selector"]["matchLabels"] == service["metadata"]["labels"]
    deployment = objs[("Deployment", "mlops-dash-pushgateway")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_cronjob_runs_the_job_of_its_model_with_config_pushgateway_and_warehouse_secret():
    cj = objects()[("CronJob", "drift-demand-forecast")]
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "registry.company.com/ml-platform/mlops-dash-collectors:0.1.0"
    assert c["args"] == ["drift", "--model", "demand-forecast"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"MLOPS_DASH_JOBS_CONFIG": "/etc/mlops-dash/jobs.yaml",
                   "MLOPS_DASH_PUSHGATEWAY":
                       "http://mlops-dash-pushgateway.monitoring.svc:9091"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["warehouse"]["secret"] == {
        "secretName": "mlops-dash-warehouse", "items": [{"key": "url", "path": "url"}]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"config": "/etc/mlops-dash", "warehouse": "/etc/mlops-dash/secrets/warehouse"}
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    evaluate = objects()[("CronJob", "evaluate-demand-forecast")]
    env = evaluate["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["MLOPS_DASH_JOBS_CONFIG"]  # logs to MLflow only


def test_the_mounted_config_is_what_the_jobs_read(tmp_path):
    cm = objects()[("ConfigMap", "mlops-dash-jobs")]
    f = tmp_path / "jobs.yaml"
    f.write_text(cm["data"]["jobs.yaml"])
    platform = load_specs(ROOT / "specs").platform_model
    assert load_jobs(f) == platform.collectors.jobs
    assert load_jobs(ROOT / "specs" / "platform.yaml") == platform.collectors.jobs


def test_kustomize_lists_the_job_objects():
    from test_kubernetes_bundle import kustomize

    names = {(d["kind"], d["metadata"]["name"]) for d in kustomize(GENERATED.parent)}
    assert set(objects()) <= names


def _with_jobs(tmp_path: Path, jobs: str) -> Path:
    import shutil

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    text = (specs / "platform.yaml").read_text()
    head = text.split("\ncollectors:")[0]
    (specs / "platform.yaml").write_text(head + "\ncollectors:\n  image: reg.example/c:1\n"
                                         + jobs)
    return specs


def test_existing_pushgateway_no_deployment(tmp_path):
    specs = _with_jobs(tmp_path, """  jobs:
    pushgateway: {deploy: false, url: "http://pushgateway.observability:9091"}
    drift:
      - {model: fraud, reference: {path: /data/r.parquet}, current: {path: /data/c.csv},
         prediction: score}
""")
    tree = build_tree(specs)
    kinds = sorted(p for p in tree if p.startswith("kubernetes/collectors/"))
    assert kinds == [cv.job_manifest_path("configmap-mlops-dash-jobs"),
                     cv.job_manifest_path("cronjob-drift-fraud")]
    cj = yaml.safe_load(tree[cv.job_manifest_path("cronjob-drift-fraud")])
    env = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MLOPS_DASH_PUSHGATEWAY", "value": "http://pushgateway.observability:9091"} \
        in env
    assert "collectors/cronjob-drift-fraud.yaml" in tree[cv.KUSTOMIZATION_PATH]


def test_no_jobs_section_no_objects(tmp_path):
    specs = _with_jobs(tmp_path, "")
    assert not [p for p in build_tree(specs) if "collectors" in p]


@pytest.mark.parametrize("jobs, message", [
    ("  jobs:\n    pushgateway: {deploy: false}\n",
     "collectors.jobs.pushgateway: deploy: false needs the url of an existing Pushgateway"),
    ("  jobs:\n    drift:\n      - {model: m, reference: {sql: 'SELECT 1'}, "
     "current: {path: /c.parquet}, prediction: p}\n",
     "collectors.jobs: drift m reads sql but collectors.jobs.warehouse is not set"),
    ("  jobs:\n    drift:\n      - {model: m, reference: {path: /r.txt}, "
     "current: {path: /c.parquet}, prediction: p}\n",
     "must end with .parquet or .csv"),
    ("  jobs:\n    warehouse: {url_file: /w, password: hunter2}\n",
     "would put a credential into the spec"),
    ("  jobs:\n    drift:\n      - {model: m, reference: {path: /r.csv}, current: {path: /c.csv}}\n",
     "give features, a prediction column, or both"),
])
def test_job_spec_mistakes_are_placed_errors(tmp_path, jobs, message):
    specs = _with_jobs(tmp_path, jobs)
    with pytest.raises(SpecErrors) as err:
        load_specs(specs)
    text = str(err.value)
    assert message in text and "platform.yaml:" in text


def test_jobs_document_round_trips_defaults_left_out():
    platform = load_specs(ROOT / "specs").platform_model
    doc = job_manifests.jobs_document(platform.collectors.jobs)
    assert doc["kind"] == "CollectorJobs"
    assert "pvalue_sample" not in doc["jobs"]["drift"][0]  # a default
