"""Convolutions with fixed weights, prepared once per layer (:func:`prepare`), and max pooling.

float32 convolutions run in onnxruntime (one Conv session per layer: MLAS's blocked direct kernels, measured 2×
faster than the BLAS kernel below on seed004_ic, and exact for integer-valued operands whose partial sums stay
below 2^24 — every product and partial sum is then an integer float32 holds, or such an integer times a power of
two; :func:`prepare_fused` adds the layer's bias, a ReLU and a max pooling to the session: seed004_ic fixed(8)
1.1× faster than our passes after it). float64 ones (exact
integer sums below 2^53), which onnxruntime has no Conv for, are GEMMs over cache-sized batches of patches —
MLAS's, in an onnxruntime MatMul/Gemm session bound to our buffers, for filter rows (:func:`_sum_of_gemms`),
OpenBLAS's for im2col columns:

numpy's im2col (a strided view copied at once) moves the whole batch's patches through memory, and its copy
loops crawl on short contiguous runs; here numba loops copy patches into a buffer that the GEMM then reads while
it is still in cache, with the sums it writes (the two about 1 MB) — filter-row patches (S·C values per output
pixel), or, when the vertical stride is not 1, im2col columns of an NCHW input (runs of an output row's Q
values). Products are summed in the operands' dtype (exact for integer-valued operands whose partial sums fit its
mantissa). A batch is shared among the policy's threads, each running single-threaded GEMMs on its own images
(seed004_ic fixed(16) end to end: 1.4× one thread of BLAS GEMMs).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial

import numba
import numpy as np

from .. import threads

#: patches and sums per block of images: about 1 MB of float64, L2-sized (each thread has its own). Counting the
#: sums matters where they outnumber the patches: seed004_ic's RGB conv (S·C = 15, K = 32) took 7 images a block
#: when only its patches counted, and its 5 chained GEMMs then added into 1.8 MB of sums (2 images: 1.8× faster)
BUFFER_ELEMENTS = 1 << 17


@numba.njit(cache=True, nogil=True)
def _im2col_columns(xp, P, Q, R, S, sh, sw, dh, dw, out):
    """out[(c, r, s), (n, p, q)] = xp[n, c, p·sh + r·dh, q·sw + s·dw] of padded NCHW images ``xp``: im2col
    transposed, so that each copy is one output row's Q values (contiguous without horizontal stride) rather than
    a filter row's S·C (15 for an RGB 5×5 filter: 2-3× slower to copy)."""
    C, PQ = xp.shape[1], P * Q
    for n in range(xp.shape[0]):
        for c in range(C):
            for r in range(R):
                for s in range(S):
                    row = out[(c * R + r) * S + s]
                    for p in range(P):
                        src, d, o = xp[n, c, p * sh + r * dh], n * PQ + p * Q, s * dw
                        if sw == 1:
                            row[d:d + Q] = src[o:o + Q]
                        else:
                            for q in range(Q):
                                row[d + q] = src[o + q * sw]


@numba.njit(cache=True, nogil=True)
def _row_patches(x, pt, pl, Q, S, sw, dw, out):
    """out[n, h, q, (s, c)] = x[n, c, h − pt, q·sw + s·dw − pl] of NCHW images ``x``, 0 where that lies in the
    padding, for every padded row h: the patches of one filter row, a factor R smaller than full im2col rows
    (filter rows are then offsets into these), gathered and padded in one pass (padding channels-last first, then
    copying, was 1.03× slower end to end on seed004_ic fixed(16)). ``out`` may be a view of rows stored (h, n, q):
    see :func:`_conv_by_filter_rows`."""
    C, H, W = x.shape[1:]
    for i in range(x.shape[0]):
        for h in range(out.shape[1]):
            y = h - pt
            for q in range(Q):
                dst = out[i, h, q]
                for s in range(S):
                    col = q * sw + s * dw - pl
                    if 0 <= y < H and 0 <= col < W:
                        for c in range(C):
                            dst[s * C + c] = x[i, c, y, col]
                    else:
                        dst[s * C:(s + 1) * C] = 0


@numba.njit(cache=True)
def _depthwise_nhwc(xp, w, sh, sw, dh, dw, out):
    """out[n, p, q, c] = Σ_{r,s} xp[n, p·sh + r·dh, q·sw + s·dw, c] · w[r, s, c]: one filter per channel, channels
    innermost (contiguous, vectorizable); taps summed in order."""
    R, S, C = w.shape
    for n in range(out.shape[0]):
        for p in range(out.shape[1]):
            for q in range(out.shape[2]):
                for c in range(C):
                    out[n, p, q, c] = 0
                for r in range(R):
                    h = p * sh + r * dh
                    for s in range(S):
                        col = q * sw + s * dw
                        for c in range(C):
                            out[n, p, q, c] += xp[n, h, col, c] * w[r, s, c]


def supports(b) -> bool:
    """Convolutions :func:`conv2d` computes: ungrouped, or depthwise (one filter per channel)."""
    return b.groups == 1 or b.groups == b.C == b.K


def padded_nhwc(x: np.ndarray, b, dtype) -> np.ndarray:
    """NCHW ``x`` zero-padded by the conv's pads, channels-last, in ``dtype``."""
    return _pad_into(np.zeros((len(x), *_padded_shape(x, b, True)), dtype), x, b, True)


def _padded_shape(x: np.ndarray, b, channels_last: bool) -> tuple:
    """One image of NCHW ``x`` padded by the conv's pads: (H, W, C) channels-last, else (C, H, W)."""
    pt, pl, pb, pr = b.pads
    c, h, w = x.shape[1:]
    return (h + pt + pb, w + pl + pr, c) if channels_last else (c, h + pt + pb, w + pl + pr)


def _pad_into(buf: np.ndarray, x: np.ndarray, b, channels_last: bool) -> np.ndarray:
    """buf[:len(x)], padded images whose borders are zero, with NCHW ``x`` copied inside (cast to buf's dtype)."""
    pt, pl = b.pads[:2]
    m, _, h, w = x.shape
    if channels_last:
        buf[:m, pt:pt + h, pl:pl + w] = x.transpose(0, 2, 3, 1)
    else:
        buf[:m, :, pt:pt + h, pl:pl + w] = x
    return buf[:m]


def conv2d(x: np.ndarray, w: np.ndarray, b, dtype=np.float32, scale=None, bias=None, relu=False) -> np.ndarray:
    """out[n,k,p,q] = Σ_{c,r,s} x[n, c, p·sh + r·dh − pt, q·sw + s·dw − pl] · w[k, c, r, s] (groups = 1, or
    depthwise), summed in ``dtype``: a :class:`Conv` used once."""
    return Conv(w, b, dtype)(x, scale, bias, relu)


class Conv:
    """x -> Σ x·w of NCHW x for the conv with loop bounds ``b`` (groups = 1, or depthwise), summed in ``dtype``,
    its weights laid out once. With vertical stride 1 the sums
    are Σ_r (row patches shifted by r·dh rows) @ W_r (:func:`_conv_by_filter_rows`); otherwise W @ im2col
    columns, one BLAS GEMM. Depthwise convolutions run as a direct channels-last loop."""

    def __init__(self, w: np.ndarray, b, dtype):
        self.b, self.dtype = b, np.dtype(dtype)
        self.by_rows = b.groups == 1 and b.stride[0] == 1
        if b.groups > 1:
            self.kernel, self.gemm = None, 0
            self.wdw = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0), dtype=dtype)  # (R, S, C)
        elif self.by_rows:
            wrows = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(b.R, -1, b.K), dtype=dtype)  # (R, S·C, K)
            self.kernel, self.gemm = partial(_conv_by_filter_rows, wrows=wrows, b=b), wrows[0].size
        else:
            wmat = np.ascontiguousarray(w.reshape(b.K, -1), dtype=dtype)  # (K, C·R·S)
            self.kernel, self.gemm = partial(_conv_by_im2col, wmat=wmat, b=b), wmat.size

    def __call__(self, x: np.ndarray, scale=None, bias=None, relu=False) -> np.ndarray:
        """The sums; NCHW out (from filter rows a view of a channels-last array: the next conv reads it as is).
        With ``scale``, :func:`finish`'s float32 (sums · scale + bias, rectified with ``relu``) instead; from
        float64 sums a contiguous NCHW array made block by block while they are in cache (no full-size float64
        array, no passes)."""
        b, n = self.b, x.shape[0]
        if self.kernel is None:
            out = np.empty((n, b.P, b.Q, b.K), self.dtype)
            _depthwise_nhwc(padded_nhwc(x, b, self.dtype), self.wdw, *b.stride, *b.dilation, out)
            return finish(out.transpose(0, 3, 1, 2), scale, bias, relu)
        done = None if scale is None or self.dtype != np.float64 else \
            (float(scale), np.zeros(b.K) if bias is None else np.asarray(bias, np.float64).reshape(-1), relu)
        shape = (n, b.K, b.P, b.Q) if done is not None or not self.by_rows else (n, b.P, b.Q, b.K)
        out = np.empty(shape, np.float32 if done is not None else self.dtype)
        _over_images(partial(self.kernel, done=done), x, out, self.gemm * b.P * b.Q)
        if done is not None:
            return out
        return finish(out.transpose(0, 3, 1, 2) if self.by_rows else out, scale, bias, relu)


def finish(sums: np.ndarray, scale=None, bias=None, relu: bool = False) -> np.ndarray:
    """float32(sums · scale + bias), computed in the sums' dtype (integer sums in float64) and rounded once: a
    fixed-point layer's output from its integer sums (``scale`` a power of two: exact); the sums as they are
    without a ``scale``. ``bias`` broadcasts against the sums (a layer's ``bias``). With ``relu``, then
    np.maximum(·, 0): the ReLU that alone reads the layer's output, fused. float32 sums with a bias per channel
    (axis 1) or per feature (the last axis) are finished in place in one pass (:func:`_finish_in_place`; numpy's
    three passes over seed004_ic's first conv output took 20 ms a batch)."""
    if scale is None:
        return np.maximum(sums, 0, out=sums) if relu else sums
    channels = _channel_axis(sums, bias)
    if channels is not None:
        rows = int(np.prod(sums.shape[:channels]))
        b = np.full(sums.shape[channels], -0.0, np.float32) if bias is None else np.ascontiguousarray(bias).reshape(-1)
        threads.run_parallel(_finish_in_place, sums.reshape(rows, sums.shape[channels], -1), np.float32(scale), b,
                             relu)
        return sums
    y = sums if sums.dtype.kind == "f" else sums.astype(np.float64)
    y *= y.dtype.type(scale)
    if bias is not None:
        y += bias
    y = y.astype(np.float32, copy=False)
    return np.maximum(y, 0, out=y) if relu else y


def _channel_axis(sums: np.ndarray, bias) -> int | None:
    """The axis of contiguous float32 ``sums`` that a per-channel ``bias`` (or none) runs along: 1 for a conv's
    (K, 1, …) bias, the last for a dense layer's (K,); None for anything else (the numpy passes then)."""
    if sums.dtype != np.float32 or not sums.flags.c_contiguous or sums.ndim < 2 or not sums.flags.writeable:
        return None
    if bias is None:
        return 1
    shape = np.shape(bias)
    if len(shape) == 1 and shape[0] == sums.shape[-1]:
        return sums.ndim - 1
    if len(shape) == sums.ndim - 1 and shape[0] == sums.shape[1] and all(d == 1 for d in shape[1:]):
        return 1
    return None


@numba.njit(cache=True, inline="always")
def _finished(s, scale, bias, relu):
    """float32(s·scale + bias) (the product in s's precision, exact: a power of two; the sum in the wider of the
    two, rounded once to float32, as numpy's in-place passes do), then as np.maximum(·, 0) with ``relu`` (NaN
    stays, −0 becomes 0). Written as max(), which compiles to a select (and returns its first argument when
    that is NaN): as comparisons it was a branch, which mispredicts on half the values of a typical layer (seed004_ic
    fixed(16)'s finish 4× slower); + 0 turns its −0 into 0."""
    v = np.float32(s * scale + bias)
    return max(v, np.float32(0)) + np.float32(0) if relu else v


@numba.njit(cache=True, parallel=True)
def _finish_in_place(y, scale, bias, relu):
    """y[a, k, j] = :func:`_finished` of itself with bias[k] (float32 y and scale; no bias is −0, which keeps
    every value's sign)."""
    A, K, B = y.shape
    for i in numba.prange(A * K):
        a, k = i // K, i % K
        for j in range(B):
            y[a, k, j] = _finished(y[a, k, j], scale, bias[k], relu)


@numba.njit(cache=True, nogil=True)
def _finish_block(acc, dst, scale, bias, relu):
    """:func:`finish` of one block of float64 sums, acc (m, P, Q, K) (any strides: a view of filter rows' (P, m,
    Q, K) or of im2col's (K, m, P, Q)), into float32 dst (m, K, P, Q), transposed on the way (2-3× faster than
    numpy's passes)."""
    m, P, Q, K = acc.shape
    for i in range(m):
        for k in range(K):
            for p in range(P):
                for q in range(Q):
                    dst[i, k, p, q] = _finished(acc[i, p, q, k], scale, bias[k], relu)


def _over_images(kernel, x, out, macs_per_image: int):
    """kernel(x[i:j], out[i:j], gemm_threads=t) over the batch, whose GEMMs are to run on t threads (BLAS's are
    limited here; :func:`_sum_of_gemms` sessions take t). With several threads and at least as many images, each
    thread takes a contiguous share of the images and runs its GEMMs on one thread (no threads inside threads;
    BLAS's own threading on these skinny GEMMs — 16-64 output channels — reached half the throughput, and
    seed004_ic's 16×16 and 8×8 layers ran 40-250× slower threaded under load). A smaller batch runs inline, its
    GEMMs threaded only when they are large (:func:`~accelsim.threads.blas_for`)."""
    n, workers = x.shape[0], threads.configure()
    if workers == 1 or n < workers:
        macs = macs_per_image * n
        with threads.blas_for(macs):
            kernel(x, out, gemm_threads=workers if macs >= threads.SMALL_GEMM else 1)
        return
    bounds = np.linspace(0, n, workers + 1).astype(int)
    with threads.one_blas_thread():
        list(_pool(workers).map(lambda i: kernel(x[bounds[i]:bounds[i + 1]], out[bounds[i]:bounds[i + 1]],
                                                 gemm_threads=1), range(workers)))


def _images_per_block(n: int, elements_per_image: int) -> int:
    """How many of n images' patches and sums fill a block of BUFFER_ELEMENTS (at least one)."""
    return min(n, max(1, BUFFER_ELEMENTS // elements_per_image))


@lru_cache(maxsize=None)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="accelsim-conv")


def _conv_by_im2col(x, out, wmat, b, done, gemm_threads):
    """out (N, K, P, Q) = wmat (K, C·R·S) @ im2col columns of NCHW ``x``, over cache-sized batches of images,
    each padded into a small buffer first; with ``done`` (scale, bias, relu), float32 out is their
    :func:`finish`. BLAS's GEMM, on the caller's BLAS threads (``gemm_threads`` is for filter rows' MLAS): on a
    Zen 3 box seed004_ic's RGB conv (K = 75) ran 1.1× faster so than with MLAS (on a Zen 5 one, whose OpenBLAS
    picks its AVX2 kernels, MLAS's AVX-512 GEMM was 1.5× faster on that shape)."""
    n, pq = x.shape[0], b.P * b.Q
    step = _images_per_block(n, pq * (wmat.shape[1] + b.K))
    xp = np.zeros((step, *_padded_shape(x, b, False)), wmat.dtype)
    cols = np.empty((wmat.shape[1], step * pq), wmat.dtype)
    sums = np.empty((b.K, step * pq), wmat.dtype)
    for n0 in range(0, n, step):
        m = min(n, n0 + step) - n0
        _im2col_columns(_pad_into(xp, x[n0:n0 + m], b, False), b.P, b.Q, b.R, b.S, *b.stride, *b.dilation, cols)
        acc = np.matmul(wmat, cols[:, :m * pq], out=sums[:, :m * pq]).reshape(b.K, m, 1, pq)
        if done is None:
            out[n0:n0 + m] = acc.reshape(b.K, m, b.P, b.Q).transpose(1, 0, 2, 3)
        else:  # rows of P·Q: the finish's inner loop runs over a whole image (4× faster than rows of Q)
            _finish_block(acc.transpose(1, 2, 3, 0), out[n0:n0 + m].reshape(m, b.K, 1, pq), *done)


def prepare(w: np.ndarray, b, dtype):
    """x -> Σ x·w (NCHW in and out, no bias) for the conv with loop bounds ``b``, summed in ``dtype``, and
    (x, scale, bias, relu) -> their :func:`finish`; None when neither engine computes it (a float64 grouped,
    non-depthwise conv)."""
    if np.dtype(dtype) == np.float32:
        session = onnx_session([_conv_node(b, bias=False)], _initializer("w", w))
        return lambda x, scale=None, bias=None, relu=False: finish(session(x), scale, bias, relu)
    return Conv(w, b, dtype) if supports(b) else None


def prepare_fused(w: np.ndarray, b, bias=None, relu: bool = False, pool=None):
    """x -> float32 conv of x with w, plus ``bias`` (per output channel), rectified with ``relu``, then max pooled
    by ``pool`` (kernel, stride, pads, out_hw): one onnxruntime session, in which MLAS adds the bias and applies
    the ReLU as it stores each block of sums and pools in its blocked layout (no pass of ours over the conv
    output, and no reordering between the two). None when ONNX's MaxPool cannot give ``out_hw``. Exact where
    :func:`prepare`'s float32 conv and :func:`finish` are: every partial sum of x·w representable (the bias added
    to the whole sum), and no NaN for MLAS's max to drop."""
    nodes, inits, last = [_conv_node(b, bias is not None, out="c")], [_initializer("w", w)], "c"
    if bias is not None:
        inits.append(_initializer("b", np.reshape(bias, -1)))
    if relu:
        nodes.append(_helper().make_node("Relu", [last], ["r"]))
        last = "r"
    if pool is not None:
        node = _maxpool_node(*pool, (b.P, b.Q), x=last)
        if node is None:
            return None
        nodes.append(node)
    nodes[-1].output[0] = "y"
    session = onnx_session(nodes, *inits)
    return session if pool is None else _giving(session, (b.C, b.H, b.W), pool[3])


def _helper():
    from onnx import helper
    return helper


def _initializer(name: str, a):
    from onnx import numpy_helper
    return numpy_helper.from_array(np.asarray(a, np.float32), name)


def _conv_node(b, bias: bool, out: str = "y"):
    return _helper().make_node("Conv", ["x", "w"] + (["b"] if bias else []), [out], kernel_shape=[b.R, b.S],
                               strides=list(b.stride), dilations=list(b.dilation), pads=list(b.pads),
                               group=b.groups)


def _giving(session, image_shape, out_hw):
    """``session`` if it turns an image of ``image_shape`` into out_hw outputs, else None: onnxruntime's ceil mode
    drops a last window that would start in the padding, which ONNX's formula keeps."""
    return session if session(np.zeros((1, *image_shape), np.float32)).shape[2:] == tuple(out_hw) else None


def _maxpool_node(kernel, stride, pads, out_hw, in_hw, x: str = "x"):
    """ONNX MaxPool of an in_hw input giving out_hw (floor or ceil mode, whichever gives it; None if neither)."""
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, stride, pads
    span = (in_hw[0] + pt + pb - kh, in_hw[1] + pl + pr - kw)
    floor, ceil = (span[0] // sh + 1, span[1] // sw + 1), (-(-span[0] // sh) + 1, -(-span[1] // sw) + 1)
    if tuple(out_hw) not in (floor, ceil):
        return None
    return _helper().make_node("MaxPool", [x], ["y"], kernel_shape=list(kernel), strides=list(stride),
                               pads=list(pads), ceil_mode=int(tuple(out_hw) != floor))


def onnx_session(nodes, *initializers, inputs=("x",), threads_n: int | None = None):
    """(inputs …) -> output "y" of an onnxruntime session running ``nodes`` on float32 inputs named ``inputs``
    (NCHW "x" by default), on ``threads_n`` threads (the policy's count by default)."""
    session = _session(nodes, *initializers, inputs=inputs, dtype=np.float32, threads_n=threads_n)
    return lambda *xs: session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in zip(inputs, xs)})[0]


def _session(nodes, *initializers, inputs, dtype, threads_n: int | None, arena: bool = True):
    """The onnxruntime session of :func:`onnx_session`; without ``arena``, its buffers come from malloc run by
    run instead of a pool the session keeps for its lifetime."""
    import onnxruntime as ort
    from onnx import TensorProto

    helper = _helper()
    elem = TensorProto.DOUBLE if np.dtype(dtype) == np.float64 else TensorProto.FLOAT
    graph = helper.make_graph(list(nodes), nodes[0].op_type,
                              [helper.make_tensor_value_info(name, elem, None) for name in inputs],
                              [helper.make_tensor_value_info("y", elem, None)], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    opts = threads.onnxruntime_options(threads_n)
    opts.enable_cpu_mem_arena = opts.enable_mem_pattern = arena
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


_BUILDING = threading.Lock()  # a batch's threads ask for a session at once: each is built once


def _sum_of_gemms(R: int, dtype: str, threads_n: int):
    """bind(xs, ws, out) -> run(), which writes Σ_r xs[r] @ ws[r] (R C-contiguous ``dtype`` matrices each) into
    ``out``, in onnxruntime on ``threads_n`` threads: MLAS's GEMM kernels, each after the first adding its product
    to the sum so far (a Gemm with C; a Sum of R MatMuls' products was 1.04-1.07× slower), for float32 and float64
    alike (no Conv of onnxruntime takes float64). On seed004_ic's 16×16 and 8×8 convs' filter rows in float64,
    1.2× and 1.35× OpenBLAS's GEMMs on the same patches (which also took a pass of ours to sum). The operands are
    bound where they are, once for every block that reuses the same buffers: a run then neither converts its
    arguments nor allocates its output (the same two convs 1.1× and 1.05× faster than run() on the arrays, in
    turns in one process). One session per (R, dtype, threads) serves every layer, the weights being inputs; it
    keeps no arena or memory pattern. With the weights as initializers and a session per layer, onnxruntime kept
    copies of them and each session its own buffers (ResNet-18 fixed(16), batch 8: peak memory 936 MB, against
    568-590 MB so and 445 MB with OpenBLAS); packing them on every call costs nothing measurable (S·C × K is tens
    of kB)."""
    with _BUILDING:
        session = _sum_of_gemms_session(R, dtype, threads_n)

    def bind(xs, ws, out):
        binding = session.io_binding()
        for r, (x, w) in enumerate(zip(xs, ws)):
            for name, a in ((f"x{r}", x), (f"w{r}", w)):
                assert a.flags.c_contiguous and a.dtype == dtype, name
                binding.bind_input(name, "cpu", 0, a.dtype, a.shape, a.ctypes.data)
        binding.bind_output("y", "cpu", 0, out.dtype, out.shape, out.ctypes.data)
        return partial(_run_bound, session, binding, (xs, ws, out))
    return bind


def _run_bound(session, binding, _arrays):
    """One run of a bound session; ``_arrays``, the bound ones, are held here so that they outlive the binding."""
    session.run_with_iobinding(binding)


@lru_cache(maxsize=None)
def _sum_of_gemms_session(R: int, dtype: str, threads_n: int):
    helper = _helper()
    xs, ws = [f"x{r}" for r in range(R)], [f"w{r}" for r in range(R)]
    sums = [f"s{r}" for r in range(R - 1)] + ["y"]
    nodes = [helper.make_node("MatMul", [xs[0], ws[0]], [sums[0]])]
    nodes += [helper.make_node("Gemm", [xs[r], ws[r], sums[r - 1]], [sums[r]], beta=1.0) for r in range(1, R)]
    return _session(nodes, inputs=xs + ws, dtype=np.dtype(dtype), threads_n=threads_n, arena=False)


def _conv_by_filter_rows(x, out, wrows, b, done, gemm_threads):
    """out (N, P, Q, K) = Σ_r patches[rows p + r·dh] @ wrows[r] of NCHW ``x`` (:func:`_sum_of_gemms`), over
    cache-sized batches of images; the padded rows' patches are stored (h, image, q) so that each filter row's
    share is one contiguous (P·m·Q, S·C) matrix, and the sums go to one buffer: each block size's GEMMs are bound
    once. With ``done`` (scale, bias, relu), out (N, K, P, Q) float32 is their :func:`finish`."""
    n, hp, sc = x.shape[0], _padded_shape(x, b, True)[0], wrows.shape[1]
    step = _images_per_block(n, hp * b.Q * sc + b.P * b.Q * b.K)
    buffer = np.empty(hp * step * b.Q * sc, wrows.dtype)
    sums_buffer = np.empty(b.P * step * b.Q * b.K, wrows.dtype)
    bind, dh, runs = _sum_of_gemms(b.R, wrows.dtype.name, gemm_threads), b.dilation[0], {}
    for n0 in range(0, n, step):
        m = min(n, n0 + step) - n0
        patches = buffer[:hp * m * b.Q * sc].reshape(hp, m, b.Q, sc)
        sums = sums_buffer[:b.P * m * b.Q * b.K].reshape(-1, b.K)
        if m not in runs:  # the full blocks, and a last smaller one
            runs[m] = bind([patches[r * dh:r * dh + b.P].reshape(-1, sc) for r in range(b.R)], wrows, sums)
        _row_patches(x[n0:n0 + m], *b.pads[:2], b.Q, b.S, b.stride[1], b.dilation[1], patches.transpose(1, 0, 2, 3))
        runs[m]()
        sums = sums.reshape(b.P, m, b.Q, b.K).transpose(1, 0, 2, 3)
        if done is None:
            out[n0:n0 + m] = sums
        else:
            _finish_block(sums, out[n0:n0 + m], *done)


@numba.njit(cache=True, parallel=True)
def _maxpool_nchw(x, kh, kw, sh, sw, pt, pl, out):
    """out[n, c, p, q] = max over the window's taps inside ``x`` (taps in padding or past the edge are skipped,
    as a −inf fill would be; NaN propagates, as np.maximum does). One output row at a time, taps outermost, so
    the inner loop over q has no branches."""
    N, C, H, W = x.shape
    P, Q = out.shape[2:]
    for i in numba.prange(N * C * P):
        n, c, p = i // (C * P), i // P % C, i % P
        row = out[n, c, p]
        row[:] = -np.inf
        for r in range(max(0, pt - p * sh), min(kh, H + pt - p * sh)):
            h = p * sh + r - pt
            for s in range(kw):
                q0 = max(0, -((s - pl) // sw))  # first q whose tap s lands inside: q·sw + s − pl ≥ 0
                q1 = min(Q, (W - 1 - s + pl) // sw + 1)
                for q in range(q0, q1):
                    v = x[n, c, h, q * sw + s - pl]
                    row[q] = v if v > row[q] or v != v else row[q]


def maxpool2d(x: np.ndarray, kernel, stride, pads, out_hw, finite: bool = False) -> np.ndarray:
    """Max pooling of NCHW ``x``; NCHW out. float32 without NaN runs in onnxruntime's MaxPool (MLAS: 3-4× the
    numba kernel, measured on seed004_ic's pools); NaN needs the numba kernel, which propagates it as np.maximum
    does (MLAS's max drops it), and so do other dtypes. ``finite``: the caller knows x has no NaN (no pass to
    look)."""
    if x.dtype == np.float32 and x.size and (finite or not np.isnan(x.max())):
        session = _onnx_maxpool(tuple(kernel), tuple(stride), tuple(pads), tuple(out_hw), x.shape[2:])
        if session is not None:
            return session(x)
    out = np.empty((*x.shape[:2], *out_hw), x.dtype)
    threads.run_parallel(_maxpool_nchw, np.ascontiguousarray(x), *kernel, *stride, pads[0], pads[1], out)
    return out


@lru_cache(maxsize=None)
def _onnx_maxpool(kernel, stride, pads, out_hw, in_hw):
    """x -> onnxruntime MaxPool of float32 NCHW x (one session per pooling); None if it cannot give out_hw."""
    node = _maxpool_node(kernel, stride, pads, out_hw, in_hw)
    return None if node is None else _giving(onnx_session([node]), (1, *in_hw), out_hw)
