"""The SimPy engine: a layer's tiles flow through DMA (DRAM channel) -> on-chip buffer slots -> compute.

Units are processes: the DMA loader fetches tile i+1 while the array computes tile i (double buffering or
prefetch: two slots; one if neither), and a writer returns each tile's outputs over the same DRAM channel,
so loads and write-backs contend. DRAM costs ``latency + ceil(words / bandwidth)`` cycles per transfer. A
tile occupies the array for its compute steps (plus the PEs' own partial-sum additions and the pipeline
fill), stretched when a bus's traffic exceeds its width; a serial bus's transfers add to the compute.
When write-backs block (``Hierarchy.store_blocks``), the next tile waits for the previous write-back.
Stalls are the cycles the array waits for data.

A record with ``repeat`` > 1 stands for that many identical tiles in a row. Once the three processes are in
a periodic state (each tile of the run starts one period after the previous one, with the same queue and
in-flight state), the engine skips whole periods of the run at once: the result is the same as stepping
every tile, and the cost grows with the number of distinct records, not with tiles.
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
    """Cycles one tile holds the compute array: serial bus transfers, then the compute (steps, PE additions and
    pipeline fill) or the streaming buses, whichever is longer."""
    serial = sum(ceil(bus.words(tile.counts) / bus.words_per_cycle) for bus in hier.buses if bus.serial)
    cycles = tile.steps + tile.reduction_steps + hier.pipeline
    for bus in hier.buses:
        if not bus.serial:
            cycles = max(cycles, ceil(bus.words(tile.counts) / bus.words_per_cycle))
    return serial + cycles


def run_tiles(tiles: list[Tile], hier: Hierarchy, slots: int = 2, trace: bool = False) -> LayerTiming:
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    free = simpy.Container(env, capacity=slots, init=slots)
    ready = simpy.Store(env)
    events = [] if trace else None
    state = {"busy": 0, "skipped": 0, "loaded": 0, "computed": 0}
    remaining = [t.repeat for t in tiles]   # loads still to issue per record
    in_flight: list[float] = []             # start times of DRAM transfers under way
    last_store = [None]                     # the writer of the previous tile (when write-backs block)

    def transfer(words, unit, index):
        with dram.request() as req:
            yield req
            start = env.now
            in_flight.append(start)
            yield env.timeout(hier.dram_latency + ceil(words / hier.dram_bandwidth))
            in_flight.remove(start)
            if trace:
                events.append((unit, index, start, env.now - start))

    def loader():
        for r, tile in enumerate(tiles):
            while remaining[r]:
                remaining[r] -= 1
                yield free.get(1)
                if tile.load_words:
                    yield from transfer(tile.load_words, "dma load", tile.index)
                state["loaded"] += 1
                yield ready.put(r)

    def writer(tile):
        if tile.store_words:
            yield from transfer(tile.store_words, "dma store", tile.index)
        yield free.put(1)

    def snapshot(r):
        return (state["loaded"] - state["computed"], remaining[r], dram.count, len(dram.queue), free.level,
                len(ready.items), tuple(sorted(env.now - s for s in in_flight)))

    def array():
        history = []  # (start time, snapshot) of the current run's tiles
        current = None
        for r, tile in enumerate(tiles):
            n = tile_cycles(tile, hier)
            done = 0
            while done < tile.repeat:
                got = yield ready.get()
                assert got == r
                if hier.store_blocks and last_store[0] is not None:
                    yield last_store[0]  # the previous tile's outputs leave before this one starts
                if current != r:
                    history, current = [], r
                snap = snapshot(r)
                history.append((env.now, snap))
                skip = _periodic_skip(history, remaining[r], trace)
                if skip:
                    period = history[-1][0] - history[-2][0]
                    remaining[r] -= skip
                    done += skip
                    state["skipped"] += skip * period
                    state["busy"] += skip * n
                    history = []
                start = env.now
                yield env.timeout(n)
                state["busy"] += n
                state["computed"] += 1
                done += 1
                if trace:
                    events.append(("compute", tile.index, start, n))
                last_store[0] = env.process(writer(tile))

    env.process(loader())
    done = env.process(array())
    env.run()
    assert done.processed
    cycles = int(env.now + state["skipped"])
    return LayerTiming(cycles, state["busy"], cycles - state["busy"], events or [])


def _periodic_skip(history, left: int, trace: bool) -> int:
    """How many tiles of a run can be skipped: none unless the last three starts are one period apart with the
    same state; then all the run's loads still to come but two (so the run ends through the normal path)."""
    if trace or len(history) < 4 or left < 3:
        return 0
    (t0, s0), (t1, s1), (t2, s2), (t3, s3) = history[-4:]
    if not (t1 - t0 == t2 - t1 == t3 - t2 and s1[0:1] + s1[2:] == s2[0:1] + s2[2:] == s3[0:1] + s3[2:]):
        return 0
    return left - 2
