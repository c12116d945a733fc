"""`accelsim compare MODEL --arch A [--arch B ...] [--dataflow rs ws ...]`: runs side by side."""
from __future__ import annotations

from ..errors import AccelsimError
from .run import add_common, check_request, layer_progress, run_one

HELP = "Compare architectures and dataflows on one model, side by side (JSON: a list of `run` results)."


def add_arguments(p):
    add_common(p)
    p.add_argument("--arch", action="append", required=True, help="architecture file (repeatable)")
    p.add_argument("--dataflow", nargs="+", help="dataflows to run on each architecture that supports them "
                                                 "(default: each architecture's default)")
    p.add_argument("--plot", metavar="F", help="write a plot of energy by component per run")


def plan(archs, dataflows) -> list[tuple]:
    """[(arch, dataflow)]: each architecture with the requested dataflows it supports (else its default).
    A requested dataflow that no architecture supports is refused, not skipped."""
    from ..arch import model

    families = [model(a) for a in archs]
    for d in dataflows or []:
        if not any(d.lower() in fam.dataflows for fam in families):
            offered = "; ".join(f"{a.path}: {', '.join(fam.dataflows)}" for a, fam in zip(archs, families))
            raise AccelsimError(f"--dataflow {d}: no architecture given supports it ({offered})")
    return [(a, d) for a, fam in zip(archs, families)
            for d in ([d.lower() for d in dataflows or [] if d.lower() in fam.dataflows] or [fam.default_dataflow])]


def main(args) -> int:
    import json

    from ..arch import load_arch
    from ..frontend import load_onnx
    from ..io import all_or_nothing
    from ..report import compare_table, write_plot

    check_request(args)
    runs = plan([load_arch(path, args.overrides) for path in args.arch], args.dataflow)
    # weights only to execute the model or to read its zeros
    net = load_onnx(args.model, weights=bool(args.dataset or args.sparse), batch=args.batch)
    with layer_progress(args, len(runs) * len(net.layers), "compare") as progress:
        results = [run_one(args, net, arch, d, progress=progress) for arch, d in runs]
    with all_or_nothing():
        if args.plot:
            write_plot(results, args.plot)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print(compare_table(results))
    return 0
