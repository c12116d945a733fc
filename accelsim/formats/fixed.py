"""Fixed point: W-bit two's-complement words with F fraction bits (V = Q · 2^-F, seed 004 eq. 1).

``fixed(W)`` leaves F dynamic: chosen per tensor among the W-1 candidates around eq. 2 to minimise the L2
error (seed 004 §4.1; on at most 65,536 evenly strided values of a larger tensor). Rounding: nearest-even, toward zero, floor (dropped low bits), or stochastic (seeded); overflow: saturate or wrap.
An optional CSD truncation keeps only the ``csd`` most significant non-zero canonic-signed-digits of each
word: the approximate multiplier of seed 002 §IV (fewer partial products).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AccelsimError
from .base import Format, positional

ROUNDINGS = ("rne", "trunc", "floor", "stochastic")
OVERFLOWS = ("sat", "wrap")
SEARCH_SAMPLE = 1 << 16  # values the dynamic fraction-length search looks at


@dataclass(frozen=True)
class Fixed(Format):
    kind = "fixed"
    W: int = positional(16)
    F: int | None = positional(None)
    round: str = "rne"
    overflow: str = "sat"
    seed: int = 0
    csd: int = 0

    def __post_init__(self):
        if not 2 <= self.W <= 53:
            raise AccelsimError(f"fixed({self.W}): word length must be 2..53 bits")
        if self.round not in ROUNDINGS or self.overflow not in OVERFLOWS:
            raise AccelsimError(f"{self}: round must be one of {ROUNDINGS}, overflow one of {OVERFLOWS}")

    @property
    def bits(self) -> int:
        return self.W

    @property
    def qmin(self) -> int:
        return -(1 << (self.W - 1))

    @property
    def qmax(self) -> int:
        return (1 << (self.W - 1)) - 1

    def fraction_bits(self, x) -> int:
        """F, or for dynamic fixed point the F minimising ||x - quantize(x)||² (seed 004 §4.1)."""
        if self.F is not None:
            return self.F
        x = np.asarray(x, np.float64).reshape(-1)
        x = x[np.isfinite(x)]
        vmax = float(np.max(np.abs(x), initial=0.0))
        if x.size > SEARCH_SAMPLE:  # an evenly strided calibration sample (plus the maximum) is enough
            x = np.append(x[:: x.size // SEARCH_SAMPLE], vmax)
        if vmax == 0:
            return self.W - 1
        eq2 = int(np.ceil(np.log2(self.qmax / vmax)))  # seed 004 eq. (2)
        candidates = range(eq2 - self.W // 2 + 1, eq2 + self.W // 2)  # W-1 candidates around it
        errors = [np.sum((self._integers(x, f) * 2.0 ** -f - x) ** 2) for f in candidates]
        return candidates[int(np.argmin(errors))]

    def to_int(self, x):
        """(integer words Q as int64, F) with x ≈ Q · 2^-F."""
        f = self.fraction_bits(x)
        return self._integers(np.asarray(x, np.float64), f), f

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        q, f = self.to_int(x)
        return q * 2.0 ** -f

    def _integers(self, x, f):
        v = x * 2.0 ** f
        if self.round == "rne":
            q = np.rint(v)
        elif self.round == "trunc":
            q = np.trunc(v)
        elif self.round == "floor":  # dropping low bits of a two's-complement word
            q = np.floor(v)
        else:
            q = np.floor(v + np.random.default_rng(self.seed).random(np.shape(v)))
        if self.overflow == "sat":
            q = np.clip(q, self.qmin, self.qmax)
        else:
            span = 1 << self.W
            q = (q - self.qmin) % span + self.qmin
        q = q.astype(np.int64)
        return csd_truncate(q, self.csd) if self.csd else q


def csd_digits(n: int) -> list[int]:
    """Canonic signed digits of an integer, least significant first, each in {-1, 0, 1}, no two adjacent non-zero."""
    digits = []
    while n:
        if n & 1:
            d = 2 - (n & 3)  # +1 when n ≡ 1 (mod 4), -1 when n ≡ 3 (mod 4)
            n -= d
        else:
            d = 0
        digits.append(d)
        n >>= 1
    return digits


def csd_truncate(q: np.ndarray, k: int) -> np.ndarray:
    """Keep the k most significant non-zero CSD digits of every integer (seed 002 §IV approximate multiplier)."""
    flat = np.asarray(q, np.int64).reshape(-1)
    out = np.empty_like(flat)
    cache: dict[int, int] = {}
    for i, n in enumerate(flat.tolist()):
        if n not in cache:
            digits = csd_digits(n)
            kept, value = 0, 0
            for pos in range(len(digits) - 1, -1, -1):
                if digits[pos] and kept < k:
                    value += digits[pos] << pos
                    kept += 1
            cache[n] = value
        out[i] = cache[n]
    return out.reshape(np.shape(q))
