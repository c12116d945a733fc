"""AlexNet CONV and FC layers on Eyeriss's 12x14 array under RS, WS, OS and NLR (same array, same storage).

Energy per MAC split into DRAM / buffer / NoC / RF / ALU, and normalized to RS's total, as in the dataflow
comparison of Chen, Emer, Sze (ISCA 2016, energy/op of AlexNet CONV and FC layers; there RS is lowest).
Every dataflow gets the same mapper budget; nothing is tuned per dataflow. The chip's buses (a 16-bit ifmap
network) bind the dataflows that need many distinct inputs a cycle (WS, OS, NLR) far more than RS; with
``--set components.ifmap_noc.width_bits=4096`` (and the filter/psum ones) they never bind and RS stays lowest.

    python benchmarks/compare_dataflows.py [--batch N] [--plot F]
"""
from __future__ import annotations

import argparse
import os
import sys

from tabulate import tabulate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classic_shapes import load  # noqa: E402

from accelsim.arch import load_arch  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402

ARCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "arch", "eyeriss.yaml")
CATEGORY = {"dram": "DRAM", "global_buffer": "buffer", "filter_buffer": "buffer", "filter_noc": "NoC",
            "ifmap_noc": "NoC", "psum_noc": "NoC", "ifmap_spad": "RF", "weights_spad": "RF", "psum_spad": "RF",
            "pe_array": "ALU", "clock": "clock"}
CATS = ["DRAM", "buffer", "NoC", "RF", "ALU", "clock"]
FLOWS = ["rs", "ws", "os", "nlr"]


def breakdown(result, op):
    split, macs = dict.fromkeys(CATS, 0.0), 0
    for layer in result.layers:
        if layer.op == op:
            macs += layer.macs
            for comp, pj in layer.energy_pj.items():
                split[CATEGORY[comp]] += pj
    return {k: v / macs for k, v in split.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--plot", default="dataflows.png")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture overrides, e.g. components.ifmap_noc.width_bits=4096 (buses that never bind)")
    args = p.parse_args(argv)
    net = load("alexnet", args.batch)
    arch = load_arch(ARCH, args.overrides)
    results = {df: simulate(net, arch, df) for df in FLOWS}
    table = {}
    for op, label in (("conv", "CONV"), ("dense", "FC")):
        rows = {df: breakdown(results[df], op) for df in FLOWS}
        rs_total = sum(rows["rs"].values())
        out = []
        for df in FLOWS:
            total = sum(rows[df].values())
            cycles = sum(l.cycles for l in results[df].layers if l.op == op)
            out.append([df.upper(), *(rows[df][c] for c in CATS), total, total / rs_total, cycles])
        print(f"\nAlexNet {label} layers (batch {args.batch}) on Eyeriss 12x14: energy per MAC (pJ)")
        print(tabulate(out, headers=["dataflow", *CATS, "total", "vs RS", "cycles"], floatfmt=".3f", intfmt=","))
        if label == "CONV":
            lowest = min(rows, key=lambda df: sum(rows[df].values()))
            print(f"lowest energy: {lowest.upper()} (ISCA 2016: RS lowest on CONV layers) — "
                  f"{'pass' if lowest == 'rs' else 'fail'}")
        table[label] = rows
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (label, rows) in zip(axes, table.items()):
        rs_total = sum(rows["rs"].values())
        bottom = [0.0] * len(FLOWS)
        for c in CATS:
            vals = [rows[df][c] / rs_total for df in FLOWS]
            ax.bar([d.upper() for d in FLOWS], vals, bottom=bottom, label=c)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(f"AlexNet {label}: energy/MAC normalized to RS")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
