"""Few-level formats with a full-precision scale per layer, output channel or vector (weights, mostly).

* ``ternary``: TWN thresholds (seed 002 eq. 4 cites Mellempudi/TWN): Δ = 0.7·mean|W|, α = mean of |W| above Δ,
  values {−α, 0, +α}.
* ``binary``: sign(W)·α with α = mean|W| (seed 002 eq. 2–3, XNOR-Net).
* ``pow2(3)``: the quality-scalable 3-bit codes of seed 002 — {0, ±1, ±2, ±4}·α per vector (Table II),
  α = Σ|W| / (Ø·N) (eq. 9) with Ø = 2^k searched to minimise ||W − αβ||² (eq. 5); each value takes the
  nearest level (the L2 optimum of eq. 5 for a given α).

``per`` picks the vectors: ``layer`` (one scale), ``channel`` (one per output channel, axis 0 — "filter-wise"
in seed 002), or ``vector`` (one per input channel of each filter — seed 002's "channel-wise").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Format, positional

GROUPINGS = ("layer", "channel", "vector")


def _grouped(x: np.ndarray, per: str) -> np.ndarray:
    """Rows = the vectors that share one scale."""
    if per == "layer" or x.ndim < 2:
        return x.reshape(1, -1)
    if per == "channel":
        return x.reshape(x.shape[0], -1)
    return x.reshape(x.shape[0] * x.shape[1], -1)


@dataclass(frozen=True)
class _Scaled(Format):
    per: str = "channel"

    def __post_init__(self):
        self.require(self.per in GROUPINGS, f"per={self.per} must be one of {', '.join(GROUPINGS)}")

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return self.levels(_grouped(x, self.per)).reshape(x.shape)


@dataclass(frozen=True)
class Ternary(_Scaled):
    kind = "ternary"
    bits = 2

    def levels(self, rows):
        a = np.abs(rows)
        delta = 0.7 * a.mean(axis=1, keepdims=True)
        keep = a > delta
        alpha = np.sum(a * keep, axis=1, keepdims=True) / np.maximum(keep.sum(axis=1, keepdims=True), 1)
        return np.sign(rows) * keep * alpha


@dataclass(frozen=True)
class Binary(_Scaled):
    kind = "binary"
    bits = 1

    def levels(self, rows):
        alpha = np.abs(rows).mean(axis=1, keepdims=True)
        return np.where(rows >= 0, 1.0, -1.0) * alpha


@dataclass(frozen=True)
class Pow2(_Scaled):
    kind = "pow2"
    levels_bits: int = positional(3)

    def __post_init__(self):
        super().__post_init__()
        self.require(self.levels_bits == 3, f"only the 3-bit codes of seed 002 Table II are defined, not "
                                            f"{self.levels_bits} bits")

    bits = 3
    CODES = np.array([-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0])

    def levels(self, rows):
        best, best_err = None, None
        for k in range(0, 4):  # Ø = 1, 2, 4, 8 (eq. 8-9)
            alpha = np.abs(rows).mean(axis=1, keepdims=True) / 2.0 ** k
            q = self.nearest(rows, alpha)
            err = np.sum((rows - q) ** 2, axis=1, keepdims=True)
            if best is None:
                best, best_err = q, err
            else:
                better = err < best_err
                best, best_err = np.where(better, q, best), np.minimum(err, best_err)
        return best

    def nearest(self, rows, alpha):
        safe = np.where(alpha > 0, alpha, 1.0)
        idx = np.argmin(np.abs(rows[..., None] / safe[..., None] - self.CODES), axis=-1)
        return self.CODES[idx] * alpha
