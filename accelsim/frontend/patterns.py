"""The decomposed forms exporters write for LayerNorm and GELU, recognised and replaced by one node each.

PyTorch's exporter writes nn.LayerNorm below opset 17 as ::

    m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2)); y = Div(d, Sqrt(Add(v, eps))) [· gamma] [+ beta]

and nn.GELU below opset 20 as ``(x · (Erf(x / √2) + 1)) · 0.5`` (or ``(x · 0.5) · (...)``). Hardware runs each as
one special-function step, so the IR holds one LayerNormalization / Gelu node (ONNX's definitions, the same
arithmetic) instead of six to nine elementwise layers. Intermediate tensors must have no other consumer and not
be graph outputs; whatever does not match exactly is left as it is (and lowered op by op).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

SQRT2 = float(np.sqrt(2.0))


class _Graph:
    """Producers and consumers of the tensors of a node list, and its constants."""

    def __init__(self, nodes, consts, outputs):
        self.consts, self.outputs = consts, set(outputs)
        self.producer = {o: n for n in nodes for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def only_consumer(self, tensor, op_type):
        """The one node reading ``tensor`` if it is an ``op_type`` and ``tensor`` is not a graph output."""
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and users[0].op_type == op_type and tensor not in self.outputs:
            return users[0]
        return None

    def scalar(self, name):
        value = self.consts.get(name)
        return float(np.asarray(value).reshape(())) if value is not None and np.size(value) == 1 else None

    def other(self, node, tensor):
        """The input of a binary node that is not ``tensor`` (None unless exactly one input is)."""
        ins = list(node.input)
        return ins[1 - ins.index(tensor)] if len(ins) == 2 and ins.count(tensor) == 1 else None

    def axes(self, node, rank):
        """The axes a ReduceMean keeps its dimensions over (None if it drops them), normalised."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if not attrs.get("keepdims", 1):
            return None
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1] in self.consts:
            axes = self.consts[node.input[1]].tolist()
        return None if not axes else tuple(sorted(int(a) % rank for a in axes))


def fuse(nodes, consts, shapes, outputs=()) -> list:
    """``nodes`` with every decomposed LayerNorm and GELU replaced by one node (new constants go into ``consts``)."""
    g = _Graph(nodes, consts, outputs)
    order = {id(n): i for i, n in enumerate(nodes)}
    replaced: dict[int, object] = {}  # id of a removed node -> the node standing in for its group (at its last one)
    removed: set[int] = set()
    for node in nodes:
        if id(node) in removed:
            continue
        found = (_layernorm(g, node, shapes) if node.op_type == "ReduceMean" else
                 _gelu(g, node) if node.op_type == "Erf" else None)
        if found is None:
            continue
        group, fused = found
        if removed & {id(n) for n in group}:
            continue
        removed |= {id(n) for n in group}
        replaced[id(max(group, key=lambda n: order[id(n)]))] = fused
    return [replaced.get(id(n), n) for n in nodes if id(n) not in removed or id(n) in replaced]


def _layernorm(g: _Graph, mean, shapes):
    x = mean.input[0]
    rank = len(shapes.get(x, ()))
    axes = g.axes(mean, rank) if rank else None
    if axes is None or axes != tuple(range(rank - len(axes), rank)):
        return None
    sub = g.only_consumer(mean.output[0], "Sub")
    if sub is None or list(sub.input) != [x, mean.output[0]]:
        return None
    d = sub.output[0]
    users = g.consumers.get(d, [])
    square = next((n for n in users if (n.op_type == "Pow" and n.input[0] == d and g.scalar(n.input[1]) == 2.0)
                   or (n.op_type == "Mul" and list(n.input) == [d, d])), None)
    divide = next((n for n in users if n.op_type == "Div" and n.input[0] == d), None)
    if len(users) != 2 or square is None or divide is None or d in g.outputs:
        return None
    var = g.only_consumer(square.output[0], "ReduceMean")
    if var is None or g.axes(var, rank) != axes:
        return None
    add = g.only_consumer(var.output[0], "Add")
    eps = g.scalar(g.other(add, var.output[0])) if add is not None else None
    root = g.only_consumer(add.output[0], "Sqrt") if eps is not None else None
    if root is None or g.only_consumer(root.output[0], "Div") is not divide or divide.input[1] != root.output[0]:
        return None
    group = [mean, sub, square, var, add, root, divide]
    normalized = tuple(shapes[x][rank - len(axes):])
    y, affine = divide.output[0], {}
    for op_type, role in (("Mul", "scale"), ("Add", "bias")):
        step = g.only_consumer(y, op_type)
        value = g.consts.get(g.other(step, y)) if step is not None else None
        if value is None or np.ndim(value) > len(normalized) or np.broadcast_shapes(np.shape(value), normalized) != normalized:
            break
        affine[role] = np.broadcast_to(value, normalized).astype(np.float32)
        group.append(step)
        y = step.output[0]
    names = []
    for role, default in (("scale", 1.0), ("bias", 0.0)):
        names.append(f"{y}:layernorm_{role}")
        g.consts[names[-1]] = affine.get(role, np.full(normalized, default, np.float32))
    fused = helper.make_node("LayerNormalization", [x, *names], [y], name=divide.name or y,
                             axis=rank - len(axes), epsilon=eps)
    return group, fused


def _gelu(g: _Graph, erf):
    src = g.producer.get(erf.input[0])
    if src is None or src.op_type not in ("Div", "Mul") or g.only_consumer(src.output[0], "Erf") is not erf:
        return None
    c = g.scalar(src.input[1])
    x = src.input[0]
    if c is None or abs(c - (SQRT2 if src.op_type == "Div" else 1 / SQRT2)) > 1e-6:
        return None
    one = g.only_consumer(erf.output[0], "Add")
    if one is None or g.scalar(g.other(one, erf.output[0])) != 1.0:
        return None
    times = g.only_consumer(one.output[0], "Mul")
    factor = g.other(times, one.output[0]) if times is not None else None
    if factor == x:  # (x · (1 + erf)) · 0.5
        half = g.only_consumer(times.output[0], "Mul")
        if half is None or g.scalar(g.other(half, times.output[0])) != 0.5:
            return None
        group, y = [src, erf, one, times, half], half.output[0]
    else:  # (x · 0.5) · (1 + erf)
        half = g.producer.get(factor) if factor is not None else None
        if (half is None or half.op_type != "Mul" or g.only_consumer(factor, "Mul") is not times
                or g.other(half, x) is None or g.scalar(g.other(half, x)) != 0.5):
            return None
        group, y = [half, src, erf, one, times], times.output[0]
    return group, helper.make_node("Gelu", [x], [y], name=erf.name or y)
