"""Numba kernels behind :class:`kdforge.nodes.NodeMixin`.

Point location (:func:`kdforge._traverse.find_leaf_batch`), exact-match search (:func:`find_point_batch`),
point-to-box distances (:func:`box_distance_pairs`) and axis-aligned box queries
(:func:`box_query_batch`). Every kernel is serial and ``nogil``: a batch is split over
threads by :func:`kdforge._parallel.run_chunked`. Kernels trust their inputs; node ids,
shapes and values are checked in :mod:`kdforge.nodes` before any kernel sees them.

The descent rule is the one of the kNN kernel: at an internal node a coordinate strictly
below the split value goes to the left child, any other to the right child.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import box_max_reduced, box_min_reduced, from_reduced
from ._radius import _grow
from ._traverse import find_leaf_batch


@njit(cache=True, nogil=True)
def find_point_batch(tree_data, idx_array, node_start, node_end, split_dim, split_value,
                     n_internal, max_depth, queries, first_only):
    """Original indices of the data points exactly equal to each query.

    A coordinate equal to a node's split value may belong to either child (the build puts
    ties on both sides), so both children are searched then; otherwise only one.

    Parameters
    ----------
    tree_data, idx_array, node_start, node_end, split_dim, split_value : arrays
        The tree (see :mod:`kdforge.tree`).
    n_internal, max_depth : int
        Number of internal nodes and depth of the deepest leaf.
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
    n_queries, n_dims = queries.shape
    counts = np.zeros(n_queries, dtype=np.int64)
    indices = np.empty(n_queries, dtype=np.int64)
    stack = np.empty(max_depth + 1, dtype=np.int64)
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
                    node = 2 * node + 1
                elif value > split:
                    node = 2 * node + 2
                else:
                    stack[top] = 2 * node + 2
                    top += 1
                    node = 2 * node + 1
            for row in range(node_start[node], node_end[node]):
                equal = True
                for c in range(n_dims):
                    if tree_data[row, c] != query[c]:
                        equal = False
                        break
                if not equal:
                    continue
                index = np.int64(idx_array[row])
                if first_only:
                    if best < 0 or index < best:
                        best = index
                else:
                    indices = _grow(indices, total + 1)
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


@njit(cache=True, nogil=True)
def box_query_batch(tree_data, idx_array, node_start, node_end, node_bounds, n_internal,
                    max_depth, lo, hi):
    """Original indices of the points inside each closed box ``[lo[i], hi[i]]``.

    Depth-first over the tight node boxes: a node whose box misses the query box is
    skipped, a node whose box lies inside it contributes all its points without a test,
    other nodes are opened (leaves: each point is tested).

    Parameters
    ----------
    tree_data, idx_array, node_start, node_end, node_bounds : arrays
        The tree (see :mod:`kdforge.tree`).
    n_internal, max_depth : int
        Number of internal nodes and depth of the deepest leaf.
    lo, hi : float64 arrays of shape (m, d)
        Corners of the query boxes, ``lo <= hi``.

    Returns
    -------
    counts : int64 array of shape (m,)
    indices : int64 array of shape (counts.sum(),)
        The indices of all boxes one after the other (CSR order), each box's in tree order.
    """
    n_boxes, n_dims = lo.shape
    counts = np.zeros(n_boxes, dtype=np.int64)
    indices = np.empty(16 * n_boxes, dtype=np.int64)
    stack = np.empty(max_depth + 2, dtype=np.int64)
    total = 0
    for bi in range(n_boxes):
        box_lo = lo[bi]
        box_hi = hi[bi]
        first = total
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            disjoint = False
            inside = True
            for c in range(n_dims):
                node_lo = node_bounds[0, node, c]
                node_hi = node_bounds[1, node, c]
                if node_lo > box_hi[c] or node_hi < box_lo[c]:
                    disjoint = True
                    break
                if node_lo < box_lo[c] or node_hi > box_hi[c]:
                    inside = False
            if disjoint:
                continue
            start = node_start[node]
            end = node_end[node]
            if inside:
                indices = _grow(indices, total + end - start)
                for row in range(start, end):
                    indices[total] = idx_array[row]
                    total += 1
                continue
            if node < n_internal:
                stack[top] = 2 * node + 2
                stack[top + 1] = 2 * node + 1
                top += 2
                continue
            for row in range(start, end):
                hit = True
                for c in range(n_dims):
                    x = tree_data[row, c]
                    if x < box_lo[c] or x > box_hi[c]:
                        hit = False
                        break
                if hit:
                    indices = _grow(indices, total + 1)
                    indices[total] = idx_array[row]
                    total += 1
        counts[bi] = total - first
    return counts, indices[:total]
