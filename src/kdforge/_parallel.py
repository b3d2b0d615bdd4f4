"""Run nogil kernels on several Python threads: one bounded pool, interruptible work.

kdforge's kernels are ``@njit(nogil=True)`` and serial; a batch is cut into chunks that
threads of one shared pool process at once. This avoids Numba's parallel threading layers
altogether, so any number of Python threads may query one tree at the same time whatever
layer the user's Numba has.

* **One pool** per process, of :data:`MAX_THREADS` threads (the cores this process may
  use), created on first use. A call with ``workers = w`` runs ``w`` *lanes* on it; a lane
  takes chunks (or tasks) one after another until none is left, so a call never uses more
  than ``w`` threads and never waits for another pool task (no deadlock when several Python
  threads share the pool). Work started on a pool thread runs inline.
* **Chunks sized by time**: a lane's first chunks are small, then chunks are sized from the
  measured speed to take about :data:`TARGET_CHUNK_SECONDS`, so that uneven chunks balance
  out and any call can stop between chunks.
* **Ctrl-C**: a ``KeyboardInterrupt`` (or any exception) in the calling thread or in a lane
  cancels the remaining chunks; the call waits for the chunks already running (a fraction
  of a second), so no thread keeps working after it returns, and re-raises.
* **fork**: a child process made by ``fork`` gets a new, empty pool
  (``os.register_at_fork``): the parent's threads do not exist there.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

__all__ = ["MAX_THREADS", "POOL_THREAD_PREFIX", "available_cores", "chunk_bounds", "run_chunked",
           "run_lanes", "run_calls", "on_pool_thread"]

#: Name prefix of the pool's threads.
POOL_THREAD_PREFIX = "kdforge"
#: Below this many items per chunk the thread hand-off costs more than it saves.
MIN_CHUNK = 256
#: Chunks per worker at most (a cap on chunk size): uneven chunks balance out.
CHUNKS_PER_WORKER = 4
#: Items of the first chunk of a lane, before its speed is known.
FIRST_CHUNK = 64
#: Wall time a chunk should take once the speed is known: short enough to stop promptly on
#: Ctrl-C, long enough that the hand-off of a chunk (microseconds) does not count.
TARGET_CHUNK_SECONDS = 0.05


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: Threads of the pool, and the largest useful ``workers``: kernels are CPU-bound.
MAX_THREADS = available_cores()

_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


def _reset_after_fork() -> None:
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _pool() -> ThreadPoolExecutor:
    """The process's pool (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix=POOL_THREAD_PREFIX)
        return _POOL


def on_pool_thread() -> bool:
    """Whether the caller runs on a kdforge pool thread (work started there runs inline)."""
    return threading.current_thread().name.startswith(POOL_THREAD_PREFIX)


def _reraise_interrupt(exc: BaseException) -> None:
    """Raise the KeyboardInterrupt behind a SystemError, if there is one.

    A Ctrl-C that arrives while a Numba kernel calls back into Python (to rebuild a
    constant object) surfaces as "SystemError: ... returned a result with an exception
    set", with the KeyboardInterrupt as its cause: the caller must see the interrupt.
    """
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt() from exc
        cause = cause.__cause__ or cause.__context__


def run_lanes(lane, n_lanes: int) -> None:
    """Run ``lane(cancel)`` ``n_lanes`` times at once and wait for all of them.

    ``cancel`` is a :class:`threading.Event` every lane should check between its pieces
    of work. One lane (or a caller on a pool thread) runs inline on the calling thread.
    When a lane raises, or the calling thread is interrupted while it waits, ``cancel`` is
    set, the other lanes are waited for, and the first exception is re-raised.
    """
    cancel = threading.Event()
    if n_lanes <= 1 or on_pool_thread():
        try:
            lane(cancel)
        except SystemError as exc:
            _reraise_interrupt(exc)
            raise
        return
    pool = _pool()
    futures = [pool.submit(lane, cancel) for _ in range(n_lanes)]
    try:
        for future in futures:
            future.result()
    except BaseException:
        cancel.set()
        wait(futures)
        raise


class _Cursor:
    """Hands out consecutive chunks of ``range(n_items)``, sized by the measured speed."""

    def __init__(self, n_items: int, workers: int):
        self.n_items = n_items
        self.start = 0
        self.lock = threading.Lock()
        self.max_chunk = max(MIN_CHUNK, -(-n_items // (workers * CHUNKS_PER_WORKER)))
        self.rate = 0.0  # items per second, the best seen

    def take(self) -> tuple[int, int] | None:
        with self.lock:
            if self.start >= self.n_items:
                return None
            size = FIRST_CHUNK if self.rate == 0.0 else int(self.rate * TARGET_CHUNK_SECONDS)
            size = min(max(size, FIRST_CHUNK), self.max_chunk)
            start = self.start
            self.start = min(self.n_items, start + size)
            return start, self.start

    def report(self, items: int, seconds: float) -> None:
        if seconds > 0:
            with self.lock:
                self.rate = max(self.rate, items / seconds)


def chunk_bounds(n_items: int, workers: int) -> list[tuple[int, int]]:
    """Even contiguous (start, stop) chunks of ``range(n_items)`` for ``workers`` threads.

    For work that must be cut in advance (blocks of a matrix product); :func:`run_chunked`
    sizes its chunks as it goes.
    """
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
        nogil kernel so that threads really run at once. Chunk boundaries must not change
        its results.
    n_items : int
        Number of items in the batch.
    workers : int
        Number of threads (validated, ``1 <= workers <= MAX_THREADS``).

    Returns
    -------
    list
        ``task``'s results, in increasing ``start`` order (one chunk when ``n_items`` is 0).
    """
    if n_items == 0:
        return [task(0, 0)]
    cursor = _Cursor(n_items, workers)
    results = {}

    def lane(cancel):
        while not cancel.is_set():
            chunk = cursor.take()
            if chunk is None:
                return
            began = time.perf_counter()
            results[chunk[0]] = task(*chunk)
            cursor.report(chunk[1] - chunk[0], time.perf_counter() - began)

    n_lanes = min(workers, -(-n_items // MIN_CHUNK))
    run_lanes(lane, n_lanes)
    return [results[start] for start in sorted(results)]


def run_calls(calls: list, workers: int) -> list:
    """Run every callable of ``calls`` on ``workers`` threads; return their results in order."""
    results = [None] * len(calls)
    cursor = iter(range(len(calls)))
    lock = threading.Lock()

    def lane(cancel):
        while not cancel.is_set():
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            results[i] = calls[i]()

    run_lanes(lane, min(workers, len(calls)))
    return results
