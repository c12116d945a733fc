"""Accuracy of the committed trained workloads, in float and in number formats (measured on offline data)."""
from __future__ import annotations

import pytest

from accelsim.frontend import load_onnx
from accelsim.functional.evaluate import evaluate


@pytest.fixture(scope="module")
def mac(trained):
    return load_onnx(trained("seed001_mac"))


def test_seed001_configuration_a_is_accurate_in_float_and_16_bit_fixed(mac):
    """Seed 001 §III-C reports about 0.95 for configuration A after 1000 epochs; ours trains far less."""
    assert evaluate(mac, "seed001")["accuracy"] >= 0.9
    assert evaluate(mac, "seed001", "fixed(16)")["accuracy"] >= 0.9


def test_aggressive_formats_lose_accuracy(mac):
    full = evaluate(mac, "seed001", "fixed(16)")["accuracy"]
    assert evaluate(mac, "seed001", "fixed(4)")["accuracy"] < full - 0.05
    assert evaluate(mac, "seed001", "binary")["accuracy"] < full - 0.3


def test_seed001_configuration_b_sam_is_accurate_pruned_and_format_sensitive(trained):
    """Seed 001 §III-C/D: configuration B (SAM, 2n = 1024 outputs) reaches about 0.95 and keeps about 10^4 of its
    1,048,576 parameters after activation-rate pruning (Fig. 5); SAM sums need range and precision."""
    sam = load_onnx(trained("seed001_sam"))
    layer = sam.layers[0]
    assert layer.op == "sam_dense" and layer.weights["W_plus"].shape == (512, 1024)
    assert layer.macs < 11_000  # kept parameters: one add-and-compare each
    assert evaluate(sam, "seed001")["accuracy"] >= 0.9
    full = evaluate(sam, "seed001", "fixed(16)")["accuracy"]
    assert full >= 0.9
    assert evaluate(sam, "seed001", "fixed(4)")["accuracy"] < full - 0.2


def test_digit_classifiers(trained):
    lenet = load_onnx(trained("lenet5"))
    assert evaluate(lenet, "digits")["accuracy"] >= 0.95
    assert evaluate(lenet, "digits", "fp8_e4m3")["accuracy"] >= 0.95
    mlp = load_onnx(trained("seed000_cs_mlp"))
    assert evaluate(mlp, "digits")["accuracy"] >= 0.95
    assert evaluate(mlp, "digits", "fp4_e2m1")["accuracy"] < 0.5  # 4-bit floats break the CS projection's sums
