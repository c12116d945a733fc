"""Small networks for the timing-path tests, built directly from Layer/LoopBounds objects."""
from __future__ import annotations

import numpy as np

from accelsim.ir.graph import Network
from accelsim.ir.layer import Layer, LoopBounds


def conv(name, inp, out, N, K, C, H, R, stride=1, pad=0, groups=1, W=None):
    W = W or H
    P = (H + 2 * pad - R) // stride + 1
    Q = (W + 2 * pad - R) // stride + 1
    b = LoopBounds(N, K, C, P, Q, R, R, stride=(stride, stride), pads=(pad,) * 4, groups=groups)
    return Layer(name, "conv", [inp], out, [(N, C, H, W)], (N, K, P, Q),
                 {"W": np.zeros((K, C // groups, R, R), np.float32)}, {}, b)


def dense(name, inp, out, N, K, C):
    return Layer(name, "dense", [inp], out, [(N, C)], (N, K), {"W": np.zeros((K, C), np.float32)}, {},
                 LoopBounds(N, K, C, 1, 1))


def net_of(*layers, name="test"):
    first = layers[0]
    return Network.from_layers(name, list(layers), {first.inputs[0]: first.in_shapes[0]}, [layers[-1].output])


def small_cnn():
    return net_of(conv("c1", "x", "y1", 1, 8, 3, 10, 3, pad=1),
                  Layer("r1", "relu", ["y1"], "y2", [(1, 8, 10, 10)], (1, 8, 10, 10)),
                  Layer("p1", "maxpool", ["y2"], "y3", [(1, 8, 10, 10)], (1, 8, 5, 5),
                        attrs={"kernel": (2, 2), "stride": (2, 2), "pads": (0, 0, 0, 0), "ceil_mode": 0}),
                  conv("c2", "y3", "y4", 1, 12, 8, 5, 3, stride=2, groups=2),
                  Layer("f", "flatten", ["y4"], "y5", [(1, 12, 2, 2)], (1, 48)),
                  dense("fc", "y5", "y6", 1, 10, 48))
