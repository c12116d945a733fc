"""Fine mode: step the nest MAC by MAC — every cycle, every PE — tracking what each storage instance holds.

Nothing here uses the closed forms of ``mapping.nest``: a fill is detected when the loops that refill an
instance's tile change value, its words are the set of distinct tensor coordinates it touched, a parent's
delivery is the union over the instances it serves at once, a partial sum is a reload if that instance saw
it before, a cycle is a temporal index tuple with at least one real MAC, and a PE adding its neighbour's
partial sums spends a cycle per sum it drains. Which loops refill which tile is the nest's rule
(``Nest.pair_view``); the counting is independent of it. The test suite checks that the fast mode agrees
exactly (cycles and every counter); the cost is one Python step per MAC, so it is for small layers.

Given a weight mask (``accelsim.sparsity``), the walk also counts per tile the MACs whose weight is non-zero, the
non-zero words of every weight fill, and the steps when the other MACs are skipped: summed over temporal loops,
the maximum over the instances of each spatial loop (a parent waits for its slowest child), innermost first.
"""
from __future__ import annotations

from itertools import product

import numpy as np

from ..mapping.hierarchy import TENSORS
from ..mapping.nest import Nest
from .tiles import Tile, add_counts

FINE_MAC_LIMIT = 2_000_000


def _coord(t, v, stride, dilation):
    if t == "W":
        return v["G"], v["K"], v["C"], v["R"], v["S"]
    if t == "O":
        return v["G"], v["N"], v["K"], v["P"], v["Q"]
    return (v["G"], v["N"], v["C"], v["P"] * stride[0] + v["R"] * dilation[0],
            v["Q"] * stride[1] + v["S"] * dilation[1])


class _Side:
    """Fill events of one tensor at one boundary: current key, coordinates and first-seen sets per instance."""

    def __init__(self, nest: Nest, order: list[int], boundary: int, modes: list[bool], nonzero=None):
        outside = order[:boundary]
        # instances: the counted spatial loops (a held one's instances share one delivery)
        self.inst_at = [i for i, m in zip(outside, modes) if m and nest.loops[i].axis is not None]
        self.key_at = [i for i, m in zip(outside, modes) if m and nest.loops[i].axis is None]
        self.live: dict = {}   # instance -> [key, coords, start tile, end tile]
        self.seen: dict = {}   # instance -> coordinates filled before
        self.events: list = []  # (words, reloaded words, start tile, end tile, non-zero words or None)
        self.nonzero = nonzero  # coordinates of the non-zero elements (weights under a mask), else None

    def touch(self, idx, coord, tile):
        inst = tuple(idx[i] for i in self.inst_at)
        key = tuple(idx[i] for i in self.key_at)
        ev = self.live.get(inst)
        if ev is None or ev[0] != key:
            if ev is not None:
                self._close(inst, ev)
            ev = self.live[inst] = [key, set(), tile, tile]
        ev[1].add(coord)
        ev[3] = tile

    def _close(self, inst, ev):
        seen = self.seen.setdefault(inst, set())
        nnz = None if self.nonzero is None else len(ev[1] & self.nonzero)
        self.events.append((len(ev[1]), len(ev[1] & seen), ev[2], ev[3], nnz))
        seen |= ev[1]

    def close_all(self):
        for inst, ev in self.live.items():
            self._close(inst, ev)
        self.live = {}


def fine_tiles(nest: Nest, mask=None) -> list[Tile]:
    """The same tile records as ``fast_tiles`` (DRAM words, steps, on-chip counts), stepped MAC by MAC; with a
    weight ``mask`` (bool, shaped G, K, C, R, S as the nest) also each tile's effectual MACs, paced steps and
    non-zero weight words."""
    if nest.hier.resident:
        raise ValueError("fine mode does not model resident tensors (in-memory arrays); use the fast mode")
    if nest.shape.macs > FINE_MAC_LIMIT:
        raise ValueError(f"fine mode is for small layers ({nest.shape.macs} MACs > {FINE_MAC_LIMIT})")
    loops, hier = nest.loops, nest.hier
    b1 = nest.boundary(1)
    n_levels = len(hier.levels)
    temporal = [i for i, lp in enumerate(loops) if lp.axis is None]
    nonzero = None if mask is None else set(zip(*(a.tolist() for a in np.nonzero(mask))))

    sides = []  # (tensor, parent, child, noc, child side, parent side)
    for t in TENSORS:
        for parent, child in nest.pairs(t):
            views = [nest.pair_view(t, parent, child, side)[:3] for side in ("child", "parent")]
            nz = nonzero if t == "W" else None
            sides.append((t, parent, child, nest.noc_between(parent, child, t), *(_Side(nest, *v, nz) for v in views)))
    drains = None  # partial sums one PE drains from its psum store, when the PEs chain the reduction themselves
    if nest.chained_reduction():
        b = nest.boundary(hier.chain("O")[-1])
        drains = _Side(nest, list(range(len(loops))), b, nest.counted("O", b, True, nest.floor))

    tiles: dict[tuple, Tile] = {}
    cycles: dict[tuple, set] = {}
    effectual: dict[tuple, list] = {}  # tile -> inner index tuples of the MACs whose weight is non-zero
    # spatial loops innermost: the instances of a fanout work at the same time, so one temporal step's
    # deliveries to all of them are seen together
    walk = temporal + [i for i, lp in enumerate(loops) if lp.axis is not None]
    position = [walk.index(i) for i in range(len(loops))]
    for ordered in product(*(range(loops[i].factor) for i in walk)):
        idx = tuple(ordered[p] for p in position)
        v = nest.origin(idx)
        if v is None:
            continue
        tile = idx[:b1]
        if tile not in tiles:
            tiles[tile], cycles[tile], effectual[tile] = Tile(tile), set(), []
        cycles[tile].add(tuple(idx[i] for i in temporal))
        if nonzero is not None and _coord("W", v, nest.shape.stride, nest.shape.dilation) in nonzero:
            effectual[tile].append(idx[b1:])
        for t, _, _, _, cs, ps in sides:
            coord = _coord(t, v, nest.shape.stride, nest.shape.dilation)
            cs.touch(idx, coord, tile)
            ps.touch(idx, coord, tile)
        if drains is not None and all(idx[i] == 0 for i in drains.inst_at):
            drains.touch(idx, _coord("O", v, nest.shape.stride, nest.shape.dilation), tile)

    for t, parent, child, noc, cs, ps in sides:
        cs.close_all()
        ps.close_all()
        pname = hier.levels[parent].name
        cname = hier.levels[child].name if child < n_levels else None
        operand = child == n_levels  # the MACs' own accesses

        def add(tile, comp, action, n, nnz=None):
            if n:
                record = tiles[tile]
                add_counts(record.counts, {(comp, t): {action: n}})
                if operand:
                    add_counts(record.operand, {(comp, t): {action: n}})
                if nnz is not None:
                    add_counts(record.nonzero, {(comp, t): {action: nnz}})

        for words, reload, tile, _, nnz in cs.events:
            if cname:
                add(tile, cname, "write" if t != "O" else "read", words, nnz)
                if t == "O":
                    add(tile, cname, "write", reload)
            if noc:
                add(tile, noc, "transfer", words + (reload if t == "O" else 0), nnz)
        for words, reload, start, end, nnz in ps.events:
            if parent == 0:  # DRAM traffic belongs to the tile where the fill starts / the eviction happens
                if t != "O":
                    _add_word(tiles[start].load, t, words)
                    if nnz is not None:
                        add_counts(tiles[start].nonzero, {(pname, t): {"read": nnz}})
                else:
                    _add_word(tiles[start].load, t, reload)
                    _add_word(tiles[end].store, t, words)
            elif t != "O":
                add(start, pname, "read", words, nnz)
            else:
                add(start, pname, "write", words)
                add(start, pname, "read", reload)
    if drains is not None:
        drains.close_all()
        for words, _, tile, *_ in drains.events:
            tiles[tile].reduction_steps += words
    spatial = [lp.axis is not None for lp in loops[b1:]]
    out = []
    for key in sorted(tiles):
        tiles[key].steps = len(cycles[key])
        if nonzero is not None:
            tiles[key].effectual = len(effectual[key])
            tiles[key].paced_steps = _paced(effectual[key], spatial)
        out.append(tiles[key])
    return out


def _paced(points: list[tuple], spatial: list[bool]) -> int:
    """Steps of a tile whose only MACs are ``points`` (inner index tuples): one per point, summed over temporal
    loops and the maximum taken over each spatial loop's instances, innermost first."""
    level = dict.fromkeys(points, 1)
    for i in range(len(spatial) - 1, -1, -1):
        up: dict = {}
        for key, n in level.items():
            head = key[:i]
            up[head] = max(up.get(head, 0), n) if spatial[i] else up.get(head, 0) + n
        level = up
    return level.get((), 0)


def _add_word(into: dict, t: str, n: int) -> None:
    if n:
        into[t] = into.get(t, 0) + n
