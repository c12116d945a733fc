"""The tiles of a layer: one per iteration of the DRAM-level loops, with the DRAM words it loads and stores
per tensor, its compute steps and its on-chip access counts — in closed form (fast mode).

A tile's record is a function of its index alone: what it computes (its chunk of the loop bounds), what it
loads (the tensors whose first on-chip tile differs from the previous tile's; a resident tensor's first fetch
is free) and what it stores (the tensors whose tile the next tile replaces). So the middle iterations of every
DRAM loop repeat the same records: :func:`fast_tiles` computes the first, one middle and the last iteration of
each loop and returns a schedule of :class:`Block`\\ s — runs of identical records and repeated sequences —
whose size grows with the number of distinct records, not with tiles (``expand`` lists every tile).
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace
from itertools import product
from ..mapping.hierarchy import RELEVANT, TENSORS
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


@dataclass
class Block:
    """A sequence of tiles and blocks run ``repeat`` times in a row."""

    items: list
    repeat: int = 1

    def key(self) -> tuple:
        return ("block", self.repeat, work_of(self.items))


def work_of(items: list) -> tuple:
    """What a sequence of records does: each one's cost key with its repeat count (``Tile.key`` leaves the count
    out, so that runs of a record can merge)."""
    return tuple((i.key(), i.repeat) for i in items)


def add_counts(into: dict, counts: dict, scale: int = 1) -> dict:
    for comp, actions in counts.items():
        slot = into.setdefault(comp, {})
        for action, n in actions.items():
            slot[action] = slot.get(action, 0) + n * scale
    return into


def _add(into: dict, t: str, n: int) -> None:
    if n:
        into[t] = into.get(t, 0) + n


def tiles_of(schedule, times: int = 1):
    """(tile, how many times it runs) of every tile record in a schedule, at any depth."""
    for item in schedule:
        if isinstance(item, Block):
            yield from tiles_of(item.items, times * item.repeat)
        else:
            yield item, times * item.repeat


def expand(schedule) -> list[Tile]:
    """Every tile of a schedule in order (each record's repeat 1)."""
    out = []
    for item in schedule:
        if isinstance(item, Block):
            for _ in range(item.repeat):
                out += expand(item.items)
        else:
            out += [deepcopy(replace(item, repeat=1)) for _ in range(item.repeat)]
    return out


def compress(items: list) -> list:
    """Runs of consecutive items that cost the same, as one record each with a repeat count."""
    out: list = []
    last = None
    for item in items:
        key = item.key()
        if out and key == last:
            out[-1].repeat += item.repeat
        else:
            out.append(item)
            last = key
    return out


class _Records:
    """The record of any DRAM-level tile from its index (see the module docstring)."""

    def __init__(self, nest: Nest):
        self.nest, hier = nest, nest.hier
        self.b1 = nest.boundary(1)
        self.factors = [lp.factor for lp in nest.loops[:self.b1]]
        self.inner_map = Mapping([LevelMap()] + nest.mapping.levels[1:])
        self.cache = {}
        # which DRAM-level loops refill each tensor's first on-chip tile (stationarity across tiles)
        self.refill = {}
        for t in TENSORS:
            (parent, child), *_ = nest.pairs(t)
            self.refill[t] = nest.counted(t, nest.boundary(child), child < len(hier.levels), 0)[:self.b1]
        self.crossing = {t: not all(m) for t, m in self.refill.items()}
        self.reduction = [i for i, lp in enumerate(nest.loops[:self.b1]) if lp.dim not in RELEVANT["O"]]
        self.resident = {t for t in TENSORS if nest.is_resident(t)}

    def extent(self, idx):
        return self.nest.dram_tile(idx)

    def key(self, t, idx):
        return tuple(i for i, m in zip(idx, self.refill[t]) if m)

    def neighbour(self, idx, step):
        """The previous (step -1) or next (+1) non-empty tile's index, None at either end."""
        idx = list(idx)
        while True:
            for j in range(len(idx) - 1, -1, -1):
                idx[j] += step
                if 0 <= idx[j] < self.factors[j]:
                    break
                idx[j] = self.factors[j] - 1 if step < 0 else 0
            else:
                return None
            if self.extent(tuple(idx)) is not None:
                return tuple(idx)

    def record(self, idx, ext) -> Tile:
        fresh = all(idx[i] == 0 for i in self.reduction)
        ckey = (tuple(sorted(ext.items())), fresh)
        if ckey not in self.cache:
            sub = Nest(self.nest.hier, self.inner_map, self.nest.shape.with_bounds(**ext))
            self.cache[ckey] = sub.counts(inner_only=True, fresh=fresh)
        res = self.cache[ckey]
        tile = Tile(idx, steps=res["steps"], reduction_steps=res["reduction_steps"])
        tile.counts = add_counts({}, res["counts"])
        tile.operand = add_counts({}, res["operand"])
        prev, nxt = self.neighbour(idx, -1), self.neighbour(idx, +1)
        for t in TENSORS:
            reads, writes, fill_counts = res["dram"][t]
            key = self.key(t, idx)
            new = not self.crossing[t] or prev is None or self.key(t, prev) != key
            if t in self.resident and not any(i for i, m in zip(idx, self.refill[t]) if not m):
                new = False  # the first time this tile of a resident tensor is needed: it is already there
            if new:
                _add(tile.load, t, reads)
                add_counts(tile.counts, fill_counts)
            if not self.crossing[t]:
                _add(tile.store, t, writes)
            elif t == "O" and (nxt is None or self.key(t, nxt) != key):
                # a partial-sum tile that stays across tiles is written back by the last tile before it changes
                _add(tile.store, "O", self._stored_writes(idx, key))
        return tile

    def _stored_writes(self, idx, key):
        """DRAM writes of the partial-sum tile the tile ``idx`` ends: that of the tile where it began."""
        first = list(idx)
        for j, m in enumerate(self.refill["O"]):
            if not m:
                first[j] = 0
        first = tuple(first)
        ext = self.extent(first)
        fresh = all(first[i] == 0 for i in self.reduction)
        ckey = (tuple(sorted(ext.items())), fresh)
        if ckey not in self.cache:
            sub = Nest(self.nest.hier, self.inner_map, self.nest.shape.with_bounds(**ext))
            self.cache[ckey] = sub.counts(inner_only=True, fresh=fresh)
        return self.cache[ckey]["dram"]["O"][1]

    def chunks(self, depth, prefix):
        """Non-empty iterations of DRAM loop ``depth`` under ``prefix``: how many there are."""
        n = 0
        for i in range(self.factors[depth]):
            probe = prefix + (i,) + (0,) * (len(self.factors) - depth - 1)
            if self.extent(probe) is None:
                break
            n += 1
        return n

    def schedule(self, depth=0, prefix=()) -> list:
        """The records of every tile under ``prefix``, the middle iterations of each loop as one repeated item."""
        if depth == len(self.factors):
            return [self.record(prefix, self.extent(prefix))]
        n = self.chunks(depth, prefix)
        if n <= 3:
            out = []
            for i in range(n):
                out += self.schedule(depth + 1, prefix + (i,))
            return compress(out)
        first = self.schedule(depth + 1, prefix + (0,))
        middle = self.schedule(depth + 1, prefix + (1,))
        last = self.schedule(depth + 1, prefix + (n - 1,))
        if len(middle) == 1:
            item = middle[0]
            item.repeat *= n - 2
            return compress(first + [item] + last)
        return compress(_absorbed(first, Block(middle, n - 2), last))


def _absorbed(before: list, block: Block, after: list) -> list:
    """``before + [block] + after``, the iterations of the block's work that end ``before`` or open ``after``
    counted in its repeat instead (the first and last iterations of a loop often do the middle's work)."""
    work, n = work_of(block.items), len(block.items)
    while len(before) >= n and work_of(before[-n:]) == work:
        del before[-n:]
        block.repeat += 1
    while len(after) >= n and work_of(after[:n]) == work:
        del after[:n]
        block.repeat += 1
    return before + [block] + after


def fast_tiles(nest: Nest) -> list:
    """The layer's tile schedule in closed form (runs and repeated blocks); its records, each counted as many
    times as it runs (:func:`tiles_of`), sum with the DRAM traffic to ``nest.counts()``."""
    return _Records(nest).schedule()


def every_tile(nest: Nest) -> list[Tile]:
    """Every tile's own record, in order (for what differs from tile to tile, e.g. a pruned weight mask's share)."""
    records = _Records(nest)
    return [records.record(idx, ext) for idx in product(*map(range, records.factors))
            if (ext := records.extent(idx)) is not None]
