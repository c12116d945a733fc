"""The ADC and shift-and-add of in-memory arrays in one pass over their column sums (numpy needs a temporary per
step: noise, scale, round, clip, count, rescale, sum over arrays, weight, add)."""
from __future__ import annotations

import numba
import numpy as np

from .. import threads

SPAN = 4096  # inputs per parallel task


@numba.njit(cache=True, parallel=True)
def _convert_add(sums, noise, read_noise, lo, step, top, weights, out):
    A, S, K, T, N = sums.shape
    low_edge, high_edge = lo - step / 2, lo + top * step + step / 2
    spans = (N + SPAN - 1) // SPAN
    clipped = np.zeros(K * spans, np.int64)
    for j in numba.prange(K * spans):
        k, i0 = j // spans, j % spans * SPAN
        i1 = min(N, i0 + SPAN)
        total, dst, count = np.empty(i1 - i0), out[k, i0:i1], 0
        for s in range(S):
            for t in range(T):
                total[:] = 0.0
                for a in range(A):  # arrays (row chunks) in order, as numpy's sum over axis 0
                    src = sums[a, s, k, t, i0:i1]
                    for i in range(i1 - i0):
                        v = np.float64(src[i])
                        if noise.size:
                            v = v + read_noise * noise[a, s, k, t, i0 + i]
                        count += (v < low_edge) | (v > high_edge)
                        code = np.rint((v - lo) / step)  # clipped to [0, top] by selects, which vectorize
                        code = 0.0 if code < 0.0 else code
                        code = top if code > top else code
                        total[i] += lo + code * step
                for i in range(i1 - i0):
                    dst[i] += weights[s, t] * total[i]
        clipped[j] = count
    return clipped.sum()


def convert_add(sums: np.ndarray, noise: np.ndarray, read_noise: float, lo: float, step: float, levels: int,
                weights, out: np.ndarray) -> int:
    """Column sums ``sums[a, s, k, t, i]`` of array a, slice s, output k, plane t, input i: for each slice and
    plane in order, out[k, i] += weights[s][t] · Σ_a ADC(sums + read_noise · noise) (``noise`` empty for none),
    where ADC(v) = lo + step · clip(rint((v − lo) / step), 0, levels − 1); returns how many sums fell outside
    the ADC's range by more than half a step (clipped). Floating-point operations in the order numpy's
    expression of the same, slice by slice and plane by plane, would do them."""
    noise = noise.reshape(sums.shape) if noise.size else np.empty((0,) * 5)
    return int(threads.run_parallel(_convert_add, sums, noise, float(read_noise), float(lo), float(step),
                                    float(levels - 1), np.asarray(weights, np.float64), out))
