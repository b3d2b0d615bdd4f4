"""Run a nogil kernel over a batch of queries on several Python threads.

kdforge's kernels are ``@njit(nogil=True)`` and serial; a batch is cut into contiguous
chunks that threads from a shared pool process at once. This avoids Numba's parallel
threading layers altogether, so any number of Python threads may query one tree at the
same time whatever layer the user's Numba has.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["POOL_THREAD_PREFIX", "get_pool", "chunk_bounds", "run_chunked", "on_pool_thread"]

#: Name prefix of the pool's threads.
POOL_THREAD_PREFIX = "kdforge"

_POOL_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}

#: Chunks per worker: more than one so that uneven chunks (clustered queries) balance out.
CHUNKS_PER_WORKER = 4
#: Below this many items per chunk the thread hand-off costs more than it saves.
MIN_CHUNK = 256


def get_pool(workers: int) -> ThreadPoolExecutor:
    """The shared pool of ``workers`` threads (created on first use)."""
    with _POOL_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=POOL_THREAD_PREFIX)
            _POOLS[workers] = pool
        return pool


def chunk_bounds(n_items: int, workers: int) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into contiguous (start, stop) chunks for ``workers`` threads."""
    if workers <= 1 or n_items <= MIN_CHUNK:
        return [(0, n_items)]
    n_chunks = min(workers * CHUNKS_PER_WORKER, max(1, n_items // MIN_CHUNK))
    edges = [(n_items * i) // n_chunks for i in range(n_chunks + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n_chunks) if edges[i] < edges[i + 1]]


def run_chunked(task, n_items: int, workers: int) -> list:
    """Call ``task(start, stop)`` over chunks of ``range(n_items)``; return results in order.

    Parameters
    ----------
    task : callable
        ``task(start, stop)`` processes items ``start:stop``; it should spend its time in a
        nogil kernel so that threads really run at once.
    n_items : int
        Number of items in the batch.
    workers : int
        Number of threads (already validated, >= 1).
    """
    bounds = chunk_bounds(n_items, workers)
    if len(bounds) == 1:
        return [task(*bounds[0])]
    pool = get_pool(workers)
    futures = [pool.submit(task, start, stop) for start, stop in bounds]
    return [f.result() for f in futures]


def on_pool_thread() -> bool:
    """Whether the caller runs on a kdforge pool thread: waiting there for tasks queued on the
    same pool could deadlock, so work started there runs serially."""
    return threading.current_thread().name.startswith(POOL_THREAD_PREFIX)
