"""Model transforms of seed 000's enablers (Guicquero & Verdant, ISCAS 2020, §II): connectivity pruning
(:func:`prune`), dimensionality reduction by compressive sensing (:func:`cs`) and dynamically selective execution
(:func:`early_exit`, a cascade of exits with confidence thresholds). Quantization is a number format
(``accelsim.formats``). Each takes and returns a :class:`~accelsim.ir.Network`; ``accelsim transform`` writes the
pruned or projected model as ONNX and ``accelsim cascade`` measures an early-exit cascade on a data set."""
from .cs import cs, rademacher
from .early_exit import early_exit
from .prune import PRUNINGS, parse_pruning, prune

__all__ = ["PRUNINGS", "cs", "early_exit", "parse_pruning", "prune", "rademacher"]
