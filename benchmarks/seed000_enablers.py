"""Seed 000 Fig. 2 (a)-(f) (Guicquero & Verdant, ISCAS 2020 §III): accuracy of a small MLP under its enablers —
dimensionality reduction by compressive sensing (DR), connectivity pruning (CP), quantization (QN) and their
combinations — with each point's energy and latency per inference on an accelerator that skips zeros
(arch/eyeriss_sparse.yaml) and on one that only gates them (arch/eyeriss.yaml).

    python benchmarks/seed000_enablers.py [--draws 30] [--panels abcdef] [--out results.jsonl]

What differs from the paper, and why:
* MNIST (28×28) is not available offline: scikit-learn's bundled digits (8×8, 1,797 images) stand in, so the
  sample has n = 64 features instead of 784 and every rd scales by 64/784: the paper's operating point rd = 196
  (a 25% DR ratio) is rd = 16 here. The topology is the paper's: sample n -> CS projection rd (a Rademacher ±1/√n
  matrix, fixed) -> connected rd×rd -> ReLU -> connected rd×32 -> Softsign -> connected 32×10 -> Softmax; without
  DR the first connected layer takes the n features. CP prunes the two CP layers of the paper's table (rd×rd and
  rd×32) uniformly at random before training; QN quantizes weights and activations of every layer to the same
  fixed point (fixed(b): b-bit words, a power-of-two scale per tensor), the activation functions bypassed below
  4 bits, as the paper does.
* Training: momentum SGD (the paper's optimizer), quantization-aware with a straight-through estimator (the
  method of the paper's [40], Hubara et al.), in numpy, all draws at once; 30 draws per point as the paper, each
  with its own stratified 70/30 split of the digits, initialization, CS matrix and pruning mask. Accuracy is
  measured by accelsim's functional path in the number format (``evaluate``), on each draw's test split.
  Energy and latency are simulated on the first 3 draws of each point (``--timed``): they vary little from draw
  to draw, and every draw's activation zeros make the mapper search again.
* Energy and latency: accelsim's timing path with the draw's weights — zero weights as the hardware holds them
  (pruned, or rounded to zero by the format), its measured activation zeros, b-bit words packing into the
  16-bit memories; the CS layer's ±1 signs are one bit each and cost additions, not multiplications. Fig. 2 has
  no energy axis: these columns are what accelsim adds.

Progress shows on stderr; with ``--out`` each finished point is appended to a JSON-lines file and a rerun skips
the points already there (an interrupted run resumes).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from accelsim.datasets import Dataset  # noqa: E402
from accelsim.formats import parse  # noqa: E402
from accelsim.frontend import load_onnx  # noqa: E402
from accelsim.functional.evaluate import evaluate  # noqa: E402
from accelsim.simulate import simulate  # noqa: E402
from accelsim.transforms import rademacher  # noqa: E402

_spec = importlib.util.spec_from_file_location("workloads_build", ROOT / "workloads/build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

N_FEATURES = 64            # digits: 8×8 pixels (MNIST: 784)
OPERATING_RD = 16          # the paper's rd = 196 of 784 (25%), scaled to 64 features
HIDDEN = 32
CLIP = 5.0                 # gradient norm clipping
ARCHS = {"skips": ROOT / "arch/eyeriss_sparse.yaml", "gates": ROOT / "arch/eyeriss.yaml"}


@dataclass(frozen=True)
class Point:
    """One configuration: rd measurements (None: no DR), connectivity kept by the CP layers, QN bits (None:
    float; the accelerator's 16-bit words)."""

    rd: int | None = None
    keep: float = 1.0
    bits: int | None = None

    @property
    def label(self) -> str:
        parts = [f"rd={self.rd} ({self.rd / N_FEATURES:.0%})" if self.rd else "no DR"]
        parts += [f"CP {self.keep:.0%}"] if self.keep < 1 else []
        parts += [f"QN {self.bits} bits"] if self.bits else []
        return ", ".join(parts)


RDS = [2, 4, 8, 12, 16, 24, 32, 48, 64]
KEEPS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]
BITS = [2, 3, 4, 5, 6, 8, None]
PANELS = {
    "a": ("DR via CS: accuracy vs rd (ratio rd/64)", "rd", [Point(rd=r) for r in RDS]),
    "b": ("CP via random pruning: accuracy vs connectivity kept", "keep", [Point(keep=k) for k in KEEPS]),
    "c": ("QN (activations bypassed below 4 bits): accuracy vs bits", "bits", [Point(bits=b) for b in BITS]),
    "d": (f"CP with DR (rd = {OPERATING_RD})", "keep", [Point(rd=OPERATING_RD, keep=k) for k in KEEPS]),
    "e": (f"QN with DR (rd = {OPERATING_RD})", "bits", [Point(rd=OPERATING_RD, bits=b) for b in BITS]),
    "f": (f"QN with DR (rd = {OPERATING_RD}) and CP (50%)", "bits",
          [Point(rd=OPERATING_RD, keep=0.5, bits=b) for b in BITS]),
}


# ---- data -----------------------------------------------------------------------------------------------------
def splits(draws: int):
    """Per draw, a stratified 70/30 split of the digits (pixels scaled to 0..1), seeded by the draw."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    return [train_test_split(x, d.target, test_size=0.3, random_state=k, stratify=d.target) for k in range(draws)]


# ---- quantization-aware training, all draws at once ----------------------------------------------------------
def quantize(x: np.ndarray, bits: int | None):
    """(x in fixed(bits) with a power-of-two scale per draw minimising the L2 error, straight-through mask)."""
    if bits is None:
        return x, 1.0
    qmax, qmin = 2 ** (bits - 1) - 1, -(2 ** (bits - 1))
    axes = tuple(range(1, x.ndim))
    vmax = np.maximum(np.abs(x).max(axis=axes, keepdims=True), 1e-12)
    eq2 = np.ceil(np.log2(qmax / vmax))  # seed 004 eq. (2); accelsim's fixed(W) searches around it too
    best, best_err, best_scale = None, None, None
    for shift in (-1, 0):  # eq. 2 rounds its fraction length up (the maximum may clip); one bit less never clips
        scale = (2.0 ** (eq2 + shift)).astype(x.dtype)
        q = np.clip(np.round(x * scale), qmin, qmax) / scale
        err = ((q - x) ** 2).sum(axis=axes, keepdims=True)
        if best is None:
            best, best_err, best_scale = q, err, scale
        else:
            better = err < best_err
            best = np.where(better, q, best)
            best_err = np.where(better, err, best_err)
            best_scale = np.where(better, scale, best_scale)
    inside = (x * best_scale >= qmin - 0.5) & (x * best_scale <= qmax + 0.5)
    return best, inside


def train(point: Point, data, seeds, epochs: int, lr: float = 0.05, momentum: float = 0.9, batch: int = 32):
    """Weights of every draw: [(W in×out, b)] of the three connected layers, and the CS matrices (or None)."""
    draws = len(seeds)
    rngs = [np.random.default_rng(1000 + s) for s in seeds]
    x = np.stack([d[0] for d in data]).astype(np.float32)  # (draws, samples, 64)
    y = np.stack([d[2] for d in data])
    rd = point.rd or N_FEATURES
    phi = np.stack([rademacher(N_FEATURES, rd, seed=s) for s in seeds]) if point.rd else None
    sizes = [(rd, rd), (rd, HIDDEN), (HIDDEN, 10)]
    ws = [np.stack([r.standard_normal(s, dtype=np.float32) * np.float32(np.sqrt(2.0 / s[0])) for r in rngs])
          for s in sizes]
    bs = [np.zeros((draws, 1, s[1]), np.float32) for s in sizes]
    masks = [np.stack([_random_keep(r, s, point.keep) for r in rngs]).astype(np.float32) for s in sizes[:2]]
    masks.append(np.ones((draws,) + sizes[2], np.float32))
    ws = [w * m for w, m in zip(ws, masks)]
    vel = [np.zeros_like(p) for p in ws + bs]
    act = point.bits is None or point.bits >= 4
    steps = epochs * (x.shape[1] // batch)
    for step in range(steps):
        if step % (x.shape[1] // batch) == 0:
            order = np.stack([r.permutation(x.shape[1]) for r in rngs])
        k = step % (x.shape[1] // batch)
        idx = order[:, k * batch:(k + 1) * batch]
        xb = np.take_along_axis(x, idx[..., None], axis=1)
        yb = np.take_along_axis(y, idx, axis=1)
        grads = _backprop(xb, yb, phi, ws, bs, masks, point.bits, act)
        for g in grads:  # clip each gradient's norm per draw: without activations, low-bit nets can blow up
            norm = np.sqrt((g * g).sum(axis=tuple(range(1, g.ndim)), keepdims=True))
            g *= np.minimum(1.0, CLIP / np.maximum(norm, 1e-12))
        rate = np.float32(lr * 0.5 * (1 + np.cos(np.pi * step / steps)))  # cosine decay
        for p, v, g in zip(ws + bs, vel, grads):
            v *= momentum
            v -= rate * g
            p += v
        for w, m in zip(ws, masks):
            w *= m
    return [[(ws[i][d], bs[i][d, 0]) for i in range(3)] for d in range(draws)], phi


def _random_keep(rng, shape, keep):
    """A uniform random choice of exactly round(keep × size) connections (seed 000's CP)."""
    mask = np.zeros(int(np.prod(shape)), bool)
    mask[rng.permutation(mask.size)[:round(keep * mask.size)]] = True
    return mask.reshape(shape)


def _backprop(x, y, phi, ws, bs, masks, bits, act):
    """Gradients of the mean cross-entropy, quantized forward pass, straight-through backward."""
    xq, _ = quantize(x, bits)
    z = xq @ phi if phi is not None else xq
    acts, ste_a, wq, ste_w, pre = [], [], [], [], []
    h = z
    for i, (w, b) in enumerate(zip(ws, bs)):
        a, sa = quantize(h, bits)
        q, sw = quantize(w, bits)
        acts.append(a)
        ste_a.append(sa)
        wq.append(q)
        ste_w.append(sw)
        h = a @ q + b
        pre.append(h)
        if i == 0 and act:
            h = np.maximum(h, 0)
        elif i == 1 and act:
            h = h / (1 + np.abs(h))
    p = np.exp(h - h.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    onehot = np.zeros_like(p)
    np.put_along_axis(onehot, y[..., None], 1.0, axis=-1)
    d = (p - onehot) / x.shape[1]
    gw, gb = [None] * 3, [None] * 3
    for i in (2, 1, 0):
        gw[i] = (acts[i].transpose(0, 2, 1) @ d) * ste_w[i] * masks[i]
        gb[i] = d.sum(axis=1, keepdims=True)
        if i:
            d = (d @ wq[i].transpose(0, 2, 1)) * ste_a[i]
            if act and i == 2:
                d = d / (1 + np.abs(pre[1])) ** 2
            elif act and i == 1:
                d = d * (pre[0] > 0)
    return gw + gb


# ---- one draw as accelsim sees it ------------------------------------------------------------------------------
def model_file(layers, phi, act: bool, path: Path) -> Path:
    """The draw's network as ONNX, written with workloads/build.py's builder (Gemm weights stored out×in)."""
    b = build.Builder("seed000_digits", (1, N_FEATURES))
    if phi is not None:
        b.node("MatMul", [b.x, b.const(phi.astype(np.float32), "cs")])
    for i, (w, bias) in enumerate(layers):
        b.node("Gemm", [b.x, b.const(w.T.astype(np.float32), "w"), b.const(bias.astype(np.float32), "b")],
               transB=1)
        if act and i < 2:
            b.node("Relu" if i == 0 else "Softsign", [b.x])
    b.node("Softmax", [b.x], axis=-1)
    import onnx
    onnx.save(b.model(10), str(path))
    return path


def measure(point: Point, draws: int, epochs: int, data, tmp: Path, timed: int = 3) -> dict:
    """Accuracy over every draw; energy and latency over the first ``timed`` ones (they vary little)."""
    seeds = list(range(draws))
    trained, phis = train(point, data, seeds, epochs)
    act = point.bits is None or point.bits >= 4
    spec = "float" if point.bits is None else f"fixed({point.bits})"
    fmt = parse(f"fixed({point.bits})") if point.bits else None
    accuracy, figures = [], {name: [] for name in ARCHS}
    for d in seeds:
        net = load_onnx(model_file(trained[d], None if phis is None else phis[d], act, tmp / f"draw{d}.onnx"))
        test = Dataset("digits", data[d][1], data[d][3])
        res = evaluate(net, test, spec, progress=False)
        accuracy.append(res["accuracy"])
        if d >= timed:
            continue
        net = _with_masks(net, fmt)
        words = {"I": point.bits, "W": point.bits, "O": point.bits} if point.bits else {}
        precision = {l.name: dict(words) for l in net.mac_layers}
        if phis is not None:
            precision[net.mac_layers[0].name]["W"] = 1  # the CS signs: one bit each
        for name, arch in ARCHS.items():
            r = simulate(net, arch, zero_fractions=res["zero_fractions"], precision=precision)
            figures[name].append((r.total["energy_pj"] / 1e6, r.total["cycles"] / r.clock_mhz))
    out = {"accuracy": float(np.mean(accuracy)), "std": float(np.std(accuracy)), "draws": draws, "timed": timed}
    for name, vals in figures.items():
        out[name] = {"energy_uj": float(np.mean([v[0] for v in vals])), "latency_us": float(np.mean([v[1] for v in vals]))}
    return out


def _with_masks(net, fmt):
    """The net with each dense layer's zero weights — as the format holds them — recorded for the timing path."""
    from dataclasses import replace

    layers = []
    for layer in net.layers:
        if layer.op == "dense":
            w = layer.weights["W"]
            held = fmt.quantize(w) if fmt is not None else w
            mask = np.asarray(held) != 0
            layer = replace(layer, weight_mask=None if mask.all() else mask)
        layers.append(layer)
    return net.with_layers(layers)


# ---- report ----------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=30, help="training & testing draws per point (the paper: 30)")
    ap.add_argument("--epochs", type=int, default=60, help="training epochs")
    ap.add_argument("--timed", type=int, default=3, help="draws whose energy and latency are simulated (default 3)")
    ap.add_argument("--panels", default="abcdef", help="which of Fig. 2's panels (default: all six)")
    ap.add_argument("--out", help="JSON-lines file of finished points (a rerun skips them)")
    args = ap.parse_args(argv)
    done = {}
    if args.out and Path(args.out).exists():
        for line in Path(args.out).read_text().splitlines():
            rec = json.loads(line)
            done[rec["key"]] = rec
    data = splits(args.draws)
    points = [(panel, p) for panel in args.panels for p in PANELS[panel][2]]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for panel, point in tqdm(points, desc="seed 000 Fig. 2", unit="point", file=sys.stderr):
            key = json.dumps([point.rd, point.keep, point.bits, args.draws, args.epochs, args.timed])
            if key not in done:
                done[key] = {"key": key, **measure(point, args.draws, args.epochs, data, Path(tmp), args.timed)}
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(done[key]) + "\n")
                        f.flush()
            results[(panel, point)] = done[key]
    for panel in args.panels:
        title, axis, pts = PANELS[panel]
        rows = []
        for p in pts:
            r = results[(panel, p)]
            x = (f"{p.rd} ({p.rd / N_FEATURES:.0%})" if axis == "rd" else f"{p.keep:.0%}" if axis == "keep"
                 else p.bits or "float")
            rows.append((x, f"{r['accuracy']:.4f} ± {r['std']:.4f}",
                         f"{r['skips']['energy_uj']:.3f}", f"{r['skips']['latency_us']:.2f}",
                         f"{r['gates']['energy_uj']:.3f}", f"{r['gates']['latency_us']:.2f}"))
        print(f"\nFig. 2 ({panel}) {title} — accuracy over {args.draws} draws (mean ± std), energy and latency "
              f"per inference over {min(args.timed, args.draws)}")
        print(tabulate(rows, headers=[axis, "accuracy", "skips: µJ", "skips: µs", "gates: µJ", "gates: µs"]))
    print(closing_note(results, args.draws))
    return 0


def closing_note(results, draws) -> str:
    """The paper's operating points (§III: rd = 25%, CP 50%, QN 5 bits, each 'even better than the original';
    combined in (f) 'with only very limited impacts') against what was measured here."""
    def find(point):
        return next((r for (_, p), r in results.items() if p == point), None)

    base = find(Point())
    if base is None:
        return ""
    lines = [f"\nOperating points of seed 000 §III against the original topology (no DR, no CP, float: "
             f"{base['accuracy']:.4f} ± {base['std']:.4f}; {base['skips']['energy_uj']:.3f} µJ skipping, "
             f"{base['gates']['energy_uj']:.3f} µJ gating):"]
    for name, point in (("DR rd = 25%", Point(rd=OPERATING_RD)), ("CP 50%", Point(keep=0.5)),
                        ("QN 5 bits", Point(bits=5)), ("DR 25% + CP 50% + QN 5 bits (f)",
                                                       Point(rd=OPERATING_RD, keep=0.5, bits=5))):
        r = find(point)
        if r is None:
            continue
        delta = r["accuracy"] - base["accuracy"]
        spread = np.hypot(r["std"], base["std"]) / np.sqrt(draws)  # standard error of the difference
        verdict = ("better than the original" if delta > 2 * spread else
                   "worse than the original" if delta < -2 * spread else "as good as the original (within 2 s.e.)")
        lines.append(f"  {name:34s} {r['accuracy']:.4f} ± {r['std']:.4f} ({delta:+.4f}: {verdict}); energy "
                     f"{r['skips']['energy_uj'] / base['skips']['energy_uj']:.2f}x skipping, "
                     f"{r['gates']['energy_uj'] / base['gates']['energy_uj']:.2f}x gating")
    lines.append("  The paper: each of the three 'even better than the original' on MNIST (784 features, 30 draws);"
                 " combined, 'only very limited impacts'. Here n = 64: rd = 16 keeps 16 numbers of an 8×8 image, a"
                 " far harder reduction than 196 of 784 pixels, half of them background.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
