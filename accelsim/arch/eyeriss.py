"""Eyeriss family: a 2-D PE array under a global buffer, per-PE scratchpads, four dataflows.

Dataflows (Chen, Emer, Sze, ISCA 2016, Sec. III-IV), all on the same array and the same storage budget
(per-PE scratchpad words = the RS spads' total; a dataflow that keeps less in the PE gives the rest to
the global buffer, as the paper's comparison does at equal area):

* ``rs`` row-stationary: PE rows carry filter rows (R) — a PE set of R rows × E columns computes a 2-D
  convolution, with output rows (P) across columns; the rest of each axis replicates sets over
  channels/filters/images (folding = temporal loops above the array). In a PE: the 1-D primitive over S
  and a few input channels (ifmap spad), interleaved filters (weights spad), psums per output (psum spad).
* ``ws`` weight-stationary: each PE keeps weights (R,S,C,K) in its RF; inputs are multicast along rows,
  psums reduced down the columns (Y over C/R/S, X over K).
* ``os`` output-stationary: each PE keeps psums of its own outputs (Y over P/N, X over Q/K); weights are
  multicast, inputs streamed from the buffer.
* ``nlr`` no local reuse: no RF; every operand comes from the global buffer, inputs multicast, psums
  reduced across the array (Y over C, X over K).
"""
from __future__ import annotations

from ..mapping.hierarchy import Axis, Bus, Hierarchy, Storage
from .base import ArchModel

SPADS = ("psum_spad", "weights_spad", "ifmap_spad")

#: per dataflow: dims per array axis, and per kept RF: (tensor, dims allowed in its temporal loops)
DATAFLOWS = {
    "rs": {"Y": "RCK", "X": "PNK",
           "rf": [("psum_spad", "O", "QN"), ("weights_spad", "W", "K"), ("ifmap_spad", "I", "CSQ")]},
    "ws": {"Y": "CRS", "X": "K", "rf": [("weights_spad", "W", "RSCK")]},
    "os": {"Y": "PN", "X": "QK", "rf": [("psum_spad", "O", "KNPQ")]},
    "nlr": {"Y": "C", "X": "K", "rf": []},
}


class EyerissModel(ArchModel):
    dataflows = ("rs", "ws", "os", "nlr")
    vector_unit = "pe_array"
    vector_lanes_key = "rows"  # pooling/activations: one PE row's worth of ALUs per cycle (assumption)
    vector_buffer = "global_buffer"

    def check(self):
        a = self.arch
        a.component("dram", "dram")
        a.component("global_buffer", "buffer")
        a.component("noc", "noc")
        a.component("pe_array", "compute")
        for name in SPADS:
            a.component(name, "spad")
            self.word_capacity(name)
        self.word_capacity("global_buffer")
        for key in ("rows", "cols"):
            a.number("pe_array", key, integer=True)

    def hierarchy(self, dataflow: str) -> Hierarchy:
        a = self.arch
        flow = DATAFLOWS[dataflow]
        rows = a.number("pe_array", "rows", integer=True)
        cols = a.number("pe_array", "cols", integer=True)
        pe_words = sum(self.word_capacity(s) for s in SPADS)  # the per-PE storage budget
        kept = flow["rf"]
        glb_words = self.word_capacity("global_buffer") + (rows * cols * pe_words if not kept else 0)
        glb = Storage("global_buffer", frozenset("WIO"), glb_words,
                      double_buffered=bool(a["global_buffer"].get("double_buffered", False)),
                      fanout=(Axis("Y", rows, frozenset(flow["Y"])), Axis("X", cols, frozenset(flow["X"]))),
                      noc="noc")
        rfs = tuple(Storage(name, frozenset(t), self.word_capacity(name) if dataflow == "rs" else pe_words,
                            dims=frozenset(dims)) for name, t, dims in kept)
        buses = tuple(Bus(n, a[n].get("bandwidth"), ((n, None, None),)) for n in ("global_buffer", "noc")
                      if a[n].get("bandwidth"))
        return Hierarchy((Storage("dram", frozenset("WIO")), glb) + rfs, mac="pe_array",
                         dram_bandwidth=a.number("dram", "bandwidth"),
                         dram_latency=a.number("dram", "latency", integer=True, strict=False),
                         buses=buses)
