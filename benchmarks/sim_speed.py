"""Timing-path speed where users wait: whole `accelsim` processes, as a new user runs them, against issue 13's
targets — ResNet-18 on every architecture, VGG-16 on Eyeriss, batch 64 against batch 1, start-up (the median of
5 runs, beside the same median for a process that only imports numpy and onnx: the floor of any command that
reads a model) — each with a cold mapping cache (every mapping searched) and a warm one (the run after: mappings
read from disk); and the fine cycle-by-cycle mode against the fast one on a small layer (same results, ratio in
the same run).

    python benchmarks/sim_speed.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from tabulate import tabulate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
FLOOR = "python -c 'import numpy, onnx'"
STARTUP_RUNS = 5  # a sub-second process is timed this many times (median): one run swings ±50% on a shared machine


def whole(args, cache) -> float:
    """Wall seconds of one Python process (``-m accelsim <command>`` for a command)."""
    env = dict(os.environ, ACCELSIM_CACHE=cache)
    t = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def byte_compile():
    """Write accelsim's bytecode, as pip does when it installs a package (an editable install leaves that to the
    first import). Where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, no import writes it, and
    every process timed here would compile accelsim's modules again: 30 ms of `info`'s 0.35 s here."""
    import compileall
    compileall.compile_dir(os.path.join(ROOT, "accelsim"), quiet=1)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):  # what the timed processes inherit
        print("PYTHONDONTWRITEBYTECODE is set: accelsim's modules were byte-compiled first", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="ResNet-18 on Eyeriss and start-up only")
    args = ap.parse_args(argv)
    subprocess.run([sys.executable, os.path.join(ROOT, "workloads", "build.py"), "resnet18", "vgg16"], check=True,
                   stdout=subprocess.DEVNULL)
    byte_compile()
    archs = ["eyeriss"] if args.quick else ["eyeriss", "diannao", "isaac", "sram_cim"]
    cases = [(f"run resnet18 on {a}", ["run", "workloads/resnet18.onnx", "--arch", f"arch/{a}.yaml"], 5.0)
             for a in archs]
    if not args.quick:
        cases += [("run vgg16 on eyeriss", ["run", "workloads/vgg16.onnx", "--arch", "arch/eyeriss.yaml"], 10.0),
                  ("run resnet18 --batch 64 on diannao",
                   ["run", "workloads/resnet18.onnx", "--arch", "arch/diannao.yaml", "--batch", "64"], None)]
    cases += [("--help", ["--help"], 0.5), ("info seed004_ic", ["info", "workloads/seed004_ic.onnx"], 0.5)]
    cases = [(label, ["-m", "accelsim", *cmd], target) for label, cmd, target in cases]
    # what any command that reads a model pays before its own work: Python and importing numpy and onnx
    cases.append((FLOOR, ["-c", "import numpy, onnx"], 0.5))
    rows, seconds = [], {}
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    for i, (label, cmd, target) in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {label}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as cache:
            if target is not None and target < 1:  # start-up: no mapping to cache; the median of a few runs
                cold = warm = statistics.median(whole(cmd, cache) for _ in range(STARTUP_RUNS))
            else:
                cold = whole(cmd, cache)
                warm = whole(cmd, cache)
        seconds[label] = cold
        if label == FLOOR:
            rows.append([label, f"{cold:.2f}", f"{warm:.2f}", "reference", ""])
            continue
        if target is None:  # batch 64: against batch 1 on the same architecture, measured above
            base = seconds.get("run resnet18 on diannao")
            verdict = "pass" if base and cold < 2 * base else "fail"
            target = "< 2x batch 1"
        else:
            verdict = "pass" if cold < target else "fail"
            target = f"< {target:g} s"
        rows.append([label, f"{cold:.2f}", f"{warm:.2f}", target, verdict])
    print(tabulate(rows, headers=["whole process", "cold cache s", "warm cache s", "target (cold)", ""]))
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    # fast vs fine on a small layer: the mapping is searched once, then both modes run it
    from accelsim.ir.graph import Network
    from accelsim.ir.layer import Layer, LoopBounds
    from accelsim.simulate import simulate
    b = LoopBounds(1, 16, 8, 8, 8, 3, 3, pads=(1, 1, 1, 1))
    layer = Layer("small", "conv", ["x"], "y", [(1, 8, 8, 8)], (1, 16, 8, 8), {}, {}, b)
    net = Network.from_layers("small", [layer], {"x": (1, 8, 8, 8)}, ["y"])
    path = os.path.join(ROOT, "arch", "eyeriss.yaml")
    mapping = {"small": simulate(net, path).layers[0].to_dict()["mapping"]}
    t = time.perf_counter()
    fast = simulate(net, path, mapping=mapping)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    fine = simulate(net, path, mapping=mapping, mode="fine")
    t_fine = time.perf_counter() - t
    same = [l.to_dict() for l in fast.layers] == [l.to_dict() for l in fine.layers]
    print(f"\nsmall layer ({b.macs:,} MACs) on eyeriss/rs: fast {t_fast * 1e3:.1f} ms, fine {t_fine * 1e3:.1f} ms, "
          f"fine/fast = {t_fine / t_fast:.0f}x; identical results: {same}")


if __name__ == "__main__":
    main()
