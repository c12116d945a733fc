"""What the mapper needs to know about an architecture under one dataflow: its storage levels and fanouts.

A family model (``accelsim.arch.<family>``) builds a :class:`Hierarchy` per dataflow; the mapper, the
engine and the energy model only ever see this description, never the family.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Storage:
    """A storage level (outermost = DRAM). ``keeps`` are the tensors it holds (others bypass it);
    ``capacity`` is in words per instance (None = unbounded); ``dims`` may appear in its temporal loops;
    ``fanout`` are the spatial axes between it and the next level, carried by the component ``noc``."""

    name: str
    keeps: frozenset[str]
    capacity: int | None = None
    dims: frozenset[str] = frozenset(DIMS)
    double_buffered: bool = False
    fanout: tuple[Axis, ...] = ()
    noc: str | None = None


@dataclass(frozen=True)
class Hierarchy:
    """Storage levels outer -> inner, then the MAC units (component ``mac``).

    ``bandwidth`` gives words/cycle for components whose traffic bounds the time of a tile
    (DRAM's is used by the engine's DMA; on-chip ones stretch the compute of a tile).
    ``pipeline`` is the fill latency in cycles added to every tile (e.g. DianNao's 3-stage NFU: 2).
    """

    levels: tuple[Storage, ...]
    mac: str
    dram_bandwidth: float
    dram_latency: int
    bandwidth: dict[str, float] = field(default_factory=dict)
    pipeline: int = 0
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
