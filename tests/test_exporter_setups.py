"""The rules and panels against how the real exporters are installed and behave (issue 14,
point 9), each test naming its source: dcgm-exporter behind its default ServiceMonitor, the
cloudwatch_exporter's S3 storage metrics and the config the build generates for it, and the
Grafana Helm chart's dashboard sidecar reading our ConfigMaps."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import yaml
from conftest import ROOT, require_tool
from promql_eval import rule_labels, run_case, series_text
from test_lint import replace_once

from mlops_dash import conventions as cv
from mlops_dash.errors import SpecErrors
from mlops_dash.lint.exporter_configs import cloudwatch_config_errors
from mlops_dash.spec.cloudwatch import series_name
from mlops_dash.spec.loader import load_specs

COST = "mlops-cost-optimization"

# --------------------------------------------------------------------------- dcgm-exporter

# dcgm-exporter labels each GPU's series with the pod using it (namespace, pod, container).
# Its ServiceMonitor defaults to honorLabels: false (NVIDIA/dcgm-exporter deployment/values.yaml,
# serviceMonitor.honorLabels: false; gpu-operator's ServiceMonitor likewise), so Prometheus
# keeps the scrape target's namespace/pod/container (the exporter's own pod) and renames the
# exporter's to exported_namespace/exported_pod/exported_container (NVIDIA/dcgm-exporter#85;
# Prometheus `honor_labels` docs).
DCGM_TARGET = {"namespace": "gpu-operator", "pod": "nvidia-dcgm-exporter-7xk2p",
               "container": "nvidia-dcgm-exporter", "gpu": "0", "UUID": "GPU-5fd4",
               "Hostname": "gpu-node-1"}


def dcgm_series(pod: str, util: float) -> tuple[str, str]:
    labels = {**DCGM_TARGET, "exported_namespace": "ml-training", "exported_pod": pod,
              "exported_container": "trainer"}
    return series_text("DCGM_FI_DEV_GPU_UTIL", labels), f"{util}x60"


def test_low_gpu_utilization_fires_on_the_default_servicemonitor_labels(tree, tmp_path):
    require_tool("promtool")
    labels = rule_labels(tree, COST, "LowGPUUtilization")
    idle, busy = dcgm_series("trainer-0", 20), dcgm_series("trainer-1", 80)
    firing = series_text("ALERTS", {**labels, "alertname": "LowGPUUtilization",
                                    "alertstate": "firing", "exported_namespace": "ml-training",
                                    "exported_pod": "trainer-0"})
    r = run_case(tmp_path, dict([idle, busy]), [
        ('ALERTS{alertname="LowGPUUtilization"}', "45m", [(firing, 1)]),
        # what the old rule read: the exporter's own namespace, never a training namespace
        ('avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{namespace="ml-training"}) < 50',
         "45m", []),
    ], tree=tree, rule_uids=(COST,))
    assert r.ok, r.output


def test_low_gpu_utilization_is_quiet_for_a_busy_pod(tree, tmp_path):
    require_tool("promtool")
    r = run_case(tmp_path, dict([dcgm_series("trainer-1", 80)]), [
        ('ALERTS{alertname="LowGPUUtilization"}', "45m", []),
    ], tree=tree, rule_uids=(COST,))
    assert r.ok, r.output


def test_every_dcgm_query_reads_the_workload_labels(spec_set):
    """No panel, variable or alert filters or groups DCGM series by the target's namespace/pod
    (the exporter's pod) instead of the workload's exported_* labels."""
    from mlops_dash.spec.crosscheck import queries

    seen = 0
    for doc in spec_set.dashboards:
        for _path, expr in queries(doc):
            for sel in re.findall(r"DCGM_FI_\w+(\{[^}]*\})?", expr):
                seen += 1
                assert not re.search(r"(?<!exported_)\b(namespace|pod|container)\s*=", sel), expr
        for a in doc.model.alerts:
            series = a.signal.series if a.signal.shape == "gauge" else []
            metrics = [s.metric for s in series]
            if any(x.startswith("DCGM_") for x in metrics):
                assert set(a.signal.by) == {"exported_namespace", "exported_pod"}
    assert seen >= 4


# --------------------------------------------------------------------------- cloudwatch_exporter

CW_CONFIG = cv.CLOUDWATCH_EXPORTER_CONFIG_PATH
BUCKET = 'aws_s3_bucket_size_bytes_average{bucket_name="ml-artifacts", storage_type="StandardStorage"}'


def test_generated_cloudwatch_config_fetches_s3_storage_daily(tree):
    """prometheus/cloudwatch_exporter examples/S3.yml and README: BucketSizeBytes with
    period_seconds 86400, range_seconds 172800, set_timestamp false."""
    config = yaml.safe_load(tree[CW_CONFIG])
    assert cloudwatch_config_errors(config) == []
    (rule,) = [r for r in config["metrics"] if r["aws_metric_name"] == "BucketSizeBytes"]
    assert rule["aws_namespace"] == "AWS/S3"
    assert rule["aws_dimensions"] == ["BucketName", "StorageType"]
    assert rule["aws_statistics"] == ["Average"]
    assert rule["period_seconds"] == 86400 and rule["range_seconds"] >= 172800
    assert rule["set_timestamp"] is False
    # the exporter's naming (CloudWatchCollector.java: safeName(toSnakeCase(...))) gives the
    # series the StorageGrowth rule queries
    assert series_name("AWS/S3", "BucketSizeBytes", "Average") == \
        "aws_s3_bucket_size_bytes_average"
    assert "aws_s3_bucket_size_bytes_average" in tree[cv.rule_file_path(COST)]


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(regoin="us-east-1"), "unknown key 'regoin'"),
    (lambda c: c.pop("metrics"), "Must provide metrics"),
    (lambda c: c["metrics"][0].pop("aws_namespace"), "Must provide aws_namespace"),
    (lambda c: c["metrics"][0].update(period_seconds="86400"), "expected a number"),
    (lambda c: c["metrics"][0].update(set_timestamp="false"), "expected bool"),
    (lambda c: c["metrics"][0].update(aws_statistics=["Avg"]), "'Avg' is not one of"),
    (lambda c: c["metrics"][0].update(aws_dimension_select={"BucketName": ["a"]},
                                      aws_dimension_select_regex={"BucketName": ["a.*"]}),
     "cannot be used at once"),
    (lambda c: c["metrics"][0].update(aws_tag_select={"tag_selections": {"a": ["b"]}}),
     "Must provide resource_type_selection"),
])
def test_cloudwatch_config_validator_refuses_what_the_exporter_rejects_or_ignores(
        tree, change, message):
    config = yaml.safe_load(tree[CW_CONFIG])
    change(config)
    errors = cloudwatch_config_errors(config)
    assert any(message in e for e in errors), errors


@pytest.mark.parametrize(("old", "new", "message"), [
    ("period_seconds: 86400, ", "", "is published once a day: use period_seconds: 86400"),
    ("range_seconds: 172800", "range_seconds: 86400", "shorter than two periods"),
    ("set_timestamp: false", "set_timestamp: true", "needs set_timestamp: false"),
    ("statistic: Average", "statistic: Maximum", "names AWS/S3 BucketSizeBytes Maximum "
     "'aws_s3_bucket_size_bytes_maximum'"),
    ("dimensions: [BucketName, StorageType]", "dimensions: [BucketName, StorageClass]",
     "['storage_class']"),
])
def test_cloudwatch_settings_the_rules_cannot_work_with_are_placed_spec_errors(
        specs_copy, old, new, message):
    line = replace_once(specs_copy, "metrics.yaml", old, new)
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    (err,) = exc.value.errors
    assert err.file.endswith("metrics.yaml") and message in err.message, err
    assert abs(err.line - line) <= 6, (err.line, line)


def test_storage_growth_fires_on_the_daily_datapoint_re_exposed_every_scrape(tree, tmp_path):
    """With set_timestamp false the exporter answers every scrape with the newest daily
    datapoint, stamped with the scrape time (README "Timestamps"): a step once a day. 150 GB in
    a day fires StorageGrowth (> 100 GB); the other bucket's 50 GB does not."""
    require_tool("promtool")
    labels = rule_labels(tree, COST, "StorageGrowth")
    quiet = BUCKET.replace("ml-artifacts", "ml-datasets")
    firing = series_text("ALERTS", {**labels, "alertname": "StorageGrowth",
                                    "alertstate": "firing", "bucket_name": "ml-artifacts"})
    r = run_case(tmp_path, {
        BUCKET: "1000000000000+0x1440 1150000000000+0x120",
        quiet: "1000000000000+0x1440 1050000000000+0x120",
    }, [('ALERTS{alertname="StorageGrowth"}', "1d1h", [(firing, 1)])],
        tree=tree, rule_uids=(COST,))
    assert r.ok, r.output


def test_storage_growth_never_sees_samples_stamped_with_cloudwatch_time(tree, tmp_path):
    """With the exporter's default set_timestamp true each sample carries the datapoint's own
    time, a day old for S3 storage: Prometheus keeps one sample per datapoint, hours before any
    evaluation, and an instant query looks back only 5 minutes (README "Timestamps": "if you
    evaluate an instant vector at the current time, you will not see data"). The same 150 GB
    growth then never fires, which is why the generated config sets it false."""
    require_tool("promtool")
    r = run_case(tmp_path, {BUCKET: "1000000000000 _x1439 1150000000000 _x120"}, [
        ('ALERTS{alertname="StorageGrowth"}', "1d1h", []),
        (BUCKET, "1d1h", []),
    ], tree=tree, rule_uids=(COST,))
    assert r.ok, r.output


# --------------------------------------------------------------------------- Grafana sidecar

# grafana/helm-charts charts/grafana at chart 10.5.15 (the last version in that repository,
# parent of 3a90565 "migrate chart grafana"): values.yaml sidecar.dashboards defaults, and
# templates/_pod.tpl, which sets LABEL, LABEL_VALUE only when labelValue is set,
# FOLDER=folder[/defaultFolderName] and FOLDER_ANNOTATION only when folderAnnotation is set.
CHART_DEFAULTS: dict[str, Any] = {
    "label": "grafana_dashboard", "labelValue": "", "folder": "/tmp/dashboards",
    "defaultFolderName": None, "folderAnnotation": None,
    "provider": {"folder": "", "foldersFromFilesStructure": False},
}
# what the README tells users to set
DOCUMENTED = {**CHART_DEFAULTS, "folderAnnotation": "grafana_folder",
              "provider": {"folder": "", "foldersFromFilesStructure": True}}


def sidecar_env(values: dict[str, Any]) -> dict[str, str]:
    env = {"LABEL": values["label"],
           "FOLDER": values["folder"] + (f"/{values['defaultFolderName']}"
                                         if values["defaultFolderName"] else "")}
    if values["labelValue"]:
        env["LABEL_VALUE"] = values["labelValue"]
    if values["folderAnnotation"]:
        env["FOLDER_ANNOTATION"] = values["folderAnnotation"]
    return env


def sidecar_destination(cm: dict[str, Any], env: dict[str, str]) -> str | None:
    """kiwigrid/k8s-sidecar: src/resources.py selects `label` or `label=value`
    (label_selector), src/sidecar.py defaults FOLDER_ANNOTATION to
    k8s-sidecar-target-directory, _get_destination_folder joins a relative annotation value to
    FOLDER and takes an absolute one as it is."""
    labels = cm["metadata"].get("labels", {})
    if env["LABEL"] not in labels or ("LABEL_VALUE" in env
                                      and labels[env["LABEL"]] != env["LABEL_VALUE"]):
        return None
    key = env.get("FOLDER_ANNOTATION", "k8s-sidecar-target-directory")
    value = cm["metadata"].get("annotations", {}).get(key)
    if value is None:
        return env["FOLDER"]
    return value if os.path.isabs(value) else os.path.join(env["FOLDER"], value)


def grafana_folder(dest: str, values: dict[str, Any]) -> str:
    """Grafana's file provider: with foldersFromFilesStructure the sub-folder is the Grafana
    folder; without, every dashboard goes to provider.folder (empty: General)."""
    if not values["provider"]["foldersFromFilesStructure"]:
        return values["provider"]["folder"] or "General"
    rel = os.path.relpath(dest, values["folder"])
    return "General" if rel == "." else rel


def configmaps(tree: dict[str, str]) -> list[dict[str, Any]]:
    out = [yaml.safe_load(t) for rel, t in sorted(tree.items())
           if rel.startswith(f"{cv.KUBERNETES_DIR}/configmap-")]
    assert out
    return out


def test_configmaps_land_in_the_platform_folder_with_the_documented_chart_values(tree, spec_set):
    folder = spec_set.platform_model.grafana_folder
    for cm in configmaps(tree):
        dest = sidecar_destination(cm, sidecar_env(DOCUMENTED))
        assert dest == f"/tmp/dashboards/{folder}", cm["metadata"]["name"]
        assert grafana_folder(dest, DOCUMENTED) == folder
        # labelValue "1" (a common setting) selects them too
        assert sidecar_destination(cm, sidecar_env({**DOCUMENTED, "labelValue": "1"}))


def test_with_chart_defaults_the_folder_annotation_is_not_read(tree):
    """Why the README asks for both settings: with the chart's defaults the sidecar loads the
    ConfigMaps but reads k8s-sidecar-target-directory, and Grafana files everything under
    General."""
    for cm in configmaps(tree):
        dest = sidecar_destination(cm, sidecar_env(CHART_DEFAULTS))
        assert dest == "/tmp/dashboards"
        assert grafana_folder(dest, CHART_DEFAULTS) == "General"
        only_annotation = {**CHART_DEFAULTS, "folderAnnotation": "grafana_folder"}
        assert grafana_folder(sidecar_destination(cm, sidecar_env(only_annotation)),
                              only_annotation) == "General"


def test_readme_and_configmaps_name_the_settings_the_sidecar_reads(tree, spec_set):
    readme = (ROOT / "README.md").read_text()
    sidecar = spec_set.platform_model.grafana_sidecar
    assert f"sidecar.dashboards.folderAnnotation: {sidecar.folder_annotation}" in readme
    assert "sidecar.dashboards.provider.foldersFromFilesStructure: true" in readme
    for rel, text in tree.items():
        if rel.startswith(f"{cv.KUBERNETES_DIR}/configmap-"):
            assert f"folderAnnotation: {sidecar.folder_annotation}" in text.split("apiVersion")[0]


def test_an_absolute_or_escaping_folder_is_a_spec_error(specs_copy):
    """k8s-sidecar takes an absolute annotation value as the destination itself (outside the
    folder Grafana provisions), and `..` leaves it."""
    replace_once(specs_copy, "platform.yaml", "grafana_folder: MLOps", "grafana_folder: /etc")
    with pytest.raises(SpecErrors) as exc:
        load_specs(specs_copy)
    assert "grafana_folder" in exc.value.errors[0].path


def test_unchanged_exporter_config_file_in_generated(tree):
    assert (ROOT / "generated" / CW_CONFIG).read_text() == tree[CW_CONFIG]
