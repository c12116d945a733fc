"""Timing-path speed: wall time to simulate ResNet-18 and VGG-16 on each architecture (fast mode), simulated
MACs per wall second, and fast vs fine mode on a small layer (ratio measured in the same run).

Targets (SPEC §7 / issue 4): a whole ResNet-18 in under 10 s and VGG-16 in under 30 s on 2 cores.

    python benchmarks/sim_speed.py
"""
from __future__ import annotations

import os
import sys
import time

from tabulate import tabulate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from classic_shapes import load  # noqa: E402

from accelsim.ir.graph import Network  # noqa: E402
from accelsim.ir.layer import Layer, LoopBounds  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402

ARCHS = [("eyeriss", "rs"), ("eyeriss", "nlr"), ("diannao", "nfu")]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main():
    rows = []
    for name in ("resnet18", "vgg16"):
        net = load(name)
        for arch, df in ARCHS:
            path = os.path.join(HERE, "..", "arch", f"{arch}.yaml")
            result, secs = timed(lambda: simulate(net, path, df))
            rows.append([name, f"{arch}/{df}", f"{net.total_macs:,}", f"{secs:.2f}", f"{net.total_macs / secs:.3g}",
                         f"{result.total['cycles']:,}"])
    print(tabulate(rows, headers=["model", "arch", "MACs", "wall s", "sim MACs / s", "cycles"]))

    # fast vs fine on a small layer: the mapping is searched once, then both modes run it
    b = LoopBounds(1, 16, 8, 8, 8, 3, 3, pads=(1, 1, 1, 1))
    layer = Layer("small", "conv", ["x"], "y", [(1, 8, 8, 8)], (1, 16, 8, 8), {}, {}, b)
    net = Network.from_layers("small", [layer], {"x": (1, 8, 8, 8)}, ["y"])
    path = os.path.join(HERE, "..", "arch", "eyeriss.yaml")
    mapping = {"small": simulate(net, path).layers[0].to_dict()["mapping"]}
    fast, t_fast = timed(lambda: simulate(net, path, mapping=mapping))
    fine, t_fine = timed(lambda: simulate(net, path, mapping=mapping, mode="fine"))
    same = [l.to_dict() for l in fast.layers] == [l.to_dict() for l in fine.layers]
    print(f"\nsmall layer ({b.macs:,} MACs) on eyeriss/rs: fast {t_fast * 1e3:.1f} ms, fine {t_fine * 1e3:.1f} ms, "
          f"fine/fast = {t_fine / t_fast:.0f}x; identical results: {same}")


if __name__ == "__main__":
    main()
