"""Job inputs and pushes without the big servers: s3:// through a real moto server (loopback),
local files, the Pushgateway retry policy, the jobs' config errors."""

from __future__ import annotations

import shutil
import sys

import e2e_support as es
import numpy as np
import pandas as pd
import pytest

from mlops_dash.collect import push
from mlops_dash.collect.inputs import JobError, read_table
from mlops_dash.spec.collectors_jobs import DataInput


@pytest.fixture()
def s3(tmp_path, monkeypatch):
    port = es.free_port()
    binary = shutil.which("moto_server")
    argv = [binary] if binary else [sys.executable, "-m", "moto.server"]
    server = es.Process("moto", [*argv, "-H", "127.0.0.1", "-p", str(port)], tmp_path).start()
    url = f"http://127.0.0.1:{port}"
    try:
        es.wait_for("moto", lambda: es.http_json(url + "/moto-api/data.json") is not None, 30)
        for k, v in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test",
                     "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(k, v)
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="datasets")
        yield client
    finally:
        server.stop()


def test_s3_parquet_and_csv_inputs(s3, tmp_path):
    df = pd.DataFrame({"x": np.arange(5.0), "c": list("abcde")})
    df.to_parquet(tmp_path / "w.parquet")
    s3.upload_file(str(tmp_path / "w.parquet"), "datasets", "m/ref.parquet")
    s3.put_object(Bucket="datasets", Key="m/cur.csv", Body=df.to_csv(index=False).encode())
    got = read_table(DataInput(path="s3://datasets/m/ref.parquet"), "reference")
    pd.testing.assert_frame_equal(got, df)
    got = read_table(DataInput(path="s3://datasets/m/cur.csv"), "current")
    assert got["x"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(JobError, match="reference: s3://datasets/m/none.parquet: NoSuchKey"):
        read_table(DataInput(path="s3://datasets/m/none.parquet"), "reference")


def test_local_file_errors_name_the_input(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(JobError, match=r"current: cannot read .*bad.parquet"):
        read_table(DataInput(path=str(tmp_path / "bad.parquet")), "current")
    with pytest.raises(JobError, match="no such file"):
        read_table(DataInput(path=str(tmp_path / "none.csv")), "current")
    with pytest.raises(JobError, match="needs collectors.jobs.warehouse"):
        read_table(DataInput(sql="SELECT 1"), "current")


def test_push_retries_with_bounded_exponential_backoff(capsys):
    from prometheus_client import CollectorRegistry

    sleeps: list[float] = []
    port = es.free_port()
    with pytest.raises(JobError, match="failed after 8 attempt"):
        push.push_group(f"http://127.0.0.1:{port}", "j", {"model": "m"}, CollectorRegistry(),
                        timeout=1, retries=7, sleep=sleeps.append)
    assert sleeps == [1, 2, 4, 8, 16, 30, 30]
    assert capsys.readouterr().err.count("retrying in") == 7


def test_gateway_address_precedence(monkeypatch):
    monkeypatch.delenv(push.PUSHGATEWAY_ENV, raising=False)
    with pytest.raises(JobError, match="no Pushgateway address"):
        push.gateway_address(None, None)
    assert push.gateway_address(None, "http://spec") == "http://spec"
    monkeypatch.setenv(push.PUSHGATEWAY_ENV, "http://env")
    assert push.gateway_address(None, "http://spec") == "http://env"
    assert push.gateway_address("http://flag", "http://spec") == "http://flag"


def test_job_commands_report_config_problems_without_traceback(tmp_path):
    import jobs_support as js

    r = js.run_cli("drift", "--config", str(tmp_path / "none.yaml"))
    assert r.returncode == 1 and "none.yaml: cannot read file" in r.stderr
    bad = tmp_path / "jobs.yaml"
    bad.write_text("apiVersion: mlops-dash/v1\nkind: CollectorJobs\njobs:\n  drift:\n"
                   "    - {model: m, reference: {path: r.csv}, current: {path: c.csv},\n"
                   "       prediction: p, bins: one}\n")
    r = js.run_cli("drift", "--config", str(bad))
    assert r.returncode == 1
    assert "jobs.yaml:6:" in r.stderr and "jobs.drift[0].bins: expected a whole number" in r.stderr
    r = js.run_cli("evaluate", "--config", str(bad))
    assert r.returncode == 1 and "Traceback" not in r.stderr
