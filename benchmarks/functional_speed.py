"""Quantized evaluation throughput against onnxruntime float32 on the same inputs, in the same run.

    python benchmarks/functional_speed.py [--images N]

For each workload and format it prints images/s of accelsim's quantized execution and the ratio to
onnxruntime's float32 images/s (ratio 1.0 = as fast as onnxruntime). The numba kernels' first-call time
(compile, or load from the on-disk cache) is reported separately.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from accelsim.datasets import load  # noqa: E402
from accelsim.frontend import load_onnx  # noqa: E402
from accelsim.functional.quantized import QuantizedExecutor, QuantSpec, run_quantized  # noqa: E402

# "float": accelsim's own float32 path (same convolution kernels, no quantization) — the ceiling for the others;
# the last one: a narrow saturating accumulator (the in-order numba kernel)
FORMATS = ["float", "fixed(16)", "fixed(8)", "fp8_e4m3", "bfp(8,8,16)", "ternary", "fixed(8,5);accumulator=fixed(16)"]


def best_time(fn, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def numba_first_call() -> float:
    from accelsim.kernels import gemm_saturating, multiprecision_gemm
    t = time.perf_counter()
    gemm_saturating(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64), 16)
    multiprecision_gemm(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64), "16x16")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512)
    args = ap.parse_args()
    print(f"numba kernels, first call (compile or cache load): {numba_first_call():.2f} s")
    ort.set_default_logger_severity(3)
    cases = [("workloads/trained/lenet5.onnx", "digits"), ("workloads/seed004_ic.onnx", None)]
    rows = []
    for path, dataset in cases:
        net = load_onnx(ROOT / path)
        (name, shape), = net.inputs.items()
        if dataset:
            x = load(dataset).for_input_shape(shape).x
            x = np.resize(x, (args.images, *x.shape[1:]))
        else:
            x = np.random.default_rng(0).standard_normal((args.images, *shape[1:])).astype(np.float32)
        sess = ort.InferenceSession(str(ROOT / path), providers=["CPUExecutionProvider"])
        ort_ips = len(x) / best_time(lambda: [sess.run(None, {name: x[i:i + 256]}) for i in range(0, len(x), 256)])
        for fmt in FORMATS:
            spec = QuantSpec.parse(fmt)
            executor = QuantizedExecutor(spec)
            run_quantized(net, x[:8], spec, executor)  # warm-up: weights quantized once, kernels loaded
            ips = len(x) / best_time(lambda: [run_quantized(net, x[i:i + 256], spec, executor)
                                              for i in range(0, len(x), 256)])
            rows.append((Path(path).stem, fmt, f"{ort_ips:,.0f}", f"{ips:,.0f}", f"{ips / ort_ips:.2f}"))
    print(tabulate(rows, headers=["workload", "format", "onnxruntime img/s", "accelsim img/s", "ratio"]))


if __name__ == "__main__":
    main()
