"""Numba kernel for fixed-radius (ball) queries, producing CSR output.

Depth-first traversal over the tight node boxes: a node whose box lies farther than ``r`` is
skipped, a node whose box lies entirely within ``r`` contributes all its points without a
single distance computation (unless distances were asked for), other nodes are opened.
Results for a chunk of queries are appended to growing flat buffers, so the output costs a
few arrays however many pairs there are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import box_max_reduced, box_min_reduced, from_reduced, reduced_distance

MODE_COUNT = 0
MODE_INDICES = 1
MODE_DISTANCES = 2


@njit(cache=True, nogil=True)
def _grow(buffer, needed):
    size = buffer.shape[0]
    if needed <= size:
        return buffer
    new_size = max(needed, 2 * size)
    grown = np.empty(new_size, dtype=buffer.dtype)
    grown[:size] = buffer
    return grown


@njit(cache=True, nogil=True)
def _sort_segment(indices, distances, start, stop):
    """Sort one query's neighbours by (distance, index)."""
    if stop - start < 2:
        return
    seg_idx = indices[start:stop].copy()
    seg_dist = distances[start:stop].copy()
    order = np.argsort(seg_idx, kind="mergesort")
    seg_idx = seg_idx[order]
    seg_dist = seg_dist[order]
    order = np.argsort(seg_dist, kind="mergesort")
    indices[start:stop] = seg_idx[order]
    distances[start:stop] = seg_dist[order]


@njit(cache=True, nogil=True)
def radius_batch(tree_data, idx_array, node_start, node_end, node_bounds, n_internal,
                 n_levels, queries, radii_reduced, metric, p, mode, sort_results, dist_dtype_probe):
    """Neighbours within a radius of each query.

    Parameters
    ----------
    tree_data, idx_array, node_start, node_end, node_bounds : arrays
        The tree (see :mod:`kdforge.tree`).
    n_internal, n_levels : int
        Number of internal nodes and of splitting levels.
    queries : array of shape (m, d)
    radii_reduced : float64 array of shape (m,)
        Reduced radius per query: points with reduced distance <= it are returned.
    metric, p : int, float
        Metric code and Minkowski order.
    mode : int
        ``MODE_COUNT`` (counts only), ``MODE_INDICES`` or ``MODE_DISTANCES``.
    sort_results : bool
        Sort each query's neighbours by (distance, index); needs ``MODE_DISTANCES``.
    dist_dtype_probe : array
        A zero-length array of the dtype distances are returned in.

    Returns
    -------
    counts : int64 array of shape (m,)
    indices : int64 array (first ``counts.sum()`` entries valid; empty in count mode)
    distances : array (first ``counts.sum()`` entries valid in distance mode)
    """
    n_queries = queries.shape[0]
    counts = np.zeros(n_queries, dtype=np.int64)
    capacity = 16 * n_queries if mode != MODE_COUNT else 0
    indices = np.empty(capacity, dtype=np.int64)
    distances = np.empty(capacity if mode == MODE_DISTANCES else 0, dtype=dist_dtype_probe.dtype)
    stack = np.empty(n_levels + 2, dtype=np.int64)
    total = 0
    for qi in range(n_queries):
        query = queries[qi]
        radius = radii_reduced[qi]
        first = total
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            lower = node_bounds[0, node]
            upper = node_bounds[1, node]
            if box_min_reduced(lower, upper, query, metric, p) > radius:
                continue
            start = node_start[node]
            end = node_end[node]
            if mode != MODE_DISTANCES and box_max_reduced(lower, upper, query, metric, p) <= radius:
                if mode == MODE_INDICES:
                    indices = _grow(indices, total + end - start)
                    for row in range(start, end):
                        indices[total] = idx_array[row]
                        total += 1
                else:
                    total += end - start
                continue
            if node < n_internal:
                stack[top] = 2 * node + 2
                stack[top + 1] = 2 * node + 1
                top += 2
                continue
            for row in range(start, end):
                d = reduced_distance(tree_data, row, query, metric, p)
                if d <= radius:
                    if mode == MODE_INDICES:
                        indices = _grow(indices, total + 1)
                        indices[total] = idx_array[row]
                    elif mode == MODE_DISTANCES:
                        indices = _grow(indices, total + 1)
                        distances = _grow(distances, total + 1)
                        indices[total] = idx_array[row]
                        distances[total] = from_reduced(d, metric, p)
                    total += 1
        counts[qi] = total - first
        if sort_results and mode == MODE_DISTANCES:
            _sort_segment(indices, distances, first, total)
    n_distances = total if mode == MODE_DISTANCES else 0
    return counts, indices[:total], distances[:n_distances]
