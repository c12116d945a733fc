"""Hand-written mapping files and the Timeloop-like printout of a loop nest.

A mapping file maps layer names to loops per storage level (levels not given get no loops; the DRAM
level gets whatever the inner levels leave, so it may be omitted)::

    conv1:
      global_buffer: {temporal: [[K, 4], [Q, 55]], spatial: [[R, 11, Y], [P, 14, X]]}
      psum_spad:     {temporal: [[K, 4]]}
"""
from __future__ import annotations

from math import ceil

from ..arch.spec import read_yaml
from ..errors import AccelsimError
from .hierarchy import DIMS, Hierarchy
from .nest import LevelMap, Mapping, Nest, Shape


def load_mapping_file(path) -> dict:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise AccelsimError(f"{path}: must map layer names to per-level loops")
    return raw


def build_mapping(hier: Hierarchy, shape: Shape, spec, where: str) -> Mapping:
    """A validated :class:`Mapping` from one layer's entry of a mapping file (``where`` names it in errors)."""
    if not isinstance(spec, dict):
        raise AccelsimError(f"{where}: must map storage levels to {{temporal, spatial}}")
    names = [lv.name for lv in hier.levels]
    for key in spec:
        if key not in names:
            raise AccelsimError(f"{where}.{key}: no such storage level (levels: {', '.join(names)})")
    levels = []
    for lv in hier.levels:
        entry = spec.get(lv.name) or {}
        lm = LevelMap()
        axes = {a.name: a for a in lv.fanout}
        for item in entry.get("temporal", []):
            d, f = _loop(item, 2, f"{where}.{lv.name}.temporal")
            if d not in lv.dims:
                raise AccelsimError(f"{where}.{lv.name}.temporal: dimension {d} is not allowed at this level "
                                    f"(allowed: {''.join(sorted(lv.dims))})")
            lm.temporal.append((d, f))
        for item in entry.get("spatial", []):
            d, f, a = _loop(item, 3, f"{where}.{lv.name}.spatial")
            if a not in axes or d not in axes[a].dims:
                allowed = ", ".join(x.name + ":" + "".join(sorted(x.dims)) for x in lv.fanout) or "none"
                raise AccelsimError(f"{where}.{lv.name}.spatial: {d} cannot be unrolled on axis {a} (axes: {allowed})")
            lm.spatial.append((d, f, a))
        for a in lv.fanout:
            used = 1
            for _, f, ax in lm.spatial:
                used *= f if ax == a.name else 1
            if used > a.size:
                raise AccelsimError(f"{where}.{lv.name}.spatial: axis {a.name} unrolls {used} > its {a.size} instances")
        levels.append(lm)
    covered = dict.fromkeys(DIMS, 1)
    for lm in levels[1:]:
        for d, f in lm.temporal:
            covered[d] *= f
        for d, f, _ in lm.spatial:
            covered[d] *= f
    levels[0].temporal = levels[0].temporal or [(d, ceil(shape[d] / covered[d])) for d in DIMS
                                                if ceil(shape[d] / covered[d]) > 1]
    mapping = Mapping(levels)
    nest = Nest(hier, mapping, shape)
    for d in DIMS:
        total = 1
        for lp in nest.loops:
            total *= lp.factor if lp.dim == d else 1
        if total < shape[d]:
            raise AccelsimError(f"{where}: dimension {d} covers {total} < its bound {shape[d]}")
    for i, lv in enumerate(hier.levels):
        if lv.capacity is not None and nest.footprint(i) > lv.capacity:
            raise AccelsimError(f"{where}.{lv.name}: tile needs {nest.footprint(i)} words > capacity {lv.capacity}")
    return mapping


def _loop(item, n, where):
    if not isinstance(item, (list, tuple)) or len(item) != n:
        raise AccelsimError(f"{where}: each loop is [{'dim, factor' + (', axis' if n == 3 else '')}], got {item!r}")
    d, f = item[0], item[1]
    if d not in DIMS:
        raise AccelsimError(f"{where}: unknown dimension {d!r} (one of {', '.join(DIMS)})")
    if isinstance(f, bool) or not isinstance(f, int) or f < 1:
        raise AccelsimError(f"{where}: factor of {d} must be a positive integer, got {f!r}")
    return (d, f) if n == 2 else (d, f, str(item[2]))


def format_nest(nest: Nest) -> str:
    """The loop nest, one loop per line, indented per depth, with each level's tile occupancy."""
    lines, depth = [], 0
    for i, lv in enumerate(nest.hier.levels):
        cap = f" — tile {nest.footprint(i):,} / {lv.capacity:,} words" if lv.capacity else ""
        keeps = "".join(sorted(lv.keeps, key="WIO".index))
        lines.append(f"{'  ' * depth}{lv.name} [{keeps}]{cap}")
        for lp in nest.loops:
            if lp.level != i:
                continue
            kind = f"spatial-for {lp.dim} in [0:{lp.factor}) ({lp.axis})" if lp.axis else f"for {lp.dim} in [0:{lp.factor})"
            lines.append(f"{'  ' * (depth + 1)}{kind}")
            depth += 1
    lines.append(f"{'  ' * (depth + 1)}MAC ({nest.hier.mac})")
    return "\n".join(lines)
