"""Seed 004 Algorithm 2: simulated annealing over the 2L+1 precision bits, minimising energy under an accuracy drop.

Hyper-parameters as its Table 2, values of Table 3 (T0 512, Tf 2.5, Kb 1e-2, cooling 2.5, iter 10 / 100 / 1000 for
IC / KWS / FER). Table 3's cooling factor 2.5 is read as T ← T / 2.5 (a geometric *derating*: Algorithm 2's
line 17 writes T·cooling, which with 2.5 would never reach Tf). A move flips one random bit; a state whose drop
is not below λmax is rejected before its energy is asked for; ΔE is normalised by E(all 16) − E(all 8).
"""
from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Hyper:
    T0: float = 512.0
    Tf: float = 2.5
    Kb: float = 1e-2
    cooling: float = 2.5
    iter: int = 10
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


#: seed 004 Table 3: iterations per temperature per benchmark
TABLE3_ITER = {"ic": 10, "kws": 100, "fer": 1000}


def anneal(n_bits: int, energy, drop, lam_max: float, hyper: Hyper = Hyper()) -> tuple[tuple, float]:
    """(best state, its energy) for ``drop(state) < lam_max``; ``energy`` and ``drop`` map a state (a tuple of
    booleans, True = 16 bits) to a number, and should cache (Algorithm 2's ``tested``)."""
    rng = random.Random(hyper.seed)
    current = (True,) * n_bits  # X0: full precision
    e_current = energy(current)
    e_max, e_min = energy((True,) * n_bits), energy((False,) * n_bits)
    span = (e_max - e_min) or 1.0
    best, e_best = current, e_current
    t = hyper.T0
    while t >= hyper.Tf:
        for _ in range(hyper.iter):
            flip = rng.randrange(n_bits)
            nxt = current[:flip] + (not current[flip],) + current[flip + 1:]
            if drop(nxt) < lam_max:
                e_next = energy(nxt)
                delta = (e_next - e_current) / span
                if delta < 0 or math.exp(-delta / (hyper.Kb * t)) > rng.random():
                    current, e_current = nxt, e_next
                    if e_current < e_best:
                        best, e_best = current, e_current
        t /= hyper.cooling
    return best, e_best
