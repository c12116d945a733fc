"""Digital and in-memory architectures side by side, and ISAAC's ADC resolution traded against accuracy and energy.

    python benchmarks/compare_architectures.py [--samples N] [--plot FILE.png]

Shows progress while it runs; at the end, the time spent in the functional path (accuracy: the number formats
and the analog arrays) and in the timing path (mapping and SimPy), against issue 13's target for the whole run.

Part 1: a trained workload (LeNet-5 on digits; on the XNOR-SRAM macro its ternary-trained version) and a
shape-only classic (ResNet-18) on Eyeriss, DianNao, the ISAAC-style crossbar and the XNOR-SRAM macro: accuracy in each architecture's arithmetic, energy per
inference, latency, accuracy per Joule. Part 2: ISAAC with 3..9 ADC bits.
Published figures to hold these against: ISAAC reports 5.5x better accuracy per Joule than DaDianNao
(seed 003 §5.5.1); XNOR-SRAM reports hundreds of TOPS/W (SPEC Appendix A, recalled).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from tabulate import tabulate
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from accelsim.analog import executor_for  # noqa: E402
from accelsim.arch import load_arch  # noqa: E402
from accelsim.datasets import Dataset, load  # noqa: E402
from accelsim.frontend import load_onnx  # noqa: E402
from accelsim.functional.evaluate import evaluate  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402

ARCHS = ["eyeriss", "diannao", "isaac", "sram_cim"]
ADC_BITS = range(3, 10)
TARGET_S = 120  # issue 13: the whole benchmark in under 2 minutes
SPENT = {"functional": 0.0, "timing": 0.0}  # seconds in each path


def figures(net, arch, data=None) -> dict:
    accuracy = None
    zeros = None
    if data is not None:
        start = time.perf_counter()
        out = evaluate(net, data, arch.formats, executor=executor_for(arch), progress=False)
        accuracy, zeros = out["accuracy"], out["zero_fractions"]
        SPENT["functional"] += time.perf_counter() - start
    start = time.perf_counter()
    t = simulate(net, arch, zero_fractions=zeros, accuracy=accuracy).to_dict()
    SPENT["timing"] += time.perf_counter() - start
    energy_uj = t["total"]["energy_pj"] * 1e-6
    adc = t["total"]["energy_by_component_pj"].get("adc", 0.0) / t["total"]["energy_pj"]
    return {"accuracy": accuracy, "energy_uj": energy_uj, "latency_ms": t["total"]["latency_ms"], "adc_share": adc,
            "acc_per_joule": t.get("accuracy_per_joule")}


def fmt(v, spec):
    return "—" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300, help="test samples for accuracy (analog models are slow)")
    ap.add_argument("--plot", help="write the ADC sweep as a PNG")
    args = ap.parse_args()
    began = time.perf_counter()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    bar = tqdm(total=2 * len(ARCHS) + len(ADC_BITS), desc="compare architectures", unit="run")
    digits = load("digits")
    data = Dataset(digits.name, digits.x[:args.samples], digits.y[:args.samples])
    lenet = load_onnx(ROOT / "workloads/trained/lenet5.onnx")
    lenet_ternary = load_onnx(ROOT / "workloads/trained/lenet5_ternary.onnx")  # for the ternary SRAM macro
    sys.path.insert(0, str(ROOT / "workloads"))
    from build import build
    resnet = load_onnx(build(["resnet18"])["resnet18"])
    rows = []
    for name in ARCHS:
        arch = load_arch(ROOT / "arch" / f"{name}.yaml")
        trained = ("lenet5_ternary (trained)", lenet_ternary) if name == "sram_cim" else ("lenet5 (trained)", lenet)
        for label, net, d in ((*trained, data), ("resnet18 (shapes)", resnet, None)):
            bar.set_postfix_str(f"{label.split()[0]} on {name}")
            f = figures(net, arch, d)
            bar.update()
            rows.append((label, name, fmt(f["accuracy"], ".3f"), fmt(f["energy_uj"], ",.2f"), fmt(f["latency_ms"], ".3f"),
                         fmt(f["adc_share"], ".1%"), fmt(f["acc_per_joule"], ".3g")))
    sweep = []
    for bits in ADC_BITS:
        bar.set_postfix_str(f"ISAAC, {bits} ADC bits")
        arch = load_arch(ROOT / "arch/isaac.yaml", [f"analog.adc_bits={bits}"])
        f = figures(lenet, arch, data)
        sweep.append((bits, f["accuracy"], f["energy_uj"], f["adc_share"]))
        bar.update()
    bar.close()
    print(tabulate(rows, headers=["workload", "arch", "accuracy", "energy µJ", "latency ms", "ADC share",
                                  "accuracy/J"]))
    print()
    print(tabulate([(b, f"{a:.3f}", f"{e:,.2f}", f"{s:.1%}") for b, a, e, s in sweep],
                   headers=["ISAAC ADC bits", "lenet5 accuracy", "energy µJ", "ADC share"]))
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([e for _, _, e, _ in sweep], [a for _, a, _, _ in sweep], "o-")
        for b, a, e, _ in sweep:
            ax.annotate(f"{b} b", (e, a), textcoords="offset points", xytext=(4, -10))
        ax.set_xlabel("energy per inference (µJ)")
        ax.set_ylabel("accuracy (digits)")
        ax.set_title("ISAAC: ADC resolution vs accuracy and energy")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    total = time.perf_counter() - began
    print()
    print(tabulate([("functional path (accuracy, analog arrays)", f"{SPENT['functional']:.1f}", ""),
                    ("timing path (mapping, SimPy)", f"{SPENT['timing']:.1f}", ""),
                    ("whole run", f"{total:.1f}", f"< {TARGET_S} s  {'PASS' if total < TARGET_S else 'FAIL'}")],
                   headers=["wall time", "s", "target"]))


if __name__ == "__main__":
    main()
