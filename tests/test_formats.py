"""Number formats against exact references: ml_dtypes casts, integer arithmetic, the papers' definitions."""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from accelsim.errors import AccelsimError
from accelsim.formats import csd_digits, csd_truncate, parse

ML_DTYPES = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp8_e4m3": ml_dtypes.float8_e4m3fn,
             "fp8_e5m2": ml_dtypes.float8_e5m2, "fp4_e2m1": ml_dtypes.float4_e2m1fn}


def edge_cases(dtype) -> np.ndarray:
    """Every finite value of the format, the midpoints between neighbours (ties), just off the midpoints,
    subnormals, max finite, and values past it (overflow)."""
    info = ml_dtypes.finfo(dtype)
    if np.dtype(dtype).itemsize == 1:
        finite = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
    else:
        finite = np.arange(65536, dtype=np.uint16).view(dtype).astype(np.float64)
    finite = np.unique(finite[np.isfinite(finite)])  # (NaN patterns dropped)
    mids = (finite[1:] + finite[:-1]) / 2
    big = float(info.max)
    extra = [big * 1.01, big * 1.5, big * 4, -big * 4, float(info.smallest_subnormal) / 3, 0.0, -0.0]
    pts = np.concatenate([finite, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), extra])
    return pts.astype(np.float32)  # ml_dtypes casts from float32; these values are all exact in float32


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_minifloat_casts_are_bit_exact_with_ml_dtypes(name):
    dtype = ML_DTYPES[name]
    rng = np.random.default_rng(0)
    x = np.concatenate([edge_cases(dtype), (rng.standard_normal(20000) * rng.choice([1e-3, 1, 30, 1e4], 20000))
                        .astype(np.float32)])
    with np.errstate(over="ignore"):
        expected = x.astype(dtype).astype(np.float64)
    ours = parse(name).quantize(x)
    same = (ours == expected) | (np.isnan(ours) & np.isnan(expected))
    assert same.all(), f"{name}: first mismatch at {x[~same][:5]} -> ours {ours[~same][:5]}, ml_dtypes {expected[~same][:5]}"
    assert np.array_equal(np.signbit(ours[ours == 0]), np.signbit(expected[expected == 0]))


@pytest.mark.parametrize("name", ["fp32", "tf32", "fp16", "bf16", "dlfloat16", "fp8_e4m3", "fp8_e5m2", "fp4_e2m1",
                                  "minifloat(9,30)"])
def test_minifloat_counts_its_overflows_and_zeros_as_numpy_does(name):
    """quantize_counted: the values of quantize (float32 where float32 holds the format), the finite inputs that
    became inf or NaN (for a saturating format, every input beyond its largest finite value), and the zeros, as
    numpy counts them — on ±inf, NaN and ±0 inputs too, without subnormals (dlfloat16) and saturating (fp4)."""
    fmt = parse(name)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-12, 12, 20000)).astype(np.float32)
    x[:40] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, -1e-40, 3e38] * 5
    for xs in (x, x.astype(np.float64)):
        values = fmt.quantize(xs)
        overflows = np.count_nonzero(np.isfinite(xs) & ~np.isfinite(values))
        if fmt.overflow == "sat":
            overflows += np.count_nonzero(np.abs(xs) > fmt.max_finite)
        q, counted, zeros = fmt.quantize_counted(xs)
        assert q.dtype == (np.float32 if xs.dtype == np.float32 and fmt.fits_float32 else np.float64)
        assert np.array_equal(q, values, equal_nan=True) and np.array_equal(np.signbit(q[q == 0]),
                                                                            np.signbit(values[values == 0]))
        assert (counted, zeros) == (overflows, values.size - np.count_nonzero(values)), name


def test_wide_minifloats_round_as_numpy_casts_on_every_float64_exponent():
    """Random float64 bit patterns (every exponent, subnormals, infinities, NaN payloads): fp32 rounds as numpy's
    float64 -> float32 cast, fp16 as its float16 cast (both round to nearest even, with subnormals), and the
    minifloat with float64's own 11 exponent and 52 mantissa bits leaves every value as it is."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2 ** 64, 200000, dtype=np.uint64).view(np.float64)
    x = np.concatenate([x, [0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 2.0 ** -1022, np.finfo(np.float64).max]])
    with np.errstate(over="ignore", invalid="ignore"):  # (casting NaN payloads)
        for name, cast in (("fp32", np.float32), ("fp16", np.float16)):
            expected = x.astype(cast).astype(np.float64)
            ours = parse(name).quantize(x)
            assert np.array_equal(ours, expected, equal_nan=True), name
            assert np.array_equal(np.signbit(ours[x == x]), np.signbit(expected[x == x])), name  # ±0 too
    same = parse("minifloat(11,52)").quantize(x)
    assert np.array_equal(same, x, equal_nan=True) and np.array_equal(np.signbit(same[x == x]), np.signbit(x[x == x]))


@pytest.mark.parametrize("name", sorted(ML_DTYPES))
def test_minifloat_bit_codes_equal_ml_dtypes_storage_and_decode_back(name):
    dtype = ML_DTYPES[name]
    x = np.concatenate([edge_cases(dtype), [np.inf, -np.inf] if name != "fp4_e2m1" else []]).astype(np.float32)
    if name not in ("fp4_e2m1",):
        x = np.append(x, np.float32(np.nan))
    storage = np.uint8 if np.dtype(dtype).itemsize == 1 else np.uint16
    with np.errstate(over="ignore"):
        expected = x.astype(dtype).view(storage).astype(np.uint64)
    if name == "fp4_e2m1":  # ml_dtypes keeps 4-bit values in the low bits of a byte
        expected &= np.uint64(0xF)
    fmt = parse(name)
    codes = fmt.to_bits(x)
    assert np.array_equal(codes, expected), f"{name}: {x[codes != expected][:5]}"
    assert np.array_equal(fmt.from_bits(codes), fmt.quantize(x), equal_nan=True)
    assert codes.max() < 2 ** fmt.bits


def test_fp8_e4m3_is_the_fn_variant_and_inputs_overflow_as_ml_dtypes():
    f = parse("fp8_e4m3")
    assert f.max_finite == 448.0
    assert np.isnan(f.quantize([np.inf, 465.0, np.nan])).all()
    assert parse("fp8_e5m2").quantize([np.inf, 61440.0])[0] == np.inf
    assert parse("fp4_e2m1").quantize([100.0, -7.0]).tolist() == [6.0, -6.0]  # saturates: no inf, no NaN


def test_fp32_tf32_and_dlfloat_presets():
    x = np.random.default_rng(1).standard_normal(1000)
    assert np.array_equal(parse("fp32").quantize(x), x.astype(np.float32).astype(np.float64))
    tf32 = parse("tf32").quantize(x)  # 10 mantissa bits, fp32 range
    assert np.all(np.abs(tf32 - x) <= np.abs(x) * 2.0 ** -11)
    dl = parse("dlfloat16")
    assert dl.exponent_bias == 31 and dl.bits == 16
    assert dl.quantize([2.0 ** -31, 2.0 ** -32])[1] in (0.0, 2.0 ** -30)  # no subnormals: 0 or the smallest normal


def python_fixed(x: float, w: int, f: int, rounding: str = "rne", overflow: str = "sat") -> int:
    """Plain-Python reference: round (half to even: Python's round; toward zero; floor), then saturate or wrap in
    two's complement."""
    q = {"rne": round, "trunc": math.trunc, "floor": math.floor}[rounding](x * 2 ** f)
    lo, hi = -(2 ** (w - 1)), 2 ** (w - 1) - 1
    return (q - lo) % 2 ** w + lo if overflow == "wrap" else max(lo, min(hi, q))


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, 50, elements=st.floats(-300, 300, allow_nan=False)), w=st.integers(4, 24),
       f=st.integers(-2, 20))
def test_fixed_point_equals_integer_reference(x, w, f):
    q, frac = parse(f"fixed({w},{f})").to_int(x)
    assert frac == f
    assert q.tolist() == [python_fixed(v, w, f) for v in x.tolist()]


@settings(max_examples=80, deadline=None)
@given(x=arrays(np.float64, 40, elements=st.floats(-300, 300, allow_nan=False)), w=st.integers(4, 24),
       f=st.integers(-2, 12), rounding=st.sampled_from(["rne", "trunc", "floor"]),
       overflow=st.sampled_from(["sat", "wrap"]), float32=st.booleans())
def test_every_rounding_and_overflow_mode_equals_integer_reference(x, w, f, rounding, overflow, float32):
    """Words, the overflow count and the zero count of the encoding kernel, in float32 and float64, against Python
    integers."""
    x = x.astype(np.float32) if float32 else x
    fmt = parse(f"fixed({w},{f},round={rounding},overflow={overflow})")
    q, _, overflows, zeros = fmt.encode(x)
    expected = [python_fixed(v, w, f, rounding, overflow) for v in x.astype(np.float64).tolist()]
    assert q.astype(np.int64).tolist() == expected and zeros == expected.count(0)
    assert overflows == sum(python_fixed(v, w, f, rounding, "sat") != python_fixed(v, w + 60, f, rounding)
                            for v in x.astype(np.float64).tolist())


def test_non_finite_values_saturate_and_count_as_overflows():
    """±inf saturate to the extreme words, NaN to the most negative one; each counts as an overflow."""
    q, _, overflows, zeros = parse("fixed(8,2)").encode(np.array([np.inf, -np.inf, np.nan, 1.0], np.float32))
    assert q.tolist() == [127, -128, -128, 4] and overflows == 3 and zeros == 0


def test_fixed_rounding_and_overflow_modes():
    x = np.array([2.5, -2.5, 3.75, -3.75, 100.0, -100.0])
    assert parse("fixed(8,0)").quantize(x).tolist() == [2, -2, 4, -4, 100, -100]  # ties to even
    assert parse("fixed(8,0,round=trunc)").quantize(x).tolist() == [2, -2, 3, -3, 100, -100]  # toward zero
    assert parse("fixed(6,0)").quantize(x).tolist() == [2, -2, 4, -4, 31, -32]  # saturate
    assert parse("fixed(6,0,overflow=wrap)").quantize([33.0, -34.0]).tolist() == [-31, 30]  # two's complement wrap
    s = parse("fixed(8,0,round=stochastic,seed=3)").quantize(np.full(20000, 0.25))
    assert set(np.unique(s)) == {0.0, 1.0} and abs(s.mean() - 0.25) < 0.02  # unbiased in expectation
    assert np.array_equal(s, parse("fixed(8,0,round=stochastic,seed=3)").quantize(np.full(20000, 0.25)))


def test_dynamic_fixed_point_picks_the_l2_optimal_fraction_length():
    """Seed 004 §4.1: FL minimising the L2 error, searched among the W-1 candidates around eq. (2)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(50_000)
    x[0] = 40.0  # an outlier: clipping it beats losing resolution everywhere else
    f = parse("fixed(8)").fraction_bits(x)
    err = {g: np.sum((parse(f"fixed(8,{g})").quantize(x) - x) ** 2) for g in range(-4, 12)}
    assert err[f] == min(err.values())  # the W-1 candidates around eq. (2) hold the optimum of a wide search


def test_fraction_search_ignores_nan_and_infinities():
    """Non-finite values neither set the range nor enter the error: the fraction of the finite values alone."""
    x = np.random.default_rng(4).standard_normal(1000) * 3
    dirty = np.concatenate([x[:500], [np.inf, np.nan, -np.inf], x[500:]])
    for w in (8, 16):
        assert parse(f"fixed({w})").fraction_bits(dirty) == parse(f"fixed({w})").fraction_bits(x)


@settings(max_examples=150, deadline=None)
@given(w=st.integers(2, 20), mode=st.sampled_from(["rne", "trunc", "floor", "stochastic"]), wrap=st.booleans(),
       kind=st.sampled_from(["normal", "integers", "few", "outlier"]), seed=st.integers(0, 2 ** 16),
       n=st.integers(1, 300))
def test_fraction_search_skipping_coarse_grids_finds_the_full_searchs_fraction(w, mode, wrap, kind, seed, n):
    """The search computes no error below the finest candidate that clips nothing but the one just under it (and
    ties after that): it returns what the error of every one of the W-1 candidates would, first minimum on ties."""
    from accelsim.kernels.quantize import ROUNDING_CODES, fixed_l2_errors
    rng = np.random.default_rng(seed)
    x = {"normal": rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4),
         "integers": rng.integers(-300, 300, n).astype(np.float64),  # ties: no error at every F ≥ 0 that fits
         "few": rng.choice([0.0, 0.5, -0.25, 3.0], n),
         "outlier": np.append(rng.standard_normal(n), 1e3)}[kind]
    fmt = parse(f"fixed({w},round={mode},overflow={'wrap' if wrap else 'sat'})")
    vmax = np.abs(x).max()
    if vmax == 0:
        return
    eq2 = int(np.ceil(np.log2(fmt.qmax / vmax)))
    candidates = np.arange(eq2 - w // 2 + 1, eq2 + w // 2)
    errors = fixed_l2_errors(x, candidates, ROUNDING_CODES[mode], fmt.qmin, fmt.qmax, wrap)
    assert fmt.fraction_bits(x) == candidates[np.argmin(errors)]


@given(st.integers(-(2 ** 20), 2 ** 20))
def test_csd_digits_are_canonic_and_exact(n):
    d = csd_digits(n)
    assert sum(v << i for i, v in enumerate(d)) == n
    assert all(not (a and b) for a, b in zip(d, d[1:]))  # no two adjacent non-zero digits
    assert sum(map(abs, d)) <= bin(abs(n)).count("1")  # never more non-zeros than binary


def test_csd_truncation_keeps_the_most_significant_digits():
    assert csd_digits(7) == [-1, 0, 0, 1]  # 7 = 8 - 1
    assert csd_digits(23) == [-1, 0, 0, -1, 0, 1]  # 23 = 32 - 8 - 1
    assert csd_truncate(np.array([7, 23, -23]), 1).tolist() == [8, 32, -32]
    assert csd_truncate(np.array([7, 23, -23]), 2).tolist() == [7, 24, -24]
    assert parse("fixed(8,0,csd=2)").quantize([23.0]).tolist() == [24.0]


def test_block_floating_point_shares_the_block_maximum_exponent():
    x = np.array([[6.0, 0.3, -0.01, 1.0]])
    q = parse("bfp(4,8,4)").quantize(x)  # exponent of 6 is 2; 4-bit mantissas: step 2^(2-2) = 1
    assert q.tolist() == [[6.0, 0.0, 0.0, 1.0]]
    y = np.random.default_rng(3).standard_normal((3, 64))
    coarse, fine = (np.abs(parse(f"bfp({m},8,16)").quantize(y) - y).max() for m in (4, 10))
    assert fine < coarse
    # the block runs along the given axis: one huge value only coarsens its own block
    z = np.ones((2, 32))
    z[0, 0] = 1000.0
    qz = parse("bfp(6,8,16)").quantize(z, axis=-1)
    assert np.array_equal(qz[0, 16:], z[0, 16:]) and np.array_equal(qz[1], z[1])


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, st.integers(1, 40), elements=st.floats(-1e3, 1e3, allow_nan=False)),
       m=st.integers(2, 12), e=st.integers(2, 8), b=st.integers(1, 8))
def test_block_floating_point_equals_a_per_block_python_reference(x, m, e, b):
    """Shared exponent floor(log2 max|x|) clamped to e signed bits, m-bit signed mantissas, ties to even."""
    expected = []
    for start in range(0, len(x), b):
        block = [float(v) for v in x[start:start + b]]
        top = max(abs(v) for v in block)
        exp = math.frexp(top)[1] - 1 if top > 0 else 0
        step = 2.0 ** (min(max(exp, -(2 ** (e - 1))), 2 ** (e - 1) - 1) - (m - 2))
        lim = 2 ** (m - 1) - 1
        expected += [min(max(round(v / step), -lim), lim) * step for v in block]
    assert parse(f"bfp({m},{e},{b})").quantize(x).tolist() == expected


@pytest.mark.parametrize("spelling", ["bfp(8,8,16)", "bfp(5,3,6)", "bfp(24,8,4)"])
def test_block_floating_point_blocks_a_middle_axis_as_each_vector_alone(spelling):
    """Blocks along the channels of an NCHW array (5 channels short of a whole last block) are those of each
    pixel's channel vector quantized alone (the 1-D path the reference above checks); quantize_counted gives the
    same values (float32 where float32 holds the format) and numpy's counts, with ±inf, NaN and zeros in."""
    fmt = parse(spelling)
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 21, 4, 5)) * 10.0 ** rng.uniform(-20, 20, (3, 21, 4, 5))).astype(np.float32)
    x.reshape(-1)[::37], x.reshape(-1)[5::41], x.reshape(-1)[9::43] = np.inf, np.nan, 0.0
    per_vector = np.stack([[[fmt.quantize(x[n, :, h, w]) for w in range(5)] for h in range(4)] for n in range(3)])
    expected = per_vector.transpose(0, 3, 1, 2)
    assert np.array_equal(fmt.quantize(x, axis=1), expected, equal_nan=True)
    q, overflows, zeros = fmt.quantize_counted(x, axis=1)
    assert q.dtype == (np.float32 if fmt.fits_float32 else np.float64)
    assert np.array_equal(q, expected, equal_nan=True)
    assert overflows == np.count_nonzero(np.isfinite(x) & ~np.isfinite(expected))
    assert zeros == expected.size - np.count_nonzero(expected)


def test_block_minifloat_puts_the_block_max_in_the_top_binade():
    x = np.array([[1000.0, 3.0, 0.5, 900.0], [0.001, 0.002, 0.003, 0.0004]])
    q = parse("bm(4,3,4)").quantize(x)
    rel = np.abs(q - x) / np.abs(x)
    assert rel[:, 0].max() < 2 ** -3 and rel[1].max() < 0.5  # small blocks keep their own range


def test_ternary_follows_twn_threshold_and_scale():
    w = np.array([[0.9, -0.8, 0.05, -0.02, 0.5, 0.0]])
    delta = 0.7 * np.abs(w).mean()
    kept = np.abs(w) > delta
    alpha = np.abs(w)[kept].mean()
    assert np.allclose(parse("ternary").quantize(w), np.sign(w) * kept * alpha)


def test_binary_is_sign_times_mean_abs_per_channel():
    w = np.array([[1.0, -3.0], [0.5, 0.5]])
    assert parse("binary").quantize(w).tolist() == [[2.0, -2.0], [0.5, 0.5]]
    assert parse("binary(per=layer)").quantize(w).tolist() == [[1.25, -1.25], [1.25, 1.25]]


def test_pow2_codes_are_the_seven_levels_of_seed002_table2():
    w = np.random.default_rng(4).standard_normal((8, 3, 3, 3))
    for per in ("channel", "vector", "layer"):
        q = parse(f"pow2(3,per={per})").quantize(w)
        rows = q.reshape({"channel": 8, "vector": 24, "layer": 1}[per], -1)
        for row in rows:
            alpha = np.min(np.abs(row[row != 0]))
            assert set(np.round(np.unique(row / alpha), 9)) <= {-4, -2, -1, 0, 1, 2, 4}
    assert np.abs(parse("pow2(3)").quantize(w) - w).mean() < np.abs(parse("ternary").quantize(w) - w).mean()


@pytest.mark.parametrize("bad", ["fixed(1)", "fixed(16,round=up)", "minifloat(4,3,overflow=boom)", "bogus(3)",
                                 "fixed(8,4,speed=2)", "fixed(", "pow2(4)", "ternary(per=row)"])
def test_bad_spellings_raise_one_line_errors(bad):
    with pytest.raises(AccelsimError) as info:
        parse(bad)
    assert "\n" not in str(info.value)


def test_format_vocabularies_are_the_kernels_codes_in_order():
    """formats name roundings and overflows without importing the numba kernels; the names must be the codes'."""
    from accelsim.formats.fixed import ROUNDINGS
    from accelsim.formats.minifloat import OVERFLOW_MODES
    from accelsim.kernels.quantize import OVERFLOW_CODES, ROUNDING_CODES
    assert ROUNDINGS == tuple(sorted(ROUNDING_CODES, key=ROUNDING_CODES.get))
    assert OVERFLOW_MODES == tuple(sorted(OVERFLOW_CODES, key=OVERFLOW_CODES.get))


@pytest.mark.parametrize("text, problem", [
    ("bfp(8,8,0)", "B=0"), ("bfp(0,8,16)", "M=0"), ("bfp(8,12,16)", "E=12"), ("bm(0,0,0)", "E=0"),
    ("bm(4,3,0)", "B=0"), ("Fixed( 8, 4, round=up )", "round=up"), ("fixed(x)", "W must be an integer"),
    ("minifloat(4,3,subnormals=2)", "true/false"), ("fixed(8,round=rne,round=trunc)", "twice"),
    ("fixed(8,,4)", "empty"), ("fixed(8,4,csd=-1)", "csd=-1"),
])
def test_format_errors_name_the_text_as_written_and_the_parameter(text, problem):
    with pytest.raises(AccelsimError) as info:
        parse(text)
    assert str(info.value).startswith(f"format '{text}': ") and problem in str(info.value)


def test_parsing_a_format_does_not_load_numba():
    """`run` without a data set validates the architecture's formats but never quantizes: no numba start-up."""
    import subprocess
    import sys
    code = "import sys; from accelsim.formats import parse; parse('bfp(8,8,16)'); print('numba' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
