"""Loop nests: hand-checked closed forms, mapper fits the buffers, hand-written mapping files."""
import pytest

from accelsim.arch import load_arch, model
from accelsim.errors import AccelsimError
from accelsim.mapping.hierarchy import DIMS
from accelsim.mapping.io import build_mapping, format_nest
from accelsim.mapping.mapper import search
from accelsim.mapping.nest import Nest, Shape, by_component, dim_stats, window
from accelsim.simulate import simulate
from sim_helpers import conv, dense, net_of


def test_dim_stats_partial_chunks():
    # 10 split into chunks of 3 by a loop of 4: extents 3, 3, 3, 1
    assert dim_stats(10, (4,), (True,), 3) == {3: 3, 1: 1}
    # nested 2 x 2 over chunks of 3 (12 >= 10): 3,3 | 3,1
    assert dim_stats(10, (2, 2), (True, True), 3) == {3: 3, 1: 1}
    # the outer loop held at 0: only the first chunk of 6 -> chunks 3, 3
    assert dim_stats(10, (2, 2), (False, True), 3) == {3: 2}


def test_window_counts_distinct_rows():
    assert window(3, 3, 1, 1) == 5          # 3 outputs of a 3-tap filter, stride 1
    assert window(2, 1, 2, 1) == 2          # stride 2, 1 tap: rows 0 and 2, not 3 rows
    assert window(2, 3, 2, 1) == 5
    assert window(2, 2, 1, 2) == 4          # dilation 2: rows {0, 2, 1, 3}


def _eyeriss(df="rs"):
    a = load_arch("arch/eyeriss.yaml")
    return a, model(a).hierarchy(df)


def test_whole_layer_in_one_pe_counts_by_hand():
    # conv K=2, C=1, 3x3 output, 2x2 filter, in one PE: the row-stationary 1-D primitive (the output row Q slides
    # through the PE, both filters' row of S taps in the spads), output rows P under the filter buffer, filter
    # rows R in the global buffer
    a, hier = _eyeriss()
    shape = Shape.of(conv("c", "x", "y", 1, 2, 1, 4, 2).bounds)
    spec = {"global_buffer": {"temporal": [["R", 2]]}, "filter_buffer": {"temporal": [["P", 3]]},
            "weights_spad": {"temporal": [["Q", 3]]}, "psum_spad": {"temporal": [["K", 2], ["S", 2]]}}
    nest = Nest(hier, build_mapping(hier, shape, spec, "test"), shape)
    res = nest.counts()
    c = by_component(res["counts"])
    macs = 2 * 3 * 3 * 2 * 2
    assert res["macs"] == macs and res["steps"] == macs  # one PE: one MAC per cycle
    assert c["dram"]["read"] == 2 * 4 + 16  # each weight and input once (all fit on chip)
    assert c["dram"]["write"] == 18        # each output once (psums add up in the global buffer across R)
    # every MAC reads both operands from the spads and read-modify-writes its psum
    assert c["weights_spad"]["read"] == macs
    assert c["ifmap_spad"]["read"] == macs
    assert c["psum_spad"]["write"] == macs + 18  # MAC read-modify-writes + the reloads of the 18 psums for r = 1
    # the weights spad keeps filter row r of both filters (4 words) while the output rows P pass: once per r
    assert c["weights_spad"]["write"] == 2 * 4
    # the ifmap spad slides along an input row: per (r, p) the first 2-wide window, then 1 new input per q
    assert c["ifmap_spad"]["write"] == 2 * 3 * (2 + 1 + 1)


@pytest.mark.parametrize("df", ["rs", "ws", "os", "nlr"])
def test_mapper_fits_every_buffer(df):
    a, hier = _eyeriss(df)
    shape = Shape.of(conv("c", "x", "y", 1, 64, 32, 15, 3, pad=1).bounds)
    best = search(hier, shape, a.energy_table, samples=60)
    for i, lv in enumerate(hier.levels):
        assert lv.capacity is None or best.nest.footprint(i) <= lv.capacity
    for d in DIMS:
        covered = 1
        for lp in best.nest.loops:
            covered *= lp.factor if lp.dim == d else 1
        assert covered >= shape[d]
    assert "MAC (pe_array)" in format_nest(best.nest)


def test_mapping_file_overrides_mapper(tmp_path):
    net = net_of(conv("c1", "x", "y", 1, 4, 2, 6, 3))
    f = tmp_path / "map.yaml"
    f.write_text("c1:\n  global_buffer: {temporal: [[K, 4]]}\n"
                 "  filter_buffer: {spatial: [[R, 3, Y], [P, 4, X]]}\n"
                 "  psum_spad: {temporal: [[C, 2], [S, 3]]}\n")
    r = simulate(net, "arch/eyeriss.yaml", mapping=str(f))
    m = r.layers[0].to_dict()["mapping"]
    assert m["global_buffer"] == {"temporal": [["K", 4]], "spatial": []}
    assert m["filter_buffer"] == {"temporal": [], "spatial": [["R", 3, "Y"], ["P", 4, "X"]]}
    assert m["dram"]["temporal"] == [["Q", 4]]  # what the inner levels leave


@pytest.mark.parametrize("text, problem", [
    ("c1:\n  ifmap_spad: {temporal: [[K, 2]]}\n", "not allowed at this level"),
    ("c1:\n  filter_buffer: {spatial: [[P, 20, X]]}\n", "unrolls 20 > its 14"),
    ("c1:\n  psum_spad: {temporal: [[K, 32]]}\n", "tile needs 32 words > capacity 24"),
    ("c9:\n  ifmap_spad: {}\n", "no such layer"),
])
def test_bad_mapping_file(tmp_path, text, problem):
    net = net_of(conv("c1", "x", "y", 1, 32, 4, 6, 3))
    f = tmp_path / "map.yaml"
    f.write_text(text)
    with pytest.raises(AccelsimError, match=problem):
        simulate(net, "arch/eyeriss.yaml", mapping=str(f))


def test_row_stationary_two_stage_search_equals_the_exhaustive_one():
    """The schedules above the pass explored for the best few pass mappings only give what exploring them for
    every pass mapping gives (seed 004's IC layers and AlexNet CONV3 on the chip's Eyeriss)."""
    from accelsim.frontend import load_onnx
    arch = load_arch("arch/eyeriss.yaml")
    fam = model(arch)
    hier = fam.hierarchy("rs")
    pricing = fam.pricing(hier, {"I": 0.6, "O": 0.6})
    layers = [l for l in load_onnx("workloads/seed004_ic.onnx", weights=False).layers if l.is_mac_layer]
    shapes = [Shape.of(l.bounds) for l in layers] + [Shape.of(conv("c3", "x", "y", 4, 384, 256, 13, 3, pad=1).bounds)]
    for shape in shapes:
        two = search(hier, shape, pricing, space=fam.mapspace(hier, "rs", shape))
        every = search(hier, shape, pricing, space=fam.mapspace(hier, "rs", shape), refine=10 ** 6)
        assert two.energy == pytest.approx(every.energy, rel=0.01), shape


def test_row_stationary_keeping_the_largest_image_groups_loses_nothing(monkeypatch):
    """Tokens as images (a transformer's 128-token 64 x 64 projection) and AlexNet CONV3 at batch 4: keeping only
    the three largest image (and filter) groups per pass finds the mapping that every group finds."""
    from accelsim.arch.eyeriss import RowStationary
    fam = model(load_arch("arch/eyeriss.yaml"))
    hier = fam.hierarchy("rs")
    pricing = fam.pricing(hier, {"I": 1.0, "O": 1.0})
    for layer in (dense("fc", "x", "y", 128, 64, 64), conv("c3", "x", "y", 4, 384, 256, 13, 3, pad=1)):
        shape = Shape.of(layer.bounds)
        kept = search(hier, shape, pricing, space=RowStationary(hier, shape))
        with monkeypatch.context() as m:
            m.setattr(RowStationary, "GROUPS", 10 ** 6)
            every = search(hier, shape, pricing, space=RowStationary(hier, shape))
        assert kept.energy == pytest.approx(every.energy, rel=1e-9) and kept.delay == every.delay


def _cases():
    """(architecture, dataflow, hierarchy, pricing with compressed feature maps) of every bundled architecture."""
    for name in ("eyeriss", "eyeriss_sparse", "diannao", "isaac", "sram_cim", "systolic"):
        fam = model(load_arch(f"arch/{name}.yaml"))
        for df in fam.dataflows:
            hier = fam.hierarchy(df)
            yield name, df, hier, fam.pricing(hier, {"I": 0.6, "O": 0.7})


_SHAPES = [Shape.of(conv("c", "x", "y", 2, 24, 12, 14, 3, pad=1, stride=2).bounds),
           Shape.of(dense("fc", "x", "y", 3, 40, 72).bounds)]


def test_lower_bounds_never_exceed_the_score_and_the_dram_one_is_exact():
    """Both bounds the mapper prunes with are at most the score, in energy and in delay, on sampled mappings of
    every architecture; priced on DRAM alone, with no per-cycle energy, the one with exact DRAM traffic equals
    the score."""
    from dataclasses import replace

    from accelsim.mapping.mapper import lower_bound, sampled, score
    checked = 0
    for name, df, hier, pricing in _cases():
        dram_only = replace(pricing, table={hier.levels[0].name: pricing.table[hier.levels[0].name]}, cycle_pj=0.0)
        for shape in _SHAPES:
            for m in sampled(hier, shape, samples=15):
                nest = Nest(hier, m, shape)
                if not nest.fits():
                    continue
                s = score(hier, m, shape, pricing, nest)
                for exact in (False, True):
                    e, d = lower_bound(nest, pricing, exact_dram=exact)
                    assert e <= s.energy * (1 + 1e-12) and d <= s.delay, (name, df, exact)
                assert lower_bound(nest, dram_only, exact_dram=True)[0] == \
                    pytest.approx(score(hier, m, shape, dram_only).energy, rel=1e-12), (name, df)
                checked += 1
    assert checked > 100


def test_branch_and_bound_finds_what_scoring_every_mapping_finds(monkeypatch):
    """The mapper's result, on every architecture's spaces, is the one it gives when no mapping is left unscored
    (both bounds made 0)."""
    from accelsim.mapping import mapper
    for name, df, hier, pricing in _cases():
        fam = model(load_arch(f"arch/{name}.yaml"))
        for shape in _SHAPES:
            for objective in ("energy", "delay"):
                found = search(hier, shape, pricing, objective, samples=40, space=fam.mapspace(hier, df, shape))
                with monkeypatch.context() as m:
                    m.setattr(mapper, "lower_bound", lambda nest, pricing, exact_dram=False: (0.0, 0.0))
                    every = search(hier, shape, pricing, objective, samples=40, space=fam.mapspace(hier, df, shape))
                assert repr(found.mapping) == repr(every.mapping), (name, df, objective)
                assert (found.energy, found.delay) == (every.energy, every.delay)


def test_row_stationary_first_stage_keeps_the_mappings_it_refines(monkeypatch):
    """The bound with exact DRAM traffic leaves out none of the pass mappings the second stage refines (the
    cheapest four of those the first bound lets through): seed 004's IC layers on Eyeriss, for energy and for
    delay (which, without that care, loses one of conv8's)."""
    from accelsim.frontend import load_onnx
    from accelsim.mapping import mapper
    fam = model(load_arch("arch/eyeriss.yaml"))
    hier = fam.hierarchy("rs")
    pricing = fam.pricing(hier, {"I": 0.6, "O": 0.7})
    first = mapper.lower_bound
    for layer in load_onnx("workloads/seed004_ic.onnx", weights=False).layers:
        shape = Shape.of(layer.bounds) if layer.is_mac_layer else None
        for objective in ("energy", "delay") if shape else ():
            kept = mapper._rank(hier, shape, pricing, objective, fam.mapspace(hier, "rs", shape).arrays(), keep=4)
            with monkeypatch.context() as m:
                m.setattr(mapper, "lower_bound", lambda n, p, exact_dram=False: (0.0, 0.0) if exact_dram else first(n, p))
                scored = mapper._rank(hier, shape, pricing, objective, fam.mapspace(hier, "rs", shape).arrays())
            assert sorted(kept)[:4] == sorted(scored)[:4], (layer.name, objective)
