"""Dimensionality reduction by compressive sensing (seed 000 §II-A, §III): a fixed Rademacher projection Φ of the
n input features onto rd measurements (rd/n the DR ratio), entries ±1/√n, in front of the network.

On hardware the projection is additions and sign flips, no multiplications: its layer's weights are all ±c, so
the timing path prices its MACs as additions (``accelsim.sparsity.sign_adds``); its signs are one bit each
(``simulate(precision={"cs": {"W": 1}})`` packs them 16 to a word), or generated on chip by a seeded sequence.

The network behind Φ must see measurements, not features: seed 000 trains it so. :func:`cs` puts Φ in front of a
trained network whose first MAC layer is dense and refits that layer for the measurements — by least squares
on calibration inputs when given, else by Φ's near-isometry (E[ΦΦᵀ] = (rd/n)·I, so W' = (n/rd)·W Φ); a network
trained on measurements instead takes the Φ it was trained with (``features=n``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import AccelsimError
from ..ir import Layer, LoopBounds, Network


def rademacher(n: int, rd: int, seed: int = 0) -> np.ndarray:
    """The n×rd measurement matrix: independent ±1 entries, normalised by √n (seeded)."""
    if not 1 <= rd:
        raise AccelsimError(f"compressive sensing: rd must be >= 1, got {rd}")
    return (np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, rd)) / np.sqrt(n)).astype(np.float32)


def cs(net: Network, rd: int, seed: int = 0, calibration: np.ndarray | None = None,
       features: int | None = None) -> Network:
    """``net`` behind a Rademacher projection onto ``rd`` measurements (a dense layer named ``cs``) of the inputs
    of its first MAC layer, which is refit to the measurements (least squares on the ``calibration`` inputs, batch
    first, when given). With ``features``, ``net`` was trained on measurements (it takes ``rd`` inputs): Φ of
    ``features`` inputs goes in front unchanged (the same ``seed`` as in training)."""
    first = next((l for l in net.layers if l.is_mac_layer), None)
    where = net.source or net.name
    if first is None or first.op != "dense" or len(first.in_shapes[0]) != 2:
        raise AccelsimError(f"{where}: compressive sensing needs a network whose first MAC layer is dense over "
                            f"feature vectors")
    batch, n = first.in_shapes[0]
    w = np.asarray(first.weights["W"], np.float64)  # (outputs, inputs)
    if features is not None:
        if n != rd:
            raise AccelsimError(f"{where}: {first.name} takes {n} inputs, not {rd} measurements")
        n = features
    phi = rademacher(n, rd, seed)
    if features is None:
        if calibration is not None:
            x = np.asarray(calibration, np.float64).reshape(len(calibration), -1)
            w = np.linalg.lstsq(x @ phi, x @ w.T, rcond=None)[0].T
        else:
            w = (n / rd) * w @ phi
    projection = Layer("cs", "dense", [first.inputs[0]], "cs_measurements", [(batch, n)], (batch, rd),
                       {"W": np.ascontiguousarray(phi.T)}, {}, LoopBounds(batch, rd, n, 1, 1))
    fitted = replace(first, inputs=["cs_measurements"], in_shapes=[(batch, rd)],
                     weights={**first.weights, "W": w.astype(np.float32)}, weight_mask=None,
                     bounds=replace(first.bounds, C=rd))
    layers = [fitted if l is first else l for l in net.layers]
    at = layers.index(fitted)
    inputs = {name: ((shape[0], n) if name == first.inputs[0] else shape) for name, shape in net.inputs.items()}
    return net.with_layers(layers[:at] + [projection] + layers[at:], inputs)
