"""Fine mode: step the nest MAC by MAC — every cycle, every PE — tracking what each storage instance holds.

Nothing here uses the closed forms of ``mapping.nest``: a fill is detected when the loops that refill an
instance's tile change value, its words are the set of distinct tensor coordinates it touched, a parent's
delivery is the union over the instances it serves at once, a partial sum is a reload if that instance saw
it before, a cycle is a temporal index tuple with at least one real MAC, and a PE adding its neighbour's
partial sums spends a cycle per sum it drains. Which loops refill which tile is the nest's rule
(``Nest.pair_view``); the counting is independent of it. The test suite checks that the fast mode agrees
exactly (cycles and every counter); the cost is one Python step per MAC, so it is for small layers.
"""
from __future__ import annotations

from itertools import product

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

    def __init__(self, nest: Nest, order: list[int], boundary: int, modes: list[bool]):
        outside = order[:boundary]
        # instances: the counted spatial loops (a held one's instances share one delivery)
        self.inst_at = [i for i, m in zip(outside, modes) if m and nest.loops[i].axis is not None]
        self.key_at = [i for i, m in zip(outside, modes) if m and nest.loops[i].axis is None]
        self.live: dict = {}   # instance -> [key, coords, start tile, end tile]
        self.seen: dict = {}   # instance -> coordinates filled before
        self.events: list = []  # (words, reloaded words, start tile, end tile)

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
        self.events.append((len(ev[1]), len(ev[1] & seen), ev[2], ev[3]))
        seen |= ev[1]

    def close_all(self):
        for inst, ev in self.live.items():
            self._close(inst, ev)
        self.live = {}


def fine_tiles(nest: Nest) -> list[Tile]:
    """The same tile records as ``fast_tiles`` (DRAM words, steps, on-chip counts), stepped MAC by MAC."""
    if nest.hier.resident:
        raise ValueError("fine mode does not model resident tensors (in-memory arrays); use the fast mode")
    if nest.shape.macs > FINE_MAC_LIMIT:
        raise ValueError(f"fine mode is for small layers ({nest.shape.macs} MACs > {FINE_MAC_LIMIT})")
    loops, hier = nest.loops, nest.hier
    b1 = nest.boundary(1)
    n_levels = len(hier.levels)
    temporal = [i for i, lp in enumerate(loops) if lp.axis is None]

    sides = []  # (tensor, parent, child, noc, child side, parent side)
    for t in TENSORS:
        for parent, child in nest.pairs(t):
            views = [nest.pair_view(t, parent, child, side)[:3] for side in ("child", "parent")]
            sides.append((t, parent, child, nest.noc_between(parent, child, t), *(_Side(nest, *v) for v in views)))
    drains = None  # partial sums one PE drains from its psum store, when the PEs chain the reduction themselves
    if nest.chained_reduction():
        b = nest.boundary(hier.chain("O")[-1])
        drains = _Side(nest, list(range(len(loops))), b, nest.counted("O", b, True, nest.floor))

    tiles: dict[tuple, Tile] = {}
    cycles: dict[tuple, set] = {}
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
            tiles[tile], cycles[tile] = Tile(tile), set()
        cycles[tile].add(tuple(idx[i] for i in temporal))
        for t, _, _, _, cs, ps in sides:
            coord = _coord(t, v, nest.shape.stride, nest.shape.dilation)
            cs.touch(idx, coord, tile)
            ps.touch(idx, coord, tile)
        if drains is not None and all(idx[i] == 0 for i in drains.inst_at):
            drains.touch(idx, _coord("O", v, nest.shape.stride, nest.shape.dilation), tile)

    def add(tile, comp, t, action, n):
        if n:
            add_counts(tiles[tile].counts, {(comp, t): {action: n}})

    for t, parent, child, noc, cs, ps in sides:
        cs.close_all()
        ps.close_all()
        pname = hier.levels[parent].name
        cname = hier.levels[child].name if child < n_levels else None
        for words, reload, tile, _ in cs.events:
            if cname:
                add(tile, cname, t, "write" if t != "O" else "read", words)
                if t == "O":
                    add(tile, cname, t, "write", reload)
            if noc:
                add(tile, noc, t, "transfer", words + (reload if t == "O" else 0))
        for words, reload, start, end in ps.events:
            if parent == 0:  # DRAM traffic belongs to the tile where the fill starts / the eviction happens
                if t != "O":
                    _add_word(tiles[start].load, t, words)
                else:
                    _add_word(tiles[start].load, t, reload)
                    _add_word(tiles[end].store, t, words)
            elif t != "O":
                add(start, pname, t, "read", words)
            else:
                add(start, pname, t, "write", words)
                add(start, pname, t, "read", reload)
    if drains is not None:
        drains.close_all()
        for words, _, tile, _ in drains.events:
            tiles[tile].reduction_steps += words
    out = []
    for key in sorted(tiles):
        tiles[key].steps = len(cycles[key])
        out.append(tiles[key])
    return out


def _add_word(into: dict, t: str, n: int) -> None:
    if n:
        into[t] = into.get(t, 0) + n
