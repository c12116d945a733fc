"""accelsim: a cycle-level simulator of deep-learning accelerators.

Pipeline: frontend (ONNX) -> ir (layer graph) -> functional (arithmetic in a number format) |
mapping -> engine (SimPy timing) -> energy -> report.
"""
__version__ = "0.1.0"
