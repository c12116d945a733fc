"""The tiles of a layer: one per iteration of the DRAM-level loops, with the DRAM words it loads and stores
per tensor, its compute steps and its on-chip access counts — in closed form (fast mode).

Cost grows with the number of distinct tiles: the inside of a tile is counted by ``Nest.counts`` (cached per
tile shape), never stepped through, and runs of identical consecutive tiles are kept as one record with a
``repeat`` count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

from ..mapping.hierarchy import DIMS, RELEVANT, TENSORS
from ..mapping.nest import LevelMap, Mapping, Nest


@dataclass
class Tile:
    """One DRAM-level tile (or ``repeat`` identical ones in a row): words read from / written to DRAM per tensor,
    compute steps (plus the PEs' own partial-sum additions), on-chip counts per (component, tensor)."""

    index: tuple
    load: dict = field(default_factory=dict)
    store: dict = field(default_factory=dict)
    steps: int = 0
    counts: dict = field(default_factory=dict)
    reduction_steps: int = 0
    repeat: int = 1
    #: the part of ``counts`` the MACs make themselves (operand reads, partial-sum updates): skipping a MAC saves it
    operand: dict = field(default_factory=dict)
    #: with a weight mask (``accelsim.sparsity``): MACs whose weight is non-zero, the steps when the others are
    #: skipped (each spatial group of instances waits for its slowest one), non-zero words of each weight count
    effectual: int | None = None
    paced_steps: int | None = None
    nonzero: dict = field(default_factory=dict)

    @property
    def load_words(self) -> int:
        return sum(self.load.values())

    @property
    def store_words(self) -> int:
        return sum(self.store.values())

    def key(self) -> tuple:
        """What makes two tiles cost the same."""
        return (tuple(sorted(self.load.items())), tuple(sorted(self.store.items())), self.steps,
                self.reduction_steps, _frozen(self.counts), _frozen(self.operand), self.effectual, self.paced_steps,
                _frozen(self.nonzero))


def _frozen(counts: dict) -> tuple:
    return tuple(sorted((k, tuple(sorted(v.items()))) for k, v in counts.items()))


def add_counts(into: dict, counts: dict, scale: int = 1) -> dict:
    for comp, actions in counts.items():
        slot = into.setdefault(comp, {})
        for action, n in actions.items():
            slot[action] = slot.get(action, 0) + n * scale
    return into


def _add(into: dict, t: str, n: int) -> None:
    if n:
        into[t] = into.get(t, 0) + n


def tile_chunks(nest: Nest):
    """Yield (index tuple, {dim: extent}) for every non-empty DRAM-level tile, in nest order."""
    full = nest.tile_extents(1)
    for idx in product(*(range(lp.factor) for lp in nest.loops[:nest.boundary(1)])):
        start = nest.origin(idx)
        if start is not None:
            yield idx, {d: min(full[d], nest.bounds[d] - start[d]) for d in DIMS}


def compress(tiles: list[Tile]) -> list[Tile]:
    """Runs of consecutive tiles that cost the same, as one record each with a repeat count."""
    out: list[Tile] = []
    last = None
    for tile in tiles:
        key = tile.key()
        if out and key == last:
            out[-1].repeat += tile.repeat
        else:
            out.append(tile)
            last = key
    return out


def fast_tiles(nest: Nest) -> list[Tile]:
    """The tiles of a layer in closed form; their counts plus DRAM traffic sum to ``nest.counts()``."""
    hier = nest.hier
    b1 = nest.boundary(1)
    inner_map = Mapping([LevelMap()] + nest.mapping.levels[1:])
    cache = {}
    # which DRAM-level loops refill each tensor's first on-chip tile (stationarity across tiles)
    refill = {}
    for t in TENSORS:
        (parent, child), *_ = nest.pairs(t)
        refill[t] = nest.counted(t, nest.boundary(child), child < len(hier.levels), 0)[:b1]
    reduction = [i for i, lp in enumerate(nest.loops[:b1]) if lp.dim not in RELEVANT["O"]]

    tiles, prev_key, pending_store = [], {}, None
    seen = {t: set() for t in TENSORS if nest.is_resident(t)}  # resident tensors: first fetches are free
    for idx, ext in tile_chunks(nest):
        fresh = all(idx[i] == 0 for i in reduction)
        key = (tuple(sorted(ext.items())), fresh)
        if key not in cache:
            sub = Nest(hier, inner_map, nest.shape.with_bounds(**ext))
            cache[key] = sub.counts(inner_only=True, fresh=fresh)
        res = cache[key]
        tile = Tile(idx, steps=res["steps"], reduction_steps=res["reduction_steps"])
        tile.counts = add_counts({}, res["counts"])
        tile.operand = add_counts({}, res["operand"])
        for t in TENSORS:
            reads, writes, fill_counts = res["dram"][t]
            tkey = tuple(i for i, m in zip(idx, refill[t]) if m)
            crossing = not all(refill[t])
            new = not crossing or prev_key.get(t) != tkey
            prev_key[t] = tkey
            if t in seen and tkey not in seen[t]:
                seen[t].add(tkey)
                new = False
            if new:
                _add(tile.load, t, reads)
                add_counts(tile.counts, fill_counts)
            if not crossing:
                _add(tile.store, t, writes)
            elif t == "O" and new:  # a resident partial-sum tile is written back when it is replaced, and at the end
                if pending_store is not None:
                    _add(tiles[-1].store, "O", pending_store)
                pending_store = writes
        tiles.append(tile)
    if pending_store is not None:
        _add(tiles[-1].store, "O", pending_store)
    return tiles
