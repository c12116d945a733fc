"""The nest's counts against Timeloop's own reference runs (timeloop-accelergy-exercises, commit 2d55108, copied in
benchmarks/fidelity/timeloop_ref_*.csv): the same architecture and the same mapping give the same accesses, and
the energy at Timeloop's per-access prices agrees within 5%."""
import csv

import pytest

from accelsim.mapping.hierarchy import Axis, Hierarchy, Storage
from accelsim.mapping.nest import LevelMap, Mapping, Nest, Shape, by_component

FIDELITY = "benchmarks/fidelity/"
TENSOR = {"Weights": "W", "Inputs": "I", "Outputs": "O"}

# Timeloop's eyeriss_like example (65 nm): DRAM, a shared GLB of inputs and outputs (weights bypass it), 14 PE
# columns x 12 PEs, per-PE ifmap (12), weights (192) and psum (16) spads in that order; M is our K
EYERISS_LIKE = Hierarchy((
    Storage("DRAM", frozenset("WIO")),
    Storage("shared_glb", frozenset("IO"), 16384 * 8, fanout=(Axis("X", 14, frozenset("QK")), Axis("Y", 12, frozenset("CSK")))),
    Storage("ifmap_spad", frozenset("I"), 12), Storage("weights_spad", frozenset("W"), 192),
    Storage("psum_spad", frozenset("O"), 16)), mac="mac", dram_bandwidth=1, dram_latency=0)

CASES = {
    # example_designs/eyeriss_like/ref_outputs/default_problem/timeloop-mapper.map.txt
    "eyeriss_like/ref_outputs/default_problem": (
        dict(G=1, N=1, K=32, C=3, P=112, Q=112, R=3, S=3), (2, 2),
        [[("P", 8), ("Q", 2), ("K", 4)], [("P", 14), ("Q", 4)], [], [("R", 3)], [("K", 8)]],
        [("Q", 14, "X"), ("C", 3, "Y"), ("S", 3, "Y")]),
    # tutorial 06-mapper-convlayer-eyeriss/ref-output/timeloop-mapper.map.txt (VGG02 layer 5)
    "06-mapper-convlayer-eyeriss": (
        dict(G=1, N=1, K=256, C=128, P=56, Q=56, R=3, S=3), (1, 1),
        [[("Q", 4), ("C", 4), ("P", 7), ("K", 4)], [("K", 2), ("C", 4), ("P", 8)], [], [("R", 3), ("C", 8)],
         [("K", 8)]],
        [("Q", 14, "X"), ("K", 4, "Y"), ("S", 3, "Y")]),
}


def _reference(case):
    rows = {}
    with open(FIDELITY + "timeloop_ref_level_accesses.csv") as f:
        for r in csv.DictReader(f):
            if case in r["source_path"]:
                rows[r["level"], r["dataspace"]] = r
    return rows


def _ours(case):
    bounds, stride, temporal, spatial = CASES[case]
    shape = Shape(tuple((d, bounds[d]) for d in "GNKCPQRS"), stride)
    levels = [LevelMap(list(t)) for t in temporal]
    levels[1].spatial = list(spatial)
    nest = Nest(EYERISS_LIKE, Mapping(levels), shape)
    return nest, nest.counts()


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_mapping_same_accesses_as_timeloop(case):
    ref, (nest, res) = _reference(case), _ours(case)
    counts = res["counts"]

    def total(level, tensor, *fields):
        r = ref[level, tensor]
        return sum(int(r[f] or 0) for f in fields) * int(r["utilized_instances"])

    assert res["macs"] == int(ref["mac", "compute"]["computes_total"])
    with open(FIDELITY + "timeloop_ref_summary.csv") as f:
        cycles = next(int(r["cycles"]) for r in csv.DictReader(f) if case in r["source_path"])
    assert res["steps"] == cycles
    for tl, t in TENSOR.items():  # DRAM: every read and write
        assert counts.get(("DRAM", t), {}).get("read", 0) == total("DRAM", tl, "scalar_reads_per_instance")
        assert counts.get(("DRAM", t), {}).get("write", 0) == total("DRAM", tl, "scalar_updates_per_instance")
    # fills of every on-chip store, the sliding-window deltas of the ifmap spad among them
    assert counts[("shared_glb", "I")]["write"] == total("shared_glb", "Inputs", "scalar_fills_per_instance")
    assert counts[("weights_spad", "W")]["write"] == total("weights_spad", "Weights", "scalar_fills_per_instance")
    assert counts[("ifmap_spad", "I")]["write"] == total("ifmap_spad", "Inputs", "scalar_fills_per_instance")
    # operands read by every MAC; psums updated by every MAC, reloaded when a channel loop above comes back
    assert counts[("weights_spad", "W")]["read"] == total("weights_spad", "Weights", "scalar_reads_per_instance")
    assert counts[("ifmap_spad", "I")]["read"] == total("ifmap_spad", "Inputs", "scalar_reads_per_instance")
    assert counts[("psum_spad", "O")]["write"] == total("psum_spad", "Outputs", "scalar_fills_per_instance",
                                                        "scalar_updates_per_instance")


@pytest.mark.parametrize("case", sorted(CASES))
def test_energy_at_timeloops_prices_within_5_percent(case):
    """Priced per access at what each (level, dataspace) cost in Timeloop's run, our counts give its total.

    Two counting conventions differ and are allowed for here: a psum drained to the buffer is a read of the
    psum spad here (Timeloop counts only the update above), and a multicast to PEs whose input windows overlap
    delivers each distinct word once here (Timeloop's buffer serves each PE column)."""
    ref, (nest, res) = _reference(case), _ours(case)
    ours = timeloop = 0.0
    for (level, ds), r in ref.items():
        if ds == "compute":
            ours += res["macs"] * float(r["energy_per_scalar_access_pJ"])
            timeloop += float(r["energy_total_pJ"])
            continue
        accesses = sum(int(r[f] or 0) for f in ("scalar_reads_per_instance", "scalar_fills_per_instance",
                                                 "scalar_updates_per_instance")) * int(r["utilized_instances"])
        price = float(r["energy_total_pJ"]) / accesses if accesses else 0.0
        ours += sum(res["counts"].get((level, TENSOR[ds]), {}).values()) * price
        timeloop += float(r["energy_total_pJ"])
    assert ours == pytest.approx(timeloop, rel=0.05)
    assert by_component(res["counts"])  # the per-component view sums the same counts
