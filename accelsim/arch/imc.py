"""In-memory computing families: ISAAC-style memristor crossbars (``isaac``) and SRAM compute-in-memory macros
(``sram_cim``). Both are arrays of ``rows`` word lines holding weights, read by DACs and ADCs; they differ only
in their ``analog:`` section (see :mod:`accelsim.analog`), sizes and energy tables, so one model serves both.

Mapping (the mapper's view): DRAM -> an on-chip buffer (ISAAC's eDRAM, the macro's peripheral buffer) holding
inputs and outputs -> ``arrays`` arrays in parallel -> inside an array, ``rows`` word lines over the reduction
dims (C, R, S) and ``weights_per_row`` weights over output channels (K); weights stay in the arrays
(weight-stationary). Weights are resident: programmed into the arrays before inference, so their first
fetch costs nothing; a layer larger than all arrays re-fetches and reprograms them (DRAM reads, array writes).
One engine cycle is one whole input vector: ``input_planes`` DAC steps of ``step_ns`` (ISAAC: 16 bit-serial
steps of 100 ns), so ``clock_mhz`` must be 1000 / (step_ns · input_planes) — checked.
Converter counts per MAC (full arrays assumed; partially used rows still convert):
  DAC drives = planes / weights_per_row, ADC conversions = planes · columns_per_weight / rows, one shift-and-add
  per conversion; each conversion is also ``levels`` ADC conversion steps, priced at the ADC's figure of merit.
  The array component's ``read`` is the cell current of one weight for one input vector.
"""
from __future__ import annotations

from ..mapping.hierarchy import Axis, Hierarchy, Storage
from .array import ArrayConfig
from .base import ArchModel


class InMemoryModel(ArchModel):
    dataflows = ("ws",)
    vector_unit = "vector_unit"
    vector_buffer = "buffer"

    def check(self):
        a = self.arch
        a.component("dram", "dram")
        a.component("buffer", "buffer")
        self.word_capacity("buffer")
        a.component("bus", "noc")
        a.component("array", "spad")
        a.component("mac", "compute")
        for unit in ("dac", "adc", "shift_add", "vector_unit"):
            a.component(unit, "unit")
        for key in ("arrays", "rows", "weights_per_row"):
            a.number("array", key, integer=True)
        a.number("vector_unit", "lanes", integer=True)
        cfg = self.config
        if cfg.rows != a.number("array", "rows", integer=True):
            raise a.error("analog.rows", "must equal components.array.rows")
        step_ns = a.number("mac", "step_ns")
        expected = 1000.0 / (step_ns * self.input_planes)
        if abs(a.clock_mhz - expected) > 1e-6 * expected:
            raise a.error("clock_mhz", f"must be 1000 / (step_ns × input planes) = {expected:g} "
                                       f"({self.input_planes} planes of {step_ns:g} ns)")

    @property
    def config(self) -> ArrayConfig:
        return ArrayConfig.of(self.arch)

    @property
    def input_planes(self) -> int:
        """DAC steps per input vector: one per bit (bit-serial) or one (levels)."""
        if self.config.inputs == "levels":
            return 1
        from ..formats import parse
        return parse(self.arch.formats.get("activations", "fixed(8)")).bits

    @property
    def columns_per_weight(self) -> int:
        cfg = self.config
        if cfg.weights == "signed":
            return 1
        from ..formats import parse
        bits = parse(self.arch.formats.get("weights", "fixed(8)")).bits
        return 2 * max(1, -(-(bits - 1) // cfg.cell_bits))  # differential pair of bit slices

    def hierarchy(self, dataflow: str) -> Hierarchy:
        a = self.arch
        rows = a.number("array", "rows", integer=True)
        per_row = a.number("array", "weights_per_row", integer=True)
        buffer = Storage("buffer", frozenset("IO"), self.word_capacity("buffer"),
                         fanout=(Axis("arrays", a.number("array", "arrays", integer=True), frozenset("KCRS")),),
                         noc="bus")
        array = Storage("array", frozenset("W"), rows * per_row, dims=frozenset("NPQ"),
                        fanout=(Axis("rows", rows, frozenset("CRS")), Axis("columns", per_row, frozenset("K"))))
        return Hierarchy((Storage("dram", frozenset("WIO")), buffer, array), mac="mac",
                         dram_bandwidth=a.number("dram", "bandwidth"),
                         dram_latency=a.number("dram", "latency", integer=True, strict=False),
                         pipeline=int(a["mac"].get("pipeline", 0)), resident=frozenset("W"))

    def compute_counts(self, hier: Hierarchy, macs: int, gated: int, cycles: int) -> dict:
        a = self.arch
        rows = a.number("array", "rows", integer=True)
        per_row = a.number("array", "weights_per_row", integer=True)
        planes = self.input_planes
        adc = -(-macs * planes * self.columns_per_weight // rows)
        counts = super().compute_counts(hier, macs, gated, cycles)
        # ADC energy grows with its levels (Walden figure of merit: energy per conversion step), so a
        # conversion is counted once and priced as `levels` conversion steps
        counts.update({"dac": {"convert": -(-macs * planes // per_row)},
                       "adc": {"convert": adc, "conversion_step": adc * self.config.levels},
                       "shift_add": {"op": adc}})
        return counts
