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

from .. import threads
from ..arch.array import ArrayConfig
from ..errors import AccelsimError
from ..formats import Fixed, Format, parse
from ..functional.quantized import LayerStats
from ..functional.reference import conv_weights, im2col
from ..ir import Layer
from ..kernels.adc import convert_add

PLANE_BLOCK = 1 << 21  # input-plane values laid out at once (8 MB in float32)
SUM_BLOCK = 1 << 23  # column sums computed at once (32 MB in float32)


class _Planes:
    """The input planes of integer inputs xi (n × C): bit planes (two's complement, MSB negative, weights ±2^t) or
    one level plane (weight 1); laid out on the arrays when used (all at once would be ``bits`` copies of xi)."""

    def __init__(self, xi: np.ndarray, bits: int, mode: str):
        self.levels = mode == "levels"
        # two's complement words, in the smallest unsigned dtype that holds them (planes are made from them)
        self.u = xi if self.levels else np.where(xi < 0, xi + (1 << bits), xi).astype(
            np.min_scalar_type((1 << bits) - 1))
        self.weights = [1] if self.levels else [(-1 if t == bits - 1 else 1) << t for t in range(bits)]

    def plane(self, t: int, chunks: int, rows: int) -> np.ndarray:
        """(chunks, n, rows): plane t in float64, zero-padded to chunks·rows word lines."""
        values = self.u if self.levels else (self.u >> t) & 1
        out = np.zeros((len(values), chunks * rows))
        out[:, :values.shape[1]] = values
        return out.reshape(len(values), chunks, rows).transpose(1, 0, 2)

    def columns(self, n0: int, n1: int, chunks: int, rows: int, dtype) -> np.ndarray:
        """(chunks, rows, T·(n1 − n0)): every plane of inputs n0:n1 as columns, zero-padded likewise."""
        u = self.u[n0:n1].T
        t = np.arange(len(self.weights))
        values = u[:, None] if self.levels else (u[:, None] >> t[None, :, None]) & 1
        out = np.zeros((chunks * rows, len(t), n1 - n0), dtype)
        out[:u.shape[0]] = values
        return out.reshape(chunks, rows, -1)


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


def _compact(a: np.ndarray) -> np.ndarray:
    """Integers in the smallest dtype that holds them (cells are a few bits)."""
    return a.astype(np.promote_types(np.min_scalar_type(int(a.min(initial=0))), np.min_scalar_type(int(a.max(initial=0)))))


class Arrays:
    """A weight matrix (C inputs × K outputs, integers) written into arrays of ``cfg.rows`` word lines: its cells
    per slice, and — when programming is ideal (no stuck cells, no variation), so the conductances are the cells —
    what the exact path needs, all computed once."""

    def __init__(self, wi: np.ndarray, cfg: ArrayConfig, w_bits: int):
        self.cfg, (self.c, self.k) = cfg, wi.shape
        self.chunks = -(-self.c // cfg.rows)
        self.pad = self.chunks * cfg.rows - self.c
        self.slices = [(sw, _compact(cells)) for sw, cells in _slices(np.pad(wi, ((0, self.pad), (0, 0))), cfg,
                                                                        w_bits)]
        self.ideal = not (cfg.stuck or cfg.variation)
        if self.ideal:
            self.ranges = self._column_ranges(self._program(None))
            self.weights = sum(sw * cells.astype(np.int64) for sw, cells in self.slices)[:self.c].astype(np.float64)

    def _column_ranges(self, programmed):
        """Per slice (Σ positive, Σ negative conductance) of every array column: a plane with values in
        [a, b] puts column sums in [a·Σ⁺ − b·Σ⁻, b·Σ⁺ − a·Σ⁻] on it."""
        return [(np.maximum(g, 0).reshape(self.chunks, self.cfg.rows, -1).sum(axis=1),
                 np.maximum(-g, 0).reshape(self.chunks, self.cfg.rows, -1).sum(axis=1)) for _, g in programmed]

    def _program(self, rng):
        """[(weight, conductances)] per slice: stuck cells at 0 or full scale, then programming variation."""
        cfg = self.cfg
        for sw, cells in self.slices:
            g = cells.astype(np.float64)
            if cfg.stuck:
                top = max(float(np.abs(g).max(initial=0)), 1.0)
                u = rng.random(g.shape)
                g = np.where(u < cfg.stuck / 2, 0.0, np.where(u < cfg.stuck, top, g))
            if cfg.variation:
                g = g * (1 + cfg.variation * rng.standard_normal(g.shape))
            yield sw, g

    def matmul(self, xi: np.ndarray, in_bits: int, rng: np.random.Generator, stats: dict | None = None):
        """Σ_c xi[n, c] · W[c, k] as the arrays compute it (float64 holding integers when ideal).

        Every input plane's column sums on every slice's arrays go through the ADC. When the ADC renders every
        sum the data can reach exactly (unit steps from an integer origin, no sum outside its range), the
        conductances are integers and there is no read noise, that is the exact integer product: one GEMM of the
        inputs with the programmed weights. Otherwise, with integer conductances, the column sums of every plane
        on every slice are one GEMM per block of inputs, in float32 when exact there, and the ADC and
        shift-and-add take them in one pass; with programming variation (float64 conductances) plane by plane,
        with the GEMMs one conversion at a time would make. Random draws come in the same order either way:
        programming a slice, then its planes' read noise."""
        cfg, n = self.cfg, xi.shape[0]
        planes = _Planes(xi, in_bits, cfg.inputs)
        max_in = int(np.abs(xi).max(initial=0)) if cfg.inputs == "levels" else 1
        # the ADC spans the worst-case column sum of this encoding, times adc_full_scale
        hi = cfg.rows * max_in * ((1 << cfg.cell_bits) - 1 if cfg.weights == "differential" else 1)
        lo = -hi if (cfg.weights == "signed" or cfg.inputs == "levels") else 0
        lo, hi = lo * cfg.adc_full_scale, hi * cfg.adc_full_scale
        step = max((hi - lo) / (cfg.levels - 1), 1.0) if hi > lo else 1.0
        adc = (lo, step, max_in)
        out, clipped = np.zeros((n, self.k)), 0
        if cfg.variation:
            for sw, g in self._program(rng):
                clipped += self._convert_each(out, planes, sw, g, adc, rng)
        elif cfg.read_noise:
            for sw, g in self._program(rng):
                noise = rng.standard_normal((len(planes.weights), self.chunks, n, self.k))  # plane after plane
                clipped += self._convert_blocks(out, planes, [(sw, g)], adc, noise)
        else:
            programmed = list(self._program(rng))
            a, b = (int(xi.min(initial=0)), int(xi.max(initial=0))) if cfg.inputs == "levels" else (0, 1)
            ranges = self.ranges if self.ideal else self._column_ranges(programmed)
            if step == 1.0 and lo == round(lo) and all(
                    lo <= (a * pos - b * neg).min() and (b * pos - a * neg).max() <= lo + cfg.levels - 1
                    for pos, neg in ranges):
                # Σ_t weight_t · plane_t = xi and Σ_s weight_s · cells_s = the programmed weights
                weights = self.weights if self.ideal else sum(sw * g for sw, g in programmed)[:self.c]
                out = xi.astype(np.float64) @ weights
            else:
                clipped += self._convert_blocks(out, planes, programmed, adc)
        if stats is not None:
            stats["adc_conversions"] = stats.get("adc_conversions", 0) + out.size * self.chunks * len(
                planes.weights) * len(self.slices)
            stats["adc_clipped"] = stats.get("adc_clipped", 0) + clipped
        return out

    def _convert_each(self, out, planes, sw, g, adc, rng) -> int:
        """out += Σ_t weight_t · sw · ADC(column sums of plane t on arrays holding float64 conductances g), plane
        by plane over all inputs (read noise drawn per plane); returns clipped sums."""
        lo, step, _ = adc
        gc = g.reshape(self.chunks, self.cfg.rows, -1)
        clipped = 0
        for t, sx in enumerate(planes.weights):
            sums = np.matmul(planes.plane(t, self.chunks, self.cfg.rows), gc)  # (chunks, n, K)
            noise = rng.standard_normal(sums.shape) if self.cfg.read_noise else np.empty(0)
            clipped += convert_add(sums.reshape(self.chunks, 1, 1, 1, -1), noise, self.cfg.read_noise, lo, step,
                                   self.cfg.levels, [[sx * sw]], out.reshape(1, -1))
        return clipped

    def _convert_blocks(self, out, planes, programmed, adc, noise=None) -> int:
        """The same for integer conductances: every plane on every slice's arrays as one GEMM per block of inputs
        (float32 when its sums are exact there; a single array reads only its used word lines), ``noise``
        (planes, chunks, n, K) drawn for a single slice."""
        lo, step, max_in = adc
        rows = self.cfg.rows - (self.pad if self.chunks == 1 else 0)
        top = max(float(np.abs(g).max(initial=0)) for _, g in programmed)
        dtype = np.float32 if rows * max_in * top < 2 ** 24 else np.float64
        cells = np.concatenate([g[:self.chunks * rows].reshape(self.chunks, rows, -1) for _, g in programmed],
                               axis=2).transpose(0, 2, 1).astype(dtype)  # (chunks, S·K, rows)
        t, s, k = len(planes.weights), len(programmed), self.k
        weights = [[sx * sw for sx in planes.weights] for sw, _ in programmed]
        block = max(1, min(PLANE_BLOCK // (t * self.chunks * rows), SUM_BLOCK // (t * self.chunks * s * k)))
        clipped = 0
        for n0 in range(0, out.shape[0], block):
            n1 = min(out.shape[0], n0 + block)
            sums = np.matmul(cells, planes.columns(n0, n1, self.chunks, rows, dtype))  # (chunks, S·K, T·n)
            block_noise = np.empty(0) if noise is None else noise[:, :, n0:n1].transpose(1, 3, 0, 2).copy()
            transposed = out[n0:n1].T.copy()
            clipped += convert_add(sums.reshape(self.chunks, s, k, t, n1 - n0), block_noise, self.cfg.read_noise,
                                   lo, step, self.cfg.levels, weights, transposed)
            out[n0:n1] = transposed.T
        return clipped


def analog_matmul(xi: np.ndarray, wi: np.ndarray, cfg: ArrayConfig, in_bits: int, w_bits: int,
                  rng: np.random.Generator, stats: dict | None = None) -> np.ndarray:
    """Σ_c xi[n, c] · wi[c, k] as arrays holding ``wi`` compute it (:meth:`Arrays.matmul`)."""
    return Arrays(wi, cfg, w_bits).matmul(xi, in_bits, rng, stats)


@dataclass
class AnalogStats(LayerStats):
    adc_conversions: int = 0
    adc_clipped: int = 0

    def to_dict(self) -> dict:
        return {**super().to_dict(), "adc_conversions": self.adc_conversions, "adc_clipped": self.adc_clipped}


class AnalogExecutor:
    """``mac_executor`` running conv/dense layers on in-memory arrays (weights and inputs in fixed point)."""

    def __init__(self, cfg: ArrayConfig, weights: Format | str = "fixed(8)", activations: Format | str = "fixed(8)"):
        threads.configure()
        self.cfg = cfg
        self.weights, self.activations = parse(weights), parse(activations)
        if cfg.inputs == "bit_serial" and not isinstance(self.activations, Fixed):
            raise AccelsimError(f"bit-serial analog arrays take fixed-point activations, got {self.activations}")
        self.stats: dict[str, AnalogStats] = {}
        self._programmed: dict[str, tuple] = {}
        self._arrays: dict[tuple, list[Arrays]] = {}
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
        key = (layer.name, w_bits)
        if key not in self._arrays:  # the weights are written into the arrays once
            groups = [wi.T] if layer.op == "dense" else list(conv_weights(wi, b.groups))
            self._arrays[key] = [Arrays(w, self.cfg, w_bits) for w in groups]
        arrays = self._arrays[key]
        if layer.op == "dense":
            acc = arrays[0].matmul(xi.reshape(-1, xi.shape[-1]), in_bits, rng, counts).reshape(*x.shape[:-1], -1)
        else:
            cols = im2col(xi, b)
            n = x.shape[0]
            acc = np.empty((n, b.groups, b.P * b.Q, b.K // b.groups))
            for g in range(b.groups):
                acc[:, g] = arrays[g].matmul(cols[:, g].reshape(n * b.P * b.Q, -1), in_bits, rng,
                                             counts).reshape(n, b.P * b.Q, -1)
            acc = acc.transpose(0, 1, 3, 2).reshape(n, b.K, b.P, b.Q)
        st.adc_conversions += counts["adc_conversions"]
        st.adc_clipped += counts["adc_clipped"]
        y = acc * xunit * np.reshape(wunit, (1, -1) + (1,) * (acc.ndim - 2))
        if "B" in layer.weights:
            y = y + layer.bias
        return y.astype(np.float32)


def executor_for(arch) -> AnalogExecutor | None:
    """The analog executor an architecture file asks for (its ``analog:`` section), or None for digital ones."""
    if not arch.raw.get("analog"):
        return None
    cfg = ArrayConfig.of(arch)
    fmts = arch.formats or {}
    return AnalogExecutor(cfg, fmts.get("weights", "fixed(8)"), fmts.get("activations", "fixed(8)"))


__all__ = ["ArrayConfig", "Arrays", "AnalogExecutor", "analog_matmul", "executor_for"]
