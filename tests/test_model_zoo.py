"""Models we did not build: the Caffe2-era model-zoo graphs that ship with onnx's own backend test data.

They are opset 9, list initializers as graph inputs, make their weights with ConstantOfShape, and use
LRN, Sum, Transpose channel shuffles, BatchNormalization expressed as Unsqueeze+Mul+Add, Concat.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from accelsim.frontend import load_onnx
from accelsim.functional import run

ort.set_default_logger_severity(3)
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
          "zfnet512"]


def logits_and_model(path) -> tuple[str, bytes]:
    """(the final Softmax's input, or the graph output if there is none; the model with that tensor as an extra
    graph output, so onnxruntime returns it too)."""
    m = onnx.load(path)
    softmax = [n for n in m.graph.node if n.op_type == "Softmax"]
    logits = softmax[-1].input[0] if softmax else m.graph.output[0].name
    m.graph.output.append(onnx.helper.make_empty_tensor_value_info(logits))
    return logits, m.SerializeToString()


def softmax_ties(logits) -> bool:
    """Whether the largest logits of a row lie within float32 rounding of each other: their softmax then turns
    a one-ulp difference in a sum into a different share (squeezenet's logits near 6.8e9 tie in onnxruntime)."""
    top = np.sort(logits.reshape(logits.shape[0], -1), axis=1)[:, -2:]
    return bool(np.any(top[:, 1] - top[:, 0] <= 4 * np.spacing(np.abs(top[:, 1]))))


@pytest.mark.parametrize("name", MODELS)
def test_model_zoo_graph_matches_onnxruntime(name):
    """Logits (the final Softmax's input, where there is one) and outputs against onnxruntime; the softmax output
    is compared only where it is well-conditioned (no tied top logits)."""
    path = os.path.join(LIGHT, f"light_{name}.onnx")
    if not os.path.exists(path):
        pytest.skip("this onnx build ships no backend test data")
    net = load_onnx(path)
    (inp, shape), = net.inputs.items()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    logits, model = logits_and_model(path)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    expected, expected_logits = sess.run([net.outputs[0], logits], {inp: x})
    env = run(net, x, keep=True)
    np.testing.assert_allclose(env[logits], expected_logits, rtol=1e-4, atol=1e-6)
    if not softmax_ties(expected_logits):
        np.testing.assert_allclose(env[net.outputs[0]], expected, rtol=1e-4, atol=1e-6)
    assert name != "squeezenet" or softmax_ties(expected_logits)  # the one whose softmax is ill-conditioned
    assert not {"identity", "mul"} & {l.op for l in net.layers}  # Dropout gone, Mul-by-scale folded


def test_alexnet_conv1_macs_by_hand():
    """bvlc_alexnet conv1: 96 filters of 3×11×11, stride 4 on 224×224 -> 54×54 outputs."""
    path = os.path.join(LIGHT, "light_bvlc_alexnet.onnx")
    if not os.path.exists(path):
        pytest.skip("this onnx build ships no backend test data")
    conv1 = load_onnx(path).mac_layers[0]
    assert conv1.out_shape == (1, 96, 54, 54)
    assert conv1.macs == 96 * 3 * 11 * 11 * 54 * 54


PYTORCH = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "pytorch-converted")
#: PyTorch-exported single-module models (onnx's backend test data) whose ops accelsim supports
PYTORCH_CASES = ["test_AvgPool2d", "test_AvgPool2d_stride", "test_BatchNorm2d_eval", "test_BatchNorm2d_momentum_eval",
                 "test_ConstantPad2d", "test_Conv2d", "test_Conv2d_depthwise", "test_Conv2d_depthwise_padded",
                 "test_Conv2d_depthwise_strided", "test_Conv2d_depthwise_with_multiplier", "test_Conv2d_dilated",
                 "test_Conv2d_groups", "test_Conv2d_groups_thnn", "test_Conv2d_no_bias", "test_Conv2d_padding",
                 "test_Conv2d_strided", "test_LeakyReLU", "test_LeakyReLU_with_negval", "test_Linear",
                 "test_Linear_no_bias", "test_MaxPool2d", "test_PReLU_2d", "test_PReLU_2d_multiparam", "test_ELU", "test_SELU", "test_ReLU", "test_ReflectionPad2d",
                 "test_ReplicationPad2d", "test_Sigmoid", "test_Softmax", "test_Softsign", "test_Softplus", "test_Tanh",
                 "test_ZeroPad2d", "test_softmax_lastdim", "test_softmax_functional_dim3"]


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


@pytest.mark.parametrize("case", PYTORCH_CASES)
def test_pytorch_exported_module_matches_its_recorded_output(case):
    folder = os.path.join(PYTORCH, case)
    if not os.path.isdir(folder):
        pytest.skip("this onnx build ships no backend test data")
    net = load_onnx(os.path.join(folder, "model.onnx"))
    x = read_pb(os.path.join(folder, "test_data_set_0", "input_0.pb"))
    expected = read_pb(os.path.join(folder, "test_data_set_0", "output_0.pb"))
    np.testing.assert_allclose(run(net, x), expected, rtol=1e-4, atol=1e-5)
