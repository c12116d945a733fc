"""Binary × binary dot products by XNOR and popcount (XNOR-Net; seed 002 eq. 2–3), as binary hardware does.

Operands are sign bits packed 64 to a word (1 = negative). Where both are ±1, x·w = +1 when the bits agree, so a
dot product over n valid positions is n − 2·popcount(x XOR w). A ``valid`` mask drops positions that hold a 0 —
a convolution's zero padding — so the result equals the ±1/0 dot product exactly.
"""
from __future__ import annotations

import numba
import numpy as np


def pack_signs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign words, valid words) of a (rows, n) array of ±a / 0 values: bit i of a row is set when value i is
    negative (signs) or non-zero (valid); rows padded to whole uint64 words with zeros."""
    pad = (-values.shape[1]) % 64

    def pack(bits):
        bits = np.pad(bits, ((0, 0), (0, pad)))
        return np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little")).view(np.uint64)
    return pack(values < 0), pack(values != 0)


@numba.njit(cache=True, inline="always")
def _popcount(v):
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (v * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True, parallel=True)
def _xnor_gemm(xs, xv, ws, out):
    for i in numba.prange(xs.shape[0]):
        n = 0
        for t in range(xs.shape[1]):
            n += _popcount(xv[i, t])
        for j in range(ws.shape[0]):
            differ = 0
            for t in range(xs.shape[1]):
                differ += _popcount((xs[i, t] ^ ws[j, t]) & xv[i, t])
            out[i, j] = np.int64(n) - 2 * np.int64(differ)


def xnor_gemm(x_signs, x_valid, w_signs) -> np.ndarray:
    """int64 (rows, k): Σ x·w of sign-packed rows of x (with their valid masks) against sign-packed rows of w,
    whose positions are all ±1."""
    out = np.empty((x_signs.shape[0], w_signs.shape[0]), np.int64)
    _xnor_gemm(x_signs, x_valid, w_signs, out)
    return out
