"""Seed 001 Fig. 5 / Table I: accuracy against parameters kept in the hidden layer, MAC (configuration A) vs SAM (B).

    python benchmarks/seed001_pruning.py

A is pruned by weight magnitude (the smallest |W| of its hidden layer set to 0), B by activation rate (seed 001
§III-D: parameters selected by max/min on at most the given fraction of 2,000 training signals are removed).
Accuracy is measured on the seed001 test set (10,000 signals) in float; the paper's points are printed alongside.
Energy per inference of the unpruned models on Eyeriss closes the table (pruned weights are still fetched by
the dense arrays; pruned SAM parameters are not).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from accelsim.datasets import seed001_signals  # noqa: E402
from accelsim.frontend import load_onnx  # noqa: E402
from accelsim.functional.evaluate import evaluate  # noqa: E402
from accelsim.functional.sam import activation_rates, prune  # noqa: E402
from accelsim.ir import Network  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402
from accelsim.transforms import prune as prune_weights  # noqa: E402

#: seed 001 §III-D, Fig. 5 and Table I: (configuration, hidden-layer parameters kept, accuracy)
PAPER = [("A (MAC)", 157_000, 0.95), ("A (MAC)", 80_000, 0.90), ("B (SAM)", 10_000, 0.95), ("B (SAM)", 5_500, 0.90)]


def magnitude_pruned(net: Network, keep: float) -> Network:
    """``net`` with all but the largest ``keep`` fraction of its first layer's |W| set to zero."""
    return prune_weights(net, "magnitude", 1.0 - keep, layers=[net.layers[0].name])


def main():
    mac = load_onnx(ROOT / "workloads/trained/seed001_mac.onnx")
    sam = load_onnx(ROOT / "workloads/trained/seed001_sam.onnx")
    rows = []
    for keep in (1.0, 0.75, 0.5, 0.3, 0.2, 0.1, 0.05):
        pruned = magnitude_pruned(mac, keep)
        kept = int(np.count_nonzero(pruned.layers[0].weights["W"]))
        rows.append(("A (MAC)", f"|W| top {keep:.0%}", kept, evaluate(pruned, "seed001")["accuracy"]))
    rates = activation_rates(sam, seed001_signals(2000, seed=4242).x)
    for threshold in (0.0, 0.3, 0.47, 0.49):
        pruned = prune(sam, rates, threshold)
        rows.append(("B (SAM)", f"rate > {threshold}", pruned.layers[0].macs, evaluate(pruned, "seed001")["accuracy"]))
    print(tabulate(rows, headers=["configuration", "pruning", "hidden parameters kept", "accuracy"]))
    print("\nseed 001 Fig. 5 / Table I:")
    print(tabulate(PAPER, headers=["configuration", "hidden parameters kept", "accuracy"]))
    print("\nunpruned, per inference on arch/eyeriss.yaml:")
    energy = [(name, net.layers[0].ops, f"{simulate(net, ROOT / 'arch/eyeriss.yaml').total['energy_pj'] / 1e6:.2f}")
              for name, net in (("A (MAC)", mac), ("B (SAM)", sam))]
    print(tabulate(energy, headers=["configuration", "hidden-layer operations", "energy (µJ)"]))


if __name__ == "__main__":
    main()
