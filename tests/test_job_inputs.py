"""Job inputs and pushes without the big servers: s3:// through a real moto server (loopback),
local files, the Pushgateway retry policy, the jobs' config errors."""

from __future__ import annotations

import shutil
import sys

import e2e_support as es
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

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


def test_a_credential_in_the_jobs_config_is_a_placed_error_never_echoed(tmp_path):
    """The jobs' configuration is read like a spec (spec/loader.read_mapping): a webhook URL
    pasted into it is refused at its place, as in `build`, not an internal error."""
    import jobs_support as js

    url = "https://hooks.slack.com/services/T0/B0/xyz"
    bad = tmp_path / "jobs.yaml"
    bad.write_text("apiVersion: mlops-dash/v1\nkind: CollectorJobs\njobs:\n  drift:\n"
                   "    - {model: m, reference: {path: r.csv},\n"
                   f"       current: {{path: '{url}'}}, prediction: p}}\n")
    for command in ("drift", "evaluate", "actuals"):
        r = js.run_cli(command, "--config", str(bad))
        assert r.returncode == 1, (command, r.stderr)
        assert "jobs.yaml:6:" in r.stderr and "a Slack webhook URL" in r.stderr, r.stderr
        assert url not in r.stderr and "internal error" not in r.stderr


def test_the_platform_spec_as_jobs_config_has_its_parameters_resolved(tmp_path):
    """A platform spec given as --config is validated as the build validates it: a
    ``${params.x}`` in collectors.jobs gets its declared value."""
    from mlops_dash.collect.config import load_jobs

    text = (ROOT / "specs" / "platform.yaml").read_text()
    assert "\nparameters:" not in text and "    - model: demand-forecast" in text
    spec = tmp_path / "platform.yaml"
    spec.write_text(text.replace("\ncollectors:", "\nparameters:\n  forecast: {type: string, "
                                 "value: demand-forecast}\ncollectors:", 1)
                    .replace("    - model: demand-forecast", "    - model: ${params.forecast}"))
    assert load_jobs(spec) == load_jobs(ROOT / "specs" / "platform.yaml")
