"""Quantized execution against exact references (plain Python integers, seed 001 eq. 5), data sets, eval."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
from onnx import helper

from accelsim.cli import main as cli
from accelsim.datasets import Dataset, load
from accelsim.errors import AccelsimError
from accelsim.formats import parse
from accelsim.frontend import load_onnx
from accelsim.functional import run
from accelsim.functional.reference import OPS
from accelsim.functional.sam import activation_rates, prune
from accelsim.functional.evaluate import evaluate
from accelsim.functional.quantized import QuantSpec, run_quantized
from accelsim.kernels import multiprecision_gemm
from onnx_builders import model, sam_net, tensor

def conv_model(tmp_path, rng, groups=1):
    w = rng.standard_normal((4, 6 // groups, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 1], group=groups)]
    path = tmp_path / "conv.onnx"
    onnx.save(model(nodes, {"x": ["N", 6, 7, 5]}, {"y": ["N", 4, 4, 5]},
                    [tensor("w", w), tensor("b", rng.standard_normal(4).astype(np.float32))]), path)
    return load_onnx(path)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("accumulator", [None, "fixed(40)"])
# sums below 2^24 (float32 BLAS) and above (float64): 8-bit weights with 10- and 24-bit activations, 16-bit both
@pytest.mark.parametrize("weights, activations", [((8, 5), (10, 6)), ((16, 13), (16, 10)), ((8, 5), (24, 18))])
def test_fixed_point_conv_equals_exact_integer_reference(tmp_path, groups, accumulator, weights, activations):
    rng = np.random.default_rng(5)
    net = conv_model(tmp_path, rng, groups)
    layer = net.layers[0]
    x = rng.standard_normal((2, 6, 7, 5)).astype(np.float32)
    wa, fa = activations
    (ww, fw), hi = weights, (1 << (weights[0] - 1)) - 1
    spec = f"weights=fixed({ww},{fw});activations=fixed({wa},{fa})" + (f";accumulator={accumulator}" if accumulator else "")
    y, _ = run_quantized(net, x, spec)
    xi = [[[[round(float(v) * 2 ** fa) for v in row] for row in ch] for ch in img] for img in x]
    wi = [[[[max(-hi - 1, min(hi, round(float(v) * 2 ** fw))) for v in row] for row in ch] for ch in f] for f in
          layer.weights["W"]]
    cg, kg = 6 // groups, 4 // groups
    for n in range(2):
        for k in range(4):
            g = k // kg
            for p in range(4):
                for q in range(5):
                    acc = 0  # exact Python integers
                    for c in range(cg):
                        for r in range(3):
                            for s in range(3):
                                h, w_ = p * 2 + r - 1, q + s - 1
                                if 0 <= h < 7 and 0 <= w_ < 5:
                                    acc += xi[n][g * cg + c][h][w_] * wi[k][c][r][s]
                    expected = np.float32(acc / 2 ** (fa + fw) + float(layer.weights["B"][k]))  # one rounding
                    assert y[n, k, p, q] == expected


@pytest.mark.parametrize("groups", [1, 2])
def test_binary_weights_and_activations_run_as_xnor_popcount(tmp_path, groups):
    """Padded, strided, grouped conv: XNOR-popcount times the scales equals the ±α products summed in float64."""
    rng = np.random.default_rng(9)
    net = conv_model(tmp_path, rng, groups)
    layer = net.layers[0]
    x = rng.standard_normal((3, 6, 7, 5)).astype(np.float32)
    y, stats = run_quantized(net, x, "weights=binary;activations=binary")
    assert stats[layer.name].arithmetic == "xnor-popcount"
    xq = np.where(x >= 0, 1.0, -1.0) * np.abs(x).reshape(3, -1).mean(1)[:, None, None, None]  # per sample
    w = layer.weights["W"].astype(np.float64)
    wq = np.where(w >= 0, 1.0, -1.0) * np.abs(w).reshape(4, -1).mean(1)[:, None, None, None]  # per filter
    reference = OPS["conv"](replace(layer, weights={**layer.weights, "W": wq}), [xq])  # float64 sums, with bias
    np.testing.assert_allclose(y, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("precision, shift", [("16x16", 0), ("16x8", 8), ("8x16", 8), ("8x8", 16)])
def test_multiprecision_mac_runs_algorithm1_and_prices_macs_by_table1(tmp_path, precision, shift):
    """A dense layer with mac=P equals seed 004 Algorithm 1 (the numba kernel) at full scale; eq. (3) with
    Table 1 prices every MAC, a zero operand at 0.103 of it (seed 004 §3.3)."""
    rng = np.random.default_rng(11)
    w = rng.standard_normal((5, 40)).astype(np.float32)
    path = tmp_path / "dense.onnx"
    onnx.save(model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], {"x": ["N", 40]}, {"y": ["N", 5]},
                    [tensor("w", w)]), path)
    net = load_onnx(path)
    x = (rng.standard_normal((6, 40)) * 8).astype(np.float32)
    x[x < -3] = 0  # zero operands for zero-skipping
    y, stats = run_quantized(net, x, f"weights=fixed(16,12);activations=fixed(16,10);mac={precision}")

    def word(v, frac, bits):  # an 8-bit operand: rounded to 8 bits (F - 8), held in the 16-bit word's high byte
        if bits == "16":
            return np.clip(np.rint(v.astype(np.float64) * 2 ** frac), -32768, 32767).astype(np.int64)
        return np.clip(np.rint(v.astype(np.float64) * 2 ** (frac - 8)), -128, 127).astype(np.int64) << 8
    i_bits, w_bits = precision.split("x")
    xi, wi = word(x, 10, i_bits), word(w, 12, w_bits)
    expected = multiprecision_gemm(xi, wi, precision) * 2.0 ** (shift - 22)
    assert np.array_equal(y, expected.astype(np.float32))
    st = stats[net.layers[0].name]
    zeros = sum(int(a == 0 or b == 0) for row in xi for wrow in wi for a, b in zip(row, wrow))
    cycles, energy = {"16x16": (4, 3.80), "16x8": (2, 1.90), "8x16": (2, 1.90), "8x8": (1, 0.95)}[precision]
    assert (st.macs, st.zero_macs, st.mac_cycles) == (6 * 5 * 40, zeros, cycles * 6 * 5 * 40)
    assert st.mac_energy_pj == pytest.approx(energy * (6 * 5 * 40 - zeros + 0.103 * zeros))
    assert st.arithmetic == f"mac={precision}"


def test_saturating_dense_layer_equals_in_order_saturating_integer_sums(tmp_path):
    rng = np.random.default_rng(12)
    w = rng.standard_normal((3, 30)).astype(np.float32)
    path = tmp_path / "dense.onnx"
    onnx.save(model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], {"x": ["N", 30]}, {"y": ["N", 3]},
                    [tensor("w", w)]), path)
    x = (rng.standard_normal((4, 30)) * 6).astype(np.float32)
    y, stats = run_quantized(load_onnx(path), x, "weights=fixed(8,5);activations=fixed(8,3);accumulator=fixed(12)")
    xi = [[max(-128, min(127, round(float(v) * 8))) for v in row] for row in x]
    wi = [[max(-128, min(127, round(float(v) * 32))) for v in row] for row in w]
    events = 0
    for n in range(4):
        for k in range(3):
            acc = 0
            for a, b in zip(xi[n], wi[k]):
                acc += a * b
                if not -2048 <= acc <= 2047:
                    acc, events = max(-2048, min(2047, acc)), events + 1
            assert y[n, k] == np.float32(acc / 2 ** 8)
    assert events > 0 and stats[next(iter(stats))].saturations == events


def test_multiprecision_mac_needs_16_bit_fixed_point_operands():
    with pytest.raises(AccelsimError, match="16-bit"):
        QuantSpec.parse("fixed(8);mac=16x8")
    with pytest.raises(AccelsimError, match="16-bit"):
        QuantSpec.parse("fp16;mac=16x16")
    with pytest.raises(AccelsimError, match="unknown precision"):
        QuantSpec.parse("fixed(16);mac=4x4")
    assert str(QuantSpec.parse("fixed(16);mac=8x16")) == "weights=fixed(16);activations=fixed(16);mac=8x16"
    arch_formats = {"inputs": "fixed(16)", "weights": "fixed(16)", "mac": "8x8"}  # as an architecture file gives
    assert QuantSpec.from_formats(arch_formats) == QuantSpec.parse("fixed(16);mac=8x8")


def test_narrow_accumulator_saturates_and_counts(tmp_path):
    rng = np.random.default_rng(6)
    net = conv_model(tmp_path, rng)
    x = (rng.standard_normal((2, 6, 7, 5)) * 4).astype(np.float32)
    _, wide = run_quantized(net, x, "weights=fixed(8,5);activations=fixed(10,6);accumulator=fixed(32)")
    _, narrow = run_quantized(net, x, "weights=fixed(8,5);activations=fixed(10,6);accumulator=fixed(12)")
    name = net.layers[0].name
    assert wide[name].saturations == 0 < narrow[name].saturations
    assert wide[name].to_dict()["fraction_bits"] == {"weights": 5, "activations": [6]}
    _, dynamic = run_quantized(net, x, "fixed(8)")  # seed 004 §4.1: F per tensor by the L2 search
    assert dynamic[name].to_dict()["fraction_bits"] == {
        "weights": parse("fixed(8)").fraction_bits(net.layers[0].weights["W"]),
        "activations": [parse("fixed(8)").fraction_bits(x)]}


def test_sam_layer_in_a_format_follows_eq5_with_rounded_sums(tmp_path):
    rng = np.random.default_rng(7)
    net, wp, wm = sam_net(tmp_path, rng)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    y, _ = run_quantized(net, x, "fixed(8,4)")
    q = lambda v: min(max(round(v * 16), -128), 127) / 16
    for b in range(3):
        for j in range(4):
            hi = max(q(q(x[b, i]) + q(wp[i, j])) for i in range(6) if np.isfinite(wp[i, j]))
            lo = min(q(q(x[b, i]) + q(wm[i, j])) for i in range(6) if np.isfinite(wm[i, j]))
            assert y[b, j] == np.float32(hi + lo)


def test_sam_activation_rates_and_pruning_follow_seed001_section3d(tmp_path):
    """Activation rate = how often max/min selects a parameter (counted by brute force here); pruning at a
    threshold removes the parameters at or below it, and a neuron left without W+ or W− outputs 0."""
    rng = np.random.default_rng(10)
    net, wp, wm = sam_net(tmp_path, rng)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    plus, minus = activation_rates(net, x)[net.layers[0].name]
    for rates, w, pick in ((plus, wp, np.argmax), (minus, wm, np.argmin)):
        expected = np.zeros(w.shape)
        for row in x:
            for j in range(w.shape[1]):
                expected[pick(row + w[:, j]), j] += 1 / len(x)
        np.testing.assert_allclose(rates, expected)
    assert plus[0, 1] == 0 and minus[2, 3] == 0  # already pruned: never selected
    kept = prune(net, {net.layers[0].name: (plus, minus)}, threshold=0.0)
    np.testing.assert_array_equal(run(kept, x), run(net, x))  # never-selected parameters change nothing
    assert kept.layers[0].macs == (plus > 0).sum() + (minus > 0).sum()
    dead = prune(net, {net.layers[0].name: (plus, np.where(np.arange(4) == 2, 0.0, minus))}, threshold=0.0)
    y = run(dead, x)
    assert (y[:, 2] == 0).all() and np.array_equal(y[:, [0, 1, 3]], run(net, x)[:, [0, 1, 3]])


def test_float_spec_reproduces_the_reference_and_zero_fractions_are_counted(tmp_path):
    rng = np.random.default_rng(8)
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Gemm", ["r", "w"], ["y"], transB=1)]
    path = tmp_path / "mlp.onnx"
    onnx.save(model(nodes, {"x": ["N", 10]}, {"y": ["N", 3]}, [tensor("w", rng.standard_normal((3, 10))
                                                                         .astype(np.float32))]), path)
    net = load_onnx(path)
    x = rng.standard_normal((50, 10)).astype(np.float32)
    y, stats = run_quantized(net, x, "float")
    np.testing.assert_allclose(y, run(net, x), rtol=1e-5, atol=1e-6)  # float64 sums vs float32
    assert stats[net.mac_layers[0].name].zero_fraction == pytest.approx(np.mean(x <= 0))


@pytest.mark.parametrize("fmt, limit", [("fp8_e4m3", 448.0), ("fp4_e2m1", 6.0), ("fp16", 65504.0)])
def test_minifloat_overflows_are_counted_as_clipped_inputs(tmp_path, fmt, limit):
    """fp8 e4m3fn turns overflow into NaN, fp4 saturates, fp16 goes to inf: each is a clipped input."""
    rng = np.random.default_rng(13)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    path = tmp_path / "dense.onnx"
    onnx.save(model(nodes, {"x": ["N", 10]}, {"y": ["N", 3]}, [tensor("w", rng.standard_normal((3, 10))
                                                                         .astype(np.float32))]), path)
    net = load_onnx(path)
    x = rng.standard_normal((20, 10)).astype(np.float32)
    x[:3, 0] = limit * 1.5
    x[5, 2] = -limit * 3
    _, stats = run_quantized(net, x, f"weights=fp16;activations={fmt}")
    assert stats[net.layers[0].name].clipped_inputs == 4


def test_spec_spelling_and_per_layer_overrides():
    spec = QuantSpec.parse("fixed(8);accumulator=fixed(24);conv1:weights=fixed(16)")
    assert str(spec.weights) == "fixed(8)" and str(spec.accumulator) == "fixed(24)"
    assert str(spec.for_layer("conv1").weights) == "fixed(16)" and str(spec.for_layer("conv1").activations) == "fixed(8)"
    assert str(QuantSpec.parse("ternary").activations) == "float"  # few-level formats are for weights
    spelled = "weights=fixed(16);activations=fixed(16);conv1:weights=fixed(8);conv2:mac=8x8"
    assert str(QuantSpec.parse(spelled)) == spelled and QuantSpec.parse(str(QuantSpec.parse(spelled))) == \
        QuantSpec.parse(spelled)
    with pytest.raises(AccelsimError):
        QuantSpec.parse("weights=fixed(99)")


def test_datasets_are_deterministic_balanced_and_adapt_to_model_inputs(tmp_path):
    d = load("digits")
    assert len(d) == 540 and d.x.shape == (540, 8, 8) and np.array_equal(d.x, load("digits").x)
    big = d.for_input_shape((1, 1, 32, 32)).x
    assert big.shape == (540, 1, 32, 32) and np.array_equal(big[:, 0, ::4, ::4], d.x)  # ×4 nearest neighbour
    flat = d.for_input_shape((1, 784)).x.reshape(-1, 28, 28)
    assert np.array_equal(flat[:, 2:26:3, 2:26:3], d.x)  # ×3 then centred in 28×28
    s = load("seed001")
    assert s.x.shape == (10_000, 512) and np.bincount(s.y).tolist() == [1000] * 10
    # eq. (6): lag-1 autocorrelation of each class is its r
    for label, r in enumerate(np.linspace(-0.9, 0.9, 10)):
        x = s.x[s.y == label].astype(np.float64)
        assert np.mean(x[:, 1:] * x[:, :-1]) / np.mean(x * x) == pytest.approx(r, abs=0.02)
    colour = d.for_input_shape((1, 3, 32, 32)).x  # a grey image feeds a colour input as three equal channels
    assert colour.shape == (540, 3, 32, 32) and np.array_equal(colour[:, 2], big[:, 0])
    with pytest.raises(AccelsimError, match="cannot feed"):
        d.for_input_shape((1, 2, 32, 32))
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 2)))
    with pytest.raises(AccelsimError, match="'y'"):
        load(f"npz:{tmp_path / 'bad.npz'}")
    with pytest.raises(AccelsimError, match="unknown"):
        load("imagenet")


def test_eval_cli_json_on_an_npz_data_set(tmp_path, capsys):
    rng = np.random.default_rng(9)
    w = np.eye(4, dtype=np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    onnx.save(model(nodes, {"x": ["N", 4]}, {"y": ["N", 4]}, [tensor("w", w)]), tmp_path / "id.onnx")
    x = rng.standard_normal((40, 4)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.argmax(x, axis=1))
    assert cli(["eval", str(tmp_path / "id.onnx"), "--dataset", f"npz:{tmp_path / 'd.npz'}", "--format", "fixed(8)",
                "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] == 1.0 and out["n"] == 40
    assert cli(["eval", str(tmp_path / "id.onnx"), "--dataset", f"npz:{tmp_path / 'd.npz'}", "--format",
                "binary(per=layer)", "--activations", "binary(per=layer)", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] < 1.0  # one bit cannot tell which of four is largest


def test_evaluate_accepts_a_dataset_object(tmp_path):
    rng = np.random.default_rng(10)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    onnx.save(model(nodes, {"x": ["N", 3]}, {"y": ["N", 3]}, [tensor("w", np.eye(3, dtype=np.float32))]),
              tmp_path / "m.onnx")
    x = rng.standard_normal((30, 3)).astype(np.float32)
    out = evaluate(load_onnx(tmp_path / "m.onnx"), Dataset("toy", x, np.argmax(x, 1)), "fp8_e4m3", batch_size=7)
    assert out["accuracy"] == 1.0 and out["n"] == 30


@pytest.mark.parametrize("fmt", ["fixed(16)", "fixed(8)", "fixed(8,5);accumulator=fixed(12)", "fp8_e4m3",
                                 "ternary", "float"])
def test_relu_and_pooling_fused_into_the_layer_before_give_what_their_layers_give(tmp_path, fmt):
    """A MAC layer whose output only a ReLU (and then only a max pooling) reads returns their output (in one
    onnxruntime session or the fixed-point finish where that is exact, else applied after); one read by more, or
    a graph output, is left to the next layer. Outputs and statistics are those of running each layer alone."""
    from accelsim.functional.quantized import QuantizedExecutor

    rng = np.random.default_rng(5)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1,
                              name="pool1"),  # conv1, relu1, pool1: one chain
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),  # c2 has a second reader
             helper.make_node("Add", ["r2", "c2"], ["s"], name="add"),
             helper.make_node("Flatten", ["s"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["g"], transB=1, name="fc1"),
             helper.make_node("Relu", ["g"], ["y"], name="relu3"),  # its output is the graph's
             helper.make_node("Gemm", ["y", "w4"], ["z"], transB=1, name="fc2"),
             helper.make_node("Relu", ["z"], ["out"], name="relu4")]  # z is a graph output too
    path = tmp_path / "relus.onnx"
    onnx.save(model(nodes, {"x": ["N", 3, 8, 8]}, {"out": ["N", 4], "z": ["N", 4]},
                    [tensor("w1", f32(5, 3, 3, 3)), tensor("b1", f32(5) - 1), tensor("w2", f32(4, 5, 3, 3)),
                     tensor("b2", f32(4)), tensor("w3", f32(7, 4 * 16)), tensor("b3", f32(7)),
                     tensor("w4", f32(4, 7))]), path)
    net = load_onnx(path)
    x = f32(9, 3, 8, 8)

    class Separate(QuantizedExecutor):
        fuses = ()

    asked = []

    class Spy(QuantizedExecutor):
        def __call__(self, layer, inputs, then=()):
            asked.extend([(layer.name, *(t.name for t in then))] if then else [])
            return super().__call__(layer, inputs, then)

    spec = QuantSpec.parse(fmt)
    fused, fused_stats = run_quantized(net, x, spec, Spy(spec))
    separate, separate_stats = run_quantized(net, x, spec, Separate(spec))
    assert asked == [("conv1", "relu1", "pool1"), ("fc1", "relu3")]
    for name in ("out", "z"):
        assert np.array_equal(fused[name], separate[name], equal_nan=True) and fused[name].dtype == np.float32
    assert (fused["out"] == 0).any() and (fused["z"] < 0).any()  # the ReLUs bite
    assert {k: v.to_dict() for k, v in fused_stats.items()} == {k: v.to_dict() for k, v in separate_stats.items()}
