"""Functional model of in-memory MAC arrays (memristor crossbars, SRAM compute-in-memory macros).

A layer's weight matrix (dense, or im2col'd conv: K outputs × C·R·S inputs) is quantized to integers and
written into arrays of ``rows`` word lines. Each weight is split into ``slices`` cells of ``cell_bits``
bits (bit slicing across columns); signed weights use a differential pair of arrays (ISAAC-style,
``weights: differential``) or cells that hold ±1 themselves (XNOR-SRAM, ``weights: signed``). Inputs are
quantized to integers and applied as bit planes through 1-bit DACs, most significant plane negative
(two's complement, ``inputs: bit_serial``), or as ±1/0 levels in one step (``inputs: levels``, XNOR-SRAM).
For every input plane, array (row chunk), slice and sign, the column sum Σ_rows plane·cell is what an ADC
converts: clipped to the ADC's full scale and rounded to its ``adc_levels`` levels. Shift-and-add then
combines planes (×2^t), slices (×2^(b·s)) and the differential pair (+/−) in exact integers.

Non-idealities, all seeded and reproducible: programming variation of each cell's conductance
(multiplicative Gaussian, ``variation`` = σ relative to a cell level, drawn once per layer), read noise on
each column sum (additive Gaussian, ``read_noise`` = σ in cell-level units, drawn per conversion), and
stuck cells (``stuck`` = fraction of cells stuck at 0 or at full conductance).

With ideal devices and an ADC that resolves the full column range, the result equals the digital
fixed-point result exactly (tested).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AccelsimError
from ..formats import Fixed, Format, parse
from ..functional.quantized import LayerStats
from ..functional.reference import conv_weights, im2col
from ..ir import Layer


@dataclass(frozen=True)
class ArrayConfig:
    """One in-memory MAC array and its converters."""

    rows: int = 128
    cell_bits: int = 2
    weights: str = "differential"  # or "signed": a cell holds -1/+1 (binary, XNOR-SRAM)
    inputs: str = "bit_serial"  # or "levels": ±1/0 driven in one step
    adc_bits: int = 8
    adc_levels: int | None = None  # overrides 2**adc_bits (e.g. 11 for XNOR-SRAM's flash ADC)
    adc_full_scale: float = 1.0  # fraction of the worst-case column sum the ADC spans (smaller: finer, clips)
    variation: float = 0.0
    read_noise: float = 0.0
    stuck: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "ArrayConfig":
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise AccelsimError(f"{where}{bad[0]}: unknown analog option (known: {', '.join(sorted(known))})")
        cfg = cls(**d)
        if cfg.weights not in ("differential", "signed") or cfg.inputs not in ("bit_serial", "levels"):
            raise AccelsimError(f"{where}weights/inputs: weights must be differential|signed, inputs bit_serial|levels")
        if cfg.rows < 1 or cfg.cell_bits < 1 or cfg.adc_bits < 1 or not 0 < cfg.adc_full_scale <= 1:
            raise AccelsimError(f"{where}rows, cell_bits, adc_bits must be >= 1 and adc_full_scale in (0, 1]")
        return cfg

    @property
    def levels(self) -> int:
        return self.adc_levels or (1 << self.adc_bits)


def _planes(xi: np.ndarray, bits: int, mode: str):
    """[(weight, plane)]: integer inputs as bit planes (two's complement, MSB negative) or one level plane."""
    if mode == "levels":
        return [(1, xi)]
    u = np.where(xi < 0, xi + (1 << bits), xi)
    return [((-1 if t == bits - 1 else 1) << t, (u >> t) & 1) for t in range(bits)]


def _slices(wi: np.ndarray, cfg: ArrayConfig, bits: int):
    """[(weight, cells)]: integer weights as cell arrays — differential pairs of bit slices, or signed cells."""
    if cfg.weights == "signed":
        return [(1, wi)]
    n = max(1, -(-(bits - 1) // cfg.cell_bits))
    mask = (1 << cfg.cell_bits) - 1
    out = []
    for sign, mag in ((1, np.maximum(wi, 0)), (-1, np.maximum(-wi, 0))):
        for s in range(n):
            out.append((sign << (cfg.cell_bits * s), (mag >> (cfg.cell_bits * s)) & mask))
    return out


def analog_matmul(xi: np.ndarray, wi: np.ndarray, cfg: ArrayConfig, in_bits: int, w_bits: int,
                  rng: np.random.Generator, stats: dict | None = None) -> np.ndarray:
    """Σ_c xi[n, c] · wi[c, k] as the arrays compute it (float64 holding integers when ideal)."""
    n, c = xi.shape
    chunks = -(-c // cfg.rows)
    pad = chunks * cfg.rows - c
    planes = _planes(np.pad(xi, ((0, 0), (0, pad))), in_bits, cfg.inputs)
    slices = _slices(np.pad(wi, ((0, pad), (0, 0))), cfg, w_bits)
    out = np.zeros((n, wi.shape[1]))
    max_in = max(int(np.abs(p).max(initial=0)) for _, p in planes) if cfg.inputs == "levels" else 1
    conversions = clipped = 0
    for sw, cells in slices:
        g = cells.astype(np.float64)
        top = max(int(np.abs(cells).max(initial=0)), 1)
        if cfg.stuck:
            u = rng.random(g.shape)
            g = np.where(u < cfg.stuck / 2, 0.0, np.where(u < cfg.stuck, float(top), g))
        if cfg.variation:
            g = g * (1 + cfg.variation * rng.standard_normal(g.shape))
        gc = g.reshape(chunks, cfg.rows, -1)
        # the ADC spans the worst-case column sum of this encoding, times adc_full_scale
        hi = cfg.rows * max_in * ((1 << cfg.cell_bits) - 1 if cfg.weights == "differential" else 1)
        lo = -hi if (cfg.weights == "signed" or cfg.inputs == "levels") else 0
        lo, hi = lo * cfg.adc_full_scale, hi * cfg.adc_full_scale
        step = max((hi - lo) / (cfg.levels - 1), 1.0) if hi > lo else 1.0
        for sx, plane in planes:
            p = plane.astype(np.float64).reshape(n, chunks, cfg.rows).transpose(1, 0, 2)
            ps = np.matmul(p, gc)  # (chunks, n, K): one column sum per array per column
            if cfg.read_noise:
                ps = ps + cfg.read_noise * rng.standard_normal(ps.shape)
            code = np.clip(np.rint((ps - lo) / step), 0, cfg.levels - 1)
            conversions += ps.size
            clipped += int(np.count_nonzero((ps < lo - step / 2) | (ps > lo + (cfg.levels - 1) * step + step / 2)))
            out += sx * sw * (lo + code * step).sum(axis=0)
    if stats is not None:
        stats["adc_conversions"] = stats.get("adc_conversions", 0) + conversions
        stats["adc_clipped"] = stats.get("adc_clipped", 0) + clipped
    return out


@dataclass
class AnalogStats(LayerStats):
    adc_conversions: int = 0
    adc_clipped: int = 0

    def to_dict(self) -> dict:
        return {**super().to_dict(), "adc_conversions": self.adc_conversions, "adc_clipped": self.adc_clipped}


class AnalogExecutor:
    """``mac_executor`` running conv/dense layers on in-memory arrays (weights and inputs in fixed point)."""

    def __init__(self, cfg: ArrayConfig, weights: Format | str = "fixed(8)", activations: Format | str = "fixed(8)"):
        self.cfg = cfg
        self.weights, self.activations = parse(weights), parse(activations)
        if cfg.inputs == "bit_serial" and not isinstance(self.activations, Fixed):
            raise AccelsimError(f"bit-serial analog arrays take fixed-point activations, got {self.activations}")
        self.stats: dict[str, AnalogStats] = {}
        self._programmed: dict[str, tuple] = {}
        self._calls = 0

    @staticmethod
    def _integers(fmt, v, per_channel: bool):
        """(integers, real value of one unit): fixed point exactly; few-level formats (binary, ternary, pow2) as
        integer multiples of their smallest non-zero level, per output channel for weights."""
        if isinstance(fmt, Fixed):
            q, f = fmt.to_int(v)
            return q, 2.0 ** -f
        q = fmt.quantize(v)
        a = np.abs(q).reshape(len(q), -1) if per_channel else np.abs(q).reshape(1, -1)
        unit = np.where(a > 0, a, np.inf).min(axis=1)
        unit = np.where(np.isfinite(unit), unit, 1.0)
        shaped = unit.reshape((-1,) + (1,) * (q.ndim - 1)) if per_channel else unit[0]
        return np.rint(q / shaped).astype(np.int64), (unit if per_channel else float(unit[0]))

    def __call__(self, layer: Layer, inputs):
        if layer.op not in ("conv", "dense"):
            return None
        x = inputs[0].astype(np.float64)
        st = self.stats.setdefault(layer.name, AnalogStats())
        xi, xunit = self._integers(self.activations, x, per_channel=False)
        if layer.name not in self._programmed:
            self._programmed[layer.name] = self._integers(self.weights, layer.weights["W"].astype(np.float64), True)
        wi, wunit = self._programmed[layer.name]
        st.inputs += xi.size
        st.zero_inputs += int(np.count_nonzero(xi == 0))
        in_bits = self.activations.W if isinstance(self.activations, Fixed) else int(np.abs(xi).max(initial=1)).bit_length() + 1
        w_bits = self.weights.W if isinstance(self.weights, Fixed) else int(np.abs(wi).max(initial=1)).bit_length() + 1
        # a fresh, reproducible stream per call: same seed and same inputs -> same noise
        rng = np.random.default_rng([self.cfg.seed, self._calls])
        self._calls += 1
        counts = {}
        b = layer.bounds
        if layer.op == "dense":
            acc = analog_matmul(xi.reshape(-1, xi.shape[-1]), wi.T, self.cfg, in_bits, w_bits, rng, counts)
            acc = acc.reshape(*x.shape[:-1], -1)
        else:
            cols, wcols = im2col(xi, b), conv_weights(wi, b.groups)
            n = x.shape[0]
            acc = np.empty((n, b.groups, b.P * b.Q, b.K // b.groups))
            for g in range(b.groups):
                acc[:, g] = analog_matmul(cols[:, g].reshape(n * b.P * b.Q, -1), wcols[g], self.cfg, in_bits,
                                          w_bits, rng, counts).reshape(n, b.P * b.Q, -1)
            acc = acc.transpose(0, 1, 3, 2).reshape(n, b.K, b.P, b.Q)
        st.adc_conversions += counts["adc_conversions"]
        st.adc_clipped += counts["adc_clipped"]
        y = acc * xunit * np.reshape(wunit, (1, -1) + (1,) * (acc.ndim - 2))
        if "B" in layer.weights:
            y = y + layer.bias
        return y.astype(np.float32)


def executor_for(arch) -> AnalogExecutor | None:
    """The analog executor an architecture file asks for (its ``analog:`` section), or None for digital ones."""
    section = arch.raw.get("analog")
    if not section:
        return None
    cfg = ArrayConfig.from_dict(dict(section), f"{arch.path}: analog.")
    fmts = arch.formats or {}
    return AnalogExecutor(cfg, fmts.get("weights", "fixed(8)"), fmts.get("activations", "fixed(8)"))


__all__ = ["ArrayConfig", "AnalogExecutor", "analog_matmul", "executor_for"]
