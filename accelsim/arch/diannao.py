"""DianNao family (Chen et al., ASPLOS 2014): an NFU of Tn×Tn multipliers fed by NBin, SB and NBout.

Per cycle NFU-1 multiplies Tn inputs (from NBin) by Tn×Tn synapses (from SB); NFU-2's Tn adder trees
reduce each output's Tn products into an accumulator register (partial sums stay there while the input
loops run, and go to NBout only when the output changes); NFU-3 applies the activation. The three stages
pipeline, so a tile costs its steps plus 2 fill cycles. Each buffer has its own DMA from DRAM (modelled as
one shared DRAM channel). Conv, pooling (NFU-2, Tn lanes) and classifier layers map onto the same units:
the "out" axis unrolls output channels (K), the "in" axis input channels and kernel positions (C, R, S).
"""
from __future__ import annotations

from ..mapping.hierarchy import Axis, Hierarchy, Storage
from .base import ArchModel


class DianNaoModel(ArchModel):
    dataflows = ("nfu",)
    vector_unit = "nfu"
    vector_lanes_key = "tn"
    vector_buffer = "nbin"

    def check(self):
        a = self.arch
        a.component("dram", "dram")
        for name in ("nbin", "nbout", "sb"):
            a.component(name, "buffer")
            self.word_capacity(name)
        a.component("nfu", "compute")
        a.component("nfu2_acc", "spad")
        a.component("nfu_bus", "noc")
        a.number("nfu", "tn", integer=True)
        a.number("nfu", "pipeline_stages", integer=True)

    def hierarchy(self, dataflow: str) -> Hierarchy:
        a = self.arch
        tn = a.number("nfu", "tn", integer=True)
        return Hierarchy(
            (Storage("dram", frozenset("WIO")),
             Storage("nbout", frozenset("O"), self.word_capacity("nbout")),
             Storage("sb", frozenset("W"), self.word_capacity("sb")),
             Storage("nbin", frozenset("I"), self.word_capacity("nbin"),
                     fanout=(Axis("out", tn, frozenset("K")),), noc="nfu_bus"),
             Storage("nfu2_acc", frozenset("O"), self.word_capacity("nfu2_acc"), dims=frozenset("CRS"),
                     fanout=(Axis("in", tn, frozenset("CRS")),), noc="nfu_bus")),
            mac="nfu", dram_bandwidth=a.number("dram", "bandwidth"),
            dram_latency=a.number("dram", "latency", integer=True, strict=False),
            pipeline=a.number("nfu", "pipeline_stages", integer=True) - 1)
