"""Which SAM parameter each output selects (seed 001 §III-D's activation rate): for every sample and output j, the
kept entry i of column j that wins max_i(x_i + W+_ij) (or min for W−). Columns are held sparsely (CSC), so a pruned
layer costs its kept parameters only."""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _count_selections(x, indptr, rows, vals, sign, counts):
    for n in range(x.shape[0]):
        for j in range(indptr.size - 1):
            best, pick = -np.inf, -1
            for e in range(indptr[j], indptr[j + 1]):
                v = sign * (x[n, rows[e]] + vals[e])
                if v > best:  # the first of equal sums wins, as np.argmax
                    best, pick = v, e
            if pick >= 0:
                counts[pick] += 1


def kept_columns(w: np.ndarray):
    """(rows, cols, indptr) of w's finite (kept) entries, grouped by column: column j's entries are
    indptr[j]:indptr[j + 1] (compressed sparse columns)."""
    cols, rows = np.nonzero(np.isfinite(w).T)
    return rows, cols, np.searchsorted(cols, np.arange(w.shape[1] + 1))


def selection_counts(x: np.ndarray, w: np.ndarray, sign: float) -> np.ndarray:
    """counts[i, j]: how many rows of ``x`` select W[i, j] in max_i (sign +1) or min_i (sign −1) of x_i + W_ij;
    non-finite (pruned) entries are never selected."""
    rows, cols, indptr = kept_columns(w)
    counts = np.zeros(rows.size, np.int64)
    _count_selections(np.ascontiguousarray(x, np.float64), indptr, rows, w[rows, cols].astype(np.float64),
                      float(sign), counts)
    out = np.zeros(w.shape, np.int64)
    out[rows, cols] = counts
    return out
