"""Small ONNX models built in the tests with onnx.helper, the way exporters write them."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tensor(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def model(nodes, inputs, outputs, inits, opset=17, extra_opsets=(), name="test", inits_as_inputs=False):
    """A checked ModelProto; inputs/outputs are {name: shape} (a string dimension is symbolic)."""
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    if inits_as_inputs:  # Caffe2-era exporters list every initializer as a graph input too
        ins += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    graph = helper.make_graph(nodes, name, ins, outs, initializer=inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="accelsim-tests")
    m.ir_version = min(m.ir_version, 8)
    onnx.checker.check_model(m)
    return m


def conv_net(rng, opset=17, inits_as_inputs=False):
    """Conv(+BN) -> Relu -> MaxPool(ceil) -> Conv(group 2, pads) -> LRN -> AvgPool -> Shape/Gather/Concat/Reshape
    -> Gemm(transB) -> Softmax: most of what classic exporters produce."""
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = [tensor("w1", f32(8, 3, 3, 3)), tensor("b1", f32(8)),
             tensor("g", np.abs(f32(8)) + 0.5), tensor("beta", f32(8)), tensor("mu", f32(8)),
             tensor("var", np.abs(f32(8)) + 0.1),
             tensor("w2", f32(6, 4, 3, 3)), tensor("w3", f32(5, 6 * 3 * 2)), tensor("b3", f32(5)),
             tensor("zero", np.array([0], np.int64)), tensor("minus1", np.array([-1], np.int64))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn1"], epsilon=1e-3, name="bn1"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, name="pool1"),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 0, 1, 2], strides=[1, 2], group=2, name="conv2"),
        helper.make_node("LRN", ["c2"], ["n2"], size=3, alpha=1e-3, beta=0.75, bias=2.0, name="norm2"),
        helper.make_node("AveragePool", ["n2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0],
                         name="pool2"),
        helper.make_node("Dropout", ["p2"], ["d2"], name="drop"),
        helper.make_node("Shape", ["d2"], ["shp"], name="shape"),
        helper.make_node("Gather", ["shp", "zero"], ["batch"], axis=0, name="gather"),
        helper.make_node("Concat", ["batch", "minus1"], ["newshape"], axis=0, name="concat_shape"),
        helper.make_node("Reshape", ["d2", "newshape"], ["flat"], name="reshape"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], transB=1, name="fc"),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=-1 if opset >= 13 else 1, name="softmax"),
    ]
    return model(nodes, {"x": ["N", 3, 13, 13]}, {"prob": ["N", 5]}, inits, opset=opset, inits_as_inputs=inits_as_inputs)


def sam_net(tmp_path, rng, n=6, m=4):
    """(loaded Network, W_plus, W_minus) of one seed 001 SAM layer with two pruned (±inf) parameters."""
    from accelsim.frontend import load_onnx
    wp = rng.standard_normal((n, m)).astype(np.float32)
    wm = rng.standard_normal((n, m)).astype(np.float32)
    wp[0, 1], wm[2, 3] = -np.inf, np.inf  # pruned parameters never win the max / min
    node = helper.make_node("SamDense", ["x", "wp", "wm"], ["y"], domain="ai.accelsim")
    onnx.save(model([node], {"x": ["N", n]}, {"y": ["N", m]}, [tensor("wp", wp), tensor("wm", wm)],
                    extra_opsets=[("ai.accelsim", 1)]), tmp_path / "sam.onnx")
    return load_onnx(tmp_path / "sam.onnx"), wp, wm
