"""numba kernels for arithmetic numpy cannot do exactly or fast: quantization in one pass, patches feeding BLAS
convolutions, max pooling, saturating integer accumulation, XNOR-popcount binary dot products, SAM selection
counts and the multi-precision MAC of seed 004.
Compiled on first use and cached on disk (``cache=True``)."""
from .conv import conv2d, maxpool2d
from .mac import SEED004_TABLE1, SEED004_ZERO_FACTOR, gemm_saturating, multiprecision_dot, multiprecision_gemm
from .sam import kept_columns, selection_counts
from .xnor import pack_signs, xnor_gemm

__all__ = ["conv2d", "maxpool2d", "gemm_saturating", "multiprecision_dot", "multiprecision_gemm", "SEED004_TABLE1",
           "SEED004_ZERO_FACTOR", "pack_signs", "xnor_gemm", "selection_counts", "kept_columns"]
