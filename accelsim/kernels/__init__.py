"""numba kernels for arithmetic numpy cannot do exactly or fast: saturating integer accumulation and the
multi-precision MAC of seed 004. Compiled on first use and cached on disk (``cache=True``)."""
from .mac import SEED004_TABLE1, gemm_saturating, multiprecision_dot, multiprecision_gemm

__all__ = ["gemm_saturating", "multiprecision_dot", "multiprecision_gemm", "SEED004_TABLE1"]
