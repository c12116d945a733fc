"""Architectures: YAML files in ``arch/`` loaded into an :class:`Arch`, and one model class per family.

Plug-in interface — adding an architecture family (e.g. ``isaac``, ``sram_cim``) is one module and one YAML:

1. ``arch/<name>.yaml`` with ``name``, ``family: <family>``, ``clock_mhz``, ``word_bits``, ``formats``
   (operand -> format string, e.g. ``weights: fixed(16,8)``; passed on to ``accelsim.formats.parse``
   untouched) and ``components``: each has a ``kind`` (dram | buffer | spad | noc | compute | unit), its
   parameters (``size_kb``/``size_words``, ``bandwidth`` in words/cycle, ``latency`` in cycles, ...) and an
   ``energy`` table {action: pJ} (scaled by the optional top-level ``energy_scale_pj``); every number's
   source goes in a comment. Generic checks (missing or unknown keys, negative sizes, ...) are done by
   ``spec.py``; a family that reads a new component parameter declares it in ``spec.PARAMETERS``.
2. ``accelsim/arch/<family>.py`` with a subclass of :class:`ArchModel` that sets ``dataflows`` (first is
   the default) and implements ``check()`` (family-specific keys, via ``arch.component`` / ``arch.number``,
   which raise one-line errors) and ``hierarchy(dataflow) -> mapping.Hierarchy``: storage levels outer ->
   inner (DRAM first), which tensors (W, I, O) each keeps, capacities in words, the spatial fanout axes
   (dims each may unroll) and the NoC component carrying them, the MAC component, DRAM bandwidth/latency,
   on-chip bandwidth limits and pipeline fill. Optionally override ``compute_counts`` (per-MAC actions:
   e.g. DAC/ADC conversions of a crossbar) and ``vector_unit``/``vector_buffer`` (non-MAC layers).
3. Register the family in ``FAMILIES`` below: ``"<family>": "accelsim.arch.<family>:<Class>"``.

The mapper, the SimPy engine, the energy model (counts × the energy table) and the reports then work
unchanged: they only see the Hierarchy and the counters named after the components.
"""
from __future__ import annotations

import copy
import importlib

from ..errors import AccelsimError
from .base import ArchModel
from .spec import Arch, Component, apply_override, parse_arch, read_yaml

#: family name -> "module:Class" of its model (the one place a new family is registered)
FAMILIES = {
    "eyeriss": "accelsim.arch.eyeriss:EyerissModel",
    "diannao": "accelsim.arch.diannao:DianNaoModel",
    "isaac": "accelsim.arch.imc:InMemoryModel",
    "sram_cim": "accelsim.arch.imc:InMemoryModel",
    "systolic": "accelsim.arch.systolic:SystolicModel",
}


def load_arch(path, overrides=()) -> Arch:
    """Read, override (``KEY=VALUE`` strings) and validate an architecture file."""
    raw = copy.deepcopy(read_yaml(path))
    if isinstance(raw, dict):
        for assignment in overrides:
            apply_override(raw, assignment, str(path))
    arch = parse_arch(raw, str(path))
    model(arch)  # family-specific validation now, so a bad file fails before any work
    return arch


def model(arch: Arch) -> ArchModel:
    """The family model of an architecture."""
    target = FAMILIES.get(arch.family)
    if target is None:
        raise AccelsimError(f"{arch.path}: family: unknown family '{arch.family}' (known: {', '.join(FAMILIES)})")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(arch)


__all__ = ["Arch", "ArchModel", "Component", "FAMILIES", "load_arch", "model"]
