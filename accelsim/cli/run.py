"""`accelsim run MODEL --arch ARCH`: cycles, stalls, utilization, counts and energy per layer (and accuracy per Joule)."""
from __future__ import annotations

import json

from ..mapping.mapper import OBJECTIVES
from ..report import table, write_csv, write_plot, write_trace

HELP = "Simulate a model on an architecture: cycles, stalls, utilization, energy per layer; accuracy per Joule."


def add_common(p):
    """Options shared by `run` and `compare`."""
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--dataset", help="labelled data set: adds accuracy in the architecture's formats, accuracy per "
                                     "Joule, and zero-gating from the data's real zeros")
    p.add_argument("--density", type=float, help="fraction of MACs with non-zero operands when no data set is "
                                                 "given (default 1)")
    p.add_argument("--objective", choices=OBJECTIVES, default="energy", help="what the mapper minimises")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an architecture-file value, e.g. global_buffer.size_kb=64 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_arguments(p):
    add_common(p)
    p.add_argument("--arch", required=True, help="architecture file (arch/*.yaml)")
    p.add_argument("--dataflow", help="dataflow (e.g. rs, ws, os, nlr on Eyeriss; default: the family's first)")
    p.add_argument("--mapping", metavar="FILE", help="hand-written mapping (YAML) overriding the mapper for its layers")
    p.add_argument("--show-mapping", action="store_true", help="print each layer's loop nest")
    p.add_argument("--csv", metavar="F", help="write the per-layer table as CSV")
    p.add_argument("--trace", metavar="F", help="write a Chrome/Perfetto trace of tiles on units")
    p.add_argument("--plot", metavar="F", help="write a plot of the energy breakdown (png/pdf/svg)")


def run_one(args, arch, dataflow=None, mapping=None, trace=False):
    """Simulate with the functional path's accuracy and zeros when a data set is given."""
    from ..arch import load_arch
    from ..frontend import load_onnx
    from ..simulate import simulate

    net = load_onnx(args.model, weights=bool(args.dataset))  # weights only to execute the model
    arch = load_arch(arch, args.overrides)
    accuracy, zeros = None, None
    if args.dataset:
        accuracy, zeros = dataset_figures(net, arch, args.dataset)
    return simulate(net, arch, dataflow, density=args.density, zero_fractions=zeros, objective=args.objective,
                    mapping=mapping, trace=trace, accuracy=accuracy)


def dataset_figures(net, arch, dataset):
    """(accuracy in the arch's formats, {layer: zero-operand fraction}) from the functional path."""
    from ..analog import executor_for
    from ..functional.evaluate import evaluate

    out = evaluate(net, dataset, arch.formats, executor=executor_for(arch))  # analog arrays: their own model
    return out["accuracy"], out["zero_fractions"]


def main(args) -> int:
    result = run_one(args, args.arch, args.dataflow, args.mapping, trace=bool(args.trace))
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
