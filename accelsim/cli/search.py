"""`accelsim search MODEL --arch A --dataset D --max-drop 1:15`: seed 004's per-layer precision search (Algorithm 2)."""
from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from ..errors import AccelsimError

HELP = ("Per-layer 8/16-bit precision search by simulated annealing (seed 004 Algorithm 2): one run per accuracy-drop "
        "bound, the energy-accuracy Pareto front beside the per-net precisions; resumable.")


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--arch", required=True, help="architecture file (its energy prices the states)")
    p.add_argument("--dataset", required=True, help="labelled data set: calibration samples from its training split "
                                                    "(digits) or from it, the test drop on it")
    p.add_argument("--max-drop", default="1:15", metavar="A:B[:STEP]",
                   help="accuracy-drop bounds λmax in percentage points (default 1:15, step 1: seed 004 Table 3)")
    p.add_argument("--cal-set", type=int, default=2000, help="calibration samples (seed 004 Table 3: 2000)")
    p.add_argument("--iter", type=int, default=10, help="iterations per temperature (Table 3: 10 IC, 100 KWS, 1000 FER)")
    p.add_argument("--t0", type=float, default=512.0, help="initial temperature (Table 3: 512)")
    p.add_argument("--tf", type=float, default=2.5, help="final temperature (Table 3: 2.5)")
    p.add_argument("--kb", type=float, default=1e-2, help="acceptance normalisation Kb (Table 3: 1e-2)")
    p.add_argument("--cooling", type=float, default=2.5, help="temperature derating T <- T / cooling (Table 3: 2.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the moves and of the calibration draw")
    p.add_argument("--format", default="fixed(16)", help="16-bit fixed-point format the precisions cut (default fixed(16))")
    p.add_argument("--dataflow", help="dataflow of the architecture")
    p.add_argument("--exhaustive", action="store_true", help="also evaluate every state: the exact Pareto front")
    p.add_argument("--out", metavar="F", help="results, one JSON line per run (default: MODEL.search.jsonl)")
    p.add_argument("--plot", metavar="F", help="write the Fig. 4-style plot (savings vs drop)")
    p.add_argument("--json", action="store_true", help="print the records as JSON")


def lambdas(text: str) -> list[float]:
    parts = text.split(":")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        raise AccelsimError(f"--max-drop: expected A:B[:STEP] or one value, got {text!r}") from None
    if len(vals) == 1:
        return vals
    if len(vals) not in (2, 3) or vals[0] > vals[1] or (len(vals) == 3 and vals[2] <= 0):
        raise AccelsimError(f"--max-drop: expected A:B[:STEP] with A <= B and STEP > 0, got {text!r}")
    step = vals[2] if len(vals) == 3 else 1.0
    n = int(round((vals[1] - vals[0]) / step))
    return [round(vals[0] + i * step, 10) for i in range(n + 1)]


def main(args) -> int:
    from ..arch import load_arch
    from ..datasets import load
    from ..dse.anneal import Hyper
    from ..dse.search import Problem, calibration, exhaustive, pareto, run_search
    from ..dse.store import Store
    from ..frontend import load_onnx

    lams = lambdas(args.max_drop)
    if args.cal_set < 1 or args.iter < 1:
        raise AccelsimError("--cal-set and --iter: must be >= 1")
    net = load_onnx(args.model)
    arch = load_arch(args.arch)
    shape = next(iter(net.inputs.values()))
    cal = calibration(args.dataset, shape, args.cal_set, args.seed)
    test = load(args.dataset).for_input_shape(shape)
    problem = Problem(net, arch, cal, base=args.format, dataflow=args.dataflow, test=test)
    hyper = Hyper(args.t0, args.tf, args.kb, args.cooling, args.iter, args.seed)
    store = Store(args.out or Path(args.model).with_suffix(".search.jsonl"))
    context = {"model": str(args.model), "arch": str(args.arch), "dataset": args.dataset, "cal_set": args.cal_set,
               "format": args.format, "dataflow": args.dataflow, "seed": args.seed}
    records = run_search(problem, lams, hyper, store, context)
    everything = exhaustive(problem) if args.exhaustive else []
    sa = [r for r in records if r["kind"] == "sa"]
    per_net = [r for r in records if r["kind"] == "per-net"]
    fronts = {"sa": pareto(sa + per_net[:1]), "per-net": pareto(per_net)}
    if everything:
        fronts["exact"] = pareto(everything)
    if args.plot:
        plot_fig4(args.plot, fronts, per_net, str(args.model))
    if args.json:
        print(json.dumps({"records": records, "fronts": fronts}))
        return 0
    rows = [[r["kind"], r.get("lambda_max", r.get("name")), r["state"], r["energy_uj"], r["savings"], r["drop"],
             r.get("test_drop"), r["seconds"]] for r in records]
    print(tabulate(rows, headers=["run", "λmax / precision", "state (I W per layer, O)", "energy µJ", "savings %",
                                  "cal drop", "test drop", "s"], floatfmt=".3f"))
    for name, f in fronts.items():
        print(f"\nPareto front ({name}): " + ", ".join(f"{r['state']} ({r['savings']:.1f}% saved, drop "
                                                     f"{r['drop']:.2f})" for r in f))
    return 0


def plot_fig4(path, fronts: dict, per_net: list, title: str) -> None:
    """Seed 004 Fig. 4: energy savings against accuracy drop, per-net points and the Pareto fronts."""
    from ..dse.pareto import plot
    series = [("per-net", [r["drop"] for r in per_net], [r["savings"] for r in per_net], "bx")]
    styles = {"sa": "r.--", "exact": "g+:", "per-net": "b:"}
    for name, f in fronts.items():
        series.append((f"{name} front", [r["drop"] for r in f], [r["savings"] for r in f], styles.get(name, ".-")))
    plot(path, series, "accuracy drop (points, vs 16x16)", "energy savings (%, vs 16x16)", title)
