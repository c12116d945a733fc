"""Systolic family: a TPU-like rows × cols MAC array under three SRAMs (ifmap, filter, ofmap) whose dataflow
fixes the mapping, timed and counted the way SCALE-Sim 3.0.0 does (Samajdar et al., ISPASS 2020;
scalesim/compute/systolic_compute_{ws,os,is}.py, scalesim/topology_utils.py).

A layer is the GEMM of its im2col view: ``M`` output pixels (N·P·Q) × ``Kw`` window terms (C·R·S, in
SCALE-Sim's order r, s, c) × ``N`` filters, one GEMM per group. The dataflow names which operand stays in
the PEs and how the three extents spread over the array (``Sr`` over rows, ``Sc`` over columns, ``T`` in time):

==========  ========================  =====  =====  =====
dataflow    stays in the PEs          Sr     Sc     T
==========  ========================  =====  =====  =====
``ws``      weights                   Kw     N      M
``os``      outputs (partial sums)    M      N      Kw
``is``      inputs                    Kw     M      N
==========  ========================  =====  =====  =====

The array runs ``ceil(Sr/rows) × ceil(Sc/cols)`` folds (columns outer, rows inner), each ``T`` steps plus a
fill and drain that depend only on the array: WS/IS load the stationary operand (``rows`` cycles), skew the
stream in (``rows``) and out (``cols``): ``2·rows + cols − 2``; OS skews both operands in: ``rows + cols − 2``
(its outputs drain while the next fold starts). A partly used fold takes the same time.
Array-side SRAM counts are SCALE-Sim's (every slot of an im2col row counts, padding included): the streamed
operands are read once per step per used row or column, the stationary one once per fold, and every fold
writes its (partial) outputs. Which reads miss the SRAM and come from DRAM is SCALE-Sim's buffer model
(:mod:`accelsim.arch.systolic_sram`); every output word written is drained to DRAM.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate
from math import ceil
from typing import NamedTuple

from ..engine.tiles import Tile
from ..ir.layer import LoopBounds
from ..mapping.hierarchy import Axis, Hierarchy, Storage
from .base import ArchModel

SRAMS = ("ifmap_sram", "filter_sram", "ofmap_sram")
#: per dataflow: the tensor kept in the PE registers, and the loop dims each array axis unrolls
DATAFLOWS = {"ws": ("W", "CRS", "K"), "os": ("O", "NPQ", "K"), "is": ("I", "CRS", "NPQ")}


@dataclass(frozen=True)
class Gemm:
    """One group of a conv/dense layer as a matrix product: ifmap (M × Kw) · filter (Kw × N)."""

    M: int
    Kw: int
    N: int

    @classmethod
    def of(cls, b: LoopBounds) -> "Gemm":
        return cls(b.N * b.P * b.Q, b.C // b.groups * b.R * b.S, b.K // b.groups)


@dataclass(frozen=True)
class Folds:
    """The fold schedule of one GEMM on a rows × cols array under a dataflow, with SCALE-Sim's counts.

    Everything here is closed form; e.g. a 4×4 WS array on a GEMM of M=10, Kw=6, N=5 runs 2 × 2 folds of
    2·4 + 4 + 10 − 2 = 20 cycles: 80 cycles, 10·6·2 = 120 ifmap reads, 6·5 = 30 filter reads and
    10·5·2 = 100 ofmap writes.
    """

    dataflow: str
    rows: int
    cols: int
    gemm: Gemm

    @property
    def spatial(self) -> tuple[int, int, int]:
        """(Sr, Sc, T): the extents over array rows, array columns and time (SCALE-Sim's names)."""
        g = self.gemm
        return {"ws": (g.Kw, g.N, g.M), "os": (g.M, g.N, g.Kw), "is": (g.Kw, g.M, g.N)}[self.dataflow]

    @property
    def row_folds(self) -> int:
        return ceil(self.spatial[0] / self.rows)

    @property
    def col_folds(self) -> int:
        return ceil(self.spatial[1] / self.cols)

    @property
    def count(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def steps(self) -> int:
        """Steps per fold: the temporal extent T."""
        return self.spatial[2]

    @property
    def fill_drain(self) -> int:
        """Cycles a fold costs beyond its T steps."""
        return fill_drain(self.dataflow, self.rows, self.cols)

    @property
    def cycles(self) -> int:
        """Cycles of the whole GEMM (SCALE-Sim reports one less: the index of its last cycle)."""
        return self.count * (self.steps + self.fill_drain)

    def used(self, fr: int, fc: int) -> tuple[int, int]:
        """(rows, columns) of the array fold (fr, fc) uses."""
        sr, sc, _ = self.spatial
        return min(self.rows, sr - fr * self.rows), min(self.cols, sc - fc * self.cols)

    def fold_sram(self, fr: int, fc: int) -> tuple[int, int, int]:
        """(ifmap reads, filter reads, ofmap writes) of one fold at the array's edges."""
        ru, cu = self.used(fr, fc)
        t = self.steps
        return {"ws": (ru * t, ru * cu, cu * t), "os": (ru * t, cu * t, ru * cu),
                "is": (ru * cu, ru * t, cu * t)}[self.dataflow]

    def sram(self) -> tuple[int, int, int]:
        """(ifmap reads, filter reads, ofmap writes) of the whole GEMM, in closed form."""
        g, rf, cf = self.gemm, self.row_folds, self.col_folds
        return {"ws": (g.M * g.Kw * cf, g.Kw * g.N, g.M * g.N * rf),
                "os": (g.M * g.Kw * cf, g.Kw * g.N * rf, g.M * g.N),
                "is": (g.M * g.Kw, g.Kw * g.N * cf, g.M * g.N * rf)}[self.dataflow]


def fill_drain(dataflow: str, rows: int, cols: int) -> int:
    """Cycles each fold adds to its T steps (SCALE-Sim's inter-fold gaps and skews)."""
    return rows + cols - 2 + (rows if dataflow in ("ws", "is") else 0)


class SystolicModel(ArchModel):
    dataflows = ("ws", "os", "is")
    vector_unit = "vector_unit"
    vector_buffer = "ofmap_sram"

    def __init__(self, arch):
        super().__init__(arch)
        self._tiles = {}

    def check(self):
        a = self.arch
        a.component("dram", "dram")
        for name in SRAMS:
            a.component(name, "buffer")
            self.word_capacity(name)
        a.component("pe_array", "compute")
        a.component("vector_unit", "unit")
        for key in ("rows", "cols"):
            a.number("pe_array", key, integer=True)

    @property
    def array(self) -> tuple[int, int]:
        return (self.arch.number("pe_array", "rows", integer=True), self.arch.number("pe_array", "cols", integer=True))

    def hierarchy(self, dataflow: str) -> Hierarchy:
        """DRAM -> the three SRAMs (double-buffered, as SCALE-Sim's scratchpads) -> rows × cols PEs, each
        holding one word of the stationary tensor in its register (``pe_reg``); every tile pays the fold's fill
        and drain. A hand-written mapping file runs on it like on any family; without one the folds are fixed."""
        a = self.arch
        rows, cols = self.array
        kept, row_dims, col_dims = DATAFLOWS[dataflow]
        fanout = (Axis("rows", rows, frozenset(row_dims)), Axis("cols", cols, frozenset(col_dims)))
        srams = tuple(Storage(name, frozenset(t), self.word_capacity(name), double_buffered=True,
                              fanout=fanout if name == SRAMS[-1] else ()) for name, t in zip(SRAMS, "IWO"))
        return Hierarchy((Storage("dram", frozenset("WIO")),) + srams + (Storage("pe_reg", frozenset(kept), 1),),
                         mac="pe_array", dram_bandwidth=a.number("dram", "bandwidth"),
                         dram_latency=a.number("dram", "latency", integer=True, strict=False),
                         pipeline=fill_drain(dataflow, rows, cols))

    def fixed_tiles(self, layer, dataflow: str, mode: str = "fast") -> list[Tile]:
        """The engine tiles of a MAC layer, as SCALE-Sim schedules it (the dataflow fixes the mapping): per
        group, one tile per column fold, i.e. its row folds back to back (a tile per fold would cost the
        SimPy engine 160,000 tiles on ResNet-18 for the same cycles)."""
        from . import systolic_fine, systolic_sram  # they import Folds from here

        b = layer.mapped_bounds
        key = (b, dataflow, mode)
        if key not in self._tiles:
            folds = Folds(dataflow, *self.array, Gemm.of(b))
            active = {name: systolic_sram.active_words(self.word_capacity(name)) for name in SRAMS[:2]}
            walk = systolic_fine.fold_records if mode == "fine" else systolic_sram.fold_records
            records = walk(folds, b, active["ifmap_sram"], active["filter_sram"])
            columns = [records[i:i + folds.row_folds] for i in range(0, len(records), folds.row_folds)]
            written = list(accumulate(sum(r.ofmap_writes for r in column) for column in columns))
            drained = [0] * len(columns)
            for at, words in systolic_sram.drains(written[-1], self.word_capacity("ofmap_sram"), self.array[1]):
                drained[bisect_left(written, at)] += words
            self._tiles[key] = [_tile((g, fc), column, drained[fc], folds.fill_drain, dataflow)
                                for g in range(b.groups) for fc, column in enumerate(columns)]
        return self._tiles[key]


class FoldRecord(NamedTuple):
    """What one fold does: its (row, column) fold index, cycles, array-side SRAM accesses, DRAM reads."""

    fold: tuple[int, int]
    cycles: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int
    ifmap_dram: int
    filter_dram: int


def _tile(index, records: list[FoldRecord], drained: int, fill: int, dataflow: str) -> Tile:
    """An engine tile of consecutive folds: SRAM fills from DRAM, reads and writes by the array, the words the
    ofmap SRAM drains to DRAM meanwhile, and the stationary words loaded into PE registers (WS, IS). Its steps
    are the folds' cycles less the one fill and drain the engine adds to every tile."""
    cycles, i_reads, f_reads, o_writes, i_dram, f_dram = (sum(column) for column in list(zip(*records))[1:])
    kept = DATAFLOWS[dataflow][0]
    counts = {("ifmap_sram", "I"): {"read": i_reads, "write": i_dram},
              ("filter_sram", "W"): {"read": f_reads, "write": f_dram},
              ("ofmap_sram", "O"): {"write": o_writes, "read": drained},
              ("pe_reg", kept): {"write": {"ws": f_reads, "is": i_reads}.get(dataflow, 0)}}
    return Tile(index, load={"I": i_dram, "W": f_dram}, store={"O": drained}, steps=cycles - fill, counts=counts)
