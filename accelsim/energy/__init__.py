"""Energy = Σ counts × per-action energy table (pJ), per component."""
from __future__ import annotations

from ..errors import AccelsimError


def energy_pj(counts: dict, table: dict, where: str = "") -> dict[str, float]:
    """{component: pJ} for counts {component: {action: n}}; an action with a count must have a price."""
    out = {}
    for comp, actions in counts.items():
        prices = table.get(comp, {})
        total = 0.0
        for action, n in actions.items():
            if n and action not in prices:
                raise AccelsimError(f"{where}components.{comp}.energy.{action}: missing (counted {n} times)")
            total += n * prices.get(action, 0.0)
        out[comp] = total
    return out


def memory_accesses(counts: dict, storage: set[str]) -> int:
    """Reads + writes of the storage components (DRAM, buffers, scratchpads)."""
    return sum(n for comp, actions in counts.items() if comp in storage
               for action, n in actions.items() if action in ("read", "write"))
