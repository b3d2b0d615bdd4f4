"""Brute-force kernels: scans of every point, and the filters of the BLAS engine.

Distances come from the one per-point loop of :mod:`kdforge._kernels.distance` (float64
accumulation, early exit above a bound), candidates go to the k-best heaps of
:mod:`kdforge._kernels.heaps`, so brute force and the trees compute identical values.
Radius kernels append one segment per query (count, neighbours, distances) as the trees'
do (:mod:`kdforge._kernels.results`). The error bound of the BLAS filter is derived in
:mod:`kdforge.brute`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import METRIC_L2, from_reduced, reduced_distance
from .heaps import heap_offer
from .results import grow


@njit(cache=True, nogil=True)
def row_sq_norms(X):
    """Squared Euclidean norm of each row, accumulated in float64."""
    out = np.empty(X.shape[0], dtype=np.float64)
    for i in range(X.shape[0]):
        s = 0.0
        for t in range(X.shape[1]):
            v = np.float64(X[i, t])
            s += v * v
        out[i] = s
    return out


@njit(cache=True, nogil=True)
def knn_scan(data, queries, metric, p, heap_d, heap_i):
    """kNN by scanning all data per query; the heaps (rows of (m, k)) hold reduced distances."""
    for i in range(queries.shape[0]):
        hd = heap_d[i]
        hi = heap_i[i]
        q = queries[i]
        for j in range(data.shape[0]):
            key = reduced_distance(data, j, q, metric, p, hd[0])
            heap_offer(hd, hi, key, j)


@njit(cache=True, nogil=True)
def _append(cols, dists, count, col, dist):
    """Append one neighbour to growable buffers; return them (possibly reallocated)."""
    if count == cols.shape[0]:
        cols = grow(cols, count + 1)
        dists = grow(dists, count + 1)
    cols[count] = col
    dists[count] = dist
    return cols, dists


@njit(cache=True, nogil=True)
def radius_scan(data, queries, metric, p, radii_reduced, dist_dtype_probe):
    """Points within the reduced radius of each query, by scanning all data per query.

    Returns
    -------
    counts : int64 array of shape (m,)
    cols : int64 array
        Each query's neighbours in increasing index order, one query after the other.
    dists : array of the probe's dtype, aligned with ``cols``
    """
    counts = np.zeros(queries.shape[0], dtype=np.int64)
    cols = np.empty(max(64, 4 * queries.shape[0]), dtype=np.int64)
    dists = np.empty(cols.shape[0], dtype=dist_dtype_probe.dtype)
    total = 0
    for i in range(queries.shape[0]):
        q = queries[i]
        bound = radii_reduced[i]
        first = total
        for j in range(data.shape[0]):
            key = reduced_distance(data, j, q, metric, p, bound)
            if key <= bound:
                cols, dists = _append(cols, dists, total, j, from_reduced(key, metric, p))
                total += 1
        counts[i] = total - first
    return counts, cols[:total], dists[:total]


@njit(cache=True, nogil=True)
def knn_filter_block(G, j0, x_lo, x_slope, q_lo, q_norm, data, queries, heap_d, heap_i):
    """Offer the data points ``j0 : j0 + G.shape[1]`` to the heaps of a block of queries.

    ``G[i, jj]`` is the dot product of shifted query i with shifted point ``j0 + jj``, and
    ``x_lo[j] - x_slope[j] * b - 2 G + q_lo[i]`` is a lower bound of the squared distance
    (``b = q_norm[i]``; see :mod:`kdforge.brute`). A point whose lower bound exceeds the
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
            heap_offer(hd, hi, reduced_distance(data, j, q, METRIC_L2, 2.0, np.inf), j)
            limit = hd[0] - q_lo[i]


@njit(cache=True, nogil=True)
def _filter_candidates(G_row, j0, x_lo, x_slope, b, limit, hits):
    """Write the positions ``jj`` whose lower bound ``x_lo - x_slope * b - 2 G`` is at most
    ``limit`` to ``hits``; return how many. A function of its own so that its loop holds no
    growable buffer (Numba would count references to it on every pass)."""
    found = 0
    for jj in range(G_row.shape[0]):
        j = j0 + jj
        if x_lo[j] - x_slope[j] * b - 2.0 * np.float64(G_row[jj]) <= limit:
            hits[found] = jj
            found += 1
    return found


@njit(cache=True, nogil=True)
def radius_filter_block(G, j0, x_lo, x_slope, q_lo, q_norm, data, queries, radii_reduced,
                        dist_dtype_probe):
    """Radius counterpart of :func:`knn_filter_block`: the points of the block within the
    squared radius of each query, in the segment form of :func:`radius_scan`."""
    counts = np.zeros(G.shape[0], dtype=np.int64)
    cols = np.empty(max(64, 4 * G.shape[0]), dtype=np.int64)
    dists = np.empty(cols.shape[0], dtype=dist_dtype_probe.dtype)
    hits = np.empty(G.shape[1], dtype=np.int64)
    total = 0
    for i in range(G.shape[0]):
        q = queries[i]
        bound = radii_reduced[i]
        found = _filter_candidates(G[i], j0, x_lo, x_slope, q_norm[i], bound - q_lo[i], hits)
        first = total
        for h in range(found):
            j = j0 + hits[h]
            key = reduced_distance(data, j, q, METRIC_L2, 2.0, bound)
            if key <= bound:
                cols, dists = _append(cols, dists, total, j, np.sqrt(key))
                total += 1
        counts[i] = total - first
    return counts, cols[:total], dists[:total]


# --------------------------------------------------------------------------------------
# Direct blocked scans for few dimensions (no BLAS): exact by construction
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _block_sq_distances(points_t, j0, width, query, acc):
    """``acc[:width]`` = squared distances of points ``j0 : j0 + width`` to ``query``.

    ``points_t`` holds the points as columns, shape (d, n). The sum runs coordinate after
    coordinate in float64 from ``0.0``, exactly as :func:`reduced_distance` sums a full
    distance, so the values are identical to the last bit; the loop over points is
    contiguous, which lets LLVM vectorise it.
    """
    for jj in range(width):
        acc[jj] = 0.0
    for t in range(points_t.shape[0]):
        coord = np.float64(query[t])
        row = points_t[t]
        for jj in range(width):
            diff = np.float64(row[j0 + jj]) - coord
            acc[jj] += diff * diff


@njit(cache=True, nogil=True)
def knn_direct(points_t, queries, block, heap_d, heap_i):
    """kNN by direct squared distances, data in blocks of ``block`` points shared by all
    queries (the block stays in cache while every query is measured against it).

    ``points_t`` is the data transposed, shape (d, n); the heaps (rows of (m, k)) hold
    squared distances, as :func:`knn_filter_block` leaves them.
    """
    n = points_t.shape[1]
    acc = np.empty(block, dtype=np.float64)
    for j0 in range(0, n, block):
        width = min(block, n - j0)
        for i in range(queries.shape[0]):
            _block_sq_distances(points_t, j0, width, queries[i], acc)
            hd = heap_d[i]
            hi = heap_i[i]
            for jj in range(width):
                if acc[jj] <= hd[0]:
                    heap_offer(hd, hi, acc[jj], j0 + jj)


@njit(cache=True, nogil=True)
def _within(acc, width, bound, hits):
    """Write the positions ``jj < width`` with ``acc[jj] <= bound`` to ``hits``; return how many.

    A function of its own so that the loop holds no growable buffer (Numba would count
    references to it on every pass, many times the cost of the comparison).
    """
    found = 0
    for jj in range(width):
        if acc[jj] <= bound:
            hits[found] = jj
            found += 1
    return found


@njit(cache=True, nogil=True)
def radius_direct(points_t, queries, radii_reduced, block, dist_dtype_probe):
    """Radius search by direct squared distances in blocks of data points (see
    :func:`knn_direct`), in the segment form of :func:`radius_scan`: one segment per
    query, its neighbours in increasing index order.
    """
    m = queries.shape[0]
    n = points_t.shape[1]
    acc = np.empty(block, dtype=np.float64)
    hits = np.empty(block, dtype=np.int64)
    rows = np.empty(max(64, 4 * m), dtype=np.int64)
    cols = np.empty(rows.shape[0], dtype=np.int64)
    dists = np.empty(rows.shape[0], dtype=dist_dtype_probe.dtype)
    counts = np.zeros(m, dtype=np.int64)
    total = 0
    for j0 in range(0, n, block):
        width = min(block, n - j0)
        for i in range(m):
            _block_sq_distances(points_t, j0, width, queries[i], acc)
            found = _within(acc, width, radii_reduced[i], hits)
            if found == 0:
                continue
            if total + found > rows.shape[0]:
                rows = grow(rows, total + found)
                cols = grow(cols, total + found)
                dists = grow(dists, total + found)
            for h in range(found):
                jj = hits[h]
                rows[total + h] = i
                cols[total + h] = j0 + jj
                dists[total + h] = np.sqrt(acc[jj])
            counts[i] += found
            total += found
    # Found block after block: regroup by query (stable, so indices stay increasing).
    fill = np.empty(m, dtype=np.int64)
    start = 0
    for i in range(m):
        fill[i] = start
        start += counts[i]
    out_cols = np.empty(total, dtype=np.int64)
    out_dists = np.empty(total, dtype=dists.dtype)
    for s in range(total):
        target = fill[rows[s]]
        out_cols[target] = cols[s]
        out_dists[target] = dists[s]
        fill[rows[s]] = target + 1
    return counts, out_cols, out_dists
