"""Fixed point: W-bit two's-complement words with F fraction bits (V = Q · 2^-F, seed 004 eq. 1).

``fixed(W)`` leaves F dynamic: chosen per tensor among the W-1 candidates around eq. 2 to minimise the L2
error (seed 004 §4.1; on at most 65,536 evenly strided values of a larger tensor). Rounding: nearest-even, toward zero, floor (dropped low bits), or stochastic (seeded); overflow: saturate or wrap.
An optional CSD truncation keeps only the ``csd`` most significant non-zero canonic-signed-digits of each
word: the approximate multiplier of seed 002 §IV (fewer partial products).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import threads
from .base import Format, positional

ROUNDINGS = ("rne", "trunc", "floor", "stochastic")  # the kernels' ROUNDING_CODES, in their order
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
        self.require(2 <= self.W <= 53, f"word length W={self.W} must be 2..53 bits")
        self.require(self.F is None or -1022 <= self.F <= 1022, f"fraction length F={self.F} must be -1022..1022")
        self.require(self.round in ROUNDINGS, f"round={self.round} must be one of {', '.join(ROUNDINGS)}")
        self.require(self.overflow in OVERFLOWS, f"overflow={self.overflow} must be one of {', '.join(OVERFLOWS)}")
        self.require(self.csd >= 0, f"csd={self.csd} must be >= 0 (0: no CSD truncation)")
        self.require(self.seed >= 0, f"seed={self.seed} must be >= 0")

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
        from ..kernels.quantize import ROUNDING_CODES, finite_max_abs, fixed_l2_errors

        x = np.ascontiguousarray(x).reshape(-1)
        vmax = finite_max_abs(x)
        if x.size > SEARCH_SAMPLE:  # an evenly strided calibration sample (plus the maximum) is enough
            x = np.append(x[:: x.size // SEARCH_SAMPLE], vmax)
        x = x[np.isfinite(x)].astype(np.float64)
        if vmax == 0:
            return self.W - 1
        eq2 = int(np.ceil(np.log2(self.qmax / vmax)))  # seed 004 eq. (2)
        candidates = np.arange(eq2 - self.W // 2 + 1, eq2 + self.W // 2)  # W-1 candidates around it

        def errors(lo, hi):
            return fixed_l2_errors(x, candidates[lo:hi], ROUNDING_CODES[self.round], self.qmin, self.qmax,
                                   self.overflow == "wrap")

        # The candidates up to `fit` clip nothing, and each one's grid holds the one before it: every value's error
        # (and, all roundings monotone, the computed sum) is no larger than there. So below fit − 1 only a tie with
        # the next one up can win (np.argmin's first minimum): those are walked down one by one, as ties last.
        fit = int(np.count_nonzero(vmax * 2.0 ** candidates <= self.qmax)) - 1
        lo = max(fit - 1, 0)
        e = errors(lo, None)
        best = lo + int(np.argmin(e))
        while best == lo and 0 < lo <= fit and errors(lo - 1, lo)[0] == e.min():
            lo = best = lo - 1
        return int(candidates[best])

    def encode(self, x):
        """(words Q, F, how many values overflowed, how many words are 0) with x ≈ Q · 2^-F. Q holds integers in a
        float array: float32 when x is float32 and the word fits its mantissa (exact either way), else float64."""
        from ..kernels.quantize import ROUNDING_CODES, fixed_words

        x = np.ascontiguousarray(x)
        if x.dtype != np.float32 or self.W > 24:
            x = x.astype(np.float64)
        f = self.fraction_bits(x)
        noise = np.random.default_rng(self.seed).random(x.size) if self.round == "stochastic" else np.empty(0)
        q = np.empty_like(x)
        overflows, zeros = threads.run_parallel(fixed_words, x.reshape(-1), 2.0 ** f, ROUNDING_CODES[self.round],
                                                noise, self.qmin, self.qmax, self.overflow == "wrap", q.reshape(-1))
        if self.csd:  # keeps a word's leading digit: zeros stay the only zeros
            q = csd_truncate(q.astype(np.int64), self.csd).astype(q.dtype)
        return q, f, int(overflows), int(zeros)

    def to_int(self, x):
        """(integer words Q as int64, F) with x ≈ Q · 2^-F."""
        q, f, *_ = self.encode(x)
        return q.astype(np.int64), f

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        q, f, *_ = self.encode(x)
        return q.astype(np.float64) * 2.0 ** -f


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
