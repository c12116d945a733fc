"""The two transformer workloads (workloads/bert_tiny.onnx, workloads/vit_tiny.onnx) on every architecture in arch/,
and in fixed(8) against float.

    python benchmarks/transformers.py [--samples-bert 256] [--samples-vit 32] [--npz DIR]

Timing: cycles, latency and energy per inference of ``accelsim run MODEL --arch arch/X.yaml`` (each family's default
dataflow). Arithmetic: there is no labelled data for these seeded models, so fixed(8) is held against the float32
reference on seeded inputs (random token ids with padding; random images): top-1 agreement, the largest logit
error and the relative L2 error of the logits. LayerNorm, softmax and GELU run in float32 and are flagged
"special-function unit" (the per-layer table shows how each layer was computed). ``--npz DIR`` also writes the
inputs with the float model's top-1 as labels, so that ``accelsim eval MODEL --dataset npz:DIR/MODEL.npz --format
'fixed(8)'`` reports the same agreement as its "accuracy", with eval's per-layer output.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.frontend import load_onnx  # noqa: E402
from accelsim.functional import run  # noqa: E402
from accelsim.functional.quantized import run_quantized  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402

FORMAT = "fixed(8)"


def build(name: str) -> Path:
    spec = importlib.util.spec_from_file_location("workloads_build", ROOT / "workloads" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build([name], ROOT / "workloads")[name]


def inputs(name: str, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "bert_tiny":
        ids = rng.integers(1, 30522, (n, 128))
        for row, length in zip(ids, rng.integers(8, 129, n)):
            row[length:] = 0  # padding, masked out of attention
        return ids
    return rng.standard_normal((n, 3, 224, 224)).astype(np.float32)


def timing(path: Path) -> list[tuple]:
    rows = []
    for arch in tqdm(sorted((ROOT / "arch").glob("*.yaml")), desc=f"run {path.stem}", leave=False):
        start = time.perf_counter()
        result = simulate(str(path), str(arch))
        t = result.to_dict()["total"]
        rows.append((path.stem, arch.name, result.dataflow, f"{t['cycles']:,}", f"{t['latency_ms']:.3f}",
                     f"{t['energy_pj'] / 1e6:,.2f}", f"{time.perf_counter() - start:.1f}"))
    return rows


def agreement(path: Path, n: int, batch: int, npz: Path | None):
    net = load_onnx(path)
    x = inputs(path.stem, n)
    ref, quant, stats = [], [], {}
    for start in tqdm(range(0, n, batch), desc=f"{FORMAT} {path.stem}", leave=False):
        ref.append(run(net, x[start:start + batch]))
        y, stats = run_quantized(net, x[start:start + batch], FORMAT)
        quant.append(y)
    ref, quant = np.concatenate(ref), np.concatenate(quant)
    if npz is not None:
        npz.mkdir(parents=True, exist_ok=True)
        np.savez(npz / f"{path.stem}.npz", x=x, y=ref.argmax(1))
    row = (path.stem, n, f"{np.mean(ref.argmax(1) == quant.argmax(1)):.3f}", f"{np.abs(quant - ref).max():.3g}",
           f"{np.abs(ref).max():.3g}", f"{np.linalg.norm(quant - ref) / np.linalg.norm(ref):.3f}")
    kinds = {}
    for layer in net.layers:
        if layer.name in stats:
            kinds.setdefault((layer.op, stats[layer.name].arithmetic), []).append(layer.name)
    return row, [(path.stem, op, how, len(names)) for (op, how), names in sorted(kinds.items())]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples-bert", type=int, default=256)
    p.add_argument("--samples-vit", type=int, default=32)
    p.add_argument("--npz", type=Path, help="write the agreement inputs and float top-1 labels here")
    args = p.parse_args(argv)
    paths = {name: build(name) for name in ("bert_tiny", "vit_tiny")}
    rows = [r for path in paths.values() for r in timing(path)]
    print(tabulate(rows, headers=["model", "arch", "dataflow", "cycles", "latency ms", "energy µJ", "wall s"]))
    print()
    results = [agreement(paths["bert_tiny"], args.samples_bert, 64, args.npz),
               agreement(paths["vit_tiny"], args.samples_vit, 8, args.npz)]
    print(f"{FORMAT} against float32 (no labelled data: agreement with the float model, not accuracy)")
    print(tabulate([r for r, _ in results], headers=["model", "samples", "top-1 agreement", "max |logit error|",
                                                     "max |logit|", "relative L2 error"]))
    print()
    print(tabulate([k for _, ks in results for k in ks], headers=["model", "op", "arithmetic", "layers"]))


if __name__ == "__main__":
    main()
