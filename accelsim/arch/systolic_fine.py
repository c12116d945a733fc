"""Fine mode of the systolic family: the array stepped cycle by cycle, register by register.

Nothing here uses the closed forms of :mod:`accelsim.arch.systolic`: operands are pushed into the array's
edges, move one PE per cycle (inputs right along rows, weights/partial sums down columns) and meet where the
dataflow aligns them; a fold ends when its last partial sum leaves the bottom edge (WS, IS) or its last MAC
is done (OS, whose outputs drain behind the next fold). Reads are counted as words enter an edge, writes as
outputs leave, and the words entering feed SCALE-Sim's SRAM model in the order they enter. Operand values
are optional: given them, the array really computes the product (what the tests check). Unused rows and
columns of a partial fold carry empty tokens through the same timing, as in SCALE-Sim.
"""
from __future__ import annotations

import numba
import numpy as np

from ..engine.fine import FINE_MAC_LIMIT
from .systolic import Folds, FoldRecord
from .systolic_sram import geometry, ifmap_address, ifmap_words, new_state, touch_all


def _shift(a, axis, fill):
    """Move every register one PE along ``axis`` (right for rows, down for columns); the edge gets ``fill``."""
    out = np.roll(a, 1, axis=axis)
    if axis == 0:
        out[0, :] = fill
    else:
        out[:, 0] = fill
    return out


def _stationary_fold(R, C, ru, cu, T, stat, stream, out, stat_edge, stream_edge):
    """WS / IS: load the stationary block bottom row first, stream T vectors in skewed, reduce down columns.

    ``stat(r, c)``, ``stream(t, r)`` give (operand indices, value); ``out(t, c, value)`` takes a finished
    output. Returns (cycles, MACs, output writes)."""
    s_val = np.zeros((R, C))
    for k in range(R):  # one array row per cycle enters the top and the loaded rows shift down
        fill = np.zeros(C)
        for c in range(cu if R - 1 - k < ru else 0):
            idx, fill[c] = stat(R - 1 - k, c)
            stat_edge.append(idx)
        s_val = _shift(s_val, 0, fill)
    x_tok, x_val = np.full((R, C), -1), np.zeros((R, C))
    p_tok, p_val = np.full((R, C), -1), np.zeros((R, C))
    rows, cols = np.arange(R), np.arange(C)
    macs = writes = exits = 0
    k = R
    while exits < T * C:
        t_in = k - R - rows                                   # row r receives vector t_in[r] this cycle
        live = (t_in >= 0) & (t_in < T)
        x_tok = _shift(x_tok, 1, np.where(live, t_in, -1))
        x_val = _shift(x_val, 1, 0.0)
        for r in np.flatnonzero(live & (rows < ru)):
            idx, x_val[r, 0] = stream(int(t_in[r]), int(r))
            stream_edge.append(idx)
        t_top = k - R - cols                                  # a new partial sum starts at the top of column c
        p_tok = _shift(p_tok, 0, np.where((t_top >= 0) & (t_top < T), t_top, -1))
        p_val = _shift(p_val, 0, 0.0)
        active = x_tok >= 0
        assert np.array_equal(p_tok[active], x_tok[active]), "operands out of step"
        p_val = p_val + np.where(active, s_val * x_val, 0.0)
        macs += int(np.count_nonzero(active[:ru, :cu]))
        for c in np.flatnonzero(p_tok[-1] >= 0):              # partial sums leaving the bottom edge
            exits += 1
            if c < cu:
                writes += 1
                out(int(p_tok[-1, c]), int(c), p_val[-1, c])
        k += 1
    return k, macs, writes


def _output_fold(R, C, ru, cu, T, left, top, out, left_edge, top_edge):
    """OS: ``left(r, t)`` enters row r and ``top(t, c)`` column c at cycle t + r / t + c; PE (r, c) accumulates."""
    x_tok, x_val = np.full((R, C), -1), np.zeros((R, C))
    w_tok, w_val = np.full((R, C), -1), np.zeros((R, C))
    acc, done = np.zeros((R, C)), np.zeros((R, C), int)
    rows, cols = np.arange(R), np.arange(C)
    macs = k = 0
    while done.min() < T:
        t_l, t_t = k - rows, k - cols
        x_tok = _shift(x_tok, 1, np.where((t_l >= 0) & (t_l < T), t_l, -1))
        x_val = _shift(x_val, 1, 0.0)
        w_tok = _shift(w_tok, 0, np.where((t_t >= 0) & (t_t < T), t_t, -1))
        w_val = _shift(w_val, 0, 0.0)
        for r in np.flatnonzero((t_l >= 0) & (t_l < T) & (rows < ru)):
            idx, x_val[r, 0] = left(int(r), int(t_l[r]))
            left_edge.append(idx)
        for c in np.flatnonzero((t_t >= 0) & (t_t < T) & (cols < cu)):
            idx, w_val[0, c] = top(int(t_t[c]), int(c))
            top_edge.append(idx)
        active = x_tok >= 0
        assert np.array_equal(w_tok[active], x_tok[active]), "operands out of step"
        acc += np.where(active, x_val * w_val, 0.0)
        done += active
        macs += int(np.count_nonzero(active[:ru, :cu]))
        k += 1
    for r in range(ru):
        for c in range(cu):
            out(r, c, acc[r, c])
    return k, macs, ru * cu


def run_fold(folds: Folds, fr: int, fc: int, A=None, B=None, O=None):
    """Step fold (fr, fc) of ifmap A (M × Kw) · filter B (Kw × N), adding into O when given.

    Returns (cycles, MACs, ifmap edge, filter edge, output writes); the edges list (m, kk) / (kk, n)."""
    R, C, T = folds.rows, folds.cols, folds.steps
    ru, cu = folds.used(fr, fc)
    r0, c0 = fr * R, fc * C
    a = (lambda m, kk: ((m, kk), A[m, kk])) if A is not None else (lambda m, kk: ((m, kk), 0.0))
    b = (lambda kk, n: ((kk, n), B[kk, n])) if B is not None else (lambda kk, n: ((kk, n), 0.0))

    def add(m, n, v):
        if O is not None:
            O[m, n] += v

    i_edge, f_edge = [], []  # words in the order they enter the edges (cycle, then edge index)
    if folds.dataflow == "ws":
        cycles, macs, writes = _stationary_fold(R, C, ru, cu, T, lambda r, c: b(r0 + r, c0 + c),
                                                lambda t, r: a(t, r0 + r), lambda t, c, v: add(t, c0 + c, v),
                                                f_edge, i_edge)
    elif folds.dataflow == "is":
        cycles, macs, writes = _stationary_fold(R, C, ru, cu, T, lambda r, c: a(c0 + c, r0 + r),
                                                lambda t, r: b(r0 + r, t), lambda t, c, v: add(c0 + c, t, v),
                                                i_edge, f_edge)
    else:
        cycles, macs, writes = _output_fold(R, C, ru, cu, T, lambda r, t: a(r0 + r, t), lambda t, c: b(t, c0 + c),
                                            lambda r, c, v: add(r0 + r, c0 + c, v), i_edge, f_edge)
    return cycles, macs, i_edge, f_edge, writes


@numba.njit(cache=True)
def _ifmap_addresses(pairs, geom):
    out = np.empty(len(pairs), np.int64)
    for i in range(len(pairs)):
        out[i] = ifmap_address(pairs[i, 0], pairs[i, 1], geom)
    return out


def fold_records(folds: Folds, bounds, ifmap_active: int, filter_active: int) -> list[FoldRecord]:
    """The same records as :func:`accelsim.arch.systolic_sram.fold_records`, stepped cycle by cycle."""
    g = folds.gemm
    if g.M * g.Kw * g.N > FINE_MAC_LIMIT:
        raise ValueError(f"fine mode is for small layers ({g.M * g.Kw * g.N} MACs > {FINE_MAC_LIMIT})")
    geom = geometry(bounds)
    (i_last, i_state), (f_last, f_state) = new_state(ifmap_words(bounds)), new_state(g.Kw * g.N)
    records = []
    for fc in range(folds.col_folds):
        for fr in range(folds.row_folds):
            cycles, _, i_pairs, f_pairs, writes = run_fold(folds, fr, fc)
            i_words = _ifmap_addresses(np.array(i_pairs, np.int64).reshape(-1, 2), geom)
            f_words = np.array([n * g.Kw + kk for kk, n in f_pairs], np.int64)
            records.append(FoldRecord((fr, fc), cycles, len(i_pairs), len(f_pairs), writes,
                                      touch_all(i_words, i_last, i_state, ifmap_active),
                                      touch_all(f_words, f_last, f_state, filter_active)))
    return records
