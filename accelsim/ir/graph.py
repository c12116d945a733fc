"""The layer graph: a networkx DiGraph whose nodes are layer names carrying a :class:`Layer`."""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .layer import Layer


@dataclass
class Network:
    """A lowered model: layers in a DiGraph (edge = a tensor from producer to consumer).

    ``inputs`` maps each graph input tensor to its shape (batch first); ``outputs`` lists output tensors.
    """

    name: str
    graph: nx.DiGraph
    inputs: dict[str, tuple[int, ...]]
    outputs: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_layers(cls, name, layers: list[Layer], inputs, outputs, source="", meta=None) -> "Network":
        g = nx.DiGraph()
        producer = {}
        for layer in layers:
            g.add_node(layer.name, layer=layer)
            producer[layer.output] = layer.name
        for layer in layers:
            for t in layer.inputs:
                if t in producer:
                    g.add_edge(producer[t], layer.name, tensor=t)
        return cls(name, g, dict(inputs), list(outputs), source, meta or {})

    @property
    def layers(self) -> list[Layer]:
        """Layers in a topological order (stable: ties keep the model's node order); sorted once per graph
        state (its nodes, edges and layer objects)."""
        state = (tuple(self.graph.nodes), tuple(self.graph.edges), tuple(id(d["layer"]) for _, d in self.graph.nodes(data=True)))
        if self.__dict__.get("_order_of") != state:
            order = {n: i for i, n in enumerate(self.graph.nodes)}
            self.__dict__["_order"] = [n for n in nx.lexicographical_topological_sort(self.graph, key=order.__getitem__)]
            self.__dict__["_order_of"] = state
        return [self.graph.nodes[n]["layer"] for n in self.__dict__["_order"]]

    def __getitem__(self, name: str) -> Layer:
        return self.graph.nodes[name]["layer"]

    @property
    def mac_layers(self) -> list[Layer]:
        return [l for l in self.layers if l.is_mac_layer]

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def total_params(self) -> int:
        return sum(l.params for l in self.layers)
