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


def test_digit_classifiers(trained):
    lenet = load_onnx(trained("lenet5"))
    assert evaluate(lenet, "digits")["accuracy"] >= 0.95
    assert evaluate(lenet, "digits", "fp8_e4m3")["accuracy"] >= 0.95
    mlp = load_onnx(trained("seed000_cs_mlp"))
    assert evaluate(mlp, "digits")["accuracy"] >= 0.95
    assert evaluate(mlp, "digits", "fp4_e2m1")["accuracy"] < 0.5  # 4-bit floats break the CS projection's sums
