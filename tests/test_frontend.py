"""Frontend + float reference: agreement with onnxruntime, exact MAC counts, and bad input."""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from accelsim.cli import main as cli
from accelsim.frontend import load_onnx
from accelsim.functional import run
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


def test_infer_wrong_input_shape_is_one_line_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "net.onnx"
    onnx.save(conv_net(np.random.default_rng(0)), path)
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 12, 13), np.float32))
    one_line_error(capsys, ["infer", str(path), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "y.npy")],
                   "expects shape", "(2, 3, 12, 13)")
    assert not (tmp_path / "y.npy").exists()
    assert not list(tmp_path.glob(".y.npy*"))
