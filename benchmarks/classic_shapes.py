"""Shape-only classic CNNs for the timing benchmarks, built directly in the layer IR.

Used when ``workloads/<name>.onnx`` (made by ``python workloads/build.py``) is not there. Shapes:
AlexNet (Krizhevsky et al. 2012, with its two-group conv2/4/5), VGG-16 (Simonyan & Zisserman 2015,
configuration D), ResNet-18 (He et al. 2016, Table 1).
"""
from __future__ import annotations

import os

import numpy as np

from accelsim.ir.graph import Network
from accelsim.ir.layer import Layer, LoopBounds

HERE = os.path.dirname(os.path.abspath(__file__))


class _Builder:
    def __init__(self, name, shape):
        self.name, self.layers, self.shape, self.n = name, [], shape, 0
        self.tensor = "x"
        self.inputs = {"x": shape}

    def _add(self, op, out_shape, inputs=None, bounds=None, attrs=None, weights=None):
        self.n += 1
        out = f"t{self.n}"
        ins = inputs or [self.tensor]
        self.layers.append(Layer(f"{op}{self.n}", op, ins, out, [self.shape] * len(ins), out_shape,
                                 weights or {}, attrs or {}, bounds))
        self.tensor, self.shape = out, out_shape
        return out

    def conv(self, K, R, stride=1, pad=0, groups=1, relu=True):
        N, C, H, W = self.shape
        P, Q = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - R) // stride + 1
        b = LoopBounds(N, K, C, P, Q, R, R, stride=(stride, stride), pads=(pad,) * 4, groups=groups)
        out = self._add("conv", (N, K, P, Q), bounds=b, weights={"W": np.zeros((1,), np.float32)})
        if relu:
            self._add("relu", (N, K, P, Q))
        return out

    def pool(self, op, k, stride, pad=0):
        N, C, H, W = self.shape
        P, Q = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
        return self._add(op, (N, C, P, Q), attrs={"kernel": (k, k), "stride": (stride, stride), "pads": (pad,) * 4})

    def dense(self, K, relu=True):
        N = self.shape[0]
        C = int(np.prod(self.shape[1:]))
        if len(self.shape) > 2:
            self._add("flatten", (N, C))
        self._add("dense", (N, K), bounds=LoopBounds(N, K, C, 1, 1), weights={"W": np.zeros((1,), np.float32)})
        if relu:
            self._add("relu", (N, K))

    def net(self):
        return Network.from_layers(self.name, self.layers, self.inputs, [self.tensor])


def alexnet(batch=1):
    b = _Builder("alexnet", (batch, 3, 227, 227))
    b.conv(96, 11, stride=4); b.pool("maxpool", 3, 2)
    b.conv(256, 5, pad=2, groups=2); b.pool("maxpool", 3, 2)
    b.conv(384, 3, pad=1); b.conv(384, 3, pad=1, groups=2); b.conv(256, 3, pad=1, groups=2)
    b.pool("maxpool", 3, 2)
    b.dense(4096); b.dense(4096); b.dense(1000, relu=False)
    return b.net()


def vgg16(batch=1):
    b = _Builder("vgg16", (batch, 3, 224, 224))
    for n, k in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        for _ in range(n):
            b.conv(k, 3, pad=1)
        b.pool("maxpool", 2, 2)
    b.dense(4096); b.dense(4096); b.dense(1000, relu=False)
    return b.net()


def resnet18(batch=1):
    b = _Builder("resnet18", (batch, 3, 224, 224))
    b.conv(64, 7, stride=2, pad=3); b.pool("maxpool", 3, 2, pad=1)
    for k, stride in ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)):
        skip, skip_shape = b.tensor, b.shape
        b.conv(k, 3, stride=stride, pad=1); b.conv(k, 3, pad=1, relu=False)
        main, main_shape = b.tensor, b.shape
        if stride != 1 or skip_shape[1] != k:
            b.tensor, b.shape = skip, skip_shape
            skip = b.conv(k, 1, stride=stride, relu=False)
        b.shape = main_shape
        b._add("add", main_shape, inputs=[main, skip]); b._add("relu", main_shape)
    b.pool("avgpool", b.shape[2], 1)
    b.dense(1000, relu=False)
    return b.net()


def load(name, batch=1):
    """``workloads/<name>.onnx`` if it exists (batch as exported), else the shapes above."""
    path = os.path.join(HERE, "..", "workloads", f"{name}.onnx")
    if os.path.exists(path):
        from accelsim.frontend import load_onnx
        return load_onnx(path)
    return {"alexnet": alexnet, "vgg16": vgg16, "resnet18": resnet18}[name](batch)
