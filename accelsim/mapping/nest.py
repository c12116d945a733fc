"""Loop nests and their closed-form access counts (Timeloop-like reuse analysis, exact with partial tiles).

A :class:`Mapping` gives, per storage level, temporal loops (outer -> inner) and spatial loops over the
level's fanout axes. Flattened, the nest is ``T_0 S_0 T_1 S_1 ... MAC``; level l's *tile* is the data
touched by everything from its first loop inward. Factors need not divide the bounds: the last chunk of
a dimension is partial, and every count below sums the real (clipped) chunks, so MACs and words are exact.

Reuse rules (the same in the closed form here and in the cycle-by-cycle walk of ``engine.fine``):
* a tile is refilled when a loop outside it advances, except the innermost run of temporal loops over
  dimensions the tensor does not depend on (it stays resident: stationarity). Spatial loops index
  instances and never refill. On-chip levels do not stay resident across DRAM-level (tile) loops.
* the MAC reads its operands from the innermost level keeping them at every MAC (no operand register),
  and read-modify-writes its partial sum there.
* a parent serves one delivery per temporal step to all instances below a fanout (multicast; for
  partial sums, a spatial reduction), counted once per distinct word; the fanout's NoC carries every
  word each instance receives or sends.
* a partial sum's first fill needs no read (it starts from zero); later fills read it back.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import prod

from ..ir.layer import LoopBounds
from .hierarchy import DIMS, RELEVANT, TENSORS, Hierarchy


@dataclass(frozen=True)
class Shape:
    """Bounds of the nest (K and C per group) plus the sliding-window geometry."""

    bounds: tuple[tuple[str, int], ...]
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    #: element widths per tensor, (("I", 8), ...), against the memories' ``word_bits`` (empty: one element a word)
    bits: tuple[tuple[str, int], ...] = field(default=(), repr=False)  # repr: the mapper's seed stays the same
    word_bits: int = field(default=16, repr=False)

    @classmethod
    def of(cls, b: LoopBounds, bits: dict | None = None, word_bits: int = 16) -> "Shape":
        g = b.groups
        vals = dict(G=g, N=b.N, K=b.K // g, C=b.C // g, P=b.P, Q=b.Q, R=b.R, S=b.S)
        return cls(tuple((d, int(vals[d])) for d in DIMS), tuple(b.stride), tuple(b.dilation),
                   tuple(sorted((bits or {}).items())), word_bits)

    def stored(self, t: str, n: int, dram: bool = True) -> int:
        """Memory words that ``n`` elements of tensor ``t`` take: narrow elements pack (two 8-bit ones to a
        16-bit word). Partial sums stay wide on chip: outputs pack only in DRAM."""
        b = dict(self.bits).get(t)
        if not b or (t == "O" and not dram):
            return n
        return -(-n * b // self.word_bits)

    def __getitem__(self, d: str) -> int:
        return dict(self.bounds)[d]

    def with_bounds(self, **new) -> "Shape":
        return replace(self, bounds=tuple((d, new.get(d, v)) for d, v in self.bounds))

    @property
    def macs(self) -> int:
        return prod(v for _, v in self.bounds)

    def tensor_size(self, t: str, ext: dict[str, int]) -> int:
        """Words of tensor ``t`` in a box of per-dimension extents ``ext``."""
        if t == "I":
            h = window(ext["P"], ext["R"], self.stride[0], self.dilation[0])
            w = window(ext["Q"], ext["S"], self.stride[1], self.dilation[1])
            return ext["G"] * ext["N"] * ext["C"] * h * w
        return prod(ext[d] for d in RELEVANT[t])


@dataclass(frozen=True)
class Loop:
    dim: str
    factor: int
    level: int
    axis: str | None = None  # spatial axis name, None for a temporal loop


@dataclass
class LevelMap:
    temporal: list[tuple[str, int]] = field(default_factory=list)          # outer -> inner
    spatial: list[tuple[str, int, str]] = field(default_factory=list)      # (dim, factor, axis)


@dataclass
class Mapping:
    """Loops per storage level (aligned with ``Hierarchy.levels``)."""

    levels: list[LevelMap]

    def loops(self) -> list[Loop]:
        out = []
        for i, lm in enumerate(self.levels):
            out += [Loop(d, f, i) for d, f in lm.temporal if f > 1]
            out += [Loop(d, f, i, a) for d, f, a in lm.spatial if f > 1]
        return out

    def starts(self) -> list[int]:
        """Index in ``loops()`` of each level's first loop (its tile boundary)."""
        starts, n = [], 0
        for lm in self.levels:
            starts.append(n)
            n += sum(1 for _, f in lm.temporal if f > 1) + sum(1 for _, f, _ in lm.spatial if f > 1)
        return starts

    def to_dict(self, hier: Hierarchy) -> dict:
        return {lv.name: {"temporal": [[d, f] for d, f in lm.temporal if f > 1],
                          "spatial": [[d, f, a] for d, f, a in lm.spatial if f > 1]}
                for lv, lm in zip(hier.levels, self.levels)}


@lru_cache(maxsize=1 << 16)
def dim_stats(D: int, factors: tuple[int, ...], counted: tuple[bool, ...], inner: int) -> dict[int, int]:
    """For one dimension of bound ``D`` with loops ``factors`` (outer -> inner) outside a boundary and chunk
    size ``inner`` inside it: {boundary chunk extent: how many non-empty index tuples of the counted loops
    (uncounted loops held at index 0) have it}."""
    sizes = [inner] * len(factors)
    for j in range(len(factors) - 2, -1, -1):
        sizes[j] = sizes[j + 1] * factors[j + 1]

    def rec(j, rem) -> dict[int, int]:
        if j == len(factors):
            return {min(rem, inner): 1}
        size = sizes[j]
        if not counted[j]:
            return rec(j + 1, min(rem, size))
        full, part = divmod(rem, size)
        hist = {e: n * full for e, n in rec(j + 1, size).items()} if full else {}
        if part:
            for e, n in rec(j + 1, part).items():
                hist[e] = hist.get(e, 0) + n
        return hist

    return rec(0, D)


@lru_cache(maxsize=None)
def window(a: int, b: int, stride: int, dilation: int) -> int:
    """Distinct input rows touched by ``a`` output rows and ``b`` filter rows (gaps when stride > window)."""
    if dilation == 1 and stride <= b:
        return (a - 1) * stride + b
    return len({p * stride + r * dilation for p in range(a) for r in range(b)})


class Nest:
    """A mapping flattened against a hierarchy and a shape, with the closed-form counts."""

    def __init__(self, hier: Hierarchy, mapping: Mapping, shape: Shape):
        self.hier, self.mapping, self.shape = hier, mapping, shape
        self.loops = mapping.loops()
        self.starts = mapping.starts()
        self.bounds = dict(shape.bounds)
        self.by_dim = {d: [i for i, lp in enumerate(self.loops) if lp.dim == d] for d in DIMS}
        # how far one step of each loop moves along its dimension: the product of the later loops over it
        self.strides = [prod(later.factor for later in self.loops[i + 1:] if later.dim == lp.dim)
                        for i, lp in enumerate(self.loops)]

    # ---- structure ---------------------------------------------------------------------------------
    def boundary(self, level: int) -> int:
        """Tile boundary of a level; the MAC (level = len(levels)) is after the last loop."""
        return self.starts[level] if level < len(self.starts) else len(self.loops)

    def origin(self, idx) -> dict[str, int] | None:
        """Per-dimension start of the chunk the leading loops select at indices ``idx``; None when it lies past
        the bounds (the empty end of a partial last chunk)."""
        start = dict.fromkeys(DIMS, 0)
        for i, k in enumerate(idx):
            start[self.loops[i].dim] += k * self.strides[i]
        return None if any(start[d] >= self.bounds[d] for d in DIMS) else start

    def pairs(self, t: str):
        """(parent, child) level pairs along tensor t's chain; the last child is the MAC."""
        chain = self.hier.chain(t) + [len(self.hier.levels)]
        return list(zip(chain, chain[1:]))

    def is_resident(self, t: str) -> bool:
        """Whether tensor t starts the layer loaded: the hierarchy says so and all of it fits in its first
        on-chip keeper (capacity × instances); otherwise it must be fetched like any other tensor."""
        if t not in self.hier.resident:
            return False
        keeper = self.hier.chain(t)[1]
        instances = prod(ax.size for lv in self.hier.levels[:keeper] for ax in lv.fanout)
        full = {d: self.bounds[d] for d in DIMS}
        return self.shape.stored(t, self.shape.tensor_size(t, full), dram=False) <= \
            self.hier.levels[keeper].capacity * instances

    def counted(self, t: str, b: int, skip: bool, floor: int, first: bool = False) -> list[bool]:
        """Which loops outside boundary ``b`` refill tensor t's tile (see the module docstring)."""
        modes = [True] * b
        if skip:
            for i in range(b - 1, floor - 1, -1):
                lp = self.loops[i]
                if lp.axis is None:
                    if lp.dim in RELEVANT[t]:
                        break
                    modes[i] = False
        if first:  # partial sums: hold the reduction loops at their first iteration
            for i in range(b):
                if self.loops[i].axis is None and self.loops[i].dim not in RELEVANT[t]:
                    modes[i] = False
        return modes

    def delivery_boundary(self, parent: int, b: int) -> int:
        """Where a parent's deliveries start: just inside its innermost temporal loop above ``b``."""
        i = b
        while i > self.starts[parent] and self.loops[i - 1].axis is not None:
            i -= 1
        return i

    def pair_rules(self, parent: int, child: int):
        """(child boundary, parent delivery boundary, skip, floor) of a pair."""
        b = self.boundary(child)
        skip = child < len(self.hier.levels)
        floor = 0 if parent == 0 else (self.starts[1] if len(self.starts) > 1 else 0)
        return b, self.delivery_boundary(parent, b), skip, floor

    # ---- closed forms ------------------------------------------------------------------------------
    def words(self, t: str, b: int, modes: list[bool]) -> int:
        """Σ over the counted iterations outside boundary b of tensor t's tile size there."""
        hist = {}
        loops = self.loops
        for d in DIMS:
            idx = self.by_dim[d]
            outside = [i for i in idx if i < b]
            inner = prod(loops[i].factor for i in idx if i >= b)
            hist[d] = dim_stats(self.bounds[d], tuple(loops[i].factor for i in outside),
                                tuple(modes[i] for i in outside), inner)
        n = {d: sum(h.values()) for d, h in hist.items()}
        s = {d: sum(e * c for e, c in h.items()) for d, h in hist.items()}
        rel = RELEVANT[t]
        total = prod(n[d] for d in DIMS if d not in rel)
        if t != "I":
            return total * prod(s[d] for d in rel)

        def axis(out, filt, k):
            return sum(ca * cb * window(a, bb, self.shape.stride[k], self.shape.dilation[k])
                       for a, ca in hist[out].items() for bb, cb in hist[filt].items())
        return total * s["G"] * s["N"] * s["C"] * axis("P", "R", 0) * axis("Q", "S", 1)

    def steps(self) -> int:
        """Compute cycles: temporal index tuples that carry at least one MAC."""
        n = 1
        for d in DIMS:
            idx = self.by_dim[d]
            n *= sum(dim_stats(self.bounds[d], tuple(self.loops[i].factor for i in idx),
                               tuple(self.loops[i].axis is None for i in idx), 1).values())
        return n

    def tile_extents(self, level: int) -> dict[str, int]:
        b = self.boundary(level)
        return {d: min(self.bounds[d], prod(lp.factor for lp in self.loops[b:] if lp.dim == d)) for d in DIMS}

    def footprint(self, level: int) -> int:
        """Words a level instance must hold (×2 when double-buffered)."""
        lv = self.hier.levels[level]
        ext = self.tile_extents(level)
        words = sum(self.shape.stored(t, self.shape.tensor_size(t, ext), dram=False) for t in TENSORS if t in lv.keeps)
        return words * (2 if lv.double_buffered else 1)

    def crosses_tiles(self, t: str) -> bool:
        """Whether tensor t's first on-chip tile can stay resident across DRAM-level loops."""
        (parent, child), *_ = self.pairs(t)
        b, _, skip, floor = self.pair_rules(parent, child)
        modes = self.counted(t, b, skip, 0)
        return any(not m for m in modes[:self.starts[1] if len(self.starts) > 1 else 0])

    def counts(self, inner_only: bool = False, fresh: bool = True) -> dict:
        """Access counts {component: {action: n}}, compute steps and MACs, in closed form.

        With ``inner_only`` (one DRAM-level tile, for the engine) the pair under DRAM of each tensor is
        reported apart in ``dram[t] = (DRAM reads, DRAM writes, on-chip counts of the fill)``: the engine
        applies it only on the tiles that refill. ``fresh`` says whether the tile's partial sums start
        from zero (else every fill of them is a reload).
        """
        counts: dict[str, dict[str, int]] = {}
        dram = {}
        n_levels = len(self.hier.levels)
        for t in TENSORS:
            for parent, child in self.pairs(t):
                b, bd, skip, floor = self.pair_rules(parent, child)
                split = inner_only and parent == 0
                if split:
                    floor = self.starts[1] if len(self.starts) > 1 else 0
                c = {} if split else counts

                def add(comp, action, n):
                    if n:
                        c.setdefault(comp, {}).setdefault(action, 0)
                        c[comp][action] += n

                on_dram = parent == 0

                def words(boundary, first=False, side_dram=False):
                    n = self.words(t, boundary, self.counted(t, boundary, skip, floor, first=first))
                    return self.shape.stored(t, n, dram=side_dram)
                cw, pw = words(b), words(bd, side_dram=on_dram)
                pname = self.hier.levels[parent].name
                cname = self.hier.levels[child].name if child < n_levels else None
                noc = self.noc_between(parent, child)
                if t == "O":
                    cfirst = words(b, first=True) if fresh else 0
                    pfirst = words(bd, first=True, side_dram=on_dram) if fresh else 0
                    preads, pwrites, creads, cwrites, ncw = pw - pfirst, pw, cw, cw - cfirst, 2 * cw - cfirst
                else:
                    preads, pwrites, creads, cwrites, ncw = pw, 0, 0, cw, cw
                    if parent == 0 and not split and self.is_resident(t):  # first fills are free
                        pfirst = words(bd, first=True, side_dram=True)
                        cfirst = words(b, first=True)
                        preads, cwrites, ncw = preads - pfirst, cwrites - cfirst, ncw - cfirst
                if split:
                    dram[t] = (preads, pwrites, c)
                else:
                    add(pname, "read", preads)
                    add(pname, "write", pwrites)
                if cname:
                    add(cname, "read", creads)
                    add(cname, "write", cwrites)
                if noc:
                    add(noc, "transfer", ncw)
        return {"counts": counts, "dram": dram, "steps": self.steps(), "macs": self.shape.macs}

    def noc_between(self, parent: int, child: int) -> str | None:
        """The NoC a pair's traffic crosses: that of a fanout between the two levels (even if not unrolled)."""
        for lv in self.hier.levels[parent:child]:
            if lv.fanout:
                return lv.noc
        return None
