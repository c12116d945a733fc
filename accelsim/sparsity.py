"""Zeros in the timing path: pruned weights and sparse activations, and what the hardware does with them.

What a layer brings: ``Layer.weight_mask`` says which weights are non-zero (set by ``accelsim.transforms.prune``,
or read from a model's real weights by :func:`weight_zeros`); its input activations carry the fraction of zeros
measured on data (``simulate(zero_fractions=...)``, from the functional path).

What an architecture declares, after Sparseloop's split of format, gating and skipping (Wu, Tsai, Emer, Sze,
MICRO 2022), per tensor (``weights``, ``inputs``):

* on the compute component, ``zeros: {weights: M, inputs: M}`` with M one of ``gate`` — a MAC with a zero operand
  is clock-gated: it costs ``gated_mac`` energy but its cycle (the default, as seed 003 §5.3.1 describes Eyeriss:
  "clock gating ... when either the weight or the activation was detected as zero"); ``skip`` — the MAC is never
  issued: its cycle, its energy and its own operand accesses are saved; ``none`` — zeros are computed like any value.
  Skipping needs to know where the next non-zero is: it takes effect only where the store the MACs read the
  tensor from keeps it in a sparse format (its metadata points at the non-zeros); elsewhere the zeros gate.
* on a storage component, ``sparse_format: {weights: F, inputs: F}`` — the tensor is kept compressed there: its
  reads and writes there, and the NoC transfers that fill it, move the non-zero values plus metadata words. F is
  ``bitmask`` (a bit per element), ``rle`` (a ``run_bits`` zero-run per non-zero), ``coo`` (a ``coord_bits``
  coordinate per non-zero, by default wide enough for the level's tile) or ``csr`` (a column coordinate per
  non-zero plus a ``pointer_bits`` offset per row, a row being one filter or one input channel of the tile), as a
  name or a mapping ``{format: rle, run_bits: 4}``. Metadata packs into the component's words and costs their energy.

Exactness. Weight zeros are concrete masks: per DRAM-level tile, the non-zero words of every weight count are
the tile's weight density times its dense words — exact, because each weight of a tile is moved as often as any
other (every count of a tensor sums whole partitions of its tile box, repeated over the loops it ignores) — and
the steps of a tile whose zero-weight MACs are skipped are the nest evaluated innermost first, summing over
temporal loops and taking the maximum over each spatial loop's instances (the slowest instance sets the pace;
an instance runs its own temporal loops between synchronisations). That evaluation factorises into the weight
dimensions (G K C R S, reduced over the non-zero counts of the innermost private boxes with numpy) and the others
(N P Q: chunk counts), so it costs one pass over the mask. The fine mode walks the same MACs one by one
(``engine.fine``) and must agree exactly. Activation zeros are a measured fraction: their effects (skipped input
MACs and their cycles, compressed inputs) are expected values; the MACs' own accesses are saved in proportion to
the MACs skipped, in both modes. Buffers are still sized for dense tiles (the mapper's choice is dense).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import ceil, log2, prod

import numpy as np

from .errors import AccelsimError
from .ir import Absent
from .mapping.hierarchy import DIMS
from .mapping.nest import Nest, dim_stats

MODES = ("gate", "skip", "none")
#: tensors whose zeros an architecture declares (partial sums are dense; ofmaps are compressed off chip by the
#: DRAM's ``compression`` codec)
SPARSE_TENSORS = {"weights": "W", "inputs": "I"}
W_DIMS = ("G", "K", "C", "R", "S")
OTHER_DIMS = tuple(d for d in DIMS if d not in W_DIMS)
#: format -> its parameters
FORMATS = {"bitmask": (), "rle": ("run_bits",), "coo": ("coord_bits",), "csr": ("coord_bits", "pointer_bits")}
RLE_RUN_BITS = 5  # Eyeriss's run-length code: 5-bit zero runs (JSSC 2017 Sec. V)


@dataclass(frozen=True)
class SparseFormat:
    """A compressed representation; its metadata is linear in the non-zeros and the elements it covers."""

    name: str
    run_bits: int = RLE_RUN_BITS
    coord_bits: int | None = None
    pointer_bits: int | None = None

    def rates(self, elements: int, row: int) -> tuple[float, float]:
        """(metadata bits per non-zero, per element) in a tile of ``elements`` made of rows of ``row`` elements."""
        width = lambda n: max(1, ceil(log2(max(n, 2))))  # noqa: E731  bits to index n positions
        if self.name == "bitmask":
            return 0.0, 1.0
        if self.name == "rle":
            return float(self.run_bits), 0.0
        if self.name == "coo":
            return float(self.coord_bits or width(elements)), 0.0
        pointer = self.pointer_bits or width(elements + 1)
        return float(self.coord_bits or width(row)), pointer / row


@dataclass(frozen=True)
class Policy:
    """An architecture's declarations: ``zeros`` {tensor: mode} of the MACs, ``formats`` {(component, tensor): F}."""

    zeros: dict = field(default_factory=lambda: {"W": "gate", "I": "gate"})
    formats: dict = field(default_factory=dict)


def policy(arch) -> Policy:
    """The ``zeros`` of the architecture's compute components and the ``sparse_format`` of its stores, checked."""
    zeros = {"W": "gate", "I": "gate"}
    formats = {}
    for comp in arch.components.values():
        where = f"components.{comp.name}"
        declared = comp.get("zeros")
        if declared is not None:
            if comp.kind != "compute":
                raise arch.error(f"{where}.zeros", "only a compute component says what its MACs do with zeros")
            for name, mode in declared.items():
                key = f"{where}.zeros.{name}"
                _tensor(arch, key, name)
                if mode not in MODES:
                    raise arch.error(key, f"must be one of {', '.join(MODES)}, got {mode!r}")
                zeros[SPARSE_TENSORS[name]] = mode
        for name, spec in (comp.get("sparse_format") or {}).items():
            key = f"{where}.sparse_format.{name}"
            if comp.kind not in ("dram", "buffer", "spad"):
                raise arch.error(f"{where}.sparse_format", "only a store (dram, buffer, spad) keeps a sparse format")
            _tensor(arch, key, name)
            if comp.name == "dram" and name in (comp.get("compression") or {}):
                raise arch.error(key, f"given twice: the DRAM's compression already codes {name}")
            formats[(comp.name, SPARSE_TENSORS[name])] = _format(arch, key, spec)
    return Policy(zeros, formats)


def _tensor(arch, key, name):
    if name not in SPARSE_TENSORS:
        raise arch.error(key, f"unknown tensor (known: {', '.join(SPARSE_TENSORS)}; partial sums stay dense)")


def _format(arch, key, spec) -> SparseFormat:
    params = {"format": spec} if isinstance(spec, str) else dict(spec) if isinstance(spec, dict) else None
    name = (params or {}).pop("format", None)
    if name not in FORMATS:
        raise arch.error(key, f"must be one of {', '.join(FORMATS)} (or a mapping with 'format:'), got {spec!r}")
    for p, v in params.items():
        if p not in FORMATS[name]:
            known = ", ".join(FORMATS[name]) or "none"
            raise arch.error(f"{key}.{p}", f"unknown parameter of {name} (known: {known})")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise arch.error(f"{key}.{p}", f"must be a positive integer, got {v!r}")
    return SparseFormat(name, **params)


# ---- what a layer brings ------------------------------------------------------------------------------------
def weight_zeros(net):
    """A copy of ``net`` whose MAC layers with zero weights carry them as ``weight_mask`` (real weights only: a
    shapes-only placeholder says nothing about its zeros)."""
    def marked(layer):
        w = layer.weights.get("W")
        if layer.op not in ("conv", "dense") or w is None or isinstance(w, Absent) or layer.weight_mask is not None:
            return layer
        mask = np.asarray(w) != 0
        return layer if mask.all() else replace(layer, weight_mask=mask)
    return net.with_layers([marked(l) for l in net.layers])


def nest_mask(layer) -> np.ndarray | None:
    """The layer's weight mask in the nest's layout (G, K/G, C/G, R, S), or None when its weights are dense."""
    mask = layer.weight_mask
    if mask is None or layer.bounds is None:
        return None
    b = layer.mapped_bounds
    g = b.groups
    shape = (g, b.K // g, b.C // g, b.R, b.S)
    if mask.size != prod(shape):
        raise AccelsimError(f"layer {layer.name}: weight mask of shape {mask.shape} does not fit its weights {shape}")
    return np.asarray(mask, bool).reshape(shape)


def sign_adds(layer) -> int:
    """Additions one MAC slot of the layer costs when its multiplications are only signs, else 0: a SAM operation
    is an addition and a comparison (a subtraction: seed 001 §III-D, Table I); a projection whose weights are all
    ±c (a Rademacher CS matrix, seed 000 §II-A) adds or subtracts each input."""
    if layer.op == "sam_dense":
        return 2
    w = layer.weights.get("W")
    if layer.op != "dense" or w is None or isinstance(w, Absent) or w.size == 0:
        return 0
    magnitude = np.abs(w)
    return 1 if magnitude.min() > 0 and magnitude.max() == magnitude.min() else 0


# ---- per layer and nest -------------------------------------------------------------------------------------
@dataclass
class Plan:
    """The policy applied to one nest: formats per counted (component, tensor) with their metadata rates, the
    tensors whose skipping takes effect, and the densities of the activations."""

    formats: dict        # {(component or NoC, tensor): (bits per non-zero, bits per element)}
    skip: frozenset      # tensors whose zero-operand MACs are not issued
    zero_in: float       # fraction of the input activations that are zero (the MACs' view)
    density_in: float    # non-zero fraction of the inputs as stored (compression)
    word_bits: int
    dram: str

    @property
    def active(self) -> bool:
        return bool(self.formats or self.skip)


def plan(pol: Policy, nest: Nest, zero_in: float, density_in: float, word_bits: int) -> Plan:
    """Map the policy's formats onto this nest's levels and the NoCs that fill them."""
    hier = nest.hier
    formats = {}
    for t in ("W", "I"):
        for i, lv in enumerate(hier.levels):
            fmt = pol.formats.get((lv.name, t))
            if fmt is None or t not in lv.keeps:
                continue
            rates = _rates(fmt, nest.shape, t, nest.tile_extents(i))
            formats[(lv.name, t)] = rates
            for parent, child in nest.pairs(t):
                noc = nest.noc_between(parent, child, t) if child == i else None
                if noc is not None:
                    formats.setdefault((noc, t), rates)
    skip = set()
    for t in ("W", "I"):
        keeper = hier.levels[hier.chain(t)[-1]].name
        if pol.zeros[t] == "skip" and (keeper, t) in formats:
            skip.add(t)
    return Plan(formats, frozenset(skip), zero_in, density_in, word_bits, hier.levels[0].name)


def annotate(nest: Nest, tiles: list, mask: np.ndarray) -> None:
    """Fast mode: each tile's effectual MACs, paced steps and non-zero weight words, in closed form from ``mask``.

    The mask is padded to the loop factors and split, per weight dimension, into one axis per loop outside the
    innermost private block (the temporal loops inside every spatial loop) and the inner extent, which is summed:
    non-zeros per private box. Reducing the loop axes innermost first (sum for temporal, max for spatial) down to
    the DRAM-level loops gives each tile's weight part of the paced steps; the other dimensions contribute their
    chunk counts (a spatial loop over them is as slow as its first, fullest instance).
    """
    loops, b1 = nest.loops, nest.boundary(1)
    private = max([b1] + [i + 1 for i, lp in enumerate(loops) if lp.axis is not None])
    sizes, axes, inner_axes, pads = [], [], [], []
    for d, bound in zip(W_DIMS, mask.shape):
        idx = nest.by_dim[d]
        for i in idx:
            if i < private:
                sizes.append(loops[i].factor)
                axes.append(i)
        sizes.append(prod(loops[i].factor for i in idx if i >= private))
        inner_axes.append(len(sizes) - 1)
        pads.append((0, prod(loops[i].factor for i in idx) - bound))
    boxes = np.pad(mask, pads).reshape(sizes).sum(axis=tuple(inner_axes), dtype=np.int64)
    order = sorted(range(len(axes)), key=axes.__getitem__)
    boxes = boxes.transpose(order)
    loop_ids = [axes[k] for k in order]
    outer = sum(1 for i in loop_ids if i < b1)
    nonzero = boxes.sum(axis=tuple(range(outer, boxes.ndim)))
    paced = boxes
    for i in reversed(loop_ids[outer:]):
        paced = paced.max(axis=-1) if loops[i].axis is not None else paced.sum(axis=-1)
    for tile in tiles:
        key = tuple(tile.index[i] for i in loop_ids[:outer])
        ext = nest.dram_tile(tile.index)
        z, size = int(nonzero[key]), prod(ext[d] for d in W_DIMS)
        tile.effectual = z * prod(ext[d] for d in OTHER_DIMS)
        chunks = prod(sum(dim_stats(ext[d], tuple(loops[i].factor for i in nest.by_dim[d] if i >= b1),
                                    tuple(loops[i].axis is None for i in nest.by_dim[d] if i >= b1), 1).values())
                      for d in OTHER_DIMS)
        tile.paced_steps = int(paced[key]) * chunks
        tile.nonzero = {k: {a: _share(n, z, size) for a, n in acts.items()} for k, acts in tile.counts.items()
                        if k[1] == "W"}
        if tile.load.get("W"):
            tile.nonzero[(nest.hier.levels[0].name, "W")] = {"read": _share(tile.load["W"], z, size)}


def _share(n: int, z: int, size: int) -> int:
    """The non-zero part of ``n`` words of a tile whose weights are ``z`` of ``size`` non-zero."""
    q, r = divmod(n * z, size)
    return q if not r else round(n * z / size)


def apply(nest: Nest, tiles: list, p: Plan) -> None:
    """Rewrite each tile's steps, counts and DRAM loads for the plan: skipped MACs take neither cycles nor their
    operand accesses; compressed tensors move their non-zeros and metadata."""
    kept_in = 1.0 - p.zero_in if "I" in p.skip else 1.0
    for tile in tiles:
        macs = prod(nest.dram_tile(tile.index).values())
        density_w = tile.effectual / macs if tile.effectual is not None else 1.0
        kept = {"W": density_w if "W" in p.skip else 1.0, "I": kept_in}  # share of the MACs each lets through
        for key, acts in tile.counts.items():
            for action, n in acts.items():
                acts[action] = _words(p, key, n, tile.operand.get(key, {}).get(action, 0),
                                      tile.nonzero.get(key, {}).get(action), kept, density_w)
        for t in list(tile.load):
            tile.load[t] = _words(p, (p.dram, t), tile.load[t], 0, tile.nonzero.get((p.dram, t), {}).get("read"),
                                  kept, density_w)
        if "W" in p.skip and tile.paced_steps is not None:
            tile.steps = tile.paced_steps
        if "I" in p.skip:
            tile.steps = round(tile.steps * kept_in)


def _words(p: Plan, key, n: int, operand: int, nonzero: int | None, kept: dict, density_w: float) -> int:
    """Words of one count: its fills as they are (compressed where the tensor is kept in a format) and its operand
    part in proportion to the MACs issued. A compressed operand is read only at its non-zeros, over the positions
    the MACs that the other operand lets through cover (its metadata tells where its own zeros are)."""
    t = key[1]
    fills = n - operand
    rates = p.formats.get(key)
    if rates is None:
        return fills + round(operand * kept["W"] * kept["I"])
    density = density_w if t == "W" else p.density_in
    covered = operand * kept["I" if t == "W" else "W"]
    fill_values = nonzero - operand * density_w if (t == "W" and nonzero is not None) else fills * density
    values = fill_values + covered * density
    metadata = rates[0] * values + rates[1] * (fills + covered)
    return round(values) + ceil(metadata / p.word_bits - 1e-9)


def dram_ratio(pol: Policy, dram: str, shape, t: str, density: float, word_bits: int) -> float | None:
    """What the mapper charges per dense DRAM word of a tensor kept in a sparse format there (None: no format)."""
    fmt = pol.formats.get((dram, t))
    if fmt is None:
        return None
    per_nonzero, per_element = _rates(fmt, shape, t, dict(shape.bounds))
    return density + (per_nonzero * density + per_element) / word_bits


def _rates(fmt: SparseFormat, shape, t: str, ext: dict) -> tuple[float, float]:
    """The format's metadata rates for tensor ``t`` in a tile of extents ``ext``: its rows are one filter (W) or
    one input channel of one image (I)."""
    elements = shape.tensor_size(t, ext)
    channels = ext["G"] * (ext["K"] if t == "W" else ext["N"] * ext["C"])
    return fmt.rates(elements, max(1, elements // channels))


def mac_counts(pol: Policy, p: Plan | None, macs: int, effectual_w: int, zero: float) -> tuple[int, int]:
    """(MACs issued, of which gated) of a layer: ``effectual_w`` of its ``macs`` have a non-zero weight, a
    ``zero`` fraction of its inputs are zero. Skipped MACs are not issued; a gated one has a zero operand."""
    skip = p.skip if p is not None else frozenset()
    # skipping declared but without a format to find the non-zeros with: the zeros gate (module docstring)
    w_mode, i_mode = ("skip" if t in skip else "none" if pol.zeros[t] == "none" else "gate" for t in "WI")
    if w_mode == "none":
        effectual_w = macs
    density_in = 1.0 - zero if i_mode == "skip" else 1.0
    issued = (effectual_w if w_mode == "skip" else macs) * density_in
    gated = (macs - effectual_w) * density_in if w_mode == "gate" else 0.0
    if i_mode == "gate":
        gated += effectual_w * zero
    return round(issued), round(gated)


def seed001_table1(layer) -> dict[str, int]:
    """A hidden layer's memory footprint and cost as seed 001 Table I counts them (§III-D): N kept parameters
    (weights; a pruned MAC weight is zero, a pruned SAM parameter ±inf); a MAC layer makes N multiplications and
    N additions; a SAM layer none and 2N additions (x + w, and the comparison of max/min as a subtraction).
    ``Layer.ops`` counts the SAM layer exactly instead: also the one addition per output joining max and min."""
    if layer.op == "sam_dense":
        kept = layer.params_of("W_plus", "W_minus")
        return {"parameters": kept, "multiplications": 0, "additions": 2 * kept}
    w = layer.weights["W"]
    kept = int(layer.weight_mask.sum()) if layer.weight_mask is not None else int(np.count_nonzero(w))
    return {"parameters": kept, "multiplications": kept, "additions": kept}
