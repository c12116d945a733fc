"""Build the bundled workloads as ONNX files (seeded random weights, batch 1, opset 17, offline).

    python workloads/build.py [NAME ...]      # all of them when no name is given

Each model is written the way a real exporter would write it (Gemm with transB, Flatten, Reshape from a
constant shape, BatchNormalization, Dropout, Clip as ReLU6, depthwise groups), so building them also
exercises the frontend. The three ConvNets of seed 004 Table 4 reproduce its MAC totals exactly:

* IC (CIFAR-10, 3×32×32): the Caffe "cifar10 quick" net — 5×5 convs with pad 2, MaxPool 3×3 stride 2 in
  Caffe's ceil mode (32→16→8→4), dense 1024→10: 2,457,600 + 6,553,600 + 3,276,800 + 10,240 = 12,298,240.
* KWS (32×40 spectrogram): cnn-one-fstride4 — conv 186 filters of 32×8, stride (1, 4) → 186×1×9;
  MaxPool(1,1) is the identity and is kept; the second conv (64 of 10×4) cannot apply to a 1×9 map, so
  the published total is conv1 (428,544) + dense 1674→32→128→128→12 (75,584) = 504,128.
* FER (48×48): nine 3×3 convs with pad 1 (32,32,32 | 64,64,64 | 128,128,128), MaxPool 2×2 after each group
  of three, dense 4608→7: 149,331,456.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
OPSET = 17
SAM_DOMAIN = "ai.accelsim"


class Builder:
    """Appends nodes and seeded initializers; each method returns the name of its output tensor."""

    def __init__(self, name: str, input_shape, seed: int = 0, input_name: str = "input",
                 input_type: int = TensorProto.FLOAT):
        self.name, self.input_shape = name, tuple(input_shape)
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0
        self.x = self.input_name = input_name
        self.input_type = input_type

    def _name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def const(self, array, kind="c"):
        name = self._name(kind)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, shape, fan_in):
        """He-initialised float32 weights, so activations keep a sensible scale through deep nets."""
        return self.const((self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), "w")

    def node(self, op, inputs, domain="", **attrs):
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, domain=domain, **attrs))
        self.x = out
        return out

    def conv(self, cin, cout, k, stride=1, pad=0, groups=1, bias=True, x=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        ins = [x or self.x, self.weight((cout, cin // groups, kh, kw), cin // groups * kh * kw)]
        if bias:
            ins.append(self.const(np.zeros(cout, np.float32), "b"))
        return self.node("Conv", ins, kernel_shape=[kh, kw], strides=[sh, sw], pads=[pad] * 4, group=groups)

    def conv_bn(self, cin, cout, k, stride=1, pad=0, groups=1, x=None):
        """Conv without bias followed by BatchNormalization, as torchvision exports conv-BN blocks."""
        self.conv(cin, cout, k, stride=stride, pad=pad, groups=groups, bias=False, x=x)
        return self.bn(cout)

    def bn(self, c):
        r = self.rng
        params = [r.uniform(0.5, 1.5, c), r.normal(0, 0.1, c), r.normal(0, 0.1, c), r.uniform(0.5, 1.5, c)]
        return self.node("BatchNormalization", [self.x] + [self.const(p.astype(np.float32), "bn") for p in params],
                         epsilon=1e-5)

    def relu(self, x=None):
        return self.node("Relu", [x or self.x])

    def relu6(self):
        return self.node("Clip", [self.x, self.const(np.float32(0)), self.const(np.float32(6))])

    def maxpool(self, k, stride, pad=0, ceil=0):
        return self.node("MaxPool", [self.x], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                         ceil_mode=ceil)

    def flatten(self):
        return self.node("Flatten", [self.x], axis=1)

    def reshape_flat(self, features):
        return self.node("Reshape", [self.x, self.const(np.array([-1, features], np.int64), "shape")])

    def gemm(self, cin, cout):
        """A dense layer as PyTorch exports nn.Linear: Gemm with transB=1 (weight stored out×in)."""
        w = self.weight((cout, cin), cin)
        return self.node("Gemm", [self.x, w, self.const(np.zeros(cout, np.float32), "b")], transB=1)

    def matmul_add(self, cin, cout):
        """A dense layer as TensorFlow converters write it: MatMul by an in×out weight, then Add of the bias."""
        self.node("MatMul", [self.x, self.weight((cin, cout), cin)])
        return self.node("Add", [self.x, self.const(np.zeros(cout, np.float32), "b")])

    def model(self, classes: int, opsets=()) -> onnx.ModelProto:
        inp = helper.make_tensor_value_info(self.input_name, self.input_type, ["N", *self.input_shape[1:]])
        out = helper.make_tensor_value_info(self.x, TensorProto.FLOAT, ["N", classes])
        graph = helper.make_graph(self.nodes, self.name, [inp], [out], initializer=self.inits)
        imports = [helper.make_opsetid("", OPSET)] + [helper.make_opsetid(d, v) for d, v in opsets]
        m = helper.make_model(graph, opset_imports=imports, producer_name="accelsim-workloads")
        m.ir_version = 8
        m = onnx.shape_inference.infer_shapes(m)
        onnx.checker.check_model(m)
        return m


def seed004_ic():
    b = Builder("seed004_ic", (1, 3, 32, 32))
    for cin, cout in ((3, 32), (32, 32), (32, 64)):
        b.conv(cin, cout, 5, pad=2)
        b.relu()
        b.maxpool(3, 2, ceil=1)
    b.flatten()
    b.gemm(64 * 4 * 4, 10)
    return b.model(10)


def seed004_kws():
    b = Builder("seed004_kws", (1, 1, 32, 40))
    b.conv(1, 186, (32, 8), stride=(1, 4))
    b.relu()
    b.maxpool(1, 1)
    b.flatten()
    for cin, cout in ((186 * 9, 32), (32, 128), (128, 128)):
        b.gemm(cin, cout)
        b.relu()
    b.gemm(128, 12)
    return b.model(12)


def seed004_fer():
    b = Builder("seed004_fer", (1, 1, 48, 48))
    cin = 1
    for cout in (32, 64, 128):
        for _ in range(3):
            b.conv(cin, cout, 3, pad=1)
            b.relu()
            cin = cout
        b.maxpool(2, 2)
    b.flatten()
    b.gemm(128 * 6 * 6, 7)
    return b.model(7)


def rademacher_projection(rd=196, n=784, seed=0):
    """The fixed compressive-sensing matrix of seed 000 §III: ±1 entries normalised by sqrt(n)."""
    return (np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, rd)) / np.sqrt(n)).astype(np.float32)


def seed000_cs_mlp(weights=None):
    """Seed 000 §III: sample 784 -> CS projection rd=196 -> dense rd -> ReLU -> dense 32 -> Softsign -> dense 10
    -> Softmax. ``weights`` = [(W in×out, b), ...] of the three learned layers (else seeded random)."""
    b = Builder("seed000_cs_mlp", (1, 784))
    b.node("MatMul", [b.x, b.const(rademacher_projection(), "cs")])
    sizes = [(196, 196), (196, 32), (32, 10)]
    acts = ["Relu", "Softsign", None]
    for i, ((cin, cout), act) in enumerate(zip(sizes, acts)):
        if weights is None:
            b.matmul_add(cin, cout)
        else:
            w, bias = weights[i]
            b.node("MatMul", [b.x, b.const(w.astype(np.float32), "w")])
            b.node("Add", [b.x, b.const(bias.astype(np.float32), "b")])
        if act:
            b.node(act, [b.x])
    b.node("Softmax", [b.x], axis=-1)
    return b.model(10)


def seed001_mac(weights=None):
    """Seed 001 configuration A: 512 inputs -> dense 307 (0.6 n) -> ReLU -> dense 10 -> softmax."""
    b = Builder("seed001_mac", (1, 512))
    for i, (cin, cout) in enumerate(((512, 307), (307, 10))):
        if weights is None:
            b.gemm(cin, cout)
        else:
            w, bias = weights[i]
            b.node("Gemm", [b.x, b.const(w.astype(np.float32), "w"), b.const(bias.astype(np.float32), "b")], transB=1)
        if i == 0:
            b.relu()
    b.node("Softmax", [b.x], axis=-1)
    return b.model(10)


def seed001_sam(weights=None):
    """Seed 001 configuration B: 512 inputs -> SAM layer of 2n = 1024 outputs (eq. 5) -> dense 10 -> softmax."""
    b = Builder("seed001_sam", (1, 512))
    if weights is None:
        wp = b.rng.normal(0, 0.1, (512, 1024)).astype(np.float32)
        wm = b.rng.normal(0, 0.1, (512, 1024)).astype(np.float32)
        w, bias = (b.rng.standard_normal((10, 1024)) * 0.03).astype(np.float32), np.zeros(10, np.float32)
    else:
        (wp, wm), (w, bias) = weights
    b.node("SamDense", [b.x, b.const(wp.astype(np.float32), "wplus"), b.const(wm.astype(np.float32), "wminus")],
           domain=SAM_DOMAIN)
    b.node("Gemm", [b.x, b.const(w.astype(np.float32), "w"), b.const(bias.astype(np.float32), "b")], transB=1)
    b.node("Softmax", [b.x], axis=-1)
    return b.model(10, opsets=[(SAM_DOMAIN, 1)])


def lenet5(weights=None):
    """LeNet-5 on 1×32×32: conv 6@5×5 -> ReLU -> maxpool 2 -> conv 16@5×5 -> ReLU -> maxpool 2 -> dense 400-120-84-10.
    ``weights``: list of (W, b) in ONNX layout for the five learned layers (else seeded random)."""
    b = Builder("lenet5", (1, 1, 32, 32))
    layers = iter(weights or [])

    def learned(kind, *shape_args):
        if weights is None:
            return b.conv(*shape_args) if kind == "conv" else b.gemm(*shape_args)
        w, bias = next(layers)
        ins = [b.x, b.const(w.astype(np.float32), "w"), b.const(bias.astype(np.float32), "b")]
        if kind == "conv":
            return b.node("Conv", ins, kernel_shape=list(w.shape[2:]))
        return b.node("Gemm", ins, transB=1)

    for cin, cout in ((1, 6), (6, 16)):
        learned("conv", cin, cout, 5)
        b.relu()
        b.maxpool(2, 2)
    b.flatten()
    for cin, cout in ((400, 120), (120, 84)):
        learned("gemm", cin, cout)
        b.relu()
    learned("gemm", 84, 10)
    return b.model(10)


def alexnet():
    """The original (Caffe bvlc) AlexNet: 227×227 input, grouped conv2/4/5, LRN, Dropout, Reshape to 9216."""
    b = Builder("alexnet", (1, 3, 227, 227))
    b.conv(3, 96, 11, stride=4)
    b.relu()
    b.node("LRN", [b.x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    b.maxpool(3, 2)
    b.conv(96, 256, 5, pad=2, groups=2)
    b.relu()
    b.node("LRN", [b.x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    b.maxpool(3, 2)
    b.conv(256, 384, 3, pad=1)
    b.relu()
    b.conv(384, 384, 3, pad=1, groups=2)
    b.relu()
    b.conv(384, 256, 3, pad=1, groups=2)
    b.relu()
    b.maxpool(3, 2)
    b.reshape_flat(256 * 6 * 6)
    for cin, cout in ((9216, 4096), (4096, 4096)):
        b.gemm(cin, cout)
        b.relu()
        b.node("Dropout", [b.x])
    b.gemm(4096, 1000)
    b.node("Softmax", [b.x], axis=-1)
    return b.model(1000)


def vgg16():
    b = Builder("vgg16", (1, 3, 224, 224))
    cin = 3
    for cout, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            b.conv(cin, cout, 3, pad=1)
            b.relu()
            cin = cout
        b.maxpool(2, 2)
    b.reshape_flat(512 * 7 * 7)
    for cin, cout in ((25088, 4096), (4096, 4096)):
        b.gemm(cin, cout)
        b.relu()
        b.node("Dropout", [b.x])
    b.gemm(4096, 1000)
    return b.model(1000)


def resnet18():
    """ResNet-18 as torchvision exports it: conv-BN-ReLU, basic blocks with Add, 1×1 stride-2 downsampling."""
    b = Builder("resnet18", (1, 3, 224, 224))
    b.conv_bn(3, 64, 7, stride=2, pad=3)
    b.relu()
    b.maxpool(3, 2, pad=1)
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            shortcut = b.x
            b.conv_bn(cin, cout, 3, stride=s, pad=1)
            b.relu()
            main = b.conv_bn(cout, cout, 3, pad=1)
            if s != 1 or cin != cout:
                shortcut = b.conv_bn(cin, cout, 1, stride=s, x=shortcut)
            b.node("Add", [main, shortcut])
            b.relu()
            cin = cout
    b.node("GlobalAveragePool", [b.x])
    b.flatten()
    b.gemm(512, 1000)
    return b.model(1000)


def mobilenet_v1():
    """MobileNet-v1 (width 1.0, 224×224): depthwise 3×3 (groups = channels) + pointwise 1×1, BN, ReLU6."""
    b = Builder("mobilenet_v1", (1, 3, 224, 224))
    b.conv_bn(3, 32, 3, stride=2, pad=1)
    b.relu6()
    cin = 32
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for cout, stride in plan:
        b.conv_bn(cin, cin, 3, stride=stride, pad=1, groups=cin)
        b.relu6()
        b.conv_bn(cin, cout, 1)
        b.relu6()
        cin = cout
    b.node("GlobalAveragePool", [b.x])
    b.flatten()
    b.gemm(1024, 1000)
    return b.model(1000)


# ---- transformers -------------------------------------------------------------------------------------------
#: BERT-tiny (Turc et al. 2019, "Well-Read Students Learn Better": L=2, H=128, A=2; intermediate 4H, BERT's
#: vocabulary) on sequences of 128 tokens, and ViT-Ti/16 (Touvron et al. 2021, DeiT-Ti: 12 layers, width 192,
#: 3 heads, MLP 768; 224×224 images in 16×16 patches, 1000 classes)
BERT = dict(vocab=30522, positions=512, seq=128, hidden=128, heads=2, layers=2, ffn=512, labels=2, eps=1e-12)
VIT = dict(image=224, patch=16, hidden=192, heads=3, layers=12, ffn=768, classes=1000, eps=1e-12)
INIT_STD = 0.02  # BERT's and ViT's initializer range: every weight N(0, 0.02), biases 0, LayerNorm 1 and 0


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bert_tiny():
    """BERT-tiny-like sequence classifier: token ids (padding id 0, masked out of attention) -> word + position
    embeddings -> LayerNorm -> 2 post-norm encoder layers -> tanh pooler on the first token -> 2 logits.
    Exported by ``torch.onnx.export`` when torch is importable, else written with onnx.helper as it would be."""
    return _export_torch("bert") if torch_available() else _bert_helper()


def vit_tiny():
    """ViT-tiny-like classifier: 16×16 patches by a strided conv -> class token and position embeddings -> 12 pre-norm
    encoder layers -> LayerNorm -> the class token's 1000 logits. Exported by torch when importable, else helper."""
    return _export_torch("vit") if torch_available() else _vit_helper()


def _torch_modules():
    """The two transformers as PyTorch modules, laid out as Hugging Face's BertModel and ViTModel are (separate
    query/key/value projections, masked_fill of padded keys, GELU, LayerNorm)."""
    import math

    import torch
    from torch import nn

    class SelfAttention(nn.Module):
        def __init__(self, hidden, heads):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.query, self.key, self.value, self.out = (nn.Linear(hidden, hidden) for _ in range(4))

        def forward(self, x, pad=None):
            b, s, h = x.shape
            q, k, v = (f(x).view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)
                       for f in (self.query, self.key, self.value))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            if pad is not None:
                scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
            context = torch.matmul(scores.softmax(dim=-1), v).permute(0, 2, 1, 3).reshape(b, s, h)
            return self.out(context)

    class Block(nn.Module):
        def __init__(self, c, pre_norm):
            super().__init__()
            self.pre_norm = pre_norm
            self.attention = SelfAttention(c["hidden"], c["heads"])
            self.norm1, self.norm2 = (nn.LayerNorm(c["hidden"], eps=c["eps"]) for _ in range(2))
            self.ffn = nn.Sequential(nn.Linear(c["hidden"], c["ffn"]), nn.GELU(), nn.Linear(c["ffn"], c["hidden"]))

        def forward(self, x, pad=None):
            if self.pre_norm:  # ViT
                x = x + self.attention(self.norm1(x), pad)
                return x + self.ffn(self.norm2(x))
            x = self.norm1(x + self.attention(x, pad))  # BERT
            return self.norm2(x + self.ffn(x))

    class Bert(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.words, self.positions = nn.Embedding(c["vocab"], c["hidden"]), nn.Embedding(c["positions"], c["hidden"])
            self.norm = nn.LayerNorm(c["hidden"], eps=c["eps"])
            self.blocks = nn.ModuleList(Block(c, pre_norm=False) for _ in range(c["layers"]))
            self.pooler, self.classifier = nn.Linear(c["hidden"], c["hidden"]), nn.Linear(c["hidden"], c["labels"])
            self.register_buffer("position_ids", torch.arange(c["seq"]).unsqueeze(0), persistent=False)

        def forward(self, input_ids):
            pad = (input_ids == 0)[:, None, None, :]
            x = self.norm(self.words(input_ids) + self.positions(self.position_ids))
            for block in self.blocks:
                x = block(x, pad)
            return self.classifier(torch.tanh(self.pooler(x[:, 0])))

    class Vit(nn.Module):
        def __init__(self, c):
            super().__init__()
            tokens = (c["image"] // c["patch"]) ** 2 + 1
            self.patches = nn.Conv2d(3, c["hidden"], c["patch"], stride=c["patch"])
            self.cls = nn.Parameter(torch.zeros(1, 1, c["hidden"]))
            self.positions = nn.Parameter(torch.zeros(1, tokens, c["hidden"]))
            self.blocks = nn.ModuleList(Block(c, pre_norm=True) for _ in range(c["layers"]))
            self.norm = nn.LayerNorm(c["hidden"], eps=c["eps"])
            self.head = nn.Linear(c["hidden"], c["classes"])

        def forward(self, pixels):
            x = self.patches(pixels).flatten(2).transpose(1, 2)
            x = torch.cat((self.cls.expand(x.shape[0], -1, -1), x), dim=1) + self.positions
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x)[:, 0])

    def initialise(module):
        for p in module.parameters():
            nn.init.normal_(p, std=INIT_STD) if p.dim() > 1 else nn.init.zeros_(p)
        for m in module.modules():
            if isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
        return module.eval()

    return {"bert": lambda: initialise(Bert(BERT)), "vit": lambda: initialise(Vit(VIT))}


def _export_torch(kind: str) -> onnx.ModelProto:
    """``torch.onnx.export`` of a seeded module with a dynamic batch. The TorchScript-based exporter
    (``dynamo=False``): the torch.export-based default needs the onnxscript package, which accelsim does not."""
    import io
    import warnings

    import torch
    torch.manual_seed(0)
    module = _torch_modules()[kind]()
    if kind == "bert":
        args, name = (torch.ones(1, BERT["seq"], dtype=torch.int64),), "input_ids"
    else:
        args, name = (torch.zeros(1, 3, VIT["image"], VIT["image"]),), "input"
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=OPSET, input_names=[name],
                          output_names=["logits"], dynamic_axes={name: {0: "N"}, "logits": {0: "N"}})
    m = onnx.load_from_string(buf.getvalue())
    m.graph.name = f"{kind}_tiny"
    return m


class TransformerBuilder(Builder):
    """What torch.onnx.export writes for the modules above, written with onnx.helper (when torch is absent)."""

    def normal(self, shape):
        return self.const((self.rng.standard_normal(shape) * INIT_STD).astype(np.float32), "w")

    def linear(self, cin, cout, x=None):
        """nn.Linear on a 3-D input as exported: MatMul by the in×out weight, then Add of the bias."""
        self.node("MatMul", [x or self.x, self.normal((cin, cout))])
        return self.node("Add", [self.const(np.zeros(cout, np.float32), "b"), self.x])

    def layernorm(self, width, eps, x=None):
        return self.node("LayerNormalization", [x or self.x, self.const(np.ones(width, np.float32), "ln"),
                                                self.const(np.zeros(width, np.float32), "ln")], axis=-1, epsilon=eps)

    def gelu(self):
        x = self.x
        self.node("Div", [x, self.const(np.float32(np.sqrt(2.0)))])
        self.node("Erf", [self.x])
        self.node("Add", [self.x, self.const(np.float32(1.0))])
        self.node("Mul", [x, self.x])
        return self.node("Mul", [self.x, self.const(np.float32(0.5))])

    def heads_first(self, x, seq, heads, perm=(0, 2, 1, 3)):
        self.node("Reshape", [x, self.const(np.array([-1, seq, heads, self.head_dim], np.int64), "shape")])
        return self.node("Transpose", [self.x], perm=list(perm))

    def attention(self, c, seq, pad=None):
        x, hidden, heads = self.x, c["hidden"], c["heads"]
        self.head_dim = hidden // heads
        q = self.heads_first(self.linear(hidden, hidden, x), seq, heads)
        k = self.heads_first(self.linear(hidden, hidden, x), seq, heads, perm=(0, 2, 3, 1))
        v = self.heads_first(self.linear(hidden, hidden, x), seq, heads)
        self.node("MatMul", [q, k])
        self.node("Div", [self.x, self.const(np.float32(np.sqrt(self.head_dim)))])
        if pad is not None:
            self.node("Where", [pad, self.const(np.float32(np.finfo(np.float32).min)), self.x])
        self.node("Softmax", [self.x], axis=-1)
        self.node("MatMul", [self.x, v])
        self.node("Transpose", [self.x], perm=[0, 2, 1, 3])
        self.node("Reshape", [self.x, self.const(np.array([-1, seq, hidden], np.int64), "shape")])
        return self.linear(hidden, hidden)

    def block(self, c, seq, pre_norm, pad=None):
        x = self.x
        if pre_norm:  # ViT
            self.layernorm(c["hidden"], c["eps"])
            x = self.node("Add", [x, self.attention(c, seq, pad)])
            self.layernorm(c["hidden"], c["eps"])
            self.linear(c["hidden"], c["ffn"])
            self.gelu()
            return self.node("Add", [x, self.linear(c["ffn"], c["hidden"])])
        x = self.layernorm(c["hidden"], c["eps"], self.node("Add", [x, self.attention(c, seq, pad)]))  # BERT
        self.linear(c["hidden"], c["ffn"])
        self.gelu()
        return self.layernorm(c["hidden"], c["eps"], self.node("Add", [x, self.linear(c["ffn"], c["hidden"])]))

    def first_token(self):
        return self.node("Gather", [self.x, self.const(np.array(0, np.int64), "index")], axis=1)

    def gemm_normal(self, cin, cout):
        """nn.Linear on a 2-D input as exported: Gemm with transB=1."""
        return self.node("Gemm", [self.x, self.normal((cout, cin)), self.const(np.zeros(cout, np.float32), "b")],
                         transB=1)


def _bert_helper():
    c, seq = BERT, BERT["seq"]
    b = TransformerBuilder("bert_tiny", (1, seq), input_name="input_ids", input_type=TensorProto.INT64)
    ids = b.x
    b.node("Equal", [ids, b.const(np.array(0, np.int64))])
    pad = b.node("Unsqueeze", [b.node("Unsqueeze", [b.x, b.const(np.array([1], np.int64))]),
                               b.const(np.array([2], np.int64))])
    words = b.node("Gather", [b.normal((c["vocab"], c["hidden"])), ids])
    positions = (b.rng.standard_normal((1, seq, c["hidden"])) * INIT_STD).astype(np.float32)  # rows 0..seq-1 of 512
    b.node("Add", [words, b.const(positions, "w")])
    b.layernorm(c["hidden"], c["eps"])
    for _ in range(c["layers"]):
        b.block(c, seq, pre_norm=False, pad=pad)
    b.first_token()
    b.gemm_normal(c["hidden"], c["hidden"])
    b.node("Tanh", [b.x])
    b.gemm_normal(c["hidden"], c["labels"])
    return b.model(c["labels"])


def _vit_helper():
    c = VIT
    side = c["image"] // c["patch"]
    seq = side * side + 1
    b = TransformerBuilder("vit_tiny", (1, 3, c["image"], c["image"]))
    b.node("Conv", [b.x, b.normal((c["hidden"], 3, c["patch"], c["patch"])), b.const(np.zeros(c["hidden"], np.float32))],
           kernel_shape=[c["patch"]] * 2, strides=[c["patch"]] * 2)
    b.node("Reshape", [b.x, b.const(np.array([-1, c["hidden"], side * side], np.int64), "shape")])
    patches = b.node("Transpose", [b.x], perm=[0, 2, 1])
    batch = b.node("Unsqueeze", [b.node("Gather", [b.node("Shape", [patches]), b.const(np.array(0, np.int64))]),
                                 b.const(np.array([0], np.int64))])
    b.node("Concat", [batch, b.const(np.array([1, c["hidden"]], np.int64), "shape")], axis=0)
    cls = b.node("Expand", [b.normal((1, 1, c["hidden"])), b.x])  # the class token, one per sample
    b.node("Concat", [cls, patches], axis=1)
    b.node("Add", [b.x, b.normal((1, seq, c["hidden"]))])
    for _ in range(c["layers"]):
        b.block(c, seq, pre_norm=True)
    b.layernorm(c["hidden"], c["eps"])
    b.first_token()
    b.gemm_normal(c["hidden"], c["classes"])
    return b.model(c["classes"])


WORKLOADS = {f.__name__: f for f in (seed004_ic, seed004_kws, seed004_fer, seed000_cs_mlp, seed001_sam, seed001_mac,
                                     lenet5, alexnet, vgg16, resnet18, mobilenet_v1, bert_tiny, vit_tiny)}


def build(names=None, out_dir=HERE, force=False) -> dict[str, Path]:
    """Write the named workloads (all by default) into ``out_dir``; existing files are kept unless ``force``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names or WORKLOADS:
        if name not in WORKLOADS:
            raise SystemExit(f"build.py: unknown workload '{name}' (known: {', '.join(WORKLOADS)})")
        path = out_dir / f"{name}.onnx"
        if force or not path.exists():
            tmp = path.with_suffix(".onnx.tmp")
            onnx.save(WORKLOADS[name](), tmp)
            tmp.replace(path)
        paths[name] = path
    return paths


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--force"]
    for name, path in build(args or None, force="--force" in sys.argv).items():
        print(f"{name:16s} {path.stat().st_size / 1e6:8.1f} MB  {path}")
