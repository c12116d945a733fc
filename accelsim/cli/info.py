"""`accelsim info MODEL`: the layers of a model with their shapes, MACs and parameters."""
from __future__ import annotations

import json

from tabulate import tabulate

from ..frontend import load_onnx

HELP = "Show a model's layers: op, output shape, MACs (SAM ops for SAM layers) and parameters."


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def describe(net) -> dict:
    """The model summary that `info --json` prints."""
    return {"model": net.source or net.name, "inputs": {k: list(v) for k, v in net.inputs.items()},
            "layers": [layer.summary() for layer in net.layers],
            "total_macs": net.total_macs, "total_params": net.total_params}


def main(args) -> int:
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
