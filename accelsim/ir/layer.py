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

#: ops whose work is multiply-accumulates on a weight tensor (the ones an accelerator array maps); a matmul's
#: "weights" are its second operand, a tensor produced at run time (attention's Q·Kᵀ and A·V)
MAC_OPS = frozenset({"conv", "dense", "matmul"})
#: ops that are pure data movement / layout: no arithmetic, no hardware cost beyond a copy
LAYOUT_OPS = frozenset({"reshape", "transpose", "concat", "pad", "identity", "slice", "gather", "expand"})
#: ops whose constants are immediates of a test or a selection, not stored parameters
SELECTIONS = frozenset({"where", "equal", "less", "greater", "less_equal", "greater_equal", "and", "or", "xor", "not"})
#: normalisations and functions a MAC array cannot compute: hardware runs them on a special-function unit
SPECIAL_OPS = frozenset({"layernorm", "softmax", "logsoftmax", "gelu", "erf"})


class Absent(np.ndarray):
    """A weight tensor loaded without its values (shapes-only loading, for the timing path): the right shape and
    dtype in no memory (every element aliases one zero). ``finite`` is how many of its values are finite, where
    that was counted (what a SAM layer keeps)."""

    finite: int | None = None

    def __array_finalize__(self, obj):
        self.finite = getattr(obj, "finite", None)


def absent(shape, dtype=np.float32, finite: int | None = None) -> Absent:
    a = np.broadcast_to(np.zeros((), dtype), tuple(shape)).view(Absent)
    a.finite = finite
    return a


def _kept(w: np.ndarray) -> int:
    """Finite (unpruned) entries of a SAM parameter tensor."""
    if isinstance(w, Absent):
        return w.size if w.finite is None else w.finite
    return int(np.isfinite(w).sum())


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

    ``op`` is one of: conv, dense, matmul (two activation operands), sam_dense, maxpool, avgpool, lrn, affine
    (an unfolded batch norm), layernorm, the activations (relu, gelu, softmax, ...), elementwise ops (add, sub,
    mul, div, pow, where, equal, ...; a constant operand at position i is ``weights["const<i>"]``), reduce,
    embedding (a constant table gathered by activation indices), cast, and the layout ops (reshape, transpose,
    concat, pad, slice, gather by constant indices, expand; identity only transiently, inside the frontend).
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
    #: which weights are non-zero (the shape of ``weights["W"]``) when its zeros are known — pruned by
    #: ``accelsim.transforms.prune`` or read from real weights by ``accelsim.sparsity.weight_zeros``; None: dense
    weight_mask: np.ndarray | None = None

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
    def bias(self) -> np.ndarray:
        """The bias ``B`` shaped to broadcast over the output: per output channel (axis 1) of a convolution, per
        feature (the last axis) of a dense layer, whatever the rank of its input."""
        b = self.weights["B"]
        return b.reshape((-1,) + (1,) * (len(self.out_shape) - 2)) if self.op == "conv" else b

    @property
    def weights_produced(self) -> bool:
        """Whether the W operand of the loop nest is a tensor produced at run time (a matmul of two activations):
        it cannot be resident or pre-loaded, and its traffic is activation traffic (not parameters)."""
        return self.op == "matmul"

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
            extra = {"add": out} if "B" in self.weights or len(self.inputs) > 2 else {}
            return {"mac": self.macs, **extra}
        if self.op == "sam_dense":
            # each parameter: one addition x_i + W_ij and one comparison in the running max/min (seed 001 §III-C)
            return {"add": self.macs + out, "cmp": self.macs}
        if self.op in ("maxpool", "avgpool"):
            kh, kw = self.attrs["kernel"]
            return {"cmp" if self.op == "maxpool" else "add": out * kh * kw}
        if self.op in LAYOUT_OPS:
            return {}
        if self.op in ("softmax", "logsoftmax"):
            return {"exp": out, "add": out, "div": out}
        if self.op == "layernorm":  # mean, x - mean, square, variance, scale, gamma, beta; a root and a divide per row
            rows = out // prod(self.out_shape[self.attrs["axis"]:])
            return {"add": 4 * out, "mul": 3 * out, "sqrt": rows, "div": rows}
        if self.op == "reduce":
            return {"cmp" if self.attrs["kind"] in ("max", "min") else "add": self.input_size}
        if self.op == "embedding":
            return {}
        return {self.op: out}

    def params_of(self, *names: str) -> int:
        return sum(_kept(self.weights[n]) if n.startswith("W_") else self.weights[n].size
                   for n in names if n in self.weights)

    @property
    def params(self) -> int:
        """Stored parameters (weights + biases); pruned SAM parameters (±inf) are not stored, nor are the
        constants of masks and comparisons (a Where's fill value, an Equal's padding id)."""
        if self.op in SELECTIONS:
            return 0
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
