"""One design point through the `run` path: the timing path's cycles and energy, and accuracy when a data set is given.

:func:`timing` is the one place the DSE asks the simulator for a cost: it hands ``simulate`` the widths a format
spec gives every tensor, so the sweep and the precision search price precisions the same way.
"""
from __future__ import annotations

import time
from dataclasses import replace
from functools import lru_cache

from ..errors import AccelsimError
from ..functional.quantized import QuantSpec
from ..mapping.mapper import SAMPLES
from .precision import tensor_bits
from .space import point_key

#: metrics a point reports; those a design wants large (the rest it wants small)
MAXIMIZE = {"accuracy", "accuracy_per_joule", "inferences_per_s"}


@lru_cache(maxsize=8)
def _net(path: str):
    from ..frontend import load_onnx
    return load_onnx(path)


def timing(net, arch, spec: QuantSpec | None, *, output_bits=None, dataflow=None, zero_fractions=None,
           density=None, objective="energy", samples=SAMPLES, cache=None):
    """``simulate`` with each tensor at the width ``spec`` gives it (None: the architecture's words as they are)."""
    from ..simulate import simulate
    precision = tensor_bits(net, spec, output_bits) if spec is not None else None
    return simulate(net, arch, dataflow, zero_fractions=zero_fractions, density=density, objective=objective,
                    samples=samples, precision=precision, cache=cache)


def point_spec(point: dict, arch) -> QuantSpec | None:
    """The point's format spec: its ``format`` (else the arch file's formats) with its MAC precisions, or None when
    the point sets none of them (the architecture runs as its file says)."""
    if not (point.get("format") or point.get("mac") or point.get("precision")):
        return None
    spec = QuantSpec.parse(point["format"]) if point.get("format") else QuantSpec.from_formats(arch.formats)
    if point.get("mac"):
        spec = replace(spec, mac=str(point["mac"]), layers={n: replace(s, mac=str(point["mac"]))
                                                            for n, s in spec.layers.items()})
    layers = dict(spec.layers)
    for name, p in (point.get("precision") or {}).items():
        layers[name] = replace(spec.for_layer(name), layers={}, mac=str(p))
    return replace(spec, layers=layers)


def run_point(point: dict) -> dict:
    """The record of one point: {"key", "point", "metrics", "seconds"} — or {"key", "point", "error"} for a point
    the simulator rejects (a buffer too small for any mapping, say), so the sweep goes on and never retries it."""
    from ..arch import load_arch
    start = time.perf_counter()
    record = {"key": point_key(point), "point": point}
    try:
        record["metrics"] = _metrics(point, load_arch(point["arch"], _overrides(point)))
    except AccelsimError as exc:
        record["error"] = str(exc)
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _overrides(point) -> list[str]:
    return [f"{k}={v}" for k, v in (point.get("set") or {}).items()]


def _metrics(point, arch) -> dict:
    from ..analog import executor_for
    from ..functional.evaluate import evaluate
    net = _net(point["model"])
    spec = point_spec(point, arch)
    accuracy = zeros = None
    if point.get("dataset"):
        out = evaluate(net, point["dataset"], spec if spec is not None else arch.formats,
                       executor=executor_for(arch), progress=False)
        accuracy, zeros = out["accuracy"], out["zero_fractions"]
    kwargs = {"samples": point["mapper_samples"]} if point.get("mapper_samples") else {}
    result = timing(net, arch, spec, dataflow=point.get("dataflow"), zero_fractions=zeros,
                    density=point.get("density"), objective=point.get("objective") or "energy", **kwargs)
    result.accuracy = accuracy
    t = result.to_dict()["total"]
    metrics = {"energy_uj": t["energy_pj"] / 1e6, "cycles": t["cycles"], "latency_ms": t["latency_ms"],
               "macs": t["macs"], "pj_per_mac": t["energy_pj"] / t["macs"] if t["macs"] else None,
               "memory_accesses": t["memory_accesses"], "inferences_per_s": t["inferences_per_s"],
               "dataflow": result.dataflow}
    if accuracy is not None:
        metrics.update(accuracy=accuracy, accuracy_per_joule=result.metrics()["accuracy_per_joule"])
    return metrics
