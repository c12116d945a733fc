"""numba kernels against plain-Python models: seed 004 Algorithm 1, saturating accumulation, im2col convolution,
XNOR-popcount dot products, the fixed-point L2 search."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import AccelsimError
from accelsim.ir.layer import LoopBounds
from accelsim.kernels import (SEED004_TABLE1, SEED004_ZERO_FACTOR, conv2d, gemm_saturating, multiprecision_dot,
                              pack_signs, xnor_gemm)
from accelsim.kernels.quantize import fixed_l2_errors


def algorithm1(I, W, precision):
    """Seed 004 Algorithm 1 in plain Python: H parts signed (arithmetic shift), L parts unsigned bytes.
    8x16 stops after line 7 (the paper's mixed K×N); 16x8 swaps the second and third loops (§3.1)."""
    H = lambda v: v >> 8
    L = lambda v: v & 0xFF
    r = sum(H(i) * H(w) for i, w in zip(I, W))  # lines 1-2
    if precision == "8x8":
        return r
    r <<= 8  # line 4
    if precision == "16x8":
        return r + sum(L(i) * H(w) for i, w in zip(I, W))
    r += sum(H(i) * L(w) for i, w in zip(I, W))  # lines 5-6
    if precision == "8x16":
        return r
    r += sum(L(i) * H(w) for i, w in zip(I, W))  # lines 8-9
    r <<= 8  # line 10
    return r + sum(L(i) * L(w) for i, w in zip(I, W))  # lines 11-12


int16 = st.integers(-(2 ** 15), 2 ** 15 - 1)


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(int16, int16), min_size=1, max_size=20),
       precision=st.sampled_from(["8x8", "8x16", "16x8", "16x16"]))
def test_multiprecision_mac_equals_algorithm1_bit_for_bit(pairs, precision):
    I, W = [p[0] for p in pairs], [p[1] for p in pairs]
    got = multiprecision_dot(np.array(I), np.array(W), precision)
    assert got == algorithm1(I, W, precision)
    # what each precision means: 16x16 is the exact dot product; the others drop the low byte of an operand
    exact = {"16x16": sum(i * w for i, w in zip(I, W)), "8x16": sum((i >> 8) * w for i, w in zip(I, W)),
             "16x8": sum(i * (w >> 8) for i, w in zip(I, W)), "8x8": sum((i >> 8) * (w >> 8) for i, w in zip(I, W))}
    assert got == exact[precision]


def test_multiprecision_aliases_and_bad_precision():
    I, W = np.array([300, -7000]), np.array([-129, 25000])
    assert multiprecision_dot(I, W, "full") == multiprecision_dot(I, W, "16x16") == 300 * -129 - 7000 * 25000
    assert multiprecision_dot(I, W, "half") == multiprecision_dot(I, W, "8x8")
    with pytest.raises(AccelsimError, match="12x12"):
        multiprecision_dot(I, W, "12x12")


def test_seed004_table1_latency_and_energy():
    """Seed 004 Table 1 (Precision I×W, N_cycles, E_MAC pJ) and §3.3: E_zero = 0.103 E_MAC."""
    assert SEED004_TABLE1 == {"16x16": (4, 3.80), "16x8": (2, 1.90), "8x16": (2, 1.90), "8x8": (1, 0.95)}
    assert SEED004_ZERO_FACTOR == 0.103
    for cycles, pj in SEED004_TABLE1.values():  # one 8×8 pass per cycle, 0.95 pJ each
        assert pj == pytest.approx(0.95 * cycles)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 12), st.integers(6, 20), st.integers(0, 2 ** 31 - 1))
def test_saturating_gemm_equals_python_integers(m, n, k, acc_bits, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (n, k))
    got, events = gemm_saturating(a, b, acc_bits)
    lo, hi, expected_events = -(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1, 0
    for i in range(m):
        for j in range(n):
            acc = 0
            for t in range(k):
                acc += int(a[i, t]) * int(b[j, t])
                if not lo <= acc <= hi:
                    acc = min(max(acc, lo), hi)
                    expected_events += 1
            assert got[i, j] == acc
    assert events == expected_events


@settings(max_examples=25, deadline=None)
@given(stride=st.tuples(st.integers(1, 2), st.integers(1, 3)), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pads=st.tuples(*[st.integers(0, 2)] * 4), seed=st.integers(0, 2 ** 31 - 1),
       dtype=st.sampled_from([np.float32, np.float64]), depthwise=st.booleans())
def test_conv2d_equals_python_integers(stride, dilation, pads, seed, dtype, depthwise):
    """The BLAS (and depthwise) convolution, loop nest of accelsim/ir/layer.py, on small integers (exact)."""
    rng = np.random.default_rng(seed)
    n, c, h, w, k, r, s = 2, 3, 7, 6, 4, 3, 2
    if depthwise:
        k = c
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = stride, dilation, pads
    P, Q = (h + pt + pb - (r - 1) * dh - 1) // sh + 1, (w + pl + pr - (s - 1) * dw - 1) // sw + 1
    g = c if depthwise else 1
    b = LoopBounds(N=n, K=k, C=c, P=P, Q=Q, R=r, S=s, stride=stride, dilation=dilation, pads=pads, groups=g)
    x, wt = rng.integers(-50, 50, (n, c, h, w)), rng.integers(-50, 50, (k, c // g, r, s))
    got = conv2d(x.astype(dtype), wt.astype(dtype), b, dtype)
    assert got.shape == (n, k, P, Q) and got.dtype == dtype
    for ni in range(n):
        for ki in range(k):
            for p in range(P):
                for q in range(Q):
                    acc = 0
                    for ci in ([ki] if depthwise else range(c)):
                        for ri in range(r):
                            for si in range(s):
                                hh, ww = p * sh + ri * dh - pt, q * sw + si * dw - pl
                                if 0 <= hh < h and 0 <= ww < w:
                                    acc += int(x[ni, ci, hh, ww]) * int(wt[ki, 0 if depthwise else ci, ri, si])
                    assert got[ni, ki, p, q] == acc


def test_fixed_l2_errors_match_numpy():
    """The numba search's error per fraction length equals numpy's Σ(x − clip(round(x·2^F))·2^-F)²."""
    x = np.random.default_rng(11).standard_normal(5000) * 3
    fractions = np.arange(-2, 10)
    got = fixed_l2_errors(x, fractions, 0, -128, 127, False)
    expected = [np.sum((np.clip(np.rint(x * 2.0 ** f), -128, 127) * 2.0 ** -f - x) ** 2) for f in fractions]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 5), n=st.integers(1, 200), seed=st.integers(0, 2 ** 16))
def test_xnor_popcount_equals_the_signed_dot_product(m, k, n, seed):
    """x in {-1, 0, +1} (0 = padding, masked out), w in {-1, +1}; lengths across the 64-bit word boundaries."""
    rng = np.random.default_rng(seed)
    x = rng.choice([-1, 0, 1], (m, n))
    w = rng.choice([-1, 1], (k, n))
    expected = [[sum(int(a) * int(b) for a, b in zip(xr, wr)) for wr in w] for xr in x]
    assert xnor_gemm(*pack_signs(x), pack_signs(w)[0]).tolist() == expected
