"""Seed 004's per-layer precision search: one simulated-annealing run per λmax (Algorithm 2), the per-net points
beside them (Table 5, Fig. 4), and — for small nets — every state, for the exact Pareto front.

:class:`Problem` ties the two costs of a state together: its energy is the simulator's (``evaluate.timing``
with the state's widths, zero-gating from the state's own zeros), its accuracy drop the functional path's on the
calibration set (:class:`~accelsim.dse.precision.Calibrated`). Both are cached per state, and the mapper's
choices per layer shape, so a state already seen costs nothing.
"""
from __future__ import annotations

import itertools
import time

import numpy as np

from ..arch import model
from ..datasets import Dataset, digits, load
from ..mapping.mapper import SAMPLES
from .anneal import Hyper, anneal
from .evaluate import timing
from .pareto import front
from .precision import BITS, PER_NET, Calibrated, full, mac_layers, per_net, spec_of
from .space import digest


def calibration(dataset, shape, size: int, seed: int = 0) -> Dataset:
    """Seed 004 §4.1's calibration set: ``size`` samples drawn at random from the training set (digits: its
    training split; other sets have no separate one, so their own samples), shaped for the model input."""
    data = digits("train") if dataset == "digits" else load(dataset)
    data = data.for_input_shape(shape)
    idx = np.random.default_rng(seed).permutation(len(data))[:size]
    return Dataset(f"{data.name}[cal {len(idx)}]", data.x[idx], data.y[idx])


class Problem:
    """Energy (pJ, from the simulator) and accuracy drop (percentage points, on the calibration set) of states."""

    def __init__(self, net, arch, cal: Dataset, *, base="fixed(16)", dataflow=None, samples=SAMPLES,
                 test: Dataset | None = None):
        self.net, self.arch, self.base, self.dataflow, self.samples = net, arch, base, dataflow, samples
        self.names = mac_layers(net)
        self.n_bits = 2 * len(self.names) + 1
        self.cal = Calibrated(net, cal.x, cal.y, base)
        self.test = Calibrated(net, test.x, test.y, base) if test is not None else None
        self._mappings: dict = {}
        self._energy: dict[tuple, float] = {}
        self._per_cycle: dict[tuple, float] = {}  # of which clock network and leakage, paid every cycle
        self._cycle_components = set(model(arch).cycle_counts(1))  # the components priced per cycle

    def energy(self, state) -> float:
        state = tuple(state)
        if state not in self._energy:
            result = timing(self.net, self.arch, spec_of(self.net, state, self.base), output_bits=BITS[state[-1]],
                            dataflow=self.dataflow, zero_fractions=self.cal.evaluate(state)["zero_fractions"],
                            samples=self.samples, cache=self._mappings)
            self._energy[state] = result.total["energy_pj"]
            self._per_cycle[state] = sum(pj for layer in result.layers for c, pj in layer.energy_pj.items()
                                         if c in self._cycle_components)
        return self._energy[state]

    def mac_memory_energy(self, state) -> float:
        """The state's energy within seed 004's own model (eq. 3-4: MACs and memory traffic, no per-cycle clock
        or leakage), for a like-for-like comparison with its Table 6 savings."""
        return self.energy(state) - self._per_cycle[tuple(state)]

    def drop(self, state) -> float:
        return self.cal.drop(state)

    def point(self, state, **extra) -> dict:
        """The figures of one state: energy, savings and drops against full precision (Fig. 4's axes)."""
        full_state = full(len(self.names))
        e_full = self.energy(full_state)
        out = {"state": "".join("1" if b else "0" for b in state), "energy_uj": self.energy(state) / 1e6,
               "savings": 100.0 * (1 - self.energy(state) / e_full), "drop": self.drop(state),
               "savings_mac_memory": 100.0 * (1 - self.mac_memory_energy(state) / self.mac_memory_energy(full_state)),
               "precisions": {n: f"{BITS[state[2 * k]]}x{BITS[state[2 * k + 1]]}" for k, n in enumerate(self.names)},
               "output_bits": BITS[state[-1]]}
        if self.test is not None:
            out["test_drop"] = self.test.drop(state)
            out["test_accuracy"] = self.test.evaluate(state)["accuracy"]
        return {**out, **extra}


def state_of(text: str) -> tuple:
    return tuple(c == "1" for c in text)


def run_search(problem: Problem, lambdas, hyper: Hyper, store, context: dict, progress=None) -> list[dict]:
    """Records of the per-net points and one SA run per λmax, appended to ``store`` as each finishes (a rerun
    with the same ``context`` skips what is there). Each SA record carries its run time."""
    from tqdm import tqdm
    L = len(problem.names)
    jobs = [("per-net", name) for name in PER_NET] + [("sa", float(lam)) for lam in lambdas]
    records = []
    show = None if progress is None else not progress
    for kind, arg in tqdm(jobs, desc="search", unit="run", disable=show):
        key = digest({**context, "kind": kind, "arg": arg, **({"hyper": hyper.to_dict()} if kind == "sa" else {})})
        if key not in store:
            start = time.perf_counter()
            if kind == "per-net":
                rec = problem.point(per_net(L, arg), kind=kind, name=arg)
            else:
                state, _ = anneal(problem.n_bits, problem.energy, problem.drop, arg, hyper)
                rec = problem.point(state, kind=kind, lambda_max=arg)
            rec.update(key=key, seconds=round(time.perf_counter() - start, 3))
            store.append(rec)
        records.append(store.records[key])
    return records


def exhaustive(problem: Problem) -> list[dict]:
    """Every state's figures (2^(2L+1) of them: small nets only)."""
    return [problem.point(s, kind="all") for s in itertools.product((False, True), repeat=problem.n_bits)]


def pareto(records: list[dict], drop="drop") -> list[dict]:
    """The energy–drop Pareto front of records (both minimised), one record per distinct state."""
    unique = list({r["state"]: r for r in records}.values())
    return front(unique, lambda r: r["energy_uj"], lambda r: r[drop])
