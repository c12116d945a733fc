"""Minifloats: 1 sign bit, E exponent bits, M mantissa bits, an exponent bias, optional subnormals.

Rounding is to nearest, ties to even, on the format's grid; a rounded magnitude above the largest finite
value overflows as the format defines: ``ieee`` (to ±inf, NaN stays NaN), ``nan`` (the "fn" formats with
no infinity, e.g. fp8 e4m3fn: overflow and inf become NaN, and the all-ones mantissa at the top exponent
is NaN so the largest finite is 448) or ``sat`` (clamp to ±max, e.g. fp4 e2m1). Casts are bit-exact with
ml_dtypes for the formats both know (checked in the tests).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AccelsimError
from .base import Format, kernel_floats, positional

OVERFLOW_MODES = ("ieee", "nan", "sat")  # the kernels' OVERFLOW_CODES, in their order


@dataclass(frozen=True)
class Minifloat(Format):
    kind = "minifloat"
    E: int = positional(5)
    M: int = positional(10)
    bias: int | None = None  # default 2^(E-1) - 1
    subnormals: bool = True
    overflow: str = "ieee"

    def __post_init__(self):
        self.require(1 <= self.E <= 11, f"exponent bits E={self.E} must be 1..11")
        self.require(0 <= self.M <= 52, f"mantissa bits M={self.M} must be 0..52")
        self.require(self.overflow in OVERFLOW_MODES,
                     f"overflow={self.overflow} must be one of {', '.join(OVERFLOW_MODES)}")

    @property
    def bits(self) -> int:
        return 1 + self.E + self.M

    @property
    def exponent_bias(self) -> int:
        return (1 << (self.E - 1)) - 1 if self.bias is None else self.bias

    @property
    def emin(self) -> int:
        return 1 - self.exponent_bias

    @property
    def max_finite(self) -> float:
        top = (1 << self.E) - 1 - self.exponent_bias  # largest exponent field value, unbiased
        if self.overflow == "ieee":  # top exponent field is reserved for inf/nan
            return (2 - 2.0 ** -self.M) * 2.0 ** (top - 1)
        if self.overflow == "nan":  # only the all-ones mantissa at the top exponent is NaN
            return (2 - 2.0 ** (1 - self.M)) * 2.0 ** top
        return (2 - 2.0 ** -self.M) * 2.0 ** top

    @property
    def fits_float32(self) -> bool:
        """Whether float32 holds every value of the format (its mantissa, exponent range and subnormals)."""
        return self.M <= 23 and self.emin - self.M >= -149 and self.max_finite <= float(np.finfo(np.float32).max)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self._counted(x, axis, np.float64)[0]

    def _counted(self, x, axis: int, dtype) -> tuple[np.ndarray, int, int]:
        """Counted as the values are rounded: a saturating format counts every input beyond its largest finite
        value (±inf included)."""
        from .. import threads
        from ..kernels.quantize import OVERFLOW_CODES, minifloat_values

        x = np.asarray(x)
        flat = kernel_floats(x).reshape(-1)
        out = np.empty(flat.size, dtype)
        overflows, zeros = threads.run_parallel(minifloat_values, flat, self.M, self.emin, self.max_finite,
                                                self.subnormals, OVERFLOW_CODES[self.overflow], out)
        return out.reshape(x.shape), int(overflows), int(zeros)

    def to_bits(self, x) -> np.ndarray:
        """The (1+E+M)-bit codes (sign | exponent field | mantissa, as uint64) of ``x`` rounded to the format.
        Infinity is the all-ones exponent with a zero mantissa; NaN is the quiet NaN (``ieee``) or the all-ones
        code (``nan``, the fn formats); ``sat`` formats have neither, so NaN has no code there."""
        q = self.quantize(x)
        a = np.abs(q)
        if self.overflow == "sat" and np.isnan(a).any():
            raise AccelsimError(f"{self}: NaN has no code in a saturating format")
        normal = a >= 2.0 ** self.emin
        e = np.where(normal & np.isfinite(a), np.frexp(a)[1] - 1, self.emin)  # exact, as the quantize kernel
        with np.errstate(invalid="ignore", over="ignore"):  # the branch np.where discards
            field = np.where(normal, e + self.exponent_bias, 0)
            mant = np.where(normal, a / np.exp2(e - self.M) - 2.0 ** self.M, a / 2.0 ** (self.emin - self.M))
        top, ones = (1 << self.E) - 1, (1 << self.M) - 1
        nan_mant = ones if self.overflow == "nan" else 1 << max(self.M - 1, 0)
        field = np.where(np.isinf(a) | np.isnan(a), top, field)
        mant = np.where(np.isinf(a), 0, np.where(np.isnan(a), nan_mant, mant))
        sign = np.signbit(q).astype(np.uint64)
        return (sign << np.uint64(self.E + self.M)) | (field.astype(np.uint64) << np.uint64(self.M)) \
            | mant.astype(np.uint64)

    def from_bits(self, codes) -> np.ndarray:
        """float64 values of (1+E+M)-bit codes; the inverse of :meth:`to_bits`."""
        c = np.asarray(codes).astype(np.uint64)
        mant = (c & np.uint64((1 << self.M) - 1)).astype(np.float64)
        field = ((c >> np.uint64(self.M)) & np.uint64((1 << self.E) - 1)).astype(np.int64)
        sign = np.where((c >> np.uint64(self.E + self.M)) & np.uint64(1), -1.0, 1.0)
        e = np.maximum(field - self.exponent_bias, self.emin)
        value = np.where(field > 0, 2.0 ** self.M + mant, mant) * np.exp2(e - self.M)
        top = field == (1 << self.E) - 1
        if self.overflow == "ieee":
            value = np.where(top, np.where(mant == 0, np.inf, np.nan), value)
        elif self.overflow == "nan":
            value = np.where(top & (mant == (1 << self.M) - 1), np.nan, value)
        return sign * value


#: named presets: (E, M, options). fp8_e4m3 is the "fn" variant (no inf, max 448), as in ml_dtypes/OCP.
PRESETS = {
    "fp32": (8, 23, {}),
    "tf32": (8, 10, {}),
    "fp16": (5, 10, {}),
    "bf16": (8, 7, {}),
    "dlfloat16": (6, 9, {"subnormals": False}),  # IBM DLFloat 1-6-9: bias 31, no subnormals
    "fp8_e4m3": (4, 3, {"overflow": "nan"}),
    "fp8_e5m2": (5, 2, {}),
    "fp4_e2m1": (2, 1, {"overflow": "sat"}),
}


@dataclass(frozen=True)
class Preset(Minifloat):
    """A named minifloat: spelled by its name alone (``fp16``), behaving as its Minifloat."""

    preset: str = "fp16"

    def __str__(self) -> str:
        return self.preset


def preset(name: str) -> Minifloat:
    e, m, opts = PRESETS[name]
    return Preset(E=e, M=m, preset=name, **opts)
