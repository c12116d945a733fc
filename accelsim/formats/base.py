"""What every number format is: a name with parameters, and ``quantize`` (float in, representable floats out).

Formats are small immutable dataclasses; ``str(fmt)`` is their one spelling (the one ``parse`` reads back),
used in CLI flags, architecture files and reports.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import AccelsimError


class FormatError(AccelsimError):
    """A format's parameters out of range. ``problem`` leaves out the format, so ``parse`` can name the text
    as the user wrote it."""

    def __init__(self, fmt, problem: str):
        super().__init__(f"{fmt}: {problem}")
        self.problem = problem


def positional(default=None):
    """A dataclass field written positionally in the spelling, e.g. the 16 of ``fixed(16)``."""
    return field(default=default, metadata={"positional": True})


@dataclass(frozen=True)
class Format:
    """Base class. ``quantize(x, axis)`` returns float64 values the format can hold; ``axis`` is the
    reduction axis for formats that share a scale over blocks or vectors (element-wise formats ignore it)."""

    kind = ""  # the name in the spelling, e.g. "fixed"; set by each subclass
    bits = 32  # storage bits per element (memory traffic scales with it)
    fits_float32 = False  # whether float32 holds every value of the format (a format that checks says so)

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        raise NotImplementedError

    def quantize_counted(self, x, axis: int = -1) -> tuple[np.ndarray, int, int | None]:
        """(``quantize(x, axis)``, how many finite inputs it could not hold, how many of its values are 0 or
        None when not counted); for float32 inputs of a format that :attr:`fits_float32`, float32 values (the
        same numbers: the float32 MAC reads them as they are)."""
        x = np.asarray(x)
        return self._counted(x, axis, np.float32 if x.dtype == np.float32 and self.fits_float32 else np.float64)

    def _counted(self, x, axis: int, dtype) -> tuple[np.ndarray, int, int | None]:
        """:meth:`quantize_counted` with the values in ``dtype``: by default quantize's float64 values, counted
        by numpy (a format whose kernel counts as it goes overrides this, and quantize takes its values)."""
        q = self.quantize(x, axis)
        return q, int(np.count_nonzero(np.isfinite(x) & ~np.isfinite(q))), None

    def require(self, ok: bool, problem: str) -> None:
        """Validation in ``__post_init__``: raise FormatError(problem) unless ``ok``."""
        if not ok:
            raise FormatError(self, problem)

    def __str__(self) -> str:
        args, opts = [], []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.metadata.get("positional"):
                if v is not None:
                    args.append(str(v))
            elif v != f.default:
                opts.append(f"{f.name}={v}")
        inner = ",".join(args + opts)
        return f"{self.kind}({inner})" if inner else self.kind

    @property
    def name(self) -> str:
        return str(self)


def kernel_floats(x) -> np.ndarray:
    """``x`` as the numba kernels take it: a C-contiguous float32 or float64 array (other dtypes as float64)."""
    x = np.asarray(x)
    return np.ascontiguousarray(x if x.dtype in (np.float32, np.float64) else x.astype(np.float64))


def blocks(x: np.ndarray, axis: int, size: int):
    """View ``x`` as (..., n_blocks, size) along ``axis`` (zero-padded), and a function that undoes it."""
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    pad = (-n) % size
    padded = np.pad(moved, [(0, 0)] * (moved.ndim - 1) + [(0, pad)])
    shaped = padded.reshape(*moved.shape[:-1], -1, size)

    def restore(y):
        return np.moveaxis(y.reshape(*moved.shape[:-1], n + pad)[..., :n], -1, axis)
    return shaped, restore
