"""``mlops-dash drift``: reference vs current window of a model's features and predictions.

Per numeric column PSI (reference-quantile bins) and the KS statistic on the full windows, each
column sorted once; the prediction's KS p-value from seeded subsamples (drift_stats). Columns
that cannot give a meaningful score are skipped with a reason and get no series: a missing
series goes stale, a wrong one would page. The result of a model is pushed as one group
(grouping key ``model``), after every score of the model is known.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlops_dash.collect import drift_stats as st
from mlops_dash.collect.inputs import JobError, describe, read_table
from mlops_dash.spec.collectors_jobs import DriftCheck, Feature, Warehouse

PUSH_JOB = "mlops-dash-drift"


@dataclass(frozen=True)
class Score:
    column: str
    method: str  # psi / ks / ks_pvalue
    value: float
    rows: int = 0  # ks_pvalue: rows per window of the subsample


@dataclass
class DriftResult:
    model: str
    rows: tuple[int, int]
    features: list[Score] = field(default_factory=list)
    prediction: list[Score] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # column → reason
    pvalue_rows: int = 0
    finished: float = 0.0


def _numeric(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray] | str:
    """Both windows as float arrays without nulls, or why they are not comparable numbers."""
    for side, s in (("reference", ref), ("current", cur)):
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            return (f"not numeric in the {side} window (dtype {s.dtype}); declare it "
                    "kind: categorical or fix the input")
    return (ref.to_numpy(dtype=np.float64, na_value=np.nan),
            cur.to_numpy(dtype=np.float64, na_value=np.nan))


def _without_nan(a: np.ndarray) -> np.ndarray:
    nan = np.isnan(a)
    return a[~nan] if nan.any() else a


def _size_problem(ref: np.ndarray, cur: np.ndarray, min_rows: int) -> str | None:
    for side, a in (("reference", ref), ("current", cur)):
        if len(a) == 0:
            return f"no non-null values in the {side} window"
        if len(a) < min_rows:
            return f"only {len(a)} non-null values in the {side} window (min_rows {min_rows})"
    return None


def numeric_scores(column: str, ref: np.ndarray, cur: np.ndarray, check: DriftCheck, *,
                   pvalue: bool) -> list[Score] | str:
    """PSI and KS (and the KS p-value when asked) of one numeric column, or a skip reason."""
    if np.isinf(ref).any() or np.isinf(cur).any():
        return "infinite values"
    ref, cur = _without_nan(ref), _without_nan(cur)
    problem = _size_problem(ref, cur, check.min_rows)
    if problem:
        return problem
    ref_sorted, cur_sorted = np.sort(ref), np.sort(cur)
    out = []
    if "psi" in check.methods:
        out.append(Score(column, "psi", st.psi_numeric(ref_sorted, cur_sorted, check.bins)))
    if "ks" in check.methods or pvalue:
        out.append(Score(column, "ks", st.ks_statistic(ref_sorted, cur_sorted)))
    if pvalue:
        p, rows = st.ks_pvalue(ref, cur, check.pvalue_sample, check.seed)
        out.append(Score(column, "ks_pvalue", p, rows))
    return out


def categorical_scores(column: str, ref: pd.Series, cur: pd.Series,
                       check: DriftCheck) -> list[Score] | str:
    r, c = ref.dropna().to_numpy(), cur.dropna().to_numpy()
    problem = _size_problem(r, c, check.min_rows)
    if problem:
        return problem
    return [Score(column, "psi", st.psi_categorical(r, c))]


def column_scores(ref: pd.DataFrame, cur: pd.DataFrame, feature: Feature, check: DriftCheck,
                  *, pvalue: bool = False) -> list[Score] | str:
    """Scores of one column of both windows, or why it is skipped."""
    name = feature.name
    for side, df in (("reference", ref), ("current", cur)):
        if name not in df.columns:
            return f"column missing from the {side} window"
    if feature.kind == "categorical":
        return categorical_scores(name, ref[name], cur[name], check)
    arrays = _numeric(ref[name], cur[name])
    if isinstance(arrays, str):
        return arrays
    return numeric_scores(name, *arrays, check, pvalue=pvalue)


def check_frames(check: DriftCheck, ref: pd.DataFrame, cur: pd.DataFrame,
                 workers: int = 2) -> DriftResult:
    """Every score of a model's check, columns spread over ``workers`` threads (numpy's sort
    and searchsorted release the GIL)."""
    for what, df in (("reference", ref), ("current", cur)):
        if len(df) == 0:
            raise JobError(f"drift {check.model}: the {what} window "
                           f"({describe(getattr(check, what), what)}) has no rows")
    result = DriftResult(check.model, (len(ref), len(cur)))
    jobs: list[tuple[Feature, bool]] = [(f, False) for f in check.features]
    if check.prediction is not None:
        jobs.append((Feature(name=check.prediction), True))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(pool.map(lambda j: column_scores(ref, cur, j[0], check, pvalue=j[1]),
                                 jobs))
    for (feature, is_prediction), outcome in zip(jobs, outcomes, strict=True):
        label = f"prediction {feature.name}" if is_prediction else feature.name
        if isinstance(outcome, str):
            result.skipped[label] = outcome
        elif is_prediction:
            result.prediction = outcome
            result.pvalue_rows = max((s.rows for s in outcome), default=0)
        else:
            result.features += [s for s in outcome if s.method in check.methods]
    if not result.features and not result.prediction:
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items()))
        raise JobError(f"drift {check.model}: no column could be compared ({reasons})")
    result.finished = time.time()
    return result


def run_check(check: DriftCheck, warehouse: Warehouse | None, workers: int = 2) -> DriftResult:
    """Read both windows and compute the check."""
    ref = read_table(check.reference, f"drift {check.model}: reference", warehouse)
    cur = read_table(check.current, f"drift {check.model}: current", warehouse)
    return check_frames(check, ref, cur, workers)


def registry_for(result: DriftResult) -> object:
    """The model's group: every gauge of its result, and the last-success timestamp."""
    from prometheus_client import CollectorRegistry, Gauge

    reg = CollectorRegistry()
    feat = Gauge("mlops_feature_drift_score", "Per-feature drift statistic (PSI, KS)",
                 ["model", "feature", "method"], registry=reg)
    for s in result.features:
        feat.labels(result.model, s.column, s.method).set(s.value)
    if result.prediction:
        score = Gauge("mlops_prediction_drift_score", "Prediction drift statistic",
                      ["model", "method"], registry=reg)
        pval = Gauge("mlops_prediction_drift_pvalue",
                     "KS p-value of current vs reference predictions (seeded subsample)",
                     ["model", "method"], registry=reg)
        for s in result.prediction:
            if s.method == "ks_pvalue":
                pval.labels(result.model, "ks").set(s.value)
            else:
                score.labels(result.model, s.method).set(s.value)
    last = Gauge("mlops_drift_check_last_success_timestamp_seconds",
                 "When the drift check of this model last succeeded", ["job"], registry=reg)
    last.labels(PUSH_JOB).set(result.finished)
    return reg


def table(result: DriftResult, check: DriftCheck) -> str:
    """A readable table of the result (scores above their threshold marked)."""
    lines = [f"drift check {result.model}: reference {result.rows[0]:,} rows, current "
             f"{result.rows[1]:,} rows",
             f"{'column':<28} {'method':<10} {'value':>12}  note"]
    for s in result.features + result.prediction:
        note = ""
        limit = check.thresholds.get(s.method)  # type: ignore[call-overload]
        if limit is not None and s.value > limit:
            note = f"DRIFT (> {limit:g})"
        if s.method == "ks_pvalue":
            note = f"from {result.pvalue_rows:,} rows per window, seed {check.seed}"
        column = s.column if s in result.features else f"prediction {s.column}"
        lines.append(f"{column:<28} {s.method:<10} {s.value:>12.6g}  {note}".rstrip())
    for column, reason in sorted(result.skipped.items()):
        lines.append(f"{column:<28} {'skipped':<10} {'':>12}  {reason}")
    return "\n".join(lines)
