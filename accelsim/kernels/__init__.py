"""Kernels for arithmetic numpy cannot do exactly or fast: convolutions prepared once per layer (onnxruntime for
float32, GEMMs over numba-gathered patches for float64), and numba kernels for quantization in one pass, max
pooling, saturating integer accumulation, XNOR-popcount binary dot products, SAM selection counts and the
multi-precision MAC of seed 004. numba kernels compile on first use and are cached on disk (``cache=True``);
every thread pool follows :mod:`accelsim.threads`."""
from .conv import conv2d, maxpool2d
from .mac import (SEED004_TABLE1, SEED004_ZERO_FACTOR, conv_saturating, gemm_saturating, multiprecision_dot,
                  multiprecision_gemm)
from .sam import kept_columns, selection_counts
from .xnor import pack_signs, xnor_gemm

__all__ = ["conv2d", "maxpool2d", "conv_saturating", "gemm_saturating", "multiprecision_dot", "multiprecision_gemm",
           "SEED004_TABLE1", "SEED004_ZERO_FACTOR", "pack_signs", "xnor_gemm", "selection_counts", "kept_columns"]
