"""Numba kernel for exact and (1+eps)-approximate k-nearest-neighbour queries.

Traversal is depth-first, near child first, from an explicit stack. A far child is pruned by
the reduced distance from the query to its *cell* (the region the splits assign to it),
kept incrementally as in Arya & Mount: along the current path ``offsets[c]`` is the distance
from the query to the cell in dimension ``c``; entering a far child changes a single offset,
so its distance costs O(1) instead of O(d). An undo log restores the offsets when the search
jumps back to a far child saved higher up.

Candidates live in a max-heap ordered by (distance, index), so the result is the k smallest
(distance, index) pairs: ties are broken by the smaller original index, exactly like a
stable brute-force scan.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import METRIC_LINF, axis_term, from_reduced, reduced_distance


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


@njit(cache=True, nogil=True)
def knn_batch(tree_data, idx_array, node_start, node_end, split_dim, split_value,
              root_lower, root_upper, n_internal, n_levels, queries, metric, p,
              prune_factor, bound_reduced, sort_results, out_dist, out_idx):
    """k nearest neighbours of every row of ``queries``.

    Parameters
    ----------
    tree_data, idx_array, node_start, node_end, split_dim, split_value : arrays
        The tree (see :mod:`kdforge.tree`).
    root_lower, root_upper : arrays of shape (d,)
        Bounding box of the data: the root's cell.
    n_internal, n_levels : int
        Number of internal nodes and of splitting levels.
    queries : array of shape (m, d)
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
        Receives true distances (inf where fewer than k points qualify).
    out_idx : int array of shape (m, k)
        Receives original indices (-1 where fewer than k points qualify).
    """
    n_dims = queries.shape[1]
    k = out_dist.shape[1]
    heap_dist = np.empty(k, dtype=np.float64)
    heap_idx = np.empty(k, dtype=np.int64)
    offsets = np.empty(n_dims, dtype=np.float64)
    stack_size = n_levels + 2
    stack_node = np.empty(stack_size, dtype=np.int64)
    stack_reduced = np.empty(stack_size, dtype=np.float64)
    stack_dim = np.empty(stack_size, dtype=np.int64)
    stack_offset = np.empty(stack_size, dtype=np.float64)
    stack_log = np.empty(stack_size, dtype=np.int64)
    log_dim = np.empty(stack_size, dtype=np.int64)
    log_value = np.empty(stack_size, dtype=np.float64)

    for qi in range(queries.shape[0]):
        query = queries[qi]
        heap_dist[:] = bound_reduced
        heap_idx[:] = -1
        reduced = 0.0
        for c in range(n_dims):
            q = np.float64(query[c])
            diff = 0.0
            if q < root_lower[c]:
                diff = np.float64(root_lower[c]) - q
            elif q > root_upper[c]:
                diff = q - np.float64(root_upper[c])
            offsets[c] = diff
            term = axis_term(diff, metric, p)
            if metric == METRIC_LINF:
                reduced = max(reduced, term)
            else:
                reduced += term
        node = 0
        top = 0
        n_log = 0
        while True:
            if reduced * prune_factor <= heap_dist[0]:
                while node < n_internal:
                    dim = split_dim[node]
                    diff = np.float64(query[dim]) - np.float64(split_value[node])
                    if diff < 0.0:
                        near = 2 * node + 1
                        diff = -diff
                    else:
                        near = 2 * node + 2
                    far_near_sum = 4 * node + 3  # near + far
                    old = offsets[dim]
                    if metric == METRIC_LINF:
                        far_reduced = max(reduced, diff)
                    else:
                        far_reduced = reduced - axis_term(old, metric, p) + axis_term(diff, metric, p)
                    if far_reduced * prune_factor <= heap_dist[0]:
                        stack_node[top] = far_near_sum - near
                        stack_reduced[top] = far_reduced
                        stack_dim[top] = dim
                        stack_offset[top] = diff
                        stack_log[top] = n_log
                        top += 1
                    node = near
                for row in range(node_start[node], node_end[node]):
                    d = reduced_distance(tree_data, row, query, metric, p)
                    if d <= heap_dist[0]:
                        index = np.int64(idx_array[row])
                        if _heap_less(d, index, heap_dist[0], heap_idx[0]):
                            heap_replace_top(heap_dist, heap_idx, d, index)
            # jump back to the nearest saved far child that can still hold a neighbour
            found = False
            while top > 0:
                top -= 1
                if stack_reduced[top] * prune_factor <= heap_dist[0]:
                    while n_log > stack_log[top]:
                        n_log -= 1
                        offsets[log_dim[n_log]] = log_value[n_log]
                    dim = stack_dim[top]
                    log_dim[n_log] = dim
                    log_value[n_log] = offsets[dim]
                    n_log += 1
                    offsets[dim] = stack_offset[top]
                    node = stack_node[top]
                    reduced = stack_reduced[top]
                    found = True
                    break
            if not found:
                break
        if sort_results:
            heap_sort_ascending(heap_dist, heap_idx)
        for j in range(k):
            if heap_idx[j] < 0:
                out_dist[qi, j] = np.inf
                out_idx[qi, j] = -1
            else:
                out_dist[qi, j] = from_reduced(heap_dist[j], metric, p)
                out_idx[qi, j] = heap_idx[j]
