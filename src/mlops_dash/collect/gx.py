"""A Great Expectations 1.x checkpoint action pushing the data-validation gauges.

List it in a checkpoint like GX's own actions (it registers itself as type ``mlops_prometheus``
with GX's action registry, great_expectations/checkpoint/actions.py)::

    from mlops_dash.collect.gx import PrometheusAction
    gx.Checkpoint(name="sales", validation_definitions=[vd],
                  actions=[PrometheusAction(name="prometheus",
                                            pushgateway_url="http://pushgateway:9091")],
                  result_format={"result_format": "COMPLETE"})

For each validation result it pushes one group ``{job, datasource, suite}`` holding
``mlops_data_validation_last_run_records`` (rows of the validated batch),
``..._last_run_failed_records`` (rows failing at least one expectation, each counted once: the
union of the expectations' ``unexpected_index_list``, which only the COMPLETE result format
gives) and ``..._last_run_timestamp_seconds``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from great_expectations.checkpoint.actions import ValidationAction

from mlops_dash.collect.push import PUSHGATEWAY_ENV, push_group

PUSH_JOB = "mlops-dash-gx"


class ValidationCountError(ValueError):
    """The result cannot say which rows failed (it was not run with result_format COMPLETE)."""


def _row_key(index: Any) -> Any:
    """A hashable identity of one unexpected row (an index value, or the id columns' values)."""
    if isinstance(index, dict):
        return tuple(sorted((str(k), str(v)) for k, v in index.items()))
    if isinstance(index, list):
        return tuple(index)
    return index


def count_records(validation: Any) -> tuple[int, int]:
    """(rows validated, rows failing at least one expectation) of one suite's result."""
    records: int | None = None
    failed_rows: set[Any] = set()
    whole_batch_failed = False
    for r in validation.results:
        result = r.result or {}
        if "element_count" in result:
            records = max(records or 0, int(result["element_count"]))
        elif r.expectation_config.type == "expect_table_row_count_to_be_between" and isinstance(
                result.get("observed_value"), int):
            records = max(records or 0, int(result["observed_value"]))
        if r.success:
            continue
        if result.get("unexpected_count"):
            if "unexpected_index_list" not in result:
                raise ValidationCountError(
                    f"expectation {r.expectation_config.type} failed on "
                    f"{result['unexpected_count']} rows but the result lists no rows: run the "
                    "checkpoint with result_format COMPLETE so each failing row is counted once")
            failed_rows.update(_row_key(i) for i in result["unexpected_index_list"])
        else:  # a table-level expectation (or one that raised): the batch as a whole failed
            whole_batch_failed = True
    if records is None:
        raise ValidationCountError(
            "the suite has no column-values expectation (element_count) nor "
            "expect_table_row_count_to_be_between: the validated rows cannot be counted")
    return records, records if whole_batch_failed else len(failed_rows)


def datasource_of(validation: Any) -> str:
    batch = (validation.meta or {}).get("active_batch_definition") or {}
    return str(batch.get("datasource_name") or "unknown")


class PrometheusAction(ValidationAction):
    """Push the last-run data-validation gauges of each validated suite to the Pushgateway."""

    type: Literal["mlops_prometheus"] = "mlops_prometheus"
    pushgateway_url: str = ""  # default: $MLOPS_DASH_PUSHGATEWAY
    job: str = PUSH_JOB
    datasource: str = ""  # default: the batch's datasource_name
    timeout_seconds: float = 10.0
    retries: int = 4

    def run(self, checkpoint_result: Any, action_context: Any = None) -> dict:
        from prometheus_client import CollectorRegistry, Gauge

        gateway = self.pushgateway_url or os.environ.get(PUSHGATEWAY_ENV, "")
        if not gateway:
            raise ValueError(f"PrometheusAction: set pushgateway_url or {PUSHGATEWAY_ENV}")
        groups = []
        for validation in checkpoint_result.run_results.values():
            records, failed = count_records(validation)
            key = {"datasource": self.datasource or datasource_of(validation),
                   "suite": str(validation.suite_name)}
            reg = CollectorRegistry()
            Gauge("mlops_data_validation_last_run_records", "Rows validated by the last run",
                  registry=reg).set(records)
            Gauge("mlops_data_validation_last_run_failed_records",
                  "Rows of the last run failing at least one expectation (each counted once)",
                  registry=reg).set(failed)
            Gauge("mlops_data_validation_last_run_timestamp_seconds",
                  "When the last validation run finished", registry=reg).set(time.time())
            groups.append((key, reg, records, failed))
        for key, reg, _, _ in groups:  # every count is known before the first push
            push_group(gateway, self.job, key, reg, timeout=self.timeout_seconds,
                       retries=self.retries)
        return {"pushed": [{**k, "records": n, "failed_records": f} for k, _, n, f in groups]}
