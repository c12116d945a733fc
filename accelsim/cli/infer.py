"""`accelsim infer MODEL --input X.npy --out Y.npy`: run a batch through the model (float, or in a number format)."""
from __future__ import annotations

import numpy as np

from ..errors import AccelsimError
from ..frontend import load_onnx
from ..functional import run
from ..io import atomic_path

HELP = "Run a batch (first dimension = batch) through a model, in float32 or in a number format."


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--input", required=True, metavar="X.npy", help="input batch, first dimension = batch")
    p.add_argument("--out", required=True, metavar="Y.npy", help="where to write the output batch")
    p.add_argument("--format", metavar="F", help="number format for weights and activations, e.g. fixed(16) "
                                                 "(default: float32 reference)")


def load_npy(path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AccelsimError(f"{path}: cannot read a .npy array ({exc})") from None


def main(args) -> int:
    net = load_onnx(args.model)
    x = load_npy(args.input)
    if args.format:
        from ..functional.quantized import QuantSpec, run_quantized
        y, _ = run_quantized(net, x, QuantSpec.parse(args.format))
    else:
        y = run(net, x)
    if isinstance(y, dict):
        raise AccelsimError(f"{args.model}: the model has {len(y)} outputs; --out takes a single-output model")
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, y)
    print(f"wrote {args.out}: {y.shape} {y.dtype}")
    return 0
