"""Binary × binary dot products by XNOR and popcount (XNOR-Net; seed 002 eq. 2–3), as binary hardware does.

Operands are sign bits packed 64 to a word (1 = negative). Where both are ±1, x·w = +1 when the bits agree, so a
dot product over n valid positions is n − 2·popcount(x XOR w). A ``valid`` mask drops positions that hold a 0 —
a convolution's zero padding — so the result equals the ±1/0 dot product exactly.
"""
from __future__ import annotations

import numba
import numpy as np

from .. import threads


def pack_signs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sign words, valid words) of an (..., n) array of ±a / 0 values: bit i of a row is set when value i is
    negative (signs) or non-zero (valid); rows padded to whole uint64 words with zeros."""
    nbytes = -(-values.shape[-1] // 64) * 8

    def pack(bits):
        packed = np.packbits(bits, axis=-1, bitorder="little")  # zero bits past n fill the last byte
        words = np.zeros(packed.shape[:-1] + (nbytes,), np.uint8)
        words[..., :packed.shape[-1]] = packed
        return words.view(np.uint64)
    return pack(values < 0), pack(values != 0)


@numba.njit(cache=True, inline="always")
def _popcount(v):
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (v * np.uint64(0x0101010101010101)) >> np.uint64(56)


@numba.njit(cache=True, parallel=True)
def _xnor_gemm(xs, xv, ws, out):
    """Per group g (leading axis): out[g, i, j] = popcount(valid) − 2·popcount((x XOR w) AND valid)."""
    G, M, T = xs.shape
    for gi in numba.prange(G * M):
        g, i = gi // M, gi % M
        n = 0
        for t in range(T):
            n += _popcount(xv[g, i, t])
        for j in range(ws.shape[1]):
            differ = 0
            for t in range(T):
                differ += _popcount((xs[g, i, t] ^ ws[g, j, t]) & xv[g, i, t])
            out[g, i, j] = np.int64(n) - 2 * np.int64(differ)


def xnor_gemm(x_signs, x_valid, w_signs) -> np.ndarray:
    """int64 (rows, k), or (groups, rows, k) for a leading group axis: Σ x·w of sign-packed rows of x (with their
    valid masks) against sign-packed rows of w, whose positions are all ±1."""
    grouped = x_signs.ndim == 3
    xs, xv, ws = (a if grouped else a[None] for a in (x_signs, x_valid, w_signs))
    out = np.empty((xs.shape[0], xs.shape[1], ws.shape[1]), np.int64)
    threads.run_parallel(_xnor_gemm, xs, xv, ws, out)
    return out if grouped else out[0]
