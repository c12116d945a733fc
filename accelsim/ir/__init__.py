"""Layer IR: one node per layer, exact loop bounds and derived figures."""
from .graph import Network
from .layer import LAYOUT_OPS, MAC_OPS, SPECIAL_OPS, Absent, Layer, LoopBounds, absent

__all__ = ["Network", "Layer", "LoopBounds", "MAC_OPS", "LAYOUT_OPS", "SPECIAL_OPS", "Absent", "absent"]
