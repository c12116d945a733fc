"""Eyeriss family: a 2-D PE array under a global buffer, per-PE scratchpads, four dataflows.

Dataflows (Chen, Emer, Sze, ISCA 2016, Sec. III-IV; Chen, Krishna, Emer, Sze, JSSC 2017), all on the same array:

* ``rs`` row-stationary, as the chip runs it (JSSC 2017 Sec. IV, Table III): a PE set of R rows × e columns
  computes a 2-D convolution — PE rows hold filter rows, columns produce output rows (e of the E rows of a
  strip), psums accumulate up the columns (the PEs add their neighbour's psum themselves); a set taller or
  wider than the array is folded, small sets are replicated r times over channels and t times over filters;
  inside a PE the 1-D convolution primitive slides one ifmap row under p filters × q channels of S taps held in
  the spads, for n images. The global buffer is split as the chip splits it: ifmaps and psums in one part
  (psums stay on chip), filters in the other. :class:`RowStationary` enumerates this space exhaustively.
* ``ws`` weight-stationary: each PE keeps weights (R,S,C,K) in its RF; inputs are multicast along rows,
  psums reduced down the columns (Y over C/R/S, X over K).
* ``os`` output-stationary: each PE keeps psums of its own outputs (Y over P/N, X over Q/K); weights are
  multicast, inputs streamed from the buffer.
* ``nlr`` no local reuse: no RF; every operand comes from the global buffer, inputs multicast, psums
  reduced across the array (Y over C, X over K).

WS, OS and NLR are compared with RS at equal area, as in ISCA 2016: the same array and the same on-chip
storage (per-PE scratchpad words = the RS spads' total; a dataflow that keeps less in the PE gives the rest to
the global buffer, which is then one buffer of both parts), the same buses, prices and mapper objective.
"""
from __future__ import annotations

from itertools import product
from math import ceil

from ..mapping.hierarchy import Axis, Bus, Hierarchy, Storage
from ..mapping.mapper import divisor_choices
from ..mapping.nest import LevelMap, Mapping, Shape
from .base import ArchModel

SPADS = ("psum_spad", "weights_spad", "ifmap_spad")
NOCS = {"W": "filter_noc", "I": "ifmap_noc", "O": "psum_noc"}

#: per dataflow other than rs: dims per array axis, and per kept RF: (tensor, dims allowed in its temporal loops)
DATAFLOWS = {
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
        for name in ("global_buffer", "filter_buffer"):
            a.component(name, "buffer")
            self.word_capacity(name)
        for name in NOCS.values():
            a.component(name, "noc")
            a.number(name, "width_bits", integer=True)
        a.component("pe_array", "compute")
        for name in SPADS:
            a.component(name, "spad")
            self.word_capacity(name)
        for key in ("rows", "cols"):
            a.number("pe_array", key, integer=True)

    def _buses(self, filter_source: str) -> tuple[Bus, ...]:
        """The chip's on-chip networks (JSSC 2017 Sec. V): filter and psum GINs and the GON 64 bits wide, the
        ifmap GIN 16 bits. Filters fill the PEs' spads between passes (the PE waits: one copy in the spad);
        ifmaps and psums stream under the compute."""
        a = self.arch
        per_cycle = {t: a.number(n, "width_bits", integer=True) / a.word_bits for t, n in NOCS.items()}
        return (Bus("filter_noc", per_cycle["W"], ((filter_source, "W", "read"),), serial=True),
                Bus("ifmap_noc", per_cycle["I"], (("global_buffer", "I", "read"),)),
                Bus("psum_noc in", per_cycle["O"], (("global_buffer", "O", "read"),)),
                Bus("psum_noc out", per_cycle["O"], (("global_buffer", "O", "write"),)))

    def hierarchy(self, dataflow: str) -> Hierarchy:
        a = self.arch
        rows = a.number("pe_array", "rows", integer=True)
        cols = a.number("pe_array", "cols", integer=True)
        dram = Storage("dram", frozenset("WIO"))
        common = dict(mac="pe_array", dram_bandwidth=a.number("dram", "bandwidth"),
                      dram_latency=a.number("dram", "latency", integer=True, strict=False),
                      prefetch=True, store_blocks=True)
        if dataflow == "rs":
            glb = Storage("global_buffer", frozenset("IO"), self.word_capacity("global_buffer"),
                          dims=frozenset("GNKCPQRS"))
            filters = Storage("filter_buffer", frozenset("W"), self.word_capacity("filter_buffer"),
                              dims=frozenset("NPQ"), noc=dict(NOCS),
                              fanout=(Axis("Y", rows, frozenset("RCKP"), chained=True),
                                      Axis("X", cols, frozenset("PK"))))
            spads = (Storage("weights_spad", frozenset("W"), self.word_capacity("weights_spad"), dims=frozenset("NQ")),
                     Storage("ifmap_spad", frozenset("I"), self.word_capacity("ifmap_spad"), dims=frozenset()),
                     Storage("psum_spad", frozenset("O"), self.word_capacity("psum_spad"), dims=frozenset("KCS")))
            return Hierarchy((dram, glb, filters) + spads, buses=self._buses("filter_buffer"), **common)
        flow = DATAFLOWS[dataflow]
        pe_words = sum(self.word_capacity(s) for s in SPADS)  # the per-PE storage budget
        kept = flow["rf"]
        glb_words = self.word_capacity("global_buffer") + self.word_capacity("filter_buffer") + \
            (rows * cols * pe_words if not kept else 0)
        glb = Storage("global_buffer", frozenset("WIO"), glb_words, noc=dict(NOCS),
                      fanout=(Axis("Y", rows, frozenset(flow["Y"]), chained=True),
                              Axis("X", cols, frozenset(flow["X"]))))
        rfs = tuple(Storage(name, frozenset(t), pe_words, dims=frozenset(dims)) for name, t, dims in kept)
        return Hierarchy((dram, glb) + rfs, buses=self._buses("global_buffer"), **common)

    def mapspace(self, hier: Hierarchy, dataflow: str, shape: Shape):
        return RowStationary(hier, shape) if dataflow == "rs" else None


class RowStationary:
    """The row-stationary mapspace of one layer shape, exhaustive within the dataflow's definition.

    ``arrays()`` yields every processing-pass mapping — PE set R × e (folded onto the array if needed),
    replication r (channels) × t (filters) over the sets that fit, p filters × q channels × S taps in the spads
    within their sizes, n images per pass, the full output row slid through each PE — with a default schedule
    above it (psums of as many filter blocks as fit stay in the buffer while channels stream: the chip's
    policy). ``uppers(m)`` yields the schedules above a pass: how many filter blocks, channel blocks, strips and
    images the buffer holds and which reuse each loop order keeps.
    A set is strip-mined only when it does not fit the array even folded (the paper's definition: sets larger
    than the array are folded, then strip-mined). Left out: factors larger than needed for the same number of
    chunks (they cannot win), arrays using under 3/4 of the PEs the best one uses, and of the filter groups p and
    image groups n that fit a pass, all but the three largest (smaller groups refetch more; without this cut a
    transformer's 197 tokens as images would multiply the space by 28).
    """

    UTILIZATION = 0.75
    GROUPS = 3  # filter and image groups per pass kept: the largest that fit

    def __init__(self, hier: Hierarchy, shape: Shape):
        self.hier, self.shape = hier, shape
        lv = {l.name: l for l in hier.levels}
        self.caps = {n: lv[n].capacity for n in ("global_buffer", "filter_buffer", "weights_spad", "ifmap_spad",
                                                   "psum_spad")}
        axes = {a.name: a.size for a in lv["filter_buffer"].fanout}
        self.rows, self.cols = axes["Y"], axes["X"]

    # ---- the pass ---------------------------------------------------------------------------------
    def _spatial(self):
        """(Y loops, X loops, PEs used) of every PE-set placement."""
        sh, rows, cols = self.shape, self.rows, self.cols
        y_r = min(sh["R"], rows) if sh["R"] <= rows else divisor_choices(sh["R"], rows)[-1]
        out = []
        # a PE set is R x E; only a set that does not fit the array even folded is strip-mined into e rows
        fold_room = cols * (rows // y_r)
        widths = [sh["P"]] if sh["P"] <= fold_room else divisor_choices(sh["P"], fold_room)
        for e in widths:
            ey = ceil(e / cols)
            ex = ceil(e / ey)
            sets_y, sets_x = rows // (y_r * ey), cols // ex
            # channel sets stack vertically (their psums add up the columns); filter sets go anywhere
            for (r, ty), tx in product(_pairs(sets_y, sh["C"], sh["K"]), range(1, sets_x + 1)):
                t = ty * tx
                if t > sh["K"] or (tx < sets_x and t < sh["K"] and ty * (tx + 1) <= sh["K"]):
                    continue
                y = [("R", y_r), ("P", ey), ("C", r), ("K", ty)]
                x = [("P", ex), ("K", tx)]
                out.append((y, x, y_r * ey * r * ty * ex * tx, r, t, ey * ex))
        best = max(pes for _, _, pes, *_ in out)
        return [o for o in out if o[2] >= self.UTILIZATION * best]

    def arrays(self):
        """Every pass mapping with the whole output row slid through each PE (the 1-D primitive over full rows);
        only when no such pass fits the buffer, rows are cut into the longest pieces that fit."""
        found = False
        for m in self._arrays(cut_rows=False):
            found = True
            yield m
        if not found:
            yield from self._arrays(cut_rows=True)

    def _arrays(self, cut_rows: bool):
        sh, caps = self.shape, self.caps
        s_in = sh["S"] if sh["S"] <= caps["ifmap_spad"] else divisor_choices(sh["S"], caps["ifmap_spad"])[-1]
        for y, x, _, r, t, e in self._spatial():
            k_left, c_left = ceil(sh["K"] / t), ceil(sh["C"] / r)
            for q in divisor_choices(c_left, caps["ifmap_spad"] // s_in):
                # p filters: their psums in the psum spad, their taps in the filter spad, and the pass's filters
                # (p x t filters of q x r channels, R x S taps) in the filter buffer
                p_room = min(caps["psum_spad"], caps["weights_spad"] // (q * s_in),
                             caps["filter_buffer"] // (t * q * r * y[0][1] * s_in))
                if p_room < 1:
                    continue
                for p in divisor_choices(k_left, p_room)[-self.GROUPS:]:  # the largest filter groups that fit
                    passes = []
                    for n in divisor_choices(sh["N"], sh["N"]):
                        pass_ext = {"N": n, "K": p * t, "C": q * r, "P": e, "Q": sh["Q"], "R": y[0][1], "S": s_in}
                        for q_in in divisor_choices(sh["Q"], sh["Q"])[::-1] if cut_rows else [sh["Q"]]:
                            pass_ext["Q"] = q_in
                            if self._fits(pass_ext, {}):
                                passes.append((n, q_in, pass_ext))
                                break
                    for n, q_in, pass_ext in passes[-self.GROUPS:]:  # the largest image groups (tokens: 197)
                        levels = [LevelMap() for _ in self.hier.levels]
                        levels[2].spatial = [(d, f, "Y") for d, f in y if f > 1] + [(d, f, "X") for d, f in x if f > 1]
                        levels[3].temporal = [("N", n), ("Q", q_in)]
                        levels[5].temporal = [("K", p), ("C", q), ("S", s_in)]
                        yield self._with_upper(levels, pass_ext, *self._default_upper(pass_ext))

    # ---- above the pass ---------------------------------------------------------------------------
    def _remaining(self, pass_ext):
        return {d: ceil(self.shape[d] / pass_ext.get(d, 1)) for d in "GNKCPQRS"}

    def _fits(self, pass_ext, glb):
        ext = {d: min(self.shape[d], pass_ext.get(d, 1) * glb.get(d, 1)) for d in "GNKCPQRS"}
        ext["G"] = 1
        words = self.shape.tensor_size("I", ext) + self.shape.tensor_size("O", ext)
        return words <= self.caps["global_buffer"]

    def _default_upper(self, pass_ext):
        """The chip's policy: one channel block of ifmaps, psums of as many filter blocks as fit; channels
        innermost above the buffer (psums stay on chip)."""
        rem = self._remaining(pass_ext)
        k = max(f for f in divisor_choices(rem["K"], rem["K"]) if f == 1 or self._fits(pass_ext, {"K": f}))
        return {"K": k}, {}, "I", "O"

    def _with_upper(self, levels, pass_ext, glb, fb, glb_order, dram_order):
        rem = self._remaining(pass_ext)
        levels = [LevelMap(list(lm.temporal), list(lm.spatial)) for lm in levels]
        levels[2].temporal = _ordered({d: f for d, f in fb.items() if f > 1}, "W")
        inside = {d: glb.get(d, 1) * fb.get(d, 1) for d in rem}
        levels[1].temporal = _ordered({d: f for d, f in glb.items() if f > 1}, glb_order)
        levels[0].temporal = _ordered({d: ceil(rem[d] / inside[d]) for d in rem if ceil(rem[d] / inside[d]) > 1},
                                      dram_order)
        return Mapping(levels)

    def uppers(self, mapping: Mapping):
        """The schedules above the pass of ``mapping`` that can win: every loop order class of the buffer and of
        DRAM, over the buffer tiles that fit and cannot grow in any dimension (a larger factor never moves more
        DRAM words: fewer refetches of what the larger tile now holds). The filter buffer keeps one pass's
        filters; reuse of them across images or strips is the buffer's order class with N, P innermost."""
        sh = self.shape
        lv = mapping.levels
        pass_ext = dict.fromkeys("NKCPQRS", 1)
        for lm in lv[2:]:
            for d, f, *_ in lm.temporal + lm.spatial:
                pass_ext[d] *= f
        pass_ext = {d: min(v, sh[d]) for d, v in pass_ext.items()}
        if sh.tensor_size("W", {"G": 1, **pass_ext}) > self.caps["filter_buffer"]:
            return
        rem = self._remaining(pass_ext)
        dims = [d for d in "NKCP" if rem[d] > 1] + (["Q"] if pass_ext["Q"] < sh["Q"] else [])
        choices = [divisor_choices(rem[d], rem[d]) for d in dims]
        seen = set()
        for glb_f in self._maximal(pass_ext, dims, choices):
            glb = dict(zip(dims, glb_f))
            for glb_order in ("W", "I", "O"):
                for dram_order in ("W", "I", "O"):
                    m = self._with_upper(lv, pass_ext, glb, {}, glb_order, dram_order)
                    key = (tuple(m.levels[0].temporal), tuple(m.levels[1].temporal))
                    if key not in seen:
                        seen.add(key)
                        yield m

    def _maximal(self, pass_ext, dims, choices, prefix=()):
        """Buffer factor vectors (one per dim, from ``choices``) that fit and where no factor can grow alone."""
        if len(prefix) == len(dims):
            glb = dict(zip(dims, prefix))
            grow = [dict(glb, **{d: nxt[0]}) for d, ch, f in zip(dims, choices, prefix)
                    for nxt in [[c for c in ch if c > f][:1]] if nxt]
            if not any(self._fits(pass_ext, g) for g in grow):
                yield prefix
            return
        i = len(prefix)
        for f in choices[i]:
            partial = dict(zip(dims, prefix + (f,)))
            if not self._fits(pass_ext, partial):
                break  # larger factors of this dim fit even less
            yield from self._maximal(pass_ext, dims, choices, prefix + (f,))


def _pairs(sets: int, c: int, k: int):
    """(channel, filter) replications of a PE set that use all ``sets`` places, or as many as the layer allows."""
    best = min(sets, c * k)
    return [(r, t) for r in range(1, sets + 1) for t in range(1, sets // r + 1)
            if r * t >= best * 0.75 and r <= c and t <= k] or [(1, 1)]


#: for each tensor kept stationary by a level's loop order, the dims placed innermost (irrelevant to it)
_STATIONARY = {"W": ("N", "P", "Q"), "I": ("K",), "O": ("C", "R", "S")}


def _ordered(factors: dict, stationary: str) -> list[tuple[str, int]]:
    """A level's loops (outer -> inner) with the dims the ``stationary`` tensor does not depend on innermost."""
    inner = [d for d in _STATIONARY[stationary] if d in factors]
    outer = [d for d in ("G", "N", "K", "C", "P", "Q", "R", "S") if d in factors and d not in inner]
    return [(d, factors[d]) for d in outer + inner]
