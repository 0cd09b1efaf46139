"""S3 prefix sizes and Cost Explorer billing against moto's server mode on loopback."""

from __future__ import annotations

import pytest
from exporter_support import series, v, values
from moto_support import MotoServer, check_shape, ce_output_shape, cost_result, fake_credentials

from mlops_dash.collect.billing import CostExplorerCollector, last_complete_day
from mlops_dash.collect.source import SourceError
from mlops_dash.collect.storage import storage_collectors
from mlops_dash.spec.collectors_exporter import CostExplorerSource, StorageSource


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def creds(monkeypatch):
    fake_credentials(monkeypatch)


def test_s3_prefix_sizes_over_pages(moto):
    s3 = moto.boto3("s3")
    s3.create_bucket(Bucket="ml-data")
    for i in range(253):  # more than two list_objects_v2 pages of 100
        s3.put_object(Bucket="ml-data", Key=f"datasets/sales/part-{i:05d}.parquet",
                      Body=b"x" * (i % 7 + 1))
    s3.put_object(Bucket="ml-data", Key="datasets/sales-old/part-0.parquet", Body=b"y" * 50)
    s3.put_object(Bucket="ml-data", Key="artifacts/run-1/model.pkl", Body=b"z" * 333)
    spec = StorageSource(s3_endpoint_url=moto.url, timeout="5s", prefixes=[
        {"name": "sales-daily", "url": "s3://ml-data/datasets/sales/"},
        {"name": "all-datasets", "url": "s3://ml-data/datasets/"},
        {"name": "artifacts", "url": "s3://ml-data/artifacts/", "kind": "artifacts"}])
    [c] = storage_collectors(spec)
    assert c.name == "s3"
    c.page_size = 100
    c.poll()
    vals = values(c.families())
    expected = sum(i % 7 + 1 for i in range(253))
    assert v(vals, "mlops_dataset_size_bytes", dataset="sales-daily") == expected
    assert v(vals, "mlops_dataset_size_bytes", dataset="all-datasets") == expected + 50
    assert v(vals, "mlops_artifact_prefix_size_bytes", prefix="artifacts") == 333


def test_s3_missing_bucket_and_bad_credentials(moto, monkeypatch):
    spec = StorageSource(s3_endpoint_url=moto.url, timeout="5s", prefixes=[
        {"name": "nope", "url": "s3://no-such-bucket/x/"}])
    [c] = storage_collectors(spec)
    with pytest.raises(SourceError) as info:
        c.poll()
    assert info.value.kind == "not_found"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    [c] = storage_collectors(spec)
    with pytest.raises(SourceError) as info:
        c.poll()
    assert info.value.kind == "auth", info.value.reason
    assert "testing" not in info.value.reason


def test_gs_prefixes_are_their_own_source():
    spec = StorageSource(prefixes=[{"name": "a", "url": "s3://bucket-1/a/"},
                                   {"name": "g", "url": "gs://bucket-2/g/"}])
    assert [c.name for c in storage_collectors(spec)] == ["s3", "gcs"]


def test_cost_explorer_results_follow_botocore_shape():
    start, end = last_complete_day()
    check_shape(cost_result(start, end, {("Amazon EC2", "ml"): 1.5}, "team"), ce_output_shape())
    with pytest.raises(AssertionError, match="not a member"):
        check_shape({"ResultsByTime": [], "Totals": {}}, ce_output_shape())


def test_cost_explorer_last_complete_day_by_service_and_tag(moto):
    moto.reset()
    start, end = last_complete_day()
    moto.queue_cost_results([
        cost_result(start, end, {("Amazon Elastic Compute Cloud - Compute", "ml-platform"): 120.5,
                                 ("Amazon SageMaker", ""): 30.25}, "team", token="page-2"),
        cost_result(start, end, {("Amazon Simple Storage Service", "ml-platform"): 4.75},
                    "team"),
    ])
    c = CostExplorerCollector(CostExplorerSource(cost_tag="team", endpoint_url=moto.url,
                                                 timeout="5s"))
    c.poll()
    vals = values(c.families())
    assert series(vals, "mlops_cloud_cost_dollars") == {
        (("cost_tag", "ml-platform"), ("provider", "aws"),
         ("service", "Amazon Elastic Compute Cloud - Compute")): 120.5,
        (("cost_tag", "untagged"), ("provider", "aws"), ("service", "Amazon SageMaker")): 30.25,
        (("cost_tag", "ml-platform"), ("provider", "aws"),
         ("service", "Amazon Simple Storage Service")): 4.75,
    }
    assert c.day == start


def test_cost_explorer_unreachable():
    import e2e_support as es

    c = CostExplorerCollector(CostExplorerSource(
        cost_tag="team", endpoint_url=f"http://127.0.0.1:{es.free_port()}", timeout="2s"))
    with pytest.raises(SourceError) as info:
        c.poll()
    assert info.value.kind == "unreachable"


@pytest.mark.parametrize("fault,kind", [
    ({"status": 503, "body": b"<Error><Code>ServiceUnavailable</Code></Error>",
      "content_type": "application/xml"}, "http_5xx"),
    ({"status": 200, "body": b"{}", "delay_s": 4}, "timeout"),
])
def test_s3_and_cost_explorer_faults(fault, kind):
    import time

    from fault_server import FaultServer

    server = FaultServer(**fault)
    try:
        [s3] = storage_collectors(StorageSource(s3_endpoint_url=server.url, timeout="2s",
                                                prefixes=[{"name": "d", "url": "s3://bkt/d/"}]))
        ce = CostExplorerCollector(CostExplorerSource(cost_tag="team", endpoint_url=server.url,
                                                      timeout="2s"))
        for c in (s3, ce):
            t0 = time.monotonic()
            with pytest.raises(SourceError) as info:
                c.poll()
            assert info.value.kind == kind, (c.name, info.value.reason)
            assert time.monotonic() - t0 < 10
    finally:
        server.stop()
