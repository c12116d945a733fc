"""What the mapper needs to know about an architecture under one dataflow: its storage levels and fanouts.

A family model (``accelsim.arch.<family>``) builds a :class:`Hierarchy` per dataflow; the mapper, the
engine and the energy model only ever see this description, never the family.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

#: the canonical loop dimensions (G = groups of a grouped convolution, outermost and relevant to every tensor)
DIMS = ("G", "N", "K", "C", "P", "Q", "R", "S")
TENSORS = ("W", "I", "O")
#: which dimensions index each tensor (I's P/R and Q/S combine into sliding windows)
RELEVANT = {"W": frozenset("GKCRS"), "I": frozenset("GNCPQRS"), "O": frozenset("GNKPQ")}
TENSOR_NAMES = {"W": "weights", "I": "inputs", "O": "outputs"}


@dataclass(frozen=True)
class Axis:
    """A spatial fanout axis: ``size`` instances of the next level, over which ``dims`` may be unrolled."""

    name: str
    size: int
    dims: frozenset[str]
    #: the PEs along this axis add their neighbour's partial sums with their own adders (one cycle per sum)
    chained: bool = False


@dataclass(frozen=True)
class Storage:
    """A storage level (outermost = DRAM). ``keeps`` are the tensors it holds (others bypass it);
    ``capacity`` is in words per instance (None = unbounded); ``dims`` may appear in its temporal loops;
    ``double_buffered`` tensors take two copies (the next tile loads while this one is used);
    ``fanout`` are the spatial axes between it and the next level, carried by the component ``noc``
    (one name, or {tensor: name} when each tensor has its own network)."""

    name: str
    keeps: frozenset[str]
    capacity: int | None = None
    dims: frozenset[str] = frozenset(DIMS)
    double_buffered: bool | frozenset[str] = False
    fanout: tuple[Axis, ...] = ()
    noc: str | dict[str, str] | None = None

    @property
    def double(self) -> frozenset[str]:
        """The tensors kept twice."""
        if isinstance(self.double_buffered, frozenset):
            return self.double_buffered & self.keeps
        return self.keeps if self.double_buffered else frozenset()

    def noc_for(self, t: str | None) -> str | None:
        return self.noc.get(t) if isinstance(self.noc, dict) else self.noc

    def __hash__(self):
        noc = tuple(sorted(self.noc.items())) if isinstance(self.noc, dict) else self.noc
        return hash((self.name, self.keeps, self.capacity, self.dims, self.double_buffered, self.fanout, noc))


@dataclass(frozen=True)
class Bus:
    """An on-chip path whose width bounds a tile's time: it moves ``words_per_cycle`` of the accesses it
    ``carries`` — (component, tensor or None for all, action or None for all). A ``serial`` bus fills a store
    that has one copy only, so the compute waits while it moves (e.g. a PE's filter scratchpad between passes);
    the others stream under the compute."""

    name: str
    words_per_cycle: float
    carries: tuple[tuple[str, str | None, str | None], ...]
    serial: bool = False

    def words(self, counts: dict) -> int:
        total = 0
        for (comp, t), actions in counts.items():
            rules = self._carried.get(comp)
            if rules:
                total += sum(n for action, n in actions.items()
                             if any(tt in (None, t) and a in (None, action) for tt, a in rules))
        return total

    @cached_property
    def _carried(self) -> dict:
        """{component: [(tensor, action)]} of ``carries``."""
        out = {}
        for c, t, a in self.carries:
            out.setdefault(c, []).append((t, a))
        return out


@dataclass(frozen=True)
class Hierarchy:
    """Storage levels outer -> inner, then the MAC units (component ``mac``).

    ``buses`` bound the time of a tile by on-chip bandwidth (DRAM's bandwidth is the engine's DMA).
    ``pipeline`` is the fill latency in cycles added to every tile (e.g. DianNao's 3-stage NFU: 2).
    ``prefetch``: the next tile's inputs stream into the first on-chip level while this tile computes, into
    space the array has finished with (no second copy needed); ``store_blocks``: a tile whose outputs are
    written back holds its space until the write-back ends, so the next tile waits for it.
    """

    levels: tuple[Storage, ...]
    mac: str
    dram_bandwidth: float
    dram_latency: int
    buses: tuple[Bus, ...] = ()
    pipeline: int = 0
    prefetch: bool = False
    store_blocks: bool = False
    #: tensors already in their first on-chip keeper when a layer starts (e.g. weights programmed into
    #: crossbars): the first fetch of every element is free, only re-fetches after eviction cost
    resident: frozenset[str] = frozenset()

    @property
    def mac_units(self) -> int:
        n = 1
        for level in self.levels:
            for axis in level.fanout:
                n *= axis.size
        return n

    def chain(self, tensor: str) -> list[int]:
        """Indices of the levels that keep ``tensor``, outer -> inner (DRAM, level 0, keeps everything)."""
        return [i for i, lv in enumerate(self.levels) if tensor in lv.keeps]
