"""Number formats: ``parse(text)`` reads the one spelling used everywhere, ``str(fmt)`` writes it back.

Spellings::

    fixed(16)  fixed(16,8)  fixed(8,4,round=trunc,overflow=wrap)  fixed(8,6,csd=2)  fixed(8,4,round=stochastic,seed=1)
    minifloat(4,3)  minifloat(5,2,bias=15,subnormals=False,overflow=sat)
    fp32 tf32 fp16 bf16 dlfloat16 fp8_e4m3 fp8_e5m2 fp4_e2m1
    bfp(8,8,16)  bm(4,3,16)  ternary  ternary(per=layer)  binary  pow2(3)  pow2(3,per=vector)  float

Adding a format: a frozen dataclass subclass of :class:`Format` and one entry in ``KINDS``.
"""
from __future__ import annotations

import re
from dataclasses import fields

import numpy as np

from ..errors import AccelsimError, did_you_mean
from .base import Format, FormatError
from .block import BFP, BlockMinifloat
from .fixed import Fixed, csd_digits, csd_truncate
from .minifloat import PRESETS, Minifloat, preset
from .scaled import Binary, Pow2, Ternary


class Float32(Format):
    """The float32 reference: 'no quantization' in a spec (values are returned as float32, without a copy)."""

    kind = "float"
    bits = 32

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return np.asarray(x, np.float32)


KINDS = {cls.kind: cls for cls in (Fixed, Minifloat, BFP, BlockMinifloat, Ternary, Binary, Pow2)}
_CALL = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.I)
_TYPES = {"int": int, "str": str, "bool": bool, "None": type(None)}  # the fields' annotations


def parse(text) -> Format:
    """A format from its spelling (a Format passes through). Bad text: AccelsimError naming it."""
    if isinstance(text, Format):
        return text
    m = _CALL.match(str(text))
    if not m:
        raise AccelsimError(f"format '{text}': not a format spelling (e.g. fixed(16,8), fp8_e4m3, bfp(8,8,16))")
    kind, inner = m.group(1).lower(), m.group(2)
    if kind in PRESETS and inner is None:
        return preset(kind)
    if kind in ("float", "float32") and inner is None:
        return Float32()
    if kind not in KINDS:
        known = list(KINDS) + list(PRESETS) + ["float"]
        hint = did_you_mean(kind, known) or f" (known: {', '.join(known)})"
        raise AccelsimError(f"format '{text}': unknown format '{kind}'{hint}")
    cls = KINDS[kind]
    types = {f.name: f.type for f in fields(cls)}
    positional = [f.name for f in fields(cls) if f.metadata.get("positional")]
    kwargs, pos = {}, 0
    for part in [p.strip() for p in inner.split(",")] if inner and inner.strip() else []:
        if not part:
            raise AccelsimError(f"format '{text}': empty value between commas")
        key, eq, value = part.partition("=")
        if not eq:
            if pos >= len(positional):
                raise AccelsimError(f"format '{text}': too many positional values ({kind} takes "
                                    f"{', '.join(positional)})")
            key, value = positional[pos], key
            pos += 1
        key = key.strip()
        if key not in types:
            raise AccelsimError(f"format '{text}': unknown option '{key}' (options: {', '.join(types)})")
        if key in kwargs:
            raise AccelsimError(f"format '{text}': {key} given twice")
        kwargs[key] = _typed(key, types[key], value.strip(), text)
    try:
        return cls(**kwargs)
    except FormatError as exc:  # named as the user wrote it
        raise AccelsimError(f"format '{text}': {exc.problem}") from None


def _typed(key: str, annotation: str, v: str, text):
    """The value of option ``key`` (annotated e.g. 'int | None'), read from its spelling ``v``."""
    allowed = [_TYPES[t.strip()] for t in annotation.split("|")]
    if v in ("True", "true", "False", "false"):
        value = v in ("True", "true")
    elif re.fullmatch(r"[+-]?\d+", v):
        value = int(v)
    elif re.fullmatch(r"[a-z_][a-z0-9_]*", v):
        value = v
    else:
        raise AccelsimError(f"format '{text}': bad value '{v}' for {key}")
    if type(value) not in allowed:
        wanted = " or ".join({int: "an integer", str: "a word", bool: "true/false"}[t] for t in allowed
                             if t is not type(None))
        raise AccelsimError(f"format '{text}': {key} must be {wanted}, got '{v}'")
    return value


__all__ = ["Format", "Fixed", "Minifloat", "BFP", "BlockMinifloat", "Ternary", "Binary", "Pow2", "Float32",
           "parse", "preset", "PRESETS", "KINDS", "csd_digits", "csd_truncate"]
