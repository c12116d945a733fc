"""Float32 reference execution of the layer IR with numpy (checked against onnxruntime in the tests).

``OPS[op](layer, inputs)`` computes one layer on batch-first arrays; the batch may differ from the one
the IR was built for. Convolution is im2col + one GEMM per group (BLAS); pooling takes the max/sum over
the kernel taps' strided views.
"""
from __future__ import annotations

from dataclasses import replace
import functools
from typing import Callable

import numpy as np

from .. import threads
from ..errors import AccelsimError
from ..ir import Layer, Network
from ..kernels import kept_columns, maxpool2d


def im2col(x: np.ndarray, b) -> np.ndarray:
    """(N, G, P·Q, R·S·Cg): for each output pixel the input patch its filters see, channels innermost
    (gathered from a channels-last copy of the input, so the copy reads memory in order)."""
    pt, pl, pb, pr = b.pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))) if any(b.pads) else x
    nhwc = np.ascontiguousarray(xp.transpose(0, 2, 3, 1))
    sh, sw = b.stride
    dh, dw = b.dilation
    n, g = x.shape[0], b.groups
    win = np.lib.stride_tricks.sliding_window_view(nhwc, ((b.R - 1) * dh + 1, (b.S - 1) * dw + 1), axis=(1, 2))
    win = win[:, ::sh, ::sw, :, ::dh, ::dw][:, :b.P, :b.Q]  # (N, P, Q, C, R, S)
    cols = win.reshape(n, b.P, b.Q, g, b.C // g, b.R, b.S).transpose(0, 3, 1, 2, 5, 6, 4)
    return cols.reshape(n, g, b.P * b.Q, b.R * b.S * (b.C // g))


def conv_weights(w: np.ndarray, groups: int) -> np.ndarray:
    """(G, R·S·Cg, Kg): the weights in im2col's column order."""
    k = w.shape[0]
    return w.reshape(groups, k // groups, *w.shape[1:]).transpose(0, 3, 4, 2, 1).reshape(groups, -1, k // groups)


def conv(layer: Layer, inputs):
    """out[n,k,p,q] = Σ_{c,r,s} x[n, g·Cg + c, p·sh + r·dh − pt, q·sw + s·dw − pl] · W[k, c, r, s] + B[k]."""
    x, = inputs
    b, w = layer.bounds, layer.weights["W"]
    n = x.shape[0]
    wg = conv_weights(w, b.groups).astype(np.result_type(x, w))
    with threads.blas_for(b.macs // b.N * n):
        out = np.matmul(im2col(x, b), wg)  # (N, G, P·Q, Kg); float64 in -> exact float64 sums
    out = out.transpose(0, 1, 3, 2).reshape(n, b.K, b.P, b.Q)
    if "B" in layer.weights:
        out = out + layer.weights["B"].reshape(1, -1, 1, 1)
    return out


def dense(layer: Layer, inputs):
    """x · Wᵀ + B over the last axis; leading axes (batch, tokens) are rows of one GEMM."""
    x, = inputs
    w = layer.weights["W"]
    with threads.blas_for(x.size * w.shape[0]):
        out = (x.reshape(-1, x.shape[-1]) @ w.T).reshape(*x.shape[:-1], w.shape[0])
    return out + layer.weights["B"] if "B" in layer.weights else out


def sam_dense(layer: Layer, inputs, rounded=None):
    """Seed 001 eq. (5): o_j = max_i(x_i + W+_ij) + min_i(x_i + W−_ij); pruned entries are ±inf, and an output
    whose W+ or W− column is pruned entirely is a removed neuron: 0. ``rounded`` (optional) maps each sum
    x_i + W_ij to what the hardware holds, e.g. a format's quantize."""
    x, = inputs
    wp, wm = layer.weights["W_plus"], layer.weights["W_minus"]
    with np.errstate(invalid="ignore"):  # a removed neuron's -inf + inf, replaced next
        out = max_plus(x, wp, np.maximum, rounded) + max_plus(x, wm, np.minimum, rounded)
    out[:, ~(np.isfinite(wp).any(axis=0) & np.isfinite(wm).any(axis=0))] = 0.0
    return out + layer.weights["B"] if "B" in layer.weights else out


def max_plus(x, w, reduce, rounded=None, chunk_elements=1 << 24):
    """reduce_i(x[n, i] + w[i, j]) for reduce = np.maximum or np.minimum, over w's finite (unpruned) entries only:
    a pruned SAM layer is a sparse one, so only its kept parameters are visited (one gather, one reduceat)."""
    x = x.reshape(-1, x.shape[-1])
    rows, cols, indptr = kept_columns(w)
    out = np.full((x.shape[0], w.shape[1]), np.inf if reduce is np.minimum else -np.inf, np.result_type(x, w))
    if rows.size == 0:
        return out
    present = np.flatnonzero(np.diff(indptr))  # columns with a kept entry; reduceat needs non-empty groups
    starts = indptr[present]
    step = max(1, chunk_elements // rows.size)  # bound the (batch, kept) temporary
    for n0 in range(0, x.shape[0], step):
        sums = x[n0:n0 + step, rows] + w[rows, cols]
        if rounded is not None:
            sums = rounded(sums)
        out[n0:n0 + step, present] = reduce.reduceat(sums, starts, axis=1)
    return out


def pool_windows(x: np.ndarray, layer: Layer, fill: float):
    """Yield the strided views of each kernel tap; padding (and ceil-mode overhang) is filled with ``fill``."""
    kh, kw = layer.attrs["kernel"]
    sh, sw = layer.attrs["stride"]
    dh, dw = layer.attrs.get("dilation", (1, 1))
    pt, pl, pb, pr = layer.attrs["pads"]
    P, Q = layer.out_shape[2:]
    extra_h = max((P - 1) * sh + (kh - 1) * dh + 1 - (x.shape[2] + pt + pb), 0)
    extra_w = max((Q - 1) * sw + (kw - 1) * dw + 1 - (x.shape[3] + pl + pr), 0)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb + extra_h), (pl, pr + extra_w)), constant_values=fill)
    for r in range(kh):
        for s in range(kw):
            yield xp[:, :, r * dh: r * dh + (P - 1) * sh + 1: sh, s * dw: s * dw + (Q - 1) * sw + 1: sw]


def maxpool(layer: Layer, inputs, finite: bool = False):
    """Max over each window (NaN propagates); ``finite``: the caller knows the input has no NaN."""
    x, = inputs
    a = layer.attrs
    if a.get("dilation", (1, 1)) != (1, 1):
        return np.maximum.reduce(list(pool_windows(x, layer, -np.inf)))
    return maxpool2d(x, a["kernel"], a["stride"], a["pads"], layer.out_shape[2:], finite)


def avgpool(layer: Layer, inputs):
    """Average over the window; explicit pads count only with count_include_pad, ceil overhang never does."""
    x, = inputs
    total = np.add.reduce(list(pool_windows(x, layer, 0.0)))
    ones = np.ones((1, 1) + x.shape[2:], dtype=np.float32)
    if layer.attrs.get("count_include_pad"):
        pt, pl, pb, pr = layer.attrs["pads"]
        ones = np.pad(ones, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=1.0)
        layer = _without_pads(layer)
    count = np.add.reduce(list(pool_windows(ones, layer, 0.0)))
    return (total / count).astype(np.float32)


def _without_pads(layer: Layer) -> Layer:
    return replace(layer, attrs={**layer.attrs, "pads": (0, 0, 0, 0)})


def lrn(layer: Layer, inputs):
    """ONNX LRN: x / (bias + alpha/size · Σ_{nearby channels} x²)^beta."""
    x, = inputs
    a = layer.attrs
    size = a["size"]
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), ((size - 1) // 2, size // 2), (0, 0), (0, 0)))
    window = sum(sq[:, i: i + x.shape[1]] for i in range(size))
    return (x / (a["bias"] + a["alpha"] / size * window) ** a["beta"]).astype(np.float32)


def softmax(layer: Layer, inputs):
    x, = inputs
    e = np.exp(x - x.max(axis=layer.attrs["axis"], keepdims=True))
    return e / e.sum(axis=layer.attrs["axis"], keepdims=True)


def logsoftmax(layer: Layer, inputs):
    x, = inputs
    shifted = x - x.max(axis=layer.attrs["axis"], keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=layer.attrs["axis"], keepdims=True))


def layernorm(layer: Layer, inputs):
    """ONNX LayerNormalization: (x - mean) / sqrt(var + epsilon) · scale + bias over the axes from ``axis`` on."""
    x, = inputs
    axes = tuple(range(layer.attrs["axis"], x.ndim))
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=axes, keepdims=True)
    var = np.mean(centred * centred, axis=axes, keepdims=True)
    y = centred / np.sqrt(var + layer.attrs["epsilon"]) * layer.weights["scale"] + layer.weights["shift"]
    return y.astype(np.float32)


def erf(x):
    from scipy.special import erf as _erf  # scipy comes with scikit-learn
    return _erf(x)


def gelu(layer: Layer, inputs):
    """GELU as ONNX defines it: x · Φ(x) with the exact normal CDF, or its tanh approximation."""
    x = inputs[0].astype(np.float64)
    if layer.attrs.get("approximate", "none") == "tanh":
        return (0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))).astype(np.float32)
    return (0.5 * x * (1 + erf(x / np.sqrt(2)))).astype(np.float32)


def matmul_product(layer: Layer, a, b):
    """The product of a matmul layer's two operands (transposed as its attributes say), batched over leading axes."""
    if layer.attrs.get("trans_a"):
        a = np.swapaxes(a, -1, -2)
    if layer.attrs.get("trans_b"):
        b = np.swapaxes(b, -1, -2)
    rows, cols = (a.shape[-2] if a.ndim > 1 else 1), (b.shape[-1] if b.ndim > 1 else 1)
    batch = int(np.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])))
    with threads.blas_for(batch * rows * a.shape[-1] * cols):
        return np.matmul(a, b)


def matmul_epilogue(layer: Layer, product, inputs):
    """alpha · product + beta · C (a constant C is ``weights["B"]``, beta applied; an activation C is input 2)."""
    y = product * layer.attrs["alpha"] if layer.attrs.get("alpha", 1.0) != 1.0 else product
    if "B" in layer.weights:
        y = y + layer.weights["B"]
    if len(inputs) > 2:
        y = y + layer.attrs.get("beta", 1.0) * inputs[2]
    return y.astype(np.float32)


def matmul(layer: Layer, inputs):
    return matmul_epilogue(layer, matmul_product(layer, inputs[0], inputs[1]), inputs)


def operands(layer: Layer, inputs) -> list:
    """The operands in the node's order: constants (``weights["const<i>"]``) where they were, activations between."""
    acts = iter(inputs)
    n = len(inputs) + sum(k.startswith("const") for k in layer.weights)
    return [layer.weights[f"const{i}"] if f"const{i}" in layer.weights else next(acts) for i in range(n)]


def _elementwise(fn):
    """An elementwise op of the layer's operands (constants in place), as float32 (comparisons give 0 / 1)."""
    def apply(layer: Layer, inputs):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf and NaN as ONNX gives them
            return np.asarray(fn(*operands(layer, inputs))).astype(np.float32)
    return apply


def _boolean(fn):
    return _elementwise(lambda *xs: fn(*(np.asarray(x) != 0 for x in xs)))


def _variadic(fn):
    return _elementwise(lambda *xs: functools.reduce(fn, xs))


def concat(layer: Layer, inputs):
    """Concatenate along ``axis``; a constant part (made for the IR's batch of one) is repeated over the batch."""
    parts, n = operands(layer, inputs), inputs[0].shape[0]
    if layer.attrs["axis"] != 0:
        parts = [np.broadcast_to(p, (n,) + p.shape[1:]) if p.shape[0] != n else p for p in parts]
    return np.concatenate(parts, axis=layer.attrs["axis"])


def slice_(layer: Layer, inputs):
    x, = inputs
    index = [slice(None)] * x.ndim
    for axis, (start, stop, step) in layer.attrs["spans"]:
        index[axis] = slice(start, None if stop < 0 else stop, step)
    return x[tuple(index)]


def expand(layer: Layer, inputs):
    """Broadcast to the output shape (the caller's batch where the IR's batch is kept)."""
    x, = inputs
    shape = layer.out_shape
    if layer.in_shapes[0][0] == shape[0]:
        shape = (x.shape[0],) + tuple(shape[1:])
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, shape)).copy()


def reduce_(layer: Layer, inputs):
    x, = inputs
    a = layer.attrs
    fn = {"mean": np.mean, "sum": np.sum, "max": np.max, "min": np.min}[a["kind"]]
    wide = x.astype(np.float64) if a["kind"] in ("mean", "sum") else x
    return fn(wide, axis=a["axes"], keepdims=a["keepdims"]).astype(np.float32)


def cast(layer: Layer, inputs):
    x, = inputs
    to = layer.attrs["to"]
    if to == "bool":
        return (x != 0).astype(np.float32)
    if to == "int":
        return np.trunc(x)
    return x.astype(np.float16).astype(np.float32)  # float16


def reshape(layer: Layer, inputs):
    """Reshape to the IR's output shape, keeping the caller's batch when the layer keeps the batch dimension."""
    x, = inputs
    shape = layer.out_shape
    if layer.in_shapes[0][:1] == shape[:1]:
        shape = (x.shape[0],) + tuple(shape[1:])
    return x.reshape(shape)


OPS: dict[str, Callable] = {
    "conv": conv,
    "dense": dense,
    "sam_dense": sam_dense,
    "maxpool": maxpool,
    "avgpool": avgpool,
    "lrn": lrn,
    "softmax": softmax,
    "logsoftmax": logsoftmax,
    "layernorm": layernorm,
    "gelu": gelu,
    "erf": lambda l, i: erf(i[0]).astype(np.float32),
    "not": lambda l, i: (i[0] == 0).astype(np.float32),
    "matmul": matmul,
    "affine": lambda l, i: (i[0] * l.weights["scale"].reshape(1, -1, *([1] * (i[0].ndim - 2)))
                            + l.weights["shift"].reshape(1, -1, *([1] * (i[0].ndim - 2)))).astype(np.float32),
    "relu": lambda l, i: np.maximum(i[0], 0),
    "leakyrelu": lambda l, i: np.where(i[0] >= 0, i[0], i[0] * np.float32(l.attrs["alpha"])),
    "clip": lambda l, i: np.clip(i[0], l.attrs["min"], l.attrs["max"]),
    "sigmoid": lambda l, i: (1 / (1 + np.exp(-i[0]))).astype(np.float32),
    "tanh": lambda l, i: np.tanh(i[0]),
    "softsign": lambda l, i: i[0] / (1 + np.abs(i[0])),
    "elu": lambda l, i: np.where(i[0] > 0, i[0], l.attrs["alpha"] * np.expm1(i[0])).astype(np.float32),
    "selu": lambda l, i: (l.attrs["gamma"] * np.where(i[0] > 0, i[0], l.attrs["alpha"] * np.expm1(i[0])))
    .astype(np.float32),
    "hardsigmoid": lambda l, i: np.clip(l.attrs["alpha"] * i[0] + l.attrs["beta"], 0, 1).astype(np.float32),
    "hardswish": lambda l, i: i[0] * np.clip(i[0] / 6 + 0.5, 0, 1),
    "softplus": lambda l, i: np.logaddexp(i[0], 0).astype(np.float32),
    "abs": lambda l, i: np.abs(i[0]),
    "neg": lambda l, i: -i[0],
    "exp": lambda l, i: np.exp(i[0]),
    "sqrt": _elementwise(np.sqrt),  # a negative input gives NaN, as in ONNX (quietly)
    "reciprocal": _elementwise(np.reciprocal),
    "add": _elementwise(np.add),
    "sub": _elementwise(np.subtract),
    "mul": _elementwise(np.multiply),
    "div": _elementwise(np.divide),
    "pow": _elementwise(np.power),
    "prelu": _elementwise(lambda x, slope: np.where(x >= 0, x, x * slope)),
    "where": _elementwise(lambda cond, x, y: np.where(cond != 0, x, y)),
    "equal": _elementwise(np.equal),
    "less": _elementwise(np.less),
    "greater": _elementwise(np.greater),
    "less_equal": _elementwise(np.less_equal),
    "greater_equal": _elementwise(np.greater_equal),
    "and": _boolean(np.logical_and),
    "or": _boolean(np.logical_or),
    "xor": _boolean(np.logical_xor),
    "sum": _variadic(np.add),
    "max": _variadic(np.maximum),
    "min": _variadic(np.minimum),
    "concat": concat,
    "slice": slice_,
    "gather": lambda l, i: np.take(i[0], l.attrs["indices"], axis=l.attrs["axis"]),
    "embedding": lambda l, i: np.take(l.weights["table"], i[0].astype(np.int64), axis=l.attrs["axis"]),
    "expand": expand,
    "reduce": reduce_,
    "cast": cast,
    "reshape": reshape,
    "transpose": lambda l, i: np.transpose(i[0], l.attrs["perm"]),
    "pad": lambda l, i: np.pad(i[0], l.attrs["pad_width"], mode=l.attrs["mode"],
                               **({"constant_values": l.attrs["value"]} if l.attrs["mode"] == "constant" else {})),
}

MacExecutor = Callable[[Layer, list], "np.ndarray | None"]


def run(net: Network, x, mac_executor: MacExecutor | None = None, keep: bool = False):
    """Execute ``net`` on ``x`` (an array for the single input, or {input name: array}).

    ``mac_executor(layer, inputs)`` may replace any layer's arithmetic (e.g. a quantized kernel);
    returning None falls back to the float reference. An executor with ``fuses`` (ops, e.g. ("relu", "maxpool"))
    is called with ``then=(layers)`` for a MAC layer followed by such layers, in that order, each the only reader
    of the one before, whose outputs are not graph outputs (not with ``keep``); it then returns the last one's
    output, which those layers pass on (no passes of theirs over the tensors). Returns the output array (a dict
    when the net has several outputs), or every tensor when ``keep`` is true.
    """
    if net.meta.get("weights") is False:
        raise AccelsimError(f"{net.source or net.name}: loaded without weights (shapes only, for the timing path); "
                            f"load it with weights to execute it")
    env = _bind_inputs(net, x)
    fed = list(env.values())  # the caller's arrays (np.asarray does not copy float32 ones)
    live, layers = _last_use(net), net.layers
    chains = {} if keep or mac_executor is None else _chains(layers, net.outputs, getattr(mac_executor, "fuses", ()))
    applied = set()  # layers the executor already applied after the MAC layer before them
    for i, layer in enumerate(layers):
        args = [env[t] for t in layer.inputs]
        if i in applied:
            y = args[0]
        elif i in chains:
            y = mac_executor(layer, args, then=tuple(layers[j] for j in chains[i]))
            if y is not None:
                applied.update(chains[i])
        else:
            y = mac_executor(layer, args) if mac_executor is not None else None
        if y is None:
            reuse = not keep and layer.op in IN_PLACE and _dead_after(net, env, fed, live, layer.inputs[0], i)
            y = (IN_PLACE if reuse else OPS)[layer.op](layer, args)
        env[layer.output] = y
        if not keep:
            for t in layer.inputs:
                if live.get(t) == i and t not in net.outputs:
                    del env[t]
    if keep:
        return env
    outs = {o: env[o] for o in net.outputs}
    return outs[net.outputs[0]] if len(outs) == 1 else outs


def _bind_inputs(net: Network, x) -> dict:
    feeds = x if isinstance(x, dict) else {next(iter(net.inputs)): x}
    env = {}
    for name, shape in net.inputs.items():
        if name not in feeds:
            raise AccelsimError(f"{net.source or net.name}: no data for input '{name}'")
        a = np.asarray(feeds[name], dtype=np.float32)
        if a.shape[1:] != tuple(shape[1:]):
            raise AccelsimError(f"{net.source or net.name}: input '{name}' expects shape (batch, "
                                f"{', '.join(map(str, shape[1:]))}), got {a.shape}")
        env[name] = a
    return env


#: element-wise ops that may overwrite their input when nothing reads it again (:func:`_dead_after`): the same
#: values without a fresh output array (seed004_ic's first ReLU: 44 of 540 ms in fixed(16), half of it allocating)
IN_PLACE = {"relu": lambda l, i: np.maximum(i[0], 0, out=i[0])}


def _dead_after(net: Network, env: dict, fed: list, live: dict, t: str, i: int) -> bool:
    """Whether tensor ``t`` may be overwritten by layer ``i``: its last reader, not a graph output, a writeable
    float32 array whose memory no other live tensor and no array the caller fed shares (a reshape's view, say)."""
    a = env[t]
    others = [v for k, v in env.items() if k != t] + fed
    return (live.get(t) == i and t not in net.outputs and a.dtype == np.float32 and a.flags.writeable
            and not any(isinstance(v, np.ndarray) and np.may_share_memory(a, v) for v in others))


def _chains(layers: list[Layer], outputs, ops) -> dict[int, list[int]]:
    """{i: [j, …]}: MAC layer i is followed by layers of ``ops`` in their order (each may be missing), each the
    only reader of the one before, whose outputs are not graph ``outputs``."""
    if not ops:
        return {}
    readers: dict[str, list[int]] = {}
    for j, layer in enumerate(layers):
        for t in layer.inputs:
            readers.setdefault(t, []).append(j)
    chains = {}
    for i, layer in enumerate(layers):
        if not layer.is_mac_layer:
            continue
        chain, t = [], layer.output
        for op in ops:
            js = readers.get(t, [])
            if len(js) == 1 and layers[js[0]].op == op and t not in outputs:
                chain.append(js[0])
                t = layers[js[0]].output
        if chain:
            chains[i] = chain
    return chains


def _last_use(net: Network) -> dict[str, int]:
    last = {}
    for i, layer in enumerate(net.layers):
        for t in layer.inputs:
            last[t] = i
    return last
