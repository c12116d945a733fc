"""Loop nests and their closed-form access counts (Timeloop-like reuse analysis, exact with partial tiles).

A :class:`Mapping` gives, per storage level, temporal loops (outer -> inner) and spatial loops over the
level's fanout axes. Flattened, the nest is ``T_0 S_0 T_1 S_1 ... MAC``; level l's *tile* is the data
touched by everything from its first loop inward. Factors need not divide the bounds: the last chunk of
a dimension is partial, and every count below sums the real (clipped) chunks, so MACs and words are exact.

Reuse rules (the same in the closed form here and in the cycle-by-cycle walk of ``engine.fine``):
* a tile is refilled when a loop outside it advances, except the innermost run of temporal loops over
  dimensions the tensor does not depend on (it stays resident: stationarity). Spatial loops index
  instances and never refill. On-chip levels do not stay resident across DRAM-level (tile) loops.
* sliding windows: when the innermost temporal loop outside an on-chip tile of inputs advances along an
  output row or column (P, Q), only the rows/columns the new window adds are filled (Timeloop's deltas).
* the MAC reads its operands from the innermost level keeping them at every MAC (no operand register),
  and read-modify-writes its partial sum there.
* a parent serves each delivery to all instances below the fanouts between it and the child at once
  (multicast; for partial sums, a spatial reduction), counted once per distinct word; each fanout's NoC
  carries every word each instance receives or sends.
* a partial sum's first fill needs no read (it starts from zero); later fills read it back.

Counts are kept per tensor — ``{(component, tensor): {action: n}}`` — so tensor-specific effects (bus
widths, compression, word widths) apply where they belong; :func:`by_component` sums them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache, wraps
from math import prod

from ..ir.layer import LoopBounds
from .hierarchy import DIMS, RELEVANT, TENSORS, Hierarchy

_DI = {d: i for i, d in enumerate(DIMS)}
_REL = {t: tuple(d in RELEVANT[t] for d in DIMS) for t in TENSORS}
_P, _Q, _R, _S = _DI["P"], _DI["Q"], _DI["R"], _DI["S"]


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

    def __getitem__(self, d: str) -> int:
        return self.bounds[_DI[d]][1]

    def with_bounds(self, **new) -> "Shape":
        return replace(self, bounds=tuple((d, new.get(d, v)) for d, v in self.bounds))

    def stored(self, t: str, n: int, dram: bool = True) -> int:
        """Memory words that ``n`` elements of tensor ``t`` take: narrow elements pack (two 8-bit ones to a
        16-bit word). Partial sums stay wide on chip: outputs pack only in DRAM."""
        b = dict(self.bits).get(t)
        if not b or (t == "O" and not dram):
            return n
        return -(-n * b // self.word_bits)

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


@lru_cache(maxsize=1 << 17)
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


@lru_cache(maxsize=1 << 17)
def _dim_sums(D: int, factors: tuple[int, ...], counted: tuple[bool, ...], inner: int) -> tuple[int, int]:
    """(number of chunks, sum of chunk extents) of :func:`dim_stats`."""
    h = dim_stats(D, factors, counted, inner)
    return sum(h.values()), sum(e * n for e, n in h.items())


@lru_cache(maxsize=1 << 16)
def _window_sum(hp: tuple, hr: tuple, stride: int, dilation: int) -> int:
    return sum(cp * cr * window(a, b, stride, dilation) for a, cp in hp for b, cr in hr)


@lru_cache(maxsize=None)
def window(a: int, b: int, stride: int, dilation: int) -> int:
    """Distinct input rows touched by ``a`` output rows and ``b`` filter rows (gaps when stride > window)."""
    if dilation == 1 and stride <= b:
        return (a - 1) * stride + b
    return len({p * stride + r * dilation for p in range(a) for r in range(b)})


def tile_words(shape: Shape, level, ext: dict[str, int]) -> int:
    """Words a tile of per-dimension extents ``ext`` takes in storage ``level``: the tensors it keeps, a
    double-buffered one twice."""
    return sum(shape.stored(t, shape.tensor_size(t, ext), dram=False) * (2 if t in level.double else 1)
               for t in TENSORS if t in level.keeps)


def by_component(per_tensor: dict) -> dict[str, dict[str, int]]:
    """{(component, tensor): {action: n}} -> {component: {action: n}}."""
    out: dict[str, dict[str, int]] = {}
    for (comp, _), actions in per_tensor.items():
        slot = out.setdefault(comp, {})
        for action, n in actions.items():
            slot[action] = slot.get(action, 0) + n
    return out


def _once(method):
    """A Nest method computed once per nest and arguments: the mapper's two bounds and its score ask again."""
    @wraps(method)
    def kept(self, *args, **kwargs):
        key = (method.__name__, args, tuple(kwargs.items()))
        if key not in self._kept:
            self._kept[key] = method(self, *args, **kwargs)
        return self._kept[key]
    return kept


class Nest:
    """A mapping flattened against a hierarchy and a shape, with the closed-form counts."""

    def __init__(self, hier: Hierarchy, mapping: Mapping, shape: Shape):
        self.hier, self.mapping, self.shape = hier, mapping, shape
        self.loops = mapping.loops()
        self.starts = mapping.starts()
        self.bounds = dict(shape.bounds)
        self._bounds = tuple(v for _, v in shape.bounds)
        self.by_dim = {d: [i for i, lp in enumerate(self.loops) if lp.dim == d] for d in DIMS}
        # how far one step of each loop moves along its dimension: the product of the later loops over it
        self.strides = [prod(later.factor for later in self.loops[i + 1:] if later.dim == lp.dim)
                        for i, lp in enumerate(self.loops)]
        self._kept = {}  # results of the @_once methods

    # ---- structure ---------------------------------------------------------------------------------
    def boundary(self, level: int) -> int:
        """Tile boundary of a level; the MAC (level = len(levels)) is after the last loop."""
        return self.starts[level] if level < len(self.starts) else len(self.loops)

    @property
    def floor(self) -> int:
        """Index of the first loop inside the DRAM level: on-chip tiles never stay resident across the loops before it."""
        return self.starts[1] if len(self.starts) > 1 else 0

    def origin(self, idx) -> dict[str, int] | None:
        """Per-dimension start of the chunk the leading loops select at indices ``idx``; None when it lies past
        the bounds (the empty end of a partial last chunk)."""
        start = dict.fromkeys(DIMS, 0)
        for i, k in enumerate(idx):
            start[self.loops[i].dim] += k * self.strides[i]
        return None if any(start[d] >= self.bounds[d] for d in DIMS) else start

    def dram_tile(self, idx) -> dict[str, int] | None:
        """Per-dimension extents of the DRAM-level tile at ``idx`` (indices of the DRAM loops), clipped to the
        bounds; None when it lies past them."""
        start = self.origin(idx)
        if start is None:
            return None
        return {d: min(self._dram_tile_full[d], self.bounds[d] - start[d]) for d in DIMS}

    @cached_property
    def _dram_tile_full(self) -> dict[str, int]:
        return self.tile_extents(1)

    def pairs(self, t: str):
        """(parent, child) level pairs along tensor t's chain; the last child is the MAC."""
        chain = self.hier.chain(t) + [len(self.hier.levels)]
        return list(zip(chain, chain[1:]))

    @_once
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

    def counted(self, t: str, b: int, skip: bool, floor: int, first: bool = False, order=None) -> list[bool]:
        """Which loops outside boundary ``b`` refill tensor t's tile (see the module docstring)."""
        loops = self.loops if order is None else [self.loops[i] for i in order]
        modes = [True] * b
        if skip:
            for i in range(b - 1, floor - 1, -1):
                lp = loops[i]
                if lp.axis is None:
                    if lp.dim in RELEVANT[t]:
                        break
                    modes[i] = False
        if first:  # partial sums: hold the reduction loops at their first iteration
            for i in range(b):
                if loops[i].axis is None and loops[i].dim not in RELEVANT[t]:
                    modes[i] = False
        return modes

    def pair_view(self, t: str, parent: int, child: int, side: str, first: bool = False):
        """(loop order, boundary, counted modes, skip, floor) that the fills of a pair are counted on.

        ``side`` is "child" (what each child instance receives) or "parent" (what the parent serves at once to
        all instances below the fanouts between the two levels, each distinct word once). On the parent side a
        spatial loop over a dimension t does not depend on is held at its first instance (they all receive the
        same words), and one over an input window dimension moves inside the tile when no temporal loop of that
        dimension lies inside it (neighbouring windows overlap); others stay per instance. A sliding window
        moves its loop inside too. Only moves that keep the tile a box of contiguous chunks are made.
        """
        b = self.boundary(child)
        skip = child < len(self.hier.levels)
        floor = 0 if parent == 0 else self.floor
        order = list(range(len(self.loops)))
        held = set()
        if side == "parent":
            lo, hi = self.boundary(parent), b
            between = [i for i in range(lo, hi) if self.loops[i].axis is not None and self.loops[i].level < child]
            held = {i for i in between if self.loops[i].dim not in RELEVANT[t]}
            merged = [i for i in between if t == "I" and self.loops[i].dim in "PQRS" and not any(
                self.loops[j].axis is None and self.loops[j].dim == self.loops[i].dim for j in range(i + 1, hi))]
            if merged:
                order = [i for i in range(b) if i not in merged] + merged + order[b:]
                b -= len(merged)
        modes = self.counted(t, b, skip, floor, first=first, order=order)
        if t == "I" and skip and parent > 0:
            j = next((i for i in range(b - 1, floor - 1, -1) if self.loops[order[i]].axis is None), None)
            if j is not None and modes[j] and self.loops[order[j]].dim in "PQ" and not any(
                    self.loops[order[i]].dim == self.loops[order[j]].dim for i in range(j + 1, b)):
                order = order[:j] + order[j + 1:b] + [order[j]] + order[b:]
                b -= 1
                modes = modes[:j] + modes[j + 1:]
        modes = [m and order[i] not in held for i, m in enumerate(modes)]
        return order, b, modes, skip, floor

    def noc_between(self, parent: int, child: int, t: str | None = None) -> str | None:
        """The NoC a pair's traffic crosses: that of a fanout between the two levels (even if not unrolled)."""
        for lv in self.hier.levels[parent:child]:
            if lv.fanout:
                return lv.noc_for(t)
        return None

    # ---- closed forms ------------------------------------------------------------------------------
    def words(self, t: str, b: int, modes, order=None) -> int:
        """Σ over the counted iterations outside boundary b of tensor t's tile size there.

        Per dimension, the chunks at the boundary are contiguous blocks of the inner extent (the last one
        partial): with every outside loop counted they are ceil(D / inner) chunks, and a relevant dimension's
        chunk extents sum to D; an irrelevant dimension held at index 0 by its innermost loops has
        ceil(D / (inner × their factors)) chunks. Other patterns (a counted loop inside a held one) take the
        exact chunk histogram of :func:`dim_stats`.
        """
        loops = self.loops if order is None else [self.loops[i] for i in order]
        nd = len(DIMS)
        outside_f = [[] for _ in range(nd)]
        outside_m = [[] for _ in range(nd)]
        inner = [1] * nd
        for i, lp in enumerate(loops):
            di = _DI[lp.dim]
            if i < b:
                outside_f[di].append(lp.factor)
                outside_m[di].append(modes[i])
            else:
                inner[di] *= lp.factor
        rel = _REL[t]
        bounds = self._bounds
        total = 1
        hist = [None] * nd
        for di in range(nd):
            D, a, ms = bounds[di], inner[di], outside_m[di]
            window_dim = t == "I" and di in (_P, _Q, _R, _S)
            if all(ms):
                if rel[di] and not window_dim:
                    total *= D
                    continue
                n = -(-D // a) if a < D else 1
                if window_dim:
                    last = D - (n - 1) * a
                    hist[di] = ((a, n - 1), (last, 1)) if n > 1 and last != a else ((min(a, D), n),)
                    continue
                total *= n
                continue
            k = len(ms)
            while k and not ms[k - 1]:
                k -= 1
            if not rel[di] and not any(ms[k:]) and all(ms[:k]):  # held by its innermost loops only
                held = a * prod(outside_f[di][k:])
                total *= -(-D // held) if held < D else 1
                continue
            h = dim_stats(D, tuple(outside_f[di]), tuple(ms), a)
            if window_dim:
                hist[di] = tuple(h.items())
            else:
                total *= sum(e * c for e, c in h.items()) if rel[di] else sum(h.values())
        if t == "I":
            sh, sw = self.shape.stride
            dh, dw = self.shape.dilation
            total *= _window_sum(hist[_P], hist[_R], sh, dh) * _window_sum(hist[_Q], hist[_S], sw, dw)
        return total

    @_once
    def pair_words(self, t: str, parent: int, child: int, side: str, first: bool = False) -> int:
        """Memory words of a pair's fills (narrow elements packed; partial sums packed only in DRAM)."""
        order, b, modes, _, _ = self.pair_view(t, parent, child, side, first)
        return self.shape.stored(t, self.words(t, b, modes, order), dram=side == "parent" and parent == 0)

    def fills(self, t: str, parent: int, child: int, fresh: bool = True, resident: bool = False) -> tuple[int, int]:
        """(reads, writes) of tensor t at the parent of a pair: the words it serves, and the partial sums it takes
        back. The first fill of ``fresh`` partial sums, and of a ``resident`` tensor, reads nothing."""
        served = self.pair_words(t, parent, child, "parent")
        if t == "O":
            return served - (self.pair_words(t, parent, child, "parent", first=True) if fresh else 0), served
        if resident:
            return served - self.pair_words(t, parent, child, "parent", first=True), 0
        return served, 0

    @_once
    def steps(self) -> int:
        """Compute cycles: temporal index tuples that carry at least one MAC."""
        n = 1
        for d in DIMS:
            idx = self.by_dim[d]
            n *= _dim_sums(self.bounds[d], tuple(self.loops[i].factor for i in idx),
                           tuple(self.loops[i].axis is None for i in idx), 1)[0]
        return n

    def chained_reduction(self) -> bool:
        """Whether the PEs add their neighbour's partial sums themselves: a reduction dimension is unrolled on an
        ``Axis`` with ``chained`` above the innermost keeper of partial sums."""
        keeper = self.hier.chain("O")[-1]
        chained = {ax.name for lv in self.hier.levels[:keeper] for ax in lv.fanout if ax.chained}
        return keeper > 0 and any(lp.axis in chained and lp.dim not in RELEVANT["O"] for lp in self.loops)

    @_once
    def reduction_steps(self) -> int:
        """Extra cycles of a chained reduction: each PE spends one cycle per partial sum it drains from its own
        psum store (counted on one PE; all PEs run in lockstep)."""
        if not self.chained_reduction():
            return 0
        b = self.boundary(self.hier.chain("O")[-1])
        modes = [m and lp.axis is None for m, lp in zip(self.counted("O", b, True, self.floor), self.loops)]
        return self.words("O", b, modes)

    @_once
    def tile_count(self) -> int:
        """Non-empty DRAM-level tiles."""
        n = 1
        for d in DIMS:
            idx = [i for i in self.by_dim[d] if i < self.floor]
            inner = prod(self.loops[i].factor for i in self.by_dim[d] if i >= self.floor)
            n *= _dim_sums(self.bounds[d], tuple(self.loops[i].factor for i in idx), (True,) * len(idx), inner)[0]
        return n

    def tile_extents(self, level: int) -> dict[str, int]:
        b = self.boundary(level)
        return {d: min(self.bounds[d], prod(lp.factor for lp in self.loops[b:] if lp.dim == d)) for d in DIMS}

    def footprint(self, level: int) -> int:
        """Words a level instance must hold (a double-buffered tensor twice)."""
        return tile_words(self.shape, self.hier.levels[level], self.tile_extents(level))

    def fits(self) -> bool:
        return all(lv.capacity is None or self.footprint(i) <= lv.capacity for i, lv in enumerate(self.hier.levels))

    def counts(self, inner_only: bool = False, fresh: bool = True) -> dict:
        """Access counts per (component, tensor): {action: n}, compute and reduction steps and MACs, in closed form.
        Counts are in memory words: narrow elements of ``shape.bits`` pack into the arch's word.

        ``operand`` repeats the part of ``counts`` the MACs make themselves (each tensor's pair whose child is the
        MAC: operand reads, partial-sum updates, the NoC between), which skipping a MAC saves.
        With ``inner_only`` (one DRAM-level tile, for the engine) the pair under DRAM of each tensor is
        reported apart in ``dram[t] = (DRAM reads, DRAM writes, on-chip counts of the fill)``: the engine
        applies it only on the tiles that refill. ``fresh`` says whether the tile's partial sums start
        from zero (else every fill of them is a reload).
        """
        counts: dict[tuple, dict[str, int]] = {}
        operand: dict[tuple, dict[str, int]] = {}
        dram = {}
        n_levels = len(self.hier.levels)
        for t in TENSORS:
            for parent, child in self.pairs(t):
                split = inner_only and parent == 0
                c = {} if split else counts
                targets = (c, operand) if child == n_levels and not split else (c,)

                def add(comp, action, n):
                    if n:
                        for into in targets:
                            slot = into.setdefault((comp, t), {})
                            slot[action] = slot.get(action, 0) + n

                cw = self.pair_words(t, parent, child, "child")
                pname = self.hier.levels[parent].name
                cname = self.hier.levels[child].name if child < n_levels else None
                noc = self.noc_between(parent, child, t)
                if t == "O":
                    cfirst = self.pair_words(t, parent, child, "child", first=True) if fresh else 0
                    preads, pwrites = self.fills(t, parent, child, fresh)
                    creads, cwrites, ncw = cw, cw - cfirst, 2 * cw - cfirst
                else:
                    resident = parent == 0 and not split and self.is_resident(t)  # first fills are free
                    cfirst = self.pair_words(t, parent, child, "child", first=True) if resident else 0
                    preads, pwrites = self.fills(t, parent, child, resident=resident)
                    creads, cwrites, ncw = 0, cw - cfirst, cw - cfirst
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
        return {"counts": counts, "operand": operand, "dram": dram, "steps": self.steps(),
                "reduction_steps": self.reduction_steps(), "macs": self.shape.macs}
