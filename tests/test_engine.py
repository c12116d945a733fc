"""Engine: fine (cycle-by-cycle, per PE) and fast modes agree exactly; closed forms agree with both;
SimPy timing checked by hand; invariants of the spec (§6) on random layers."""
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch, model
from accelsim.engine.core import run_tiles
from accelsim.engine.fine import fine_tiles
from accelsim.engine.tiles import Block, Tile, _absorbed, add_counts, compress, expand, fast_tiles
from accelsim.mapping.hierarchy import DIMS, Axis, Hierarchy, Storage
from accelsim.mapping.nest import LevelMap, Mapping, Nest, Shape, by_component
from accelsim.simulate import simulate
from sim_helpers import conv, dense, net_of, small_cnn

TOY = Hierarchy(levels=(
    Storage("dram", frozenset("WIO")),
    Storage("glb", frozenset("IO"), 10_000, fanout=(Axis("Y", 3, frozenset("RCK"), chained=True),
                                                   Axis("X", 4, frozenset("PKN"))),
            noc="noc"),
    Storage("psum", frozenset("O"), 24), Storage("wsp", frozenset("W"), 224), Storage("isp", frozenset("I"), 12)),
    mac="pe", dram_bandwidth=2, dram_latency=10)


def _random_case(seed):
    rng = random.Random(seed)
    shape = Shape(tuple((d, rng.randint(1, 3) if d in "GRS" else rng.randint(1, 5)) for d in DIMS),
                  (rng.randint(1, 2), rng.randint(1, 2)), (1, rng.randint(1, 2)))
    rem = dict(shape.bounds)
    levels = [LevelMap() for _ in TOY.levels]
    for ax in TOY.levels[1].fanout:
        d = rng.choice(sorted(ax.dims))
        f = rng.randint(1, min(ax.size, rem[d]))
        levels[1].spatial.append((d, f, ax.name))
        rem[d] = -(-rem[d] // f)
    for li in (4, 3, 2, 1, 0):
        dims = list(DIMS)
        rng.shuffle(dims)
        for d in dims:
            f = rem[d] if li == 0 else (rng.randint(1, rem[d]) if rng.random() < 0.4 else 1)
            if f > 1:
                levels[li].temporal.append((d, f))
                rem[d] = -(-rem[d] // f)
    return Nest(TOY, Mapping(levels), shape)


def _records(tiles):
    return [(t.load, t.store, t.steps, t.reduction_steps, t.counts) for t in tiles]  # in tile order


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10**9))
def test_fine_fast_and_closed_form_agree_on_random_nests(seed):
    """Partial tiles, strides, dilations, multicast, reductions, stationarity: every tile record equal."""
    nest = _random_case(seed)
    schedule = fast_tiles(nest)
    fast, fine = expand(schedule), fine_tiles(nest)
    assert _records(fast) == _records(fine)
    skipped, every = run_tiles(schedule, TOY, slots=2), run_tiles(fine, TOY, slots=2)
    assert (skipped.cycles, skipped.busy) == (every.cycles, every.busy)
    closed = by_component(nest.counts()["counts"])
    on_chip = {}
    for t in fast:
        add_counts(on_chip, by_component(t.counts))
    dram = closed.pop("dram", {})
    assert on_chip == closed
    assert sum(t.load_words for t in fast) == dram.get("read", 0)
    assert sum(t.store_words for t in fast) == dram.get("write", 0)
    assert sum(t.steps for t in fast) == nest.steps()
    assert sum(t.reduction_steps for t in fast) == nest.reduction_steps()


@pytest.mark.parametrize("arch, df", [("arch/eyeriss.yaml", d) for d in ("rs", "ws", "os", "nlr")]
                         + [("arch/diannao.yaml", "nfu")])
def test_fine_and_fast_modes_agree_on_small_layers(arch, df):
    net = small_cnn()
    fast = simulate(net, arch, df, density=0.7, samples=40)
    fine = simulate(net, arch, df, density=0.7, samples=40, mode="fine")
    assert [l.to_dict() for l in fast.layers] == [l.to_dict() for l in fine.layers]


def test_dma_and_double_buffering_by_hand():
    hier = Hierarchy((Storage("dram", frozenset("WIO")),), mac="pe", dram_bandwidth=4, dram_latency=10)
    one = run_tiles([Tile((0,), load={"I": 40}, store={"O": 8}, steps=100)], hier)
    assert one.cycles == (10 + 10) + 100 + (10 + 2) and one.busy == 100 and one.stall == 32
    # two tiles, two slots: tile 1 loads while tile 0 computes; its write-back queues behind nothing
    two = run_tiles([Tile((0,), load={"I": 40}, steps=100), Tile((1,), load={"I": 40}, steps=100)], hier, slots=2)
    assert two.cycles == 20 + 100 + 100
    single = run_tiles([Tile((0,), load={"I": 40}, steps=100), Tile((1,), load={"I": 40}, steps=100)], hier, slots=1)
    assert single.cycles == 2 * (20 + 100)


layer_shapes = st.tuples(st.integers(1, 2), st.integers(1, 20), st.integers(1, 12), st.integers(3, 12),
                         st.sampled_from([1, 3]), st.sampled_from([1, 2]))


@settings(max_examples=8, deadline=None)
@given(layer_shapes, st.sampled_from([("arch/eyeriss.yaml", "rs"), ("arch/eyeriss.yaml", "ws"),
                                      ("arch/eyeriss.yaml", "os"), ("arch/eyeriss.yaml", "nlr"),
                                      ("arch/diannao.yaml", "nfu")]))
def test_invariants(shape, arch_df):
    """SPEC §6: MACs = the IR's; cycles >= MACs / MAC units; every weight and input read from DRAM at least
    once; energy = Σ counts × table."""
    N, K, C, H, R, stride = shape
    layer = conv("c", "x", "y", N, K, C, H, R, stride=stride, pad=R // 2)
    path, df = arch_df
    r = simulate(net_of(layer), path, df, samples=15, density=0.5)
    res = r.layers[0]
    units = model(load_arch(path)).hierarchy(df).mac_units
    assert res.macs == layer.macs
    assert res.cycles * units >= res.macs
    b = layer.bounds
    rows = len({p * stride + r for p in range(b.P) for r in range(R)})  # padded input rows the layer touches
    fam = model(load_arch(path))
    dram = {t: res.tensor_counts.get(("dram", t), {}) for t in "WIO"}  # feature maps may move compressed
    assert dram["W"].get("read", 0) >= b.weight_size
    assert dram["I"].get("read", 0) >= N * C * rows * rows * fam.dram_ratio("I", 0.5)
    assert dram["O"].get("write", 0) >= N * K * b.P * b.Q * fam.dram_ratio("O", 0.5)
    table = load_arch(path).energy_table
    assert res.total_energy_pj == pytest.approx(sum(n * table[c][a] for c, acts in res.counts.items()
                                                    for a, n in acts.items()))
    gated = res.counts["pe_array" if df != "nfu" else "nfu"]["gated_mac"]
    assert gated == round(layer.macs * 0.5)


def test_dense_and_grouped_layers():
    net = net_of(conv("g", "x", "y", 1, 8, 8, 6, 3, groups=8), name="dw")
    r = simulate(net, "arch/eyeriss.yaml", samples=30)
    assert r.layers[0].macs == 8 * 4 * 4 * 9
    r = simulate(net_of(dense("fc", "x", "y", 2, 30, 50)), "arch/diannao.yaml", samples=30)
    assert r.layers[0].macs == 2 * 30 * 50 and r.layers[0].cycles >= 2 * 30 * 50 / 256


def _synthetic(rng):
    def tile(i):
        return Tile((i,), load={"I": rng.randint(0, 80)}, store={"O": rng.choice([0, 0, rng.randint(1, 60)])},
                    steps=rng.randint(1, 120))
    inner = [tile(0), tile(1), tile(2)]
    inner[1].repeat = rng.randint(1, 40)
    return [tile(9), Block(inner, rng.randint(1, 30)), tile(10), Block([tile(11)], rng.randint(1, 25))]


def _few_kinds(rng):
    """Runs and blocks of three kinds of tile: the same work recurs in many instances, entered in many states."""
    kinds = [Tile((i,), load={"I": rng.randint(0, 250)}, store={"O": rng.choice([0, rng.randint(1, 250)])},
                  steps=rng.randint(1, 120)) for i in range(3)]

    def run():
        return replace(rng.choice(kinds), repeat=rng.randint(1, 15))
    return [run() if rng.random() < 0.5 else Block([run() for _ in range(rng.randint(1, 3))], rng.randint(1, 8))
            for _ in range(8)]


def _skipped_and_every(schedule, slots, blocks, bandwidth, latency):
    hier = Hierarchy((Storage("dram", frozenset("WIO")),), mac="pe", dram_bandwidth=bandwidth,
                     dram_latency=latency, store_blocks=blocks)
    skipped, every = run_tiles(schedule, hier, slots=slots), run_tiles(expand(schedule), hier, slots=slots)
    return (skipped.cycles, skipped.busy, skipped.stall), (every.cycles, every.busy, every.stall)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**9), st.booleans(), st.sampled_from([1, 2]), st.sampled_from([_synthetic, _few_kinds]))
def test_repeats_skipped_in_periodic_state_time_like_every_tile(seed, blocks, slots, schedule_of):
    """Runs and repeated blocks give the cycles, busy and stall cycles of stepping every tile one by one, also
    where one instance's period is reused for another instance of the same work."""
    rng = random.Random(seed)
    bandwidth, latency = rng.choice([1, 2.5, 8]), rng.randint(0, 30)
    skipped, every = _skipped_and_every(schedule_of(rng), slots, blocks, bandwidth, latency)
    assert skipped == every


def test_a_period_is_reused_only_for_the_same_work_in_the_same_state():
    """Two cases a looser key for known periods gets wrong (found by shrinking random schedules)."""
    a = Tile((0,), load={"I": 15}, steps=102)
    # a block of one tile and a block of a run of two tiles do different work per iteration
    skipped, every = _skipped_and_every([Block([a], 3), Block([replace(a, repeat=2)], 2)], 2, True, 2.5, 26)
    assert skipped == every
    # the second iteration's run of b starts after the write-backs of c, not in the state the first one's ended
    b = Tile((1,), load={"I": 105}, store={"O": 61}, steps=107)
    c = Tile((2,), load={"I": 192}, store={"O": 225}, steps=108)
    schedule = [b, Block([replace(b, repeat=3), c, replace(c, repeat=8)], 2)]
    skipped, every = _skipped_and_every(schedule, 2, False, 2.5, 30)
    assert skipped == every


def test_first_and_last_iterations_doing_the_middles_work_join_its_block():
    t, end, odd = Tile((0,), steps=5), Tile((1,), steps=3), Tile((2,), steps=9)

    def middle():
        return [replace(t, repeat=12), replace(end)]
    before, after = [odd, replace(t, repeat=11), end] + middle(), middle() + [odd]
    whole = before + [Block(middle(), 3)] + after
    out = _absorbed(list(before), Block(middle(), 3), list(after))
    # [t x11, end] is not the middle's work [t x12, end]; the iterations just before and after the block join it
    assert [(type(i).__name__, i.repeat) for i in out] == [("Tile", 1), ("Tile", 11), ("Tile", 1), ("Block", 5),
                                                         ("Tile", 1)]
    assert [i.steps for i in expand(out)] == [i.steps for i in expand(whole)]


def test_a_huge_layer_simulates_from_its_distinct_records():
    # 3x3 conv over a 2000 x 2000 image on Eyeriss: hundreds of DRAM tiles, a handful of records
    layer = conv("big", "x", "y", 1, 1, 1, 2000, 3, pad=1)
    nest = simulate(net_of(layer), "arch/eyeriss.yaml").layers[0].nest
    schedule = fast_tiles(nest)
    flat = expand(schedule)
    assert len(flat) > 50 * sum(1 for _ in __import__("accelsim.engine.tiles", fromlist=["tiles_of"]).tiles_of(schedule))
    assert _records(flat) == _records(expand(compress(flat)))
