"""Execute a network in number formats: a format per tensor role (weights, activations, accumulator),
for the whole net or per layer, through the float reference's ``mac_executor`` hook.

MAC layers (conv, dense) quantize their input activations and weights. Fixed-point products are summed exactly
— in float32 (convolutions in onnxruntime) when the formats bound every partial sum below 2^24, else in float64
(BLAS, exact below 2^53) — unless an accumulator is given and the data can overflow it: then a numba kernel
accumulates the integers in order with saturation and counts the saturating additions. Other formats' products
are summed in float32, as the float reference and fp32-accumulating hardware do, except binary weights with
binary activations: XNOR and popcount on packed sign bits, times the two scales. Each layer's convolution is
prepared once per weight format (weights laid out, onnxruntime session built).
SAM layers (seed 001 eq. 5) add quantized inputs and parameters, round each sum to
the activation format and take max + min; pruned parameters stay ±inf.
Per-layer statistics: zero fraction of the input activations (the energy model's zero-gating), values
clipped when quantizing activations, accumulator saturation events.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import threads
from ..errors import AccelsimError
from ..formats import Binary, Fixed, Float32, Format, Pow2, Ternary, parse
from ..ir import SPECIAL_OPS, Layer, LoopBounds, Network
from ..kernels import SEED004_TABLE1, SEED004_ZERO_FACTOR, pack_signs, xnor_gemm
from ..kernels.conv import finish, prepare as prepare_conv, prepare_fused
from ..kernels.mac import canonical, operand_bits, prepare_saturating
from .reference import OPS, conv_weights, im2col, matmul_epilogue, matmul_product, maxpool, run, sam_dense

ROLES = ("weights", "activations", "accumulator", "mac")
WEIGHT_ONLY = (Ternary, Binary, Pow2)
#: what a prepared MAC multiplies by: the fixed-point weight words, their magnitudes or non-zero flags
WORD_VARIANTS = {"words": lambda w: w, "nonzero": lambda w: (w != 0).astype(w.dtype)}


@dataclass(frozen=True)
class QuantSpec:
    """Formats per role; ``layers`` overrides them by layer name. ``accumulator`` is a ``fixed(W)`` word; ``mac``
    a precision of seed 004's multi-precision MAC (``16x16``, ``16x8``, ``8x16``, ``8x8``) for 16-bit operands."""

    weights: Format = field(default_factory=Float32)
    activations: Format = field(default_factory=Float32)
    accumulator: Fixed | None = None
    mac: str | None = None
    layers: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.accumulator is not None and not isinstance(self.accumulator, Fixed):
            raise AccelsimError(f"accumulator={self.accumulator}: an accumulator is a fixed-point word, e.g. fixed(24)")
        if self.mac is None:
            return
        if not all(isinstance(f, Fixed) and f.W in (16, bits) for f, bits in zip((self.activations, self.weights),
                                                                                    operand_bits(self.mac))):
            raise AccelsimError(f"mac={self.mac}: the multi-precision MAC takes 16-bit (or, where it reads 8 bits, "
                                f"8-bit) fixed-point activations and weights, not {self.activations} and {self.weights}")

    @classmethod
    def parse(cls, text: str) -> "QuantSpec":
        """``F`` (weights and activations in F; weights only for ternary/binary/pow2) or ``weights=F;activations=F;accumulator=fixed(32)``, optionally
        followed by per-layer parts ``LAYER:weights=F`` separated by ``;``."""
        base, layers = {}, {}
        for part in [p.strip() for p in str(text).split(";") if p.strip()]:
            target = base
            if ":" in part.split("=")[0]:
                name, part = part.split(":", 1)
                target = layers.setdefault(name.strip(), {})
            if "=" in part and part.split("=")[0].strip() in ROLES:
                role, value = (t.strip() for t in part.split("=", 1))
                target[role] = value if role == "mac" else parse(value)
            else:  # one format for both roles; the few-level weight formats (ternary, binary, pow2) set weights only
                fmt = parse(part)
                target.update(weights=fmt, **({} if isinstance(fmt, WEIGHT_ONLY) else {"activations": fmt}))
        spec = cls(**base)
        return replace(spec, layers={n: replace(spec, layers={}, **roles) for n, roles in layers.items()})

    @classmethod
    def from_formats(cls, formats: dict) -> "QuantSpec":
        """From an architecture file's ``formats`` mapping (role -> spelling; 'inputs' means activations, 'mac' a
        multi-precision MAC precision)."""
        roles = {{"inputs": "activations", "outputs": None, "psums": "accumulator"}.get(k, k): v
                 for k, v in (formats or {}).items()}
        return cls(**{k: str(v) if k == "mac" else parse(v) for k, v in roles.items() if k in ROLES})

    def operand_words(self) -> "QuantSpec":
        """With a multi-precision MAC, the spec whose 8-bit operands are 8-bit words (seed 004 §4.2: each operand
        is assigned 8 or 16 bits, its fraction length chosen for that width): the high byte the MAC reads holds
        the operand rounded to 8 bits, so the exact sums of these words equal Algorithm 1's result."""
        if self.mac is None:
            return self
        i_bits, w_bits = operand_bits(self.mac)

        def word(fmt, bits):
            return fmt if fmt.W == bits else replace(fmt, W=8, F=None if fmt.F is None else fmt.F - 8)
        return replace(self, activations=word(self.activations, i_bits), weights=word(self.weights, w_bits))

    def for_layer(self, name: str) -> "QuantSpec":
        return self.layers.get(name, self)

    def __str__(self) -> str:
        parts = [f"weights={self.weights}", f"activations={self.activations}"]
        if self.accumulator is not None:
            parts.append(f"accumulator={self.accumulator}")
        if self.mac is not None:
            parts.append(f"mac={self.mac}")
        for name, spec in self.layers.items():  # per-layer overrides: the roles that differ
            parts += [f"{name}:{role}={getattr(spec, role)}" for role in ROLES
                      if getattr(spec, role) != getattr(self, role)]
        return ";".join(parts)


@dataclass
class LayerStats:
    """What happened in one layer over every sample run through it."""

    inputs: int = 0
    zero_inputs: int = 0
    clipped_inputs: int = 0
    saturations: int = 0
    arithmetic: str = ""  # how the products were summed: fixed-point, saturating, float32, xnor-popcount, mac=...
    macs: int = 0  # with a multi-precision MAC: MACs, those with a zero operand, and eq. (3)'s cost (seed 004)
    zero_macs: int = 0
    mac_cycles: int = 0
    mac_energy_pj: float = 0.0
    fraction_bits: dict = field(default_factory=dict)  # fixed point: {"weights": F, "activations": {F of batches}}

    def count(self, xq, overflows: int, zeros: int | None = None):
        """Add one batch of quantized input activations (and how many of them overflowed the format, and are 0 if
        the encoder counted them)."""
        self.inputs += xq.size
        self.zero_inputs += xq.size - int(np.count_nonzero(xq)) if zeros is None else zeros
        self.clipped_inputs += overflows

    @property
    def zero_fraction(self) -> float:
        return self.zero_inputs / self.inputs if self.inputs else 0.0

    def count_macs(self, precision: str, macs: int, nonzero: int):
        """Seed 004 eq. (3) with Table 1: every MAC takes the precision's cycles; one with a zero operand costs
        0.103 of its energy (zero-skipping, §3.3)."""
        cycles, energy = SEED004_TABLE1[canonical(precision)]
        self.macs += macs
        self.zero_macs += macs - nonzero
        self.mac_cycles += cycles * macs
        self.mac_energy_pj += energy * (nonzero + SEED004_ZERO_FACTOR * (macs - nonzero))

    def to_dict(self) -> dict:
        d = {"inputs": self.inputs, "zero_fraction": self.zero_fraction, "clipped_inputs": self.clipped_inputs,
             "accumulator_saturations": self.saturations, "arithmetic": self.arithmetic}
        if self.macs:
            d.update(macs=self.macs, zero_macs=self.zero_macs, mac_cycles=self.mac_cycles,
                     mac_energy_pj=self.mac_energy_pj)
        if self.fraction_bits:
            d["fraction_bits"] = {"weights": self.fraction_bits["weights"],
                                  "activations": sorted(self.fraction_bits["activations"])}
        return d


class QuantizedExecutor:
    """The ``mac_executor`` for :func:`accelsim.functional.run`; accumulates statistics across calls."""

    def __init__(self, spec: QuantSpec):
        threads.configure()
        self.spec = spec
        self.stats: dict[str, LayerStats] = {}
        self._weights: dict[tuple, object] = {}
        self._macs: dict[tuple, object] = {}

    #: what reference.run may ask to be applied after a MAC layer (``then``): a ReLU, then a max pooling
    fuses = ("relu", "maxpool")

    def __call__(self, layer: Layer, inputs, then=()):
        """The layer's output, None where the float reference computes it; with ``then`` (a ReLU and/or a max
        pooling that alone read it), theirs: fused into the fixed-point convolution where that is exact, else
        applied after."""
        relu = any(t.op == "relu" for t in then)
        pool = next((t for t in then if t.op == "maxpool"), None)
        if layer.op in SPECIAL_OPS:
            return _special_function(layer, inputs, self.stats)
        if not layer.is_mac_layer:
            return None
        spec = self.spec.for_layer(layer.name)
        st = self.stats.setdefault(layer.name, LayerStats())
        if layer.weights_produced:
            return _epilogue(_activation_product(layer, inputs, spec.activations, st), relu, pool)
        x = inputs[0]
        if isinstance(spec.weights, Fixed) and isinstance(spec.activations, Fixed) and layer.op != "sam_dense":
            spec = spec.operand_words()
            xi, fx, overflows, zeros = spec.activations.encode(x)
            st.count(xi, overflows, zeros)
            wi, fw = self._cached(layer, spec, "encode")
            st.fraction_bits = {"weights": fw, "activations": st.fraction_bits.get("activations", set()) | {fx}}
            st.arithmetic = f"mac={spec.mac}" if spec.mac else "saturating" if spec.accumulator else "fixed-point"
            if spec.mac is not None:
                _count_macs(layer, xi, self._mac(layer, spec, "nonzero", np.float32), spec.mac, st)
            y, events = self._fixed_output(layer, spec, xi, fx, wi, fw, relu, pool)
            st.saturations += events
            return y
        if _binary_pair(spec) and layer.op != "sam_dense":
            xq = spec.activations.quantize(x)
            st.count(xq, 0)  # binary never overflows
            st.arithmetic = "xnor-popcount"
            y = _xnor_mac(layer, xq, self._cached(layer, spec, "quantize")["W"])
        else:
            xq, overflows, zeros = spec.activations.quantize_counted(x, axis=1 if layer.op == "conv" else -1)
            st.count(xq, overflows, zeros)
            w = self._cached(layer, spec, "quantize")
            st.arithmetic = "float32"
            if layer.op == "sam_dense":
                st.arithmetic = f"sam, sums in {spec.activations}"
                return _epilogue(_sam(layer, xq, w, spec.activations).astype(np.float32), relu, pool)
            y = self._mac(layer, spec, "values", np.float32)(xq)
        if "B" in layer.weights:
            y += layer.bias
        return _epilogue(y.astype(np.float32, copy=False), relu, pool)

    def _mac(self, layer, spec, variant: str, dtype):
        """The layer's x -> Σ x·w for its weights in ``spec.weights`` (``values``: quantized; or a WORD_VARIANTS
        entry of the fixed-point words), summed in ``dtype``; prepared once."""
        key = (layer.name, str(spec.weights), variant, np.dtype(dtype).name)
        if key not in self._macs:
            w = (self._cached(layer, spec, "quantize")["W"] if variant == "values" else
                 WORD_VARIANTS[variant](self._cached(layer, spec, "encode")[0]))
            self._macs[key] = _prepare_mac(layer, w, dtype)
        return self._macs[key]

    def _fixed_output(self, layer, spec: QuantSpec, xi, fx: int, wi, fw: int, relu: bool, pool):
        """(the layer's float32 output, :func:`~accelsim.kernels.conv.finish` of its integer sums: times
        2^-(fx + fw), plus the bias, rectified with ``relu``, max pooled by the ``pool`` layer; saturation events).
        Every partial sum is bounded by max|x| · max_k Σ|w_k| (max|x| from the format): exact in float32 below
        2^24, else float64 (exact below 2^53). In float32 a conv with a finite float32 bias (or none) runs as one
        onnxruntime session on the values (words · 2^-fx, exact) with everything after it
        (:func:`~accelsim.kernels.conv.prepare_fused`). A given accumulator saturates: when that bound cannot
        exceed it the exact sums stand; otherwise :func:`~accelsim.kernels.mac.prepare_saturating` (prepared once
        per layer) finds the outputs that cannot saturate either and accumulates only the others in order,
        saturating and counting events."""
        bias, scale = (layer.bias if "B" in layer.weights else None), 2.0 ** -(fx + fw)
        finite = bias is None or bool(np.isfinite(bias).all())  # sums of words are: so are the outputs
        bound = -spec.activations.qmin * self._cached(layer, spec, "bound")
        if spec.accumulator is None or bound <= (1 << (spec.accumulator.W - 1)) - 1:
            dtype = _exact_dtype(bound)
            fused = self._fused(layer, spec, relu, pool, finite) if dtype == np.float32 else None
            if fused is not None:
                return fused(xi * np.float32(2.0 ** -fx)), 0
            sums = self._mac(layer, spec, "words", dtype)(xi, scale=scale, bias=bias, relu=relu)
            return _epilogue(sums, False, pool, finite), 0
        key = (layer.name, str(spec.weights), str(spec.activations), spec.accumulator.W)
        if key not in self._macs:
            w, b = (wi[..., None, None], LoopBounds(1, wi.shape[0], wi.shape[1], 1, 1)) if layer.op == "dense" else \
                (wi, layer.bounds)
            self._macs[key] = prepare_saturating(w, b, spec.accumulator.W, -spec.activations.qmin)
        if layer.op == "dense":
            acc, events = self._macs[key](xi.reshape(-1, xi.shape[-1], 1, 1))
            return _epilogue(finish(acc.reshape(*xi.shape[:-1], -1), scale, bias, relu), False, pool, finite), events
        acc, events = self._macs[key](xi)
        return _epilogue(finish(acc, scale, bias, relu), False, pool, finite), events

    def _fused(self, layer, spec: QuantSpec, relu: bool, pool, finite: bool):
        """The conv's x -> output with its bias, ``relu`` and ``pool`` as one onnxruntime session on the values
        (:func:`~accelsim.kernels.conv.prepare_fused`), prepared once; None where that is not exact (a float64 or
        non-``finite`` bias) or ONNX's MaxPool cannot give the pooling."""
        key = (layer.name, str(spec.weights), "fused", relu, None if pool is None else pool.name)
        if key not in self._macs:
            bias = layer.weights.get("B")
            ok = layer.op == "conv" and finite and (bias is None or bias.dtype == np.float32) and \
                (pool is None or pool.attrs.get("dilation", (1, 1)) == (1, 1))
            words, fw = self._cached(layer, spec, "encode")
            how = None if pool is None else \
                (pool.attrs["kernel"], pool.attrs["stride"], pool.attrs["pads"], pool.out_shape[2:])
            self._macs[key] = prepare_fused(words * 2.0 ** -fw, layer.bounds, bias, relu, how) if ok else None
        return self._macs[key]

    def _cached(self, layer, spec, how):
        """The layer's weights in ``spec.weights``, computed once: ``encode`` -> (words, F); ``bound`` -> the
        largest Σ|words| of one output; ``quantize`` -> the weights dict with W (and SAM's finite W_plus /
        W_minus: pruned ±inf stay pruned) quantized."""
        key = (layer.name, str(spec.weights), how)
        if key not in self._weights:
            if how == "bound":
                words = self._cached(layer, spec, "encode")[0]
                self._weights[key] = float(np.abs(words).reshape(len(words), -1).sum(axis=1).max(initial=0))
            elif how == "encode":
                words, f, *_ = spec.weights.encode(layer.weights["W"].astype(np.float64))
                self._weights[key] = words, f
            else:
                w = {k: v.astype(np.float64) for k, v in layer.weights.items()}
                if "W" in w:  # reduction axis 1: input channels (conv) / input features (dense)
                    w["W"] = spec.weights.quantize(w["W"], axis=1)
                for k in ("W_plus", "W_minus"):
                    if k in w:
                        finite = np.isfinite(w[k])
                        w[k][finite] = spec.weights.quantize(w[k][finite])
                self._weights[key] = w
        return self._weights[key]


def _epilogue(y: np.ndarray, relu: bool, pool, finite: bool = False) -> np.ndarray:
    """y through a ReLU (in place) when ``relu``, then the ``pool`` layer (the reference's max pooling; without
    looking for NaN when y is known ``finite``)."""
    y = np.maximum(y, 0, out=y) if relu else y
    return y if pool is None else maxpool(pool, [y], finite)


def _special_function(layer: Layer, inputs, stats) -> None:
    """LayerNorm, softmax, GELU, erf: where hardware has a special-function unit, computed in float32 by the float
    reference (None) and flagged as such in the layer's statistics."""
    st = stats.setdefault(layer.name, LayerStats(arithmetic="float32 (special-function unit)"))
    st.inputs += inputs[0].size
    return None


def _activation_product(layer: Layer, inputs, fmt: Format, st: LayerStats):
    """A product of two activations (attention's Q·Kᵀ and A·V): both operands in the activation format, each with
    its own fraction length in fixed point, whose integer words are summed exactly (float64); other formats'
    products are summed in float32. Then alpha and the bias, in float."""
    a, b = inputs[0], inputs[1]
    if isinstance(fmt, Fixed):
        (ai, fa, oa, za), (bi, fb, ob, _) = fmt.encode(a), fmt.encode(b)
        st.count(ai, oa + ob, za)
        st.fraction_bits = {"weights": fb, "activations": st.fraction_bits.get("activations", set()) | {fa}}
        st.arithmetic = "fixed-point, both operands activations"
        y = matmul_product(layer, ai.astype(np.float64), bi.astype(np.float64)) * 2.0 ** -(fa + fb)
    else:
        axes = (-2 if layer.attrs.get("trans_a") else -1, -1 if layer.attrs.get("trans_b") else -2)  # reduction axes
        (aq, oa, za), (bq, ob, _) = fmt.quantize_counted(a, axis=axes[0]), fmt.quantize_counted(b, axis=axes[1])
        st.count(aq, oa + ob, za)
        st.arithmetic = "float32, both operands activations"
        y = matmul_product(layer, aq.astype(np.float32), bq.astype(np.float32))
    return matmul_epilogue(layer, y, inputs)


def _prepare_mac(layer: Layer, w, dtype):
    """x -> Σ x·w of a conv or dense layer (no bias), summed in ``dtype``; (x, scale, bias, relu) -> their
    :func:`~accelsim.kernels.conv.finish`."""
    if layer.op == "dense":
        wt = w.astype(dtype).T

        def dense(x, scale=None, bias=None, relu=False):
            with threads.blas_for(x.size * wt.shape[1]):
                sums = x.astype(dtype, copy=False) @ wt
            return finish(sums, scale, bias, relu)
        return dense
    conv = prepare_conv(w, layer.bounds, dtype)
    if conv is None:  # a float64 grouped conv: the reference's im2col GEMM per group
        ref = replace(layer, weights={"W": w.astype(dtype)})
        return lambda x, scale=None, bias=None, relu=False: finish(OPS["conv"](ref, [x.astype(dtype)]), scale, bias,
                                                                   relu)
    return conv


def _count_macs(layer: Layer, xi, nonzero_mac, precision: str, st: LayerStats):
    """Count the layer's MACs and those with a zero operand (padding included) into ``st``."""
    macs = layer.macs * xi.shape[0] // layer.bounds.N
    nonzero = nonzero_mac((xi != 0).astype(np.float32))
    st.count_macs(precision, macs, int(nonzero.sum(dtype=np.float64)))


def _exact_dtype(bound: float):
    """float32 when every partial sum of integers is below 2^24 in magnitude (all exact there), else float64."""
    return np.float32 if bound < 2 ** 24 else np.float64


def _binary_pair(spec: QuantSpec) -> bool:
    """Binary weights and activations whose scales factor out of each dot product (not one per input vector)."""
    return all(isinstance(f, Binary) and f.per != "vector" for f in (spec.weights, spec.activations))


def _xnor_mac(layer: Layer, xq, wq):
    """Σ x·w of binary operands: α_x[n] · α_w[k] · (XNOR-popcount dot of the signs); zero padding is masked out."""
    n, b = xq.shape[0], layer.bounds
    alpha_x = np.abs(xq).reshape(n, -1).max(axis=1)
    alpha_w = np.abs(wq).reshape(b.K, -1).max(axis=1)
    if layer.op == "dense":
        dots = xnor_gemm(*pack_signs(xq.reshape(-1, xq.shape[-1])), pack_signs(wq)[0])
        return dots.reshape(*xq.shape[:-1], b.K) * alpha_x.reshape((n,) + (1,) * (xq.ndim - 1)) * alpha_w
    cols, wcols = im2col(xq, b), conv_weights(wq, b.groups)  # (N, G, P·Q, R·S·Cg), (G, R·S·Cg, Kg)
    rows = cols.transpose(1, 0, 2, 3).reshape(b.groups, n * b.P * b.Q, -1)
    dots = xnor_gemm(*pack_signs(rows), pack_signs(wcols.transpose(0, 2, 1))[0])  # (G, N·P·Q, Kg)
    dots = dots.reshape(b.groups, n, b.P * b.Q, -1).transpose(1, 0, 3, 2).reshape(n, b.K, b.P, b.Q)
    return dots * alpha_x[:, None, None, None] * alpha_w[None, :, None, None]


def _sam(layer: Layer, xq, w, fmt):
    """Seed 001 eq. (5) with every sum x_i + W_ij rounded to the activation format."""
    return sam_dense(replace(layer, weights=w), [xq], rounded=fmt.quantize)


def run_quantized(net: Network, x, spec: QuantSpec | str, executor: QuantizedExecutor | None = None):
    """(output, {layer: LayerStats}) of ``net`` on ``x`` with every MAC layer in ``spec``'s formats."""
    if isinstance(spec, str):
        spec = QuantSpec.parse(spec)
    unknown = set(spec.layers) - {l.name for l in net.layers}
    if unknown:
        raise AccelsimError(f"{net.source or net.name}: format given for unknown layer(s) {sorted(unknown)}")
    executor = executor or QuantizedExecutor(spec)
    return run(net, x, mac_executor=executor), executor.stats
