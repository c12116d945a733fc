"""`accelsim infer MODEL --input X.npy --out Y.npy`: run a batch through the model (float, or in a number format)."""
from __future__ import annotations

from ..errors import AccelsimError

HELP = "Run a batch (first dimension = batch) through a model, in float32 or in a number format."


def add_arguments(p):
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--input", required=True, metavar="X.npy", help="input batch, first dimension = batch")
    p.add_argument("--out", required=True, metavar="Y.npy", help="where to write the output batch")
    p.add_argument("--format", metavar="F", help="number format for weights and activations, e.g. fixed(16) "
                                                 "(default: float32 reference)")


def load_npy(path):
    import numpy as np

    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise AccelsimError(f"{path}: cannot read a .npy array ({exc})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf" or x.ndim == 0 or len(x) == 0:
        raise AccelsimError(f"{path}: needs a non-empty real-valued array with the batch first, got "
                            f"{getattr(x, 'dtype', type(x).__name__)} of shape {getattr(x, 'shape', '?')}")
    return x


def main(args) -> int:
    import numpy as np

    from ..frontend import load_onnx
    from ..functional import run
    from ..functional.quantized import QuantSpec, run_quantized
    from ..io import atomic_path, check_output

    check_output(args.out, "--out")
    spec = QuantSpec.parse(args.format) if args.format else None
    net = load_onnx(args.model)
    if len(net.outputs) != 1:
        raise AccelsimError(f"{args.model}: the model has {len(net.outputs)} outputs; --out takes a single-output model")
    x = load_npy(args.input)
    y = run_quantized(net, x, spec)[0] if spec else run(net, x)
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, y)
    print(f"wrote {args.out}: {y.shape} {y.dtype}")
    return 0
