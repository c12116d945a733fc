"""Functional path: execute the layer IR (float reference, or in an accelerator's number formats)."""
from .reference import OPS, run

__all__ = ["run", "OPS"]
