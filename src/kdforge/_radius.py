"""Numba kernel for fixed-radius (ball) queries, producing CSR output.

Depth-first traversal with incremental cell distances (see :mod:`kdforge._traverse`): a cell
farther than ``r`` is skipped, every point of a leaf that is reached is measured. (Taking
whole subtrees that lie inside the ball without measuring their points was tried: the test
made small-radius queries, the common case, 1.5x slower in Numba, so counts and indices
cost O(neighbours), like the distances.)
Results for a chunk of queries are appended to growing flat buffers, so the output costs a
few arrays however many pairs there are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import from_reduced, reduced_distance
from ._traverse import descend, jump_back, new_traversal, root_distance

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
    for i in range(size):  # a plain loop compiles much faster than a slice copy
        grown[i] = buffer[i]
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
def radius_batch(tree_data, idx_array, node_start, node_end, split_dim, split_value,
                 root_lower, root_upper, n_internal, n_levels, queries, order, radii_reduced,
                 metric, p, bound_slack, mode, sort_results, dist_dtype_probe):
    """Neighbours within a radius of the rows ``order`` of ``queries``.

    Parameters
    ----------
    tree_data, idx_array, node_start, node_end, split_dim, split_value : arrays
        The tree (see :mod:`kdforge.tree`).
    root_lower, root_upper : arrays of shape (d,)
        Bounding box of the data: the root's cell.
    n_internal, n_levels : int
        Number of internal nodes and maximum leaf depth.
    queries : array of shape (m, d)
    order : int64 array
        Rows of ``queries`` to answer, in the order to answer them (for cache locality).
    radii_reduced : float64 array of shape (m,)
        Reduced radius per query: points with reduced distance <= it are returned.
    metric, p : int, float
        Metric code and Minkowski order.
    bound_slack : float
        Factor just below 1 applied to cell distances before they prune (absorbs the
        rounding of their incremental updates; see ``KDTree._bound_slack``).
    mode : int
        ``MODE_COUNT`` (counts only), ``MODE_INDICES`` or ``MODE_DISTANCES``.
    sort_results : bool
        Sort each query's neighbours by (distance, index); needs ``MODE_DISTANCES``.
    dist_dtype_probe : array
        A zero-length array of the dtype distances are returned in.

    Returns
    -------
    counts : int64 array of shape (len(order),)
        Neighbour counts, in the order the queries were answered.
    indices : int64 array of shape (counts.sum(),)
        Concatenated neighbours in that order (empty in count mode).
    distances : array of shape (counts.sum(),)
        Their distances (empty unless ``MODE_DISTANCES``).
    """
    counts = np.zeros(order.shape[0], dtype=np.int64)
    capacity = 16 * order.shape[0] if mode != MODE_COUNT else 0
    indices = np.empty(capacity, dtype=np.int64)
    distances = np.empty(capacity if mode == MODE_DISTANCES else 0, dtype=dist_dtype_probe.dtype)
    (offsets, stack_node, stack_dim, stack_log, log_dim, stack_reduced, stack_offset,
     log_value) = new_traversal(queries.shape[1], n_levels)
    total = 0
    for position in range(order.shape[0]):
        query = queries[order[position]]
        radius = radii_reduced[order[position]]
        first = total
        reduced = root_distance(query, root_lower, root_upper, offsets, metric, p)
        node = 0 if reduced * bound_slack <= radius else -1
        top = 0
        n_log = 0
        while node >= 0:
            leaf, top = descend(node, reduced, query, split_dim, split_value, n_internal,
                                offsets, stack_node, stack_dim, stack_log, stack_reduced,
                                stack_offset, top, n_log, metric, p, bound_slack, radius)
            start = node_start[leaf]
            end = node_end[leaf]
            if mode != MODE_COUNT:
                indices = _grow(indices, total + end - start)
                if mode == MODE_DISTANCES:
                    distances = _grow(distances, total + end - start)
            for row in range(start, end):
                d = reduced_distance(tree_data, row, query, metric, p)
                if d <= radius:
                    if mode != MODE_COUNT:
                        indices[total] = idx_array[row]
                        if mode == MODE_DISTANCES:
                            distances[total] = from_reduced(d, metric, p)
                    total += 1
            node, reduced, top, n_log = jump_back(offsets, stack_node, stack_dim, stack_log,
                                                  stack_reduced, stack_offset, top, log_dim,
                                                  log_value, n_log, bound_slack, radius)
        counts[position] = total - first
        if sort_results and mode == MODE_DISTANCES:
            _sort_segment(indices, distances, first, total)
    n_distances = total if mode == MODE_DISTANCES else 0
    return counts, indices[:total], distances[:n_distances]


@njit(cache=True, nogil=True)
def reorder_rows(counts, values, order, n_rows):
    """Put CSR rows computed in ``order`` back into query order.

    Parameters
    ----------
    counts : int64 array of shape (len(order),)
        Row lengths in processing order.
    values : array
        Concatenated rows in processing order.
    order : int64 array
        ``order[i]`` is the query answered i-th.
    n_rows : int
        Number of queries.

    Returns
    -------
    indptr : int64 array of shape (n_rows + 1,)
    reordered : array like ``values``, rows in query order
    """
    row_counts = np.zeros(n_rows, dtype=np.int64)
    for i in range(order.shape[0]):
        row_counts[order[i]] = counts[i]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for r in range(n_rows):
        indptr[r + 1] = indptr[r] + row_counts[r]
    reordered = np.empty_like(values)
    if values.shape[0] == 0:
        return indptr, reordered
    source = 0
    for i in range(order.shape[0]):
        target = indptr[order[i]]
        for j in range(counts[i]):
            reordered[target + j] = values[source + j]
        source += counts[i]
    return indptr, reordered
