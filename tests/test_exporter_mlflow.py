"""The MLflow source against a real mlflow server on loopback (tests/mlflow_support.py)."""

from __future__ import annotations

import pytest
from exporter_support import series, v, values
from mlflow_support import log_evaluation, mlflow2_version, mlflow3_version

from mlops_dash.collect.mlflow import MlflowCollector
from mlops_dash.collect.source import SourceError
from mlops_dash.spec.collectors_exporter import MlflowSource


def collector(url: str, **spec) -> MlflowCollector:
    cfg = {"url": url, "timeout": "5s",
           "models": [{"name": "demand-forecast", "aliases": ["champion"], "latest": 2},
                      {"name": "legacy-model", "latest": 1}], **spec}
    return MlflowCollector(MlflowSource(**cfg))


def test_mlflow3_logged_model_metrics_and_mlflow2_fallback(mlflow_server, tmp_path):
    client = mlflow_server.client()
    v1, m1 = mlflow3_version(client, tmp_path, "demand-forecast", 0.5, 4096, alias="champion")
    v2, m2 = mlflow3_version(client, tmp_path, "demand-forecast", 0.4, 8192)
    v3, m3 = mlflow3_version(client, tmp_path, "demand-forecast", 0.3, 1000)
    log_evaluation(client, m1, mae=10.0, rmse=12.0, accuracy=0.995)
    log_evaluation(client, m2, mae=11.0, rmse=13.0, accuracy=0.991)
    lv = mlflow2_version(client, tmp_path, "legacy-model", 2048, mae=3.0, rmse=4.0)
    c = collector(mlflow_server.url)
    c.poll()
    vals = values(c.families())
    # champion (v1) and the two latest (v2, v3); v3 has no evaluation yet: no quality gauge,
    # and never the training MAE logged on its run
    assert set(series(vals, "mlops_model_mae")) == {
        (("model", "demand-forecast"), ("version", v1)),
        (("model", "demand-forecast"), ("version", v2)),
        (("model", "legacy-model"), ("version", lv))}
    assert v(vals, "mlops_model_mae", model="demand-forecast", version=v1) == 10.0
    assert v(vals, "mlops_model_rmse", model="demand-forecast", version=v2) == 13.0
    assert v(vals, "mlops_model_accuracy_ratio", model="demand-forecast", version=v1) == 0.995
    assert v(vals, "mlops_model_mae", model="legacy-model", version=lv) == 3.0
    assert v(vals, "mlops_model_artifact_size_bytes", model="demand-forecast",
             version=v1) == 4096
    assert v(vals, "mlops_model_artifact_size_bytes", model="demand-forecast",
             version=v3) == 1000
    # MLflow 2 style: the version's source folder only, not the run's other artifacts
    assert v(vals, "mlops_model_artifact_size_bytes", model="legacy-model", version=lv) == 2048
    # a newer evaluation replaces the value; the alias moving changes the selection
    log_evaluation(client, m1, mae=14.0)
    client.set_registered_model_alias("demand-forecast", "champion", v3)
    log_evaluation(client, m3, mae=9.0)
    c.poll()
    vals = values(c.families())
    assert v(vals, "mlops_model_mae", model="demand-forecast", version=v1) is None
    assert v(vals, "mlops_model_mae", model="demand-forecast", version=v3) == 9.0


def test_metric_key_mapping_and_missing_alias(mlflow_server, tmp_path):
    client = mlflow_server.client()
    ver, mid = mlflow3_version(client, tmp_path, "mapped-model", 1.0, 500, alias="prod")
    log_evaluation(client, mid, eval_mae=2.5, eval_acc=0.97)
    c = collector(mlflow_server.url, models=[
        {"name": "mapped-model", "aliases": ["prod", "no-such-alias"]}],
        metric_keys={"mae": "eval_mae", "accuracy": "eval_acc"})
    c.poll()
    vals = values(c.families())
    assert v(vals, "mlops_model_mae", model="mapped-model", version=ver) == 2.5
    assert v(vals, "mlops_model_accuracy_ratio", model="mapped-model", version=ver) == 0.97


def test_unreachable_mlflow_is_a_source_error():
    import e2e_support as es

    c = collector(f"http://127.0.0.1:{es.free_port()}", timeout="2s")
    with pytest.raises(SourceError) as info:
        c.poll()
    assert info.value.kind == "unreachable", info.value.reason


@pytest.mark.parametrize("fault,kind", [
    ({"status": 503}, "http_5xx"),
    ({"status": 200, "body": b"<html>not json"}, "malformed"),
    ({"status": 200, "body": b"{}", "delay_s": 4}, "timeout"),
    ({"status": 401, "body": b'{"error_code": "UNAUTHENTICATED", "message": "bad token"}'},
     "auth"),
])
def test_mlflow_faults_are_source_errors_of_their_kind(fault, kind):
    import time

    from fault_server import FaultServer

    server = FaultServer(**fault)
    try:
        c = collector(server.url, timeout="2s")
        t0 = time.monotonic()
        with pytest.raises(SourceError) as info:
            c.poll()
        assert info.value.kind == kind, info.value.reason
        assert time.monotonic() - t0 < 10
        assert server.hits <= 2, "no retry loop of the client's own"
    finally:
        server.stop()
