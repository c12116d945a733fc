"""Energy = Σ counts × table; non-MAC layers; the Eyeriss dataflow ranking (ISCA 2016)."""
from dataclasses import replace

import numpy as np
import pytest

from accelsim.arch import load_arch
from accelsim.energy import energy_pj
from accelsim.errors import AccelsimError
from accelsim.simulate import simulate
from onnx_builders import sam_net
from sim_helpers import conv, net_of, small_cnn


def test_energy_is_counts_times_table():
    table = {"dram": {"read": 200.0, "write": 210.0}, "pe": {"mac": 1.0, "gated_mac": 0.103}}
    counts = {"dram": {"read": 3, "write": 2}, "pe": {"mac": 10, "gated_mac": 5}}
    assert energy_pj(counts, table) == pytest.approx({"dram": 1020.0, "pe": 10.515})
    with pytest.raises(AccelsimError, match="pe.energy.idle: missing"):
        energy_pj({"pe": {"idle": 4}}, table, "x.yaml: ")


def test_zero_gating_skips_the_mac_and_the_filter_read_only():
    """Eyeriss data gating (JSSC 2017 Sec. V): a zero ifmap gates the MAC and the filter-spad read; nothing else
    changes (same mapping; off-chip compression off so the DRAM words stay equal too)."""
    net = net_of(conv("c", "x", "y", 1, 8, 4, 8, 3))
    arch = load_arch("arch/eyeriss.yaml", ["components.dram.compression={}"])
    dense = simulate(net, arch, samples=30).layers[0]
    fixed = {"c": dense.nest.mapping.to_dict(dense.nest.hier)}
    sparse = simulate(net, arch, density=0.4, mapping=fixed).layers[0]
    macs = dense.macs
    gated = macs - round(macs * 0.4)
    assert sparse.counts["pe_array"]["mac"] == macs - gated and sparse.counts["pe_array"]["gated_mac"] == gated
    reads = dense.counts["weights_spad"]["read"]
    assert sparse.counts["weights_spad"]["read"] == reads - round(reads * 0.6)
    assert sparse.cycles == dense.cycles
    for comp in set(dense.counts) - {"pe_array", "weights_spad"}:
        assert sparse.counts[comp] == dense.counts[comp], comp
    t = arch.energy_table
    assert dense.energy_pj["pe_array"] - sparse.energy_pj["pe_array"] == pytest.approx(
        gated * (t["pe_array"]["mac"] - t["pe_array"]["gated_mac"]))


def test_non_mac_layers():
    r = simulate(small_cnn(), "arch/eyeriss.yaml", samples=30)
    by = {l.name: l for l in r.layers}
    assert by["f"].total_energy_pj == 0 and by["f"].cycles == 0 and "layout" in by["f"].note   # flatten: free
    assert "dram" not in by["r1"].counts and by["r1"].counts["pe_array"]["op"] == 800          # fused ReLU
    assert by["p1"].counts["dram"] == {"read": 800, "write": 200}                             # pooling streams
    assert by["p1"].counts["pe_array"]["op"] == 200 * 4


def test_row_stationary_lowest_energy_per_mac_on_alexnet_conv():
    """Chen, Emer, Sze ISCA 2016 (dataflow comparison on AlexNet CONV layers): RS has the lowest energy/op.
    Measured here on AlexNet CONV3 (13x13x256 -> 384, 3x3), same array and storage budget."""
    net = net_of(conv("conv3", "x", "y", 1, 384, 256, 15, 3))
    per_mac = {df: simulate(net, "arch/eyeriss.yaml", df).total["energy_pj"] / net.total_macs
               for df in ("rs", "ws", "os", "nlr")}
    assert min(per_mac, key=per_mac.get) == "rs", per_mac


def test_pruned_sam_layer_fetches_only_its_kept_parameters(tmp_path):
    """Seed 001 §III-D: pruned SAM parameters cost no memory; an unpruned layer fetches both parameter sets."""

    rng = np.random.default_rng(0)
    net, wp, wm = sam_net(tmp_path, rng, n=64, m=32)
    full = simulate(net, "arch/eyeriss.yaml", samples=30).layers[0]
    assert full.macs == 2 * 64 * 32 - 2 and full.counts["dram"]["read"] >= 2 * 64 * 32 - 2
    keep = rng.random((64, 32)) < 0.05
    keep[0] = True  # every output keeps a parameter
    wp[~keep], wm[~keep] = -np.inf, np.inf
    layer = net.layers[0]
    pruned_net = net.from_layers(net.name, [replace(layer, weights={"W_plus": wp, "W_minus": wm})], net.inputs,
                                 net.outputs)
    pruned = simulate(pruned_net, "arch/eyeriss.yaml", samples=30).layers[0]
    kept = int(np.isfinite(wp).sum() + np.isfinite(wm).sum())
    assert pruned.macs == kept
    terms = -(-kept // 32)  # compressed columns: 32 outputs of ceil(kept / 32) terms
    assert kept <= pruned.counts["dram"]["read"] <= 32 * terms + 64  # weights (padded columns) + at most the input
    assert pruned.total_energy_pj < full.total_energy_pj / 5
