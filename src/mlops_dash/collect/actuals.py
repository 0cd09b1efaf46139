"""``mlops-dash actuals``: observed actuals as ``mlops_actual_value`` (a histogram) per version.

The Prediction Distribution panel compares ``increase(mlops_actual_value_bucket[range])`` with
the predictor's ``mlops_prediction_value_bucket``, so the actuals must be a counter-like
histogram with the predictor's buckets. A job that pushes each run's own counts would restart
the counters at every push (the Pushgateway keeps the last push, it does not add up), so the
job's query returns every actual since a fixed start (README: "Actuals job") and the pushed
histogram is cumulative: it only grows, and ``increase()`` counts the actuals that arrived.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mlops_dash.collect.inputs import JobError, read_table
from mlops_dash.spec.collectors_jobs import ActualsJob, Warehouse

PUSH_JOB = "mlops-dash-actuals"
Hist = dict[str, tuple[list[int], int, float]]  # version → (cumulative counts per le, count, sum)


def histograms_of(job: ActualsJob, df: pd.DataFrame) -> Hist:
    """Cumulative bucket counts (le = each bucket, then +Inf), count and sum per version."""
    what = f"actuals {job.model}"
    missing = [c for c in (job.version_column, job.actual_column) if c not in df.columns]
    if missing:
        raise JobError(f"{what}: the input lacks column(s) {missing}")
    values = df[job.actual_column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise JobError(f"{what}: column {job.actual_column!r} is not numeric "
                       f"(dtype {values.dtype})")
    df = df[[job.version_column, job.actual_column]].dropna()
    if df.empty:
        raise JobError(f"{what}: no actuals in the input")
    edges = np.asarray(job.buckets, dtype=float)
    out: Hist = {}
    for version, rows in df.groupby(df[job.version_column].astype(str)):
        v = np.sort(rows[job.actual_column].to_numpy(dtype=float))
        cum = np.searchsorted(v, edges, side="right").tolist()
        out[str(version)] = (cum, len(v), float(v.sum()))
    return out


def histograms(job: ActualsJob, warehouse: Warehouse | None) -> Hist:
    return histograms_of(job, read_table(job.input, f"actuals {job.model}: input", warehouse))


def registry_for(job: ActualsJob, hist: Hist) -> object:
    """The model's group: ``mlops_actual_value`` histogram families per version."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import HistogramMetricFamily

    class _Actuals:
        def collect(self) -> list[HistogramMetricFamily]:
            fam = HistogramMetricFamily("mlops_actual_value", "Observed actual values",
                                        labels=["model", "version"])
            for version, (cum, count, total) in sorted(hist.items()):
                buckets = [(_le(b), c) for b, c in zip(job.buckets, cum, strict=True)]
                buckets.append(("+Inf", count))
                fam.add_metric([job.model, version], buckets, total)
            return [fam]

    reg = CollectorRegistry()
    reg.register(_Actuals())  # type: ignore[arg-type]
    return reg


def _le(bound: float) -> str:
    """The ``le`` label as prometheus_client writes it for a Histogram (floatToGoString)."""
    from prometheus_client.utils import floatToGoString

    return floatToGoString(bound) if math.isfinite(bound) else "+Inf"


def table(job: ActualsJob, hist: Hist) -> str:
    lines = [f"actuals {job.model}"]
    for version, (_cum, count, total) in sorted(hist.items()):
        lines.append(f"  version {version}: {count:,} actuals, mean {total / count:.6g}")
    return "\n".join(lines)
