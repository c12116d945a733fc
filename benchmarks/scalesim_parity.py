"""SCALE-Sim 3.0.0 against accelsim's systolic family, layer by layer: cycles, SRAM and DRAM accesses, wall time.

    python benchmarks/scalesim_parity.py                 # the layers SCALE-Sim can afford (a few minutes)
    python benchmarks/scalesim_parity.py --all           # every AlexNet and ResNet-18 layer (hours of SCALE-Sim)
    python benchmarks/scalesim_parity.py --all --record  # ... and write benchmarks/scalesim/reference_3.0.0.csv

SCALE-Sim runs in a virtual environment of its own (``--venv``, default ``$ACCELSIM_SCALESIM_VENV`` or
~/.cache/accelsim/scalesim-3.0.0), created with ``pip install scalesim==3.0.0 'numpy<2.4'`` when missing
(SCALE-Sim 3.0.0 converts 1-element arrays with int(), which numpy 2.4 refuses); without it the script says
so and compares with the recorded reference instead. Workloads are SCALE-Sim's own topology files
(benchmarks/scalesim/{alexnet,resnet18}.csv, from scale-sim-v3 topologies/conv_nets at commit fab89b7) on
its two configurations: configs/scale.cfg (32 × 32, 64 KB SRAMs) and configs/eyeriss.cfg (12 × 14, 36 KB),
in CALC bandwidth mode, in all three dataflows. Layers of the same shape are run once.

Columns are SCALE-Sim's report columns with accelsim's figures in SCALE-Sim's conventions
(accelsim.scalesim.figures); "=" marks a layer where every column agrees. Targets: every column identical;
accelsim's whole ResNet-18 in seconds where SCALE-Sim takes minutes.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

from accelsim.arch import load_arch
from accelsim.scalesim import REPORT, config_text, figures, load_topology, run_reference
from accelsim.simulate import simulate

HERE = Path(__file__).resolve().parent / "scalesim"
ROOT = HERE.parents[1]
ARRAYS = {"32x32": ROOT / "arch" / "systolic.yaml", "12x14": ROOT / "arch" / "systolic_12x14.yaml"}
TOPOLOGIES = ("alexnet", "resnet18")
DATAFLOWS = ("ws", "os", "is")
#: layers SCALE-Sim runs in seconds to a minute each on either array
AFFORDABLE = {("resnet18", "Conv3_s"), ("resnet18", "Conv4_s"), ("resnet18", "Conv5_s"), ("resnet18", "FC")}
REFERENCE = HERE / "reference_3.0.0.csv"
COLUMNS = list(REPORT.values())


def scalesim_python(venv: Path):
    """The interpreter of a venv that imports scalesim, creating the venv if needed; None if impossible."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import scalesim.scale_sim"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with scalesim 3.0.0 ...", flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True).returncode == 0 and \
        subprocess.run([str(python), "-m", "pip", "install", "-q", "scalesim==3.0.0", "numpy<2.4"],
                       capture_output=True).returncode == 0
    if made and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"SCALE-Sim is not installable here (no package index?): comparing with {REFERENCE.name} only")
    return None


def topology_lines(name):
    """SCALE-Sim topology file: (header, {layer: its line})."""
    header, *rows = (HERE / f"{name}.csv").read_text().splitlines()
    return header, {r.split(",")[0].strip(): r for r in rows if r.strip()}


def recorded():
    if not REFERENCE.exists():
        return {}
    with open(REFERENCE) as f:
        return {(r["topology"], r["layer"], r["array"], r["dataflow"]): r for r in csv.DictReader(f)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="every layer of both networks (hours of SCALE-Sim)")
    ap.add_argument("--record", action="store_true", help=f"write SCALE-Sim's figures to {REFERENCE.name}")
    ap.add_argument("--venv", type=Path, default=Path(os.environ.get(
        "ACCELSIM_SCALESIM_VENV", Path.home() / ".cache" / "accelsim" / "scalesim-3.0.0")))
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "accelsim" / "scalesim-runs.json",
                    help="SCALE-Sim results kept between runs (resumes an interrupted --all)")
    args = ap.parse_args(argv)
    python = scalesim_python(args.venv)
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    reference = recorded()
    rows, records, timing = [], [], []
    simulate(load_topology(HERE / "alexnet.csv"), load_arch(ARRAYS["32x32"]), "ws")  # numba compiles once here
    for array, arch_path in ARRAYS.items():
        arch = load_arch(arch_path)
        for topo in TOPOLOGIES:
            net = load_topology(HERE / f"{topo}.csv")
            header, lines = topology_lines(topo)
            for df in DATAFLOWS:
                start = time.perf_counter()
                result = simulate(net, arch, df)
                ours_wall = time.perf_counter() - start
                for layer, res in zip(net.layers, result.layers):
                    key = f"{array}/{df}/{layer.bounds}"  # SCALE-Sim's figures depend on the shape only
                    theirs, wall = cache.get(key, (None, None))
                    if theirs is None and python and (args.all or (topo, layer.name) in AFFORDABLE):
                        print(f"SCALE-Sim {array} {df} {topo} {layer.name} ...", flush=True)
                        (theirs,), wall = run_reference(python, config_text(arch, df), f"{header}\n{lines[layer.name]}\n")
                        cache[key] = [theirs, wall]
                        args.cache.parent.mkdir(parents=True, exist_ok=True)
                        args.cache.write_text(json.dumps(cache, indent=1))
                    ref = reference.get((topo, layer.name, array, df))
                    if theirs is None and ref is not None:
                        theirs, wall = {c: int(ref[c]) for c in COLUMNS}, float(ref["scalesim_wall_s"])
                    if theirs is None:
                        continue
                    mine = figures(res, layer, arch, df)
                    records.append({"topology": topo, "layer": layer.name, "array": array, "dataflow": df,
                                    **theirs, "scalesim_wall_s": f"{wall:.2f}"})
                    same = all(mine[c] == theirs[c] for c in COLUMNS)
                    rows.append([f"{topo}/{layer.name}", array, df,
                                 *(f"{theirs[c]:,}" if mine[c] == theirs[c] else f"{theirs[c]:,} vs {mine[c]:,}"
                                   for c in COLUMNS), f"{wall:.1f}", "=" if same else "DIFFERS"])
                timing.append((array, topo, df, ours_wall, len(net.layers)))
    print(tabulate(rows, headers=["layer", "array", "df", *COLUMNS, "SCALE-Sim s", ""], disable_numparse=True))
    print("cells: SCALE-Sim's figure, or 'SCALE-Sim vs accelsim' where they differ")
    print(f"\n{sum(r[-1] == '=' for r in rows)} of {len(rows)} layer runs agree in every column")
    print("\nwall time: accelsim simulates the whole network (SimPy engine, fast mode); SCALE-Sim's seconds are"
          " summed over the layers it ran (measured now or recorded), so the ratio is a lower bound")
    ran = {}
    for r in records:
        n, secs = ran.get((r["topology"], r["array"], r["dataflow"]), (0, 0.0))
        ran[(r["topology"], r["array"], r["dataflow"])] = (n + 1, secs + float(r["scalesim_wall_s"]))
    table = []
    for a, t, d, s, n in timing:
        k, secs = ran.get((t, a, d), (0, 0.0))
        table.append([t, a, d, f"{s:.2f}", f"{k} of {n}", f"{secs:.0f}", f"{secs / s:.0f}x" if k else "-"])
    print(tabulate(table, headers=["network", "array", "df", "accelsim s", "SCALE-Sim layers", "SCALE-Sim s",
                                   "ratio"], disable_numparse=True))
    print("target: accelsim's whole ResNet-18 in seconds; SCALE-Sim takes minutes per layer")
    if args.record:
        with open(REFERENCE, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["topology", "layer", "array", "dataflow", *COLUMNS, "scalesim_wall_s"])
            w.writeheader()
            w.writerows(records)
        print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
