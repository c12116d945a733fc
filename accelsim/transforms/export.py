"""Write a transformed network back as ONNX: the source model with the transform's changes — pruned weights zeroed
in their initializers, a compressive-sensing projection inserted (a MatMul by its ±1/√n initializer) in front of
the layer refit to it. Everything else (the source's nodes, folded BatchNorms, names) stays as the source has it."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import AccelsimError
from ..frontend import load_onnx
from ..frontend.lowering import attrs_of
from ..io import atomic_path


def export(net, source, out) -> None:
    """Write ``net`` (a transform of the model in ``source``) to ``out``."""
    original = {l.name: l for l in load_onnx(source).layers}
    model = onnx.load(str(source))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes = {n.name or n.output[0]: n for n in graph.node}
    added = []
    for layer in net.layers:
        if layer.name not in original:  # a new layer: only the CS projection is one
            if layer.op != "dense" or layer.name != "cs":
                raise AccelsimError(f"{source}: cannot write the new layer {layer.name} as ONNX")
            added.append(layer)
            continue
        before = original[layer.name]
        w, w0 = layer.weights.get("W"), before.weights.get("W")
        if w is None or (w.shape == w0.shape and np.array_equal(w, w0)):
            continue
        node = nodes[layer.name]
        init = inits.get(node.input[1]) if len(node.input) > 1 else None
        if init is None:
            raise AccelsimError(f"{source}: {node.name}: its weights are not an initializer; cannot write them")
        value = numpy_helper.to_array(init)
        if w.shape == w0.shape:  # pruned: zero the initializer where the weights became zero
            value = np.where(_layout(node, np.asarray(w) != 0), value, 0).astype(value.dtype)
        else:  # refit to measurements: the layer's new weights, in the node's layout
            alpha = attrs_of(node).get("alpha", 1.0)
            if not np.allclose(_layout(node, np.asarray(w0)), value * alpha, rtol=1e-5, atol=1e-6):
                raise AccelsimError(f"{source}: {node.name}: weights folded with another node; cannot refit them")
            value = (_layout(node, np.asarray(w, np.float64)) / alpha).astype(value.dtype)
        init.CopyFrom(numpy_helper.from_array(value, init.name))
    for layer in added:
        consumer = next(nodes[l.name] for l in net.layers if l.name in nodes and layer.output in l.inputs)
        phi = numpy_helper.from_array(np.ascontiguousarray(np.asarray(layer.weights["W"]).T), "cs_projection")
        graph.initializer.append(phi)
        at = list(graph.node).index(consumer)
        graph.node.insert(at, helper.make_node("MatMul", [layer.inputs[0], phi.name], [layer.output], name=layer.name))
        consumer.input[0] = layer.output
    onnx.checker.check_model(model)
    with atomic_path(out) as tmp:
        onnx.save(model, str(tmp))


def _layout(node, ir: np.ndarray) -> np.ndarray:
    """An IR weight array (outputs first) in the node's initializer layout."""
    if node.op_type == "Conv" or (node.op_type == "Gemm" and attrs_of(node).get("transB", 0)):
        return ir
    return ir.T
