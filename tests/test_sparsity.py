"""Sparsity in the timing path (accelsim.sparsity): pruned weights and zero activations gated, skipped and
compressed — checked on layers small enough to count by hand, and the fine cycle-by-cycle walk against the
closed forms."""
import json
import random
from dataclasses import replace

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch, model
from accelsim.cli import main as cli
from accelsim.datasets import digits
from accelsim.engine.fine import fine_tiles
from accelsim.engine.tiles import every_tile
from accelsim.errors import AccelsimError
from accelsim.frontend import load_onnx
from accelsim.functional import run
from accelsim.functional.evaluate import evaluate
from accelsim.mapping.hierarchy import DIMS, Axis, Hierarchy, Storage
from accelsim.mapping.nest import LevelMap, Mapping, Nest, Shape
from accelsim.simulate import simulate
from accelsim.sparsity import Policy, SparseFormat, annotate, apply, nest_mask, plan
from accelsim.transforms import cs, early_exit, parse_pruning, prune, rademacher
from accelsim.transforms.early_exit import confidence, exits_taken
from conftest import ROOT
from sim_helpers import conv, dense, net_of

# DRAM -> a buffer feeding 2 PEs (output channels across them) -> per-PE weight, input and psum scratchpads
TOY = Hierarchy(levels=(
    Storage("dram", frozenset("WIO")),
    Storage("buf", frozenset("WIO"), 4096, fanout=(Axis("X", 2, frozenset("K")),), noc="noc"),
    Storage("wspad", frozenset("W"), 64), Storage("ispad", frozenset("I"), 64), Storage("pspad", frozenset("O"), 64)),
    mac="pe", dram_bandwidth=4, dram_latency=0)
CSR = SparseFormat("csr", coord_bits=4, pointer_bits=16)


def toy_nest():
    """A dense layer of 4 outputs x 8 inputs: PE x holds outputs 2x, 2x+1 and runs their 16 MACs itself."""
    shape = Shape.of(dense("fc", "x", "y", 1, 4, 8).bounds)
    levels = [LevelMap() for _ in TOY.levels]
    levels[1].spatial = [("K", 2, "X")]
    levels[2].temporal = [("K", 2), ("C", 8)]
    return Nest(TOY, Mapping(levels), shape)


def toy_mask():
    """Half the weights kept, unevenly: output 0 keeps all 8, output 1 keeps 2, outputs 2 and 3 keep 3 each."""
    keep = np.zeros((4, 8), bool)
    keep[0] = True
    keep[1, :2] = keep[2, 1:4] = keep[3, 4:7] = True
    return keep.reshape(1, 4, 8, 1, 1)


def sparse_tiles(nest, mask, pol, fine=False, zero=0.0):
    tiles = fine_tiles(nest, mask) if fine else every_tile(nest)
    if not fine:
        annotate(nest, tiles, mask)
    apply(nest, tiles, plan(pol, nest, zero, 1.0 - zero, 16))
    return tiles


def test_skipped_weights_pace_each_pass_by_its_slowest_pe():
    """PE 0 has 8 + 2 non-zero weights, PE 1 has 3 + 3: skipping zeros, the pass takes 10 steps, not 16 nor 8."""
    nest = toy_nest()
    pol = Policy({"W": "skip", "I": "gate"}, {("wspad", "W"): CSR})
    for fine in (False, True):
        (tile,) = sparse_tiles(nest, toy_mask(), pol, fine)
        assert tile.effectual == 16 and tile.steps == 10
    gating = Policy({"W": "gate", "I": "gate"}, {})
    (tile,) = sparse_tiles(nest, toy_mask(), gating)
    assert tile.steps == 16  # gating saves energy, never cycles


def test_compressed_weights_move_their_non_zeros_and_metadata_words():
    """csr with a 4-bit index per non-zero and a 16-bit pointer per filter row (EIE's layout), 16-bit words."""
    nest = toy_nest()
    pol = Policy({"W": "skip", "I": "gate"}, {("dram", "W"): CSR, ("wspad", "W"): CSR})
    (tile,) = sparse_tiles(nest, toy_mask(), pol)
    # DRAM: 16 non-zeros + (16 x 4 index bits + 4 filters x 16 pointer bits) / 16 = 16 + 8 words (dense: 32)
    assert tile.load["W"] == 16 + (16 * 4 + 4 * 16) // 16
    # each PE's scratchpad is filled with its 2 filters: 16 values + 8 metadata words over the two PEs
    assert tile.counts[("wspad", "W")]["write"] == 16 + 8
    # the MACs read only the non-zeros they issue: 16 values, 16 x 4 index bits + 2 rows x 16 bits per PE
    assert tile.counts[("wspad", "W")]["read"] == 16 + (16 * 4 + 2 * 2 * 16) // 16
    # an issued MAC reads its input and updates its psum: half of the 32 MACs were skipped
    assert tile.counts[("ispad", "I")]["read"] == 16
    assert tile.counts[("pspad", "O")]["write"] == 16


def test_skipping_needs_a_format_where_the_macs_read_the_weights():
    """Without metadata in the store feeding the MACs, the hardware cannot know ahead where the zeros are: gated."""
    nest = toy_nest()
    (tile,) = sparse_tiles(nest, toy_mask(), Policy({"W": "skip", "I": "gate"}, {("dram", "W"): CSR}))
    assert tile.steps == 16 and tile.counts[("ispad", "I")]["read"] == 32


def test_n_m_pruning_balances_the_pes():
    """2:4 structured pruning (two of every four consecutive inputs): every PE holds exactly half its weights."""
    nest = toy_nest()
    keep = np.zeros((4, 8), bool)
    keep[:, 0::4] = keep[:, 1::4] = True
    (tile,) = sparse_tiles(nest, keep.reshape(1, 4, 8, 1, 1), Policy({"W": "skip", "I": "gate"},
                                                                     {("wspad", "W"): CSR}))
    assert tile.steps == 8


def test_skipped_zero_inputs_are_an_expected_fraction():
    """Activations carry a measured zero fraction: 25% zero inputs skipped take 75% of the steps and MAC reads."""
    nest = toy_nest()
    pol = Policy({"W": "gate", "I": "skip"}, {("ispad", "I"): SparseFormat("bitmask")})
    (tile,) = sparse_tiles(nest, np.ones((1, 4, 8, 1, 1), bool), pol, zero=0.25)
    assert tile.steps == 12 and tile.counts[("wspad", "W")]["read"] == 24
    # each PE refills its input scratchpad at every (output, input) step: 32 fills, 75% of them values, plus one
    # mask bit per element
    assert tile.counts[("ispad", "I")]["write"] == 24 + 32 // 16


# ---- the fine walk agrees with the closed forms -------------------------------------------------------------
DEEP = Hierarchy(levels=(
    Storage("dram", frozenset("WIO")),
    Storage("glb", frozenset("IO"), 10_000, fanout=(Axis("Y", 3, frozenset("RCK")), Axis("X", 2, frozenset("PKN"))),
            noc="noc"),
    Storage("wbuf", frozenset("W"), 512, fanout=(Axis("L", 2, frozenset("CS")),), noc="lanes"),
    Storage("psum", frozenset("O"), 24), Storage("wsp", frozenset("W"), 224), Storage("isp", frozenset("I"), 12)),
    mac="pe", dram_bandwidth=2, dram_latency=10)


def random_case(seed):
    """A random small layer (groups, strides, partial chunks) on two nested fanouts, and a random weight mask.
    Each dimension's bound is split into factors, innermost first: over the fanout axes that may unroll it (within
    what each axis has left), then the levels' temporal loops in a random order; DRAM takes what remains."""
    rng = random.Random(seed)
    shape = Shape(tuple((d, rng.randint(1, 2) if d in "GN" else rng.randint(1, 3) if d in "RS" else
                         rng.randint(1, 4)) for d in DIMS), (rng.randint(1, 2), rng.randint(1, 2)))
    levels = [LevelMap() for _ in DEEP.levels]
    room = {ax.name: ax.size for lv in DEEP.levels for ax in lv.fanout}
    for d, left in shape.bounds:
        axes = [(i, ax.name) for i, lv in enumerate(DEEP.levels) for ax in lv.fanout if d in ax.dims]
        for i, name in reversed(axes):
            f = rng.randint(1, max(1, min(room[name], left)))
            if f > 1:
                levels[i].spatial.append((d, f, name))
                room[name] //= f
                left = -(-left // f)
        for i in range(len(DEEP.levels) - 1, 0, -1):
            f = rng.randint(1, left) if rng.random() < 0.4 else 1
            if f > 1:
                levels[i].temporal.insert(rng.randint(0, len(levels[i].temporal)), (d, f))
                left = -(-left // f)
        if left > 1:
            levels[0].temporal.insert(rng.randint(0, len(levels[0].temporal)), (d, left))
    b = dict(shape.bounds)
    mask = np.random.default_rng(seed).random((b["G"], b["K"], b["C"], b["R"], b["S"])) < rng.random()
    return Nest(DEEP, Mapping(levels), shape), mask


def _sparse_records(tiles):
    return [(t.index, t.effectual, t.paced_steps, t.nonzero, t.operand, t.counts, t.load, t.steps) for t in tiles]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**9))
def test_fine_walk_and_closed_forms_agree_on_sparse_nests(seed):
    """Effectual MACs, paced steps (sum over time, max over each fanout, nested), non-zero words of every weight
    count and the MACs' own accesses: equal tile by tile, before and after the policy is applied."""
    nest, mask = random_case(seed)
    fast, fine = every_tile(nest), fine_tiles(nest, mask)
    annotate(nest, fast, mask)
    assert _sparse_records(fast) == _sparse_records(fine)
    assert sum(t.effectual for t in fast) == int(mask.sum()) * nest.bounds["N"] * nest.bounds["P"] * nest.bounds["Q"]
    pol = Policy({"W": "skip", "I": "skip"}, {("wsp", "W"): CSR, ("wbuf", "W"): SparseFormat("bitmask"),
                                              ("dram", "W"): SparseFormat("coo"), ("isp", "I"): SparseFormat("rle")})
    p = plan(pol, nest, 0.3, 0.7, 16)
    apply(nest, fast, p)
    apply(nest, fine, p)
    assert _sparse_records(fast) == _sparse_records(fine)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**9))
def test_a_dense_mask_changes_nothing(seed):
    """All weights non-zero: the paced steps are the dense steps, the non-zero words the dense words."""
    nest, mask = random_case(seed)
    tiles = every_tile(nest)
    annotate(nest, tiles, np.ones_like(mask))
    for t in tiles:
        assert t.paced_steps == t.steps
        assert t.nonzero == {k: v for k, v in t.counts.items() if k[1] == "W"} | (
            {("dram", "W"): {"read": t.load["W"]}} if t.load.get("W") else {})


# ---- whole layers on the bundled architectures --------------------------------------------------------------
def half_pruned(layer, seed=0):
    """``layer`` with exactly half its weights (chosen at random) zero."""
    w = layer.weights["W"]
    keep = np.zeros(w.size, bool)
    keep[np.random.default_rng(seed).permutation(w.size)[: w.size // 2]] = True
    return replace(layer, weight_mask=keep.reshape(w.shape))


def test_half_pruned_layer_on_the_skipping_eyeriss():
    """50% of the weights pruned, on arch/eyeriss_sparse.yaml: half the MACs issued, about half the compute
    steps (the slowest PE of each pass sets the pace), the weights' DRAM words halved plus their metadata."""
    layer = conv("c", "x", "y", 1, 32, 32, 6, 3, pad=1)  # 332k MACs, 9,216 weights
    arch = "arch/eyeriss_sparse.yaml"
    dense_r = simulate(net_of(layer), arch, samples=40).layers[0]
    pruned = half_pruned(layer)
    sparse_r = simulate(net_of(pruned), arch, samples=40).layers[0]
    assert sparse_r.counts["pe_array"]["mac"] == layer.macs // 2 and "gated_mac" not in sparse_r.counts["pe_array"]
    fam = model(load_arch(arch))
    steps = []
    for lay, r in ((layer, dense_r), (pruned, sparse_r)):
        tiles, mask = every_tile(r.nest), nest_mask(lay)
        if mask is not None:
            annotate(r.nest, tiles, mask)
        apply(r.nest, tiles, plan(fam.sparse, r.nest, 0.0, 1.0, 16))
        steps.append(sum(t.steps for t in tiles))
    assert 0.5 <= steps[1] / steps[0] <= 0.65
    busy = lambda r: r.cycles - r.stall_cycles  # noqa: E731
    assert busy(sparse_r) < 0.7 * busy(dense_r) and sparse_r.cycles < 0.75 * dense_r.cycles
    # DRAM: the kept weights, a 4-bit index each and a 16-bit pointer per filter (dense on Eyeriss: 9,216 words)
    kept, filters = layer.bounds.weight_size // 2, layer.bounds.K
    assert sparse_r.tensor_counts[("dram", "W")]["read"] == pytest.approx(kept + (4 * kept + 16 * filters) / 16, abs=2)
    assert sparse_r.total_energy_pj < 0.75 * dense_r.total_energy_pj


def test_half_pruned_layer_on_eyeriss_gates():
    """arch/eyeriss.yaml gates (JSSC 2017 data gating; seed 003 §5.3.1: a zero weight or activation): the same
    cycles and traffic, and half the MACs gated — energy lower by exactly (mac - gated_mac) per gated MAC."""
    layer = conv("c", "x", "y", 1, 32, 32, 6, 3, pad=1)
    dense_r = simulate(net_of(layer), "arch/eyeriss.yaml", samples=40).layers[0]
    sparse_r = simulate(net_of(half_pruned(layer)), "arch/eyeriss.yaml", samples=40).layers[0]
    assert sparse_r.cycles == dense_r.cycles and sparse_r.tensor_counts == dense_r.tensor_counts
    assert sparse_r.counts["pe_array"]["gated_mac"] == layer.macs // 2
    saved = layer.macs // 2 * (5.765 - 0.2696)  # arch/eyeriss.yaml: mac, gated_mac pJ
    assert dense_r.total_energy_pj - sparse_r.total_energy_pj == pytest.approx(saved)


@pytest.mark.parametrize("df", ["rs", "ws", "nlr"])
def test_fine_and_fast_simulations_agree_on_a_pruned_layer(df):
    """The skipping Eyeriss on a pruned layer, every dataflow's stores: cycles and every counter equal."""
    net = net_of(half_pruned(conv("c", "x", "y", 1, 6, 4, 6, 3, pad=1), seed=3))
    fast = simulate(net, "arch/eyeriss_sparse.yaml", df, density=0.6, samples=20)
    fine = simulate(net, "arch/eyeriss_sparse.yaml", df, density=0.6, samples=20, mode="fine")
    assert [l.to_dict() for l in fast.layers] == [l.to_dict() for l in fine.layers]


def test_zero_inputs_skipped_on_the_sparse_eyeriss_and_gated_on_eyeriss():
    """Half the input activations zero: Eyeriss issues every MAC and gates half of them; the sparse PEs skip them
    (about half the compute time: the expected share, activations being a measured fraction). The mapper may
    choose another nest when the ifmaps compress better off chip, so compute times are compared on the skipper."""
    layer = conv("c", "x", "y", 1, 32, 32, 6, 3, pad=1)
    busy = lambda r: r.cycles - r.stall_cycles  # noqa: E731
    for arch in ("arch/eyeriss.yaml", "arch/eyeriss_sparse.yaml"):
        full = simulate(net_of(layer), arch, density=1.0, samples=40).layers[0]
        half = simulate(net_of(layer), arch, density=0.5, samples=40).layers[0]
        if arch == "arch/eyeriss.yaml":
            acts = half.counts["pe_array"]
            assert acts["gated_mac"] == layer.macs // 2 and acts["mac"] + acts["gated_mac"] == layer.macs
        else:
            assert half.counts["pe_array"]["mac"] == layer.macs // 2 and busy(half) < 0.7 * busy(full)


# ---- architecture files -------------------------------------------------------------------------------------
def _arch_with(tmp_path, comp, key, value):
    raw = yaml.safe_load(open("arch/eyeriss.yaml"))
    raw["components"][comp][key] = value
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("comp, key, value, message", [
    ("pe_array", "zeros", {"weights": "drop"}, "pe_array.zeros.weights: must be one of gate, skip, none"),
    ("pe_array", "zeros", {"outputs": "skip"}, "pe_array.zeros.outputs: unknown tensor"),
    ("global_buffer", "zeros", {"weights": "skip"}, "global_buffer.zeros: only a compute component"),
    ("weights_spad", "sparse_format", {"weights": "zip"}, "weights_spad.sparse_format.weights: must be one of"),
    ("weights_spad", "sparse_format", {"weights": {"format": "rle", "bits": 3}},
     "weights_spad.sparse_format.weights.bits: unknown parameter of rle (known: run_bits)"),
    ("pe_array", "sparse_format", {"weights": "csr"}, "pe_array.sparse_format: only a store"),
    ("dram", "sparse_format", {"inputs": "csr"}, "dram.sparse_format.inputs: given twice"),
])
def test_bad_sparsity_declarations_are_one_line_errors(tmp_path, comp, key, value, message):
    with pytest.raises(AccelsimError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_arch(_arch_with(tmp_path, comp, key, value))


def test_eyeriss_declares_gating_and_the_sparse_variant_skipping():
    assert model(load_arch("arch/eyeriss.yaml")).sparse.zeros == {"W": "gate", "I": "gate"}
    sparse = model(load_arch("arch/eyeriss_sparse.yaml")).sparse
    assert sparse.zeros == {"W": "skip", "I": "skip"}
    assert {c for c, t in sparse.formats if t == "W"} == {"dram", "filter_buffer", "weights_spad"}


# ---- seed 000's enablers as transforms ----------------------------------------------------------------------


def small_dense_net(rng, n=12, hidden=6, classes=3):
    w1, w2 = rng.standard_normal((hidden, n)).astype(np.float32), rng.standard_normal((classes, hidden))
    return net_of(replace(dense("fc1", "x", "h", 1, hidden, n), weights={"W": w1}),
                  replace(dense("fc2", "h", "y", 1, classes, hidden), weights={"W": w2.astype(np.float32)}))


def test_random_pruning_removes_exactly_the_fraction_asked_and_needs_no_weights():
    """Seed 000's CP: uniformly random connections removed, exactly round(f × size) per layer, seeded; a network
    loaded shapes-only (no weight values) gets its masks too."""
    net = load_onnx(ROOT / "workloads/trained/lenet5.onnx")
    pruned = prune(net, "random", 0.3, seed=1)
    for before, after in zip(net.layers, pruned.layers):
        if after.weight_mask is not None:
            w = before.weights["W"]
            assert after.weight_mask.sum() == w.size - round(0.3 * w.size)
            assert np.array_equal(after.weights["W"] != 0, after.weight_mask & (w != 0))
    again = prune(net, "random", 0.3, seed=1)
    assert all(np.array_equal(a.weight_mask, b.weight_mask) for a, b in zip(pruned.layers, again.layers)
               if a.weight_mask is not None)
    shapes = prune(load_onnx(ROOT / "workloads/trained/lenet5.onnx", weights=False), "random", 0.5)
    assert sum(int(l.weight_mask.sum()) for l in shapes.layers if l.weight_mask is not None) * 2 == \
        sum(l.bounds.weight_size for l in shapes.mac_layers)


def test_magnitude_nm_and_filter_pruning_keep_what_they_should():
    w = np.array([[0.1, -5, 3, 0.2, 4, -0.5, 0.05, 1], [9, 8, -7, 6, 0.1, 0.2, 0.3, -0.4]], np.float32)
    net = net_of(replace(dense("fc", "x", "y", 1, 2, 8), weights={"W": w}))
    mag = prune(net, "magnitude", 0.5).layers[0]
    assert np.abs(w[mag.weight_mask]).min() >= np.abs(w[~mag.weight_mask]).max()
    nm = prune(net, "n:m", (2, 4)).layers[0].weight_mask  # the 2 largest |w| of every 4 consecutive inputs
    assert nm.tolist() == [[False, True, True, False, True, False, False, True],
                           [True, True, False, False, False, False, True, True]]
    filt = prune(net, "filter", 0.5).layers[0].weight_mask  # filter 0 has the smaller L1 norm
    assert not filt[0].any() and filt[1].all()
    assert parse_pruning("2:4") == ("n:m", (2, 4)) and parse_pruning("random:0.5") == ("random", 0.5)
    for bad in ("random:1.5", "random", "5:4", "prune:0.3"):
        with pytest.raises(AccelsimError, match="--prune"):
            parse_pruning(bad)


def test_cs_projection_is_rademacher_and_priced_as_additions():
    """Seed 000 §III: a normalised Rademacher projection; on hardware additions and sign flips (no multiplier):
    its MACs are priced as the array's 16-bit add (arch/eyeriss.yaml's op energy)."""
    phi = rademacher(64, 16, seed=3)
    assert phi.shape == (64, 16) and set(np.unique(phi * 8)) == {-1.0, 1.0}
    assert np.array_equal(phi, rademacher(64, 16, seed=3)) and not np.array_equal(phi, rademacher(64, 16, seed=4))
    net = cs(small_dense_net(np.random.default_rng(0), n=64), 16, seed=3)
    assert [l.name for l in net.layers] == ["cs", "fc1", "fc2"] and net.layers[1].bounds.C == 16
    r = simulate(net, "arch/eyeriss.yaml", samples=30).layers[0]
    assert r.counts["pe_array"]["add"] == 64 * 16 and "mac" not in r.counts["pe_array"]
    assert r.energy_pj["pe_array"] == pytest.approx(64 * 16 * 0.147 + r.counts["pe_array"]["idle"] * 0.1729)


def test_cs_refit_by_least_squares_is_exact_when_nothing_is_lost():
    """With as many measurements as features, Φ is invertible: the refit first layer computes what it did."""
    rng = np.random.default_rng(1)
    net = small_dense_net(rng)
    x = rng.standard_normal((40, 12)).astype(np.float32)
    full = cs(net, 12, seed=0, calibration=x)
    assert np.allclose(run(full, x), run(net, x), atol=1e-3)
    reduced = cs(net, 4, seed=0, calibration=x)  # fewer measurements: the best it can do is least squares
    assert not np.allclose(run(reduced, x), run(net, x), atol=1e-3)


def test_exits_and_confidences_by_hand():
    assert confidence(np.array([[0.0, np.log(3.0)]])) == pytest.approx(0.75)
    assert confidence(np.array([[0.2, 0.8]])) == pytest.approx(0.8)  # already probabilities
    first = np.array([0.95, 0.5, 0.91, 0.2])
    second = np.array([0.1, 0.99, 0.3, 0.6])
    assert exits_taken([first, second, np.ones(4)], [0.9, 0.95]).tolist() == [0, 1, 0, 2]


def test_early_exit_weights_each_exit_by_the_data_leaving_there():
    """A pruned LeNet first, the full one second: energy per inference = share leaving at 1 × E1 + share at 2 ×
    (E1 + E2), with E from separate simulations; accuracy from the exits taken; a stage that repeats the first
    (an exit branch with no layers of its own) adds nothing."""
    lenet = load_onnx(ROOT / "workloads/trained/lenet5.onnx")
    small = prune(lenet, "magnitude", 0.7)
    res = early_exit([small, lenet], [0.8], "digits", "arch/eyeriss.yaml", spec="float")
    e1, e2 = (simulate(n, "arch/eyeriss.yaml", zero_fractions=evaluate(n, "digits")["zero_fractions"])
              .total["energy_pj"] for n in (small, lenet))
    share = res["exits"][0]["exits"]
    assert 0 < share < 1
    assert res["energy_pj"] == pytest.approx(share * e1 + (1 - share) * (e1 + e2))
    same = early_exit([lenet, lenet], [0.8], "digits", "arch/eyeriss.yaml", spec="float")
    assert same["exits"][1]["energy_pj"] == same["exits"][0]["energy_pj"] == same["energy_pj"]
    assert same["accuracy"] == pytest.approx(same["last_stage_only"]["accuracy"])


def test_transform_cli_writes_a_pruned_model_the_timing_path_reads(tmp_path, capsys):
    out = tmp_path / "pruned.onnx"
    assert cli(["transform", str(ROOT / "workloads/trained/lenet5.onnx"), "--prune", "random:0.5",
                "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    net = load_onnx(out)
    original = load_onnx(ROOT / "workloads/trained/lenet5.onnx")
    for a, b in zip(net.mac_layers, original.mac_layers):
        assert (a.weights["W"] == 0).sum() == round(0.5 * b.weights["W"].size)
    assert cli(["run", str(out), "--arch", "arch/eyeriss_sparse.yaml", "--sparse", "--json"]) == 0
    sparse_run = json.loads(capsys.readouterr().out)
    dense_run = simulate(original, "arch/eyeriss_sparse.yaml").to_dict()
    assert sparse_run["total"]["cycles"] < dense_run["total"]["cycles"]
    assert cli(["transform", str(ROOT / "workloads/trained/lenet5.onnx"), "--out", str(out)]) == 2


def test_transform_cli_cs_model_evaluates_like_the_api(tmp_path):
    src = ROOT / "workloads/trained/seed000_cs_mlp.onnx"
    out = tmp_path / "cs.onnx"
    net = load_onnx(src)
    x = digits("train").for_network(net).x
    feed = run(net, x, keep=True)[net.mac_layers[0].inputs[0]]
    api = cs(net, 64, seed=5, calibration=feed)
    assert cli(["transform", str(src), "--cs", "64", "--calibration", "digits", "--seed", "5", "--out", str(out)]) == 0
    written = load_onnx(out)
    assert [l.name for l in written.mac_layers][:2] == ["cs", net.mac_layers[0].name]
    assert evaluate(written, "digits")["accuracy"] == evaluate(api, "digits")["accuracy"]


@pytest.mark.parametrize("argv, code, message", [
    (["cascade", "a.onnx", "b.onnx", "--thresholds", "high", "--arch", "arch/eyeriss.yaml", "--dataset", "digits"],
     2, "--thresholds: expected numbers"),
    (["cascade", "a.onnx", "b.onnx", "--thresholds", "0.9,0.8", "--arch", "arch/eyeriss.yaml", "--dataset", "digits"],
     1, "2 stages need 1 thresholds"),
    (["transform", "m.onnx", "--prune", "random:2", "--out", "o.onnx"], 1, "--prune random:2: the fraction removed"),
])
def test_cascade_and_transform_refuse_bad_requests_before_any_work(argv, code, message, capsys):
    assert cli(argv) == code
    assert message in capsys.readouterr().err
