"""Execute a network in number formats: a format per tensor role (weights, activations, accumulator),
for the whole net or per layer, through the float reference's ``mac_executor`` hook.

MAC layers (conv, dense) quantize their input activations and weights; the products are summed exactly
on BLAS — in float32 when fixed-point operands make every partial sum an integer below 2^24, else in
float64 (exact for fixed point while the sum fits 53 bits) — unless an accumulator
narrower than that is given, in which case the numba kernel accumulates integers with saturation and counts
the saturating additions. SAM layers (seed 001 eq. 5) add quantized inputs and parameters, round each sum to
the activation format and take max + min; pruned parameters stay ±inf.
Per-layer statistics: zero fraction of the input activations (the energy model's zero-gating), values
clipped when quantizing activations, accumulator saturation events.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import AccelsimError
from ..formats import Binary, Fixed, Float32, Format, Pow2, Ternary, parse
from ..ir import Layer, Network
from ..kernels import gemm_saturating
from .reference import OPS, conv_weights, im2col, run

ROLES = ("weights", "activations", "accumulator")
WEIGHT_ONLY = (Ternary, Binary, Pow2)


@dataclass(frozen=True)
class QuantSpec:
    """Formats per role; ``layers`` overrides them by layer name. ``accumulator`` is a ``fixed(W)`` word."""

    weights: Format = field(default_factory=Float32)
    activations: Format = field(default_factory=Float32)
    accumulator: Fixed | None = None
    layers: dict = field(default_factory=dict)

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
                role, value = part.split("=", 1)
                target[role.strip()] = parse(value.strip())
            else:  # one format for both roles; the few-level weight formats (ternary, binary, pow2) set weights only
                fmt = parse(part)
                target.update(weights=fmt, **({} if isinstance(fmt, WEIGHT_ONLY) else {"activations": fmt}))
        spec = cls(**base)
        return replace(spec, layers={n: replace(spec, layers={}, **roles) for n, roles in layers.items()})

    @classmethod
    def from_formats(cls, formats: dict) -> "QuantSpec":
        """From an architecture file's ``formats`` mapping (role -> spelling; 'inputs' means activations)."""
        roles = {{"inputs": "activations", "outputs": None, "psums": "accumulator"}.get(k, k): v
                 for k, v in (formats or {}).items()}
        return cls(**{k: parse(v) for k, v in roles.items() if k in ROLES})

    def for_layer(self, name: str) -> "QuantSpec":
        return self.layers.get(name, self)

    def __str__(self) -> str:
        parts = [f"weights={self.weights}", f"activations={self.activations}"]
        if self.accumulator is not None:
            parts.append(f"accumulator={self.accumulator}")
        return ";".join(parts)


@dataclass
class LayerStats:
    """What happened in one layer over every sample run through it."""

    inputs: int = 0
    zero_inputs: int = 0
    clipped_inputs: int = 0
    saturations: int = 0

    @property
    def zero_fraction(self) -> float:
        return self.zero_inputs / self.inputs if self.inputs else 0.0

    def to_dict(self) -> dict:
        return {"inputs": self.inputs, "zero_fraction": self.zero_fraction, "clipped_inputs": self.clipped_inputs,
                "accumulator_saturations": self.saturations}


class QuantizedExecutor:
    """The ``mac_executor`` for :func:`accelsim.functional.run`; accumulates statistics across calls."""

    def __init__(self, spec: QuantSpec):
        self.spec = spec
        self.stats: dict[str, LayerStats] = {}
        self._weights: dict[str, dict] = {}

    def __call__(self, layer: Layer, inputs):
        if not layer.is_mac_layer:
            return None
        spec = self.spec.for_layer(layer.name)
        x = inputs[0].astype(np.float64)
        axis = 1 if layer.op == "conv" else -1  # the reduction axis of the input (channels / features)
        st = self.stats.setdefault(layer.name, LayerStats())
        if isinstance(spec.activations, Fixed):
            xi, f = spec.activations.to_int(x)
            xq = xi * 2.0 ** -f
            st.clipped_inputs += int(np.count_nonzero(np.abs(x - xq) > 2.0 ** -f))  # beyond rounding: saturated
        else:
            xq = spec.activations.quantize(x, axis=axis)
        st.inputs += xq.size
        st.zero_inputs += int(np.count_nonzero(xq == 0))
        w = self._quantized_weights(layer, spec)
        if layer.op == "sam_dense":
            y = _sam(xq, w, spec.activations)
        elif spec.accumulator is not None and isinstance(spec.weights, Fixed) and isinstance(spec.activations, Fixed):
            y, events = _integer_mac(layer, x, w["W"], spec)
            st.saturations += events
        elif isinstance(spec.weights, Fixed) and isinstance(spec.activations, Fixed) and \
                _float32_exact(layer, xi, self._integer_weights(layer, spec)[0]):
            wi, fw = self._integer_weights(layer, spec)
            integer_layer = replace(layer, weights={"W": wi.astype(np.float32)})
            acc = OPS[layer.op](integer_layer, [xi.astype(np.float32)])  # every partial sum < 2^24: exact
            y = acc * 2.0 ** -(f + fw)
            if "B" in layer.weights:
                y = y + layer.weights["B"].reshape((1, -1) + (1,) * (y.ndim - 2))
        else:
            y = OPS[layer.op](replace(layer, weights=w), [xq])
        return y.astype(np.float32)

    def _integer_weights(self, layer, spec):
        key = (layer.name, str(spec.weights), "int")
        if key not in self._weights:
            self._weights[key] = spec.weights.to_int(layer.weights["W"].astype(np.float64))
        return self._weights[key]

    def _quantized_weights(self, layer, spec):
        key = (layer.name, str(spec.weights))
        if key not in self._weights:
            w = {k: v.astype(np.float64) for k, v in layer.weights.items()}
            if "W" in w:  # reduction axis 1: input channels (conv) / input features (dense)
                w["W"] = spec.weights.quantize(w["W"], axis=1)
            for k in ("W_plus", "W_minus"):  # pruned SAM parameters (±inf) stay pruned
                if k in w:
                    finite = np.isfinite(w[k])
                    w[k][finite] = spec.weights.quantize(w[k][finite])
            self._weights[key] = w
        return self._weights[key]


def _float32_exact(layer: Layer, xi, wi) -> bool:
    """Whether float32 (24-bit mantissa) sums these integer products exactly: max|x|·max|w|·terms < 2^24."""
    terms = layer.bounds.weight_size // layer.bounds.K
    return int(np.abs(xi).max(initial=0)) * int(np.abs(wi).max(initial=0)) * terms < (1 << 24)


def _sam(xq, w, fmt):
    """Seed 001 eq. (5) with every sum x_i + W_ij rounded to the activation format."""
    x3 = xq[..., :, None]
    hi = fmt.quantize(x3 + w["W_plus"]).max(axis=-2)
    lo = fmt.quantize(x3 + w["W_minus"]).min(axis=-2)
    y = hi + lo
    return y + w["B"] if "B" in w else y


def _integer_mac(layer: Layer, x, w, spec):
    """Integer MACs with a saturating accumulator; then back to real values, bias added at the end.

    When no partial sum can exceed the accumulator (Σ|x||w| bounds them all) the float64 BLAS path is exact;
    otherwise the numba kernel accumulates in order, saturating and counting events."""
    xi, fx = spec.activations.to_int(x)
    wi, fw = spec.weights.to_int(w)
    integer_layer = replace(layer, weights={"W": wi.astype(np.float64)})
    hi = (1 << (spec.accumulator.W - 1)) - 1
    bound = OPS[layer.op](replace(layer, weights={"W": np.abs(wi).astype(np.float64)}), [np.abs(xi).astype(np.float64)])
    if bound.max(initial=0) <= hi:
        acc, events = OPS[layer.op](integer_layer, [xi.astype(np.float64)]), 0
    elif layer.op == "dense":
        flat, events = gemm_saturating(xi.reshape(-1, xi.shape[-1]), wi, spec.accumulator.W)
        acc = flat.reshape(*x.shape[:-1], -1)
    else:
        acc, events = _conv_saturating(layer.bounds, xi, wi, spec.accumulator.W)
    y = acc * 2.0 ** -(fx + fw)
    if "B" in layer.weights:
        y = y + layer.weights["B"].reshape((1, -1) + (1,) * (y.ndim - 2))
    return y, events


def _conv_saturating(b, xi, wi, acc_bits):
    """Convolution as one saturating integer GEMM per group over the im2col patches."""
    n, g, kg = xi.shape[0], b.groups, b.K // b.groups
    cols, wcols = im2col(xi, b), conv_weights(wi, g)  # (N, G, P·Q, R·S·Cg), (G, R·S·Cg, Kg)
    out = np.empty((n, b.K, b.P * b.Q))
    events = 0
    for gi in range(g):
        acc, e = gemm_saturating(cols[:, gi].reshape(n * b.P * b.Q, -1), wcols[gi].T, acc_bits)
        events += e
        out[:, gi * kg:(gi + 1) * kg] = acc.reshape(n, b.P * b.Q, kg).transpose(0, 2, 1)
    return out.reshape(n, b.K, b.P, b.Q), events


def run_quantized(net: Network, x, spec: QuantSpec | str, executor: QuantizedExecutor | None = None):
    """(output, {layer: LayerStats}) of ``net`` on ``x`` with every MAC layer in ``spec``'s formats."""
    if isinstance(spec, str):
        spec = QuantSpec.parse(spec)
    unknown = set(spec.layers) - {l.name for l in net.layers}
    if unknown:
        raise AccelsimError(f"{net.source or net.name}: format given for unknown layer(s) {sorted(unknown)}")
    executor = executor or QuantizedExecutor(spec)
    return run(net, x, mac_executor=executor), executor.stats
