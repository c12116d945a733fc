"""Integer multiply-accumulate kernels.

``conv_saturating`` / ``gemm_saturating``: a conv / a @ b.T on integers with an accumulator of ``acc_bits`` that
saturates after every addition (as a hardware accumulator with saturation logic does), counting the saturation
events. Outputs that provably never reach the range's edge take their exact sums from the fast convolution
engines; the others are walked in order, in float64 where every step is an exact integer there, else int64.

``multiprecision_dot``: seed 004 Algorithm 1 — 16-bit operands split into a signed high byte and an unsigned
low byte; stopping the iteration early gives the precisions of Table 1, named I×W: ``8x8`` (1 pass),
``8x16`` (the paper's *mixed* K×N: I reduced to its high byte, 2 passes), ``16x8`` (the swapped variant,
2 passes) and ``16x16`` (4 passes); ``half`` and ``full`` are accepted for 8x8 and 16x16.
"""
from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np

from .. import threads
from ..errors import AccelsimError
from ..ir.layer import LoopBounds
from .conv import padded_nhwc, prepare as prepare_conv

#: seed 004 Table 1 (28 nm UTBB FDSOI, 1 GHz, 0.9 V): precision I×W -> (cycles per MAC, energy per MAC in pJ)
SEED004_TABLE1 = {"16x16": (4, 3.80), "16x8": (2, 1.90), "8x16": (2, 1.90), "8x8": (1, 0.95)}
#: seed 004 §3.3: a MAC with a zero operand costs 0.103 × E_MAC (zero skipping)
SEED004_ZERO_FACTOR = 0.103
PRECISIONS = {"8x8": 0, "8x16": 1, "16x8": 2, "16x16": 3, "half": 0, "full": 3}
ALIASES = {"half": "8x8", "full": "16x16"}
K = 8
BLOCK_TERMS = 64  # least terms (products) in one block of a saturating sum's in-range test


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
def _conv_sat(xp, w, sh, sw, dh, dw, lo, hi, todo, out):
    """out[n, p, q, g·Kg + k] = Σ over (r, s, c) in order of xp[n, p·sh + r·dh, q·sw + s·dw, g·Cg + c] ·
    w[g, r, s, c, k], saturated to [lo, hi] after every addition, for the pixels (n, p, q) ``todo`` marks (the
    others are left as they are); returns how many additions saturated. Output rows in parallel, output channels
    innermost (vectorized); a zero input is skipped (adding 0 to a sum already in range changes nothing)."""
    N, P, Q, _ = out.shape
    G, R, S, Cg, Kg = w.shape
    events = np.zeros(N * P, np.int64)
    for i in numba.prange(N * P):
        n, p = i // P, i % P
        acc = np.empty(Kg, out.dtype)
        e = 0
        for q in range(Q):
            if not todo[n, p, q]:
                continue
            for g in range(G):
                acc[:] = 0
                for r in range(R):
                    for s in range(S):
                        for c in range(Cg):
                            a = xp[n, p * sh + r * dh, q * sw + s * dw, g * Cg + c]
                            if a != 0:
                                for k in range(Kg):  # selects, not min/max: they vectorize
                                    v = acc[k] + a * w[g, r, s, c, k]
                                    e += (v > hi) + (v < lo)
                                    acc[k] = hi if v > hi else lo if v < lo else v
                out[n, p, q, g * Kg:(g + 1) * Kg] = acc
        events[i] = e
    return events.sum()


def _exact_dtype(x_max: float, w_max: float, acc_bits: int):
    """float64 when every saturating step (a sum in range plus one product) is an exact integer there, else int64.
    (float32 would be exact for narrow words too, but counting events on its masks measured 1.8× slower.)"""
    return np.float64 if 2.0 ** (acc_bits - 1) + x_max * w_max <= 2 ** 53 else np.int64


def conv_saturating(x: np.ndarray, w: np.ndarray, b, acc_bits: int):
    """(Σ x·w of the conv with loop bounds ``b`` through a saturating ``acc_bits`` accumulator, terms summed in
    im2col order (r, s, c), as an NCHW view holding integers; number of saturation events)."""
    return prepare_saturating(w, b, acc_bits, float(np.abs(x).max(initial=0)))(x)


def prepare_saturating(w: np.ndarray, b, acc_bits: int, x_max: float):
    """x -> :func:`conv_saturating` of integer ``x`` (|x| ≤ ``x_max``) for these weights, prepared once.

    The order (r, s, c) is cut into blocks that are sub-convolutions (runs of filter rows; of filter columns
    when R = 1; of channels for 1×1), whose exact sums and sums of |x|·|w| run in the fast engines (float32
    where exact). An output whose running sum before a block plus that block's Σ|x||w| stays within the
    accumulator's range at every block can never saturate: its exact sum is the saturating one, with no events.
    Only the pixels with an output that fails this run the in-order kernel (on seed004_ic fixed(8,5) with 16-bit
    sums: none)."""
    hi = (1 << (acc_bits - 1)) - 1
    blocks = [(window, w[blk], np.abs(w[blk]), sub) for window, blk, sub in _blocks(b, w)]
    bound = x_max * max(float(a.reshape(len(a), -1).sum(axis=1).max(initial=0)) for _, _, a, _ in blocks)
    dtype = np.float32 if bound < 2 ** 24 else np.float64
    convs = [(window, prepare_conv(wb, sub, dtype), prepare_conv(ab, sub, dtype))
             for window, wb, ab, sub in blocks] if bound < 2 ** 53 else []
    if any(f is None for _, f, _ in convs):  # a float64 grouped conv: no fast engine, every pixel in order
        convs = []

    def run(x):
        pt, pl, pb, pr = b.pads
        xp = np.pad(np.asarray(x, dtype), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        xa = np.abs(xp)
        sums = np.zeros((x.shape[0], b.K, b.P, b.Q))
        risky = np.zeros(sums.shape, np.bool_) if convs else np.ones(sums.shape, np.bool_)
        for window, f, fa in convs:
            threads.run_parallel(_in_range_step, sums, f(xp[window]), fa(xa[window]), float(hi), risky)
        todo = risky.any(axis=1)
        if not todo.any():
            return sums, 0
        out, events = _in_order(x, w, b, acc_bits, todo)
        return (np.where(todo[:, None], out, sums) if convs else out), events
    return run


def _blocks(b, w):
    """[(input window, weight slice, loop bounds)] of the sub-convolutions that blocks of the order (r, s, c) are:
    runs of whole filter rows when R > 1, else of filter columns when S > 1, else of channels (ungrouped), each of
    at least BLOCK_TERMS terms (fewer, larger GEMMs; seed004_ic's 3-channel 5×5 layer is one block)."""
    (sh, sw), (dh, dw) = b.stride, b.dilation
    if b.R > 1 or b.S > 1:
        extent, terms = (b.R, b.S * b.C) if b.R > 1 else (b.S, b.C)
    else:
        extent, terms = (b.C, 1) if b.groups == 1 else (1, b.C)
    step = -(-BLOCK_TERMS // terms)
    out = []
    for i0 in range(0, extent, step):
        i1 = min(extent, i0 + step)
        (r0, r1), (s0, s1), (c0, c1) = ((i0, i1), (0, b.S), (0, b.C)) if b.R > 1 else \
            ((0, 1), (i0, i1), (0, b.C)) if b.S > 1 else ((0, 1), (0, 1), (i0, i1) if b.groups == 1 else (0, b.C))
        window = (slice(None), slice(c0, c1), slice(r0 * dh, r0 * dh + (b.P - 1) * sh + (r1 - r0 - 1) * dh + 1),
                  slice(s0 * dw, s0 * dw + (b.Q - 1) * sw + (s1 - s0 - 1) * dw + 1))
        wslice = (slice(None), slice(c0, c1) if b.groups == 1 else slice(None), slice(r0, r1), slice(s0, s1))
        out.append((window, wslice, replace(b, C=c1 - c0, R=r1 - r0, S=s1 - s0, pads=(0, 0, 0, 0))))
    return out


@numba.njit(cache=True, parallel=True)
def _in_range_step(sums, part, part_abs, hi, risky):
    """One block of :func:`prepare_saturating`'s test, in one pass: an output is risky if its sum so far plus the
    block's Σ|x||w| may leave [-hi, hi]; then the block's exact sum is added."""
    N, K, P, Q = sums.shape
    for i in numba.prange(N * K):
        n, k = i // K, i % K
        for p in range(P):
            for q in range(Q):
                s = sums[n, k, p, q]
                risky[n, k, p, q] |= abs(s) + part_abs[n, k, p, q] > hi
                sums[n, k, p, q] = s + part[n, k, p, q]


def _in_order(x, w, b, acc_bits: int, todo):
    """The in-order saturating kernel on the pixels ``todo`` marks: (NCHW view, events)."""
    dtype = _exact_dtype(float(np.abs(x).max(initial=0)), float(np.abs(w).max(initial=0)), acc_bits)
    g = b.groups
    wg = np.ascontiguousarray(w.reshape(g, b.K // g, *w.shape[1:]).transpose(0, 3, 4, 2, 1), dtype)
    out = np.zeros((x.shape[0], b.P, b.Q, b.K), dtype)
    limit = (1 << (acc_bits - 1))
    events = threads.run_parallel(_conv_sat, padded_nhwc(x, b, dtype), wg, *b.stride, *b.dilation, dtype(-limit),
                                  dtype(limit - 1), np.ascontiguousarray(todo), out)
    return out.transpose(0, 3, 1, 2), int(events)


def gemm_saturating(a: np.ndarray, b: np.ndarray, acc_bits: int):
    """(a @ b.T with a saturating ``acc_bits`` accumulator, number of saturation events); int64 out."""
    m, k = a.shape
    out, events = conv_saturating(a.reshape(m, k, 1, 1), b.reshape(*b.shape, 1, 1), LoopBounds(1, b.shape[0], k, 1, 1),
                                  acc_bits)
    return out.reshape(m, -1).astype(np.int64), events


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
