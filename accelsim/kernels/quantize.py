"""Fixed-point quantization in one pass over the data: numpy needs a temporary per step (scale, round, clip,
count), and the dynamic fraction-length search repeats them for every candidate.

Rounding codes: 0 nearest-even, 1 toward zero, 2 floor (dropped low bits), 3 stochastic (floor of the value plus
a given uniform noise; the search rounds to nearest instead).
"""
from __future__ import annotations

import numba
import numpy as np

ROUNDING_CODES = {"rne": 0, "trunc": 1, "floor": 2, "stochastic": 3}


@numba.njit(cache=True, inline="always")
def _word(v, rounding, noise, qmin, qmax, wrap):
    """(integer word of the real value v already scaled by 2^F, whether it overflowed)."""
    if rounding == 0:
        q = np.rint(v)
    elif rounding == 1:
        q = np.trunc(v)
    elif rounding == 2:
        q = np.floor(v)
    else:
        q = np.floor(v + noise)
    if qmin <= q <= qmax:
        return q, False
    if wrap:
        span = qmax - qmin + 1.0
        return (q - qmin) % span + qmin, True
    return (qmax if q > qmax else qmin), True


@numba.njit(cache=True)
def fixed_words(x, scale, rounding, noise, qmin, qmax, wrap, out):
    """out[i] = word of x[i]·scale (flat arrays; ``noise`` as long as x for stochastic rounding, else empty).
    Returns how many values overflowed the word (saturated or wrapped)."""
    overflows = 0
    for i in range(x.size):
        q, over = _word(x[i] * scale, rounding, noise[i] if rounding == 3 else 0.0, qmin, qmax, wrap)
        out[i] = q
        overflows += over
    return overflows


@numba.njit(cache=True)
def fixed_l2_errors(x, fractions, rounding, qmin, qmax, wrap):
    """Σ (x − quantized x)² for each candidate fraction length (seed 004 §4.1's search)."""
    errors = np.zeros(fractions.size)
    mode = 0 if rounding == 3 else rounding
    for j in range(fractions.size):
        scale = 2.0 ** fractions[j]
        e = 0.0
        for v in x:
            q, _ = _word(v * scale, mode, 0.0, qmin, qmax, wrap)
            d = q / scale - v
            e += d * d
        errors[j] = e
    return errors
