"""Integer multiply-accumulate kernels.

``gemm_saturating``: out = a @ b.T on integers with an accumulator of ``acc_bits`` that saturates after every
addition (as a hardware accumulator with saturation logic does), counting the saturation events.

``multiprecision_dot``: seed 004 Algorithm 1 — 16-bit operands split into a signed high byte and an unsigned
low byte; stopping the iteration early gives the precisions of Table 1, named I×W: ``8x8`` (1 pass),
``8x16`` (the paper's *mixed* K×N: I reduced to its high byte, 2 passes), ``16x8`` (the swapped variant,
2 passes) and ``16x16`` (4 passes); ``half`` and ``full`` are accepted for 8x8 and 16x16.
"""
from __future__ import annotations

import numba
import numpy as np

from ..errors import AccelsimError

#: seed 004 Table 1 (28 nm UTBB FDSOI, 1 GHz, 0.9 V): precision I×W -> (cycles per MAC, energy per MAC in pJ)
SEED004_TABLE1 = {"16x16": (4, 3.80), "16x8": (2, 1.90), "8x16": (2, 1.90), "8x8": (1, 0.95)}
#: seed 004 §3.3: a MAC with a zero operand costs 0.103 × E_MAC (zero skipping)
SEED004_ZERO_FACTOR = 0.103
PRECISIONS = {"8x8": 0, "8x16": 1, "16x8": 2, "16x16": 3, "half": 0, "full": 3}
ALIASES = {"half": "8x8", "full": "16x16"}
K = 8


def _code(precision: str) -> int:
    if precision not in PRECISIONS:
        raise AccelsimError(f"multi-precision MAC: unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
    return PRECISIONS[precision]


def canonical(precision: str) -> str:
    """The Table 1 name (I×W) of a precision, aliases resolved; an unknown name is an error."""
    _code(precision)
    return ALIASES.get(precision, precision)


def operand_bits(precision: str) -> tuple[int, int]:
    """(input bits, weight bits) the MAC reads at ``precision``."""
    i_bits, w_bits = canonical(precision).split("x")
    return int(i_bits), int(w_bits)


@numba.njit(cache=True, parallel=True)
def _gemm_sat(a, b, acc_bits, out):
    """Rows in parallel; each dot product accumulates in order, saturating after every addition."""
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    events = np.zeros(a.shape[0], np.int64)
    for i in numba.prange(a.shape[0]):
        for j in range(b.shape[0]):
            acc = np.int64(0)
            for k in range(a.shape[1]):
                acc += a[i, k] * b[j, k]
                if acc > hi:
                    acc = hi
                    events[i] += 1
                elif acc < lo:
                    acc = lo
                    events[i] += 1
            out[i, j] = acc
    return events.sum()


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
    for i in range(n):  # lines 5-6: 8x16 adds I high × W low; 16x8 swaps the operands' roles
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
    """Seed 004 Algorithm 1 on 16-bit integer vectors; the result is in units of 2^(2K) (8x8), 2^K (8x16,
    16x8) or 1 (16x16) of the full-precision product."""
    return int(_mp_dot(np.asarray(I, np.int64), np.asarray(W, np.int64), _code(precision)))


@numba.njit(cache=True)
def _mp_gemm(a, b, precision, out):
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = _mp_dot(a[i], b[j], precision)


def multiprecision_gemm(a: np.ndarray, b: np.ndarray, precision: str) -> np.ndarray:
    """Every dot product of rows of ``a`` (inputs) with rows of ``b`` (weights) through Algorithm 1."""
    out = np.empty((a.shape[0], b.shape[0]), np.int64)
    _mp_gemm(np.ascontiguousarray(a, np.int64), np.ascontiguousarray(b, np.int64), _code(precision), out)
    return out
