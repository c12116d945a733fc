"""Off-chip compression of feature maps: DRAM words moved per data word, from the fraction of non-zeros.

Eyeriss's run-length code (Chen et al., JSSC 2017, Sec. V): a pair of a ``run_bits`` zero-run and a
``level_bits`` value, ``pairs_per_word`` pairs in one DRAM word of ``word_bits``. A pair ends at the first
non-zero or after 2^run_bits values (a full run and the value after it), so with independent zeros of
probability z a pair carries (1 - z^(2^run_bits)) / (1 - z) values on average.
"""
from __future__ import annotations

from ..errors import AccelsimError

#: codec name -> its default parameters (the architecture file may override them)
CODECS = {"rlc": {"run_bits": 5, "level_bits": 16, "pairs_per_word": 3, "word_bits": 64}}


def rlc_ratio(density: float, data_bits: int, run_bits: int = 5, level_bits: int = 16, pairs_per_word: int = 3,
              word_bits: int = 64) -> float:
    """DRAM words per ``data_bits`` word under run-length coding; a stream the code would lengthen (dense data)
    is sent raw, so the ratio is at most 1."""
    z = 1.0 - density
    span = 2 ** run_bits
    pairs_per_value = (1.0 - z) / (1.0 - z ** span) if z < 1.0 else 1.0 / span
    words = pairs_per_value / pairs_per_word * word_bits / data_bits
    return min(1.0, words)


def ratio(codec: dict | str | None, density: float, data_bits: int, where: str) -> float:
    """Words moved per word for a tensor of ``density`` under ``codec`` (None: uncompressed)."""
    if codec is None:
        return 1.0
    name, params = (codec, {}) if isinstance(codec, str) else (codec.get("codec"), dict(codec))
    params.pop("codec", None)
    if name not in CODECS:
        raise AccelsimError(f"{where}: unknown codec {name!r} (known: {', '.join(CODECS)})")
    unknown = set(params) - set(CODECS[name])
    if unknown:
        raise AccelsimError(f"{where}: unknown {name} parameter {sorted(unknown)[0]!r} "
                            f"(known: {', '.join(CODECS[name])})")
    return rlc_ratio(density, data_bits, **{**CODECS[name], **params})
