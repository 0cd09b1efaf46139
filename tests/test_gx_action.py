"""The Great Expectations action on a real GX 1.x checkpoint (pandas), a real Pushgateway and
Prometheus: DataQualityFailure fires on a run with 10% bad rows and resolves on a clean run.

GX's action API: great_expectations/checkpoint/actions.py (1.24.1, ValidationAction: a
pydantic model with ``type`` registering the class, ``run(checkpoint_result, action_context)``);
unexpected_index_list with result_format COMPLETE: great_expectations/expectations/
expectation.py (_format_map_output).
"""

from __future__ import annotations

import logging

import e2e_support as es
import jobs_support as js
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import GENERATED

import great_expectations as gx

from mlops_dash.collect.gx import PrometheusAction, ValidationCountError, count_records
from mlops_dash.spec.base import duration_seconds

RULES = GENERATED / "prometheus" / "mlops-drift-data-quality.rules.yaml"


def shipped_rule() -> dict:
    """The shipped DataQualityFailure (METRICS.md: failed/records of the last run > 5%, no
    window, firing until a clean run), on the last-run gauges the action pushes."""
    for g in yaml.safe_load(RULES.read_text())["groups"]:
        for r in g["rules"]:
            if r.get("alert") == "DataQualityFailure":
                assert "mlops_data_validation_last_run_failed_records" in r["expr"], r
                assert duration_seconds(r.get("for", "0s")) == 0, r
                return r
    raise AssertionError("DataQualityFailure is not in the shipped rules")


def checkpoint(ctx, action, name: str = "sales", result_format: str = "COMPLETE"):
    ds = ctx.data_sources.add_pandas("warehouse_sales")
    asset = ds.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(gx.ExpectationSuite("sales_suite"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
        column="units", min_value=0, max_value=1000))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="price"))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(
        column="region", value_set=["north", "south", "east", "west"]))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="sales", data=batch,
                                                                suite=suite))
    return ctx.checkpoints.add(gx.Checkpoint(
        name="sales", validation_definitions=[vd], actions=[action],
        result_format={"result_format": result_format}))


def sales(n: int, bad_share: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"units": rng.integers(0, 1000, n).astype(float),
                       "price": rng.uniform(1, 50, n),
                       "region": rng.choice(["north", "south", "east", "west"], n)})
    bad = rng.choice(n, int(n * bad_share), replace=False)
    # each bad row breaks one or two expectations: counted once
    third = len(bad) // 3
    df.loc[bad[:third], "units"] = -5
    df.loc[bad[third:2 * third], "price"] = np.nan
    df.loc[bad[2 * third:], ["units", "region"]] = [5000, "mars"]
    return df


@pytest.fixture(scope="module")
def quiet_gx():
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    yield


def test_failed_rows_are_the_union_of_unexpected_rows(quiet_gx, tmp_path):
    ctx = gx.get_context(mode="ephemeral")
    captured = {}

    class Capture(PrometheusAction):
        type: str = "mlops_prometheus_capture"

        def run(self, checkpoint_result, action_context=None):
            (res,) = checkpoint_result.run_results.values()
            captured["counts"] = count_records(res)
            captured["per_expectation"] = sum(r.result["unexpected_count"] for r in res.results)
            return {}

    cp = checkpoint(ctx, Capture(name="capture"))
    df = sales(1000, 0.10)
    cp.run(batch_parameters={"dataframe": df})
    records, failed = captured["counts"]
    assert records == 1000
    bad = (~df["units"].between(0, 1000)) | df["price"].isna() | ~df["region"].isin(
        ["north", "south", "east", "west"])
    assert failed == int(bad.sum()) == 100
    assert captured["per_expectation"] > failed  # summing per expectation would overcount


def test_summary_result_format_is_refused_with_advice(quiet_gx):
    ctx = gx.get_context(mode="ephemeral")
    out = {}

    class Capture(PrometheusAction):
        type: str = "mlops_prometheus_capture2"

        def run(self, checkpoint_result, action_context=None):
            (res,) = checkpoint_result.run_results.values()
            with pytest.raises(ValidationCountError, match="result_format COMPLETE"):
                count_records(res)
            out["checked"] = True
            return {}

    cp = checkpoint(ctx, Capture(name="capture"), result_format="SUMMARY")
    cp.run(batch_parameters={"dataframe": sales(200, 0.1)})
    assert out["checked"]


def test_bad_then_clean_checkpoint_fires_then_resolves_data_quality_failure(quiet_gx, tmp_path):
    pg = js.Pushgateway(tmp_path).start()
    rule = shipped_rule()
    rules = tmp_path / "dq.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dq", "rules": [rule]}]}))
    prom = js.prometheus_scraping(tmp_path / "prom", [rules], pg.url)
    try:
        prom.start()
        ctx = gx.get_context(mode="ephemeral")
        cp = checkpoint(ctx, PrometheusAction(name="prometheus", pushgateway_url=pg.url))
        result = cp.run(batch_parameters={"dataframe": sales(2000, 0.10)})
        assert not result.success
        js.wait_alert(prom, "DataQualityFailure", "firing", 30)
        (alert,) = [a for a in prom.api("alerts")["alerts"]
                    if a["labels"]["alertname"] == "DataQualityFailure"]
        assert alert["labels"]["datasource"] == "warehouse_sales"
        assert alert["labels"]["severity"] == "critical"
        failed = prom.query("mlops_data_validation_last_run_failed_records")
        assert [s["value"][1] for s in failed] == ["200"]
        assert failed[0]["metric"]["suite"] == "sales_suite"
        result = cp.run(batch_parameters={"dataframe": sales(2000, 0.0, seed=1)})
        assert result.success
        js.wait_alert(prom, "DataQualityFailure", "inactive", 30)
        assert prom.query("mlops_data_validation_last_run_records")[0]["value"][1] == "2000"
        assert prom.query("mlops_data_validation_last_run_timestamp_seconds")
    finally:
        prom.stop()
        pg.stop()


def test_unreachable_pushgateway_fails_the_action_after_bounded_retries(quiet_gx):
    ctx = gx.get_context(mode="ephemeral")
    port = es.free_port()
    cp = checkpoint(ctx, PrometheusAction(name="prometheus", retries=1, timeout_seconds=1,
                                          pushgateway_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(Exception, match="failed after 2 attempt"):
        cp.run(batch_parameters={"dataframe": sales(100, 0.0)})
