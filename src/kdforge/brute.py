"""Exact brute-force nearest-neighbour search.

Brute force compares every query with every data point. It needs no index, is the
reference the tree is tested against, and is the fastest exact method for very high
dimensions or for a few queries on data that will not be searched again.

Two engines are used:

* ``p == 2`` (Euclidean): the squared distances are expanded as
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
``workers`` threads share the work; the kernels release the GIL. For ``p != 2`` the queries
are split into chunks run at once. For ``p == 2`` the engine takes turns: the matrix product
of a block runs in the calling thread, where NumPy's BLAS (OpenBLAS uses all cores by
default) parallelises it itself, then the filtering of that block is split over the
workers. Running several products at once instead oversubscribes the cores and was slower
on a 2-core machine; kdforge never changes BLAS settings (``OPENBLAS_NUM_THREADS`` or
``threadpoolctl`` control them).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from numba import njit

from ._knn import heap_offer, heap_sort_ascending
from ._parallel import MIN_CHUNK, run_chunked
from ._radius import _grow
from ._validation import (
    as_data_array,
    as_query_array,
    check_k,
    check_p,
    check_radius,
    check_workers,
)

__all__ = ["knn", "radius", "BLOCK_BYTES"]

#: Target size in bytes of one block of expanded distances (queries x data points).
BLOCK_BYTES = 4 << 20
#: Default number of queries per block of the Euclidean engine.
DEFAULT_QUERY_BLOCK = 256
#: The data-point side of a block never goes below this (keeps the matrix product efficient).
MIN_DATA_BLOCK = 512

_U64 = 2.0**-53


# --------------------------------------------------------------------------------------
# Numba kernels
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sort_heaps(heap_d, heap_i):
    """Sort each row of a batch of max-heaps into increasing ``(distance, index)`` order."""
    for row in range(heap_d.shape[0]):
        heap_sort_ascending(heap_d[row], heap_i[row])


@njit(cache=True, nogil=True, fastmath=False)
def _row_sq_norms(X):
    """Squared Euclidean norm of each row, accumulated in float64."""
    out = np.empty(X.shape[0], dtype=np.float64)
    for i in range(X.shape[0]):
        s = 0.0
        for t in range(X.shape[1]):
            v = np.float64(X[i, t])
            s += v * v
        out[i] = s
    return out


@njit(cache=True, nogil=True, fastmath=False)
def _sq_dist(x, q):
    """Direct squared Euclidean distance in float64."""
    s = 0.0
    for t in range(x.shape[0]):
        diff = np.float64(x[t]) - np.float64(q[t])
        s += diff * diff
    return s


@njit(cache=True, nogil=True, fastmath=False)
def _minkowski_key(x, q, p, bound):
    """Monotone key of the Minkowski distance: ``sum |x-q|**p`` (``max`` for p = inf).

    Accumulates in float64 and returns early, with a value > ``bound``, as soon as the
    partial key exceeds ``bound`` (partial sums of non-negative terms never decrease).
    """
    d = x.shape[0]
    s = 0.0
    if p == 1.0:
        for t in range(d):
            s += abs(np.float64(x[t]) - np.float64(q[t]))
            if s > bound:
                return s
    elif p == 2.0:
        for t in range(d):
            diff = np.float64(x[t]) - np.float64(q[t])
            s += diff * diff
            if s > bound:
                return s
    elif p == np.inf:
        for t in range(d):
            diff = abs(np.float64(x[t]) - np.float64(q[t]))
            if diff > s:
                s = diff
                if s > bound:
                    return s
    else:
        for t in range(d):
            s += abs(np.float64(x[t]) - np.float64(q[t])) ** p
            if s > bound:
                return s
    return s


@njit(cache=True, nogil=True, fastmath=False)
def _key_to_dist(key, p):
    if p == 1.0 or p == np.inf:
        return key
    if p == 2.0:
        return math.sqrt(key)
    return key ** (1.0 / p)


@njit(cache=True, nogil=True, fastmath=False)
def _knn_scan(data, queries, p, heap_d, heap_i):
    """kNN by scanning all data per query; heaps hold Minkowski keys (see _minkowski_key)."""
    for i in range(queries.shape[0]):
        hd = heap_d[i]
        hi = heap_i[i]
        q = queries[i]
        for j in range(data.shape[0]):
            key = _minkowski_key(data[j], q, p, hd[0])
            heap_offer(hd, hi, key, j)


@njit(cache=True, nogil=True, fastmath=False)
def _append_hit(rows, cols, dists, count, row, col, dist):
    """Append one hit to growable buffers; return them (possibly reallocated)."""
    if count == rows.shape[0]:
        rows = _grow(rows, count + 1)
        cols = _grow(cols, count + 1)
        dists = _grow(dists, count + 1)
    rows[count] = row
    cols[count] = col
    dists[count] = dist
    return rows, cols, dists


@njit(cache=True, nogil=True, fastmath=False)
def _radius_scan(data, queries, p, r_key, row0, rows, cols, dists, count):
    """Append ``(row0 + i, j, distance)`` for every point whose key is <= ``r_key[i]``."""
    for i in range(queries.shape[0]):
        q = queries[i]
        bound = r_key[i]
        for j in range(data.shape[0]):
            key = _minkowski_key(data[j], q, p, bound)
            if key <= bound:
                rows, cols, dists = _append_hit(rows, cols, dists, count, row0 + i, j, _key_to_dist(key, p))
                count += 1
    return rows, cols, dists, count


@njit(cache=True, nogil=True, fastmath=False)
def _knn_filter_block(G, j0, x_lo, x_slope, q_lo, q_norm, data, queries, heap_d, heap_i):
    """Offer the data points ``j0 : j0 + G.shape[1]`` to the heaps of a block of queries.

    ``G[i, jj]`` is the dot product of shifted query i with shifted point ``j0 + jj``, and
    ``x_lo[j] - x_slope[j] * b - 2 G + q_lo[i]`` is a lower bound of the squared distance
    (``b = q_norm[i]``; see :class:`_EuclideanPlan`). A point whose lower bound exceeds the
    current k-th smallest direct squared distance is skipped; the others are measured.
    """
    for i in range(G.shape[0]):
        hd = heap_d[i]
        hi = heap_i[i]
        q = queries[i]
        b = q_norm[i]
        limit = hd[0] - q_lo[i]
        for jj in range(G.shape[1]):
            j = j0 + jj
            if x_lo[j] - x_slope[j] * b - 2.0 * np.float64(G[i, jj]) > limit:
                continue
            heap_offer(hd, hi, _sq_dist(data[j], q), j)
            limit = hd[0] - q_lo[i]


@njit(cache=True, nogil=True, fastmath=False)
def _radius_filter_block(G, j0, x_lo, x_slope, q_lo, q_norm, data, queries, r_key, row0, rows, cols, dists, count):
    """Radius counterpart of :func:`_knn_filter_block`; appends hits as in :func:`_radius_scan`."""
    for i in range(G.shape[0]):
        q = queries[i]
        b = q_norm[i]
        bound = r_key[i]
        limit = bound - q_lo[i]
        for jj in range(G.shape[1]):
            j = j0 + jj
            if x_lo[j] - x_slope[j] * b - 2.0 * np.float64(G[i, jj]) > limit:
                continue
            key = _sq_dist(data[j], q)
            if key <= bound:
                rows, cols, dists = _append_hit(rows, cols, dists, count, row0 + i, j, math.sqrt(key))
                count += 1
    return rows, cols, dists, count


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

    def __init__(self, data: np.ndarray, queries: np.ndarray, query_block: int, workers: int):
        dtype = data.dtype
        (n, d), m = data.shape, queries.shape[0]
        info = np.finfo(dtype)
        u = float(info.eps) / 2.0

        raw_sq = _row_sq_norms(data)
        centre = data.mean(axis=0, dtype=np.float64)
        # Shifting costs a copy of the data; do it only when it shrinks the norms a lot
        # (sum |x - mean|**2 = sum |x|**2 - n |mean|**2).
        shifted = bool(centre @ centre > 0.25 * raw_sq.mean())
        if shifted:
            centre = centre.astype(dtype)
            self.points = data - centre
            self.queries = queries - centre
            x_sq = _row_sq_norms(self.points)
        else:
            self.points = data
            self.queries = queries
            x_sq = raw_sq
        q_sq = _row_sq_norms(self.queries)
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

        # The rows of a block are split over the workers in chunks of at least MIN_CHUNK.
        self.query_block = max(query_block, workers * MIN_CHUNK) if workers > 1 else query_block
        rows = max(1, min(m, self.query_block))
        self.data_block = min(n, max(MIN_DATA_BLOCK, BLOCK_BYTES // (dtype.itemsize * rows)))

    def blocks(self):
        """Yield ``(q_start, q_stop, j_start, G)``, G the block of shifted dot products."""
        n, m = self.points.shape[0], self.queries.shape[0]
        buffer = np.empty(min(m, self.query_block) * self.data_block, dtype=self.points.dtype)
        for q0 in range(0, m, self.query_block):
            q1 = min(m, q0 + self.query_block)
            for j0 in range(0, n, self.data_block):
                j1 = min(n, j0 + self.data_block)
                G = buffer[: (q1 - q0) * (j1 - j0)].reshape(q1 - q0, j1 - j0)
                np.matmul(self.queries[q0:q1], self.points[j0:j1].T, out=G)
                yield q0, q1, j0, G


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _check_chunk_size(chunk_size) -> int:
    if chunk_size is None:
        return DEFAULT_QUERY_BLOCK
    if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be an integer or None, got {type(chunk_size).__name__} {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def _hit_buffers(n_queries: int):
    """Empty growable ``rows, cols, dists`` buffers and a zero count for the radius kernels."""
    capacity = max(64, 4 * n_queries)
    return np.empty(capacity, np.int64), np.empty(capacity, np.int64), np.empty(capacity, np.float64), 0


def _trim_hits(rows, cols, dists, count):
    return rows[:count], cols[:count], dists[:count]


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
        Queries per block of the ``p = 2`` engine (default 256; at least 256 per worker). The
        data side of a block is chosen so that one block of expanded distances takes about
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
    data = as_data_array(data)
    queries, single = as_query_array(X, data.shape[1], data.dtype)
    k = check_k(k)
    p = check_p(p)
    workers = check_workers(workers)
    query_block = _check_chunk_size(chunk_size)
    sort_results = bool(sort_results)

    m = queries.shape[0]
    keys = np.full((m, k), np.inf, dtype=np.float64)
    idx = np.full((m, k), -1, dtype=np.int64)

    plan = _EuclideanPlan(data, queries, query_block, workers) if p == 2.0 else None
    if plan is not None and plan.usable:

        def scan(G, q0, j0, start, stop):
            a, b = q0 + start, q0 + stop
            _knn_filter_block(
                G[start:stop], j0, plan.x_lo, plan.x_slope, plan.q_lo[a:b], plan.q_norm[a:b], data, queries[a:b],
                keys[a:b], idx[a:b],
            )  # fmt: skip

        for q0, q1, j0, G in plan.blocks():
            run_chunked(partial(scan, G, q0, j0), q1 - q0, workers)
    else:

        def task(start, stop):
            _knn_scan(data, queries[start:stop], p, keys[start:stop], idx[start:stop])

        run_chunked(task, m, workers)

    if sort_results:
        _sort_heaps(keys, idx)
    if p == 2.0:
        dist = np.sqrt(keys)
    elif p == 1.0 or p == np.inf:
        dist = keys
    else:
        dist = keys ** (1.0 / p)
    dist = dist.astype(data.dtype, copy=False)
    if single:
        return dist[0], idx[0]
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
    data = as_data_array(data)
    queries, _ = as_query_array(X, data.shape[1], data.dtype)
    m = queries.shape[0]
    radii = check_radius(r, m)
    p = check_p(p)
    return_distance = bool(return_distance)
    sort_results = bool(sort_results)
    workers = check_workers(workers)
    # Points are compared in key form, key(x, q) <= r**p, exactly as the tree does.
    r_key = radii if (p == 1.0 or p == np.inf) else radii**p

    plan = _EuclideanPlan(data, queries, DEFAULT_QUERY_BLOCK, workers) if p == 2.0 else None
    if plan is not None and plan.usable:

        def scan(G, q0, j0, start, stop):
            a, b = q0 + start, q0 + stop
            hits = _radius_filter_block(
                G[start:stop], j0, plan.x_lo, plan.x_slope, plan.q_lo[a:b], plan.q_norm[a:b], data, queries[a:b],
                r_key[a:b], a, *_hit_buffers(b - a),
            )  # fmt: skip
            return _trim_hits(*hits)

        parts = []
        for q0, q1, j0, G in plan.blocks():
            parts.extend(run_chunked(partial(scan, G, q0, j0), q1 - q0, workers))
    else:

        def task(start, stop):
            hits = _radius_scan(data, queries[start:stop], p, r_key[start:stop], start, *_hit_buffers(stop - start))
            return _trim_hits(*hits)

        parts = run_chunked(task, m, workers)

    parts.append(_trim_hits(*_hit_buffers(0)))  # so that no queries concatenate too
    rows = np.concatenate([part[0] for part in parts])
    cols = np.concatenate([part[1] for part in parts])
    dists = np.concatenate([part[2] for part in parts])

    # Hits come grouped by block of queries, then by data block; order them by query.
    if sort_results:
        order = np.lexsort((cols, dists, rows))
    else:
        order = np.lexsort((cols, rows))
    rows, cols, dists = rows[order], cols[order], dists[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    if return_distance:
        return indptr, cols, dists.astype(data.dtype, copy=False)
    return indptr, cols
