"""Frontend: ONNX files in, layer IR out."""
from .lowering import SUPPORTED_OPS
from .onnx_loader import load_onnx

__all__ = ["load_onnx", "SUPPORTED_OPS"]
