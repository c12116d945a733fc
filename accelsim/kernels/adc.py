"""The ADC and shift-and-add of an in-memory array in one pass over its column sums (numpy needs a temporary per
step: noise, scale, round, clip, count, rescale, sum over arrays, weight, add)."""
from __future__ import annotations

import numba
import numpy as np

from .. import threads


@numba.njit(cache=True, parallel=True)
def _convert_add(sums, noise, read_noise, lo, step, top, weight, out):
    A, N, K = sums.shape
    low_edge, high_edge = lo - step / 2, lo + top * step + step / 2
    clipped = np.zeros(N, np.int64)
    for n in numba.prange(N):
        total = np.zeros(K)
        for a in range(A):  # arrays (row chunks) in order, as numpy's sum over axis 0
            for k in range(K):
                s = np.float64(sums[a, n, k])
                if noise.size:
                    s = s + read_noise * noise[a, n, k]
                clipped[n] += (s < low_edge) | (s > high_edge)
                total[k] += lo + min(max(np.rint((s - lo) / step), 0.0), top) * step
        for k in range(K):
            out[n, k] += weight * total[k]
    return clipped.sum()


def convert_add(sums: np.ndarray, noise: np.ndarray, read_noise: float, lo: float, step: float, levels: int,
                weight: float, out: np.ndarray) -> int:
    """out[n, k] += weight · Σ_a ADC(sums[a, n, k] + read_noise · noise[a, n, k]) for column sums of arrays a
    (``noise`` empty for none), where ADC(s) = lo + step · clip(rint((s − lo) / step), 0, levels − 1); returns
    how many sums fell outside the ADC's range by more than half a step (clipped). Floating-point operations in
    the order numpy's expression of the same would do them."""
    return int(threads.run_parallel(_convert_add, sums, noise, float(read_noise), float(lo), float(step),
                                    float(levels - 1), float(weight), out))
