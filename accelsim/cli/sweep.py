"""`accelsim sweep SWEEP.yaml`: a grid / random sweep of design points, in parallel, resumable; table, Pareto, plot."""
from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from ..errors import AccelsimError

HELP = ("Design-space sweep over architecture keys, formats, per-layer precisions, dataflows and models "
        "(all cores or a Dask cluster; results appended as they finish, so a rerun resumes).")


def add_arguments(p):
    p.add_argument("sweep", help="sweep file (YAML: model, arch, grid and/or random axes; see accelsim.dse.space)")
    p.add_argument("--out", metavar="F", help="results, one JSON line per point (default: SWEEP.jsonl beside it)")
    p.add_argument("--jobs", type=int, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster, e.g. tcp://host:8786")
    p.add_argument("--pareto", metavar="X,Y", help="the two metrics of the Pareto front (default: energy_uj and "
                                                   "accuracy, or latency_ms without a data set)")
    p.add_argument("--plot", metavar="F", help="write a plot of every point and the Pareto front (png/pdf/svg)")
    p.add_argument("--json", action="store_true", help="print the records (and the front) as JSON")


def main(args) -> int:
    from ..dse.evaluate import run_point
    from ..dse.runner import run_all
    from ..dse.space import load_sweep, point_key
    from ..dse.store import Store

    if args.jobs is not None and args.jobs < 1:
        raise AccelsimError(f"--jobs: must be >= 1, got {args.jobs}")
    points = load_sweep(args.sweep)
    store = Store(args.out or Path(args.sweep).with_suffix(".jsonl"))
    run_all(run_point, points, store, jobs=args.jobs, scheduler=args.scheduler)
    records = [store.records[point_key(p)] for p in points]
    ok = [r for r in records if "metrics" in r]
    x, y = _pareto_metrics(args.pareto, ok)
    front = _front(ok, x, y)
    if args.plot:
        _plot(args.plot, ok, front, x, y, args.sweep)
    if args.json:
        print(json.dumps({"records": records, "pareto": {"x": x, "y": y, "keys": [r["key"] for r in front]}}))
        return 0
    print(_table(records, points))
    print(f"\nPareto front of {x} and {y} ({len(front)} of {len(ok)} points):")
    print(_table(front, [r["point"] for r in front]))
    failed = len(records) - len(ok)
    if failed:
        print(f"\n{failed} point(s) failed (their error is in the table and in {store.path})")
    return 0


def _pareto_metrics(text, ok):
    if text:
        parts = [t.strip() for t in text.split(",")]
        if len(parts) != 2:
            raise AccelsimError(f"--pareto: expected two metrics X,Y, got {text!r}")
        known = set(ok[0]["metrics"]) if ok else set()
        for m in parts:
            if ok and m not in known:
                raise AccelsimError(f"--pareto: unknown metric '{m}' (known: {', '.join(sorted(known))})")
        return tuple(parts)
    has_acc = any("accuracy" in r["metrics"] for r in ok)
    return ("energy_uj", "accuracy") if has_acc else ("energy_uj", "latency_ms")


def _front(ok, x, y):
    from ..dse.evaluate import MAXIMIZE
    from ..dse.pareto import front
    return front(ok, lambda r: r["metrics"][x], lambda r: r["metrics"][y], (x in MAXIMIZE, y in MAXIMIZE))


def _varying(points):
    """The axes that differ between points, as column names ('set.KEY', 'precision.LAYER', or a key)."""
    cols = {}
    for p in points:
        for k, v in p.items():
            if isinstance(v, dict):
                for kk, vv in v.items():
                    cols.setdefault(f"{k}.{kk}", set()).add(json.dumps(vv))
            else:
                cols.setdefault(k, set()).add(json.dumps(v))
    return [c for c, vals in cols.items() if len(vals) > 1 or (len(points) == 1 and c in ("model", "arch"))]


def _axis(point, col):
    k, _, kk = col.partition(".")
    return point.get(k, {}).get(kk) if kk and isinstance(point.get(k), dict) else point.get(col)


def _table(records, points):
    cols = _varying(points) or ["model"]
    metrics = ["energy_uj", "cycles", "latency_ms", "pj_per_mac", "accuracy"]
    present = [m for m in metrics if any(m in r.get("metrics", {}) for r in records)]
    rows = [[_axis(r["point"], c) for c in cols] + [r.get("metrics", {}).get(m) for m in present]
            + ([r["error"]] if "error" in r else []) for r in records]
    return tabulate(rows, headers=cols + present + (["error"] if any("error" in r for r in records) else []),
                    intfmt=",", floatfmt=".4g")


def _plot(path, ok, front, x, y, title):
    from ..dse.pareto import plot
    plot(path, [("points", [r["metrics"][x] for r in ok], [r["metrics"][y] for r in ok], "o"),
                ("Pareto front", [r["metrics"][x] for r in front], [r["metrics"][y] for r in front], "r.-")],
         x, y, str(title))
