"""The parameters of one in-memory MAC array and its converters (an architecture's ``analog:`` key), apart from
the functional model (:mod:`accelsim.analog`) so the timing path reads them without loading the kernels."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccelsimError


@dataclass(frozen=True)
class ArrayConfig:
    """One in-memory MAC array and its converters."""

    rows: int = 128
    cell_bits: int = 2
    weights: str = "differential"  # or "signed": a cell holds -1/+1 (binary, XNOR-SRAM)
    inputs: str = "bit_serial"  # or "levels": ±1/0 driven in one step
    adc_bits: int = 8
    adc_levels: int | None = None  # overrides 2**adc_bits (e.g. 11 for XNOR-SRAM's flash ADC)
    adc_full_scale: float = 1.0  # fraction of the worst-case column sum the ADC spans (smaller: finer, clips)
    variation: float = 0.0
    read_noise: float = 0.0
    stuck: float = 0.0
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "ArrayConfig":
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise AccelsimError(f"{where}{bad[0]}: unknown analog option (known: {', '.join(sorted(known))})")
        cfg = cls(**d)
        if cfg.weights not in ("differential", "signed") or cfg.inputs not in ("bit_serial", "levels"):
            raise AccelsimError(f"{where}weights/inputs: weights must be differential|signed, inputs bit_serial|levels")
        if cfg.rows < 1 or cfg.cell_bits < 1 or cfg.adc_bits < 1 or not 0 < cfg.adc_full_scale <= 1:
            raise AccelsimError(f"{where}rows, cell_bits, adc_bits must be >= 1 and adc_full_scale in (0, 1]")
        return cfg

    @classmethod
    def of(cls, arch) -> "ArrayConfig":
        """The array of an architecture file's ``analog:`` section (defaults where it is absent)."""
        return cls.from_dict(dict(arch.raw.get("analog") or {}), f"{arch.path}: analog.")

    @property
    def levels(self) -> int:
        return self.adc_levels or (1 << self.adc_bits)
