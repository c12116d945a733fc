"""Accuracy of a network on a labelled data set, in float or in number formats (with per-layer statistics)."""
from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm

from ..datasets import load
from ..errors import AccelsimError
from ..ir import Network
from .quantized import QuantizedExecutor, QuantSpec, run_quantized


def evaluate(net: Network, dataset, spec: QuantSpec | str | dict | None = None, batch_size: int = 256,
             progress: bool | None = None, executor=None) -> dict:
    """{"accuracy", "n", "format", "layers": {name: stats}, "zero_fractions": {name: fraction}}.

    ``dataset``: a Dataset or its name; ``spec``: a QuantSpec, its spelling, or an architecture's formats
    mapping (None = float32). ``executor`` replaces the quantized executor (e.g. an analog model).
    A progress bar shows on a terminal (or when ``progress`` is true).
    """
    if spec is None or isinstance(spec, str):
        spec = QuantSpec.parse(spec or "float")
    elif isinstance(spec, dict):
        spec = QuantSpec.from_formats(spec)
    data = load(dataset).for_network(net)
    executor = executor or QuantizedExecutor(spec)
    correct = 0
    show = sys.stderr.isatty() if progress is None else progress
    starts = range(0, len(data), batch_size)
    for start in tqdm(starts, desc=f"eval {data.name}", unit="batch", disable=not show, leave=False):
        y, _ = run_quantized(net, data.x[start:start + batch_size], spec, executor)
        if isinstance(y, dict):
            raise AccelsimError(f"{net.source or net.name}: evaluation needs a single-output model")
        if y.ndim != 2:
            raise AccelsimError(f"{net.source or net.name}: output of shape {y.shape[1:]} is not a score per class")
        correct += int(np.sum(np.argmax(y, axis=1) == data.y[start:start + batch_size]))
    stats = getattr(executor, "stats", {})
    return {"dataset": data.name, "n": len(data), "format": str(spec), "accuracy": correct / len(data),
            "layers": {k: v.to_dict() for k, v in stats.items()},
            "zero_fractions": {k: v.zero_fraction for k, v in stats.items()}}
