"""`accelsim eval MODEL --dataset D [--format F]`: accuracy in a number format, with per-layer statistics."""
from __future__ import annotations

import argparse

HELP = "Accuracy of a model on a labelled data set, in float32 or in number formats."


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--dataset", required=True, help="digits, seed001 or npz:PATH (arrays x, y)")
    p.add_argument("--format", default="float", metavar="F",
                   help="format of weights and activations, e.g. fixed(16), fp8_e4m3, bfp(8,8,16), ternary; or "
                        "'weights=F;activations=F;accumulator=fixed(32);LAYER:weights=F' (default: float)")
    p.add_argument("--weights", metavar="F", help="format of the weights (overrides --format)")
    p.add_argument("--activations", metavar="F", help="format of the input activations (overrides --format)")
    p.add_argument("--accumulator", metavar="F", help="accumulator word, e.g. fixed(24): saturating integer sums")
    p.add_argument("--mac", metavar="P", help="seed 004 multi-precision MAC for fixed(16) operands: 16x16, 16x8, "
                                              "8x16 or 8x8 (prices MACs by its Table 1)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="samples per batch (default 256)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--progress", action="store_true", help="show a progress bar even when stderr is not a terminal")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def spec_from_args(args):
    """The QuantSpec of --format and the role options (each format named as the user wrote it when bad)."""
    from ..functional.quantized import QuantSpec

    text = ";".join([args.format] + [f"{role}={getattr(args, role)}" for role in ("weights", "activations",
                                                                                  "accumulator", "mac")
                                          if getattr(args, role)])
    return QuantSpec.parse(text)


def main(args) -> int:
    import json

    from tabulate import tabulate

    from ..frontend import load_onnx
    from ..functional.evaluate import evaluate

    spec = spec_from_args(args)
    net = load_onnx(args.model)
    result = evaluate(net, args.dataset, spec, batch_size=args.batch_size, progress=True if args.progress else None)
    result["model"] = args.model
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.model} on {result['dataset']} ({result['n']} samples), {result['format']}: "
          f"accuracy {result['accuracy']:.4f}")
    priced = any("mac_energy_pj" in s for s in result["layers"].values())
    rows = [(name, s["arithmetic"], _fractions(s), f"{s['zero_fraction']:.3f}", s["clipped_inputs"],
             s["accumulator_saturations"])
            + ((s.get("zero_macs", ""), f"{s['mac_energy_pj'] / result['n']:,.0f}" if "mac_energy_pj" in s else "")
               if priced else ()) for name, s in result["layers"].items()]
    print(tabulate(rows, headers=["layer", "arithmetic", "F weights/inputs", "zero inputs", "clipped inputs",
                                  "acc. saturations"] + (["zero MACs", "MAC pJ/sample"] if priced else [])))
    return 0


def _fractions(stats: dict) -> str:
    """Fixed point's fraction lengths: the weights' F and the input activations' F (all the batches chose)."""
    f = stats.get("fraction_bits")
    return f"{f['weights']}/{','.join(map(str, f['activations']))}" if f else ""
