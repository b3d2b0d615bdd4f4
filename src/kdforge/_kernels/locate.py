"""Locating points in the tree: exact-match search and point-to-node distances.

Behind the node API (:mod:`kdforge.nodes`): :func:`find_point_batch` (ROOT's
``FindPoint``) and :func:`box_distance_pairs` (``DistanceToNode``); point location itself
(``FindNode``) is :func:`kdforge._kernels.traversal.find_leaf_batch`. Node ids, shapes and
values are checked in Python before any kernel sees them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import box_max_reduced, box_min_reduced, from_reduced
from .results import grow


@njit(cache=True, nogil=True)
def find_point_batch(tree, queries, first_only):
    """Original indices of the data points exactly equal to each query.

    A coordinate equal to a node's split value may belong to either child (the build puts
    ties on both sides), so both children are searched then; otherwise only one.

    Parameters
    ----------
    tree : TreeRecord
    queries : array of shape (m, d), the tree's dtype
    first_only : bool
        Keep only the smallest matching index of each query.

    Returns
    -------
    counts : int64 array of shape (m,)
        Number of matches of each query (0 or 1 when ``first_only``).
    indices : int64 array
        With ``first_only``: shape (m,), the smallest matching index or -1. Otherwise the
        matches of all queries one after the other (CSR order), each query's in tree order.
    """
    tree_data = tree.tree_data
    split_dim = tree.split_dim
    split_value = tree.split_value
    children = tree.node_children
    n_internal = tree.node_start.shape[0] // 2
    n_queries, n_dims = queries.shape
    counts = np.zeros(n_queries, dtype=np.int64)
    indices = np.empty(n_queries, dtype=np.int64)
    stack = np.empty(tree.n_levels + 1, dtype=np.int64)
    total = 0
    for qi in range(n_queries):
        query = queries[qi]
        best = np.int64(-1)
        first = total
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            while node < n_internal:
                value = query[split_dim[node]]
                split = split_value[node]
                if value < split:
                    node = children[node, 0]
                elif value > split:
                    node = children[node, 1]
                else:
                    stack[top] = children[node, 1]
                    top += 1
                    node = children[node, 0]
            for row in range(tree.node_start[node], tree.node_end[node]):
                equal = True
                for c in range(n_dims):
                    if tree_data[row, c] != query[c]:
                        equal = False
                        break
                if not equal:
                    continue
                index = np.int64(tree.idx_array[row])
                if first_only:
                    if best < 0 or index < best:
                        best = index
                else:
                    indices = grow(indices, total + 1)
                    indices[total] = index
                    total += 1
        if first_only:
            indices[qi] = best
            counts[qi] = 1 if best >= 0 else 0
        else:
            counts[qi] = total - first
    if first_only:
        return counts, indices
    return counts, indices[:total]


@njit(cache=True, nogil=True)
def box_distance_pairs(lower, upper, queries, query_rows, nodes, metric, p, out_min, out_max):
    """Distances from ``queries[query_rows[i]]`` to the box of ``nodes[i]``, for every ``i``.

    ``lower`` / ``upper`` (n_nodes, d) are the boxes' corners. ``out_min[i]`` receives the
    distance to the nearest point of the closed box (0 inside it), ``out_max[i]`` the
    distance to its farthest point.
    """
    for i in range(nodes.shape[0]):
        node = nodes[i]
        query = queries[query_rows[i]]
        near = box_min_reduced(lower[node], upper[node], query, metric, p)
        far = box_max_reduced(lower[node], upper[node], query, metric, p)
        out_min[i] = from_reduced(near, metric, p)
        out_max[i] = from_reduced(far, metric, p)
