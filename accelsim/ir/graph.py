"""The layer graph: a networkx DiGraph whose nodes are layer names carrying a :class:`Layer`.

The DiGraph is built on first use of :attr:`Network.graph`: networkx takes 0.2 s to import, most of what
`accelsim info` would spend, and listing the layers of a model whose nodes come in a topological order (ONNX
requires it, lowering keeps it) needs no graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .layer import Layer

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Network:
    """A lowered model: its layers, as built, and the DiGraph of them (edge = a tensor from producer to consumer).

    ``inputs`` maps each graph input tensor to its shape (batch first); ``outputs`` lists output tensors.
    """

    name: str
    built: list[Layer]
    inputs: dict[str, tuple[int, ...]]
    outputs: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_layers(cls, name, layers: list[Layer], inputs, outputs, source="", meta=None) -> "Network":
        return cls(name, list(layers), dict(inputs), list(outputs), source, meta or {})

    def with_layers(self, layers: list[Layer], inputs=None) -> "Network":
        """A copy of this network with other layers (a transform's), and other graph input shapes if given."""
        return Network.from_layers(self.name, layers, self.inputs if inputs is None else inputs, self.outputs,
                                   self.source, dict(self.meta))

    @cached_property
    def graph(self) -> "nx.DiGraph":
        """The layers as a DiGraph; once built, the source of :attr:`layers` (so edits to it show there)."""
        import networkx as nx

        g = nx.DiGraph()
        producer = {}
        for layer in self.built:
            g.add_node(layer.name, layer=layer)
            producer[layer.output] = layer.name
        for layer in self.built:
            for t in layer.inputs:
                if t in producer:
                    g.add_edge(producer[t], layer.name, tensor=t)
        return g

    @property
    def layers(self) -> list[Layer]:
        """Layers in a topological order (stable: ties keep the model's node order). The built list when it is one
        and the graph was never asked for; else the graph's, sorted once per graph state (nodes, edges, layers)."""
        if "graph" not in self.__dict__ and _topological(self.built):
            return list(self.built)
        import networkx as nx

        state = (tuple(self.graph.nodes), tuple(self.graph.edges), tuple(id(d["layer"]) for _, d in self.graph.nodes(data=True)))
        if self.__dict__.get("_order_of") != state:
            order = {n: i for i, n in enumerate(self.graph.nodes)}
            self.__dict__["_order"] = [n for n in nx.lexicographical_topological_sort(self.graph, key=order.__getitem__)]
            self.__dict__["_order_of"] = state
        return [self.graph.nodes[n]["layer"] for n in self.__dict__["_order"]]

    def __getitem__(self, name: str) -> Layer:
        if "graph" in self.__dict__:
            return self.graph.nodes[name]["layer"]
        for layer in self.built:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def mac_layers(self) -> list[Layer]:
        return [l for l in self.layers if l.is_mac_layer]

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def total_params(self) -> int:
        return sum(l.params for l in self.layers)


def _topological(layers: list[Layer]) -> bool:
    """Whether every layer comes after the producers of its inputs (names unique, as graph nodes must be)."""
    produced_by = {l.output: i for i, l in enumerate(layers)}
    if len({l.name for l in layers}) != len(layers):
        return False
    return all(produced_by.get(t, -1) < i for i, l in enumerate(layers) for t in l.inputs)
