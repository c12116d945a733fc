"""Run points in parallel — local processes by default, a Dask cluster given its scheduler's address — and
append each record to a :class:`~accelsim.dse.store.Store` the moment it finishes, under a progress bar.

Only the calling process writes the store, so no point is written twice; points already in it are skipped.
Workers pin numba and BLAS to one thread each, so N workers use N cores and never oversubscribe them.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from .space import point_key
from .store import Store


def one_thread() -> None:
    """Pin this process's numba and BLAS pools to one thread (a worker of a pool of many), through the one
    threading policy (accelsim.threads)."""
    from .. import threads
    threads.pin(1)


def _pinned(fn, item):
    one_thread()
    return fn(item)


def run_all(fn, items: list, store: Store, *, key=point_key, jobs: int | None = None, scheduler: str | None = None,
            desc: str = "sweep", progress: bool | None = None) -> int:
    """Compute ``fn(item)`` (a record with ``"key"``) for every item not yet in ``store``; returns how many ran."""
    todo, seen = [], set()
    for item in items:
        k = key(item)
        if k not in store and k not in seen:
            seen.add(k)
            todo.append(item)
    show = None if progress is None else not progress  # tqdm: None = only on a terminal
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit="point", disable=show,
               dynamic_ncols=True)
    try:
        for record in _results(fn, todo, jobs, scheduler):
            store.append(record)
            bar.update(1)
    finally:
        bar.close()
    return len(todo)


def _results(fn, todo, jobs, scheduler):
    if not todo:
        return
    if scheduler:
        yield from _dask(fn, todo, scheduler)
        return
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(todo) == 1:
        yield from map(fn, todo)
        return
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no forked numba/BLAS thread state
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx, initializer=one_thread) as pool:
        futures = [pool.submit(fn, item) for item in todo]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _dask(fn, todo, address):
    from dask.distributed import Client, as_completed as dask_completed
    from ..errors import AccelsimError
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise AccelsimError(f"--scheduler {address}: cannot reach a Dask scheduler ({exc})") from None
    try:
        futures = client.map(_pinned, [fn] * len(todo), todo, pure=False)
        for fut in dask_completed(futures):
            yield fut.result()
    finally:
        client.close()
