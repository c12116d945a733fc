"""Mappings the mapper found, kept on disk across runs: the next run of the same layer shape on the same
architecture (same hierarchy, prices, objective and budget) reads the mapping instead of searching again.

One small JSON file per entry under ``$ACCELSIM_CACHE`` (default ``$XDG_CACHE_HOME/accelsim/mappings`` or
``~/.cache/accelsim/mappings``), named by a hash of everything the search depends on, written atomically;
``ACCELSIM_CACHE=off`` disables it. A cache that cannot be read or written is skipped, never an error.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from .nest import LevelMap, Mapping

#: bump when the mapper or the nest's rules change, so old entries are not reused
VERSION = 1


def _root() -> Path | None:
    where = os.environ.get("ACCELSIM_CACHE", "")
    if where.lower() in ("off", "0", "no", "false"):
        return None
    if where:
        return Path(where)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "accelsim" / "mappings"


def key(*parts) -> str:
    """A name for what a search depends on (sets sorted: their repr changes with Python's hash seed)."""
    return hashlib.sha256(repr(_stable((VERSION, parts))).encode()).hexdigest()[:32]


def _stable(x):
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__,) + tuple(_stable(getattr(x, f.name)) for f in dataclasses.fields(x))
    if isinstance(x, (set, frozenset)):
        return ("set",) + tuple(sorted((_stable(e) for e in x), key=repr))
    if isinstance(x, dict):
        return ("dict",) + tuple(sorted(((repr(k), _stable(v)) for k, v in x.items()), key=lambda kv: kv[0]))
    if isinstance(x, (list, tuple)):
        return tuple(_stable(e) for e in x)
    return x


def load(name: str) -> Mapping | None:
    root = _root()
    if root is None:
        return None
    try:
        levels = json.loads((root / f"{name}.json").read_text())
        return Mapping([LevelMap([tuple(x) for x in lm["temporal"]], [tuple(x) for x in lm["spatial"]])
                        for lm in levels])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(name: str, mapping: Mapping) -> None:
    root = _root()
    if root is None:
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps([{"temporal": lm.temporal, "spatial": lm.spatial} for lm in mapping.levels]))
        os.replace(tmp, root / f"{name}.json")
    except OSError:
        pass
