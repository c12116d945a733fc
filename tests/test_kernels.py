"""Kernels against plain-Python and numpy models: seed 004 Algorithm 1, saturating accumulation (dense and conv),
the prepared convolutions (onnxruntime, BLAS), max pooling, XNOR-popcount dot products, the fixed-point L2 search;
the threading policy."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accelsim import threads
from accelsim.errors import AccelsimError
from accelsim.ir.layer import LoopBounds
from accelsim.kernels import (SEED004_TABLE1, SEED004_ZERO_FACTOR, conv_saturating, gemm_saturating, maxpool2d,
                              multiprecision_dot, pack_signs, xnor_gemm)
from accelsim.kernels import conv as conv_kernels, mac
from accelsim.kernels.conv import finish, prepare, prepare_fused
from accelsim.kernels.quantize import finite_max_abs, fixed_l2_errors


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


def python_conv(x, w, b, acc_bits=None):
    """The loop nest of accelsim/ir/layer.py in Python integers, terms in im2col order (r, s, c); with an
    accumulator of ``acc_bits`` every addition saturates. Returns (sums, saturating additions)."""
    n, _, h, wd = x.shape
    cg, kg = b.C // b.groups, b.K // b.groups
    (sh, sw), (dh, dw), (pt, pl, _, _) = b.stride, b.dilation, b.pads
    lo, hi = (-(2 ** (acc_bits - 1)), 2 ** (acc_bits - 1) - 1) if acc_bits else (-np.inf, np.inf)
    out, events = np.zeros((n, b.K, b.P, b.Q), np.int64), 0
    for ni in range(n):
        for ki in range(b.K):
            g = ki // kg
            for p in range(b.P):
                for q in range(b.Q):
                    acc = 0
                    for ri in range(b.R):
                        for si in range(b.S):
                            for ci in range(cg):
                                hh, ww = p * sh + ri * dh - pt, q * sw + si * dw - pl
                                if 0 <= hh < h and 0 <= ww < wd:
                                    acc += int(x[ni, g * cg + ci, hh, ww]) * int(w[ki, ci, ri, si])
                                    if not lo <= acc <= hi:
                                        acc, events = min(max(acc, lo), hi), events + 1
                    out[ni, ki, p, q] = acc
    return out, events


conv_cases = dict(stride=st.tuples(st.integers(1, 2), st.integers(1, 3)),
                  dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)), pads=st.tuples(*[st.integers(0, 2)] * 4),
                  groups=st.sampled_from(["one", "two", "depthwise"]), seed=st.integers(0, 2 ** 31 - 1))


def random_conv(stride, dilation, pads, groups, seed, magnitude=50):
    rng = np.random.default_rng(seed)
    n, c, h, w, k, r, s = 2, 4, 7, 6, 4, 3, 2
    g = {"one": 1, "two": 2, "depthwise": c}[groups]
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = stride, dilation, pads
    P, Q = (h + pt + pb - (r - 1) * dh - 1) // sh + 1, (w + pl + pr - (s - 1) * dw - 1) // sw + 1
    b = LoopBounds(N=n, K=k, C=c, P=P, Q=Q, R=r, S=s, stride=stride, dilation=dilation, pads=pads, groups=g)
    x = rng.integers(-magnitude, magnitude, (n, c, h, w)) * (rng.random((n, c, h, w)) < 0.8)  # with zeros
    return b, x, rng.integers(-magnitude, magnitude, (k, c // g, r, s))


@settings(max_examples=25, deadline=None)
@given(**conv_cases, dtype=st.sampled_from([np.float32, np.float64]), workers=st.sampled_from([1, 2, 3]),
       one_image_a_block=st.booleans())
def test_prepared_convolutions_equal_python_integers(stride, dilation, pads, groups, seed, dtype, workers,
                                                     one_image_a_block):
    """onnxruntime's float32 Conv and the float64 BLAS (and depthwise) kernel on small integers: exact, with the
    batch shared among threads (2 workers, one image each) or run inline (1 worker, or more workers than images),
    and the im2col GEMMs over the whole batch at once or (a 1-element buffer) one image at a time."""
    b, x, wt = random_conv(stride, dilation, pads, groups, seed)
    conv = prepare(wt.astype(dtype), b, dtype)
    if conv is None:  # float64 grouped convs fall back to the reference (not a kernel)
        assert dtype == np.float64 and groups == "two"
        return
    buffer = 1 if one_image_a_block else conv_kernels.BUFFER_ELEMENTS
    with mock.patch.object(threads, "configure", lambda: workers), \
            mock.patch.object(conv_kernels, "BUFFER_ELEMENTS", buffer):
        got = conv(x.astype(dtype))
    assert got.shape == (2, b.K, b.P, b.Q) and got.dtype == dtype
    assert np.array_equal(got, python_conv(x, wt, b)[0])


@settings(max_examples=20, deadline=None)
@given(r=st.integers(1, 3), s=st.integers(2, 3), sw=st.integers(1, 2), dilation=st.tuples(st.integers(1, 2),
       st.integers(1, 2)), pads=st.tuples(*[st.integers(0, 2)] * 4), seed=st.integers(0, 2 ** 31 - 1),
       workers=st.sampled_from([1, 2, 3]), one_image_a_block=st.booleans(), finished=st.booleans())
def test_filter_row_convolutions_in_onnxruntime_are_exact(r, s, sw, dilation, pads, seed, workers, one_image_a_block,
                                                         finished):
    """The float64 filter-row path (vertical stride 1: bound onnxruntime sessions over patches stored (h, image,
    q), a MatMul for the first filter row and a Gemm adding each other one, R = 1 a lone MatMul) on 16-bit words,
    whose sums reach ~2^38: exactly Python's integers, as sums (a channels-last view) and finished (float32 of
    sums · 2^-30 + bias), with the batch shared among threads or inline, a block of images at a time or one."""
    rng = np.random.default_rng(seed)
    n, c, h, w, k = 3, 16, 7, 8, 5
    (dh, dw), (pt, pl, pb, pr) = dilation, pads
    P, Q = h + pt + pb - (r - 1) * dh, (w + pl + pr - (s - 1) * dw - 1) // sw + 1
    assume(P > 0 and Q > 0)
    b = LoopBounds(N=n, K=k, C=c, P=P, Q=Q, R=r, S=s, stride=(1, sw), dilation=dilation, pads=pads)
    x = rng.integers(-2 ** 15, 2 ** 15, (n, c, h, w)) * (rng.random((n, c, h, w)) < 0.8)
    wt = rng.integers(-2 ** 15, 2 ** 15, (k, c, r, s))
    bias = rng.standard_normal((k, 1, 1)).astype(np.float32)
    conv = prepare(wt.astype(np.float64), b, np.float64)
    assert conv.by_rows
    buffer = 1 if one_image_a_block else conv_kernels.BUFFER_ELEMENTS
    with mock.patch.object(threads, "configure", lambda: workers), \
            mock.patch.object(conv_kernels, "BUFFER_ELEMENTS", buffer):
        got = conv(x.astype(np.float64), scale=2.0 ** -30, bias=bias) if finished else conv(x.astype(np.float64))
    exact = python_conv(x, wt, b)[0]
    if finished:
        assert np.array_equal(got, finish(exact.astype(np.float64), 2.0 ** -30, bias))
    else:
        assert got.dtype == np.float64 and np.array_equal(got, exact)


@pytest.mark.parametrize("stride", [(1, 1), (2, 1)])  # filter-row GEMMs (S·C = 48), full im2col rows
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("relu", [False, True])
def test_finish_inside_the_float64_conv_equals_finish_of_its_sums(stride, workers, relu):
    """float32(Σ·2^-F + bias) made block by block in each thread is bit for bit numpy's passes over the sums;
    with ``relu``, then np.maximum(·, 0)'s, sign bits of the zeros included."""
    rng = np.random.default_rng(3)
    P, Q = (9 - 3) // stride[0] + 1, 8 - 3 + 1
    b = LoopBounds(N=5, K=7, C=16, P=P, Q=Q, R=3, S=3, stride=stride)
    x = rng.integers(-2 ** 15, 2 ** 15, (5, 16, 9, 8)).astype(np.float64)
    w = rng.integers(-2 ** 15, 2 ** 15, (7, 16, 3, 3)).astype(np.float64)
    bias = rng.standard_normal((7, 1, 1)).astype(np.float32)
    conv = prepare(w, b, np.float64)
    with mock.patch.object(threads, "configure", lambda: workers):
        fused = conv(x, scale=2.0 ** -27, bias=bias, relu=relu)
        expected = finish(conv(x), 2.0 ** -27, bias)
    expected = np.maximum(expected, 0) if relu else expected
    assert fused.dtype == np.float32 and fused.flags.c_contiguous and fused.shape == (5, 7, P, Q)
    assert np.array_equal(fused, expected) and np.array_equal(np.signbit(fused), np.signbit(expected))


@pytest.mark.parametrize("bias", [0.0, -0.0, 1.5, -np.inf, np.nan])
@pytest.mark.parametrize("relu", [False, True])
def test_finishing_kernels_round_and_rectify_zeros_nan_and_infinities_as_numpy(bias, relu):
    """The kernels' finish (float64 sums, block by block; float32 sums, in place) is numpy's s·2^-3 + b in the
    sums' dtype, as float32, then np.maximum(·, 0), sign bits included: NaN stays NaN, −0 and negatives become
    +0, ±inf follow their sign."""
    sums = np.array([np.nan, -0.0, 0.0, -1.0, 1.0, np.inf, -np.inf, 2.0 ** -140, -(2.0 ** 130), 3.0, -3.0] * 3)
    block = np.empty((1, 1, 1, sums.size), np.float32)
    conv_kernels._finish_block(sums.reshape(1, 1, -1, 1), block, 2.0 ** -3, np.array([bias]), relu)
    in_place = finish(sums.astype(np.float32).reshape(1, 1, -1), 2.0 ** -3, np.full((1, 1), bias, np.float32), relu)
    for got, dtype in ((block, np.float64), (in_place, np.float32)):
        expected = (sums.astype(dtype) * dtype(2.0 ** -3) + dtype(bias)).astype(np.float32)
        expected = np.maximum(expected, 0) if relu else expected
        got = got.reshape(-1)
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        assert np.array_equal(got[~np.isnan(got)].view(np.int32), expected[~np.isnan(expected)].view(np.int32))


@settings(max_examples=40, deadline=None)
@given(**conv_cases, relu=st.booleans(), pool=st.sampled_from([None, (2, 2, 0), (3, 2, 0), (3, 2, 1), (2, 1, 1)]),
       ceil=st.booleans(), fx=st.integers(-3, 9))
def test_fused_session_equals_conv_then_finish_then_pooling(stride, dilation, pads, groups, seed, relu, pool, ceil,
                                                            fx):
    """One onnxruntime session (conv on the values, its bias, ReLU, max pooling) is bit for bit the float32 conv of
    the words, finish() with 2^-(fx+fw) and the bias, then maxpool2d; both pooling modes."""
    b, x, wt = random_conv(stride, dilation, pads, groups, seed)
    if pool is not None and min(b.P, b.Q) < pool[0]:
        pool = None
    bias = np.random.default_rng(seed).standard_normal(b.K).astype(np.float32)
    how = None
    if pool is not None:
        k, s, p = pool
        span = (b.P + 2 * p - k, b.Q + 2 * p - k)
        out_hw = tuple((-(-n // s) if ceil else n // s) + 1 for n in span)
        how = ((k, k), (s, s), (p, p, p, p), out_hw)
    fused = prepare_fused(wt * 2.0 ** -7, b, bias, relu, how)
    if fused is None:  # onnxruntime's ceil mode gives one window less (it would start in the padding)
        assert how is not None and ceil
        return
    got = fused((x * 2.0 ** -fx).astype(np.float32))
    expected = finish(prepare(wt.astype(np.float32), b, np.float32)(x.astype(np.float32)), 2.0 ** -(fx + 7),
                      bias.reshape(-1, 1, 1), relu)
    if how is not None:
        expected = maxpool2d(expected, *how)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_fused_session_declines_a_pooling_onnxruntime_would_shape_otherwise():
    """3 rows, window 2, stride 2, padding 1: a ceil-mode count of 3 windows, whose last would start in the padding;
    onnxruntime's ceil mode gives 2, so there is no fused session (maxpool2d's numba kernel gives the 3)."""
    b = LoopBounds(N=1, K=2, C=1, P=3, Q=3)
    w = np.ones((2, 1, 1, 1))
    assert prepare_fused(w, b, None, False, ((2, 2), (2, 2), (1, 1, 1, 1), (3, 3))) is None
    assert prepare_fused(w, b, None, False, ((2, 2), (2, 2), (1, 1, 1, 1), (2, 2))) is not None
    assert maxpool2d(np.ones((1, 2, 3, 3), np.float32), (2, 2), (2, 2), (1, 1, 1, 1), (3, 3)).shape == (1, 2, 3, 3)


def test_onnxruntime_conv_is_exact_up_to_2_pow_24():
    """Sums of 1,023 products of ±128 × ±128 (every partial sum below 2^24 in magnitude, the total above 2^23)
    stay exact: an engine accumulating in less than float32 would lose the low bits."""
    b = LoopBounds(N=1, K=2, C=1023, P=1, Q=1)
    x = np.full((1, 1023, 1, 1), -128.0)
    x[0, ::7] = 127  # not all equal: the sum's low bits matter
    w = np.stack([np.full((1023, 1, 1), -128.0), np.full((1023, 1, 1), 127.0)])
    got = prepare(w, b, np.float32)(x)
    expected = python_conv(x.astype(np.int64), w.astype(np.int64), b)[0]
    assert np.abs(expected).max() > 2 ** 23 and np.array_equal(got, expected)


@settings(max_examples=25, deadline=None)
@given(**conv_cases, acc_bits=st.integers(8, 20), magnitude=st.sampled_from([50, 2 ** 27]))
def test_saturating_conv_equals_in_order_python_integers(stride, dilation, pads, groups, seed, acc_bits, magnitude):
    """Every addition saturates, in im2col order; events counted. The magnitudes take the float64 and int64
    kernels (products below 2^53, above)."""
    b, x, wt = random_conv(stride, dilation, pads, groups, seed, magnitude)
    got, events = conv_saturating(x.astype(np.float64), wt.astype(np.float64), b, acc_bits)
    expected, expected_events = python_conv(x, wt, b, acc_bits)
    assert np.array_equal(got, expected) and events == expected_events


def test_saturating_conv_runs_in_order_only_where_a_sum_may_leave_the_range():
    """Image 0's sums stay far inside a 16-bit accumulator, image 1's overflow it: the result equals the in-order
    walk for both, every event comes from image 1, and the in-order kernel visits image 1's pixels only."""
    b = LoopBounds(N=2, K=3, C=8, P=4, Q=4, R=3, S=3, pads=(1, 1, 1, 1))
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.integers(-3, 4, (1, 8, 4, 4)), rng.integers(100, 128, (1, 8, 4, 4))])
    w = rng.integers(20, 128, (3, 8, 3, 3))
    visited = []
    real = mac._in_order
    with mock.patch.object(mac, "_in_order", lambda *a: visited.append(a[-1].copy()) or real(*a)):
        got, events = conv_saturating(x.astype(np.float64), w.astype(np.float64), b, 16)
    expected, expected_events = python_conv(x, w, b, 16)
    assert np.array_equal(got, expected) and events == expected_events > 0
    (todo,) = visited
    assert not todo[0].any() and todo[1].all()
    assert python_conv(x[:1], w, b, 16)[1] == 0


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), pads=st.tuples(*[st.integers(0, 2)] * 4),
       seed=st.integers(0, 2 ** 16), nan=st.booleans(), channels_last=st.booleans())
def test_maxpool_equals_numpy_maximum_over_a_minus_inf_padded_input(h, w, kernel, stride, pads, seed, nan,
                                                                     channels_last):
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, stride, pads
    pt, pb, pl, pr = min(pt, kh - 1), min(pb, kh - 1), min(pl, kw - 1), min(pr, kw - 1)  # ONNX: pads < kernel
    P, Q = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    if P < 1 or Q < 1:
        return
    x = np.random.default_rng(seed).standard_normal((2, 3, h, w)).astype(np.float32)
    if nan:
        x[1, 2, h // 2, w // 2] = np.nan
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    expected = np.full((2, 3, P, Q), -np.inf, np.float32)
    for r in range(kh):
        for s in range(kw):
            expected = np.maximum(expected, xp[:, :, r:r + (P - 1) * sh + 1:sh, s:s + (Q - 1) * sw + 1:sw])
    if channels_last:  # conv2d's output layout
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    got = maxpool2d(x, kernel, stride, (pt, pl, pb, pr), (P, Q))
    assert np.array_equal(got, expected, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_max_abs_skips_nan_and_infinities(dtype):
    """The largest finite magnitude (numpy's max and min when all is finite, else the numba pass); 0 (not −0)
    when there is none."""
    cases = [([1.0, -3.0, 2.0], 3.0), ([np.nan, -3.0, np.inf], 3.0), ([-np.inf, 2.0, np.nan, -1.0], 2.0),
             ([np.inf, np.nan], 0.0), ([], 0.0), ([-0.0, -0.0], 0.0), ([-2.5], 2.5)]
    for x, top in cases:
        got = finite_max_abs(np.array(x, dtype))
        assert got == top and not np.signbit(got), x


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


def test_thread_count_follows_the_first_override_variable(monkeypatch):
    for var in threads.ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "5")
    threads.count.cache_clear()
    try:
        assert threads.count() == 5  # NUMBA_NUM_THREADS comes before OPENBLAS_NUM_THREADS in threads.ENV
        monkeypatch.setenv("ACCELSIM_THREADS", "1")
        threads.count.cache_clear()
        assert threads.count() == 1
    finally:
        monkeypatch.undo()
        threads.count.cache_clear()


def test_a_busy_process_counts_as_load_and_free_cores_stay_in_range():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert threads._runnable_others() >= 0.6  # always runnable (plus whatever else the machine runs)
    finally:
        busy.kill()
        busy.wait()
    assert 1 <= threads.free_cores() <= threads.cores()


FAULTS_OF_A_REALLOCATION = """
import resource, sys, numpy as np
from accelsim import threads
threads.configure()
np.ones(40 << 17)  # 40 MB touched, then freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
again = np.ones(40 << 17)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_an_array_freed_under_the_policy_is_reused_without_page_faults():
    """After configure(), a 40 MB array allocated again comes from the freed memory (no page faults); with malloc's
    own variable set (the policy then leaves malloc alone), from fresh pages."""
    def faults(**env):
        run = subprocess.run([sys.executable, "-c", FAULTS_OF_A_REALLOCATION], capture_output=True, text=True,
                             check=True, env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env)
        return int(run.stdout)
    assert faults() == 0
    assert faults(MALLOC_ARENA_MAX="8") > 10  # 40 MB of 4 kB pages, or of 2 MB huge pages


def test_configure_gives_numba_and_numpys_blas_the_policy_thread_count():
    import numba
    from threadpoolctl import threadpool_info
    n = threads.configure()
    maxpool2d(np.zeros((1, 1, 2, 2)), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1))  # float64: the numba kernel
    assert numba.get_num_threads() == min(n, numba.config.NUMBA_NUM_THREADS)
    assert numba.threading_layer() == threads.LAYER
    numpy_dir = str(Path(np.__file__).parent.parent)  # numpy's BLAS ships in site-packages/numpy.libs
    pools = [p for p in threadpool_info() if p["user_api"] == "blas" and p["filepath"].startswith(numpy_dir)
             and "numpy" in p["filepath"]]
    assert pools and all(p["num_threads"] == n for p in pools)
