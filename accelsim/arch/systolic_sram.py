"""Which words the systolic array's ifmap and filter SRAMs fetch from DRAM: SCALE-Sim 3.0.0's buffer model.

SCALE-Sim (scalesim/memory/read_buffer_estimate_bw.py, the default "CALC" bandwidth mode) splits each
double-buffered read SRAM into 100 sets of ``floor(words / 100)`` words; the active half is 50 sets. Words
the array demands fill the active half in demand order, each new distinct word once; a demanded word
already in the active half is a hit. When the half is full it is handed over and the next half starts empty.
So DRAM reads = Σ over consecutive windows of ``active_words`` distinct words = the distinct words demanded
when an operand fits (e.g. the whole ifmap once), more when it does not. Padding slots (a window over the
ifmap's edge) are read by the array but fetch nothing.

The demand order is the array's: fold after fold (columns outer), cycle by cycle, and within a cycle by
row/column edge index. A streamed operand enters skewed (along anti-diagonals of its T × used block,
lowest edge index first); the stationary one is loaded bottom row first. :func:`fold_records` walks that
order without building traces (numba), one counter per fold.
"""
from __future__ import annotations

import numba
import numpy as np

from .systolic import Folds, FoldRecord

_WS, _OS, _IS = 0, 1, 2


def active_words(size_words: int) -> int:
    """Words of SCALE-Sim's active half of a read SRAM (0: under 100 words, never full)."""
    return size_words // 100 * 50


def geometry(b) -> np.ndarray:
    """Integers the address of ifmap word (m, kk) needs: P, Q, S, C per group, strides, dilations, pads, H, W."""
    return np.array([b.P, b.Q, b.S, b.C // b.groups, *b.stride, *b.dilation, b.pads[0], b.pads[1], b.H, b.W],
                    np.int64)


def ifmap_words(b) -> int:
    """Size of one group's ifmap address space."""
    return b.N * b.H * b.W * (b.C // b.groups)


def new_state(words: int) -> tuple[np.ndarray, np.ndarray]:
    """Buffer state: per word, the window it was last fetched in; and (current window, words in it)."""
    return np.full(words, -1, np.int64), np.zeros(2, np.int64)


@numba.njit(cache=True, inline="always")
def ifmap_address(m, kk, geom):
    """Word of im2col element (pixel m, window term kk = (r·S + s)·C + c), or -1 over the padding."""
    P, Q, S, C, sh, sw, dh, dw, pt, pl, H, W = geom
    q = m % Q
    p = (m // Q) % P
    n = m // (Q * P)
    c = kk % C
    s = (kk // C) % S
    r = kk // (C * S)
    y = p * sh + r * dh - pt
    x = q * sw + s * dw - pl
    if y < 0 or y >= H or x < 0 or x >= W:
        return -1
    return ((n * H + y) * W + x) * C + c


@numba.njit(cache=True, inline="always")
def touch(addr, last, state, active):
    """One demanded word: 1 if it must come from DRAM (not in the active half), updating the buffer."""
    if addr < 0 or last[addr] == state[0]:
        return 0
    last[addr] = state[0]
    state[1] += 1
    if state[1] == active:
        state[0] += 1
        state[1] = 0
    return 1


@numba.njit(cache=True)
def touch_all(addrs, last, state, active):
    """DRAM fetches of a sequence of demanded words (the fine model's edge traffic)."""
    n = 0
    for a in addrs:
        n += touch(a, last, state, active)
    return n


@numba.njit(cache=True)
def _word(is_ifmap, a, b, geom, kw):
    return ifmap_address(a, b, geom) if is_ifmap else b * kw + a


@numba.njit(cache=True)
def _skewed(tlen, ncols, a0, at, ac, b0, bt, bc, is_ifmap, geom, kw, last, state, active):
    """A streamed block of tlen steps over ncols edge slots, in skewed order: element (t, c) is demanded at
    cycle t + c; its operand indices are a = a0 + at·t + ac·c, b = b0 + bt·t + bc·c."""
    misses = 0
    for d in range(tlen + ncols - 1):
        for c in range(max(0, d - tlen + 1), min(ncols - 1, d) + 1):
            t = d - c
            misses += touch(_word(is_ifmap, a0 + at * t + ac * c, b0 + bt * t + bc * c, geom, kw),
                            last, state, active)
    return misses


@numba.njit(cache=True)
def _stationary(nrows, ncols, a0, at, ac, b0, bt, bc, is_ifmap, geom, kw, last, state, active):
    """A stationary block loaded bottom array row first, each row's columns in order (indices as _skewed)."""
    misses = 0
    for r in range(nrows - 1, -1, -1):
        for c in range(ncols):
            misses += touch(_word(is_ifmap, a0 + at * r + ac * c, b0 + bt * r + bc * c, geom, kw),
                            last, state, active)
    return misses


@numba.njit(cache=True)
def _walk(df, rows, cols, M, Kw, N, geom, i_active, f_active, i_words, out):
    """DRAM reads of ifmap and filter per fold (out[fold, 0/1]), folds columns outer as SCALE-Sim runs them."""
    i_last, i_state = np.full(i_words, -1, np.int64), np.zeros(2, np.int64)
    f_last, f_state = np.full(Kw * N, -1, np.int64), np.zeros(2, np.int64)
    sr = Kw if df != _OS else M
    sc = N if df != _IS else M
    row_folds, col_folds = (sr + rows - 1) // rows, (sc + cols - 1) // cols
    fold = 0
    for fc in range(col_folds):
        for fr in range(row_folds):
            ru, cu = min(rows, sr - fr * rows), min(cols, sc - fc * cols)
            r0, c0 = fr * rows, fc * cols
            if df == _WS:   # ifmap (m = t, kk = r0 + c) streamed; filter (kk = r0 + r, n = c0 + c) stationary
                i = _skewed(M, ru, 0, 1, 0, r0, 0, 1, True, geom, Kw, i_last, i_state, i_active)
                f = _stationary(ru, cu, r0, 1, 0, c0, 0, 1, False, geom, Kw, f_last, f_state, f_active)
            elif df == _OS:  # ifmap (m = r0 + c, kk = t) and filter (kk = t, n = c0 + c) both streamed
                i = _skewed(Kw, ru, r0, 0, 1, 0, 1, 0, True, geom, Kw, i_last, i_state, i_active)
                f = _skewed(Kw, cu, 0, 1, 0, c0, 0, 1, False, geom, Kw, f_last, f_state, f_active)
            else:           # ifmap (m = c0 + c, kk = r0 + r) stationary; filter (kk = r0 + c, n = t) streamed
                i = _stationary(ru, cu, c0, 0, 1, r0, 1, 0, True, geom, Kw, i_last, i_state, i_active)
                f = _skewed(N, ru, r0, 0, 1, 0, 1, 0, False, geom, Kw, f_last, f_state, f_active)
            out[fold, 0] = i
            out[fold, 1] = f
            fold += 1


def fold_records(folds: Folds, bounds, ifmap_active: int, filter_active: int) -> list[FoldRecord]:
    """Per fold of one group: cycles and array-side SRAM accesses (closed form), DRAM reads (SCALE-Sim's buffers)."""
    g = folds.gemm
    dram = np.zeros((folds.count, 2), np.int64)
    _walk(("ws", "os", "is").index(folds.dataflow), folds.rows, folds.cols, g.M, g.Kw, g.N, geometry(bounds),
          ifmap_active, filter_active, ifmap_words(bounds), dram)
    cycles = folds.steps + folds.fill_drain
    order = [(fr, fc) for fc in range(folds.col_folds) for fr in range(folds.row_folds)]
    return [FoldRecord(f, cycles, *folds.fold_sram(*f), int(i), int(o)) for f, (i, o) in zip(order, dram)]


def drains(writes: int, size_words: int, line_words: int) -> list[tuple[int, int]]:
    """SCALE-Sim's ofmap write buffer (memory/write_buffer.py, CALC mode: DRAM lines of one word per array
    column): [(outputs written so far, words it writes to DRAM)] per drain. Outputs fill lines; once the active
    half overflows, the partly filled line is closed and the next ceil(half / line) lines are drained; at the
    end, the rest. A drain counts its lines whole except the unused slots of its last line, so a closed partial
    line drained in the middle of a later drain adds its empty slots. (The array writes at most one line per
    cycle, as fast as a drain empties it, so drains start the moment the half overflows: no timing enters.)"""
    active = -(-size_words // 2)
    per_drain = -(-(size_words - active) // line_words)
    padded, out = {}, []
    stored = lines = fill = start = 0
    free = size_words

    def drain(at):
        nonlocal start, free
        end = min(start + per_drain, lines)
        words = (end - start) * line_words - padded.get(end - 1, 0)
        out.append((at, words))
        free += words
        start = end

    def store(n):
        nonlocal stored, lines, fill, free
        stored, free = stored + n, free - n
        lines, fill = lines + (fill + n) // line_words, (fill + n) % line_words

    def close_line():
        nonlocal lines, fill
        if fill:
            padded[lines] = line_words - fill
            lines, fill = lines + 1, 0

    while stored + max(free - active + 1, 1) <= writes:
        store(max(free - active + 1, 1))
        close_line()
        drain(stored)
    store(writes - stored)
    close_line()
    while start < lines:
        drain(writes)
    return out
