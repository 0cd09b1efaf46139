"""The drift checker: statistics against scipy and by hand, bad input, the CLI without a server."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlops_dash.collect import drift
from mlops_dash.collect import drift_stats as st
from mlops_dash.collect.inputs import JobError
from mlops_dash.spec.collectors_jobs import DriftCheck


def check(**kw: object) -> DriftCheck:
    base: dict[str, object] = {"model": "m", "reference": {"path": "ref.parquet"},
                               "current": {"path": "cur.parquet"},
                               "features": [{"name": "x"}], "prediction": "y"}
    return DriftCheck.model_validate({**base, **kw})


@pytest.mark.parametrize("seed", range(6))
def test_ks_statistic_equals_scipy_on_full_windows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n1, n2 = rng.integers(50, 3000, size=2)
    a = rng.normal(0, 1, n1)
    b = rng.normal(rng.uniform(-0.5, 0.5), rng.uniform(0.5, 2), n2)
    if seed % 2:  # ties (rounded values) and a shared atom
        a, b = np.round(a, 1), np.round(b, 1)
    ours = st.ks_statistic(np.sort(a), np.sort(b))
    assert ours == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_ks_pvalue_is_scipy_on_the_documented_seeded_subsample() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(0, 1, 50_000), rng.normal(0.1, 1, 40_000)
    p, rows = st.ks_pvalue(ref, cur, 2000, seed=7)
    sub_ref = ref[np.random.default_rng(7).choice(len(ref), 2000, replace=False)]
    sub_cur = cur[np.random.default_rng(8).choice(len(cur), 2000, replace=False)]
    assert rows == 2000
    assert p == stats.ks_2samp(sub_ref, sub_cur).pvalue
    assert st.ks_pvalue(ref, cur, 2000, seed=7) == (p, rows)  # reproducible
    # the full windows would call a 0.1 sd shift wildly "significant"
    assert stats.ks_2samp(ref, cur).pvalue < 1e-20


def test_psi_by_hand_on_a_small_table() -> None:
    # reference 0..9 (10 rows), bins=2 → one edge at the median: 0.5*(4+5) = 4.5
    ref = np.arange(10, dtype=float)
    cur = np.array([0, 1, 2, 6, 7, 8, 9, 9, 9, 9], dtype=float)
    # reference shares 5/10, 5/10; current: 3 rows <= 4.5, 7 above → 0.3, 0.7
    by_hand = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert st.psi_numeric(np.sort(ref), np.sort(cur), bins=2) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.16946, abs=1e-5)


def test_psi_empty_bin_uses_the_stated_floor() -> None:
    ref = np.arange(10, dtype=float)
    cur = np.full(10, 9.0)  # every current value in the upper bin: the lower one is empty
    floor = st.PSI_EMPTY_BIN_FLOOR
    by_hand = (floor - 0.5) * math.log(floor / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert st.psi_numeric(ref, cur, bins=2) == pytest.approx(by_hand, rel=1e-12)
    assert floor == 1e-4


def test_psi_categorical_by_hand() -> None:
    ref = np.array(["a"] * 6 + ["b"] * 4)
    cur = np.array(["a"] * 2 + ["b"] * 6 + ["c"] * 2)
    f = st.PSI_EMPTY_BIN_FLOOR
    by_hand = ((0.2 - 0.6) * math.log(0.2 / 0.6) + (0.6 - 0.4) * math.log(0.6 / 0.4)
               + (0.2 - f) * math.log(0.2 / f))
    assert st.psi_categorical(ref, cur) == pytest.approx(by_hand, rel=1e-12)


def test_quantile_edges_match_numpy() -> None:
    rng = np.random.default_rng(3)
    a = np.sort(rng.exponential(size=1001))
    assert np.allclose(st.quantile_edges(a, 10), np.quantile(a, np.arange(1, 10) / 10))


def frames(n: int = 2000, shift: float = 0.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.normal(10, 2, n),
                        "c": rng.choice(["a", "b"], n)})
    cur = pd.DataFrame({"x": rng.normal(shift, 1, n), "y": rng.normal(10 + shift * 2, 2, n),
                        "c": rng.choice(["a", "b"], n, p=[0.5 + shift / 4, 0.5 - shift / 4])})
    return ref, cur


def test_shifted_data_scores_high_and_same_data_low() -> None:
    c = check(features=[{"name": "x"}, {"name": "c", "kind": "categorical"}])
    shifted = drift.check_frames(c, *frames(shift=1.0))
    quiet = drift.check_frames(c, *frames(shift=0.0))
    s = {(x.column, x.method): x.value for x in shifted.features + shifted.prediction}
    q = {(x.column, x.method): x.value for x in quiet.features + quiet.prediction}
    assert s[("x", "psi")] > 0.2 and s[("x", "ks")] > 0.1 and s[("c", "psi")] > 0.2
    assert s[("y", "ks_pvalue")] < 0.01
    assert q[("x", "psi")] < 0.1 and q[("x", "ks")] < 0.1 and q[("c", "psi")] < 0.05
    assert q[("y", "ks_pvalue")] > 0.01
    text = drift.table(shifted, c)
    assert "DRIFT (> 0.2)" in text and "from 2,000 rows per window, seed 0" in text


@pytest.mark.parametrize("mutate, column, reason", [
    (lambda r, c: c.drop(columns=["x"]), "x", "column missing from the current window"),
    (lambda r, c: c.assign(x=np.nan), "x", "no non-null values in the current window"),
    (lambda r, c: c.assign(x=c["x"].astype(str)), "x", "not numeric in the current window"),
    (lambda r, c: c.assign(x=[np.nan] * (len(c) - 10) + [1.0] * 10), "x",
     "only 10 non-null values in the current window (min_rows 100)"),
    (lambda r, c: c.assign(x=np.inf), "x", "infinite values"),
])
def test_bad_columns_are_skipped_with_a_reason_and_get_no_series(mutate, column, reason) -> None:
    ref, cur = frames()
    result = drift.check_frames(check(), ref, mutate(ref, cur))
    assert reason in result.skipped[column]
    assert all(s.column != column for s in result.features)
    assert result.prediction  # the rest is still computed
    reg = drift.registry_for(result)
    samples = [s for m in reg.collect() for s in m.samples]  # type: ignore[attr-defined]
    assert not any(s.labels.get("feature") == column for s in samples)
    assert "skipped" in drift.table(result, check())


def test_constant_columns_score_zero_when_equal_and_high_when_moved() -> None:
    ref = pd.DataFrame({"x": np.ones(500), "y": np.ones(500)})
    same = drift.check_frames(check(), ref, ref.copy())
    assert {s.method: s.value for s in same.features} == {"psi": 0.0, "ks": 0.0}
    moved = drift.check_frames(check(), ref, ref + 1)
    assert {s.method: s.value for s in moved.features}["ks"] == 1.0


def test_empty_window_and_nothing_comparable_are_errors_naming_the_input() -> None:
    ref, cur = frames()
    with pytest.raises(JobError, match=r"drift m: the current window \(cur.parquet\) has no rows"):
        drift.check_frames(check(), ref, cur.iloc[:0])
    with pytest.raises(JobError, match="no column could be compared.*column missing"):
        drift.check_frames(check(), ref, cur.drop(columns=["x", "y"]))


def test_registry_holds_the_contract_series() -> None:
    result = drift.check_frames(check(), *frames(shift=0.5))
    reg = drift.registry_for(result)
    names = {(s.name, tuple(sorted(s.labels.items())))
             for m in reg.collect() for s in m.samples}  # type: ignore[attr-defined]
    assert ("mlops_feature_drift_score", (("feature", "x"), ("method", "psi"), ("model", "m"))) \
        in names
    assert ("mlops_prediction_drift_pvalue", (("method", "ks"), ("model", "m"))) in names
    assert ("mlops_prediction_drift_score", (("method", "psi"), ("model", "m"))) in names
    assert ("mlops_drift_check_last_success_timestamp_seconds",
            (("job", "mlops-dash-drift"),)) in names
