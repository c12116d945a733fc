"""The SimPy engine: a layer's tiles flow through DMA (DRAM channel) -> on-chip buffer slots -> compute.

Units are processes: the DMA loader fetches tile i+1 while the array computes tile i (double buffering:
two buffer slots, one if the buffer is single-buffered), and a writer returns each tile's outputs over
the same DRAM channel, so loads and write-backs contend. DRAM costs ``latency + ceil(words / bandwidth)``
cycles per transfer. A tile occupies the array for its compute steps plus the pipeline fill, stretched if
an on-chip component's traffic exceeds its bandwidth. Stalls are the cycles the array waits for data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import simpy

from ..mapping.hierarchy import Hierarchy
from .tiles import Tile


@dataclass
class LayerTiming:
    cycles: int
    busy: int
    stall: int
    events: list = field(default_factory=list)  # (unit, tile index, start, duration) when tracing


def tile_cycles(tile: Tile, hier: Hierarchy) -> int:
    """Cycles a tile holds the compute array: steps + pipeline fill, bounded below by on-chip bandwidth."""
    cycles = tile.steps + hier.pipeline
    for comp, bw in hier.bandwidth.items():
        words = sum(tile.counts.get(comp, {}).values())
        cycles = max(cycles, ceil(words / bw))
    return cycles


def run_tiles(tiles: list[Tile], hier: Hierarchy, slots: int = 2, trace: bool = False) -> LayerTiming:
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    free = simpy.Container(env, capacity=slots, init=slots)
    ready = simpy.Store(env)
    events = [] if trace else None
    busy = [0]

    def transfer(words, unit, index):
        with dram.request() as req:
            yield req
            start = env.now
            yield env.timeout(hier.dram_latency + ceil(words / hier.dram_bandwidth))
            if trace:
                events.append((unit, index, start, env.now - start))

    def loader():
        for tile in tiles:
            yield free.get(1)
            if tile.load:
                yield from transfer(tile.load, "dma load", tile.index)
            yield ready.put(tile)

    def writer(tile):
        if tile.store:
            yield from transfer(tile.store, "dma store", tile.index)
        yield free.put(1)

    def array():
        for _ in tiles:
            tile = yield ready.get()
            start = env.now
            n = tile_cycles(tile, hier)
            yield env.timeout(n)
            busy[0] += n
            if trace:
                events.append(("compute", tile.index, start, n))
            env.process(writer(tile))

    env.process(loader())
    done = env.process(array())
    env.run()
    assert done.processed
    cycles = int(env.now)
    return LayerTiming(cycles, busy[0], cycles - busy[0], events or [])
