"""Formats that share one exponent over a block of B values along the reduction axis.

* ``bfp(M,E,B)`` block floating point (Flexpoint-like, seed 003 §4.3): each block stores an E-bit shared
  exponent — that of its largest magnitude — and B signed M-bit mantissas (sign included), rounded to nearest
  even and saturated.
* ``bm(E,M,B)`` Block Minifloat (seed 003 §4.3.2): each element is a minifloat with E exponent and M mantissa
  bits whose exponent bias is shared by the block and chosen so the block's largest value sits at the top
  of the minifloat's range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Format, blocks, kernel_floats, positional
from .minifloat import Minifloat


@dataclass(frozen=True)
class BFP(Format):
    kind = "bfp"
    M: int = positional(8)
    E: int = positional(8)
    B: int = positional(16)

    def __post_init__(self):
        self.require(2 <= self.M <= 53, f"mantissa bits M={self.M} must be 2..53 (sign included)")
        self.require(1 <= self.E <= 11, f"shared-exponent bits E={self.E} must be 1..11")
        self.require(self.B >= 1, f"block size B={self.B} must be at least 1")

    @property
    def bits(self) -> int:
        return self.M  # + E/B per element for the shared exponent

    @property
    def fits_float32(self) -> bool:
        """Whether float32 holds every value: M-1 magnitude bits, steps 2^(e-M+2) for the E-bit exponents e."""
        lo, hi = -(1 << (self.E - 1)), (1 << (self.E - 1)) - 1
        return self.M <= 25 and lo - self.M + 2 >= -149 and hi <= 127

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self._counted(x, axis, np.float64)[0]

    def _counted(self, x, axis: int, dtype) -> tuple[np.ndarray, int, int]:
        """Counted in the kernel, which blocks ``axis`` where it lies (no copy moves it last)."""
        from .. import threads
        from ..kernels.quantize import bfp_values

        x = kernel_floats(x)
        axis = axis % max(x.ndim, 1)
        shape3 = (int(np.prod(x.shape[:axis])), x.shape[axis] if x.ndim else 1, int(np.prod(x.shape[axis + 1:])))
        out = np.empty(shape3, dtype)
        overflows, zeros = threads.run_parallel(bfp_values, x.reshape(shape3), self.B, self.M, self.E, out)
        return out.reshape(x.shape), int(overflows), int(zeros)


@dataclass(frozen=True)
class BlockMinifloat(Format):
    kind = "bm"
    E: int = positional(4)
    M: int = positional(3)
    B: int = positional(16)

    def __post_init__(self):
        self.require(1 <= self.E <= 11, f"exponent bits E={self.E} must be 1..11")
        self.require(0 <= self.M <= 52, f"mantissa bits M={self.M} must be 0..52")
        self.require(self.B >= 1, f"block size B={self.B} must be at least 1")

    @property
    def bits(self) -> int:
        return 1 + self.E + self.M

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        from ..kernels.quantize import block_exponents

        elem = Minifloat(self.E, self.M, bias=0, overflow="sat")
        b, restore = blocks(np.asarray(x, np.float64), axis, self.B)
        top = (1 << self.E) - 1  # largest unbiased exponent with bias 0
        # shared bias: the block max lands in the top binade
        scale = np.exp2(block_exponents(b.reshape(-1, self.B), 8) - top).reshape(b.shape[:-1] + (1,))
        return restore(elem.quantize(b / scale) * scale)
