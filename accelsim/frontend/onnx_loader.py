"""ONNX -> layer IR.

Steps, each done by onnx itself where it can be: load and check the file; upgrade opsets older than
``MIN_OPSET`` with onnx's version converter; pin symbolic batch dimensions to 1 and infer every
tensor's shape; fold constant subgraphs (Constant, ConstantOfShape, Shape->Gather->Concat->Reshape
chains...) with onnx's reference evaluator; then lower each remaining node to a :class:`Layer`
(BatchNormalization folded into the conv/dense before it, MatMul+Add into one dense layer,
Identity/Dropout dropped). Anything unsupported is an :class:`AccelsimError` naming file, node, op, opset.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference, version_converter

from ..errors import AccelsimError
from ..ir import Absent, Network, absent
from . import checks, lowering, skeleton

MIN_OPSET = 13  # Softmax/Clip/Pad/Reshape semantics are uniform from here on
MAX_OPSET = onnx.defs.onnx_opset_version()  # the newest this onnx knows; tested 7..21
SAM_DOMAIN = "ai.accelsim"
#: ops folded away when all their inputs are constant (the evaluator runs them once, at load time)
NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


def load_onnx(path: str | Path, weights: bool = True, batch: int = 1) -> Network:
    """Read an ONNX file and lower it to a :class:`Network`.

    ``weights=False`` reads shapes only (for the timing path): large weight tensors become :class:`Absent`
    placeholders that hold no memory; MACs, parameters (a SAM layer's kept ones included) and every shape stay
    exact, but the network cannot be executed. ``batch`` is what a symbolic (or missing) batch dimension of the
    inputs becomes.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise AccelsimError(f"--batch: must be a positive integer, got {batch!r}")
    path = Path(path)
    model, stripped = _read(path, weights)
    opset = _default_opset(model)
    where = f"{path.name} (opset {opset})"
    if opset < MIN_OPSET:
        model = _upgrade(model, path, opset)
    elif opset > MAX_OPSET:
        raise AccelsimError(f"{path}: opset {opset} is newer than this onnx package knows ({MAX_OPSET})")
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.name not in stripped}
    consts.update(_placeholders(graph, stripped))
    inputs, types = {}, {}
    for vi in graph.input:
        if vi.name in consts:  # old exporters list initializers as graph inputs too
            continue
        inputs[vi.name] = _static_shape(vi, path, batch)
        types[vi.name] = vi.type.tensor_type.elem_type or onnx.TensorProto.FLOAT
    nodes = list(graph.node)
    while True:  # folding can make more shapes static (Shape->Gather->Concat->Reshape), and vice versa
        shapes = _infer_shapes(model, nodes, consts, inputs, types, path)
        remaining = _fold_constants(nodes, consts, shapes, where, max(opset, MIN_OPSET))
        if len(remaining) == len(nodes):
            break
        nodes = remaining
    outputs = [o.name for o in graph.output]
    layers = lowering.lower(nodes, consts, shapes, where, outputs)
    layers, outputs = lowering.resolve_aliases(layers, outputs)
    net = Network.from_layers(graph.name or path.stem, layers, inputs, outputs, source=str(path),
                              meta={"opset": opset, "producer": model.producer_name, "weights": weights})
    checks.check_network(net, graph, path)
    return net


def _placeholders(graph, stripped: dict) -> dict[str, Absent]:
    """Shape-only stand-ins for the stripped initializers; SAM parameters get their finite entries counted."""
    sam_params = {i for n in graph.node if (n.domain, n.op_type) == (SAM_DOMAIN, "SamDense") for i in n.input[1:3]}
    return {name: absent(t.shape, np.float32 if t.dtype.kind == "f" else t.dtype,
                         finite=t.count_finite() if name in sam_params else None)
            for name, t in stripped.items()}


def _read(path: Path, weights: bool = True) -> tuple[onnx.ModelProto, dict]:
    """(the checked model, {name: Stripped} of the initializers read without values: all large ones unless
    ``weights``)."""
    if not path.is_file():
        raise AccelsimError(f"{path}: no such model file")
    try:
        model, stripped = (onnx.load(str(path)), {}) if weights else skeleton.read(path)
    except Exception as exc:  # protobuf raises DecodeError/RuntimeWarning-ish types; report, don't trace
        raise AccelsimError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {_first_line(exc)})") from None
    if not model.graph.node:
        raise AccelsimError(f"{path}: not a readable ONNX model (empty or truncated graph)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise AccelsimError(f"{path}: malformed ONNX model ({_first_line(exc)})") from None
    return model, stripped


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


def _default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return MAX_OPSET


def _upgrade(model, path, opset):
    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:
        raise AccelsimError(f"{path}: cannot upgrade opset {opset} to {MIN_OPSET} ({_first_line(exc)})") from None


def _static_shape(vi, path, batch: int = 1) -> tuple[int, ...]:
    """Shape of a graph input; the symbolic (or missing) batch dimension becomes ``batch``."""
    dims = vi.type.tensor_type.shape.dim
    if not vi.type.tensor_type.HasField("shape"):
        raise AccelsimError(f"{path}: input '{vi.name}' has no shape")
    shape = []
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0:
            shape.append(d.dim_value)
        elif i == 0:
            shape.append(batch)
        else:
            raise AccelsimError(f"{path}: input '{vi.name}' dimension {i} is symbolic ('{d.dim_param}'); "
                                f"only the batch dimension may be")
    return tuple(shape)


def _infer_shapes(model, nodes, consts, inputs, types, path) -> dict[str, tuple[int, ...]]:
    """Every tensor's static shape, from onnx shape inference on a light copy of the graph.

    The copy holds only ``nodes``; inputs get their pinned shapes (and their element types: token ids index an
    embedding); large constants become shape-only inputs
    (inference needs their shapes, not their values; small ones such as Reshape targets keep their values);
    a SamDense node stands in as the MatMul x @ W_plus, which has its output shape.
    """
    small = {k: v for k, v in consts.items() if np.size(v) <= 64}
    ins = [helper.make_tensor_value_info(k, types[k], s) for k, s in inputs.items()]
    ins += [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
            for k, v in consts.items() if k not in small]
    outs = [helper.make_empty_tensor_value_info(o.name) for o in model.graph.output]
    light = [helper.make_node("MatMul", n.input[:2], n.output, name=n.name)
             if (n.domain, n.op_type) == (SAM_DOMAIN, "SamDense") else n for n in nodes]
    graph = helper.make_graph(light, "shapes", ins, outs,
                              initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in small.items()])
    m = helper.make_model(graph, opset_imports=model.opset_import, ir_version=max(model.ir_version, 7))
    try:
        inferred = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception as exc:
        raise AccelsimError(f"{path}: shape inference failed ({_first_line(exc)})") from None
    shapes = dict(inputs)
    shapes.update((k, tuple(np.shape(v))) for k, v in consts.items())
    g = inferred.graph
    for vi in list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
    return shapes


def _fold_constants(nodes, consts, shapes, where, opset):
    """Evaluate nodes whose inputs are all known at load time; return the nodes that remain."""
    remaining = []
    for node in nodes:
        if node.op_type == "Shape" and node.input[0] in shapes and node.domain in ("", "ai.onnx"):
            attrs = lowering.attrs_of(node)
            start, end = attrs.get("start", 0), attrs.get("end")
            consts[node.output[0]] = np.array(shapes[node.input[0]][start:end], dtype=np.int64)
        elif (node.domain in ("", "ai.onnx") and node.op_type not in NONDETERMINISTIC
              and all(i == "" or i in consts for i in node.input) and not _has_subgraph(node)):
            if any(isinstance(consts.get(i), Absent) for i in node.input) and all(o in shapes for o in node.output):
                consts.update((o, absent(shapes[o])) for o in node.output)  # derived from a shape-only weight
                continue
            for name, value in zip(node.output, _evaluate(node, consts, where, opset)):
                consts[name] = value
        else:
            remaining.append(node)
            continue
        for o in node.output:
            shapes[o] = tuple(np.shape(consts[o]))
    return remaining


def _has_subgraph(node) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _evaluate(node, consts, where, opset):
    from onnx.reference import ReferenceEvaluator  # only models with constant subgraphs pay for importing it

    feeds = {i: consts[i] for i in node.input if i}
    ins = [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for i, v in feeds.items()]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
    graph = helper.make_graph([node], "fold", ins, outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        return ReferenceEvaluator(model).run(None, feeds)
    except Exception as exc:
        raise AccelsimError(f"{where}: node '{node.name}' ({node.op_type}): cannot fold constant "
                            f"({_first_line(exc)})") from None
