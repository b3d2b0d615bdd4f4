"""Numba kernel for exact and (1+eps)-approximate k-nearest-neighbour queries.

Traversal is depth-first, near child first, pruning far children by the incrementally kept
distance to their cell (see :mod:`kdforge._traverse`).

Candidates live in a max-heap ordered by (distance, index), so the result is the k smallest
(distance, index) pairs: ties are broken by the smaller original index, exactly like a
stable brute-force scan.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import from_reduced, reduced_distance
from ._traverse import descend, jump_back, new_traversal, root_distance


@njit(cache=True, nogil=True, inline="always")
def _heap_less(d1, i1, d2, i2):
    return d1 < d2 or (d1 == d2 and i1 < i2)


@njit(cache=True, nogil=True)
def heap_replace_top(heap_dist, heap_idx, dist, index):
    """Replace the largest (distance, index) pair of a max-heap and restore the heap."""
    k = heap_dist.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and _heap_less(heap_dist[child], heap_idx[child], heap_dist[right], heap_idx[right]):
            child = right
        if _heap_less(dist, index, heap_dist[child], heap_idx[child]):
            heap_dist[pos] = heap_dist[child]
            heap_idx[pos] = heap_idx[child]
            pos = child
        else:
            break
    heap_dist[pos] = dist
    heap_idx[pos] = index


@njit(cache=True, nogil=True, inline="always")
def heap_offer(heap_dist, heap_idx, dist, index):
    """Offer a (distance, index) pair to a max-heap that keeps the k smallest pairs."""
    if _heap_less(dist, index, heap_dist[0], heap_idx[0]):
        heap_replace_top(heap_dist, heap_idx, dist, index)


@njit(cache=True, nogil=True)
def heap_sort_ascending(heap_dist, heap_idx):
    """Turn a max-heap into ascending (distance, index) order in place."""
    for end in range(heap_dist.shape[0] - 1, 0, -1):
        top_d = heap_dist[0]
        top_i = heap_idx[0]
        last_d = heap_dist[end]
        last_i = heap_idx[end]
        heap_dist[end] = top_d
        heap_idx[end] = top_i
        heap_replace_top(heap_dist[:end], heap_idx[:end], last_d, last_i)


@njit(cache=True, nogil=True, inline="always")
def write_result_row(heap_dist, heap_idx, sort_results, metric, p, dist_row, idx_row):
    """Write a query's heap as a result row: true distances, -1/inf where the heap is short."""
    if sort_results:
        heap_sort_ascending(heap_dist, heap_idx)
    for j in range(heap_dist.shape[0]):
        if heap_idx[j] < 0:
            dist_row[j] = np.inf
            idx_row[j] = -1
        else:
            dist_row[j] = from_reduced(heap_dist[j], metric, p)
            idx_row[j] = heap_idx[j]


@njit(cache=True, nogil=True)
def knn_batch(tree_data, idx_array, node_start, node_end, split_dim, split_value,
              root_lower, root_upper, n_internal, n_levels, queries, order, metric, p,
              prune_factor, bound_reduced, sort_results, out_dist, out_idx):
    """k nearest neighbours of the rows ``order`` of ``queries``.

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
    metric, p : int, float
        Metric code and Minkowski order (see :mod:`kdforge._distance`).
    prune_factor : float
        ``(1 + eps) ** p`` (``1 + eps`` for p = inf): a cell is skipped when its reduced
        distance times this factor exceeds the current k-th best.
    bound_reduced : float
        Reduced ``distance_upper_bound``: only points strictly closer are returned.
    sort_results : bool
        Sort each row by increasing (distance, index).
    out_dist : float array of shape (m, k)
        Receives true distances (inf where fewer than k points qualify) in rows ``order``.
    out_idx : int array of shape (m, k)
        Receives original indices (-1 where fewer than k points qualify).
    """
    k = out_dist.shape[1]
    heap_dist = np.empty(k, dtype=np.float64)
    heap_idx = np.empty(k, dtype=np.int64)
    (offsets, stack_node, stack_dim, stack_log, log_dim, stack_reduced, stack_offset,
     log_value) = new_traversal(queries.shape[1], n_levels)
    for qi in order:
        query = queries[qi]
        heap_dist[:] = bound_reduced
        heap_idx[:] = -1
        reduced = root_distance(query, root_lower, root_upper, offsets, metric, p)
        node = 0
        top = 0
        n_log = 0
        while node >= 0:
            if reduced * prune_factor <= heap_dist[0]:
                leaf, top = descend(node, reduced, query, split_dim, split_value, n_internal,
                                    offsets, stack_node, stack_dim, stack_log, stack_reduced,
                                    stack_offset, top, n_log, metric, p, prune_factor,
                                    heap_dist[0])
                for row in range(node_start[leaf], node_end[leaf]):
                    d = reduced_distance(tree_data, row, query, metric, p)
                    if d <= heap_dist[0]:
                        heap_offer(heap_dist, heap_idx, d, np.int64(idx_array[row]))
            node, reduced, top, n_log = jump_back(offsets, stack_node, stack_dim, stack_log,
                                                  stack_reduced, stack_offset, top, log_dim,
                                                  log_value, n_log, prune_factor, heap_dist[0])
        write_result_row(heap_dist, heap_idx, sort_results, metric, p, out_dist[qi], out_idx[qi])
