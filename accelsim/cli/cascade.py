"""`accelsim cascade STAGE.onnx ... --thresholds T,... --arch A --dataset D`: an early-exit cascade (seed 000's
dynamically selective execution) measured on a data set: the share of samples leaving at each exit, accuracy,
and energy and latency per inference as the data-weighted sum over the exits taken."""
from __future__ import annotations

HELP = "Early exit: run a cascade of models with confidence thresholds; accuracy, energy and latency per inference."


def add_arguments(p):
    p.add_argument("stages", nargs="+", metavar="STAGE.onnx", help="the exits' models, first to last (exit "
                                                                    "branches repeat their backbone's layers)")
    p.add_argument("--thresholds", required=True, metavar="T,...", help="confidence (top softmax probability) "
                                                                        "to leave at each stage but the last")
    p.add_argument("--arch", required=True, help="architecture file (arch/*.yaml)")
    p.add_argument("--dataset", required=True, help="labelled data set: digits, seed001 or npz:PATH")
    p.add_argument("--dataflow", help="dataflow (default: the family's first)")
    p.add_argument("--format", metavar="F", help="number format of the arithmetic (default: the architecture's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def main(args) -> int:
    import json

    from tabulate import tabulate

    from ..errors import UsageError
    from ..transforms import early_exit

    try:
        thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"cascade: argument --thresholds: expected numbers, got '{args.thresholds}'") from None
    res = early_exit(args.stages, thresholds, args.dataset, args.arch, args.dataflow, args.format)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    rows = [(path, e["threshold"] if e["threshold"] is not None else "last", f"{e['exits']:.1%}",
             "" if e["accuracy"] is None else f"{e['accuracy']:.4f}", f"{e['energy_pj'] / 1e6:.3f}",
             f"{e['latency_ms']:.4f}") for path, e in zip(args.stages, res["exits"])]
    print(tabulate(rows, headers=["exit", "threshold", "samples leaving", "their accuracy", "energy to here (µJ)",
                                  "latency to here (ms)"]))
    last = res["last_stage_only"]
    print(f"\ncascade on {res['dataset']} ({res['n']} samples): accuracy {res['accuracy']:.4f}, "
          f"{res['energy_pj'] / 1e6:.3f} µJ and {res['latency_ms']:.4f} ms per inference "
          f"(the last stage alone: {last['accuracy']:.4f}, {last['energy_pj'] / 1e6:.3f} µJ, {last['latency_ms']:.4f} ms)")
    return 0
