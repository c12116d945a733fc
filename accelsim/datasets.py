"""Labelled data sets available offline: ``load("digits" | "seed001" | "npz:PATH")``.

* ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, pixel values 0..16 scaled to 0..1),
  split 70/30 stratified with ``random_state=0``; the test split is what ``load`` returns, ``train`` the rest.
* ``seed001``: the r-classification signals of seed 001 §III-A: n = 512 samples of a zero-mean Gaussian
  process with covariance X_ij = r^|i−j| (eq. 6), i.e. an AR(1) process, for ten r equally spaced in
  [−0.9, 0.9]; label = index of r. Test set: 10,000 signals from seed 1 (training draws use other seeds).
* ``npz:PATH``: arrays ``x`` (batch first) and ``y`` (integer labels).

A Dataset checks itself when made (samples present, one integral non-negative label per sample, finite
values), and ``for_network`` checks it against a model: one input and one score per class, labels in range.

``Dataset.for_input_shape(shape)`` adapts images to a model input: an H×W image is enlarged by the largest
integer nearest-neighbour factor that fits and centred with zero padding (digits 8×8 → 32×32 for LeNet-5,
→ 24×24 padded to 28×28 and flattened to 784 for the seed 000 MLP).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from math import isqrt, prod

import numpy as np

from .errors import AccelsimError, did_you_mean

SEED001_R = np.linspace(-0.9, 0.9, 10)


@dataclass
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        x, y = np.asarray(self.x), np.asarray(self.y)
        where = f"data set '{self.name}'"
        if x.dtype.kind not in "biuf" or x.ndim < 1:
            raise AccelsimError(f"{where}: x must be a real-valued array, batch first (got {x.dtype} of shape {x.shape})")
        if y.ndim != 1 or len(y) != len(x):
            raise AccelsimError(f"{where}: y must hold one label per sample: x has {len(x)} samples, y has shape "
                                f"{y.shape}")
        if len(y) == 0:
            raise AccelsimError(f"{where}: no samples")
        bad = np.ones(len(y), bool) if y.dtype.kind not in "biuf" else ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise AccelsimError(f"{where}: labels must be integer class indices, got {y[bad][0].item()!r}")
        if y.min() < 0:
            raise AccelsimError(f"{where}: labels must be class indices >= 0, got {y.min()}")
        if not np.isfinite(x).all():
            raise AccelsimError(f"{where}: x holds {int((~np.isfinite(x)).sum())} NaN or infinite values")
        self.x = x if x.dtype == np.float32 else x.astype(np.float32)
        self.y = y if y.dtype == np.int64 else y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def for_network(self, net) -> "Dataset":
        """The data shaped for ``net``'s single input, checked against the classes ``net`` scores."""
        where = net.source or net.name
        if len(net.inputs) != 1:
            raise AccelsimError(f"{where}: has {len(net.inputs)} inputs ({', '.join(net.inputs)}); a labelled data "
                                f"set feeds single-input models")
        if len(net.outputs) != 1:
            raise AccelsimError(f"{where}: has {len(net.outputs)} outputs; accuracy needs one score per class")
        out = next((l.out_shape for l in net.layers if l.output == net.outputs[0]), None)
        if out is None or len(out) != 2:
            raise AccelsimError(f"{where}: output of shape {out} is not a score per class")
        if self.y.max() >= out[1]:
            raise AccelsimError(f"data set '{self.name}': label {self.y.max()} is out of range for the {out[1]} "
                                f"classes {where} scores")
        return self.for_input_shape(next(iter(net.inputs.values())))

    def for_input_shape(self, shape) -> "Dataset":
        """The same data shaped for a model input of ``shape`` (batch dimension first, ignored)."""
        target = tuple(shape[1:])
        x = self.x
        if x.shape[1:] == target:
            return self
        if prod(x.shape[1:]) == prod(target):
            return Dataset(self.name, x.reshape(len(x), *target), self.y)
        img = _as_images(x)
        out_hw = _target_hw(target)
        if img is None or out_hw is None or out_hw[0] < img.shape[-2] or out_hw[1] < img.shape[-1]:
            raise AccelsimError(f"data set '{self.name}': samples of shape {x.shape[1:]} cannot feed a model "
                                f"input of shape {target}")
        resized = _fit(img, out_hw)
        return Dataset(self.name, resized.reshape(len(x), *target).astype(np.float32), self.y)


def _as_images(x):
    """(N, H, W) from (N, H, W), (N, 1, H, W) or flattened square images; None if not images."""
    if x.ndim == 3:
        return x
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 2 and isqrt(x.shape[1]) ** 2 == x.shape[1]:
        s = isqrt(x.shape[1])
        return x.reshape(len(x), s, s)
    return None


def _target_hw(target):
    if len(target) == 3 and target[0] == 1:
        return target[1:]
    if len(target) == 2:
        return target
    if len(target) == 1 and isqrt(target[0]) ** 2 == target[0]:
        return (isqrt(target[0]),) * 2
    return None


def _fit(img, hw):
    """Nearest-neighbour enlarge by the largest integer factor that fits, then centre with zero padding."""
    h, w = img.shape[-2:]
    k = min(hw[0] // h, hw[1] // w)
    big = img.repeat(k, axis=-2).repeat(k, axis=-1)
    ph, pw = hw[0] - h * k, hw[1] - w * k
    return np.pad(big, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


def digits(split: str = "test") -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, d.target, test_size=0.3, random_state=0, stratify=d.target)
    return Dataset("digits", *((x_test, y_test) if split == "test" else (x_train, y_train)))


def seed001_signals(count: int, seed: int, n: int = 512) -> Dataset:
    """``count`` AR(1) signals with covariance r^|i-j| (seed 001 eq. 6), classes balanced, shuffled."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(count) % len(SEED001_R))
    r = SEED001_R[y][:, None]
    e = rng.standard_normal((count, n))
    x = np.empty((count, n))
    x[:, 0] = e[:, 0]
    scale = np.sqrt(1 - r[:, 0] ** 2)
    for i in range(1, n):
        x[:, i] = r[:, 0] * x[:, i - 1] + scale * e[:, i]
    return Dataset("seed001", x.astype(np.float32), y.astype(np.int64))


def npz(path: str) -> Dataset:
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise AccelsimError(f"{path}: not an .npz archive (np.savez writes one, with arrays x and y)")
        with archive:
            if not {"x", "y"} <= set(archive.files):
                raise AccelsimError(f"{path}: an .npz data set needs arrays 'x' and 'y' (it has "
                                    f"{', '.join(archive.files) or 'none'})")
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        detail = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AccelsimError(f"{path}: cannot read an .npz data set ({detail})") from None
    return Dataset(f"npz:{path}", x, y)


def load(spec) -> Dataset:
    """A data set by name: ``digits``, ``seed001`` or ``npz:PATH`` (a Dataset passes through)."""
    if isinstance(spec, Dataset):
        return spec
    if spec == "digits":
        return digits()
    if spec == "seed001":
        return seed001_signals(10_000, seed=1)
    if str(spec).startswith("npz:"):
        return npz(spec[4:])
    hint = did_you_mean(str(spec), ("digits", "seed001", "npz:PATH")) or " (known: digits, seed001, npz:PATH)"
    raise AccelsimError(f"data set '{spec}': unknown{hint}")
