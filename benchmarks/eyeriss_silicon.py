"""accelsim against the Eyeriss chip: AlexNet CONV1-5 (batch 4) and VGG-16 CONV (batch 3), layer by layer.

The chip's measurements are JSSC 2017 Tables V (AlexNet) and VI (VGG-16) (Chen, Krishna, Emer, Sze), as
transcribed in ../shared/fidelity/eyeriss_jssc2017_alexnet_table5.csv and in VGG16 below (cucapra/fodlam
data/eyeriss-vgg16.csv, hand-cleaned OCR of Table VI; CONV2-2's processing latency, 1110.3 ms above its total
latency, is an OCR error and is not compared). The model is run with arch/eyeriss.yaml as it is, 200 MHz core
and 60 MHz link, and the ifmap zeros each table reports (the chip gates on them and run-length codes them off
chip; an ofmap's density is taken from the next layer's ifmap). VGG-16 is held out: nothing in the
architecture file was set from it.

Columns: latency (ms), active PEs, DRAM and GLB accesses (MB of 16-bit words), chip power (mW: energy without
DRAM / latency); each with accelsim, the chip and their ratio; geometric-mean errors at the bottom.

    python benchmarks/eyeriss_silicon.py [--network alexnet|vgg16|both] [--mapping]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from math import exp, log

from tabulate import tabulate

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from sim_helpers import conv, net_of  # noqa: E402

from accelsim.arch import load_arch, model  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402

ARCH = os.path.join(HERE, "..", "arch", "eyeriss.yaml")
FIDELITY = os.path.join(HERE, "fidelity")
TARGETS = {"latency": 0.10, "dram": 0.25, "glb": 0.25, "power": 0.20}  # issue 10's geomean bounds

# (name, K, C, H (unpadded), R, stride, pad, groups): AlexNet as the chip ran it (Table V's shapes)
ALEXNET = [("CONV1", 96, 3, 227, 11, 4, 0, 1), ("CONV2", 256, 96, 27, 5, 1, 2, 2),
           ("CONV3", 384, 256, 13, 3, 1, 1, 1), ("CONV4", 384, 384, 13, 3, 1, 1, 2),
           ("CONV5", 256, 384, 13, 3, 1, 1, 2)]
# VGG-16 (configuration D) at batch 3 and JSSC 2017 Table VI: power mW, total ms, processing ms, PEs,
# ifmap zeros %, GLB MB, DRAM MB
VGG16 = [("CONV1-1", 64, 3, 224, 247, 76.2, 38.0, 156, 16.0, 112.5, 154.0),
         ("CONV1-2", 64, 64, 224, 218, 910.3, 810.6, 156, 47.7, 2402.8, 54.0),
         ("CONV2-1", 128, 64, 112, 242, 470.3, 405.3, 150, 24.8, 1201.4, 33.4),
         ("CONV2-2", 128, 128, 112, 231, 894.3, None, 156, 38.7, 2402.3, 48.5),
         ("CONV3-1", 256, 128, 56, 254, 241.1, 204.0, 156, 39.7, 607.4, 20.2),
         ("CONV3-2", 256, 256, 56, 235, 460.9, 408.1, 156, 58.1, 1214.8, 32.2),
         ("CONV3-3", 256, 256, 56, 233, 457.7, 408.1, 156, 58.7, 1214.8, 30.8),
         ("CONV4-1", 512, 256, 28, 278, 135.3, 105.1, 168, 64.3, 321.3, 17.8),
         ("CONV4-2", 512, 512, 28, 261, 254.8, 210.0, 168, 74.7, 643.7, 20.6),
         ("CONV4-3", 512, 512, 28, 240, 246.3, 210.0, 168, 85.4, 643.7, 22.8),
         ("CONV5-1", 512, 512, 14, 258, 54.3, 48.3, 163, 79.4, 90.0, 6.3),
         ("CONV5-2", 512, 512, 14, 236, 53.7, 48.5, 168, 87.4, 90.0, 5.7),
         ("CONV5-3", 512, 512, 14, 230, 53.7, 48.5, 168, 88.5, 90.0, 5.6)]


def alexnet_chip():
    with open(os.path.join(FIDELITY, "eyeriss_jssc2017_alexnet_table5.csv")) as f:
        rows = {r["layer"]: r for r in csv.DictReader(f)}
    return [{"layer": name, "power": float(rows[name]["power_mW"]), "latency": float(rows[name]["total_latency_ms"]),
             "processing": float(rows[name]["processing_latency_ms"]), "pes": int(rows[name]["active_PEs"]),
             "zeros": float(rows[name]["zeros_in_ifmaps_pct"]) / 100, "glb": float(rows[name]["glb_accesses_MB"]),
             "dram": float(rows[name]["dram_accesses_MB"])} for name, *_ in ALEXNET]


def vgg_chip():
    return [{"layer": n, "power": p, "latency": t, "processing": pr, "pes": pes, "zeros": z / 100, "glb": g, "dram": d}
            for n, _, _, _, p, t, pr, pes, z, g, d in VGG16]


def network(name):
    if name == "alexnet":
        layers = [conv(n, f"x{i}", f"y{i}", 4, K, C, H, R, stride=s, pad=p, groups=g)
                  for i, (n, K, C, H, R, s, p, g) in enumerate(ALEXNET)]
    else:
        layers = [conv(n, f"x{i}", f"y{i}", 3, K, C, H, 3, pad=1) for i, (n, K, C, H, *_) in enumerate(VGG16)]
    # layers are fed separately (as the chip measured them): each one its own input
    return [net_of(layer, name=layer.name) for layer in layers]


def run(name, arch):
    chip = alexnet_chip() if name == "alexnet" else vgg_chip()
    nets = network(name)
    hier = model(arch).hierarchy("rs")
    out = []
    for i, (net, ref) in enumerate(zip(nets, chip)):
        layer = net.layers[0]
        nxt = chip[i + 1]["zeros"] if i + 1 < len(chip) else ref["zeros"]
        # the layer's ifmap zeros gate its MACs; its ofmap's density is the next layer's ifmap's
        r = simulate(net, arch, "rs", zero_fractions={layer.name: ref["zeros"]},
                     densities={layer.name: {"O": 1 - nxt}}).layers[0]
        dram_words = sum(r.counts.get("dram", {}).values())
        glb_words = sum(r.counts.get("global_buffer", {}).values())
        on_chip_pj = sum(pj for comp, pj in r.energy_pj.items() if comp != "dram")
        ms = r.cycles / (arch.clock_mhz * 1e3)
        used = _active_pes(r.nest, hier)
        out.append({"layer": ref["layer"], "sim": {"latency": ms, "pes": used, "dram": dram_words * 2e-6,
                                                    "glb": glb_words * 2e-6, "power": on_chip_pj / ms * 1e-6},
                    "chip": ref, "nest": r.nest})
    return out


def _active_pes(nest, hier):
    """PEs that compute in the first pass: the spatial loops' chunks that hold real work (a folded set's last
    segment can be narrower than the array)."""
    from accelsim.mapping.nest import dim_stats
    used = 1
    for d in "GNKCPQRS":
        spatial = [lp.factor for lp in nest.loops if lp.dim == d and lp.axis is not None]
        inner = 1
        for lp in nest.loops:
            if lp.dim == d and lp.axis is None and nest.loops.index(lp) > max(
                    (i for i, l in enumerate(nest.loops) if l.dim == d and l.axis is not None), default=-1):
                inner *= lp.factor
        if spatial:
            used *= sum(dim_stats(min(nest.bounds[d], inner * _prod(spatial)), tuple(spatial), (True,) * len(spatial),
                                  inner).values())
    return used


def _prod(xs):
    out = 1
    for x in xs:
        out *= x
    return out


def report(name, rows, show_mapping=False):
    cols = ["latency", "pes", "dram", "glb", "power"]
    table = []
    errors = {c: [] for c in cols}
    for r in rows:
        line = [r["layer"]]
        for c in cols:
            sim, ref = r["sim"][c], r["chip"][c]
            line += [sim, ref, sim / ref if ref else float("nan")]
            if ref:
                errors[c].append(abs(log(sim / ref)))
        table.append(line)
    heads = ["layer"] + [f"{c} {w}" for c in cols for w in ("sim", "chip", "×")]
    print(f"\n{name}: accelsim (arch/eyeriss.yaml, rs) against the Eyeriss chip (JSSC 2017)")
    print(tabulate(table, headers=heads, floatfmt=".3g"))
    summary = []
    for c in cols:
        if c == "pes":
            exact = sum(r["sim"]["pes"] == r["chip"]["pes"] for r in rows)
            summary.append([c, f"{exact}/{len(rows)} layers equal", "equal per layer", "pass" if exact == len(rows)
                            else "fail"])
            continue
        gm = exp(sum(errors[c]) / len(errors[c])) - 1
        summary.append([c, f"{gm:.1%}", f"< {TARGETS[c]:.0%}", "pass" if gm < TARGETS[c] else "fail"])
    print(tabulate(summary, headers=["geomean error", "accelsim", "target", ""]))
    if show_mapping:
        from accelsim.mapping.io import format_nest
        for r in rows:
            print(f"\n== {r['layer']} ==\n{format_nest(r['nest'])}")


def vgg_one_channel_a_pass(arch):
    """VGG-16 CONV1-2 with the mapping Table VI's counts imply — a 3x13 PE set, 4 filter sets, 4 filters x 1
    channel a PE, psums of 16 filters for a 13-row strip in the buffer — against the chip: the model follows the
    chip given its mapping; the mapper's own mappings are faster (they take several channels a pass)."""
    from math import ceil
    net = network("vgg16")[1]
    layer = net.layers[0]
    ref = vgg_chip()
    spec = {layer.name: {"filter_buffer": {"spatial": [["R", 3, "Y"], ["K", 4, "Y"], ["P", 13, "X"]]},
                         "weights_spad": {"temporal": [["Q", 224]]},
                         "psum_spad": {"temporal": [["K", 4], ["C", 1], ["S", 3]]},
                         "dram": {"temporal": [["N", 3], ["P", ceil(224 / 13)], ["K", 4], ["C", 64]]}}}
    r = simulate(net, arch, "rs", zero_fractions={layer.name: ref[1]["zeros"]},
                 densities={layer.name: {"O": 1 - ref[2]["zeros"]}}, mapping=spec).layers[0]
    ms = r.cycles / (arch.clock_mhz * 1e3)
    glb = sum(r.counts["global_buffer"].values()) * 2e-6
    power = sum(pj for comp, pj in r.energy_pj.items() if comp != "dram") / ms * 1e-6
    print(f"\nVGG-16 CONV1-2 with one input channel a pass (the mapping Table VI's 2,403 MB of GLB accesses imply):"
          f"\n  accelsim {ms:.1f} ms (chip {ref[1]['latency']} total, {ref[1]['processing']} processing), "
          f"GLB {glb:,.0f} MB (chip {ref[1]['glb']:,.0f}), power {power:.0f} mW (chip {ref[1]['power']})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", choices=["alexnet", "vgg16", "both"], default="both")
    ap.add_argument("--mapping", action="store_true", help="print each layer's loop nest")
    args = ap.parse_args(argv)
    arch = load_arch(ARCH)
    for name in (["alexnet", "vgg16"] if args.network == "both" else [args.network]):
        report(name, run(name, arch), args.mapping)
        if name == "vgg16":
            vgg_one_channel_a_pass(arch)


if __name__ == "__main__":
    main()
