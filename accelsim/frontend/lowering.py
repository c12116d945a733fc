"""Lower ONNX nodes (constants already folded, shapes known) to IR layers, one small function per op."""
from __future__ import annotations

from math import prod

import numpy as np
from onnx import helper

from ..errors import AccelsimError
from ..ir import Layer, LoopBounds

#: activation ops that carry over with their parameters: ONNX name -> (IR op, {attr: default})
ACTIVATIONS = {
    "Relu": ("relu", {}),
    "LeakyRelu": ("leakyrelu", {"alpha": 0.01}),
    "Sigmoid": ("sigmoid", {}),
    "Tanh": ("tanh", {}),
    "Softsign": ("softsign", {}),
    "Softmax": ("softmax", {"axis": -1}),
    "LRN": ("lrn", {"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}),
    "Elu": ("elu", {"alpha": 1.0}),
    "Selu": ("selu", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}),
    "HardSigmoid": ("hardsigmoid", {"alpha": 0.2, "beta": 0.5}),
    "HardSwish": ("hardswish", {}),
    "Softplus": ("softplus", {}),
    "Abs": ("abs", {}),
    "Neg": ("neg", {}),
    "Exp": ("exp", {}),
    "Sqrt": ("sqrt", {}),
    "Reciprocal": ("reciprocal", {}),
}
ELEMENTWISE = {"Add": "add", "Mul": "mul", "Sum": "sum", "Sub": "sub", "Div": "div", "PRelu": "prelu"}
ALIASES = {"Identity", "Dropout"}  # outputs are their first input at inference time
RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}


class _Context:
    """What every lowering function needs: constants, shapes, and where we are (for error messages)."""

    def __init__(self, consts, shapes, where):
        self.consts, self.shapes, self.where = consts, shapes, where

    def fail(self, node, problem):
        raise AccelsimError(f"{self.where}: node '{node.name or node.output[0]}' ({node.op_type}): {problem}")

    def const(self, node, i, what):
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.consts:
            self.fail(node, f"{what} (input {i}) must be a constant initializer")
        return self.consts[name]

    def optional_const(self, node, i):
        name = node.input[i] if i < len(node.input) else ""
        return self.consts.get(name) if name else None

    def shape(self, node, tensor):
        if tensor not in self.shapes:
            self.fail(node, f"shape of tensor '{tensor}' is unknown after shape inference")
        return tuple(self.shapes[tensor])

    def layer(self, node, op, inputs=None, weights=None, attrs=None, bounds=None):
        inputs = [i for i in (inputs if inputs is not None else node.input) if i and i not in self.consts]
        return Layer(name=node.name or node.output[0], op=op, inputs=inputs, output=node.output[0],
                     in_shapes=[self.shape(node, i) for i in inputs], out_shape=self.shape(node, node.output[0]),
                     weights=weights or {}, attrs=attrs or {}, bounds=bounds)


def attrs_of(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads_2d(node, ctx, a, in_hw, kernel, stride, dilation, out_hw):
    """(top, left, bottom, right) padding from explicit pads or auto_pad."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((o - 1) * s + (k - 1) * d + 1 - i, 0) for o, s, k, d, i in zip(out_hw, stride, kernel, dilation, in_hw)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
        return (begin[0], begin[1], end[0], end[1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    pads = a.get("pads", [0] * 4)
    if len(pads) != 4:
        ctx.fail(node, f"only 2-D spatial ops are supported (pads {list(pads)})")
    return (pads[0], pads[1], pads[2], pads[3])


def _spatial(node, ctx, a, kernel):
    stride = tuple(a.get("strides", [1, 1]))
    dilation = tuple(a.get("dilations", [1, 1]))
    x = ctx.shape(node, node.input[0])
    y = ctx.shape(node, node.output[0])
    if len(x) != 4:
        ctx.fail(node, f"only 2-D (NCHW) inputs are supported, got shape {x}")
    pads = _pads_2d(node, ctx, a, x[2:], kernel, stride, dilation, y[2:])
    return x, y, stride, dilation, pads


def lower_conv(node, ctx):
    a = attrs_of(node)
    w = ctx.const(node, 1, "weight")
    if w.ndim != 4:
        ctx.fail(node, f"only 2-D convolutions are supported (weight shape {w.shape})")
    x, y, stride, dilation, pads = _spatial(node, ctx, a, w.shape[2:])
    b = ctx.optional_const(node, 2)
    weights = {"W": w.astype(np.float32)}
    if b is not None:
        weights["B"] = b.astype(np.float32)
    bounds = LoopBounds(N=y[0], K=y[1], C=x[1], P=y[2], Q=y[3], R=w.shape[2], S=w.shape[3], stride=stride,
                        dilation=dilation, pads=pads, groups=a.get("group", 1))
    return ctx.layer(node, "conv", [node.input[0]], weights, bounds=bounds)


def _dense(node, ctx, w_out_in, bias):
    x = ctx.shape(node, node.input[0])
    y = ctx.shape(node, node.output[0])
    weights = {"W": np.ascontiguousarray(w_out_in, dtype=np.float32)}
    if bias is not None:
        weights["B"] = np.broadcast_to(bias, (w_out_in.shape[0],)).astype(np.float32)
    bounds = LoopBounds(N=prod(y[:-1]), K=y[-1], C=x[-1], P=1, Q=1)
    return ctx.layer(node, "dense", [node.input[0]], weights, bounds=bounds)


def lower_gemm(node, ctx):
    a = attrs_of(node)
    if a.get("transA", 0):
        ctx.fail(node, "transA=1 is not supported (activations must be rows)")
    w = ctx.const(node, 1, "weight B")
    w = w if a.get("transB", 0) else w.T
    c = ctx.optional_const(node, 2)
    if c is not None and c.size not in (1, w.shape[0]):
        ctx.fail(node, f"bias C of shape {c.shape} is not per output feature")
    bias = None if c is None else c.reshape(-1) * a.get("beta", 1.0)
    return _dense(node, ctx, w * a.get("alpha", 1.0), bias)


def lower_matmul(node, ctx):
    if node.input[1] not in ctx.consts:
        ctx.fail(node, "MatMul of two activations is not supported (the second operand must be a weight)")
    w = ctx.consts[node.input[1]]
    if w.ndim != 2:
        ctx.fail(node, f"weight of rank {w.ndim} is not supported")
    return _dense(node, ctx, w.T, None)


def lower_sam(node, ctx):
    wp = ctx.const(node, 1, "W_plus")
    wm = ctx.const(node, 2, "W_minus")
    if wp.shape != wm.shape or wp.ndim != 2:
        ctx.fail(node, f"W_plus {wp.shape} and W_minus {wm.shape} must both be n×m")
    weights = {"W_plus": wp.astype(np.float32), "W_minus": wm.astype(np.float32)}
    b = ctx.optional_const(node, 3)
    if b is not None:
        weights["B"] = b.astype(np.float32)
    y = ctx.shape(node, node.output[0])
    bounds = LoopBounds(N=prod(y[:-1]), K=wp.shape[1], C=wp.shape[0], P=1, Q=1)
    return ctx.layer(node, "sam_dense", [node.input[0]], weights, bounds=bounds)


def lower_pool(node, ctx):
    a = attrs_of(node)
    op = "maxpool" if "Max" in node.op_type else "avgpool"
    if node.op_type.startswith("Global"):
        x = ctx.shape(node, node.input[0])
        kernel, stride, pads, ceil = tuple(x[2:]), (1, 1), (0, 0, 0, 0), 0
    else:
        kernel = tuple(a["kernel_shape"])
        if len(kernel) != 2:
            ctx.fail(node, f"only 2-D pooling is supported (kernel {kernel})")
        if len(node.output) > 1 and node.output[1]:
            ctx.fail(node, "the Indices output of MaxPool is not supported")
        _, _, stride, dilation, pads = _spatial(node, ctx, a, kernel)
        if dilation != (1, 1):
            ctx.fail(node, "dilated pooling is not supported")
        ceil = a.get("ceil_mode", 0)
    attrs = {"kernel": kernel, "stride": stride, "pads": pads, "ceil_mode": ceil,
             "count_include_pad": a.get("count_include_pad", 0)}
    return ctx.layer(node, op, [node.input[0]], attrs=attrs)


def lower_activation(node, ctx):
    op, defaults = ACTIVATIONS[node.op_type]
    a = attrs_of(node)
    return ctx.layer(node, op, [node.input[0]], attrs={k: a.get(k, v) for k, v in defaults.items()})


def lower_clip(node, ctx):
    lo, hi = ctx.optional_const(node, 1), ctx.optional_const(node, 2)
    attrs = {"min": -np.inf if lo is None else float(lo), "max": np.inf if hi is None else float(hi)}
    if attrs["min"] == 0 and attrs["max"] == np.inf:
        return ctx.layer(node, "relu", [node.input[0]])
    return ctx.layer(node, "clip", [node.input[0]], attrs=attrs)


def lower_elementwise(node, ctx):
    op = ELEMENTWISE[node.op_type]
    consts = [ctx.consts[i] for i in node.input if i in ctx.consts]
    weights = {}
    if consts:
        if node.op_type == "Sum" or len(consts) > 1:
            ctx.fail(node, "only one constant operand is supported")
        weights["const"] = consts[0].astype(np.float32)
        x = ctx.shape(node, node.input[0])
        if op == "prelu" and consts[0].ndim == 1 and len(x) > 2 and consts[0].size == x[1]:
            weights["const"] = weights["const"].reshape((-1,) + (1,) * (len(x) - 2))  # opset < 7: slope per channel
        if node.input[0] in ctx.consts and op in ("sub", "div"):
            ctx.fail(node, "a constant first operand is not supported")
    return ctx.layer(node, op, weights=weights)


def lower_batchnorm(node, ctx):
    scale, shift = batchnorm_affine(node, ctx)
    return ctx.layer(node, "affine", [node.input[0]], {"scale": scale.astype(np.float32),
                                                       "shift": shift.astype(np.float32)})


def batchnorm_affine(node, ctx):
    """BatchNormalization (inference) as y = scale * x + shift per channel."""
    a = attrs_of(node)
    gamma, beta, mean, var = (ctx.const(node, i, n).astype(np.float64) for i, n in
                              enumerate(("scale", "bias", "mean", "var"), start=1))
    scale = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
    return scale, beta - mean * scale


def lower_reshape(node, ctx):
    return ctx.layer(node, "reshape", [node.input[0]])


def lower_transpose(node, ctx):
    x = ctx.shape(node, node.input[0])
    perm = tuple(attrs_of(node).get("perm", range(len(x))[::-1]))
    return ctx.layer(node, "transpose", [node.input[0]], attrs={"perm": perm})


def lower_concat(node, ctx):
    if any(i in ctx.consts for i in node.input):
        ctx.fail(node, "concatenating a constant with activations is not supported")
    return ctx.layer(node, "concat", attrs={"axis": attrs_of(node)["axis"]})


def lower_pad(node, ctx):
    a = attrs_of(node)
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in ("constant", "reflect", "edge"):
        ctx.fail(node, f"pad mode '{mode}' is not supported")
    pads = ctx.const(node, 1, "pads").astype(int).tolist()
    value = ctx.optional_const(node, 2)
    axes = ctx.optional_const(node, 3)
    rank = len(ctx.shape(node, node.input[0]))
    axes = list(range(rank)) if axes is None else [int(ax) % rank for ax in axes]
    width = [(0, 0)] * rank
    for j, ax in enumerate(axes):
        width[ax] = (pads[j], pads[j + len(axes)])
    attrs = {"pad_width": tuple(width), "mode": mode, "value": 0.0 if value is None else float(value)}
    return ctx.layer(node, "pad", [node.input[0]], attrs=attrs)


LOWER = {"Conv": lower_conv, "Gemm": lower_gemm, "MatMul": lower_matmul, "SamDense": lower_sam,
         "MaxPool": lower_pool, "AveragePool": lower_pool, "GlobalAveragePool": lower_pool,
         "GlobalMaxPool": lower_pool, "Clip": lower_clip, "BatchNormalization": lower_batchnorm,
         "Transpose": lower_transpose, "Concat": lower_concat, "Pad": lower_pad,
         **{k: lower_activation for k in ACTIVATIONS}, **{k: lower_elementwise for k in ELEMENTWISE},
         **{k: lower_reshape for k in RESHAPES}}
SUPPORTED_OPS = sorted(set(LOWER) | ALIASES)


def lower(nodes, consts, shapes, where) -> list[Layer]:
    """Lower nodes in model order, folding BatchNormalization and bias Adds into the layer before them."""
    ctx = _Context(consts, shapes, where)
    consumers: dict[str, int] = {}
    for node in nodes:
        for i in node.input:
            consumers[i] = consumers.get(i, 0) + 1
    layers: list[Layer] = []
    by_output: dict[str, Layer] = {}
    for node in nodes:
        if node.domain not in ("", "ai.onnx", "ai.accelsim") or node.op_type not in LOWER | dict.fromkeys(ALIASES):
            ctx.fail(node, f"unsupported op {node.domain + ':' if node.domain else ''}{node.op_type}")
        if node.op_type in ALIASES:
            layers.append(ctx.layer(node, "identity", [node.input[0]]))
            by_output[node.output[0]] = layers[-1]
            continue
        prev = by_output.get(node.input[0]) if node.input else None
        if prev is not None and consumers.get(prev.output) == 1 and _fold_into(prev, node, ctx):
            del by_output[prev.output]
            prev.output = node.output[0]
            prev.out_shape = ctx.shape(node, node.output[0])
            by_output[prev.output] = prev
            continue
        layer = LOWER[node.op_type](node, ctx)
        layers.append(layer)
        by_output[layer.output] = layer
    return layers


def _fold_into(prev: Layer, node, ctx) -> bool:
    """Fold a per-channel affine step (BatchNormalization, or Mul/Add/Sub by a per-channel constant) into the
    conv/dense/affine layer before it, as hardware would: y = scale * prev(x) + shift."""
    if prev.op not in ("conv", "dense", "affine") or (prev.op == "dense" and len(prev.out_shape) != 2):
        return False
    channels = prev.out_shape[1]
    if node.op_type == "BatchNormalization":
        scale, shift = batchnorm_affine(node, ctx)
    elif node.op_type in ("Mul", "Add", "Sub") and len(node.input) == 2 and node.input[1] in ctx.consts:
        vec = _per_channel(ctx.consts[node.input[1]], prev.out_shape)
        if vec is None:
            return False
        ones, zeros = np.ones(channels), np.zeros(channels)
        scale, shift = {"Mul": (vec, zeros), "Add": (ones, vec), "Sub": (ones, -vec)}[node.op_type]
    else:
        return False
    if prev.op == "affine":
        prev.weights["scale"] = (prev.weights["scale"] * scale).astype(np.float32)
        prev.weights["shift"] = (prev.weights["shift"] * scale + shift).astype(np.float32)
        return True
    w = prev.weights["W"].astype(np.float64)
    prev.weights["W"] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
    prev.weights["B"] = (prev.weights.get("B", np.zeros(channels)).astype(np.float64) * scale + shift).astype(np.float32)
    return True


def _per_channel(const: np.ndarray, out_shape) -> np.ndarray | None:
    """``const`` as a vector over the channel axis (axis 1) of ``out_shape``, or None if it varies elsewhere."""
    if const.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - const.ndim) + const.shape
    if any(d != 1 for i, d in enumerate(full) if i != 1) or full[1] not in (1, out_shape[1]):
        return None
    return np.broadcast_to(const.reshape(-1).astype(np.float64), (out_shape[1],)).copy()


def resolve_aliases(layers: list[Layer], outputs: list[str]):
    """Remove identity layers, rewiring their consumers (and graph outputs) to the aliased tensor.

    A graph output produced by an identity keeps its name: the producer of the aliased tensor is renamed.
    """
    alias = {l.output: l.inputs[0] for l in layers if l.op == "identity"}

    def root(t):
        while t in alias:
            t = alias[t]
        return t

    kept = [l for l in layers if l.op != "identity"]
    rename = {root(o): o for o in outputs if o in alias}
    for l in kept:
        l.inputs = [rename.get(root(t), root(t)) for t in l.inputs]
        l.output = rename.get(l.output, l.output)
    return kept, [o if o in rename.values() else root(o) for o in outputs]
