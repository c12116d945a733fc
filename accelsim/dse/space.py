"""A sweep file -> the list of design points it names (a grid, random samples, or both).

A sweep file (YAML) fixes what every point shares and lists what varies::

    model: workloads/seed004_ic.onnx      # paths are relative to the current directory, like the CLI's
    arch: arch/eyeriss.yaml
    dataset: digits                       # optional: accuracy in the point's formats
    grid:                                 # every combination of these axes
      set: {global_buffer.size_kb: [32, 64, 108], pe_array.rows: [6, 12]}   # architecture keys (--set paths)
      format: ['fixed(16)', 'fixed(8)']   # number formats (spec spellings; default: the arch file's)
      precision: {conv1: [16x16, 8x8]}    # per-layer multi-precision MAC (seed 004 Table 1)
      dataflow: [rs, ws]
    random:                               # and/or seeded random samples of these axes
      samples: 20
      seed: 0
      set: {global_buffer.size_kb: {low: 16, high: 256, log: true, integer: true}}

An axis is a list (grid: every value; random: one drawn uniformly) or, in ``random``, a range
``{low, high, log, integer}``. Keys: model, arch, dataflow, format, mac, dataset, density, objective, mapper_samples
(the mapper's samples per layer), and the nested ``set`` (architecture keys) and ``precision`` (layer -> MAC precision).
A point is a plain dict in one canonical form; :func:`point_key` hashes it, so the same point is one key.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math

import numpy as np

from ..arch.spec import read_yaml
from ..errors import AccelsimError

SCALARS = ("model", "arch", "dataflow", "format", "mac", "dataset", "density", "objective", "mapper_samples")
NESTED = ("set", "precision")


def canonical(point: dict) -> dict:
    """The point with every key present (None when unset) and nested axes sorted: what gets hashed and stored."""
    out = {k: point.get(k) for k in SCALARS}
    for k in NESTED:
        out[k] = dict(sorted((point.get(k) or {}).items()))
    return out


def digest(obj) -> str:
    """A stable hash of a JSON-able object: 16 hex digits of SHA-256 over its sorted, compact JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def point_key(point: dict) -> str:
    """The key of a design point: the digest of its canonical form."""
    return digest(canonical(point))


def _axes(spec, where: str) -> dict[tuple, object]:
    """{(key,) or (nested, key): axis} from a grid/random section."""
    if not isinstance(spec, dict):
        raise AccelsimError(f"{where}: must be a mapping of axes")
    axes = {}
    for key, value in spec.items():
        if key in NESTED:
            if not isinstance(value, dict):
                raise AccelsimError(f"{where}.{key}: must map names to axes")
            axes.update({(key, str(k)): v for k, v in value.items()})
        elif key in SCALARS:
            axes[(key,)] = value
        elif key not in ("samples", "seed"):
            raise AccelsimError(f"{where}.{key}: unknown axis (known: {', '.join(SCALARS + NESTED)})")
    return axes


def _with(base: dict, assignment: dict) -> dict:
    point = {k: (dict(v) if k in NESTED else v) for k, v in base.items()}
    for path, value in assignment.items():
        if len(path) == 2:
            point.setdefault(path[0], {})[path[1]] = value
        else:
            point[path[0]] = value
    return canonical(point)


def _draw(axis, rng, where):
    if isinstance(axis, list) and axis:
        return axis[int(rng.integers(len(axis)))]
    if isinstance(axis, dict) and {"low", "high"} <= set(axis):
        lo, hi = float(axis["low"]), float(axis["high"])
        if not lo <= hi or (axis.get("log") and lo <= 0):
            raise AccelsimError(f"{where}: need low <= high (and low > 0 with log), got {axis}")
        v = math.exp(rng.uniform(math.log(lo), math.log(hi))) if axis.get("log") else rng.uniform(lo, hi)
        return int(round(v)) if axis.get("integer") else float(v)
    raise AccelsimError(f"{where}: an axis is a non-empty list or a range {{low, high[, log, integer]}}")


def expand(spec: dict, where: str = "sweep") -> list[dict]:
    """Every point of a sweep spec (grid first, then random samples), duplicates removed, in order."""
    if not isinstance(spec, dict):
        raise AccelsimError(f"{where}: not a YAML mapping")
    base = {k: spec[k] for k in SCALARS + NESTED if k in spec}
    unknown = set(spec) - set(SCALARS + NESTED) - {"grid", "random"}
    if unknown:
        raise AccelsimError(f"{where}: {sorted(unknown)[0]}: unknown key")
    points = []
    if "grid" in spec:
        axes = _axes(spec["grid"], f"{where}: grid")
        for path, axis in axes.items():
            if not isinstance(axis, list) or not axis:
                raise AccelsimError(f"{where}: grid.{'.'.join(path)}: must be a non-empty list")
        for values in itertools.product(*axes.values()):
            points.append(_with(base, dict(zip(axes, values))))
    if "random" in spec:
        section = spec["random"]
        axes = _axes(section, f"{where}: random")
        n = section.get("samples")
        if not isinstance(n, int) or n < 1:
            raise AccelsimError(f"{where}: random.samples: must be a positive integer, got {n!r}")
        rng = np.random.default_rng(section.get("seed", 0))
        for _ in range(n):
            points.append(_with(base, {p: _draw(a, rng, f"{where}: random.{'.'.join(p)}") for p, a in axes.items()}))
    if not points:
        points = [canonical(base)]
    for p in points:
        for key in ("model", "arch"):
            if not p[key]:
                raise AccelsimError(f"{where}: {key}: missing (give it at the top or as a grid/random axis)")
    seen, unique = set(), []
    for p in points:
        k = point_key(p)
        if k not in seen:
            seen.add(k)
            unique.append(p)
    return unique


def load_sweep(path) -> list[dict]:
    """The points of a sweep file."""
    return expand(read_yaml(path), str(path))
