"""The mapper: search loop nests that fit every buffer, keep the best for energy, delay or EDP.

Search is a seeded random sampling of the mapspace (as Timeloop's random search), built inner -> outer
so every sample fits: spatial factors per fanout axis over the dims the dataflow allows, temporal factors
per level over its allowed dims (shrunk until the level's tile fits), random loop orders; the DRAM level
takes what remains. Factors are the "ceil" divisors ceil(D/k), so partial last tiles are allowed. Each
sample is scored in closed form (``Nest.counts``); the same budget is given to every dataflow.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from math import ceil, prod
from zlib import crc32

from ..errors import AccelsimError
from .hierarchy import DIMS, Hierarchy
from .nest import LevelMap, Mapping, Nest, Shape

OBJECTIVES = ("energy", "delay", "edp")
SAMPLES = 400


@lru_cache(maxsize=None)
def factor_choices(remaining: int, limit: int) -> list[int]:
    """Factors worth trying for a dimension with ``remaining`` iterations: ceil(remaining / k) <= limit."""
    out = {ceil(remaining / k) for k in range(1, remaining + 1) if ceil(remaining / k) <= limit}
    return sorted(out) or [1]


@dataclass
class Scored:
    mapping: Mapping
    nest: Nest
    result: dict
    energy: float
    delay: float

    def cost(self, objective: str) -> float:
        return {"energy": self.energy, "delay": self.delay, "edp": self.energy * self.delay}[objective]


def score(hier: Hierarchy, mapping: Mapping, shape: Shape, table: dict) -> Scored:
    nest = Nest(hier, mapping, shape)
    res = nest.counts()
    energy = sum(n * table.get(comp, {}).get(action, 0.0)
                 for comp, actions in res["counts"].items() for action, n in actions.items())
    dram = sum(res["counts"].get(hier.levels[0].name, {}).values())
    tiles = prod(lp.factor for lp in nest.loops[:nest.starts[1]]) if len(nest.starts) > 1 else 1
    delay = max(res["steps"] + tiles * hier.pipeline, dram / hier.dram_bandwidth) + hier.dram_latency
    return Scored(mapping, nest, res, energy, delay)


def fits(hier: Hierarchy, nest: Nest) -> bool:
    return all(lv.capacity is None or nest.footprint(i) <= lv.capacity for i, lv in enumerate(hier.levels))


def _sample(hier: Hierarchy, shape: Shape, rng: random.Random) -> Mapping | None:
    bounds = dict(shape.bounds)
    inner = dict.fromkeys(DIMS, 1)     # product of factors chosen so far (inside), per dim
    levels = [LevelMap() for _ in hier.levels]
    remaining = lambda d: ceil(bounds[d] / inner[d])
    for li in range(len(hier.levels) - 1, 0, -1):
        lv, lm = hier.levels[li], levels[li]
        for axis in lv.fanout:
            room = axis.size
            dims = sorted(axis.dims)
            rng.shuffle(dims)
            for d in dims[:2]:
                choices = factor_choices(remaining(d), room)
                f = choices[-1] if rng.random() < 0.6 else rng.choice(choices)
                if f > 1:
                    lm.spatial.append((d, f, axis.name))
                    inner[d] *= f
                    room //= f
        dims = [d for d in DIMS if d in lv.dims and remaining(d) > 1]
        rng.shuffle(dims)
        for d in dims:
            choices = factor_choices(remaining(d), remaining(d))
            f = rng.choice(choices) if rng.random() < 0.7 else choices[-1]
            lm.temporal.append((d, f))
            inner[d] *= f
        # shrink until the level's tile fits: its own loops first, then the inner levels' (which only shrink)
        while True:
            nest = Nest(hier, Mapping(levels), shape)
            if lv.capacity is None or nest.footprint(li) <= lv.capacity:
                break
            big = [(li, j) for j, (_, f) in enumerate(lm.temporal) if f > 1] or \
                  [(k, j) for k in range(li + 1, len(levels)) for j, (_, f) in enumerate(levels[k].temporal) if f > 1]
            if not big:
                return None
            k, j = rng.choice(big)
            d, f = levels[k].temporal[j]
            inner[d] //= f
            nf = rng.choice(factor_choices(remaining(d), f - 1))
            levels[k].temporal[j] = (d, nf)
            inner[d] *= nf
    levels[0].temporal = [(d, remaining(d)) for d in DIMS if remaining(d) > 1]
    rng.shuffle(levels[0].temporal)
    return Mapping(levels)


def search(hier: Hierarchy, shape: Shape, table: dict, objective: str = "energy",
           samples: int = SAMPLES, seed: int = 0) -> Scored:
    """The best mapping found for a layer shape (deterministic for a given shape, hierarchy and seed)."""
    if objective not in OBJECTIVES:
        raise AccelsimError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got '{objective}'")
    rng = random.Random(crc32(repr((shape, seed)).encode()))
    scored = [score(hier, m, shape, table) for m in (_sample(hier, shape, rng) for _ in range(samples)) if m]
    if scored:
        # near-ties (within 1% of the best) go to the other figure: least delay for energy, least energy else
        best_cost = min(s.cost(objective) for s in scored)
        near = [s for s in scored if s.cost(objective) <= best_cost * 1.01]
        return min(near, key=lambda s: (s.delay, s.energy) if objective == "energy" else (s.energy, s.delay))
    raise AccelsimError(f"no mapping of shape {dict(shape.bounds)} fits the buffers "
                        f"({', '.join(f'{lv.name} {lv.capacity} words' for lv in hier.levels[1:])})")
