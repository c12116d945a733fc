"""`accelsim compare MODEL --arch A [--arch B ...] [--dataflow rs ws ...]`: runs side by side."""
from __future__ import annotations

import json

from ..arch import load_arch, model
from ..report import compare_table, write_plot
from .run import add_common, run_one

HELP = "Compare architectures and dataflows on one model, side by side (JSON: a list of `run` results)."


def add_arguments(p):
    add_common(p)
    p.add_argument("--arch", action="append", required=True, help="architecture file (repeatable)")
    p.add_argument("--dataflow", nargs="+", help="dataflows to run on each architecture that supports them "
                                                 "(default: each architecture's default)")
    p.add_argument("--plot", metavar="F", help="write a plot of energy by component per run")


def main(args) -> int:
    results = []
    for path in args.arch:
        fam = model(load_arch(path, args.overrides))
        flows = [d for d in (args.dataflow or []) if d.lower() in fam.dataflows] or [fam.default_dataflow]
        results += [run_one(args, path, d) for d in flows]
    if args.plot:
        write_plot(results, args.plot)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(compare_table(results))
    return 0
