"""The systolic family against hand-computed folds, SCALE-Sim 3.0.0's own golden reports, its recorded outputs on
AlexNet / ResNet-18 (benchmarks/scalesim/reference_3.0.0.csv) and, where it is installed, SCALE-Sim itself."""
from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from accelsim.arch import load_arch
from accelsim.arch.systolic import Folds, Gemm
from accelsim.arch.systolic_fine import run_fold
from accelsim.arch.systolic_sram import active_words, drains, new_state, touch_all
from accelsim.cli import main as cli
from accelsim.errors import AccelsimError
from accelsim.scalesim import config_text, figures, load_config, load_topology, run_reference
from accelsim.simulate import simulate

from sim_helpers import conv, dense, net_of

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "scalesim"
HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def small_arch(rows=4, cols=3, kb=64):
    return load_arch(ROOT / "arch" / "systolic.yaml", [f"pe_array.rows={rows}", f"pe_array.cols={cols}",
                                                       *(f"{s}.size_kb={kb}" for s in ("ifmap_sram", "filter_sram",
                                                                                       "ofmap_sram"))])


def topology(tmp_path, *rows, gemm=False):
    path = tmp_path / "layers.csv"
    path.write_text(("Layer Name, M, N, K,\n" if gemm else HEADER) + "".join(f"{r},\n" for r in rows))
    return load_topology(path, gemm=gemm)


# ---- closed form, by hand ---------------------------------------------------------------------------
@pytest.mark.parametrize("dataflow, folds, fold_cycles, sram", [
    # 4x4 array, GEMM M=10 pixels, Kw=6 window terms, N=5 filters:
    # WS: rows over Kw (2 folds), cols over N (2), T = M; fold = 2*4 + 4 + 10 - 2 = 20;
    #     ifmap read per step per row: 10*6 per column fold (x2); filters once (30); outputs per row fold (x2)
    ("ws", (2, 2), 20, (120, 30, 100)),
    # OS: rows over M (3 folds), cols over N (2), T = Kw; fold = 4 + 4 + 6 - 2 = 12;
    #     ifmap 10*6 per column fold (x2), filters 6*5 per row fold (x3), outputs once (50)
    ("os", (3, 2), 12, (120, 90, 50)),
    # IS: rows over Kw (2), cols over M (3), T = N; fold = 2*4 + 4 + 5 - 2 = 15;
    #     ifmap once (60), filters 6*5 per column fold (x3), outputs 10*5 per row fold (x2)
    ("is", (2, 3), 15, (60, 90, 100)),
])
def test_folds_by_hand(dataflow, folds, fold_cycles, sram):
    f = Folds(dataflow, 4, 4, Gemm(M=10, Kw=6, N=5))
    assert (f.row_folds, f.col_folds) == folds
    assert f.steps + f.fill_drain == fold_cycles
    assert f.cycles == folds[0] * folds[1] * fold_cycles
    assert f.sram() == sram
    per_fold = [f.fold_sram(fr, fc) for fr in range(f.row_folds) for fc in range(f.col_folds)]
    assert tuple(map(sum, zip(*per_fold))) == sram


@pytest.mark.parametrize("dataflow, cycles, stalls, sram", [
    # SCALE-Sim 3.0.0's golden reports for topologies/GEMM_mnk/test_mnk_input.csv (M=256, N=128, K=256) on
    # configs/scale.cfg in USER bandwidth mode (scale-sim-v3 test/general/golden_trace_user_{ws,os,is}/
    # COMPUTE_REPORT.csv, DETAILED_ACCESS_REPORT.csv): Total Cycles, Stall Cycles, SRAM IFMAP/Filter reads,
    # OFMAP writes. Its compute cycles are Total - Stall; it counts from 0, and in OS adds rows + cols
    # (32 + 32) per fold (32 folds) to the OFMAP writes.
    ("ws", 52447, 41248, (262144, 32768, 262144)),
    ("os", 52447, 42272, (262144, 262144, 34816 - 32 * 64)),
    ("is", 19984, 5777, (65536, 262144, 262144)),
])
def test_scalesim_golden_gemm(tmp_path, dataflow, cycles, stalls, sram):
    (layer,) = topology(tmp_path, "Test 1, 256, 128, 256", gemm=True).layers
    f = Folds(dataflow, 32, 32, Gemm.of(layer.bounds))
    assert f.cycles - 1 == cycles - stalls
    assert f.sram() == sram


def test_scalesim_golden_calc(tmp_path):
    """SCALE-Sim's golden CALC-mode run (test/general/golden_trace_calc): AlexNet Conv1
    (topologies/conv_nets/alexnet_part.csv) on configs/scale.cfg, WS — every column, DRAM included."""
    arch, dataflow, notes = load_config(DATA / "scale.cfg")
    net = topology(tmp_path, "Conv1,  224, 224,    11, 11,    3,      96,     4")
    result = simulate(net, arch, dataflow)
    assert (dataflow, notes) == ("ws", [])
    assert figures(result.layers[0], net.layers[0], arch, dataflow) == {
        "cycles": 112283, "stalls": 0, "ifmap_sram_reads": 3294225, "filter_sram_reads": 34848,
        "ofmap_sram_writes": 3484800, "ifmap_dram_reads": 1805023, "filter_dram_reads": 34848,
        "ofmap_dram_writes": 3484831}


# ---- SCALE-Sim's buffers, by hand ---------------------------------------------------------------------
def test_read_buffer_windows_by_hand():
    # active half of 3 words: 1 2 (1 hit) 3 fill it; the next half starts empty: 4 1 miss again, (4 hit);
    # it is full at its third word, so after 2 the 4 misses once more
    last, state = new_state(5)
    assert touch_all(np.array([1, 2, 1, 3, 4, 1, 4]), last, state, 3) == 5
    assert touch_all(np.array([2, 4]), last, state, 3) == 2
    assert touch_all(np.array([0, -1, 0]), *new_state(5), 0) == 1  # padding fetches nothing; 0 = never full
    assert active_words(65536) == 32750 and active_words(99) == 0   # 50 sets of floor(words / 100)


def test_write_buffer_drains_by_hand():
    # 8-word buffer (active half 4), lines of 2: the 5th output overflows the half -> its partial line is
    # closed (1 empty slot) and 2 lines (4 words) drain; the 9th output triggers the next 2 lines, the closed
    # partial one among them but not last, so its empty slot counts; the last line drains at the end.
    assert drains(9, 8, 2) == [(5, 4), (9, 4), (9, 2)]
    assert drains(10, 8, 3) == [(5, 5), (10, 5)]  # partial lines last in their drain: exact counts


def test_dram_reads_are_distinct_words_when_they_fit(tmp_path):
    # 8x8x2 ifmap, 2x2 filters at stride 3: windows cover rows/cols 0-1, 3-4, 6-7 -> 6*6*2 = 72 words used
    net = topology(tmp_path, "L, 8, 8, 2, 2, 2, 5, 3")
    for dataflow in ("ws", "os", "is"):
        res = simulate(net, small_arch(), dataflow).layers[0]
        assert res.counts["ifmap_sram"]["write"] == 72
        assert res.counts["filter_sram"]["write"] == 2 * 2 * 2 * 5


# ---- the cycle-by-cycle array -------------------------------------------------------------------------
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_fine_array_computes_the_product(dataflow):
    rng = np.random.default_rng(0)
    A, B = rng.integers(-5, 6, (7, 5)), rng.integers(-5, 6, (5, 6))
    f = Folds(dataflow, 3, 4, Gemm(7, 5, 6))
    O = np.zeros((7, 6))
    macs = 0
    for fr in range(f.row_folds):
        for fc in range(f.col_folds):
            cycles, n, i_edge, f_edge, writes = run_fold(f, fr, fc, A, B, O)
            assert cycles == f.steps + f.fill_drain  # timing emerges from the registers, equals the closed form
            assert (len(i_edge), len(f_edge), writes) == f.fold_sram(fr, fc)
            macs += n
    assert macs == 7 * 5 * 6
    np.testing.assert_array_equal(O, A @ B)


def test_engine_fine_mode_agrees_with_fast():
    net = net_of(conv("c1", "x", "y1", 1, 5, 3, 7, 3, stride=2, pad=1),
                 conv("c2", "y1", "y2", 1, 6, 4, 5, 2, groups=2), dense("fc", "y2", "y3", 2, 7, 20))
    arch = small_arch(kb=1)  # 1 KB SRAMs: 500-word active halves, so the buffers overflow
    for dataflow in ("ws", "os", "is"):
        fast, fine = simulate(net, arch, dataflow), simulate(net, arch, dataflow, mode="fine")
        for layer, a, b in zip(net.layers, fast.layers, fine.layers):
            assert (a.cycles, a.stall_cycles, a.counts) == (b.cycles, b.stall_cycles, b.counts)
            assert a.cycles - a.stall_cycles == layer.bounds.groups * Folds(dataflow, 4, 3, Gemm.of(layer.bounds)).cycles
            assert a.counts["pe_array"]["mac"] == layer.macs


# ---- SCALE-Sim's files --------------------------------------------------------------------------------
def test_configs_import():
    arch, dataflow, _ = load_config(DATA / "scale.cfg")  # SCALE-Sim's configs/scale.cfg, unchanged
    assert (arch["pe_array"].get("rows"), arch["pe_array"].get("cols"), dataflow) == (32, 32, "ws")
    assert arch["ifmap_sram"].size_words == 64 * 1024 and arch["dram"].get("bandwidth") == 30
    arch, _, _ = load_config(DATA / "eyeriss.cfg")  # no [layout] section: SCALE-Sim's defaults
    assert (arch["pe_array"].get("rows"), arch["pe_array"].get("cols"), arch["ofmap_sram"].size_words) == \
        (12, 14, 36 * 1024)


def test_topology_import(tmp_path):
    net = load_topology(DATA / "alexnet.csv")
    conv1 = net.layers[0].bounds  # 224 -> ceil((224 - 11 + 4) / 4) = 55 rows; the last window overhangs by 3
    assert (conv1.P, conv1.Q, conv1.pads, conv1.H) == (55, 55, (0, 0, 3, 3), 224)
    assert net.layers[0].macs == 55 * 55 * 11 * 11 * 3 * 96
    assert [l.op for l in load_topology(DATA / "resnet18.csv").layers][-1] == "dense"  # 1x1 FC
    dw = topology(tmp_path, "Conv_DP, 10, 10, 3, 3, 8, 1, 1").layers[0].bounds  # SCALE-Sim: one layer per channel
    assert (dw.groups, dw.K, dw.C) == (8, 8, 8)


def test_bad_files_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "Conv1, 224, 224, 11,\n")
    with pytest.raises(AccelsimError, match=r"bad.csv: line 2: expected 8 columns"):
        load_topology(bad)
    cfg = tmp_path / "s.cfg"
    cfg.write_text((DATA / "scale.cfg").read_text().replace("SparsitySupport : false", "SparsitySupport : true"))
    with pytest.raises(AccelsimError, match=r"s.cfg: \[sparsity\] SparsitySupport"):
        load_config(cfg)
    cfg.write_text((DATA / "scale.cfg").read_text().replace("ArrayHeight:    32", "ArrayHeight: -3"))
    with pytest.raises(AccelsimError, match=r"s.cfg: \[architecture_presets\] ArrayHeight: must be > 0"):
        load_config(cfg)


def test_cli(tmp_path, capsys):
    topo = tmp_path / "t.csv"
    topo.write_text(HEADER + "Inc5b_3x3, 7, 7, 3, 3, 192, 384, 1,\n")  # SCALE-Sim's topologies/conv_nets/test.csv
    assert cli(["scalesim", "-c", str(DATA / "scale.cfg"), "-t", str(topo)]) == 0
    out = capsys.readouterr().out
    # SCALE-Sim 3.0.0 on this file and config (run once): 77111 cycles, 518400 ifmap SRAM reads
    assert "Inc5b_3x3" in out and "77,111" in out and "518,400" in out


# ---- recorded SCALE-Sim runs: every AlexNet / ResNet-18 layer, both arrays, three dataflows ----------
def _reference():
    path = DATA / "reference_3.0.0.csv"
    return list(csv.DictReader(open(path))) if path.exists() else []


@pytest.mark.parametrize("row", _reference(), ids=lambda r: f"{r['topology']}-{r['layer']}-{r['array']}-{r['dataflow']}")
def test_recorded_scalesim_cycles_and_sram(row):
    layer = load_topology(DATA / f"{row['topology']}.csv")[row["layer"]]
    rows, cols = map(int, row["array"].split("x"))
    f = Folds(row["dataflow"], rows, cols, Gemm.of(layer.bounds))
    extra = f.count * (rows + cols) if row["dataflow"] == "os" else 0
    assert (f.cycles - 1, *f.sram()) == (int(row["cycles"]) - int(row["stalls"]), int(row["ifmap_sram_reads"]),
                                        int(row["filter_sram_reads"]), int(row["ofmap_sram_writes"]) - extra)


def test_recorded_scalesim_dram():
    """DRAM columns of the recorded runs for the layers whose buffer walk is quick (the benchmark checks all)."""
    rows = [r for r in _reference() if int(r["ifmap_sram_reads"]) + int(r["filter_sram_reads"]) < 2_000_000]
    if not rows:
        pytest.skip("no recorded SCALE-Sim runs")
    arches = {"32x32": load_arch(ROOT / "arch" / "systolic.yaml"), "12x14": load_arch(ROOT / "arch" / "systolic_12x14.yaml")}
    for r in rows:
        net = load_topology(DATA / f"{r['topology']}.csv")
        layer = net[r["layer"]]
        res = simulate(net_of(layer), arches[r["array"]], r["dataflow"]).layers[0]
        got = figures(res, layer, arches[r["array"]], r["dataflow"])
        for col in ("ifmap_dram_reads", "filter_dram_reads", "ofmap_dram_writes"):
            assert got[col] == int(r[col]), (r["topology"], r["layer"], r["array"], r["dataflow"], col)


# ---- SCALE-Sim itself, where it is installed -----------------------------------------------------------
def _scalesim_python():
    venv = os.environ.get("ACCELSIM_SCALESIM_VENV")
    python = Path(venv) / "bin" / "python" if venv else None
    if python is None or subprocess.run([str(python), "-c", "import scalesim.scale_sim"],
                                        capture_output=True).returncode:
        pytest.skip("SCALE-Sim 3.0.0 not installed (set ACCELSIM_SCALESIM_VENV to a venv with scalesim)")
    return python


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_live_scalesim(tmp_path, dataflow):
    python = _scalesim_python()
    arch = small_arch(rows=8, cols=6, kb=1)  # 1 KB SRAMs: SCALE-Sim's buffers overflow and refetch
    line = "Small, 15, 15, 3, 3, 8, 16, 2"  # 1,800 ifmap and 1,152 filter words: more than a 500-word half
    (theirs,), _ = run_reference(python, config_text(arch, dataflow), HEADER + line + ",\n")
    net = topology(tmp_path, line)
    res = simulate(net, arch, dataflow).layers[0]
    assert figures(res, net.layers[0], arch, dataflow) == theirs
