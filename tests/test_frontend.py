"""Frontend + float reference: agreement with onnxruntime, exact MAC counts, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from unittest import mock

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from accelsim.cli import main as cli
from accelsim.errors import AccelsimError
from accelsim.frontend import load_onnx
from accelsim.functional import reference, run
from accelsim.ir import Layer, Network
from onnx_builders import conv_net, model, sam_net, tensor

ort.set_default_logger_severity(3)


def ort_run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("opset,inits_as_inputs", [(10, True), (11, False), (13, True), (17, False), (21, False)])
def test_reference_matches_onnxruntime_across_opsets(tmp_path, opset, inits_as_inputs):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0), opset, inits_as_inputs), path)
    net = load_onnx(path)
    x = np.random.default_rng(1).standard_normal((3, 3, 13, 13)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), ort_run(path, x), rtol=1e-5, atol=1e-6)
    # BatchNormalization folded into conv1, Dropout and the Shape->Gather->Concat chain gone
    ops = [l.op for l in net.layers]
    assert "affine" not in ops and "identity" not in ops
    assert ops[:3] == ["conv", "relu", "maxpool"]


def test_mac_counts_follow_the_loop_nest_formula(tmp_path):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), path)
    net = load_onnx(path)
    # conv1: K=8, C=3, P=Q=13, R=S=3; conv2: K=6, C/groups=4, P=6, Q=3, R=S=3; fc: 36 -> 5
    assert net["conv1"].macs == 8 * 3 * 13 * 13 * 9
    assert net["conv2"].macs == 6 * 4 * 6 * 3 * 9
    assert net["fc"].macs == 36 * 5
    assert net.total_macs == 8 * 3 * 13 * 13 * 9 + 6 * 4 * 6 * 3 * 9 + 36 * 5
    assert net["conv1"].params == 8 * 3 * 9 + 8  # BN folded: weights + one bias per channel
    assert net["fc"].params == 36 * 5 + 5


conv_cases = st.fixed_dictionaries({
    "C": st.integers(1, 6), "Kg": st.integers(1, 4), "groups": st.sampled_from([1, 2, 3]),
    "H": st.integers(5, 12), "W": st.integers(5, 12), "R": st.integers(1, 4), "S": st.integers(1, 4),
    "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)),
    "pads": st.tuples(*[st.integers(0, 2)] * 4), "bias": st.booleans(), "batch": st.integers(1, 3),
})


@settings(max_examples=40, deadline=None)
@given(case=conv_cases)
def test_random_conv_matches_onnxruntime_and_mac_formula(tmp_path_factory, case):
    g = case["groups"]
    C, K = case["C"] * g, case["Kg"] * g
    R, S, (sh, sw), (dh, dw), pads = case["R"], case["S"], case["stride"], case["dilation"], case["pads"]
    H, W = case["H"], case["W"]
    P = (H + pads[0] + pads[2] - (R - 1) * dh - 1) // sh + 1
    Q = (W + pads[1] + pads[3] - (S - 1) * dw - 1) // sw + 1
    if P < 1 or Q < 1:
        return
    rng = np.random.default_rng(0)
    inits = [tensor("w", rng.standard_normal((K, C // g, R, S)).astype(np.float32))]
    if case["bias"]:
        inits.append(tensor("b", rng.standard_normal(K).astype(np.float32)))
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if case["bias"] else []), ["y"], group=g,
                            strides=[sh, sw], dilations=[dh, dw], pads=[pads[0], pads[1], pads[2], pads[3]])
    path = tmp_path_factory.mktemp("conv") / "conv.onnx"
    onnx.save(model([node], {"x": ["N", C, H, W]}, {"y": ["N", K, P, Q]}, inits), path)
    net = load_onnx(path)
    x = rng.standard_normal((case["batch"], C, H, W)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), ort_run(path, x), rtol=1e-4, atol=1e-4)
    assert net.total_macs == K * (C // g) * P * Q * R * S


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(1, 9), trans_b=st.booleans(),
       alpha=st.sampled_from([1.0, 0.5]), beta=st.sampled_from([1.0, 2.0]))
def test_random_gemm_matches_onnxruntime_and_mac_formula(tmp_path_factory, m, n, k, trans_b, alpha, beta):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    inits = [tensor("w", w), tensor("c", rng.standard_normal(n).astype(np.float32))]
    node = helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=int(trans_b), alpha=alpha, beta=beta)
    path = tmp_path_factory.mktemp("gemm") / "gemm.onnx"
    onnx.save(model([node], {"x": [m, k]}, {"y": [m, n]}, inits), path)
    net = load_onnx(path)
    x = rng.standard_normal((m, k)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), ort_run(path, x), rtol=1e-5, atol=1e-5)
    assert net.total_macs == m * n * k


def test_matmul_add_fold_into_one_dense_layer_and_resnet_style_blocks(tmp_path):
    """PyTorch exports Linear as MatMul + Add and residual blocks as Add of two activations; plus Concat, Clip."""
    rng = np.random.default_rng(2)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = [tensor("w1", f32(4, 4, 3, 3)), tensor("w2", f32(4, 4, 1, 1)), tensor("wm", f32(8 * 6 * 6, 7)),
             tensor("bm", f32(7)), tensor("lo", np.float32(0)), tensor("hi", np.float32(6))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["a", "lo", "hi"], ["a6"]),
             helper.make_node("Conv", ["a6", "w2"], ["b"]),
             helper.make_node("Add", ["b", "x"], ["res"]),
             helper.make_node("Concat", ["res", "a6"], ["cat"], axis=1),
             helper.make_node("Flatten", ["cat"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "wm"], ["mm"]),
             helper.make_node("Add", ["mm", "bm"], ["y"])]
    path = tmp_path / "res.onnx"
    onnx.save(model(nodes, {"x": ["N", 4, 6, 6]}, {"y": ["N", 7]}, inits), path)
    net = load_onnx(path)
    assert [l.op for l in net.layers] == ["conv", "clip", "conv", "add", "concat", "reshape", "dense"]
    x = f32(2, 4, 6, 6)
    np.testing.assert_allclose(run(net, x), ort_run(path, x), rtol=1e-4, atol=1e-4)


def test_sam_layer_follows_seed001_eq5(tmp_path):
    rng = np.random.default_rng(3)
    net, wp, wm = sam_net(tmp_path, rng)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    y = run(net, x)
    for b in range(5):
        for j in range(4):  # eq. (5) written out as loops
            hi = max(x[b, i] + wp[i, j] for i in range(6))
            lo = min(x[b, i] + wm[i, j] for i in range(6))
            assert y[b, j] == pytest.approx(hi + lo, abs=1e-6)
    layer = net.layers[0]
    assert layer.op == "sam_dense" and layer.params == 2 * 6 * 4 - 2  # pruned parameters are not stored
    assert layer.ops["add"] == layer.ops["cmp"] + 4  # one add and one compare per parameter, plus max+min


def write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def one_line_error(capsys, argv, *needles):
    assert cli(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_models_exit_1_with_one_line(tmp_path, capsys):
    good = tmp_path / "good.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), good)
    data = good.read_bytes()
    one_line_error(capsys, ["info", str(write(tmp_path, "trunc.onnx", data[: len(data) // 3]))], "trunc.onnx")
    one_line_error(capsys, ["info", str(write(tmp_path, "junk.onnx", b"\x00\xffnot a model" * 10))], "junk.onnx")
    one_line_error(capsys, ["info", str(tmp_path / "missing.onnx")], "missing.onnx", "no such")


def test_unsupported_op_names_file_node_op_and_opset(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="ok"), helper.make_node("Hardmax", ["r"], ["y"], name="weird")]
    path = tmp_path / "hardmax.onnx"
    onnx.save(model(nodes, {"x": [1, 4]}, {"y": [1, 4]}, []), path)
    one_line_error(capsys, ["info", str(path)], "hardmax.onnx", "weird", "Hardmax", "opset 17")


def test_info_json_and_infer_roundtrip(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), path)
    assert cli(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["total_macs"] == sum(l["macs"] for l in info["layers"]) == load_onnx(path).total_macs
    x = np.random.default_rng(4).standard_normal((2, 3, 13, 13)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert cli(["infer", str(path), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ort_run(path, x), rtol=1e-5, atol=1e-6)


def test_layers_come_in_a_stable_topological_order_with_or_without_the_graph():
    """A list in order is the order, and builds no graph; one out of order is sorted by the DiGraph, ties kept in
    list order; once the graph exists, an edit to it shows in ``layers``."""
    def relu(name, src):
        return Layer(name, "relu", [src], name, [(1, 4)], (1, 4))
    a, b, c, d = relu("a", "x"), relu("b", "a"), relu("c", "x"), relu("d", "b")
    net = Network.from_layers("n", [a, b, c, d], {"x": (1, 4)}, ["d", "c"])
    assert [l.name for l in net.layers] == ["a", "b", "c", "d"] and "graph" not in net.__dict__
    net = Network.from_layers("n", [d, c, b, a], {"x": (1, 4)}, ["d", "c"])
    assert [l.name for l in net.layers] == ["c", "a", "b", "d"]  # c and a have no producer: list order
    e = relu("b", "x")
    net.graph.nodes["b"]["layer"] = e
    assert net["b"] is e and e in net.layers


def test_info_does_not_import_networkx(tmp_path):
    """`accelsim info` lists layers without building the graph: networkx's import alone is most of its time."""
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), path)
    code = ("import sys; from accelsim.cli import main; assert main(['info', sys.argv[1]]) == 0; "
            "assert 'networkx' not in sys.modules, 'networkx imported'")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)


def test_relu_overwrites_only_a_tensor_nobody_reads_again(tmp_path):
    """The float reference's in-place ReLU: not on a graph input (the caller's array), not on a tensor a transpose
    still views; on a conv output read by nothing else. Outputs equal onnxruntime's either way."""
    rng = np.random.default_rng(2)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["r"], perm=[0, 2, 3, 1]),
             helper.make_node("Relu", ["c"], ["y2"]),
             helper.make_node("Conv", ["x", "w2"], ["c2"]),
             helper.make_node("Relu", ["c2"], ["y3"]),
             helper.make_node("Relu", ["x"], ["y1"])]  # the input's last reader
    path = tmp_path / "relus.onnx"
    outs = {"y1": [2, 3, 5, 5], "r": [2, 5, 5, 4], "y2": [2, 4, 5, 5], "y3": [2, 4, 3, 3]}
    onnx.save(model(nodes, {"x": [2, 3, 5, 5]}, outs, [tensor("w", f32(4, 3, 3, 3)), tensor("w2", f32(4, 3, 3, 3))]),
              path)
    x = f32(2, 3, 5, 5)
    before = x.copy()
    real = reference.IN_PLACE["relu"]
    overwritten = []
    with mock.patch.dict(reference.IN_PLACE, relu=lambda l, i: overwritten.append(l.output) or real(l, i)):
        got = run(load_onnx(path), x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for name, expected in zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": before})):
        np.testing.assert_allclose(got[name], expected, rtol=1e-5, atol=1e-5)
    assert np.array_equal(x, before) and overwritten == ["y3"]


def test_infer_wrong_input_shape_is_one_line_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), path)
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 12, 13), np.float32))
    one_line_error(capsys, ["infer", str(path), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")],
                   "expects shape", "(2, 3, 12, 13)")
    assert not (tmp_path / "y.npy").exists()
    assert not list(tmp_path.glob(".y.npy*"))


# ---- the ops transformers and 1-D models bring (issue 15) ------------------------------------------------------

def check_against_ort(tmp_path, nodes, inputs, outputs, inits=(), opset=17, feeds=None, rtol=1e-5, atol=1e-5):
    """Build the model, load it, and compare the float reference with onnxruntime on seeded inputs; the net."""
    path = tmp_path / "m.onnx"
    onnx.save(model(nodes, inputs, outputs, list(inits), opset=opset), path)
    net = load_onnx(path)
    rng = np.random.default_rng(5)
    feeds = feeds or {n: rng.standard_normal([2 if isinstance(d, str) else d for d in s]).astype(np.float32)
                      for n, s in inputs.items()}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = sess.run(None, feeds)[0]
    np.testing.assert_allclose(run(net, feeds), expected, rtol=rtol, atol=atol)
    return net


@pytest.mark.parametrize("shapes,trans", [(([2, 3, 5, 4], [2, 3, 4, 6]), None), (([7, 4], [4, 6]), None),
                                          (([2, 8, 4], [4, 5]), None), (([4, 7], [6, 7]), (0, 1)),
                                          (([7, 4], [7, 6]), (1, 0))])
def test_product_of_two_activations_is_a_mac_layer_with_produced_weights(tmp_path, shapes, trans):
    """Attention's Q·Kᵀ and A·V: MatMul (batched) and Gemm (transposed, alpha, beta, constant C) of two activations.
    MACs = output elements × reduction length; the produced operand is no parameter."""
    (a, b) = shapes
    if trans is None:
        nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
        out, red, inits = list(np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))) + [a[-2], b[-1]], a[-1], []
    else:
        ta, tb = trans
        m, k = (a[1], a[0]) if ta else tuple(a)
        n = b[0] if tb else b[1]
        nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=ta, transB=tb, alpha=0.5, beta=2.0)]
        out, red, inits = [m, n], k, [tensor("c", np.arange(n, dtype=np.float32))]
    net = check_against_ort(tmp_path, nodes, {"a": a, "b": b}, {"y": out}, inits)
    layer, = net.layers
    assert layer.op == "matmul" and layer.weights_produced and layer.inputs == ["a", "b"]
    assert layer.macs == net.total_macs == int(np.prod(out)) * red
    assert layer.params == (out[-1] if trans else 0)  # Gemm's constant C is a bias; the operands are no parameters


def test_attention_scale_folds_into_the_product(tmp_path):
    """softmax(Q·Kᵀ / sqrt(d)) · V with the scale a Div after the MatMul, as PyTorch exports it."""
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Div", ["s", "scale"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["y"])]
    shape = [1, 2, 6, 4]
    net = check_against_ort(tmp_path, nodes, {"q": shape, "k": shape, "v": shape}, {"y": shape},
                            [tensor("scale", np.float32(2.0))])
    assert [l.op for l in net.layers] == ["transpose", "matmul", "softmax", "matmul"]
    assert net.layers[1].attrs["alpha"] == 0.5
    assert net.total_macs == 2 * (2 * 6 * 6 * 4)  # two products of 2 heads: 6×6 scores of length 4, 6×4 of length 6


def layernorm_decomposed(x, out, gamma, beta, eps_name, axes=(-1,), opset=17):
    """nn.LayerNorm as PyTorch exports it below opset 17 (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div, Mul, Add)."""
    reduce = (lambda i, o: helper.make_node("ReduceMean", [i, "axes"], [o], keepdims=1)) if opset >= 18 else \
        (lambda i, o: helper.make_node("ReduceMean", [i], [o], axes=list(axes), keepdims=1))
    return [reduce(x, "m"), helper.make_node("Sub", [x, "m"], ["d"]),
            helper.make_node("Pow", ["d", "two"], ["p"]), reduce("p", "v"),
            helper.make_node("Add", ["v", eps_name], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
            helper.make_node("Div", ["d", "sd"], ["n"]), helper.make_node("Mul", ["n", gamma], ["g"]),
            helper.make_node("Add", ["g", beta], [out])]


@pytest.mark.parametrize("opset", [14, 18])
def test_decomposed_layernorm_becomes_one_layer(tmp_path, opset):
    rng = np.random.default_rng(6)
    inits = [tensor("gamma", rng.standard_normal(8).astype(np.float32)),
             tensor("beta", rng.standard_normal(8).astype(np.float32)), tensor("two", np.float32(2.0)),
             tensor("eps", np.float32(1e-5)), tensor("axes", np.array([-1], np.int64))]
    nodes = layernorm_decomposed("x", "y", "gamma", "beta", "eps", opset=opset)
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 5, 8]}, {"y": ["N", 5, 8]}, inits, opset=opset)
    layer, = net.layers
    assert layer.op == "layernorm" and layer.params == 16 and layer.attrs["axis"] == 2


def test_layernorm_op_over_two_axes_and_the_unmatched_decomposition(tmp_path):
    """LayerNormalization(axis=-2) directly; a decomposition whose centred tensor is also used elsewhere stays
    op by op (ReduceMean, Sub, Pow, ...) and still matches."""
    rng = np.random.default_rng(7)
    scale = tensor("s", rng.standard_normal((5, 8)).astype(np.float32))
    net = check_against_ort(tmp_path, [helper.make_node("LayerNormalization", ["x", "s"], ["y"], axis=-2,
                                                         epsilon=1e-3)], {"x": ["N", 3, 5, 8]}, {"y": ["N", 3, 5, 8]},
                            [scale])
    assert [l.op for l in net.layers] == ["layernorm"] and net.layers[0].attrs["axis"] == 2
    inits = [tensor("gamma", np.ones(8, np.float32)), tensor("beta", np.zeros(8, np.float32)),
             tensor("two", np.float32(2.0)), tensor("eps", np.float32(1e-5))]
    nodes = layernorm_decomposed("x", "ln", "gamma", "beta", "eps") + [helper.make_node("Add", ["ln", "d"], ["y"])]
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 5, 8]}, {"y": ["N", 5, 8]}, inits)
    assert "layernorm" not in {l.op for l in net.layers} and "reduce" in {l.op for l in net.layers}


@pytest.mark.parametrize("form", ["x*(1+erf)*0.5", "(x*0.5)*(1+erf)", "Gelu", "Gelu-tanh", "Erf"])
def test_gelu_forms(tmp_path, form):
    """GELU as PyTorch exports it below opset 20 (Div by √2, Erf, Add 1, Mul x, Mul 0.5), the Hugging Face order,
    opset 20's Gelu op (exact and tanh) and a bare Erf."""
    inits = [tensor("sqrt2", np.float32(np.sqrt(2))), tensor("one", np.float32(1)), tensor("half", np.float32(0.5))]
    head = [helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["a"])]
    nodes, opset = {
        "x*(1+erf)*0.5": (head + [helper.make_node("Mul", ["x", "a"], ["m"]),
                                  helper.make_node("Mul", ["m", "half"], ["y"])], 17),
        "(x*0.5)*(1+erf)": ([helper.make_node("Mul", ["x", "half"], ["h"])] + head
                            + [helper.make_node("Mul", ["h", "a"], ["y"])], 17),
        "Gelu": ([helper.make_node("Gelu", ["x"], ["y"])], 20),
        "Gelu-tanh": ([helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")], 20),
        "Erf": ([helper.make_node("Erf", ["x"], ["y"])], 17)}[form]
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 16]}, {"y": ["N", 16]}, inits, opset=opset)
    assert [l.op for l in net.layers] == ["erf" if form == "Erf" else "gelu"]


@pytest.mark.parametrize("axis", [0, 1, -2, 3])
def test_softmax_on_any_axis(tmp_path, axis):
    net = check_against_ort(tmp_path, [helper.make_node("Softmax", ["x"], ["y"], axis=axis)], {"x": [2, 3, 4, 5]},
                            {"y": [2, 3, 4, 5]})
    assert net.layers[0].op == "softmax"


def test_where_and_masks(tmp_path):
    """masked_fill as exported: Where(Equal(mask, 0), -inf-ish constant, scores), a constant condition, and a
    constant first operand (1 - x)."""
    big = tensor("neg", np.float32(-1e9))
    nodes = [helper.make_node("Equal", ["mask", "zero"], ["pad"]),
             helper.make_node("Where", ["pad", "neg", "s"], ["masked"]),
             helper.make_node("Where", ["cond", "masked", "s"], ["w"]),
             helper.make_node("Sub", ["one", "w"], ["y"])]
    rng = np.random.default_rng(8)
    inits = [big, tensor("zero", np.float32(0)), tensor("one", np.float32(1)),
             tensor("cond", rng.random((1, 6)) > 0.5)]
    feeds = {"mask": (rng.random((2, 6)) > 0.3).astype(np.float32), "s": rng.standard_normal((2, 6)).astype(np.float32)}
    net = check_against_ort(tmp_path, nodes, {"mask": ["N", 6], "s": ["N", 6]}, {"y": ["N", 6]}, inits, feeds=feeds)
    assert [l.op for l in net.layers] == ["equal", "where", "where", "sub"]


@pytest.mark.parametrize("opset,how", [(11, "attribute"), (17, "input"), (18, "num_outputs"), (17, "equal")])
def test_split_as_slices(tmp_path, opset, how):
    sizes = [2, 3, 1]
    extra = {"attribute": dict(split=sizes), "num_outputs": dict(num_outputs=3), "input": {}, "equal": {}}[how]
    ins = ["x", "sizes"] if how == "input" else ["x"]
    outs = ["a", "b", "c"]
    dims = {"attribute": sizes, "input": sizes, "num_outputs": [2, 2, 2], "equal": [2, 2, 2]}[how]
    nodes = [helper.make_node("Split", ins, outs, axis=-1, **extra),
             helper.make_node("Concat", ["c", "a", "b"], ["y"], axis=-1)]
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 3, sum(dims)]}, {"y": ["N", 3, sum(dims)]},
                            [tensor("sizes", np.array(sizes, np.int64))], opset=opset)
    assert [l.op for l in net.layers] == ["slice"] * 3 + ["concat"]


def test_slice_gather_expand_and_constant_concat(tmp_path):
    """ViT's class token: Concat(constant, patches), Gather(axis 1, index 0); Expand of an activation; an embedding
    (Gather from a constant table by token ids); Slices with a negative step and clamped starts and ends."""
    rng = np.random.default_rng(9)
    inits = [tensor("cls", rng.standard_normal((1, 1, 4)).astype(np.float32)), tensor("zero", np.array(0, np.int64)),
             tensor("shape", np.array([1, 3, 5, 4], np.int64))]
    nodes = [helper.make_node("Concat", ["cls", "x"], ["t"], axis=1),
             helper.make_node("Gather", ["t", "zero"], ["first"], axis=1),
             helper.make_node("Unsqueeze", ["first", "zero1"], ["f1"]),
             helper.make_node("Unsqueeze", ["f1", "zero1"], ["f2"]),
             helper.make_node("Expand", ["f2", "shape"], ["y"])]
    inits.append(tensor("zero1", np.array([1], np.int64)))
    net = check_against_ort(tmp_path, nodes, {"x": [1, 6, 4]}, {"y": [1, 3, 5, 4]}, inits)
    assert [l.op for l in net.layers] == ["concat", "gather", "reshape", "reshape", "expand"]
    table = rng.standard_normal((50, 8)).astype(np.float32)
    ids = rng.integers(0, 50, (2, 7))
    path = tmp_path / "emb.onnx"
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["e"]),
                               helper.make_node("Slice", ["e", "s0", "e0", "a0", "st"], ["es"]),
                               helper.make_node("Slice", ["es", "s1", "e1", "a1"], ["y"])], "emb",
                              [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, ["N", 7])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3, 8])],
                              [tensor("table", table), tensor("s0", np.array([-1], np.int64)),
                               tensor("e0", np.array([-(1 << 62)], np.int64)), tensor("a0", np.array([1], np.int64)),
                               tensor("st", np.array([-3], np.int64)), tensor("s1", np.array([-100], np.int64)),
                               tensor("e1", np.array([1 << 40], np.int64)), tensor("a1", np.array([-1], np.int64))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    net = load_onnx(path)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    np.testing.assert_array_equal(run(net, ids), expected)
    assert [l.op for l in net.layers] == ["embedding", "slice", "slice"] and net.total_params == table.size


def test_reductions_pow_max_min_cast(tmp_path):
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),
             helper.make_node("ReduceMax", ["x"], ["mx"], axes=[1, 2], keepdims=0),
             helper.make_node("Pow", ["s", "three"], ["p"]),
             helper.make_node("Max", ["p", "mx", "lo"], ["m"]),
             helper.make_node("Min", ["m", "mx"], ["mm"]),
             helper.make_node("Cast", ["mm"], ["i"], to=onnx.TensorProto.INT32),
             helper.make_node("Cast", ["i"], ["y"], to=onnx.TensorProto.FLOAT)]
    inits = [tensor("axes", np.array([1, -2], np.int64)), tensor("three", np.float32(3)), tensor("lo", np.float32(-0.5))]
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 3, 4, 5]}, {"y": ["N", 5]}, inits, opset=17)
    assert [l.op for l in net.layers] == ["reduce", "reduce", "pow", "max", "min", "cast"]
    assert net.layers[0].ops == {"add": 3 * 4 * 5}


# ---- shapes-only loading (issue 13: the timing path never holds weight arrays) ---------------------------------

def layer_figures(net):
    return [(l.name, l.op, l.inputs, l.output, l.in_shapes, l.out_shape, l.macs, l.params, l.ops, l.bounds,
             l.mapped_bounds, l.weights_produced) for l in net.layers]


def big_net(tmp_path, rng, external=False):
    """Conv (weights over the size kept as values) -> BN -> Gemm; a pruned SAM layer of 80×64 parameters."""
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    wp, wm = f32(80, 64), f32(80, 64)
    wp[rng.random(wp.shape) < 0.3], wm[rng.random(wm.shape) < 0.2] = -np.inf, np.inf
    inits = [tensor("w", f32(32, 16, 3, 3)), tensor("g", np.abs(f32(32)) + 0.5), tensor("b", f32(32)),
             tensor("m", f32(32)), tensor("v", np.abs(f32(32)) + 0.1), tensor("fc", f32(80, 32 * 6 * 6)),
             tensor("wp", wp), tensor("wm", wm)]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["bn"]),
             helper.make_node("Flatten", ["bn"], ["f"]),
             helper.make_node("Gemm", ["f", "fc"], ["h"], transB=1),
             helper.make_node("SamDense", ["h", "wp", "wm"], ["y"], domain="ai.accelsim")]
    m = model(nodes, {"x": ["N", 16, 8, 8]}, {"y": ["N", 64]}, inits, extra_opsets=[("ai.accelsim", 1)])
    path = tmp_path / "big.onnx"
    onnx.save(m, path, save_as_external_data=external, location="big.data", size_threshold=0)
    return path, int(np.isfinite(wp).sum() + np.isfinite(wm).sum())


@pytest.mark.parametrize("external", [False, True])
def test_shapes_only_loading_keeps_every_figure_and_no_weight_array(tmp_path, external):
    path, kept = big_net(tmp_path, np.random.default_rng(10), external)
    full, shapes = load_onnx(path), load_onnx(path, weights=False)
    assert layer_figures(shapes) == layer_figures(full) and shapes.inputs == full.inputs == {"x": (1, 16, 8, 8)}
    assert shapes["h"].params == 80 * 32 * 36 and shapes["y"].params == kept  # the SAM layer's kept parameters
    big = [w for l in shapes.layers for w in l.weights.values() if w.size > 4096]
    assert len(big) == 4 and all(w.strides == (0,) * w.ndim for w in big)  # placeholders: no memory behind them
    with pytest.raises(AccelsimError, match="loaded without weights"):
        run(shapes, np.zeros((1, 16, 8, 8), np.float32))


@pytest.mark.parametrize("name", ["conv_net", "bert_tiny"])
def test_shapes_only_loading_equals_full_loading(tmp_path, workload, name):
    if name == "conv_net":
        path = tmp_path / "net.onnx"
        onnx.save(conv_net(np.random.default_rng(0), opset=10, inits_as_inputs=True), path)  # upgraded, old style
    else:
        path = workload(name)
    full, shapes = load_onnx(path), load_onnx(path, weights=False)
    assert layer_figures(shapes) == layer_figures(full) and shapes.total_params == full.total_params


def test_shapes_only_reading_of_bad_files_is_one_line(tmp_path, capsys):
    good = tmp_path / "good.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), good)
    data = good.read_bytes()
    for name, payload in (("trunc.onnx", data[: len(data) // 3]), ("junk.onnx", b"\x00\xffnot a model" * 10),
                          ("empty.onnx", b"")):
        with pytest.raises(AccelsimError, match=name):
            load_onnx(write(tmp_path, name, payload), weights=False)


def test_keyword_spotting_style_1d_net(tmp_path):
    """Conv1d + BatchNorm1d (folded into the conv through its unit-height reshape) -> ReLU -> MaxPool1d (dilated,
    padded) -> Conv1d (SAME_UPPER, strided, grouped) -> GlobalAveragePool over time -> Flatten -> Linear."""
    rng = np.random.default_rng(11)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = [tensor("w1", f32(8, 4, 5)), tensor("g", np.abs(f32(8)) + 0.5), tensor("b", f32(8)), tensor("m", f32(8)),
             tensor("v", np.abs(f32(8)) + 0.1), tensor("w2", f32(6, 4, 3)), tensor("b2", f32(6)),
             tensor("fc", f32(3, 6)), tensor("fb", f32(3))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[2, 1]),
             helper.make_node("BatchNormalization", ["c1", "g", "b", "m", "v"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[3], strides=[2], dilations=[2], pads=[1, 1]),
             helper.make_node("Conv", ["p", "w2", "b2"], ["c2"], strides=[2], group=2, auto_pad="SAME_UPPER"),
             helper.make_node("GlobalAveragePool", ["c2"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)]
    L1 = 40 + 2 + 1 - 5 + 1  # 39 after conv1; pool: (39 + 2 - 2*2 - 1) // 2 + 1 = 19; conv2 SAME, stride 2: 10
    net = check_against_ort(tmp_path, nodes, {"x": ["N", 4, 40]}, {"y": ["N", 3]}, inits, rtol=1e-4, atol=1e-4)
    ops = [l.op for l in net.layers]
    assert "affine" not in ops and ops.count("conv") == 2 and ops.count("maxpool") == 1
    conv1, conv2 = [l for l in net.layers if l.op == "conv"]
    assert conv1.macs == 8 * 4 * L1 * 5 and conv1.params == 8 * 4 * 5 + 8  # BN folded into weights and a bias
    assert conv2.macs == 6 * (8 // 2) * 10 * 3  # 8 input channels in 2 groups


def test_product_of_two_activations_in_fixed_point_is_exact_and_special_functions_are_flagged(tmp_path):
    """fixed(8,4): both operands rounded to 1/16 and saturated to [-8, 127/16]; the integer products summed exactly
    (an int64 reference); the softmax between the products runs in float32, flagged as a special-function unit."""
    from accelsim.functional.quantized import run_quantized
    nodes = [helper.make_node("MatMul", ["a", "b"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "b2"], ["y"])]
    path = tmp_path / "attn.onnx"
    onnx.save(model(nodes, {"a": ["N", 2, 5, 6], "b": ["N", 2, 6, 5], "b2": ["N", 2, 5, 3]}, {"y": ["N", 2, 5, 3]},
                    []), path)
    net = load_onnx(path)
    rng = np.random.default_rng(12)
    feeds = {k: (rng.standard_normal(s) * 3).astype(np.float32) for k, s in
             {"a": (4, 2, 5, 6), "b": (4, 2, 6, 5), "b2": (4, 2, 5, 3)}.items()}
    words = lambda x: np.clip(np.rint(x * 16), -128, 127).astype(np.int64)  # fixed(8,4), nearest-even as rint
    y, stats = run_quantized(net, feeds, "fixed(8,4)")
    scores = words(feeds["a"]) @ words(feeds["b"])
    e = np.exp(scores / 256 - (scores / 256).max(-1, keepdims=True))
    expected = words(e / e.sum(-1, keepdims=True)) @ words(feeds["b2"]) / 256
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)
    assert [stats[l.name].arithmetic for l in net.layers] == ["fixed-point, both operands activations",
                                                              "float32 (special-function unit)",
                                                              "fixed-point, both operands activations"]
