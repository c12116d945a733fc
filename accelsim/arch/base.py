"""Base class of an architecture family model (see the plug-in interface in ``accelsim/arch/__init__.py``)."""
from __future__ import annotations

from math import prod

from ..engine.compression import ratio
from ..ir.layer import LAYOUT_OPS, Layer
from ..mapping.hierarchy import TENSOR_NAMES, Hierarchy
from ..mapping.mapper import Pricing
from ..sparsity import policy
from .spec import Arch

#: elementwise activations a MAC array applies on its way out (fused: no extra memory traffic)
FUSABLE = frozenset({"relu", "leakyrelu", "clip", "sigmoid", "tanh", "softsign"})
#: pure data movement: free (the consumer addresses the data differently); flatten is a reshape
FREE = LAYOUT_OPS | {"flatten", "dropout"}


class ArchModel:
    """One architecture family: turns an :class:`Arch` into hierarchies the mapper/engine run on.

    Subclasses set ``dataflows`` (first = default), implement :meth:`hierarchy`, and may override
    :meth:`compute_counts` (per-MAC actions) and the ``vector_*`` attributes (non-MAC layers).
    """

    dataflows: tuple[str, ...] = ()
    #: component and action that price a non-MAC elementwise/pooling operation, and its lanes per cycle
    vector_unit: str = ""
    vector_lanes_key: str = "lanes"
    #: component that buffers a non-MAC layer's data on chip (read and written once per word)
    vector_buffer: str = ""

    def __init__(self, arch: Arch):
        self.arch = arch
        self.check()
        self.sparse = policy(arch)  # what the MACs do with zeros, where tensors are compressed (accelsim.sparsity)

    # ---- to override -------------------------------------------------------------------------------
    def check(self) -> None:
        """Family-specific validation (raise ``self.arch.error(key, problem)``)."""

    def hierarchy(self, dataflow: str) -> Hierarchy:
        raise NotImplementedError

    def fixed_tiles(self, layer: Layer, dataflow: str, mode: str = "fast") -> list | None:
        """The engine tiles of a MAC layer when the dataflow fixes its mapping (a systolic array's folds);
        None (the default) lets the mapper search one."""
        return None

    def compute_counts(self, hier: Hierarchy, macs: int, gated: int, cycles: int) -> dict:
        """Counts of the compute units for a MAC layer: MACs, zero-gated MACs, idle MAC-unit cycles."""
        return {hier.mac: {"mac": macs - gated, "gated_mac": gated,
                           "idle": max(0, cycles * hier.mac_units - macs)}}

    def gate(self, per_tensor: dict, hier: Hierarchy, zero: float) -> None:
        """Zero-gating of operand reads: the compute component's ``gates`` list the stores whose reads a zero
        operand skips (Eyeriss: a zero ifmap gates the filter-scratchpad read with the MAC)."""
        for name in self.arch[hier.mac].get("gates", []) or []:
            for (comp, t), actions in per_tensor.items():
                if comp == name and actions.get("read"):
                    actions["read"] -= round(actions["read"] * zero)

    def mapspace(self, hier: Hierarchy, dataflow: str, shape):
        """Candidate mappings of a layer shape, or None for the mapper's generic sampled space."""
        return None

    # ---- shared ------------------------------------------------------------------------------------
    def cycle_counts(self, cycles: int) -> dict:
        """Components that cost energy every cycle of a layer (clock network, leakage: an energy action ``cycle``)."""
        return {c.name: {"cycle": cycles} for c in self.arch.components.values() if "cycle" in c.energy and cycles}

    def dram_ratio(self, tensor: str, density: float) -> float:
        """DRAM words moved per word of ``tensor`` at ``density`` (the DRAM's ``compression`` per tensor)."""
        codecs = self.arch["dram"].get("compression") or {}
        name = TENSOR_NAMES[tensor]
        return ratio(codecs.get(name), density, self.arch.word_bits, f"{self.arch.path}: components.dram.compression.{name}")

    def pricing(self, hier: Hierarchy, densities: dict) -> Pricing:
        """What the mapper charges for a layer whose tensors have ``densities`` {tensor: non-zero fraction}."""
        table = self.arch.energy_table
        per_cycle = sum(e["cycle"] for e in table.values() if "cycle" in e)
        per_cycle += hier.mac_units * table.get(hier.mac, {}).get("idle", 0.0)
        return Pricing(table, per_cycle, {t: self.dram_ratio(t, d) for t, d in densities.items()})

    @property
    def layer_pipeline(self) -> bool:
        """Whether each layer has hardware of its own, so consecutive inferences overlap layer by layer
        (the architecture file's top-level ``layer_pipeline: true``; ISAAC's inter-layer pipeline)."""
        return bool(self.arch.raw.get("layer_pipeline", False))

    @property
    def default_dataflow(self) -> str:
        return self.dataflows[0]

    def resolve_dataflow(self, dataflow: str | None) -> str:
        dataflow = (dataflow or self.default_dataflow).lower()
        if dataflow not in self.dataflows:
            raise self.arch.error("dataflow", f"'{dataflow}' is not supported by the {self.arch.family} family "
                                              f"(choose from {', '.join(self.dataflows)})")
        return dataflow

    def word_capacity(self, name: str) -> int:
        comp = self.arch.component(name)
        size = comp.size_words
        if size is None or size <= 0:
            raise self.arch.error(f"components.{name}.size_kb", f"must be > 0, got {size}")
        return size

    def vector_cost(self, layer: Layer, fused: bool) -> tuple[dict, int, int, int, str]:
        """(on-chip counts, compute steps, DRAM words in, DRAM words out, note) of a non-MAC layer.

        Layout ops are free. A fused activation costs its operations only. Other layers stream their
        inputs from DRAM through the buffer, run ``ops`` on the vector unit, and write their output back.
        """
        if layer.op in FREE:
            return {}, 0, 0, 0, "layout: free"
        ops = sum(layer.ops.values())
        lanes = int(self.arch.number(self.vector_unit, self.vector_lanes_key, integer=True))
        steps = -(-ops // lanes)
        counts = {self.vector_unit: {"op": ops}} if ops else {}
        if fused:
            return counts, steps, 0, 0, "fused into the previous layer"
        words_in = sum(prod(s) for s in layer.in_shapes)
        words_out = prod(layer.out_shape)
        counts[self.vector_buffer] = {"write": words_in + words_out, "read": words_in + words_out}
        return counts, steps, words_in, words_out, ""
