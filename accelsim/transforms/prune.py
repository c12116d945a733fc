"""Connectivity pruning (seed 000 §II-B): weights removed from conv and dense layers, their zeros recorded as
``Layer.weight_mask`` so the timing path can gate, skip or compress them (``accelsim.sparsity``).

Methods, each removing a ``fraction`` of a layer's weights (the connectivity ratio is what stays):

* ``random`` — uniformly at random, exactly round(fraction × size) of them (seed 000's CP, Fig. 2 (b));
* ``magnitude`` — the smallest |W| (Han et al., NIPS 2015, seed 000 [31]; seed 001 §III-D prunes its MAC layer so);
* ``n:m`` — in every group of m consecutive weights along a filter's inputs (C, R, S), the m − n smallest
  (structured N:M sparsity: every group keeps n, so parallel lanes stay balanced);
* ``filter`` — whole filters (output channels) of the smallest L1 norm (Lin et al., seed 000 [35]).

Random pruning needs no weight values, so it also applies to a network loaded shapes-only (the timing path of a
large model); the others rank values and need them (``n:m`` and ``filter`` choose at random without them, seeded).
"""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from ..errors import AccelsimError
from ..ir import Absent, Network

PRUNINGS = ("random", "magnitude", "n:m", "filter")


def parse_pruning(text: str) -> tuple[str, float | tuple[int, int]]:
    """``random:0.5``, ``magnitude:0.9``, ``filter:0.25`` (fraction removed) or ``2:4`` (keep 2 of every 4)."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if m:
        n, group = int(m[1]), int(m[2])
        if not 0 < n <= group:
            raise AccelsimError(f"--prune {text}: n:m keeps n of every m weights, 0 < n <= m")
        return "n:m", (n, group)
    method, _, value = text.partition(":")
    if method not in ("random", "magnitude", "filter"):
        raise AccelsimError(f"--prune {text}: expected random:F, magnitude:F, filter:F (F the fraction removed) "
                            f"or N:M, e.g. 2:4")
    try:
        fraction = float(value)
    except ValueError:
        raise AccelsimError(f"--prune {text}: the fraction removed must be a number in [0, 1)") from None
    if not 0.0 <= fraction < 1.0:
        raise AccelsimError(f"--prune {text}: the fraction removed must be in [0, 1), got {fraction}")
    return method, fraction


def prune(net: Network, method: str = "random", amount=0.5, seed: int = 0, layers=None) -> Network:
    """A copy of ``net`` with the weights of its conv/dense layers (or only ``layers``, by name) pruned.
    ``amount``: the fraction removed, or (n, m) for ``n:m``. Zeros already in a layer's mask stay zero."""
    if method not in PRUNINGS:
        raise AccelsimError(f"pruning method '{method}': unknown (known: {', '.join(PRUNINGS)})")
    names = {l.name for l in net.layers}
    unknown = sorted(set(layers or ()) - names)
    if unknown:
        raise AccelsimError(f"{net.source or net.name}: {unknown[0]}: no such layer to prune")
    rng = np.random.default_rng(seed)
    out = []
    for layer in net.layers:
        chosen = layer.op in ("conv", "dense") and "W" in layer.weights and (layers is None or layer.name in layers)
        out.append(_pruned(layer, method, amount, rng, net) if chosen else layer)
    return net.with_layers(out)


def _pruned(layer, method, amount, rng, net):
    w = layer.weights["W"]
    known = not isinstance(w, Absent)
    if method == "magnitude" and not known:
        raise AccelsimError(f"{net.source or net.name}: {layer.name}: magnitude pruning needs the weights "
                            f"(the model was loaded shapes-only)")
    ranked = known and method != "random"  # else a uniform choice: random scores
    keep = _keep(np.abs(np.asarray(w, np.float64)) if ranked else rng.random(w.shape, dtype=np.float32), method, amount)
    if layer.weight_mask is not None:
        keep &= layer.weight_mask
    weights = dict(layer.weights)
    if known:
        weights["W"] = np.where(keep, w, 0).astype(w.dtype)
    return replace(layer, weights=weights, weight_mask=keep)


def _keep(score: np.ndarray, method: str, amount) -> np.ndarray:
    """Which weights stay: the highest scores per layer (ties broken arbitrarily), per N:M group, or per filter."""
    if method == "n:m":
        n, m = amount
        rows = score.reshape(score.shape[0], -1)  # one row per filter: its C, R, S weights
        pad = -rows.shape[1] % m
        groups = np.pad(rows, ((0, 0), (0, pad)), constant_values=-np.inf).reshape(rows.shape[0], -1, m)
        rank = np.argsort(np.argsort(-groups, axis=-1, kind="stable"), axis=-1, kind="stable")
        return (rank < n).reshape(rows.shape[0], -1)[:, :rows.shape[1]].reshape(score.shape)
    if method == "filter":
        per_filter = score.reshape(score.shape[0], -1).sum(axis=1)
        drop = round(amount * score.shape[0])
        order = np.argsort(per_filter, kind="stable")
        keep = np.ones(score.shape[0], bool)
        keep[order[:drop]] = False
        return np.broadcast_to(keep.reshape((-1,) + (1,) * (score.ndim - 1)), score.shape).copy()
    drop = round(amount * score.size)
    keep = np.ones(score.size, bool)
    if drop:
        keep[np.argpartition(score, drop - 1, axis=None)[:drop]] = False
    return keep.reshape(score.shape)
