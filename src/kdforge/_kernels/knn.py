"""Exact and (1+eps)-approximate k-nearest-neighbour search: :func:`knn_batch`.

Depth-first, near child first, pruning far children by the incrementally kept distance to
their cell (:mod:`kdforge._kernels.traversal`). Candidates live in the k-best max-heap of
:mod:`kdforge._kernels.heaps`, so the result is the k smallest (distance, index) pairs:
ties are broken by the smaller original index, exactly like a stable brute-force scan.

Ties and duplicates: a cell whose distance equals the k-th best cannot be pruned by
distance alone (a tied point with a smaller index may be in it), so on many exact
duplicates every copy would be scanned. A node entered at a near tie is therefore also
tested exactly: if the distance to its tight box is at least the k-th best and all its
indices are larger (``node_min_index``), none of its points can enter the result.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import box_min_reduced, reduced_distance
from .heaps import heap_offer
from .results import write_result_row
from .traversal import bound_slack, descend, jump_back, new_traversal, root_distance


@njit(cache=True, nogil=True, inline="always")
def _only_worse_points(tree, node, query, heap_dist, heap_idx, metric, p):
    """Whether no point of ``node`` can beat the heap's worst pair: all at least as far
    (exact distance to the tight box) and all with larger indices."""
    if tree.node_min_index[node] <= heap_idx[0]:
        return False
    lower = tree.node_bounds[0, node]
    upper = tree.node_bounds[1, node]
    return box_min_reduced(lower, upper, query, metric, p) >= heap_dist[0]


@njit(cache=True, nogil=True)
def knn_batch(tree, queries, order, metric, p, prune_factor, bound_reduced, sort_results,
              out_dist, out_idx):
    """k nearest neighbours of the rows ``order`` of ``queries``.

    Parameters
    ----------
    tree : TreeRecord
        The tree (:mod:`kdforge.record`).
    queries : array of shape (m, d), the tree's dtype
    order : int64 array
        Rows of ``queries`` to answer, in the order to answer them (for cache locality).
    metric, p : int, float
        Metric code and Minkowski order (:mod:`kdforge._kernels.distance`).
    prune_factor : float
        ``(1 + eps) ** p`` (``1 + eps`` for p = inf): a cell is skipped when its reduced
        distance times this factor exceeds the current k-th best.
    bound_reduced : float
        Reduced ``distance_upper_bound``: only points strictly closer are returned.
    sort_results : bool
        Sort each row by increasing (distance, index).
    out_dist : float array of shape (m, k)
        Receives true distances (inf where fewer than k points qualify) in rows ``order``.
    out_idx : int64 array of shape (m, k)
        Receives original indices (-1 where fewer than k points qualify).
    """
    tree_data = tree.tree_data
    idx_array = tree.idx_array
    node_start = tree.node_start
    node_end = tree.node_end
    root_lower = tree.node_bounds[0, 0]
    root_upper = tree.node_bounds[1, 0]
    n_internal = node_start.shape[0] // 2
    slack = bound_slack(tree.n_levels, queries.shape[1])
    factor = prune_factor * slack
    near_tie = slack * slack  # a cell this close to the k-th best may hold only ties
    k = out_dist.shape[1]
    heap_dist = np.empty(k, dtype=np.float64)
    heap_idx = np.empty(k, dtype=np.int64)
    (offsets, stack_node, stack_dim, stack_log, log_dim, stack_reduced, stack_offset,
     log_value) = new_traversal(queries.shape[1], tree.n_levels)
    for qi in order:
        query = queries[qi]
        heap_dist[:] = bound_reduced
        heap_idx[:] = -1
        reduced = root_distance(query, root_lower, root_upper, offsets, metric, p)
        node = 0
        top = 0
        n_log = 0
        while node >= 0:
            entered = reduced * factor <= heap_dist[0]
            if entered and reduced * factor >= heap_dist[0] * near_tie:
                entered = not _only_worse_points(tree, node, query, heap_dist, heap_idx, metric, p)
            if entered:
                leaf, top = descend(node, reduced, query, tree.split_dim, tree.split_value,
                                    tree.node_children, 0, n_internal, offsets, stack_node, stack_dim, stack_log,
                                    stack_reduced, stack_offset, top, n_log, metric, p, factor,
                                    heap_dist[0])
                for row in range(node_start[leaf], node_end[leaf]):
                    d = reduced_distance(tree_data, row, query, metric, p, heap_dist[0])
                    if d <= heap_dist[0]:
                        heap_offer(heap_dist, heap_idx, d, np.int64(idx_array[row]))
            node, reduced, top, n_log = jump_back(offsets, stack_node, stack_dim, stack_log,
                                                  stack_reduced, stack_offset, top, log_dim,
                                                  log_value, n_log, factor, heap_dist[0])
        write_result_row(heap_dist, heap_idx, sort_results, metric, p, out_dist[qi], out_idx[qi])
