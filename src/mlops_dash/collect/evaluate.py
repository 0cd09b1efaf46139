"""``mlops-dash evaluate``: recent predictions vs arrived actuals, per model version → MLflow.

MAE, RMSE and accuracy (as the spec defines it: classification accuracy, or the share of
predictions within a tolerance of the actual) of each version found in the input, logged to
MLflow against that version: MLflow 3 attaches the metrics to the version's LoggedModel
(``log_metric(..., model_id=...)``, in the version's run); MLflow 2 logs them to the version's
run. This job never pushes ``mlops_model_*``: the exporter's MLflow source turns what is logged
here into those gauges.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_dash.collect.inputs import JobError, read_table
from mlops_dash.spec.collectors_jobs import Evaluation, Warehouse

# MLflow metric keys this job logs (and the exporter's MLflow source reads).
METRIC_KEYS = ("mae", "rmse", "accuracy")


@dataclass(frozen=True)
class VersionResult:
    version: str
    rows: int
    mae: float | None = None
    rmse: float | None = None
    accuracy: float | None = None
    skipped: str = ""


def joined(job: Evaluation, warehouse: Warehouse | None) -> pd.DataFrame:
    """One row per prediction that has its actual (version, prediction, actual columns)."""
    what = f"evaluate {job.model}"
    if job.input is not None:
        df = read_table(job.input, f"{what}: input", warehouse)
    else:
        assert job.predictions is not None and job.actuals is not None
        preds = read_table(job.predictions, f"{what}: predictions", warehouse)
        acts = read_table(job.actuals, f"{what}: actuals", warehouse)
        for side, frame in (("predictions", preds), ("actuals", acts)):
            missing = [k for k in job.join_on if k not in frame.columns]
            if missing:
                raise JobError(f"{what}: {side} lack the join_on column(s) {missing}")
        df = preds.merge(acts, on=job.join_on, how="inner", suffixes=("", "_actual"))
    needed = [job.version_column, job.prediction_column, job.actual_column]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise JobError(f"{what}: the input lacks column(s) {missing} "
                       f"(has {sorted(map(str, df.columns))[:12]})")
    return df[needed].dropna()


def scores(job: Evaluation, pred: pd.Series, actual: pd.Series) -> tuple[float, float, float]:
    """(MAE, RMSE, accuracy) of one version's rows."""
    if job.accuracy.kind == "classification":
        accuracy = float((pred.astype(str).to_numpy() == actual.astype(str).to_numpy()).mean())
        try:
            p, a = pred.to_numpy(dtype=float), actual.to_numpy(dtype=float)
        except (TypeError, ValueError):  # class labels: errors are not defined
            return math.nan, math.nan, accuracy
    else:
        try:
            p, a = pred.to_numpy(dtype=float), actual.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise JobError(f"evaluate {job.model}: {job.prediction_column}/{job.actual_column} "
                           "are not numbers (use accuracy.kind: classification)") from None
        allowed = job.accuracy.tolerance * (np.abs(a) if job.accuracy.relative else 1.0)
        accuracy = float((np.abs(p - a) <= allowed).mean())
    err = p - a
    return float(np.abs(err).mean()), float(np.sqrt((err ** 2).mean())), accuracy


def evaluate_frame(job: Evaluation, df: pd.DataFrame) -> list[VersionResult]:
    """Scores of each version of the joined table (too few rows: skipped with the reason)."""
    if df.empty:
        raise JobError(f"evaluate {job.model}: no predictions with arrived actuals")
    out = []
    for version, rows in sorted(df.groupby(df[job.version_column].astype(str)),
                                key=lambda kv: str(kv[0])):
        if len(rows) < job.min_rows:
            out.append(VersionResult(str(version), len(rows),
                                     skipped=f"only {len(rows)} rows (min_rows {job.min_rows})"))
            continue
        mae, rmse, acc = scores(job, rows[job.prediction_column], rows[job.actual_column])
        out.append(VersionResult(str(version), len(rows), mae, rmse, acc))
    return out


def evaluate_job(job: Evaluation, warehouse: Warehouse | None) -> list[VersionResult]:
    return evaluate_frame(job, joined(job, warehouse))


def table(job: Evaluation, results: list[VersionResult]) -> str:
    lines = [f"evaluation {job.model}", f"{'version':<12} {'rows':>8} {'mae':>12} "
             f"{'rmse':>12} {'accuracy':>9}  note"]
    for r in results:
        if r.skipped:
            lines.append(f"{r.version:<12} {r.rows:>8}  skipped: {r.skipped}")
            continue
        lines.append(f"{r.version:<12} {r.rows:>8} {r.mae:>12.6g} {r.rmse:>12.6g} "
                     f"{r.accuracy:>9.4f}")
    return "\n".join(lines)


def logged_model_id(mv: object) -> str | None:
    """The LoggedModel (MLflow 3) of a model version: its ``model_id``, or the id in its
    ``models:/<model_id>`` source (the SQL registry store keeps only the source:
    mlflow/store/model_registry/sqlalchemy_store.py, create_model_version); None on MLflow 2."""
    model_id = getattr(mv, "model_id", None)
    if model_id:
        return str(model_id)
    source = str(getattr(mv, "source", "") or "")
    rest = source.removeprefix("models:/")
    if rest != source and rest.startswith("m-") and "/" not in rest:
        return rest
    return None


def log_to_mlflow(job: Evaluation, results: list[VersionResult]) -> list[str]:
    """Log each evaluated version's metrics to MLflow; lines saying what was logged where."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=job.tracking_uri)
    name = job.registered_model or job.model
    now_ms = int(time.time() * 1000)
    done = []
    for r in results:
        if r.skipped:
            continue
        try:
            mv = client.get_model_version(name, r.version)
        except MlflowException as exc:
            text = str(exc.message)
            if any(s in text for s in ("Failed to establish", "Max retries", "timed out")):
                raise JobError(f"evaluate {job.model}: MLflow {job.tracking_uri} unreachable: "
                               f"{text.splitlines()[0][:300]}") from None
            raise JobError(f"evaluate {job.model}: MLflow {job.tracking_uri}: version "
                           f"{r.version} of {name!r}: {text.splitlines()[0][:300]}") from None
        except Exception as exc:  # connection refused / timeouts come as requests errors
            raise JobError(f"evaluate {job.model}: MLflow {job.tracking_uri} unreachable: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        model_id = logged_model_id(mv)
        run_id = mv.run_id
        if run_id is None:
            raise JobError(f"evaluate {job.model}: version {r.version} of {name!r} has no run "
                           "to log to")
        values = {"mae": r.mae, "rmse": r.rmse, "accuracy": r.accuracy}
        for key in METRIC_KEYS:
            v = values[key]
            if v is None or math.isnan(v):
                continue
            kwargs = {"model_id": model_id} if model_id else {}
            client.log_metric(run_id, key, v, timestamp=now_ms, **kwargs)
        target = f"logged model {model_id}" if model_id else f"run {run_id}"
        done.append(f"logged mae/rmse/accuracy of {name} version {r.version} to {target}")
    return done
