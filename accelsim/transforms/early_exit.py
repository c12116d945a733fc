"""Dynamically selective execution (seed 000 §II-D): a cascade of exits with confidence thresholds.

Stage s is a network giving class scores; a sample leaves at the first stage whose confidence — the largest
softmax probability of its scores — reaches that stage's threshold (the last stage always answers). Energy and
latency per inference are the data-weighted sums over the exits taken, measured on the data set: a sample that
leaves at stage s paid for stages 1..s. Exit branches off one backbone are stages that repeat the backbone's
layers (same name and work): a layer already run by an earlier stage is not paid again.
"""
from __future__ import annotations

import numpy as np

from ..datasets import load
from ..errors import AccelsimError
from ..ir import Absent


def confidence(scores: np.ndarray) -> np.ndarray:
    """Largest class probability per row: the scores themselves when they are probabilities, else their softmax."""
    s = np.asarray(scores, np.float64)
    if not (np.all(s >= 0) and np.allclose(s.sum(axis=1), 1.0, atol=1e-4)):
        e = np.exp(s - s.max(axis=1, keepdims=True))
        s = e / e.sum(axis=1, keepdims=True)
    return s.max(axis=1)


def exits_taken(confidences: list[np.ndarray], thresholds) -> np.ndarray:
    """Per sample, the index of the stage it leaves at."""
    taken = np.full(len(confidences[0]), len(confidences) - 1)
    for s in range(len(confidences) - 2, -1, -1):
        taken = np.where(confidences[s] >= thresholds[s], s, taken)
    return taken


def stage_costs(stages, results) -> list[tuple[float, int]]:
    """(energy pJ, cycles) each stage adds: its layers minus those an earlier stage already ran — the same layer
    (name, op, shapes, weights) on the same inputs (every producer upstream already run too)."""
    ran, out = set(), []
    for net, res in zip(stages, results):
        producer = {l.output: l for l in net.layers}
        mine = {}
        for layer in net.layers:  # topological order: producers first
            key = (_identity(layer), tuple(mine.get(producer[t].name) if t in producer else ("input", t)
                                           for t in layer.inputs))
            mine[layer.name] = key
        energy = cycles = 0
        for layer, timed in zip(net.layers, res.layers):
            if mine[layer.name] not in ran:
                energy += timed.total_energy_pj
                cycles += timed.cycles
        ran |= set(mine.values())
        out.append((energy, cycles))
    return out


def _identity(layer) -> tuple:
    """What makes two layers the same computation: name, op, shapes and weight values."""
    weights = tuple(sorted((k, w.shape, None if isinstance(w, Absent) else hash(np.ascontiguousarray(w).tobytes()))
                           for k, w in layer.weights.items()))
    return layer.name, layer.op, tuple(map(tuple, layer.in_shapes)), tuple(layer.out_shape), weights


def early_exit(stages, thresholds, dataset, arch, dataflow=None, spec=None, batch_size: int = 256, **simulate_args):
    """Measure a cascade of ``stages`` (Networks or ONNX paths) with ``thresholds`` (one per stage but the last)
    on ``dataset`` in the number formats of ``arch`` (or ``spec``) and on its timing path."""
    from ..arch import Arch, load_arch
    from ..frontend import load_onnx
    from ..functional.quantized import QuantizedExecutor, QuantSpec, run_quantized
    from ..simulate import simulate

    thresholds = list(thresholds)
    if len(thresholds) != len(stages) - 1:
        raise AccelsimError(f"early exit: {len(stages)} stages need {len(stages) - 1} thresholds, got "
                            f"{len(thresholds)}")
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        raise AccelsimError(f"early exit: thresholds are confidences in [0, 1], got {thresholds}")
    stages = [load_onnx(s) if isinstance(s, (str, bytes)) or hasattr(s, "__fspath__") else s for s in stages]
    arch = arch if isinstance(arch, Arch) else load_arch(arch)
    spec = QuantSpec.parse(spec) if isinstance(spec, str) else spec or QuantSpec.from_formats(arch.formats)
    data = load(dataset)
    confidences, correct, results = [], [], []
    for net in stages:
        shaped = data.for_network(net)
        executor = QuantizedExecutor(spec)
        scores = np.concatenate([run_quantized(net, shaped.x[i:i + batch_size], spec, executor)[0]
                                 for i in range(0, len(shaped), batch_size)])
        confidences.append(confidence(scores))
        correct.append(np.argmax(scores, axis=1) == shaped.y)
        zeros = {k: v.zero_fraction for k, v in executor.stats.items()}
        results.append(simulate(net, arch, dataflow, zero_fractions=zeros, **simulate_args))
    taken = exits_taken(confidences, thresholds)
    costs = stage_costs(stages, results)
    clock_khz = arch.clock_mhz * 1e3
    exits, energy, cycles, right = [], 0.0, 0.0, 0
    paid_energy = paid_cycles = 0.0
    for s, net in enumerate(stages):
        paid_energy += costs[s][0]
        paid_cycles += costs[s][1]
        here = taken == s
        share = float(here.mean())
        hits = int(correct[s][here].sum())
        right += hits
        energy += share * paid_energy
        cycles += share * paid_cycles
        exits.append({"stage": net.name, "threshold": thresholds[s] if s < len(thresholds) else None,
                      "exits": share, "accuracy": hits / int(here.sum()) if here.any() else None,
                      "energy_pj": paid_energy, "latency_ms": paid_cycles / clock_khz})
    last = results[-1].total
    return {"dataset": data.name, "n": len(taken), "exits": exits, "accuracy": right / len(taken),
            "energy_pj": energy, "latency_ms": cycles / clock_khz,
            "last_stage_only": {"accuracy": float(np.mean(correct[-1])), "energy_pj": last["energy_pj"],
                                "latency_ms": last["cycles"] / clock_khz}}
