"""Seed 004 §4.2's precision states, and their accuracy on a calibration set, cheaply.

A state is a tuple of 2L+1 booleans (True = 16 bits, False = 8 bits) for a net of L MAC layers, ordered
``(I_1, W_1, I_2, W_2, ..., I_L, W_L, O)``: each layer's input map and weights, then the last layer's output
map. Layer i runs seed 004's multi-precision MAC at ``{I_i}x{W_i}`` (``mac=8x16`` etc. on ``fixed(16)``
operands, the functional path's format spec); O only sets how the net's output is stored (8-bit logits are
rounded to fixed(8) before the arg-max; on the timing side it halves the output's traffic).

:class:`Calibrated` evaluates states on a calibration set: the whole set runs as one batch (one
fraction length per layer and tensor over the set, as §4.1 chooses them), and because a simulated-annealing
move flips one bit, the activations leaving every MAC layer are kept per prefix of the state
(``(I_1, W_1, ..., I_k, W_k)``) within a memory budget, so a state reruns only the layers after the longest
prefix it shares with states already run. Quantized weights are encoded once per layer and width.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from math import prod

import numpy as np

from ..errors import AccelsimError
from ..formats import Fixed, parse
from ..functional.quantized import QuantizedExecutor, QuantSpec
from ..functional.reference import OPS
from ..kernels.mac import operand_bits

BITS = {False: 8, True: 16}
#: seed 004 Table 5's per-net precisions (I×W for every layer; the output map at the input maps' width)
PER_NET = {"16x16": (True, True), "8x16": (False, True), "16x8": (True, False), "8x8": (False, False)}


def mac_layers(net) -> list[str]:
    """Names of the layers whose precision a state sets: the MAC layers (conv, dense), in order."""
    names = net.__dict__.get("_mac_layer_names")
    if names is None:  # (net.layers sorts the graph: once per net)
        names = net.__dict__["_mac_layer_names"] = [l.name for l in net.layers if l.is_mac_layer
                                                     and l.op != "sam_dense"]
    if not names:
        raise AccelsimError(f"{net.source or net.name}: no conv or dense layer to assign a precision to")
    return names


def full(n_layers: int) -> tuple[bool, ...]:
    return (True,) * (2 * n_layers + 1)


def per_net(n_layers: int, name: str) -> tuple[bool, ...]:
    i, w = PER_NET[name]
    return (i, w) * n_layers + (i,)


def layer_macs(net, state) -> dict[str, str]:
    """{layer: MAC precision I×W} of a state."""
    names = mac_layers(net)
    if len(state) != 2 * len(names) + 1:
        raise AccelsimError(f"{net.source or net.name}: a state has {2 * len(names) + 1} bits "
                            f"(2 per MAC layer + the output), got {len(state)}")
    return {n: f"{BITS[state[2 * k]]}x{BITS[state[2 * k + 1]]}" for k, n in enumerate(names)}


def spec_of(net, state, base="fixed(16)") -> QuantSpec:
    """The functional path's format spec of a state: ``base`` (16-bit fixed point) with each layer's MAC precision."""
    spec = QuantSpec.parse(base) if isinstance(base, str) else base
    if not (isinstance(spec.weights, Fixed) and isinstance(spec.activations, Fixed)
            and spec.weights.W == spec.activations.W == 16):
        raise AccelsimError(f"format '{base}': the multi-precision MAC needs 16-bit fixed-point weights and "
                            "activations, e.g. fixed(16)")
    layers = {n: replace(spec.for_layer(n), layers={}, mac=p) for n, p in layer_macs(net, state).items()}
    return replace(replace(spec, mac="16x16"), layers={**spec.layers, **layers})


def tensor_bits(net, spec: QuantSpec, output_bits: int | None = None) -> dict[str, dict[str, int]]:
    """{layer: {"I", "W", "O": bits}} for the timing path (``simulate(precision=...)``): a MAC layer's operands at
    the widths its MAC reads (``mac=8x16``: 8-bit inputs) or its formats' widths; every tensor between two MAC
    layers at the width the next one reads it, the net's output at ``output_bits`` (default: as it arrives)."""
    widths = []
    for layer in net.layers:
        if layer.is_mac_layer:
            s = spec.for_layer(layer.name)
            i, w = operand_bits(s.mac) if s.mac else (s.activations.bits, s.weights.bits)
            widths.append((layer, i, w, s.mac))
    out, nxt = {}, output_bits
    mac_of = {l.name: (i, w, m) for l, i, w, m in widths}
    for layer in reversed(net.layers):  # walking back, ``nxt`` is the width the next MAC layer reads
        if layer.name in mac_of:
            i, w, mac = mac_of[layer.name]
            out[layer.name] = {"I": i, "W": w, "O": nxt or i, **({"mac": mac} if mac else {})}
            nxt = i
        elif nxt:
            out[layer.name] = {"I": nxt, "O": nxt}
    return out


def word_bits(net, state) -> dict[str, dict[str, int]]:
    """:func:`tensor_bits` of a state (the last layer's output at O's width)."""
    return tensor_bits(net, spec_of(net, state), BITS[state[-1]])


#: elements of the largest activation of one calibration batch (16M: 128 MB in float64, where 16-bit sums are)
BATCH_ELEMENTS = 1 << 24


def _batch_size(net, samples: int) -> int:
    """Samples per calibration batch: all of them, unless the largest activation would exceed BATCH_ELEMENTS
    (seed 004's FER net on 1,257 samples: 10 GB at once, 3.5 GB and a third faster in batches)."""
    per_sample = max((prod(l.out_shape[1:]) for l in net.layers), default=1)
    return max(1, min(samples, BATCH_ELEMENTS // max(per_sample, 1)))


class Calibrated:
    """Accuracy, zero fractions and drop of precision states on a calibration set ``(x, y)``.

    ``evaluate(state)`` -> {"accuracy", "zero_fractions": {layer: fraction}}; results are cached per state
    (Algorithm 2's ``tested``), activations per prefix within ``budget_bytes``. The set runs in batches of
    ``batch_size`` (default: all, or fewer when that bounds memory); fixed-point fraction lengths, chosen per
    tensor on its data, are chosen per batch, as ``accelsim eval`` does.
    """

    def __init__(self, net, x, y, base="fixed(16)", budget_bytes: int = 2 << 30, batch_size: int | None = None):
        self.net, self.x, self.y = net, np.asarray(x, np.float32), np.asarray(y)
        self.base = base
        self.names = mac_layers(net)
        self.batch_size = batch_size or _batch_size(net, len(self.x))
        self.budget = budget_bytes
        self.tested: dict[tuple, dict] = {}
        self._prefix: OrderedDict[tuple, tuple] = OrderedDict()  # prefix -> (layer index to resume at, env, zeros)
        self._bytes = 0
        self._executor = QuantizedExecutor(spec_of(net, full(len(self.names)), base))
        self._out8 = parse("fixed(8)")
        self.layers = net.layers  # (a property that sorts the graph: once)
        self._last = {t: i for i, l in enumerate(self.layers) for t in l.inputs}  # last reader of each tensor
        self.layer_runs = 0  # MAC layers executed (the cost the prefix cache saves)
        self.reference = self.evaluate(full(len(self.names)))["accuracy"]

    def drop(self, state) -> float:
        """Accuracy drop in percentage points against full precision (seed 004's λ)."""
        return 100.0 * (self.reference - self.evaluate(state)["accuracy"])

    def evaluate(self, state) -> dict:
        state = tuple(bool(b) for b in state)
        if state not in self.tested:
            spec = spec_of(self.net, state, self.base)
            correct, zeros = 0, {}
            for start in range(0, len(self.x), self.batch_size):
                logits, z = self._run(state, spec, start)
                if not state[-1]:  # the output map stored in 8 bits
                    logits = self._out8.quantize(logits)
                correct += int(np.sum(np.argmax(logits, axis=1) == self.y[start:start + self.batch_size]))
                for k, v in z.items():
                    zeros[k] = zeros.get(k, 0) + v
            n = len(self.x)
            inputs = {l.name: n * int(np.prod(l.in_shapes[0][1:])) for l in self.layers if l.name in zeros}
            self.tested[state] = {"accuracy": correct / n,
                                  "zero_fractions": {k: zeros[k] / inputs[k] for k in zeros}}
        return self.tested[state]

    def _run(self, state, spec, start):
        """(logits, {layer: zero inputs}) of one batch, resumed from the longest cached prefix."""
        key = lambda k: (start, state[:2 * k])  # noqa: E731 — the prefix fixing MAC layers 0..k-1
        k = len(self.names) - 1
        while k > 0 and key(k) not in self._prefix:
            k -= 1
        if k:
            self._prefix.move_to_end(key(k))
            at, env, zeros = self._prefix[key(k)]
            env, zeros = dict(env), dict(zeros)
        else:
            at, env, zeros = 0, {next(iter(self.net.inputs)): self.x[start:start + self.batch_size]}, {}
        ex = self._executor
        ex.spec = _operand_words(spec)
        for i in range(at, len(self.layers)):
            layer = self.layers[i]
            if layer.name in self.names:
                done = len(zeros)
                if done > k:  # every tensor still needed, just before the next MAC layer: the smallest point
                    self._remember(key(done), (i, dict(env), dict(zeros)))
                self.layer_runs += 1
            args = [env[t] for t in layer.inputs]
            y = ex(layer, args) if layer.is_mac_layer else None
            env[layer.output] = OPS[layer.op](layer, args) if y is None else y
            if layer.name in self.names:
                zeros[layer.name] = ex.stats.pop(layer.name).zero_inputs
            for t in layer.inputs:
                if self._last[t] == i and t not in self.net.outputs:
                    del env[t]
        return env[self.net.outputs[0]], zeros

    def _remember(self, k, entry):
        size = sum(a.nbytes for a in entry[1].values())
        if k in self._prefix or size > self.budget:
            return
        self._prefix[k] = entry
        self._bytes += size
        while self._bytes > self.budget:
            _, (_, env, _) = self._prefix.popitem(last=False)
            self._bytes -= sum(a.nbytes for a in env.values())



def _operand_words(spec: QuantSpec) -> QuantSpec:
    """The spec with each layer's MAC precision turned into its operand words (8-bit words where the MAC reads a
    high byte): the same exact sums as ``mac=`` (see QuantSpec.operand_words), without counting Table 1 MACs."""
    layers = {n: replace(s.operand_words(), mac=None) for n, s in spec.layers.items()}
    return replace(spec.operand_words(), mac=None, layers=layers)
