"""`accelsim info FILE`: a model's layers (shapes, MACs, parameters), or an architecture file's components."""
from __future__ import annotations

import json

HELP = ("Show a model's layers (op, output shape, MACs — SAM ops for SAM layers — and parameters), "
        "or an architecture file's components and energy table.")


def add_arguments(p):
    p.add_argument("model", metavar="FILE", help="ONNX model file, or architecture file (.yaml)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(net) -> dict:
    """The model summary that `info --json` prints."""
    return {"model": net.source or net.name, "inputs": {k: list(v) for k, v in net.inputs.items()},
            "layers": [layer.summary() for layer in net.layers],
            "total_macs": net.total_macs, "total_params": net.total_params}


def describe_arch(arch) -> dict:
    """The architecture summary that `info --json` prints for a .yaml file."""
    return {"arch": arch.name, "family": arch.family, "clock_mhz": arch.clock_mhz, "formats": arch.formats,
            "components": {c.name: {"kind": c.kind, **c.params, "energy_pj": c.energy}
                           for c in arch.components.values()}}


def main(args) -> int:
    if str(args.model).endswith((".yaml", ".yml")):
        return _arch_info(args)
    from tabulate import tabulate

    from ..frontend import load_onnx

    net = load_onnx(args.model)
    info = describe(net)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [(l["name"], l["op"], "×".join(map(str, l["output_shape"])), f"{l['macs']:,}", f"{l['params']:,}")
            for l in info["layers"]]
    rows.append(("total", "", "", f"{info['total_macs']:,}", f"{info['total_params']:,}"))
    print(f"{info['model']}  inputs: " + ", ".join(f"{k} {'×'.join(map(str, v))}" for k, v in info["inputs"].items()))
    print(tabulate(rows, headers=["layer", "op", "output", "MACs", "params"], colalign=("left", "left", "left", "right", "right")))
    return 0


def _arch_info(args) -> int:
    from tabulate import tabulate

    from ..arch import load_arch, model
    arch = load_arch(args.model)
    info = describe_arch(arch)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{arch.name} (family {arch.family}, {arch.clock_mhz:g} MHz; dataflows: {', '.join(model(arch).dataflows)}); "
          + ", ".join(f"{k} {v}" for k, v in arch.formats.items()))
    rows = [(c.name, c.kind, c.size_words if c.kind in ("buffer", "spad") else "",
             ", ".join(f"{a} {e:g}" for a, e in c.energy.items())) for c in arch.components.values()]
    print(tabulate(rows, headers=["component", "kind", "words", "energy per action (pJ)"]))
    return 0
