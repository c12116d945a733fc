"""The process's one policy for numerical work: threads (numba's parallel kernels, BLAS, onnxruntime) and memory.

Every pool gets :func:`count` threads: the cores this process may run on (``os.sched_getaffinity``) less those
other processes keep busy, and no kernel calls into another pool, so busy threads never outnumber free cores.
Oversubscribed, a pool's barriers wait out whole scheduler time slices: on 2 cores at load ≈ 3, seed004_ic's
float32 path (then BLAS GEMMs and numba kernels in turn, each pool at 2 threads) ran 15× slower than with one
thread each.

"Busy" is the 1-minute load average, capped by the processes runnable right now (sampled a few times, not
counting this process's own threads) so that our own earlier runs do not read as somebody else's load.
numba uses one threading layer, ``workqueue`` (built into numba, the same on every machine; its kernels are
called one at a time, :func:`run_parallel`, as it is not thread-safe); onnxruntime's threads do not spin between
calls (``allow_spinning`` off: with it on, 2 threads under load ran seed004_ic fixed(8) 2.2× slower).
BLAS libraries loaded after :func:`configure` (scikit-learn's scipy) keep their own count; no kernel uses them.

Memory follows the same policy: freed arrays are kept for reuse (:func:`keep_freed_memory`) rather than handed
back to the system and faulted in again, zeroed, for the next batch.

Set once, on first use (:func:`configure`). ``ACCELSIM_THREADS`` overrides the count, and so do the usual
``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` (the first one set).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time

ENV = ("ACCELSIM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
LAYER = "workqueue"
SAMPLES, SAMPLE_GAP_S = 5, 0.002
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
KEPT_BYTES = 1 << 30  # arrays up to this size come from (and return to) the process's heap
SMALL_GEMM = 1 << 26  # multiply-adds of a GEMM below which it runs on one BLAS thread
_KERNELS = threading.Lock()  # workqueue runs one parallel kernel at a time: callers from several threads take turns


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _runnable_others() -> float | None:
    """Mean number of runnable threads of other processes over a few samples (None without /proc)."""
    try:
        seen = []
        for i in range(SAMPLES):
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            ours = 0
            for task in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{task}/stat") as f:
                    ours += f.read().rsplit(")", 1)[1].split()[0] == "R"
            seen.append(max(running - ours, 0))
            if i + 1 < SAMPLES:
                time.sleep(SAMPLE_GAP_S)
        return sum(seen) / len(seen)
    except (OSError, ValueError, IndexError):
        return None


def free_cores() -> int:
    """Cores not kept busy by other processes (at least 1)."""
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    now = _runnable_others()
    if now is not None:
        busy = min(busy, now)
    return max(1, min(cores(), round(cores() - busy)))


_PINNED: list[int] = []  # a count fixed by pin() before the pools started


@functools.cache
def count() -> int:
    """Threads each pool uses: pin()'s count, else the first override variable set, else the free cores."""
    if _PINNED:
        return _PINNED[0]
    for var in ENV:
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return free_cores()


@functools.cache
def configure() -> int:
    """Apply the policy to numba and to BLAS/OpenMP (threadpoolctl), once; returns the thread count."""
    import numba
    from threadpoolctl import threadpool_limits

    n = count()
    keep_freed_memory()
    numba.config.THREADING_LAYER = LAYER
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    threadpool_limits(n)
    return n


def keep_freed_memory() -> bool:
    """Have glibc's malloc serve arrays below KEPT_BYTES from memory the process freed, and keep it: by default
    an array above 32 MB is a fresh mapping whose pages the kernel faults in and zeroes on first touch, and heap
    memory past the trim threshold goes back to the system. A batch's activations are freed and allocated again
    by the next batch (seed004_ic at batch 256: 46 MB of conv outputs); reusing them ran fixed(16) 1.06× and
    fixed(8) 1.02× faster, in turns with the default in two processes. The cost: the process keeps its peak heap
    until it exits. Left alone where the user set malloc's own variables; returns whether it applied."""
    if any(v.startswith("MALLOC_") for v in os.environ) or "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, KEPT_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_BYTES))


def pin(n: int) -> None:
    """Fix the count at ``n`` (a worker process of a pool of many) if the pools have not started yet; a pool
    already running (a worker thread inside a process that computes too) keeps its size."""
    if configure.cache_info().currsize == 0:
        _PINNED[:] = [n]
        count.cache_clear()
        configure()


@functools.lru_cache(maxsize=None)
def _controller():
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def one_blas_thread():
    """A context in which BLAS runs on one thread: for runs of small GEMMs, whose threads' wake-ups and barriers
    cost more than they compute, and stall a whole timeslice each on a busy machine."""
    return _controller().limit(limits=1, user_api="blas")


def blas_for(macs: int):
    """The BLAS threads for a GEMM of ``macs`` multiply-adds: one below SMALL_GEMM (see :func:`one_blas_thread`),
    else the policy's count. Threaded, OpenBLAS's idle threads also spin for about 0.1 s after it, taking a core
    from whatever runs next: seed004_ic's first conv (threads of single-threaded GEMMs) ran 1.7× slower right
    after its 2.6 MMAC dense layer had run on two BLAS threads."""
    return one_blas_thread() if macs < SMALL_GEMM else contextlib.nullcontext()


def run_parallel(kernel, *args):
    """Call a numba ``parallel=True`` kernel under the policy, one at a time across Python threads."""
    configure()
    with _KERNELS:
        return kernel(*args)


def onnxruntime_options(n: int | None = None):
    """Session options for onnxruntime under the policy: ``n`` (by default :func:`count`) intra-op threads that
    do not spin."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = configure() if n is None else n
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts
