"""Activation-rate pruning of SAM layers (seed 001 §III-D): a parameter's activation rate is the fraction of inputs
for which max/min selects it; parameters at or below a threshold are removed (set to −inf in W+, +inf in W−), so they
cost neither memory nor additions."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..ir import Layer, Network
from ..kernels import selection_counts
from .reference import run


def activation_rates(net: Network, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{SAM layer: (rate of each W+ entry, rate of each W− entry)} over the samples ``x`` (run in float)."""
    env = run(net, x, keep=True)
    rates = {}
    for layer in net.layers:
        if layer.op == "sam_dense":
            inputs = env[layer.inputs[0]].reshape(len(x), -1)
            rates[layer.name] = (selection_counts(inputs, layer.weights["W_plus"], 1.0) / len(x),
                                 selection_counts(inputs, layer.weights["W_minus"], -1.0) / len(x))
    return rates


def prune(net: Network, rates: dict, threshold: float = 0.0) -> Network:
    """A copy of ``net`` whose SAM parameters with activation rate <= ``threshold`` are removed."""
    def pruned(layer: Layer) -> Layer:
        if layer.name not in rates:
            return layer
        plus, minus = rates[layer.name]
        w = dict(layer.weights)
        w["W_plus"] = np.where(plus > threshold, w["W_plus"], -np.inf).astype(np.float32)
        w["W_minus"] = np.where(minus > threshold, w["W_minus"], np.inf).astype(np.float32)
        return replace(layer, weights=w)
    return net.with_layers([pruned(l) for l in net.layers])
