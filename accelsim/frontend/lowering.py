"""Lower ONNX nodes (constants already folded, shapes known) to IR layers, one small function per op."""
from __future__ import annotations

from math import prod

import numpy as np
import onnx
from onnx import helper

from ..errors import AccelsimError
from ..ir import Absent, Layer, LoopBounds
from . import patterns

#: activation ops that carry over with their parameters: ONNX name -> (IR op, {attr: default})
ACTIVATIONS = {
    "Relu": ("relu", {}),
    "LeakyRelu": ("leakyrelu", {"alpha": 0.01}),
    "Sigmoid": ("sigmoid", {}),
    "Tanh": ("tanh", {}),
    "Softsign": ("softsign", {}),
    "Softmax": ("softmax", {"axis": -1}),
    "LogSoftmax": ("logsoftmax", {"axis": -1}),
    "LRN": ("lrn", {"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}),
    "Elu": ("elu", {"alpha": 1.0}),
    "Selu": ("selu", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}),
    "HardSigmoid": ("hardsigmoid", {"alpha": 0.2, "beta": 0.5}),
    "HardSwish": ("hardswish", {}),
    "Softplus": ("softplus", {}),
    "Gelu": ("gelu", {"approximate": "none"}),
    "Erf": ("erf", {}),
    "Abs": ("abs", {}),
    "Neg": ("neg", {}),
    "Exp": ("exp", {}),
    "Sqrt": ("sqrt", {}),
    "Reciprocal": ("reciprocal", {}),
    "Not": ("not", {}),
}
#: elementwise ops of several operands (broadcasting); any of them but one may be a constant
ELEMENTWISE = {"Add": "add", "Mul": "mul", "Sum": "sum", "Sub": "sub", "Div": "div", "PRelu": "prelu", "Pow": "pow",
               "Max": "max", "Min": "min", "Where": "where", "Equal": "equal", "Less": "less", "Greater": "greater",
               "LessOrEqual": "less_equal", "GreaterOrEqual": "greater_equal", "And": "and", "Or": "or", "Xor": "xor"}
REDUCTIONS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}
ALIASES = {"Identity", "Dropout"}  # outputs are their first input at inference time
RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}
#: ONNX element types a Cast may target: float ones keep the value (the IR computes in float32), integer ones
#: truncate toward zero, bool tests for non-zero
CAST_TO = {onnx.TensorProto.FLOAT: "float", onnx.TensorProto.DOUBLE: "float", onnx.TensorProto.FLOAT16: "float16",
           onnx.TensorProto.BOOL: "bool", **dict.fromkeys((onnx.TensorProto.INT8, onnx.TensorProto.INT16,
                                                          onnx.TensorProto.INT32, onnx.TensorProto.INT64,
                                                          onnx.TensorProto.UINT8, onnx.TensorProto.UINT16,
                                                          onnx.TensorProto.UINT32, onnx.TensorProto.UINT64), "int")}


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

    def layer(self, node, op, inputs=None, weights=None, attrs=None, bounds=None, output=None):
        inputs = [i for i in (inputs if inputs is not None else node.input) if i and i not in self.consts]
        output = output or node.output[0]
        return Layer(name=node.name or output, op=op, inputs=inputs, output=output,
                     in_shapes=[self.shape(node, i) for i in inputs], out_shape=self.shape(node, output),
                     weights=weights or {}, attrs=attrs or {}, bounds=bounds)


def attrs_of(node) -> dict:
    """An ONNX node's attributes by name, as Python values."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _f32(a: np.ndarray) -> np.ndarray:
    """``a`` as contiguous float32; a shape-only placeholder stays one (its values are never read)."""
    return a if isinstance(a, Absent) else np.ascontiguousarray(a, dtype=np.float32)


def _scaled(a: np.ndarray, factor) -> np.ndarray:
    """``a * factor`` in float64 (a placeholder stays one)."""
    if isinstance(a, Absent):
        return a
    return a * factor if np.ndim(factor) or factor != 1 else a


def _as_4d(shape) -> tuple[int, ...]:
    """An (N, C, L) shape as the (N, C, 1, L) a 2-D op sees; (N, C, H, W) unchanged."""
    return tuple(shape) if len(shape) == 4 else (shape[0], shape[1], 1, shape[2])


def _two(values, rank, default) -> tuple[int, int]:
    """A 1-D op's per-axis attribute as the 2-D one over a unit height: (default, value)."""
    values = list(values)
    return tuple(values) if rank == 2 else (default, values[0])


def _pads_2d(node, ctx, a, in_hw, kernel, stride, dilation, out_hw, rank):
    """(top, left, bottom, right) padding from explicit pads or auto_pad (a 1-D op: no padding of the unit height)."""
    auto = _text(a.get("auto_pad", b"NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        total = [max((o - 1) * s + (k - 1) * d + 1 - i, 0) for o, s, k, d, i in zip(out_hw, stride, kernel, dilation, in_hw)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
        return (begin[0], begin[1], end[0], end[1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    pads = list(a.get("pads", [0] * 2 * rank))
    if len(pads) != 2 * rank:
        ctx.fail(node, f"pads {pads} do not match a {rank}-D op")
    return tuple(pads) if rank == 2 else (0, pads[0], 0, pads[1])


def _spatial(node, ctx, a, kernel):
    """(input shape, output shape, kernel, stride, dilation, pads, rank) in 2-D terms: a 1-D op over (N, C, L)
    is the 2-D op over (N, C, 1, L)."""
    x = ctx.shape(node, node.input[0])
    y = ctx.shape(node, node.output[0])
    rank = len(x) - 2
    if rank not in (1, 2) or len(kernel) != rank:
        ctx.fail(node, f"only 1-D and 2-D (NCL, NCHW) ops are supported, got input shape {x}, kernel {tuple(kernel)}")
    kernel = _two(kernel, rank, 1)
    stride = _two(a.get("strides", [1] * rank), rank, 1)
    dilation = _two(a.get("dilations", [1] * rank), rank, 1)
    x, y = _as_4d(x), _as_4d(y)
    pads = _pads_2d(node, ctx, a, x[2:], kernel, stride, dilation, y[2:], rank)
    return x, y, kernel, stride, dilation, pads, rank


def _on_unit_height(layer: Layer) -> list[Layer]:
    """A 1-D layer as its 2-D twin over a unit height, between two free reshapes: (N, C, L) -> (N, C, 1, L) ->
    layer -> (N, K, 1, L') -> (N, K, L'). MACs and every count are the 1-D layer's."""
    src, dst = layer.inputs[0], layer.output
    wide_in, wide_out = f"{layer.name}:2d_in", f"{layer.name}:2d_out"
    before = Layer(f"{layer.name}:unsqueeze", "reshape", [src], wide_in, [layer.in_shapes[0]],
                   _as_4d(layer.in_shapes[0]), attrs={"unit_height": True})
    after = Layer(f"{layer.name}:squeeze", "reshape", [wide_out], dst, [_as_4d(layer.out_shape)], layer.out_shape,
                  attrs={"unit_height": True})
    layer.inputs, layer.in_shapes = [wide_in], [_as_4d(layer.in_shapes[0])]
    layer.output, layer.out_shape = wide_out, _as_4d(layer.out_shape)
    return [before, layer, after]


def lower_conv(node, ctx):
    a = attrs_of(node)
    w = ctx.const(node, 1, "weight")
    if w.ndim not in (3, 4):
        ctx.fail(node, f"only 1-D and 2-D convolutions are supported (weight shape {w.shape})")
    x, y, kernel, stride, dilation, pads, rank = _spatial(node, ctx, a, w.shape[2:])
    b = ctx.optional_const(node, 2)
    weights = {"W": _f32(w.reshape(w.shape[0], w.shape[1], *kernel))}
    if b is not None:
        weights["B"] = _f32(b)
    bounds = LoopBounds(N=y[0], K=y[1], C=x[1], P=y[2], Q=y[3], R=kernel[0], S=kernel[1], stride=stride,
                        dilation=dilation, pads=pads, groups=a.get("group", 1))
    layer = ctx.layer(node, "conv", [node.input[0]], weights, bounds=bounds)
    return _on_unit_height(layer) if rank == 1 else layer


def _dense(node, ctx, w_out_in, bias):
    x = ctx.shape(node, node.input[0])
    y = ctx.shape(node, node.output[0])
    weights = {"W": _f32(w_out_in)}
    if bias is not None:
        weights["B"] = _f32(np.broadcast_to(bias, (w_out_in.shape[0],)))
    bounds = LoopBounds(N=prod(y[:-1]), K=y[-1], C=x[-1], P=1, Q=1)
    return ctx.layer(node, "dense", [node.input[0]], weights, bounds=bounds)


def _matmul(node, ctx, trans_a=0, trans_b=0, alpha=1.0, beta=1.0):
    """A product of two activations (batched over the leading axes): a MAC layer whose W operand is the second
    one. Batches of distinct second operands are the nest's groups (each its own W); a shared 2-D one is a W
    for every row."""
    a_shape, b_shape = ctx.shape(node, node.input[0]), ctx.shape(node, node.input[1])
    y = ctx.shape(node, node.output[0])
    if len(a_shape) < 2 or len(b_shape) < 2:
        ctx.fail(node, f"a product of 1-D operands is not supported (shapes {a_shape}, {b_shape})")
    red = a_shape[-2] if trans_a else a_shape[-1]
    if len(b_shape) == 2:
        bounds = LoopBounds(N=prod(y[:-1]), K=y[-1], C=red, P=1, Q=1)
    else:
        g = prod(y[:-2])
        bounds = LoopBounds(N=y[-2], K=g * y[-1], C=g * red, P=1, Q=1, groups=g)
    weights, inputs = {}, list(node.input[:2])
    c = node.input[2] if len(node.input) > 2 else ""
    if c in ctx.consts:
        weights["B"] = _f32(np.asarray(ctx.consts[c], np.float64) * beta)
    elif c:
        inputs.append(c)
    attrs = {"trans_a": int(trans_a), "trans_b": int(trans_b), "alpha": float(alpha), "beta": float(beta)}
    return ctx.layer(node, "matmul", inputs, weights, attrs, bounds=bounds)


def lower_gemm(node, ctx):
    a = attrs_of(node)
    if node.input[0] in ctx.consts:
        ctx.fail(node, "a constant operand A times an activation B is not supported")
    if node.input[1] not in ctx.consts:
        return _matmul(node, ctx, a.get("transA", 0), a.get("transB", 0), a.get("alpha", 1.0), a.get("beta", 1.0))
    if a.get("transA", 0):
        ctx.fail(node, "transA=1 is not supported with a weight B (activations must be rows)")
    w = ctx.const(node, 1, "weight B")
    w = w if a.get("transB", 0) else w.T
    c = ctx.optional_const(node, 2)
    if c is None and len(node.input) > 2 and node.input[2]:
        ctx.fail(node, "an activation C with a weight B is not supported")
    if c is not None and c.size not in (1, w.shape[0]):
        ctx.fail(node, f"bias C of shape {c.shape} is not per output feature")
    bias = None if c is None else c.reshape(-1) * a.get("beta", 1.0)
    return _dense(node, ctx, _scaled(w, a.get("alpha", 1.0)), bias)


def lower_matmul(node, ctx):
    if node.input[0] in ctx.consts:
        ctx.fail(node, "a constant first operand times an activation is not supported")
    if node.input[1] not in ctx.consts:
        return _matmul(node, ctx)
    w = ctx.consts[node.input[1]]
    if w.ndim != 2:
        ctx.fail(node, f"weight of rank {w.ndim} is not supported")
    return _dense(node, ctx, w.T, None)


def lower_sam(node, ctx):
    wp = ctx.const(node, 1, "W_plus")
    wm = ctx.const(node, 2, "W_minus")
    if wp.shape != wm.shape or wp.ndim != 2:
        ctx.fail(node, f"W_plus {wp.shape} and W_minus {wm.shape} must both be n×m")
    weights = {"W_plus": _f32(wp), "W_minus": _f32(wm)}
    b = ctx.optional_const(node, 3)
    if b is not None:
        weights["B"] = _f32(b)
    y = ctx.shape(node, node.output[0])
    bounds = LoopBounds(N=prod(y[:-1]), K=wp.shape[1], C=wp.shape[0], P=1, Q=1)
    return ctx.layer(node, "sam_dense", [node.input[0]], weights, bounds=bounds)


def lower_pool(node, ctx):
    a = attrs_of(node)
    op = "maxpool" if "Max" in node.op_type else "avgpool"
    if node.op_type.startswith("Global"):
        x = ctx.shape(node, node.input[0])
        if len(x) not in (3, 4):
            ctx.fail(node, f"only 1-D and 2-D (NCL, NCHW) ops are supported, got input shape {x}")
        rank, kernel, stride, dilation, pads, ceil = len(x) - 2, _as_4d(x)[2:], (1, 1), (1, 1), (0, 0, 0, 0), 0
    else:
        if len(node.output) > 1 and node.output[1]:
            ctx.fail(node, "the Indices output of MaxPool is not supported")
        _, _, kernel, stride, dilation, pads, rank = _spatial(node, ctx, a, a["kernel_shape"])
        if dilation != (1, 1) and op == "avgpool":
            ctx.fail(node, "dilated average pooling is not supported")
        ceil = a.get("ceil_mode", 0)
    attrs = {"kernel": kernel, "stride": stride, "dilation": dilation, "pads": pads, "ceil_mode": ceil,
             "count_include_pad": a.get("count_include_pad", 0)}
    layer = ctx.layer(node, op, [node.input[0]], attrs=attrs)
    return _on_unit_height(layer) if rank == 1 else layer


def lower_activation(node, ctx):
    op, defaults = ACTIVATIONS[node.op_type]
    a = attrs_of(node)
    return ctx.layer(node, op, [node.input[0]], attrs={k: _text(a.get(k, v)) for k, v in defaults.items()})


def lower_clip(node, ctx):
    lo, hi = ctx.optional_const(node, 1), ctx.optional_const(node, 2)
    attrs = {"min": -np.inf if lo is None else float(lo), "max": np.inf if hi is None else float(hi)}
    if attrs["min"] == 0 and attrs["max"] == np.inf:
        return ctx.layer(node, "relu", [node.input[0]])
    return ctx.layer(node, "clip", [node.input[0]], attrs=attrs)


def _constants(node, ctx) -> dict[str, np.ndarray]:
    """The node's constant operands as ``{"const<position>": float32 array}``."""
    return {f"const{i}": _f32(ctx.consts[name]) for i, name in enumerate(node.input) if name in ctx.consts}


def lower_elementwise(node, ctx):
    op = ELEMENTWISE[node.op_type]
    weights = _constants(node, ctx)
    x = ctx.shape(node, node.input[0])
    slope = weights.get("const1")
    if op == "prelu" and slope is not None and slope.ndim == 1 and len(x) > 2 and slope.size == x[1]:
        weights["const1"] = slope.reshape((-1,) + (1,) * (len(x) - 2))  # opset < 7: slope per channel
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


def lower_layernorm(node, ctx):
    """LayerNormalization over the axes from ``axis`` on: (x - mean) / sqrt(var + epsilon) · scale + bias."""
    a = attrs_of(node)
    if any(node.output[1:]):
        ctx.fail(node, "the Mean and InvStdDev outputs are not supported")
    x = ctx.shape(node, node.input[0])
    axis = a.get("axis", -1) % len(x)
    normalized = x[axis:]
    scale = ctx.const(node, 1, "scale")
    bias = ctx.optional_const(node, 2)
    weights = {"scale": _f32(np.broadcast_to(scale, normalized)),
               "shift": _f32(np.broadcast_to(0.0 if bias is None else bias, normalized))}
    return ctx.layer(node, "layernorm", [node.input[0]], weights,
                     attrs={"axis": axis, "epsilon": float(a.get("epsilon", 1e-5))})


def lower_reduce(node, ctx):
    a = attrs_of(node)
    rank = len(ctx.shape(node, node.input[0]))
    axes = ctx.optional_const(node, 1)
    axes = a.get("axes") if axes is None else axes.tolist()
    if axes is None or len(axes) == 0:
        if a.get("noop_with_empty_axes", 0):
            return ctx.layer(node, "identity", [node.input[0]])
        axes = range(rank)
    axes = tuple(sorted(int(ax) % rank for ax in axes))
    if 0 in axes:
        ctx.fail(node, "reducing over the batch axis is not supported")
    return ctx.layer(node, "reduce", [node.input[0]], attrs={"kind": REDUCTIONS[node.op_type], "axes": axes,
                                                             "keepdims": bool(a.get("keepdims", 1))})


def lower_cast(node, ctx):
    to = attrs_of(node)["to"]
    if to not in CAST_TO:
        ctx.fail(node, f"a cast to {onnx.TensorProto.DataType.Name(to)} is not supported")
    if CAST_TO[to] == "float":
        return ctx.layer(node, "identity", [node.input[0]])
    return ctx.layer(node, "cast", [node.input[0]], attrs={"to": CAST_TO[to]})


def lower_reshape(node, ctx):
    return ctx.layer(node, "reshape", [node.input[0]])


def lower_transpose(node, ctx):
    x = ctx.shape(node, node.input[0])
    perm = tuple(attrs_of(node).get("perm", range(len(x))[::-1]))
    return ctx.layer(node, "transpose", [node.input[0]], attrs={"perm": perm})


def lower_concat(node, ctx):
    rank = len(ctx.shape(node, node.output[0]))
    return ctx.layer(node, "concat", weights=_constants(node, ctx), attrs={"axis": attrs_of(node)["axis"] % rank})


def _slice_layer(node, ctx, output, spans):
    """A layer taking ``spans`` = {axis: (start, stop, step)} (Python's normalised slices) of the node's input."""
    if 0 in spans:
        ctx.fail(node, "slicing the batch axis is not supported")
    return ctx.layer(node, "slice", [node.input[0]], attrs={"spans": tuple(sorted(spans.items()))}, output=output)


def lower_slice(node, ctx):
    x = ctx.shape(node, node.input[0])
    starts, ends = ctx.const(node, 1, "starts"), ctx.const(node, 2, "ends")
    axes = ctx.optional_const(node, 3)
    steps = ctx.optional_const(node, 4)
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    spans = {}
    for ax, start, end, step in zip(axes, starts, ends, steps):
        ax = int(ax) % len(x)
        big = 1 << 62  # ONNX's INT_MAX/INT_MIN ends: to the end (or the start) of the axis
        span = slice(int(np.clip(start, -big, big)), int(np.clip(end, -big, big)), int(step)).indices(x[ax])
        if span != (0, x[ax], 1):
            spans[ax] = span
    return _slice_layer(node, ctx, node.output[0], spans)


def lower_split(node, ctx):
    """Split as one slice layer per output."""
    a = attrs_of(node)
    x = ctx.shape(node, node.input[0])
    axis = a.get("axis", 0) % len(x)
    sizes = ctx.optional_const(node, 1)
    sizes = a.get("split") if sizes is None else sizes.tolist()
    if sizes is None:
        sizes = [ctx.shape(node, o)[axis] for o in node.output]
    layers, start = [], 0
    for out, size in zip(node.output, sizes):
        if out:
            layers.append(_slice_layer(node, ctx, out, {axis: (start, start + int(size), 1)}))
            layers[-1].name = f"{node.name or node.output[0]}:{out}"
        start += int(size)
    return layers


def lower_gather(node, ctx):
    """Gather by constant indices (a layout op), or from a constant table by activation indices (an embedding)."""
    a = attrs_of(node)
    data, indices = node.input[:2]
    rank = len(ctx.shape(node, data))
    axis = a.get("axis", 0) % rank
    if indices in ctx.consts:
        if axis == 0:
            ctx.fail(node, "gathering along the batch axis is not supported")
        idx = np.asarray(ctx.consts[indices], np.int64)
        idx = np.where(idx < 0, idx + ctx.shape(node, data)[axis], idx)
        return ctx.layer(node, "gather", [data], attrs={"axis": axis, "indices": idx})
    if data in ctx.consts:
        return ctx.layer(node, "embedding", [indices], {"table": _f32(ctx.consts[data])}, attrs={"axis": axis})
    ctx.fail(node, "gathering activations by activation indices is not supported")


def lower_expand(node, ctx):
    return ctx.layer(node, "expand", [node.input[0]])


def lower_pad(node, ctx):
    a = attrs_of(node)
    mode = _text(a.get("mode", b"constant"))
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
         "LayerNormalization": lower_layernorm, "Transpose": lower_transpose, "Concat": lower_concat,
         "Pad": lower_pad, "Slice": lower_slice, "Split": lower_split, "Gather": lower_gather, "Expand": lower_expand,
         "Cast": lower_cast, **{k: lower_reduce for k in REDUCTIONS},
         **{k: lower_activation for k in ACTIVATIONS}, **{k: lower_elementwise for k in ELEMENTWISE},
         **{k: lower_reshape for k in RESHAPES}}
SUPPORTED_OPS = sorted(set(LOWER) | ALIASES)


def lower(nodes, consts, shapes, where, outputs=()) -> list[Layer]:
    """Lower nodes in model order: decomposed LayerNorm / GELU become one node each, BatchNormalization and
    bias Adds fold into the layer before them, a scalar scale into the product before it."""
    ctx = _Context(consts, shapes, where)
    nodes = patterns.fuse(nodes, consts, shapes, outputs)
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
        prev = by_output.get(_activation_input(node, ctx))
        target = prev
        if prev is not None and prev.attrs.get("unit_height") and prev.inputs[0] in by_output:
            target = by_output[prev.inputs[0]]  # a 1-D layer's 2-D twin, behind its reshape
        if prev is not None and consumers.get(prev.output) == 1 and _fold_into(target, node, ctx, prev.out_shape):
            del by_output[prev.output]
            prev.output = node.output[0]
            prev.out_shape = ctx.shape(node, node.output[0])
            by_output[prev.output] = prev
            continue
        lowered = LOWER[node.op_type](node, ctx)
        for layer in lowered if isinstance(lowered, list) else [lowered]:
            layers.append(layer)
            by_output[layer.output] = layer
    return layers


def _activation_input(node, ctx) -> str | None:
    """The input a fold looks behind: the first, or the activation of a commutative op whose constant comes first
    (PyTorch exports a Linear's bias as Add(bias, MatMul(x, W)))."""
    if node.op_type in ("Add", "Mul") and len(node.input) == 2 and node.input[0] in ctx.consts:
        return node.input[1]
    return node.input[0] if node.input else None


def _fold_into(prev: Layer, node, ctx, shape) -> bool:
    """Fold what hardware applies on a layer's way out into it: a per-channel affine step (BatchNormalization,
    or Mul/Add/Sub by a per-channel constant) into a conv/dense/affine layer (y = scale * prev(x) + shift), or a
    scalar Mul/Div into a matmul's alpha. ``shape`` is the shape ``node`` sees (prev's output, maybe reshaped)."""
    ins = list(node.input)
    if node.op_type in ("Add", "Mul") and len(ins) == 2 and ins[0] in ctx.consts:
        ins.reverse()
    const = ctx.consts.get(ins[1]) if len(ins) == 2 and ins[0] not in ctx.consts else None
    if prev.op == "matmul":
        if node.op_type not in ("Mul", "Div") or const is None or np.size(const) != 1:
            return False
        c = float(np.asarray(const).reshape(()))
        prev.attrs["alpha"] *= c if node.op_type == "Mul" else 1.0 / c
        return True
    if prev.op not in ("conv", "dense", "affine"):
        return False
    axis = len(shape) - 1 if prev.op == "dense" else 1  # dense layers' features are the last axis
    channels = shape[axis]
    if node.op_type == "BatchNormalization" and axis == 1:
        scale, shift = batchnorm_affine(node, ctx)
    elif node.op_type in ("Mul", "Add", "Sub") and const is not None:
        vec = _per_channel(const, shape, axis)
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
    w = prev.weights["W"]
    prev.weights["W"] = _f32(_scaled(w, scale.reshape((-1,) + (1,) * (w.ndim - 1))))
    prev.weights["B"] = (prev.weights.get("B", np.zeros(channels)).astype(np.float64) * scale + shift).astype(np.float32)
    return True


def _per_channel(const: np.ndarray, out_shape, axis: int) -> np.ndarray | None:
    """``const`` as a vector over ``axis`` of ``out_shape``, or None if it varies along another axis."""
    if const.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - const.ndim) + const.shape
    if any(d != 1 for i, d in enumerate(full) if i != axis) or full[axis] not in (1, out_shape[axis]):
        return None
    return np.broadcast_to(const.reshape(-1).astype(np.float64), (out_shape[axis],)).copy()


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
