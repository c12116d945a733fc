"""One layer of the IR: op kind, operand shapes, weights and the canonical 7-deep loop bounds.

The loop nest every MAC layer maps onto is (Timeloop's naming)::

    for n in N, k in K, c in C/groups, p in P, q in Q, r in R, s in S:
        out[n, k, p, q] += in[n, g*C/groups + c, p*sh + r*dh - pt, q*sw + s*dw - pl] * w[k, c, r, s]

Dense layers are the special case P = Q = R = S = 1. Figures derived here (MACs, parameters, tensor
sizes) are exact integers: the timing path and the reports trust them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod

import numpy as np

#: ops whose work is multiply-accumulates on a weight tensor (the ones an accelerator array maps)
MAC_OPS = frozenset({"conv", "dense"})
#: ops that are pure data movement / layout: no arithmetic, no hardware cost beyond a copy
LAYOUT_OPS = frozenset({"reshape", "transpose", "concat", "pad", "identity"})


@dataclass(frozen=True)
class LoopBounds:
    """Canonical loop bounds of a conv/dense layer (per inference: N is the batch the IR was built for)."""

    N: int
    K: int
    C: int
    P: int
    Q: int
    R: int = 1
    S: int = 1
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    groups: int = 1

    @property
    def H(self) -> int:
        """Input height the loop nest reads (before padding is removed)."""
        return (self.P - 1) * self.stride[0] + (self.R - 1) * self.dilation[0] + 1 - self.pads[0] - self.pads[2]

    @property
    def W(self) -> int:
        return (self.Q - 1) * self.stride[1] + (self.S - 1) * self.dilation[1] + 1 - self.pads[1] - self.pads[3]

    @property
    def macs(self) -> int:
        return self.N * self.K * (self.C // self.groups) * self.P * self.Q * self.R * self.S

    @property
    def weight_size(self) -> int:
        return self.K * (self.C // self.groups) * self.R * self.S

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("N", "K", "C", "P", "Q", "R", "S", "stride", "dilation", "pads", "groups")}


@dataclass
class Layer:
    """A node of the layer graph.

    ``op`` is one of: conv, dense, sam_dense, maxpool, avgpool, lrn, affine (an unfolded batch norm),
    relu, leakyrelu, clip, sigmoid, tanh, softsign, softmax, add, sub, mul, div, sum, concat, reshape,
    transpose, pad (identity only transiently, inside the frontend).
    ``inputs`` are activation tensor names (weights live in ``weights``); ``in_shapes``/``out_shape``
    include the batch dimension.
    """

    name: str
    op: str
    inputs: list[str]
    output: str
    in_shapes: list[tuple[int, ...]]
    out_shape: tuple[int, ...]
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    bounds: LoopBounds | None = None

    # ---- exact derived figures -------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference; for a SAM layer, SAM operations (one add-and-compare per parameter)."""
        if self.op in MAC_OPS:
            return self.bounds.macs
        if self.op == "sam_dense":
            return self.bounds.N * self.params_of("W_plus", "W_minus")
        return 0

    @property
    def mapped_bounds(self) -> LoopBounds | None:
        """The loop nest an accelerator steps through. A SAM layer stores its kept parameters column by column
        (pruned ones are neither fetched nor stepped): it maps as K outputs of ceil(kept / K) terms each, so
        weight words and steps follow the kept parameters (the gathered input words are approximated alike)."""
        if self.op != "sam_dense":
            return self.bounds
        b = self.bounds
        terms = -(-self.params_of("W_plus", "W_minus") // b.K)
        return replace(b, C=max(terms, 1))

    @property
    def ops(self) -> dict[str, int]:
        """Elementary operations by kind (seed 001 Table I counts SAM additions/comparisons this way)."""
        out = prod(self.out_shape)
        if self.op in MAC_OPS:
            extra = {"add": out} if "B" in self.weights else {}
            return {"mac": self.macs, **extra}
        if self.op == "sam_dense":
            # each parameter: one addition x_i + W_ij and one comparison in the running max/min (seed 001 §III-C)
            return {"add": self.macs + out, "cmp": self.macs}
        if self.op in ("maxpool", "avgpool"):
            kh, kw = self.attrs["kernel"]
            return {"cmp" if self.op == "maxpool" else "add": out * kh * kw}
        if self.op in LAYOUT_OPS:
            return {}
        if self.op == "softmax":
            return {"exp": out, "add": out, "div": out}
        return {self.op: out}

    def params_of(self, *names: str) -> int:
        return sum(int(np.isfinite(self.weights[n]).sum()) if n.startswith("W_") else self.weights[n].size
                   for n in names if n in self.weights)

    @property
    def params(self) -> int:
        """Stored parameters (weights + biases); pruned SAM parameters (±inf) are not stored."""
        return self.params_of(*self.weights)

    @property
    def input_size(self) -> int:
        return sum(prod(s) for s in self.in_shapes)

    @property
    def output_size(self) -> int:
        return prod(self.out_shape)

    @property
    def is_mac_layer(self) -> bool:
        return self.op in MAC_OPS or self.op == "sam_dense"

    def summary(self) -> dict:
        return {"name": self.name, "op": self.op, "output_shape": list(self.out_shape),
                "macs": self.macs, "params": self.params, "ops": self.ops}
