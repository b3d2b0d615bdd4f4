"""Exact brute-force nearest-neighbour search.

Brute force compares every query with every data point. It needs no index, is the
reference the tree is tested against, and is the fastest exact method for very high
dimensions or for a few queries on data that will not be searched again.

Three engines are used:

* ``p == 2`` in at most :data:`DIRECT_MAX_DIMS` dimensions: every pair is measured directly,
  ``sum((x - q)**2)`` in float64, with the data transposed and cut into blocks of
  :data:`DIRECT_BLOCK` points that stay in cache while every query is measured against
  them (a contiguous loop over points, which LLVM vectorises). With few coordinates a
  matrix product does almost no arithmetic per entry of its output: OpenBLAS's ``dgemm``
  with an inner dimension of 3 produced about 5e7 entries per second on the 2-core
  development machine, 80% of the time of ``radius`` (1e6 x 1e3 points: 15 s), where the
  direct scan measures about 5e8 pairs per second per core.
* ``p == 2`` in more dimensions: the squared distances are expanded as
  ``|x|**2 + |q|**2 - 2 x.q`` so that the bulk of the work is a matrix product done by
  BLAS, one block of queries by one block of data points at a time (a block of expanded
  distances is about :data:`BLOCK_BYTES`). The expansion is only a *filter*: it comes with
  a rigorous error bound, and every point the bound cannot rule out is measured again
  directly as ``sum((x - q)**2)`` in float64. Returned distances are always these direct
  ones (see :ref:`exactness <brute-exactness>` below).
* any other ``p >= 1`` (1, inf, 3, ...): a Numba kernel scans the data for each query,
  accumulating ``sum(|x - q|**p)`` (``max`` for ``p = inf``) in float64 and stopping a
  point early once it cannot qualify.

.. _brute-exactness:

Exactness of the Euclidean engine
---------------------------------
The data and queries are first shifted by a common centre ``c`` when that makes them much
smaller (translation does not change distances, but the error of the expansion grows with
the norms, so data far from the origin - latitudes/longitudes, say - would otherwise gain
nothing from the filter). Write ``a = |x - c|`` and ``b = |q - c|`` for the shifted norms
and ``u`` for the unit roundoff of the working dtype (float32 or float64). The expansion is
computed with the dot product in the working dtype (BLAS, any summation order, with or
without FMA) and everything else in float64, and then differs from the true squared
distance by at most::

    err(x, q) = alpha * a * b + beta * (a + b)**2 + tau
    alpha = 4 * gamma_d                      (gamma_d = d*u / (1 - d*u), twice for safety)
    beta  = 4 * u      [only if shifted]     (rounding of x - c and q - c)
          + 8 * (d + 8) * 2**-53             (float64 arithmetic, direct distance included)
    tau   = 4 * (d + 1) * smallest subnormal (underflow in the dot product)

which is the classical bound ``|fl(x.q) - x.q| <= gamma_d * sum|x_i q_i| <= gamma_d * a * b``
for the dot product plus the (much smaller) other terms, each taken twice for safety.
A point whose ``expansion - err`` exceeds the current k-th smallest *direct* distance (kNN)
or ``r**2`` (radius) therefore cannot be a result, and is skipped; every other point is
measured directly. The result is identical to what a direct float64 scan of all points
returns: the same neighbours, the same ties broken by index, the same distances. When the
bound is loose (float32 points much closer to each other than to the centre) more points
are measured directly - slower, never wrong. Data so large that squared norms would
overflow the working dtype falls back to the direct scan.

Threads
-------
``workers`` threads share the work; the kernels release the GIL. The queries are split into
chunks run at once, and ``workers`` is the number of cores used in all. In the BLAS filter
each worker computes the matrix products of its own queries, and while the workers run BLAS
is limited to one thread (through ``threadpoolctl``, a scikit-learn dependency, when it is
installed; see :func:`blas_one_thread_per_worker`): letting every product start BLAS's own
threads as well (OpenBLAS starts one per core) oversubscribes the cores, and the time then
swings several-fold with the machine's load. The limit is put back when the call ends.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext

import numpy as np

from . import _validation as v
from ._kernels.brute import (
    knn_direct,
    knn_filter_block,
    knn_scan,
    radius_direct,
    radius_filter_block,
    radius_scan,
    row_sq_norms,
)
from ._kernels.distance import metric_code, to_reduced, from_reduced
from ._kernels.heaps import sort_heap_rows
from ._compile import notice_compile
from ._parallel import run_chunked
from .results import join_segments, sort_csr_rows

__all__ = ["knn", "radius", "BLOCK_BYTES"]

#: Target size in bytes of one block of expanded distances (queries x data points).
BLOCK_BYTES = 4 << 20
#: Default number of queries per block of the Euclidean engine.
DEFAULT_QUERY_BLOCK = 256
#: The data-point side of a block never goes below this (keeps the matrix product efficient).
MIN_DATA_BLOCK = 512

#: Up to this many dimensions the Euclidean engine measures every pair directly (blocked,
#: vectorised loops) instead of filtering with a BLAS product: with few coordinates the
#: product does almost no arithmetic per entry of its output, and writing and filtering
#: that output costs more than the direct distance (see the module documentation).
DIRECT_MAX_DIMS = 8
#: Data points per block of the direct engine (the block stays in cache for all queries).
DIRECT_BLOCK = 1024

_U64 = 2.0**-53
#: Distances of radius results are computed in float64 (and sorted there), then rounded.
_FLOAT64_PROBE = np.empty(0, dtype=np.float64)


# --------------------------------------------------------------------------------------
# Euclidean plan: shifted data, norms and error-bound coefficients
# --------------------------------------------------------------------------------------


class _EuclideanPlan:
    """Everything the Euclidean engine needs about one batch, computed once per call.

    With the error bound of the module documentation, the lower bound of the squared
    distance ``|x|**2 + |q|**2 - 2 x.q - err`` (shifted norms ``a = |x|``, ``b = |q|``)
    rearranges to ``x_lo - x_slope * b - 2 x.q + q_lo`` with the per-point terms
    ``x_lo = (1 - beta) a**2``, ``x_slope = (alpha + 2 beta) a`` and the per-query term
    ``q_lo = (1 - beta) b**2 - tau``, which leaves two multiply-adds per pair in the kernel.

    ``usable`` is False when squared norms could overflow the working dtype; callers then
    fall back to the direct scan.
    """

    def __init__(self, data: np.ndarray, queries: np.ndarray, query_block: int):
        dtype = data.dtype
        (n, d), m = data.shape, queries.shape[0]
        info = np.finfo(dtype)
        u = float(info.eps) / 2.0

        raw_sq = row_sq_norms(data)
        centre = data.mean(axis=0, dtype=np.float64)
        # Shifting costs a copy of the data; do it only when it shrinks the norms a lot
        # (sum |x - mean|**2 = sum |x|**2 - n |mean|**2).
        shifted = bool(centre @ centre > 0.25 * raw_sq.mean())
        if shifted:
            centre = centre.astype(dtype)
            self.points = data - centre
            self.queries = queries - centre
            x_sq = row_sq_norms(self.points)
        else:
            self.points = data
            self.queries = queries
            x_sq = raw_sq
        q_sq = row_sq_norms(self.queries)
        x_norm = np.sqrt(x_sq)
        self.q_norm = np.sqrt(q_sq)

        alpha = 4.0 * d * u / (1.0 - d * u)
        beta = (4.0 * u if shifted else 0.0) + 8.0 * (d + 8) * _U64
        tau = 4.0 * (d + 1) * float(info.smallest_subnormal)
        self.x_lo = (1.0 - beta) * x_sq
        self.x_slope = (alpha + 2.0 * beta) * x_norm
        self.q_lo = (1.0 - beta) * q_sq - tau

        largest = float(x_norm.max(initial=0.0)) + float(self.q_norm.max(initial=0.0))
        self.usable = bool(largest**2 < float(info.max) / 16.0)

        self.query_block = query_block
        rows = max(1, min(m, self.query_block))
        self.data_block = min(n, max(MIN_DATA_BLOCK, BLOCK_BYTES // (dtype.itemsize * rows)))

    def blocks(self, start: int, stop: int):
        """Yield ``(q_start, q_stop, j_start, G)`` for the queries ``start:stop``, G the block of
        shifted dot products (one buffer per call, so that workers may call it at once)."""
        n = self.points.shape[0]
        buffer = np.empty(max(0, min(stop - start, self.query_block)) * self.data_block,
                          dtype=self.points.dtype)
        for q0 in range(start, stop, self.query_block):
            q1 = min(stop, q0 + self.query_block)
            for j0 in range(0, n, self.data_block):
                j1 = min(n, j0 + self.data_block)
                G = buffer[: (q1 - q0) * (j1 - j0)].reshape(q1 - q0, j1 - j0)
                np.matmul(self.queries[q0:q1], self.points[j0:j1].T, out=G)
                yield q0, q1, j0, G


# --------------------------------------------------------------------------------------
# BLAS threads: one per worker while the workers run
# --------------------------------------------------------------------------------------

#: threadpoolctl's controller of the loaded BLAS libraries once looked up; False when
#: threadpoolctl is missing or fails (BLAS then keeps its own settings).
_BLAS_CONTROLLER = None
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_LIMITER = None


def _blas_controller():
    """The threadpoolctl controller (looked up once), or None without threadpoolctl."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER = ThreadpoolController()
        except Exception:  # noqa: BLE001 - optional: missing, or unable to inspect the process
            _BLAS_CONTROLLER = False
    return _BLAS_CONTROLLER or None


@contextmanager
def blas_one_thread_per_worker():
    """Limit BLAS to one thread while several kdforge workers each run matrix products.

    With one worker (the calling thread) BLAS keeps its own threads, which is faster there.

    ``workers`` threads then use ``workers`` cores in all, instead of ``workers`` times
    BLAS's own threads (OpenBLAS starts one per core), which oversubscribes the cores and
    makes the time swing with the machine's load. The limit is process-wide (BLAS has no
    per-thread setting): calls running at once share it, and the last one to finish puts
    back the limits found before the first began. Without threadpoolctl (a scikit-learn
    dependency) nothing is changed.
    """
    global _BLAS_USERS, _BLAS_LIMITER
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            _BLAS_LIMITER = controller.limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_LIMITER.restore_original_limits()
                _BLAS_LIMITER = None


def _use_direct(data: np.ndarray) -> bool:
    """Whether the Euclidean engine measures every pair directly (few dimensions)."""
    return data.shape[1] <= DIRECT_MAX_DIMS


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def knn(data, X, k=1, *, p=2, workers=1, chunk_size=None, sort_results=True):
    """Exact k nearest neighbours by brute force.

    Parameters
    ----------
    data : array_like of shape (n, d)
        The points searched. float32 and float64 keep their dtype; other real dtypes become
        float64. Values must be finite.
    X : array_like of shape (m, d) or (d,)
        Query points, converted to the dtype of ``data``.
    k : int, default 1
        Number of neighbours per query (>= 1). ``k`` may exceed ``n``.
    p : float, default 2
        Minkowski order, ``1 <= p <= inf``. ``p = 2`` uses the BLAS engine, any other value
        the scanning kernel. Very large finite ``p`` may overflow ``|x - q|**p``; use
        ``p = inf`` for the maximum norm.
    workers : int, default 1
        Threads over which the queries are split; -1 uses all cores.
    chunk_size : int, optional
        Queries per block of the ``p = 2`` BLAS filter (default 256). The data side of a block is chosen so that one block of expanded distances takes about
        :data:`BLOCK_BYTES`.
    sort_results : bool, default True
        Sort each row by increasing distance, ties by increasing index. When False the k
        results come in an unspecified order (missing ones included).

    Returns
    -------
    dist : ndarray of shape (m, k), dtype of ``data``
        Distances to the neighbours. Where ``k > n`` the missing entries are ``inf``.
    idx : ndarray of shape (m, k), int64
        Row indices into ``data``; ``-1`` for missing entries. A 1-D ``X`` gives results of
        shape (k,).

    Notes
    -----
    Results are exact: distances are measured directly in float64 (then rounded to the data
    dtype), never taken from the ``|x|**2 + |q|**2 - 2 x.q`` expansion, and the expansion
    only discards points that a rigorous error bound proves cannot be among the k nearest.
    See the module documentation.

    Examples
    --------
    >>> import numpy as np
    >>> from kdforge import brute
    >>> data = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    >>> dist, idx = brute.knn(data, [[0.9, 0.0]], k=2)
    >>> idx
    array([[1, 0]])
    """
    data = v.as_data_array(data)
    queries, single = v.as_query_array(X, data.shape[1], data.dtype, owner="data")
    query_block = v.check_int(chunk_size, "chunk_size", minimum=1, allow_none=True)
    k = v.check_k(k)
    v.check_knn_answer(queries.shape[0], k, "data")
    dist, idx = _knn(data, queries, k, v.check_p(p), v.check_workers(workers),
                     bool(sort_results), query_block)
    if single:
        return dist[0], idx[0]
    return dist, idx


def _knn(data, queries, k, p, workers, sort_results, query_block=None):
    """:func:`knn` on validated arguments (queries 2-D in the dtype of ``data``)."""
    query_block = DEFAULT_QUERY_BLOCK if query_block is None else query_block
    notice_compile("brute force", data.dtype)
    metric = metric_code(p)
    m = queries.shape[0]
    keys = np.full((m, k), np.inf, dtype=np.float64)
    idx = np.full((m, k), -1, dtype=np.int64)

    direct = p == 2.0 and _use_direct(data)
    plan = _EuclideanPlan(data, queries, query_block) if p == 2.0 and not direct else None
    if direct:
        points_t = np.ascontiguousarray(data.T)

        def direct_task(start, stop):
            knn_direct(points_t, queries[start:stop], DIRECT_BLOCK, keys[start:stop], idx[start:stop])

        run_chunked(direct_task, m, workers)
    elif plan is not None and plan.usable:

        def blas_task(start, stop):
            for q0, q1, j0, G in plan.blocks(start, stop):
                knn_filter_block(
                    G, j0, plan.x_lo, plan.x_slope, plan.q_lo[q0:q1], plan.q_norm[q0:q1], data, queries[q0:q1],
                    keys[q0:q1], idx[q0:q1],
                )  # fmt: skip

        with blas_one_thread_per_worker() if workers > 1 else nullcontext():
            run_chunked(blas_task, m, workers)
    else:

        def task(start, stop):
            knn_scan(data, queries[start:stop], metric, p, keys[start:stop], idx[start:stop])

        run_chunked(task, m, workers)

    if sort_results:
        sort_heap_rows(keys, idx)
    dist = from_reduced.py_func(keys, metric, p).astype(data.dtype, copy=False)
    return dist, idx


def radius(data, X, r, *, p=2, return_distance=False, sort_results=False, workers=1):
    """Exact fixed-radius search by brute force: all points with distance <= r.

    Parameters
    ----------
    data : array_like of shape (n, d)
        The points searched (see :func:`knn`).
    X : array_like of shape (m, d) or (d,)
        Query points; a 1-D ``X`` is one query (the result still has CSR form, ``m = 1``).
    r : float or array_like of shape (m,)
        Radius, one for all queries or one per query; >= 0 (``inf`` allowed).
    p : float, default 2
        Minkowski order, ``1 <= p <= inf``.
    return_distance : bool, default False
        Also return the distances.
    sort_results : bool, default False
        Sort each query's points by increasing distance (ties by index). Otherwise they
        come by increasing index.
    workers : int, default 1
        Threads over which the queries are split; -1 uses all cores.

    Returns
    -------
    indptr : ndarray of shape (m + 1,), int64
        The points of query ``i`` are ``indices[indptr[i]:indptr[i + 1]]``.
    indices : ndarray, int64
        Row indices into ``data``.
    distances : ndarray, dtype of ``data``
        Only when ``return_distance``; aligned with ``indices``.

    Notes
    -----
    A point is reported when its key ``sum |x - q|**p`` (``max |x - q|`` for ``p = inf``),
    accumulated in float64 directly from the coordinates, is <= ``r**p`` - the same test, in
    the same arithmetic, as the tree's. For ``p = 2`` the BLAS expansion only discards points
    that a rigorous error bound proves to fail it (see the module documentation).
    """
    data = v.as_data_array(data)
    queries, _ = v.as_query_array(X, data.shape[1], data.dtype, owner="data")
    radii = v.check_radius(r, queries.shape[0])
    indptr, indices, distances = _radius(data, queries, radii, v.check_p(p),
                                         v.check_workers(workers), bool(sort_results))
    if return_distance:
        return indptr, indices, distances.astype(data.dtype, copy=False)
    return indptr, indices


def _radius(data, queries, radii, p, workers, sort_results):
    """:func:`radius` on validated arguments: ``(indptr, indices, float64 distances)``."""
    notice_compile("brute force", data.dtype)
    metric = metric_code(p)
    m = queries.shape[0]
    # Points are compared in reduced form, exactly as the tree does.
    radii_reduced = to_reduced.py_func(radii, metric, p)
    direct = p == 2.0 and _use_direct(data)
    plan = _EuclideanPlan(data, queries, DEFAULT_QUERY_BLOCK) if p == 2.0 and not direct else None
    if direct:
        points_t = np.ascontiguousarray(data.T)

        def direct_task(start, stop):
            return radius_direct(points_t, queries[start:stop], radii_reduced[start:stop],
                                 DIRECT_BLOCK, _FLOAT64_PROBE)

        # One segment per query, the chunks in query order: joining is a concatenation.
        chunks = run_chunked(direct_task, m, workers)
        indptr, (indices, distances) = join_segments(
            m, [c[0] for c in chunks], [[c[1] for c in chunks], [c[2] for c in chunks]])
        if sort_results:
            sort_csr_rows(indptr, indices, distances, workers)
        return indptr, indices, distances
    if plan is not None and plan.usable:

        def blas_task(start, stop):
            found = []
            for q0, q1, j0, G in plan.blocks(start, stop):
                segments = radius_filter_block(
                    G, j0, plan.x_lo, plan.x_slope, plan.q_lo[q0:q1], plan.q_norm[q0:q1], data, queries[q0:q1],
                    radii_reduced[q0:q1], _FLOAT64_PROBE,
                )  # fmt: skip
                found.append((np.arange(q0, q1, dtype=np.int64), segments))
            return found

        with blas_one_thread_per_worker() if workers > 1 else nullcontext():
            parts = [part for found in run_chunked(blas_task, m, workers) for part in found]
    else:

        def task(start, stop):
            segments = radius_scan(data, queries[start:stop], metric, p, radii_reduced[start:stop],
                                   _FLOAT64_PROBE)
            return np.arange(start, stop, dtype=np.int64), segments

        parts = run_chunked(task, m, workers)

    # A query's neighbours come in segments, one per block of data points, each in
    # increasing index order: grouping them by query keeps that order.
    parts.append((np.zeros(0, np.int64), (np.zeros(0, np.int64), np.zeros(0, np.int64),
                                           np.zeros(0))))  # so that no queries join too
    rows = [part[0] for part in parts]
    counts = [part[1][0] for part in parts]
    values = [[part[1][1] for part in parts], [part[1][2] for part in parts]]
    del parts  # join_segments frees each chunk once copied
    indptr, (indices, distances) = join_segments(m, counts, values, rows)
    if sort_results:
        sort_csr_rows(indptr, indices, distances, workers)
    return indptr, indices, distances
