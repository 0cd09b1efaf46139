"""Drift statistics on sorted columns: PSI on reference-quantile bins, two-sample KS.

Each numeric column is sorted once (``np.sort``) and the sorted arrays serve every statistic:
the KS statistic is evaluated at every observed value by merging the two sorted windows (the
same points and the same right-continuous empirical CDFs as ``scipy.stats.ks_2samp``), the PSI
bin counts are
``searchsorted`` of the bin edges. The KS p-value comes from ``scipy.stats.ks_2samp`` on a
seeded subsample of each window (see ``subsample``): on a million rows every negligible shift is
"significant", while the statistic itself does not grow with the sample.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# Proportion given to a bin that one window leaves empty (the other window's share stays as
# it is): ln(p/0) would be infinite. 1e-4 is the usual floor (one row in 10,000).
PSI_EMPTY_BIN_FLOOR = 1e-4


def quantile_edges(ref_sorted: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's 1/bins … (bins-1)/bins quantiles (linear
    interpolation, numpy's default), duplicates removed (ties collapse bins)."""
    n = len(ref_sorted)
    pos = np.arange(1, bins) / bins * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    edges = ref_sorted[lo] * (1 - frac) + ref_sorted[hi] * frac
    return np.unique(edges)


def bin_shares(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values in each bin (-inf, e1], (e1, e2], …, (ek, inf)."""
    cum = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], cum, [len(sorted_values)])))
    return counts / len(sorted_values)


def psi_from_shares(ref: np.ndarray, cur: np.ndarray,
                    floor: float = PSI_EMPTY_BIN_FLOOR) -> float:
    """Population stability index sum((cur - ref) * ln(cur / ref)), empty shares floored."""
    r = np.where(ref == 0, floor, ref)
    c = np.where(cur == 0, floor, cur)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_numeric(ref_sorted: np.ndarray, cur_sorted: np.ndarray, bins: int) -> float:
    """PSI of a numeric column on bins cut at the reference quantiles."""
    edges = quantile_edges(ref_sorted, bins)
    return psi_from_shares(bin_shares(ref_sorted, edges), bin_shares(cur_sorted, edges))


def psi_categorical(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI over the categories seen in either window."""
    cats, inverse = np.unique(np.concatenate([ref, cur]).astype(str), return_inverse=True)
    r = np.bincount(inverse[:len(ref)], minlength=len(cats)) / len(ref)
    c = np.bincount(inverse[len(ref):], minlength=len(cats)) / len(cur)
    return psi_from_shares(r, c)


def ks_statistic(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """max |F_ref(x) - F_cur(x)| over every observed x (as scipy.stats.ks_2samp computes it).

    The two sorted windows are merged (a stable sort of two sorted runs is a linear merge in
    numpy's timsort); the running counts of each window at the end of every group of equal
    values are the right-continuous empirical CDFs there.
    """
    n1, n2 = len(ref_sorted), len(cur_sorted)
    values = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(values, kind="stable")
    merged = values[order]
    from_ref = np.cumsum(order < n1)
    from_cur = np.arange(1, n1 + n2 + 1) - from_ref
    group_end = np.append(merged[1:] != merged[:-1], True)
    return float(np.abs(from_ref[group_end] / n1 - from_cur[group_end] / n2).max())


def subsample(values: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` values drawn without replacement (all of them when fewer), reproducibly."""
    if len(values) <= size:
        return values
    rng = np.random.default_rng(seed)
    return values[rng.choice(len(values), size=size, replace=False)]


def ks_pvalue(ref: np.ndarray, cur: np.ndarray, size: int, seed: int) -> tuple[float, int]:
    """(p-value, rows per window used): ks_2samp on seeded subsamples of both windows."""
    a = subsample(ref, size, seed)
    b = subsample(cur, size, seed + 1)
    return float(stats.ks_2samp(a, b).pvalue), min(len(a), len(b))
