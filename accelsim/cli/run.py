"""`accelsim run MODEL --arch ARCH`: cycles, stalls, utilization, counts and energy per layer (and accuracy per Joule)."""
from __future__ import annotations

import sys
from contextlib import contextmanager

from ..errors import UsageError

HELP = "Simulate a model on an architecture: cycles, stalls, utilization, energy per layer; accuracy per Joule."


def add_common(p):
    """Options shared by `run` and `compare`."""
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--dataset", help="labelled data set: adds accuracy in the architecture's formats, accuracy per "
                                     "Joule, and zero-gating from the data's real zeros")
    p.add_argument("--density", type=float, help="fraction of MACs with non-zero operands when no data set is "
                                                 "given (default 1)")
    p.add_argument("--sparse", action="store_true", help="count the model's zero weights (a pruned model) even "
                                                         "without --dataset: loads the weights (with one, always)")
    p.add_argument("--objective", default="energy", help="what the mapper minimises: energy (default), delay or edp")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an architecture-file value, e.g. global_buffer.size_kb=64 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when stderr is not a terminal")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="images per inference: what a symbolic batch dimension of the model becomes (default 1)")


def add_arguments(p):
    add_common(p)
    p.add_argument("--arch", required=True, help="architecture file (arch/*.yaml)")
    p.add_argument("--dataflow", help="dataflow (e.g. rs, ws, os, nlr on Eyeriss; default: the family's first)")
    p.add_argument("--mapping", metavar="FILE", help="hand-written mapping (YAML) overriding the mapper for its layers")
    p.add_argument("--show-mapping", action="store_true", help="print each layer's loop nest")
    p.add_argument("--csv", metavar="F", help="write the per-layer table as CSV")
    p.add_argument("--trace", metavar="F", help="write a Chrome/Perfetto trace of tiles on units")
    p.add_argument("--plot", metavar="F", help="write a plot of the energy breakdown (png/pdf/svg)")


def check_request(args) -> None:
    """What can be refused before any work: the objective, and every output path (and the plot's format)."""
    from ..io import check_output
    from ..mapping.mapper import OBJECTIVES
    from ..report import plot_format

    if args.objective not in OBJECTIVES:
        raise UsageError(f"{args.command}: argument --objective: invalid choice: '{args.objective}' (choose from "
                         f"{', '.join(OBJECTIVES)})")
    if getattr(args, "plot", None):
        plot_format(args.plot)
    for option in ("csv", "trace", "plot"):
        if getattr(args, option, None):
            check_output(getattr(args, option), f"--{option}")


@contextmanager
def layer_progress(args, total: int, desc: str):
    """A per-layer progress callback for ``simulate`` (a tqdm bar on stderr), or None when not shown."""
    if not (args.progress or sys.stderr.isatty()):
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="layer", leave=False, file=sys.stderr) as bar:
        def step(layer):
            bar.set_postfix_str(layer.name, refresh=False)
            bar.update()
            bar.refresh()  # a layer can take microseconds (a cached mapping): show each step anyway
        yield step


def run_one(args, net, arch, dataflow=None, mapping=None, trace=False, progress=None):
    """Simulate with the functional path's accuracy and zeros when a data set is given (and the weights' zeros
    whenever the weights are loaded)."""
    from ..simulate import simulate
    from ..sparsity import weight_zeros

    if args.dataset or args.sparse:
        net = weight_zeros(net)

    accuracy, zeros = None, None
    if args.dataset:
        accuracy, zeros = dataset_figures(net, arch, args.dataset, args.progress)
    return simulate(net, arch, dataflow, density=args.density, zero_fractions=zeros, objective=args.objective,
                    mapping=mapping, trace=trace, accuracy=accuracy, progress=progress)


def dataset_figures(net, arch, dataset, progress=False):
    """(accuracy in the arch's formats, {layer: zero-operand fraction}) from the functional path."""
    from ..analog import executor_for
    from ..functional.evaluate import evaluate

    out = evaluate(net, dataset, arch.formats, executor=executor_for(arch),  # analog arrays: their own model
                   progress=True if progress else None)
    return out["accuracy"], out["zero_fractions"]


def main(args) -> int:
    import json

    from ..arch import load_arch
    from ..frontend import load_onnx
    from ..io import all_or_nothing
    from ..report import table, write_csv, write_plot, write_trace

    check_request(args)
    arch = load_arch(args.arch, args.overrides)
    # weights only to execute the model or to read its zeros
    net = load_onnx(args.model, weights=bool(args.dataset or args.sparse), batch=args.batch)
    with layer_progress(args, len(net.layers), f"run {arch.name}") as progress:
        result = run_one(args, net, arch, args.dataflow, args.mapping, trace=bool(args.trace), progress=progress)
    with all_or_nothing():
        if args.csv:
            write_csv(result, args.csv)
        if args.trace:
            write_trace(result, args.trace)
        if args.plot:
            write_plot([result], args.plot)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    if args.show_mapping:
        from ..simulate import show_mapping
        print(show_mapping(result) + "\n")
    print(table(result))
    return 0
