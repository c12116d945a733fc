"""`accelsim transform MODEL --out OUT.onnx [--prune SPEC] [--cs RD]`: seed 000's connectivity pruning and
compressive-sensing front end, written as an ONNX model."""
from __future__ import annotations

HELP = "Prune a model's weights and/or put a compressive-sensing projection in front of it; write it as ONNX."


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--out", required=True, metavar="OUT.onnx", help="where to write the transformed model")
    p.add_argument("--prune", metavar="SPEC", help="random:F (seed 000's CP), magnitude:F or filter:F (F the "
                                                   "fraction of weights removed), or N:M (keep N of every M)")
    p.add_argument("--layers", metavar="L1,L2", help="prune only these layers (default: every conv/dense layer)")
    p.add_argument("--cs", type=int, metavar="RD", help="project the first dense layer's inputs onto RD Rademacher "
                                                        "measurements (±1/√n) and refit that layer to them")
    p.add_argument("--calibration", metavar="DATA", help="inputs to refit the layer by least squares: digits "
                                                         "(its training split), seed001 or npz:PATH")
    p.add_argument("--seed", type=int, default=0, help="seed of the random pruning and of the projection")


def main(args) -> int:
    from ..errors import UsageError
    from ..io import check_output
    from ..transforms import parse_pruning

    if not args.prune and args.cs is None:
        raise UsageError("transform: nothing to do: give --prune and/or --cs")
    if args.cs is not None and args.cs < 1:
        raise UsageError(f"transform: argument --cs: must be a positive integer, got {args.cs}")
    pruning = parse_pruning(args.prune) if args.prune else None
    check_output(args.out, "--out")

    from ..frontend import load_onnx
    from ..transforms import cs, prune
    from ..transforms.export import export

    net = load_onnx(args.model)
    lines = []
    if args.cs is not None:
        first = next(l for l in net.layers if l.is_mac_layer)
        net = cs(net, args.cs, args.seed, calibration=_calibration(net, first, args.calibration))
        lines.append(f"cs: {first.name}'s {first.in_shapes[0][-1]} inputs -> {args.cs} Rademacher measurements"
                     + (f" (refit on {args.calibration})" if args.calibration else " (refit by Φ's near-isometry)"))
    if pruning:
        layers = args.layers.split(",") if args.layers else None
        net = prune(net, *pruning, seed=args.seed, layers=layers)
        for layer in net.layers:
            if layer.weight_mask is not None and (layers is None or layer.name in layers):
                m = layer.weight_mask
                lines.append(f"{layer.name}: {int(m.sum()):,} of {m.size:,} weights kept ({m.mean():.1%})")
    export(net, args.model, args.out)
    print("\n".join(lines + [f"wrote {args.out}"]))
    return 0


def _calibration(net, first, spec):
    """The inputs of ``first`` on the calibration data (None without data)."""
    if spec is None:
        return None
    from ..datasets import digits, load
    from ..functional import run

    data = digits("train") if spec == "digits" else load(spec)
    x = data.for_network(net).x
    return run(net, x, keep=True)[first.inputs[0]]
