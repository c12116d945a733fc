"""Bundled workloads: MAC/parameter counts against hand formulas, and float reference vs onnxruntime."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from accelsim.cli import main as cli
from accelsim.frontend import load_onnx
from accelsim.functional import run

ort.set_default_logger_severity(3)


def conv_macs(k, c, p, q, r, s, groups=1):
    return k * (c // groups) * p * q * r * s


def dense_macs(*sizes):
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


# Seed 004 (Peluso & Calimera), Table 4, row "#MACs": IC 12 298 240, KWS 504 128, FER 149 331 456.
SEED004_TABLE4_MACS = {"seed004_ic": 12_298_240, "seed004_kws": 504_128, "seed004_fer": 149_331_456}

HAND_MACS = {
    "seed004_ic": conv_macs(32, 3, 32, 32, 5, 5) + conv_macs(32, 32, 16, 16, 5, 5) + conv_macs(64, 32, 8, 8, 5, 5)
    + dense_macs(1024, 10),
    "seed004_kws": conv_macs(186, 1, 1, 9, 32, 8) + dense_macs(186 * 9, 32, 128, 128, 12),
    "seed004_fer": conv_macs(32, 1, 48, 48, 3, 3) + 2 * conv_macs(32, 32, 48, 48, 3, 3)
    + conv_macs(64, 32, 24, 24, 3, 3) + 2 * conv_macs(64, 64, 24, 24, 3, 3)
    + conv_macs(128, 64, 12, 12, 3, 3) + 2 * conv_macs(128, 128, 12, 12, 3, 3) + dense_macs(128 * 36, 7),
    "seed000_cs_mlp": dense_macs(784, 196, 196, 32, 10),
    # seed 001: SAM hidden layer 512 -> 2n = 1024 counts one SAM op per parameter (W+ and W-), then dense 1024 -> 10
    "seed001_sam": 2 * 512 * 1024 + dense_macs(1024, 10),
    "seed001_mac": dense_macs(512, 307, 10),
    "lenet5": conv_macs(6, 1, 28, 28, 5, 5) + conv_macs(16, 6, 10, 10, 5, 5) + dense_macs(400, 120, 84, 10),
    "alexnet": conv_macs(96, 3, 55, 55, 11, 11) + conv_macs(256, 96, 27, 27, 5, 5, 2) + conv_macs(384, 256, 13, 13, 3, 3)
    + conv_macs(384, 384, 13, 13, 3, 3, 2) + conv_macs(256, 384, 13, 13, 3, 3, 2) + dense_macs(9216, 4096, 4096, 1000),
    "vgg16": sum(conv_macs(k, c, hw, hw, 3, 3) for k, c, hw in
                 [(64, 3, 224), (64, 64, 224), (128, 64, 112), (128, 128, 112), (256, 128, 56), (256, 256, 56),
                  (256, 256, 56), (512, 256, 28), (512, 512, 28), (512, 512, 28), (512, 512, 14), (512, 512, 14),
                  (512, 512, 14)]) + dense_macs(25088, 4096, 4096, 1000),
}
def bert_layer_macs(seq, hidden, heads, ffn):
    """Q, K, V, output projections; Q·Kᵀ and A·V per head; the two FFN layers."""
    head = hidden // heads
    return 4 * seq * hidden * hidden + 2 * heads * seq * seq * head + 2 * seq * hidden * ffn


def bert_layer_params(hidden, ffn):
    return 4 * (hidden * hidden + hidden) + (hidden * ffn + ffn) + (ffn * hidden + hidden) + 2 * 2 * hidden


# BERT-tiny (Turc et al. 2019: L=2, H=128, A=2, 4H intermediate) on 128 tokens; ViT-Ti/16 (DeiT-Ti: 12 layers of
# width 192, 3 heads, MLP 768) on 224×224: 14×14 patches + the class token = 197 tokens
HAND_MACS["bert_tiny"] = 2 * bert_layer_macs(128, 128, 2, 512) + 128 * 128 + 128 * 2  # + pooler, classifier
HAND_MACS["vit_tiny"] = (192 * 3 * 16 * 16 * 14 * 14 + 12 * bert_layer_macs(197, 192, 3, 768)  # patch embedding
                         + 192 * 1000)  # head
HAND_PARAMS = {
    # word embeddings (BERT's 30,522 tokens), the 128 positions used, embedding LayerNorm, layers, pooler, classifier
    "bert_tiny": 30522 * 128 + 128 * 128 + 2 * 128 + 2 * bert_layer_params(128, 512) + 128 * 128 + 128 + 128 * 2 + 2,
    # patch conv, class token, 197 positions, layers, final LayerNorm, head: 5.7 M (DeiT-Ti: 5 M reported)
    "vit_tiny": 192 * 768 + 192 + 192 + 197 * 192 + 12 * bert_layer_params(192, 768) + 2 * 192 + 192 * 1000 + 1000,
    "seed001_mac": 512 * 307 + 307 + 307 * 10 + 10,  # seed 001 §III-B: 157,286 weights + 307 biases in the hidden layer
    "seed001_sam": 2 * 512 * 1024 + 1024 * 10 + 10,  # 1,048,576 SAM parameters (seed 001 §III-B)
    "lenet5": 6 * 25 + 6 + 16 * 150 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10,
    "seed004_ic": 32 * 75 + 32 + 32 * 800 + 32 + 64 * 800 + 64 + 1024 * 10 + 10,
}


@pytest.mark.parametrize("name", sorted(HAND_MACS))
def test_macs_match_hand_formulas(workload, name):
    assert load_onnx(workload(name), weights=False).total_macs == HAND_MACS[name]  # counts need shapes only


@pytest.mark.parametrize("name", sorted(SEED004_TABLE4_MACS))
def test_seed004_table4_totals_via_cli(workload, capsys, name):
    assert cli(["info", str(workload(name)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_macs"] == SEED004_TABLE4_MACS[name]


@pytest.mark.parametrize("name", sorted(HAND_PARAMS))
def test_params_match_hand_formulas(workload, name):
    assert load_onnx(workload(name), weights=False).total_params == HAND_PARAMS[name]


def test_resnet18_and_mobilenet_shapes(workload):
    """ResNet-18: 1.81 GMAC; MobileNet-v1: 569 MMAC (Howard et al. 2017, Table 1: 569 million mult-adds)."""
    resnet = load_onnx(workload("resnet18"))
    assert not any(l.op == "affine" for l in resnet.layers)  # every BN folded into its conv
    assert sum(l.op == "conv" for l in resnet.layers) == 20 and resnet.layers[-1].op == "dense"
    mobilenet = load_onnx(workload("mobilenet_v1"))
    depthwise = [l for l in mobilenet.layers if l.op == "conv" and l.bounds.groups == l.bounds.C > 1]
    assert len(depthwise) == 13
    assert round(mobilenet.total_macs / 1e6) == 569


ALL = ["seed004_ic", "seed004_kws", "seed004_fer", "seed000_cs_mlp", "seed001_sam", "seed001_mac", "lenet5",
       "alexnet", "vgg16", "resnet18", "mobilenet_v1", "vit_tiny"]


@pytest.mark.parametrize("name", ALL)
def test_float_reference_matches_onnxruntime(workload, name):
    path = workload(name)
    net = load_onnx(path)
    (inp, shape), = net.inputs.items()
    batch = 4 if np.prod(shape) < 10_000 else 1
    x = np.random.default_rng(0).standard_normal((batch, *shape[1:])).astype(np.float32)
    ours = run(net, x)
    if name == "seed001_sam":  # onnxruntime has no SamDense kernel: check eq. (5) then the dense tail by hand
        layer, fc = net.mac_layers
        hidden = np.array([[max(xi + layer.weights["W_plus"][:, j]) + min(xi + layer.weights["W_minus"][:, j])
                            for j in range(0, 1024)] for xi in x])
        logits = hidden @ fc.weights["W"].T + fc.weights["B"]
        expected = np.exp(logits - logits.max(1, keepdims=True))
        expected /= expected.sum(1, keepdims=True)
    else:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        expected = sess.run(None, {inp: x})[0]
    # float32 sums in another order: relative tolerance, absolute at the scale of the largest output
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max()))


def token_ids(batch, seq=128, vocab=30522, seed=0):
    """Random token ids with padding (id 0) after a random length of at least 8 tokens per sequence."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq))
    for row, length in zip(ids, rng.integers(8, seq + 1, batch)):
        row[length:] = 0
    return ids


def test_bert_tiny_matches_onnxruntime_with_padding_masked(workload):
    """Sequences of different lengths, their padded keys masked out of attention (Where(id == 0, min, scores))."""
    path = workload("bert_tiny")
    net = load_onnx(path)
    ids = token_ids(3)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"input_ids": ids})[0]
    ours = run(net, ids)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(expected).max()))
    ops = {l.op for l in net.layers}
    assert {"embedding", "layernorm", "matmul", "softmax", "gelu", "where"} <= ops and "erf" not in ops
    assert sum(l.weights_produced for l in net.layers) == 4  # Q·Kᵀ and A·V in each of the 2 layers


def test_a_produced_operand_is_fetched_not_resident(tmp_path):
    """The same 64×32 · 32×48 product with a constant weight (dense) and with a produced second operand (matmul):
    on Eyeriss (nothing resident) the counts are identical; on ISAAC the crossbars hold weights before inference,
    but a produced operand must be read from DRAM (32·48 more words) and written into the arrays."""
    import onnx
    from onnx import helper

    from accelsim.simulate import simulate
    from onnx_builders import model, tensor
    w = np.random.default_rng(0).standard_normal((32, 48)).astype(np.float32)
    for name, nodes, inputs, inits in (
            ("dense", [helper.make_node("MatMul", ["a", "w"], ["y"])], {"a": [1, 64, 32]}, [tensor("w", w)]),
            ("matmul", [helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": [1, 64, 32], "b": [32, 48]}, [])):
        onnx.save(model(nodes, inputs, {"y": [1, 64, 48]}, inits), tmp_path / f"{name}.onnx")
    runs = {(name, arch): simulate(str(tmp_path / f"{name}.onnx"), f"arch/{arch}.yaml").layers[0]
            for name in ("dense", "matmul") for arch in ("eyeriss", "isaac")}
    assert runs["dense", "eyeriss"].counts == runs["matmul", "eyeriss"].counts
    dense, prod = runs["dense", "isaac"], runs["matmul", "isaac"]
    assert prod.counts["dram"]["read"] - dense.counts["dram"]["read"] == 32 * 48  # each word once
    assert dense.counts.get("array", {}).get("write", 0) == 0 and prod.counts["array"]["write"] == 32 * 48


@pytest.mark.parametrize("name", ["bert_tiny", "vit_tiny"])
def test_transformer_written_with_onnx_helper_is_the_exported_one(tmp_path, workload, build_script, name):
    """Without torch the workloads are written with onnx.helper: same MACs and parameters (hand formulas), the
    same layers as torch.onnx.export's file (where torch is importable) but for the mask's Casts."""
    import collections

    import onnx
    build = build_script
    path = tmp_path / f"{name}.onnx"
    onnx.save(getattr(build, f"_{name.split('_')[0]}_helper")(), path)
    net = load_onnx(path, weights=False)
    assert net.total_macs == HAND_MACS[name] and net.total_params == HAND_PARAMS[name]
    if name == "bert_tiny":
        ids = token_ids(2)
        expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids})[0]
        np.testing.assert_allclose(run(load_onnx(path), ids), expected, rtol=1e-4, atol=1e-6)
    if not build.torch_available():
        pytest.skip("torch is not importable: the workload itself is the onnx.helper one")
    exported = load_onnx(workload(name), weights=False)
    assert onnx.load(workload(name), load_external_data=False).producer_name == "pytorch"
    ops = lambda n: collections.Counter(l.op for l in n.layers if l.op != "cast")
    assert ops(exported) == ops(net)
