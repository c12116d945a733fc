"""Python API of the timing path: ``simulate(net, arch, dataflow=None, ...) -> Result``.

network -> per layer: mapping (searched, or from a mapping file) -> tiles (fast closed form, or fine
cycle-by-cycle) -> SimPy engine (cycles, stalls) -> counts -> energy = counts × the arch's table.
"""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field, replace
from math import ceil, prod

import numpy as np

from . import sparsity
from .arch import Arch, load_arch, model
from .arch.base import FUSABLE
from .energy import energy_pj, memory_accesses
from .engine.core import run_tiles
from .engine.fine import fine_tiles
from .engine.tiles import Tile, add_counts, compress, every_tile, fast_tiles, tiles_of
from .errors import AccelsimError
from .ir.graph import Network
from .mapping import store
from .mapping.io import build_mapping, format_nest, load_mapping_file
from .mapping.mapper import SAMPLES, score, search
from .mapping.nest import Nest, Shape, by_component


@dataclass
class LayerResult:
    name: str
    op: str
    macs: int
    cycles: int
    stall_cycles: int
    utilization: float
    counts: dict
    energy_pj: dict
    nest: Nest | None = None
    note: str = ""
    trace: list = field(default_factory=list)
    tensor_counts: dict = field(default_factory=dict)  # {(component, tensor): {action: n}} of the memories and NoCs

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    def to_dict(self) -> dict:
        d = {"name": self.name, "op": self.op, "macs": self.macs, "cycles": self.cycles,
             "stall_cycles": self.stall_cycles, "utilization": self.utilization,
             "counts": self.counts, "energy_pj": self.energy_pj}
        if self.nest is not None:
            d["mapping"] = self.nest.mapping.to_dict(self.nest.hier)
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class Result:
    model: str
    arch: str
    dataflow: str
    clock_mhz: float
    params: int
    layers: list[LayerResult]
    storage: set = field(default_factory=set)
    accuracy: float | None = None
    layer_pipeline: bool = False  # layers on their own hardware, overlapping across inferences (ISAAC)
    objective: str = "energy"     # what the mapper minimised
    batch: int = 1                # inputs (images) one run of the network processes

    @property
    def total(self) -> dict:
        return {"macs": sum(l.macs for l in self.layers), "cycles": sum(l.cycles for l in self.layers),
                "energy_pj": sum(l.total_energy_pj for l in self.layers)}

    @property
    def memory_accesses(self) -> int:
        return sum(memory_accesses(l.counts, self.storage) for l in self.layers)

    @property
    def inferences_per_s(self) -> float:
        """Throughput in inputs per second: a batch per latency, or, with an inter-layer pipeline, per slowest
        layer."""
        cycles = max((l.cycles for l in self.layers), default=0) if self.layer_pipeline else self.total["cycles"]
        return self.batch * self.clock_mhz * 1e6 / cycles if cycles else 0.0

    def metrics(self) -> dict:
        """Accuracy per Joule, per parameter, per operation, per memory access (seed 003 §2.2)."""
        if self.accuracy is None:
            return {}
        t = self.total
        joules = t["energy_pj"] * 1e-12
        return {"accuracy": self.accuracy, "accuracy_per_joule": self.accuracy / joules if joules else None,
                "accuracy_per_parameter": self.accuracy / self.params if self.params else None,
                "accuracy_per_mac": self.accuracy / t["macs"] if t["macs"] else None,
                "accuracy_per_memory_access": self.accuracy / self.memory_accesses if self.memory_accesses else None}

    def to_dict(self) -> dict:
        t = self.total
        by_comp = {}
        for layer in self.layers:
            for comp, pj in layer.energy_pj.items():
                by_comp[comp] = by_comp.get(comp, 0.0) + pj
        total = {**t, "latency_ms": t["cycles"] / (self.clock_mhz * 1e3), "memory_accesses": self.memory_accesses,
                 "inferences_per_s": self.inferences_per_s,
                 "energy_by_component_pj": by_comp}
        return {"model": self.model, "arch": self.arch, "dataflow": self.dataflow, "objective": self.objective,
                "batch": self.batch, "clock_mhz": self.clock_mhz,
                "params": self.params, "layers": [l.to_dict() for l in self.layers], "total": total,
                **self.metrics()}


def _dram_traffic(schedule, ratios):
    """Compress each tile's DRAM words per tensor ({tensor: words moved per word}); returns per-tensor totals."""
    totals = {}
    for tile, times in tiles_of(schedule):
        for side, action in ((tile.load, "read"), (tile.store, "write")):
            for t in list(side):
                side[t] = ceil(side[t] * ratios.get(t, 1.0))
                slot = totals.setdefault(t, {})
                slot[action] = slot.get(action, 0) + side[t] * times
    return totals


#: seed 004's multi-precision MAC is counted in passes of its 8×8 unit; a full 16×16 MAC takes 4 (Table 1)
PASS_ACTIONS = {"mac": "mac_pass", "gated_mac": "gated_pass"}
FULL_PASSES = 4


def _mac_layer(layer, fam, hier, *, mapping_spec, objective, mode, trace, zero, densities, cache, samples, where,
               dataflow, bits=None, word_bits=16):
    shape = Shape.of(layer.mapped_bounds, {t: b for t, b in (bits or {}).items() if t in "WIO"}, word_bits)
    if layer.weights_produced:  # a W operand produced at run time (attention's K, V) is never resident or pre-loaded
        hier = replace(hier, resident=hier.resident - {"W"})
    if layer.op == "sam_dense":  # a zero input does not make x + w trivial: SAM operations are never gated
        zero = 0.0
    mask = sparsity.nest_mask(layer)
    pricing = _sparse_pricing(fam.pricing(hier, densities), fam.sparse, hier, shape, mask, densities, word_bits)
    # the mapper prices compression at densities rounded to 5%: its choice does not hinge on the third digit,
    # and runs on data whose zeros differ a little (a precision search's states) reuse its mappings
    rounded = {t: round(d * 20) / 20 for t, d in densities.items()}
    search_pricing = _sparse_pricing(fam.pricing(hier, rounded), fam.sparse, hier, shape, mask, rounded, word_bits)
    passes = _passes(bits)
    ratios = tuple(sorted(pricing.dram_ratio.items()))
    fixed = fam.fixed_tiles(layer, dataflow, mode) if mapping_spec is None else None  # the dataflow fixes them
    if fixed is not None:  # a fixed schedule (the systolic family): dense
        nest = None
        plan = sparsity.Plan({}, frozenset(), zero, 1.0, word_bits, hier.levels[0].name)
        run_key = ("fixed", layer.mapped_bounds, dataflow, hier, passes, mode, ratios)
    else:
        if mapping_spec is not None:
            nest = Nest(hier, build_mapping(hier, shape, mapping_spec, f"{where}: {layer.name}"), shape)
        else:
            try:
                nest = _best_nest(fam, hier, dataflow, shape, search_pricing, objective, samples, cache)
            except AccelsimError as exc:
                raise AccelsimError(f"{where}: layer {layer.name}: {exc}") from None
        plan = sparsity.plan(fam.sparse, nest, zero, densities.get("I", 1.0), word_bits)
        run_key = ("run", repr(nest.mapping), hier, shape, passes, mode, ratios)
    if plan.active:  # the tiles depend on the zeros only when they are skipped or compressed
        run_key += (None if mask is None else hash(np.packbits(mask).tobytes()), tuple(sorted(plan.formats.items())),
                    plan.skip, zero, plan.density_in)
    if trace or run_key not in cache:
        if fixed is not None:  # a copy: the passes and compression below scale the records in place
            tiles = deepcopy(fixed)
        elif mode == "fine":
            tiles = fine_tiles(nest, mask)
        elif plan.active and mask is not None:  # each tile's share of the mask: every tile on its own
            tiles = every_tile(nest)
            sparsity.annotate(nest, tiles, mask)
        else:
            tiles = fast_tiles(nest)
        if plan.active:
            sparsity.apply(nest, [tile for tile, _ in tiles_of(tiles)], plan)
        tiles = compress(tiles)
        for tile, _ in tiles_of(tiles):  # seed 004's MAC takes Table 1's cycles per MAC
            tile.steps *= passes or 1
        dram = _dram_traffic(tiles, {t: r for t, r in pricing.dram_ratio.items() if (plan.dram, t) not in plan.formats})
        slots = 2 if (hier.levels[1].double or hier.prefetch) else 1
        timing = run_tiles(tiles, hier, slots=slots, trace=trace)
        per_tensor = {}
        for tile, times in tiles_of(tiles):
            add_counts(per_tensor, tile.counts, times)
        for t, actions in dram.items():
            add_counts(per_tensor, {(hier.levels[0].name, t): actions})
        cache[run_key] = timing, per_tensor
    timing, per_tensor = cache[run_key]
    per_tensor = {k: dict(v) for k, v in per_tensor.items()}
    if "I" not in plan.skip:
        fam.gate(per_tensor, hier, zero)
    counts = by_component(per_tensor)
    macs = layer.macs
    effectual = macs if mask is None else int(mask.sum()) * prod(dict(shape.bounds)[d] for d in sparsity.OTHER_DIMS)
    issued, gated = sparsity.mac_counts(fam.sparse, plan, macs, effectual, zero)
    compute = fam.compute_counts(hier, issued * (passes or 1), gated * (passes or 1), timing.cycles)
    adds = sparsity.sign_adds(layer)
    if passes:  # counted in passes of its 8x8 unit, each a quarter of a full-width MAC (Table 1)
        compute[hier.mac] = {PASS_ACTIONS.get(a, a): n for a, n in compute[hier.mac].items()}
    elif adds and {"add", "op"} & set(fam.arch.energy_table.get(hier.mac, {})):
        compute[hier.mac]["add"] = adds * compute[hier.mac].pop("mac")  # signs and additions, no multiplications
    add_counts(counts, compute)
    add_counts(counts, fam.cycle_counts(timing.cycles))
    counts = {c: {a: n for a, n in acts.items() if n} for c, acts in counts.items()}
    return LayerResult(layer.name, layer.op, macs, timing.cycles, timing.stall,
                       issued / (timing.cycles * hier.mac_units) if timing.cycles else 0.0,
                       {c: a for c, a in counts.items() if a}, {}, nest, trace=timing.events,
                       tensor_counts=per_tensor)


def _sparse_pricing(pricing, pol, hier, shape, mask, densities, word_bits):
    """The mapper's DRAM price of tensors kept in a sparse format there (their non-zeros and metadata)."""
    ratios = dict(pricing.dram_ratio)
    density = {"W": 1.0 if mask is None else float(mask.mean()), "I": densities.get("I", 1.0)}
    for t in density:
        r = sparsity.dram_ratio(pol, hier.levels[0].name, shape, t, density[t], word_bits)
        if r is not None:
            ratios[t] = r
    return replace(pricing, dram_ratio=ratios)


def _best_nest(fam, hier, dataflow, shape, pricing, objective, samples, cache) -> Nest:
    """The mapper's best nest for a shape (kept in ``cache``). With narrow tensors, the best nest found for the
    same shape at full width competes too (it still fits), so narrowing never costs more than full width."""
    key = ("nest", hier, shape, shape.bits, objective, samples, tuple(sorted(pricing.dram_ratio.items())))
    if key not in cache:
        name = store.key(type(fam).__name__, dataflow, hier, shape, shape.bits, shape.word_bits, objective, samples,
                         pricing)
        found = store.load(name)
        if found is not None and Nest(hier, found, shape).fits():
            best = score(hier, found, shape, pricing)
        else:
            best = search(hier, shape, pricing, objective, samples=samples, space=fam.mapspace(hier, dataflow, shape))
            store.save(name, best.mapping)
        if any(b < shape.word_bits for _, b in shape.bits):
            wide = _best_nest(fam, hier, dataflow, replace(shape, bits=()), pricing, objective, samples, cache)
            best = min(best, score(hier, wide.mapping, shape, pricing), key=lambda s: s.cost(objective))
        cache[key] = best.nest
    return cache[key]


def _passes(bits) -> int:
    """Cycles per MAC of seed 004's multi-precision MAC at the layer's precision (Table 1), 0 without one."""
    if not bits or not bits.get("mac"):
        return 0
    from .kernels.mac import SEED004_TABLE1, canonical
    return SEED004_TABLE1[canonical(bits["mac"])][0]


def _vector_layer(layer, fam, hier, fused, trace, cache, bits=None, word_bits=16):
    counts, steps, words_in, words_out, note = fam.vector_cost(layer, fused)
    if bits and bits.get("I"):  # narrow activations pack into the memories' words
        packed = lambda n: -(-n * bits["I"] // word_bits)  # noqa: E731
        words_in, words_out = packed(words_in), packed(words_out)
        if fam.vector_buffer in counts:
            counts[fam.vector_buffer] = {a: packed(n) for a, n in counts[fam.vector_buffer].items()}
    if not counts and not words_in:
        return LayerResult(layer.name, layer.op, 0, 0, 0, 0.0, {}, {}, note=note)
    tile = Tile((0,), load={"I": words_in}, store={"O": words_out}, steps=steps)
    key = ("vector", hier, words_in, words_out, steps)
    if trace or key not in cache:
        cache[key] = run_tiles([tile], hier, slots=1, trace=trace)
    timing = cache[key]
    if words_in or words_out:
        add_counts(counts, {hier.levels[0].name: {"read": words_in, "write": words_out}})
    add_counts(counts, fam.cycle_counts(timing.cycles))
    return LayerResult(layer.name, layer.op, 0, timing.cycles, timing.stall, 0.0, counts, {},
                       note=note, trace=timing.events)


def _densities(net, zero_fractions, density):
    """{layer: {tensor: non-zero fraction}} of each MAC layer's inputs and outputs: its own inputs from the
    functional path's zeros (or ``density``), its outputs from the inputs of the MAC layer they feed."""
    default = 1.0 if density is None else density
    zeros = zero_fractions or {}
    own = {l.name: 1.0 - zeros[l.name] if l.name in zeros else default for l in net.layers if l.is_mac_layer}
    consumers = {}
    for l in net.layers:
        for t in l.inputs:
            consumers.setdefault(t, []).append(l)
    out = {}
    for l in net.layers:
        if l.name not in own:
            continue
        nxt, tensor = None, l.output
        for _ in range(8):  # through activations, pooling and layout ops to the next MAC layer
            users = consumers.get(tensor, [])
            if len(users) != 1:
                break
            if users[0].is_mac_layer:
                nxt = users[0]
                break
            tensor = users[0].output
        out[l.name] = {"I": own[l.name], "O": own[nxt.name] if nxt is not None else default}
    return out


def simulate(net, arch, dataflow: str | None = None, *, overrides=(), density: float | None = None,
             zero_fractions: dict | None = None, objective: str = "energy", mapping=None, mode: str = "fast",
             trace: bool = False, samples: int = SAMPLES, accuracy: float | None = None, progress=None,
             densities: dict | None = None, precision: dict | None = None, cache: dict | None = None) -> Result:
    """Simulate a network on an architecture.

    ``net``: a Network or an ONNX path; ``arch``: an Arch or a YAML path (``overrides`` = KEY=VALUE).
    Zero-gating and compression: ``zero_fractions`` {layer: fraction of MACs with a zero operand} (from the
    functional path on a data set), else ``1 - density`` for every MAC layer (default density 1: no zeros).
    Pruned weights: a layer's ``weight_mask``; what the hardware does with zeros (gate, skip, sparse formats) is
    the architecture's declaration (``accelsim.sparsity``).
    ``mapping``: a mapping file path or dict {layer: {level: loops}} overriding the mapper for its layers.
    ``mode``: "fast" (closed form per tile) or "fine" (cycle by cycle, per PE; small layers only).
    ``densities`` {layer: {"I" or "O": non-zero fraction}} overrides what off-chip compression assumes of a
    layer's feature maps (by default: its zeros for its inputs, the next MAC layer's for its outputs).
    ``progress``: called with each layer once it is simulated (e.g. to advance a progress bar).
    ``precision``: {layer: {"I", "W", "O": bits[, "mac": precision]}}: each tensor's element width against the
    arch's ``word_bits`` (8-bit elements pack two to a 16-bit word: buffers hold twice as many, traffic halves;
    outputs pack in DRAM, partial sums stay wide on chip); ``"mac": "8x16"`` runs the layer on seed 004's
    multi-precision MAC: Table 1's cycles per MAC (1/2/2/4), counted as passes of its 8×8 unit priced at a quarter
    of the arch's full-width MAC (``mac_pass``, ``gated_pass``: zero-skipping keeps the arch's gated ratio).
    ``cache``: a dict of the mapper's choices and the tiles' timing, reused across calls (default: one per
    architecture and dataflow for the whole process).
    """
    if not isinstance(net, Network):
        from .frontend import load_onnx
        net = load_onnx(net, weights=False)  # the timing path needs shapes only
    if not isinstance(arch, Arch):
        arch = load_arch(arch, overrides)
    if density is not None and not 0.0 <= density <= 1.0:
        raise AccelsimError(f"--density: must be within [0, 1], got {density}")
    if mode not in ("fast", "fine"):
        raise AccelsimError(f"mode: must be 'fast' or 'fine', got {mode!r}")
    mapping_specs = {}
    if mapping is not None:
        mapping_specs = load_mapping_file(mapping) if not isinstance(mapping, dict) else mapping
        unknown = set(mapping_specs) - {l.name for l in net.layers}
        if unknown:
            raise AccelsimError(f"{mapping}: {sorted(unknown)[0]}: no such layer in {net.name}")
    fam = model(arch)
    dataflow = fam.resolve_dataflow(dataflow)
    hier = fam.hierarchy(dataflow)
    if precision and mode == "fine":
        raise AccelsimError("mode 'fine' counts one element per word: run narrow precisions in 'fast' mode")
    table = arch.energy_table
    if hier.mac in table and "op" in table[hier.mac]:  # sign and SAM layers add: an add priced as the vector op
        table[hier.mac].setdefault("add", table[hier.mac]["op"])
    if precision and hier.mac in table:
        table[hier.mac].update({p: table[hier.mac].get(a, 0.0) / FULL_PASSES for a, p in PASS_ACTIONS.items()})
    if cache is None:
        cache = _CACHES.setdefault((arch.path, repr(arch.raw), dataflow), {})
    precision = precision or {}
    found = _densities(net, zero_fractions, density)
    for name, given in (densities or {}).items():
        found.setdefault(name, {}).update(given)
    densities = found
    producers = {l.output: l for l in net.layers}
    layers = []
    for layer in net.layers:
        if layer.is_mac_layer and layer.bounds is not None:
            zero = (zero_fractions or {}).get(layer.name, 1.0 - density if density is not None else 0.0)
            res = _mac_layer(layer, fam, hier, mapping_spec=mapping_specs.get(layer.name), objective=objective,
                             mode=mode, trace=trace, zero=zero, densities=densities[layer.name], cache=cache,
                             samples=samples, where=str(mapping or arch.path), dataflow=dataflow,
                             bits=precision.get(layer.name), word_bits=arch.word_bits)
        else:
            src = producers.get(layer.inputs[0]) if layer.inputs else None
            fused = layer.op in FUSABLE and len(layer.inputs) == 1 and src is not None and src.is_mac_layer
            res = _vector_layer(layer, fam, hier, fused, trace, cache, precision.get(layer.name), arch.word_bits)
        res.energy_pj = energy_pj(res.counts, table, f"{arch.path}: ")
        layers.append(res)
        if progress is not None:
            progress(layer)
    storage = {lv.name for lv in hier.levels} | {c.name for c in arch.components.values()
                                                 if c.kind in ("dram", "buffer", "spad")}
    batch = next(iter(net.inputs.values()), (1,))[0] if net.inputs else 1
    return Result(net.source or net.name, arch.name, dataflow, arch.clock_mhz, net.total_params, layers,
                  storage, accuracy, layer_pipeline=fam.layer_pipeline, objective=objective, batch=batch)


#: per (architecture, dataflow): the mappings found per layer shape and the tiles' timing, reused across layers
#: and runs in one process
_CACHES: dict = {}


def show_mapping(result: Result) -> str:
    """Every MAC layer's loop nest, Timeloop-like."""
    return "\n\n".join(f"== {l.name} ({l.op}) ==\n{format_nest(l.nest)}" for l in result.layers if l.nest)
