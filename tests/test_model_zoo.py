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


DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
#: PyTorch-exported single-module models (onnx's backend test data) whose ops accelsim supports
PYTORCH_CASES = ["test_AvgPool2d", "test_AvgPool2d_stride", "test_BatchNorm2d_eval", "test_BatchNorm2d_momentum_eval",
                 "test_ConstantPad2d", "test_Conv2d", "test_Conv2d_depthwise", "test_Conv2d_depthwise_padded",
                 "test_Conv2d_depthwise_strided", "test_Conv2d_depthwise_with_multiplier", "test_Conv2d_dilated",
                 "test_Conv2d_groups", "test_Conv2d_groups_thnn", "test_Conv2d_no_bias", "test_Conv2d_padding",
                 "test_Conv2d_strided", "test_LeakyReLU", "test_LeakyReLU_with_negval", "test_Linear",
                 "test_Linear_no_bias", "test_MaxPool2d", "test_PReLU_2d", "test_PReLU_2d_multiparam", "test_ELU", "test_SELU", "test_ReLU", "test_ReflectionPad2d",
                 "test_ReplicationPad2d", "test_Sigmoid", "test_Softmax", "test_Softsign", "test_Softplus", "test_Tanh",
                 "test_ZeroPad2d", "test_softmax_lastdim", "test_softmax_functional_dim3",
                 "test_AvgPool1d", "test_AvgPool1d_stride", "test_GLU", "test_GLU_dim", "test_Embedding",
                 "test_Embedding_sparse", "test_LogSoftmax", "test_log_softmax_dim3", "test_log_softmax_lastdim"]
#: issue 15: the 1-D convolutions and poolings and the dilated max pooling once refused (8 Conv1d, 4 1-D MaxPool,
#: 1 dilated MaxPool2d)
ONE_D_CASES = ["test_Conv1d", "test_Conv1d_dilated", "test_Conv1d_groups", "test_Conv1d_pad1", "test_Conv1d_pad1size1",
               "test_Conv1d_pad2", "test_Conv1d_pad2size1", "test_Conv1d_stride", "test_MaxPool1d", "test_MaxPool1d_stride",
               "test_MaxPool1d_stride_padding_dilation", "pytorch-operator/test_operator_maxpool",
               "test_MaxPool2d_stride_padding_dilation"]
#: PyTorch-exported operators (float32 ones): products of two activations (mm, addmm), reductions, Pow, Max/Min...
OPERATOR_CASES = ["test_operator_mm", "test_operator_addmm", "test_operator_reduced_mean",
                  "test_operator_reduced_mean_keepdim", "test_operator_reduced_sum", "test_operator_reduced_sum_keepdim",
                  "test_operator_pow", "test_operator_sqrt", "test_operator_max", "test_operator_min",
                  "test_operator_index", "test_operator_concat2", "test_operator_permute2", "test_operator_view",
                  "test_operator_add_size1_broadcast", "test_operator_basic", "test_operator_non_float_params"]


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


#: where onnxruntime cannot run the case, its recorded PyTorch output is the reference
NO_ORT_REFERENCE = {"test_PReLU_2d_multiparam"}  # onnx's opset-6 -> 13 upgrade keeps a per-channel slope shape that
#                                                  opset 7's PRelu no longer broadcasts


def ort_session(path):
    """onnxruntime on the model, or (where it has no kernels for the model's old opset) on onnx's upgrade of it."""
    try:
        return ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except ort.capi.onnxruntime_pybind11_state.NotImplemented:
        upgraded = onnx.version_converter.convert_version(onnx.load(path), 13)
        return ort.InferenceSession(upgraded.SerializeToString(), providers=["CPUExecutionProvider"])


def case_folder(case):
    return os.path.join(DATA, case if "/" in case else ("pytorch-operator" if "_operator_" in case else
                                                         "pytorch-converted") + "/" + case)


@pytest.mark.parametrize("case", PYTORCH_CASES + ONE_D_CASES + OPERATOR_CASES)
def test_pytorch_exported_module_matches_onnxruntime_and_its_recorded_output(case):
    folder = case_folder(case)
    if not os.path.isdir(folder):
        pytest.skip("this onnx build ships no backend test data")
    path = os.path.join(folder, "model.onnx")
    net = load_onnx(path)
    sess = ort_session(path)
    names = [i.name for i in sess.get_inputs()]
    feeds = {n: read_pb(os.path.join(folder, "test_data_set_0", f"input_{i}.pb")) for i, n in enumerate(names)}
    ours = run(net, {n: v for n, v in feeds.items() if n in net.inputs})
    expected = read_pb(os.path.join(folder, "test_data_set_0", "output_0.pb"))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
    if case not in NO_ORT_REFERENCE:
        np.testing.assert_allclose(ours, sess.run(None, feeds)[0], rtol=1e-4, atol=1e-5, equal_nan=True)


def test_1d_layers_keep_their_exact_macs():
    """test_Conv1d: 5 filters of 4×3 over a length-10 signal (no padding) -> 8 outputs per filter; test_Conv1d_groups:
    6 filters of 2×3 in 2 groups over length 6 -> 4 outputs; both run as 2-D layers over a unit height."""
    for case, macs in (("test_Conv1d", 2 * 5 * 4 * 8 * 3), ("test_Conv1d_groups", 2 * 6 * 2 * 4 * 3)):
        folder = case_folder(case)
        if not os.path.isdir(folder):
            pytest.skip("this onnx build ships no backend test data")
        net = load_onnx(os.path.join(folder, "model.onnx"))
        conv, = net.mac_layers
        assert conv.macs == net.total_macs == macs
        assert (conv.bounds.P, conv.bounds.R) == (1, 1)
        assert [l.op for l in net.layers] == ["reshape", "conv", "reshape"]
