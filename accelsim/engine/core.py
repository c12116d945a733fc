"""The SimPy engine: a layer's tiles flow through DMA (DRAM channel) -> on-chip buffer slots -> compute.

Units are processes: the DMA loader fetches tile i+1 while the array computes tile i (double buffering or
prefetch: two slots; one if neither), and a writer returns each tile's outputs over the same DRAM channel,
so loads and write-backs contend. DRAM costs ``latency + ceil(words / bandwidth)`` cycles per transfer. A
tile occupies the array for its compute steps (plus the PEs' own partial-sum additions and the pipeline
fill), stretched when a bus's traffic exceeds its width; a serial bus's transfers add to the compute.
When write-backs block (``Hierarchy.store_blocks``), the next tile waits for the previous write-back.
Stalls are the cycles the array waits for data.

The tiles come as a schedule (``engine.tiles``): records that repeat (a run of identical tiles) and blocks of
records that repeat. Once the processes are in a periodic state across iterations of a repeat — each starts
one period after the previous one with the same queues, slots and transfers in flight — the engine skips
whole iterations at once (both the DMA and the array leave them out, and the clock moves on by as many
periods). A period found once serves every later repeat of the same work that reaches the same state, from
its first iteration. The result is the same as stepping every tile, and the cost grows with the distinct
records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import simpy

from ..mapping.hierarchy import Hierarchy
from .tiles import Block, Tile, tiles_of, work_of


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


def run_tiles(schedule: list, hier: Hierarchy, slots: int = 2, trace: bool = False) -> LayerTiming:
    env = simpy.Environment()
    dram = simpy.Resource(env, capacity=1)
    free = simpy.Container(env, capacity=slots, init=slots)
    ready = simpy.Store(env)
    events = [] if trace else None
    work = {}  # id(item) -> the key of one iteration's work
    _index(schedule, work)
    cost = {id(tile): tile_cycles(tile, hier) for tile, _ in tiles_of(schedule)}
    state = {"busy": 0, "skipped": 0, "loaded": 0, "computed": 0}
    waiting: list[tuple] = []     # (unit, words) of DRAM requests in the order they queue
    in_flight: list[tuple] = []   # (start time, unit, words) of the DRAM transfer under way
    started: dict = {}            # repeat instance -> the last iteration the loader began
    skips: dict = {}              # repeat instance -> (first iteration left out, how many)
    history: dict = {}            # repeat instance -> [(start time, state, busy, iteration)] of its last 3 starts
    periods: dict = {}            # (one iteration's work, state at its start) -> (period, busy cycles per period)
    last_store = [None]           # the writer of the previous tile (when write-backs block)

    def walk(items, ctx, loader):
        """(tile, repeat instance of its run, iteration) of every tile in order, skips applied. An instance is
        named by the positions and iterations leading to it: (pos, iteration, pos, ..., pos)."""
        for pos, item in enumerate(items):
            key = ctx + (pos,)
            j = 0
            while j < item.repeat:
                skip = skips.get(key)
                if skip and skip[0] == j:
                    j += skip[1]
                    if j >= item.repeat:
                        break
                if loader:
                    started[key] = j
                if isinstance(item, Block):
                    yield from walk(item.items, key + (j,), loader)
                else:
                    yield item, key, j
                j += 1

    def transfer(words, unit, index):
        ticket = (unit, words)
        waiting.append(ticket)
        with dram.request() as req:
            yield req
            waiting.remove(ticket)
            flight = (env.now, unit, words)
            in_flight.append(flight)
            yield env.timeout(hier.dram_latency + ceil(words / hier.dram_bandwidth))
            in_flight.remove(flight)
            if trace:
                events.append((unit, index, flight[0], env.now - flight[0]))

    def loader():
        for tile, _, _ in walk(schedule, (), True):
            yield free.get(1)
            if tile.load_words:
                yield from transfer(tile.load_words, "dma load", tile.index)
            state["loaded"] += 1
            yield ready.put(tile)

    def writer(tile):
        if tile.store_words:
            yield from transfer(tile.store_words, "dma store", tile.index)
        yield free.put(1)

    def snapshot():
        """Everything the future depends on besides the tiles still to come, with times relative to now."""
        return (state["loaded"] - state["computed"], tuple(waiting),
                tuple((env.now - s, unit, words) for s, unit, words in in_flight), free.level, len(ready.items),
                last_store[0] is not None and not last_store[0].processed)

    def begin(key, j):
        """The array starts iteration j of the run ``key``, and of every block this tile opens an iteration of:
        once an iteration of the same work is known to start and end in this state, skip the iterations of this
        instance the DMA has not started (up to the DMA's step past its end, the system stays periodic)."""
        opening = [(key, j)]
        if j == 0:
            for depth in range(len(key) - 2, 0, -2):  # enclosing blocks: (..., pos, iteration, inner...)
                opening.append((key[:depth], key[depth]))
                if any(key[depth + 1:]):
                    opening.pop()
                    break
        for inst, it in opening:
            if inst in skips:
                continue
            item = _item_of(schedule, inst)
            now, snap = env.now + state["skipped"], snapshot()  # inner skips count in an iteration's length
            seen = history.setdefault(inst, [])
            seen.append((now, snap, state["busy"], it))
            del seen[:-3]
            found = periods.get((work[id(item)], snap))
            if found is None and len(seen) == 3:
                # the system is deterministic: the same state at the starts of two iterations of identical work
                # (one period apart, the same work done in between) repeats while the DMA stays in the instance
                (t1, s1, b1, j1), (t2, s2, b2, j2), (t3, s3, b3, j3) = seen
                if j2 - j1 == j3 - j2 == 1 and t2 - t1 == t3 - t2 and s2 == s3 and b2 - b1 == b3 - b2:
                    found = periods[(work[id(item)], snap)] = (t3 - t2, b3 - b2)
            if found is None:
                continue
            first = started.get(inst, it) + 1
            m = item.repeat - first
            if m > 0:
                skips[inst] = (first, m)
                state["skipped"] += m * found[0]
                state["busy"] += m * found[1]

    def array():
        for tile, key, j in walk(schedule, (), False):
            got = yield ready.get()
            assert got is tile
            if hier.store_blocks and last_store[0] is not None:
                yield last_store[0]  # the previous tile's outputs leave before this one starts
            if not trace:
                begin(key, j)
            start = env.now
            n = cost[id(tile)]
            yield env.timeout(n)
            state["busy"] += n
            state["computed"] += 1
            if trace:
                events.append(("compute", tile.index, start, n))
            last_store[0] = env.process(writer(tile))

    env.process(loader())
    done = env.process(array())
    env.run()
    assert done.processed
    cycles = int(env.now + state["skipped"])
    return LayerTiming(cycles, state["busy"], cycles - state["busy"], events or [])


def _index(items, work) -> None:
    """The key of one iteration's work of every item at any depth, by the item's id."""
    for item in items:
        if isinstance(item, Block):
            _index(item.items, work)
            work[id(item)] = work_of(item.items)
        else:
            work[id(item)] = item.key()


def _item_of(schedule, key):
    """The item an instance key names: (pos, iteration, pos, iteration, ..., pos)."""
    items, item = schedule, None
    for i, part in enumerate(key):
        if i % 2 == 0:
            item = items[part]
        else:
            items = item.items
    return item
