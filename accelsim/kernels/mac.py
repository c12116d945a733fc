"""Integer multiply-accumulate kernels.

``gemm_saturating``: out = a @ b.T on integers with an accumulator of ``acc_bits`` that saturates after every
addition (as a hardware accumulator with saturation logic does), counting the saturation events.

``multiprecision_dot``: seed 004 Algorithm 1 — 16-bit operands split into a signed high byte and an unsigned
low byte; ``half`` (8×8, 1 pass), ``mixed`` (I 8-bit × W 16-bit, 2 passes), ``mixed_w`` (I 16-bit × W 8-bit,
the swapped variant) and ``full`` (16×16, 4 passes) stop the iteration early.
"""
from __future__ import annotations

import numba
import numpy as np

#: seed 004 Table 1 (28 nm FDSOI, 1 GHz, 0.9 V): precision (I×W) -> (cycles per MAC, energy per MAC in pJ);
#: a MAC with a zero operand costs 0.103 × E_MAC (zero skipping, seed 004 §3.3)
SEED004_TABLE1 = {"full": (4, 3.80), "mixed_w": (2, 1.90), "mixed": (2, 1.90), "half": (1, 0.95)}
SEED004_ZERO_FACTOR = 0.103
PRECISIONS = {"half": 0, "mixed": 1, "mixed_w": 2, "full": 3}
K = 8


@numba.njit(cache=True)
def _gemm_sat(a, b, acc_bits, out):
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    events = 0
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            acc = np.int64(0)
            for k in range(a.shape[1]):
                acc += a[i, k] * b[j, k]
                if acc > hi:
                    acc = hi
                    events += 1
                elif acc < lo:
                    acc = lo
                    events += 1
            out[i, j] = acc
    return events


def gemm_saturating(a: np.ndarray, b: np.ndarray, acc_bits: int):
    """(a @ b.T with a saturating ``acc_bits`` accumulator, number of saturation events); int64 in and out."""
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    events = _gemm_sat(np.ascontiguousarray(a, np.int64), np.ascontiguousarray(b, np.int64), acc_bits, out)
    return out, int(events)


@numba.njit(cache=True)
def _mp_dot(I, W, precision):
    r = np.int64(0)
    n = I.shape[0]
    for i in range(n):  # lines 1-2: high × high
        r += (I[i] >> K) * (W[i] >> K)
    if precision == 0:
        return r
    r <<= K  # line 4
    for i in range(n):  # lines 5-6: mixed K×N (I high × W low); mixed_w swaps the operands' roles
        if precision == 2:
            r += (I[i] & 0xFF) * (W[i] >> K)
        else:
            r += (I[i] >> K) * (W[i] & 0xFF)
    if precision <= 2:
        return r
    for i in range(n):  # lines 8-9
        r += (I[i] & 0xFF) * (W[i] >> K)
    r <<= K  # line 10
    for i in range(n):  # lines 11-12: low × low (both unsigned)
        r += (I[i] & 0xFF) * (W[i] & 0xFF)
    return r


def multiprecision_dot(I: np.ndarray, W: np.ndarray, precision: str) -> int:
    """Seed 004 Algorithm 1 on 16-bit integer vectors; the result is in units of 2^(2K) (half), 2^K (mixed)
    or 1 (full) of the full-precision product."""
    return int(_mp_dot(np.asarray(I, np.int64), np.asarray(W, np.int64), PRECISIONS[precision]))


@numba.njit(cache=True)
def _mp_gemm(a, b, precision, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = _mp_dot(a[i], b[j], precision)


def multiprecision_gemm(a: np.ndarray, b: np.ndarray, precision: str) -> np.ndarray:
    """Every dot product of rows of ``a`` (inputs) with rows of ``b`` (weights) through Algorithm 1."""
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    _mp_gemm(np.ascontiguousarray(a, np.int64), np.ascontiguousarray(b, np.int64), PRECISIONS[precision], out)
    return out
