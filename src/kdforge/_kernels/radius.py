"""Fixed-radius (ball) search: :func:`radius_batch`.

Depth-first traversal with incremental cell distances (:mod:`kdforge._kernels.traversal`):
a cell farther than ``r`` is skipped, every point of a leaf that is reached is measured.
(Taking whole subtrees that lie inside the ball without measuring their points was tried:
the test made small-radius queries, the common case, 1.5x slower in Numba, so counts and
indices cost O(neighbours), like the distances.) A chunk's neighbours are appended to
growing flat buffers, one segment per query (:mod:`kdforge._kernels.results`), so the
output costs a few arrays however many pairs there are.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import from_reduced, reduced_distance
from .results import grow
from .traversal import bound_slack, descend, jump_back, new_traversal, root_distance

MODE_COUNT = 0
MODE_INDICES = 1
MODE_DISTANCES = 2


@njit(cache=True, nogil=True)
def radius_batch(tree, queries, order, radii_reduced, metric, p, mode, dist_dtype_probe):
    """Neighbours within a radius of the rows ``order`` of ``queries``.

    Parameters
    ----------
    tree : TreeRecord
        The tree (:mod:`kdforge.record`).
    queries : array of shape (m, d), the tree's dtype
    order : int64 array
        Rows of ``queries`` to answer, in the order to answer them (for cache locality).
    radii_reduced : float64 array of shape (m,)
        Reduced radius per query: points with reduced distance <= it are returned.
    metric, p : int, float
        Metric code and Minkowski order.
    mode : int
        ``MODE_COUNT`` (counts only), ``MODE_INDICES`` or ``MODE_DISTANCES``.
    dist_dtype_probe : array
        A zero-length array of the dtype distances are returned in.

    Returns
    -------
    counts : int64 array of shape (len(order),)
        Neighbour counts, in the order the queries were answered.
    indices : int64 array of shape (counts.sum(),)
        Concatenated neighbours in that order, each query's in tree order (empty in count
        mode).
    distances : array of shape (counts.sum(),)
        Their distances (empty unless ``MODE_DISTANCES``).
    """
    tree_data = tree.tree_data
    idx_array = tree.idx_array
    node_start = tree.node_start
    node_end = tree.node_end
    root_lower = tree.node_bounds[0, 0]
    root_upper = tree.node_bounds[1, 0]
    n_internal = node_start.shape[0] // 2
    factor = bound_slack(tree.n_levels, queries.shape[1])
    counts = np.zeros(order.shape[0], dtype=np.int64)
    capacity = 16 * order.shape[0] if mode != MODE_COUNT else 0
    indices = np.empty(capacity, dtype=np.int64)
    distances = np.empty(capacity if mode == MODE_DISTANCES else 0, dtype=dist_dtype_probe.dtype)
    (offsets, stack_node, stack_dim, stack_log, log_dim, stack_reduced, stack_offset,
     log_value) = new_traversal(queries.shape[1], tree.n_levels)
    total = 0
    for position in range(order.shape[0]):
        query = queries[order[position]]
        radius = radii_reduced[order[position]]
        first = total
        reduced = root_distance(query, root_lower, root_upper, offsets, metric, p)
        node = 0 if reduced * factor <= radius else -1
        top = 0
        n_log = 0
        while node >= 0:
            leaf, top = descend(node, reduced, query, tree.split_dim, tree.split_value,
                                tree.node_children, 0, n_internal, offsets, stack_node, stack_dim, stack_log,
                                stack_reduced, stack_offset, top, n_log, metric, p, factor,
                                radius)
            start = node_start[leaf]
            end = node_end[leaf]
            if mode != MODE_COUNT:
                indices = grow(indices, total + end - start)
                if mode == MODE_DISTANCES:
                    distances = grow(distances, total + end - start)
            for row in range(start, end):
                d = reduced_distance(tree_data, row, query, metric, p, radius)
                if d <= radius:
                    if mode != MODE_COUNT:
                        indices[total] = idx_array[row]
                        if mode == MODE_DISTANCES:
                            distances[total] = from_reduced(d, metric, p)
                    total += 1
            node, reduced, top, n_log = jump_back(offsets, stack_node, stack_dim, stack_log,
                                                  stack_reduced, stack_offset, top, log_dim,
                                                  log_value, n_log, factor, radius)
        counts[position] = total - first
    n_distances = total if mode == MODE_DISTANCES else 0
    # exact-size copies: a grown buffer may be up to twice the chunk's answer
    return counts, indices[:total].copy(), distances[:n_distances].copy()
