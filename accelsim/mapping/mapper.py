"""The mapper: among loop nests that fit every buffer, the best for energy, delay or EDP.

The candidates come from the architecture family's mapspace when it has one (e.g. Eyeriss's dataflows,
enumerated exhaustively within their definitions), else from a seeded random sampling of the generic space
(as Timeloop's random search), built inner -> outer so every sample fits. Each candidate is scored in closed
form (``Nest.counts``) with :class:`Pricing`: the energy table, the energy every cycle costs (clock network,
leakage, idle units) — so a slow mapping is not "cheap" because idle hardware is free — and what DRAM words
cost after compression. Ties go to the other figure; the search is deterministic.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from functools import lru_cache
from math import ceil, prod
from zlib import crc32

from ..errors import AccelsimError
from .hierarchy import DIMS, TENSORS, Hierarchy
from .nest import LevelMap, Mapping, Nest, Shape, by_component, tile_words

OBJECTIVES = ("energy", "delay", "edp")
SAMPLES = 200


@dataclass(frozen=True)
class Pricing:
    """What the mapper charges: ``table`` {component: {action: pJ}}, ``cycle_pj`` per cycle of the layer,
    ``dram_ratio`` {tensor: DRAM words moved per word} (compression), ``mac_pj`` per MAC executed."""

    table: dict
    cycle_pj: float = 0.0
    dram_ratio: dict = field(default_factory=dict)


def divisor_choices(n: int, limit: int) -> list[int]:
    """Factors worth trying for a dimension with ``n`` iterations, at most ``limit``: every f whose number of
    chunks ceil(n / f) is reached by no smaller factor (the smallest factor for each chunk count)."""
    return _choices(n, min(n, limit))


@lru_cache(maxsize=1 << 14)
def _choices(n: int, limit: int) -> list[int]:
    out, k = set(), 1
    while k <= n:  # the distinct values of ceil(n / k), each O(1): O(sqrt n) in all
        f = -(-n // k)
        if f <= limit:
            out.add(f)
        k = -(-n // (f - 1)) if f > 1 else n + 1  # the first k with a smaller ceil(n / k)
    return sorted(out) or [1]


@dataclass
class Scored:
    mapping: Mapping
    nest: Nest
    result: dict
    energy: float
    delay: float

    def cost(self, objective: str) -> float:
        return _cost(objective, self.energy, self.delay)


def score(hier: Hierarchy, mapping: Mapping, shape: Shape, pricing: Pricing | dict, nest: Nest | None = None) -> Scored:
    """Closed-form energy (pJ) and delay (cycles) of a mapping, as the engine will count them (``nest``: the
    mapping's, if already built)."""
    if not isinstance(pricing, Pricing):
        pricing = Pricing(pricing)
    nest = Nest(hier, mapping, shape) if nest is None else nest
    res = nest.counts()
    table = pricing.table
    energy = sum(n * table.get(comp, {}).get(action, 0.0)
                 for (comp, _), actions in res["counts"].items() for action, n in actions.items())
    dram = hier.levels[0].name
    dram_in = dram_out = 0.0
    for (comp, t), actions in res["counts"].items():
        if comp == dram:
            ratio = pricing.dram_ratio.get(t, 1.0)
            dram_in += actions.get("read", 0) * ratio
            dram_out += actions.get("write", 0) * ratio
            energy += (ratio - 1) * sum(n * table.get(comp, {}).get(a, 0.0) for a, n in actions.items())
    serial = sum(bus.words(res["counts"]) / bus.words_per_cycle for bus in hier.buses if bus.serial)
    compute = res["steps"] + res["reduction_steps"] + nest.tile_count() * hier.pipeline
    for bus in hier.buses:
        if not bus.serial:
            compute = max(compute, bus.words(res["counts"]) / bus.words_per_cycle)
    delay = _delay(hier, compute + serial, dram_in, dram_out)
    energy += pricing.cycle_pj * delay
    res["by_component"] = by_component(res["counts"])
    return Scored(mapping, nest, res, energy, delay)


def _delay(hier: Hierarchy, compute: float, dram_in: float, dram_out: float) -> float:
    """Cycles of a layer that computes for ``compute`` cycles and moves those DRAM words over the link (a
    ``store_blocks`` array writes its outputs back after computing)."""
    link = hier.dram_bandwidth
    if hier.store_blocks:
        return max(compute, dram_in / link) + dram_out / link + hier.dram_latency
    return max(compute, (dram_in + dram_out) / link) + hier.dram_latency


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
                choices = divisor_choices(remaining(d), room)
                f = choices[-1] if rng.random() < 0.6 else rng.choice(choices)
                if f > 1:
                    lm.spatial.append((d, f, axis.name))
                    inner[d] *= f
                    room //= f
        dims = [d for d in DIMS if d in lv.dims and remaining(d) > 1]
        rng.shuffle(dims)
        for d in dims:
            choices = divisor_choices(remaining(d), remaining(d))
            f = rng.choice(choices) if rng.random() < 0.7 else choices[-1]
            lm.temporal.append((d, f))
            inner[d] *= f
        # shrink until the level's tile fits: its own loops first, then the inner levels' (which only shrink)
        for _ in range(64):
            if lv.capacity is None or _footprint(hier, levels, shape, li) <= lv.capacity:
                break
            big = [(li, j) for j, (_, f) in enumerate(lm.temporal) if f > 1] or \
                  [(k, j) for k in range(li + 1, len(levels)) for j, (_, f) in enumerate(levels[k].temporal) if f > 1]
            if not big:
                return None
            k, j = rng.choice(big)
            d, f = levels[k].temporal[j]
            inner[d] //= f
            nf = rng.choice(divisor_choices(remaining(d), f - 1))
            levels[k].temporal[j] = (d, nf)
            inner[d] *= nf
        else:
            return None
    levels[0].temporal = [(d, remaining(d)) for d in DIMS if remaining(d) > 1]
    rng.shuffle(levels[0].temporal)
    return Mapping(levels)


def _footprint(hier: Hierarchy, levels: list[LevelMap], shape: Shape, li: int) -> int:
    """Words level ``li``'s tile takes under partial loops ``levels`` (``Nest.footprint`` without building one)."""
    ext = dict.fromkeys(DIMS, 1)
    for lm in levels[li:]:
        for d, f in lm.temporal:
            ext[d] *= f
        for d, f, _ in lm.spatial:
            ext[d] *= f
    for d, bound in shape.bounds:
        ext[d] = min(ext[d], bound)
    return tile_words(shape, hier.levels[li], ext)


def sampled(hier: Hierarchy, shape: Shape, samples: int = SAMPLES, seed: int = 0):
    """The generic mapspace: ``samples`` seeded random mappings (deterministic for a shape and seed)."""
    rng = random.Random(crc32(repr((shape, seed)).encode()))
    for _ in range(samples):
        m = _sample(hier, shape, rng)
        if m is not None:
            yield m


def search(hier: Hierarchy, shape: Shape, pricing: Pricing | dict, objective: str = "energy",
           samples: int = SAMPLES, seed: int = 0, space=None, refine: int = 4) -> Scored:
    """The best mapping of a layer shape among ``space`` (default: the sampled generic mapspace).

    A structured space (with ``arrays()`` and ``uppers(mapping)``) is searched in two stages: every array
    mapping with its default schedule above, then every schedule above the ``refine`` best arrays (on Eyeriss's
    row stationary this gives what exploring every array's schedules gives: tests/test_mapping.py, and AlexNet,
    ResNet-18, VGG-16 within the 1% tie window). Mappings whose lower bound cannot come within 1% of the best
    found are not scored (:func:`lower_bound`): the result is that of scoring them all.
    """
    if objective not in OBJECTIVES:
        raise AccelsimError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got '{objective}'")
    if not isinstance(pricing, Pricing):
        pricing = Pricing(pricing)
    if space is None:
        space = sampled(hier, shape, samples, seed)
    structured = hasattr(space, "arrays")
    ranked = _rank(hier, shape, pricing, objective, space.arrays() if structured else space,
                   keep=refine if structured else 0)
    if structured and ranked:
        for *_, m in sorted(ranked, key=lambda r: r[:3])[:refine]:
            best = min(r[0] for r in ranked)
            ranked += _rank(hier, shape, pricing, objective, space.uppers(m), start=len(ranked), best=best)
    if not ranked:
        raise AccelsimError(f"no mapping of shape {dict(shape.bounds)} fits the buffers "
                            f"({', '.join(f'{lv.name} {lv.capacity} words' for lv in hier.levels[1:])})")
    # near-ties (within 1% of the best) go to the other figure, then to the first found
    low = min(r[0] for r in ranked)
    *_, m = min((r for r in ranked if r[0] <= low * 1.01), key=lambda r: (r[1], r[2]))
    return score(hier, m, shape, pricing)


def lower_bound(nest: Nest, pricing: Pricing, exact_dram: bool = False) -> tuple[float, float]:
    """(energy, delay) no mapping with this nest's compute steps can beat: the steps (and the PEs' own psum
    additions) take at least that many cycles, each costing the per-cycle energy; every word of each tensor
    crosses each pair of storage levels on its way at least once; and every MAC reads its operands from (and
    updates its psum in) the innermost stores below the array's fanouts.

    With ``exact_dram``, what DRAM serves and takes back is this nest's own (:meth:`Nest.fills`, as
    :func:`score` counts it) rather than each word once, and moving it over the link bounds the delay too:
    about a third of a score's work (the nest keeps the words for the score), it rules out 84% of the mappings
    the first bound lets through on DianNao's generic space (ResNet-18), 6% of Eyeriss's row-stationary ones."""
    hier, table, shape = nest.hier, pricing.table, nest.shape
    delay = nest.steps() + nest.reduction_steps()
    energy = 0.0
    if exact_dram:
        prices, dram_in, dram_out = table.get(hier.levels[0].name, {}), 0.0, 0.0
        for t in TENSORS:
            ratio = pricing.dram_ratio.get(t, 1.0)
            reads, writes = nest.fills(t, *nest.pairs(t)[0], resident=nest.is_resident(t))
            dram_in, dram_out = dram_in + reads * ratio, dram_out + writes * ratio
            energy += ratio * (reads * prices.get("read", 0.0) + writes * prices.get("write", 0.0))
        delay = _delay(hier, delay + nest.tile_count() * hier.pipeline, dram_in, dram_out)
    energy += pricing.cycle_pj * delay
    full = dict(shape.bounds)
    for t in TENSORS:  # every word crosses each pair of its chain at least once (a resident tensor starts inside)
        if nest.is_resident(t):
            continue
        chain = hier.chain(t)
        for parent, child in zip(chain, chain[1:]):
            words = shape.stored(t, shape.tensor_size(t, full), dram=parent == 0)
            if not (exact_dram and parent == 0):
                ratio = pricing.dram_ratio.get(t, 1.0) if parent == 0 else 1.0
                energy += words * ratio * table.get(hier.levels[parent].name, {}).get(
                    "write" if t == "O" else "read", 0.0)
            energy += words * table.get(hier.levels[child].name, {}).get("read" if t == "O" else "write", 0.0)
    below = max((i for i, lv in enumerate(hier.levels) if lv.fanout), default=-1) + 1
    macs = shape.macs
    for t in TENSORS:
        keeper = hier.chain(t)[-1]
        if keeper < below:
            continue
        prices = table.get(hier.levels[keeper].name, {})
        reads = nest.shape.stored(t, macs - (prod(nest.bounds[d] for d in "GNKPQ") if t == "O" else 0), dram=False)
        energy += reads * prices.get("read", 0.0)
        if t == "O":
            energy += nest.shape.stored(t, macs, dram=False) * prices.get("write", 0.0)
    return energy, delay


def _rank(hier, shape, pricing, objective, mappings, start=0, best=float("inf"), keep=0) -> list:
    """(cost, other figure, order found, mapping) of the mappings that fit and may be within 1% of the best, or
    among the ``keep`` cheapest (which a structured search refines). Branch and bound, the result being that of
    scoring all: the mappings are taken in order of :func:`lower_bound`, until it exceeds the best cost by more
    than 1%; one whose bound with its exact DRAM traffic does so (and exceeds the keep-th cheapest found) is
    not scored, and is listed at cost inf (never chosen nor refined; the search numbers what it finds next
    after the listed ones, as when all of these were scored)."""
    out, bounded, seen = [], [], set()
    for i, m in enumerate(mappings, start):
        key = repr(m)
        if key in seen:  # random samples repeat
            continue
        seen.add(key)
        nest = Nest(hier, m, shape)
        if nest.fits():
            bounded.append((_cost(objective, *lower_bound(nest, pricing)), i, m, nest))
    cheapest = []  # the keep smallest costs so far, as a max-heap
    for lb, i, m, nest in sorted(bounded, key=lambda b: b[:2]):
        if lb > best * 1.01:
            break
        bar = best * 1.01
        if keep:
            bar = max(bar, -cheapest[0]) if len(cheapest) == keep else float("inf")
        if _cost(objective, *lower_bound(nest, pricing, exact_dram=True)) * (1 - 1e-9) > bar:
            out.append((float("inf"), float("inf"), i, m))  # (1 - 1e-9: the bound's sums are rounded in
            continue                                         # another order than the score's)
        s = score(hier, m, shape, pricing, nest)
        cost = s.cost(objective)
        best = min(best, cost)
        if keep:
            heapq.heappush(cheapest, -cost)
            if len(cheapest) > keep:
                heapq.heappop(cheapest)
        out.append((cost, s.delay if objective == "energy" else s.energy, i, m))
    return out


def _cost(objective: str, energy: float, delay: float) -> float:
    """What the objective minimises."""
    return {"energy": energy, "delay": delay, "edp": energy * delay}[objective]
