"""Python API of the timing path: ``simulate(net, arch, dataflow=None, ...) -> Result``.

network -> per layer: mapping (searched, or from a mapping file) -> tiles (fast closed form, or fine
cycle-by-cycle) -> SimPy engine (cycles, stalls) -> counts -> energy = counts × the arch's table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .arch import Arch, load_arch, model
from .arch.base import FUSABLE
from .energy import energy_pj, memory_accesses
from .engine.core import run_tiles
from .engine.fine import fine_tiles
from .engine.tiles import Tile, add_counts, fast_tiles
from .errors import AccelsimError
from .ir.graph import Network
from .mapping.io import build_mapping, format_nest, load_mapping_file
from .mapping.mapper import SAMPLES, search
from .mapping.nest import Nest, Shape


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

    @property
    def total(self) -> dict:
        return {"macs": sum(l.macs for l in self.layers), "cycles": sum(l.cycles for l in self.layers),
                "energy_pj": sum(l.total_energy_pj for l in self.layers)}

    @property
    def memory_accesses(self) -> int:
        return sum(memory_accesses(l.counts, self.storage) for l in self.layers)

    @property
    def inferences_per_s(self) -> float:
        """Throughput: one inference per latency, or, with an inter-layer pipeline, per slowest layer."""
        cycles = max((l.cycles for l in self.layers), default=0) if self.layer_pipeline else self.total["cycles"]
        return self.clock_mhz * 1e6 / cycles if cycles else 0.0

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
        return {"model": self.model, "arch": self.arch, "dataflow": self.dataflow, "clock_mhz": self.clock_mhz,
                "params": self.params, "layers": [l.to_dict() for l in self.layers], "total": total,
                **self.metrics()}


def _mac_layer(layer, fam, hier, table, *, dataflow, mapping_spec, objective, mode, trace, zero, cache, samples,
               where):
    nest = None
    tiles = fam.fixed_tiles(layer, dataflow, mode) if mapping_spec is None else None
    if tiles is None:
        shape = Shape.of(layer.mapped_bounds)
        if mapping_spec is not None:
            nest = Nest(hier, build_mapping(hier, shape, mapping_spec, f"{where}: {layer.name}"), shape)
        else:
            key = (shape, objective)
            if key not in cache:
                try:
                    cache[key] = search(hier, shape, table, objective, samples=samples).nest
                except AccelsimError as exc:
                    raise AccelsimError(f"{where}: layer {layer.name}: {exc}") from None
            nest = cache[key]
        tiles = fine_tiles(nest) if mode == "fine" else fast_tiles(nest)
    timing = run_tiles(tiles, hier, slots=2 if hier.levels[1].double_buffered else 1, trace=trace)
    counts = {}
    for tile in tiles:
        add_counts(counts, tile.counts)
    dram = hier.levels[0].name
    add_counts(counts, {dram: {"read": sum(t.load for t in tiles), "write": sum(t.store for t in tiles)}})
    macs = layer.macs
    gated = round(macs * zero)
    add_counts(counts, fam.compute_counts(hier, macs, gated, timing.cycles))
    counts = {c: {a: n for a, n in acts.items() if n} for c, acts in counts.items()}
    return LayerResult(layer.name, layer.op, macs, timing.cycles, timing.stall,
                       macs / (timing.cycles * hier.mac_units) if timing.cycles else 0.0,
                       {c: a for c, a in counts.items() if a}, {}, nest, trace=timing.events)


def _vector_layer(layer, fam, hier, fused, trace):
    counts, steps, words_in, words_out, note = fam.vector_cost(layer, fused)
    if not counts and not words_in:
        return LayerResult(layer.name, layer.op, 0, 0, 0, 0.0, {}, {}, note=note)
    tile = Tile((0,), load=words_in, store=words_out, steps=steps, counts=counts)
    timing = run_tiles([tile], hier, slots=1, trace=trace)
    if words_in or words_out:
        add_counts(counts, {hier.levels[0].name: {"read": words_in, "write": words_out}})
    return LayerResult(layer.name, layer.op, 0, timing.cycles, timing.stall, 0.0, counts, {},
                       note=note, trace=timing.events)


def simulate(net, arch, dataflow: str | None = None, *, overrides=(), density: float | None = None,
             zero_fractions: dict | None = None, objective: str = "energy", mapping=None, mode: str = "fast",
             trace: bool = False, samples: int = SAMPLES, accuracy: float | None = None) -> Result:
    """Simulate a network on an architecture.

    ``net``: a Network or an ONNX path; ``arch``: an Arch or a YAML path (``overrides`` = KEY=VALUE).
    Zero-gating: ``zero_fractions`` {layer: fraction of MACs with a zero operand} (from the functional
    path on a data set), else ``1 - density`` for every MAC layer (default density 1: no zeros).
    ``mapping``: a mapping file path or dict {layer: {level: loops}} overriding the mapper for its layers.
    ``mode``: "fast" (closed form per tile) or "fine" (cycle by cycle, per PE; small layers only).
    """
    if not isinstance(net, Network):
        from .frontend import load_onnx
        net = load_onnx(net)
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
    table = arch.energy_table
    cache = {}
    producers = {l.output: l for l in net.layers}
    layers = []
    for layer in net.layers:
        if layer.is_mac_layer and layer.bounds is not None:
            zero = (zero_fractions or {}).get(layer.name, 1.0 - density if density is not None else 0.0)
            res = _mac_layer(layer, fam, hier, table, dataflow=dataflow, mapping_spec=mapping_specs.get(layer.name),
                             objective=objective, mode=mode, trace=trace, zero=zero, cache=cache,
                             samples=samples, where=str(mapping or arch.path))
        else:
            src = producers.get(layer.inputs[0]) if layer.inputs else None
            fused = layer.op in FUSABLE and len(layer.inputs) == 1 and src is not None and src.is_mac_layer
            res = _vector_layer(layer, fam, hier, fused, trace)
        res.energy_pj = energy_pj(res.counts, table, f"{arch.path}: ")
        layers.append(res)
    storage = {lv.name for lv in hier.levels} | {c.name for c in arch.components.values()
                                                 if c.kind in ("dram", "buffer", "spad")}
    return Result(net.source or net.name, arch.name, dataflow, arch.clock_mhz, net.total_params, layers,
                  storage, accuracy, layer_pipeline=fam.layer_pipeline)


def show_mapping(result: Result) -> str:
    """Every MAC layer's loop nest, Timeloop-like."""
    return "\n\n".join(f"== {l.name} ({l.op}) ==\n{format_nest(l.nest)}" for l in result.layers if l.nest)
