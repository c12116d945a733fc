"""Checks of a lowered model at load time: what onnx's checker lets through but no accelerator (or onnxruntime)
would run. Each failure is one AccelsimError naming the file, the node and the problem.

* a graph input read by a MAC layer is floating point (the simulator feeds float32: an int64 input to a
  convolution would be silently converted); integer inputs may feed index and comparison ops (token ids into an
  embedding, a padding mask); each input is read by some layer (an input where accelsim needs a constant, e.g.
  Clip's min, is not);
* every layer's output shape is positive (an 11×11 kernel on an 8×8 input has no output), and a reshape keeps
  the number of elements;
* convolution groups divide the input and output channels, the weights have C/groups channels, and the output
  size follows from the kernel (a ``kernel_shape`` attribute that disagrees with the weights does not);
* weights and biases are finite — except a SAM layer's pruned parameters (−inf in W+, +inf in W−, seed 001
  §III-D), which are how pruning is stored; an elementwise constant may be ±inf (an additive attention mask)
  but never NaN.
"""
from __future__ import annotations

from math import prod

import numpy as np
from onnx import TensorProto, helper

from ..errors import AccelsimError
from ..ir.layer import Absent

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
#: the infinity a pruned SAM parameter holds: it never wins the max (W+) / the min (W−)
SAM_PRUNED = {"W_plus": -np.inf, "W_minus": np.inf}


def check_network(net, graph, path) -> None:
    """Refuse a model the simulator would run wrongly; ``graph`` is the ONNX GraphProto ``net`` came from."""
    consumers = {}
    for layer in net.layers:
        for t in layer.inputs:
            consumers.setdefault(t, []).append(layer)
    for vi in graph.input:
        if vi.name in net.inputs and vi.type.tensor_type.elem_type not in FLOAT_TYPES:
            dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type) \
                if vi.type.tensor_type.elem_type else "no type"
            users = consumers.get(vi.name, [])
            macs = [u for u in users if u.is_mac_layer]
            if users and not macs and vi.type.tensor_type.elem_type:
                continue  # integer data for index / comparison ops
            user = (macs or users or [None])[0]
            read = f", read by node '{user.name}' ({user.op})" if user else ""
            raise AccelsimError(f"{path}: input '{vi.name}': has element type {dtype}{read}; "
                                f"accelsim runs float inputs only")
    for name in net.inputs:
        if name not in consumers:
            raise AccelsimError(f"{path}: input '{name}': no layer reads it (accelsim needs a constant where the "
                                f"model uses it)")
    for layer in net.layers:
        where = f"{path}: node '{layer.name}' ({layer.op})"
        if any(d <= 0 for d in layer.out_shape):
            raise AccelsimError(f"{where}: output shape {'×'.join(map(str, layer.out_shape))} is empty"
                                f"{_why_empty(layer)}")
        if layer.op == "conv":
            _check_groups(layer, where)
        if layer.op == "reshape" and prod(layer.in_shapes[0]) != prod(layer.out_shape):
            raise AccelsimError(f"{where}: cannot reshape {'×'.join(map(str, layer.in_shapes[0]))} "
                                f"({prod(layer.in_shapes[0])} values) to {'×'.join(map(str, layer.out_shape))}")
        for name, w in layer.weights.items():
            _check_finite(layer, name, w, where)


def _why_empty(layer) -> str:
    b = layer.bounds
    if layer.op != "conv" or len(layer.in_shapes[0]) != 4:
        return ""
    h, w = layer.in_shapes[0][2:]
    return (f" (the {b.R}×{b.S} kernel, dilation {b.dilation[0]}×{b.dilation[1]}, does not fit the "
            f"{h}×{w} input with padding {b.pads[0] + b.pads[2]}×{b.pads[1] + b.pads[3]})")


def _check_groups(layer, where) -> None:
    b, w = layer.bounds, layer.weights["W"]
    if b.groups < 1 or b.C % b.groups or b.K % b.groups:
        raise AccelsimError(f"{where}: group={b.groups} does not divide the {b.C} input and {b.K} output channels")
    if w.shape[1] * b.groups != b.C:
        raise AccelsimError(f"{where}: weight shape {tuple(w.shape)} has {w.shape[1]} input channels per group; "
                            f"{b.C} channels in {b.groups} group(s) need {b.C // b.groups}")
    h, w_in = layer.in_shapes[0][2:]
    expected = tuple((size + pad - d * (k - 1) - 1) // s + 1 for size, pad, d, k, s in
                     ((h, b.pads[0] + b.pads[2], b.dilation[0], b.R, b.stride[0]),
                      (w_in, b.pads[1] + b.pads[3], b.dilation[1], b.S, b.stride[1])))
    if expected != (b.P, b.Q):
        raise AccelsimError(f"{where}: output {b.P}×{b.Q} does not follow from the {b.R}×{b.S} weights on the "
                            f"{h}×{w_in} input (that gives {expected[0]}×{expected[1]}; a kernel_shape attribute "
                            f"that disagrees with the weights?)")


def _check_finite(layer, name, w, where) -> None:
    if isinstance(w, Absent):  # loaded without its values (shapes only): nothing to check
        return
    w = np.asarray(w)
    bad = np.isnan(w)
    if name != "const":  # an elementwise constant may be ±inf (a mask)
        pruned = SAM_PRUNED.get(name) if layer.op == "sam_dense" else None
        bad |= np.isinf(w) & (w != pruned)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AccelsimError(f"{where}: {name}{list(first)} is {w[first]} ({int(bad.sum())} of {prod(w.shape)} values "
                            f"not finite)")
