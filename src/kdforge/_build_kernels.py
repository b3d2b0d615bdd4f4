"""Numba kernels that build a KD-tree over precomputed node row ranges.

The row range of every node depends only on ``(n, leaf_size, division)``
(:func:`node_row_ranges`); the kernels then fill, node by node, the split dimension and
value and the bounding box. A node with rows ``[start, end)`` splits at row
``k = node_end[left child]``: :func:`~kdforge._build_select.select_rows` moves the k-th
smallest value of the split dimension to row ``k``, smaller-or-equal values before it and
greater-or-equal values after it. The two halves then touch disjoint rows, so distinct
subtrees may be built at the same time by different threads (every kernel is ``nogil``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._build_select import MAX_SAMPLE, PARTITION_BLOCK, select_rows

SPLIT_MAX_SPREAD = 0
SPLIT_ROUND_ROBIN = 1
DIVISION_MEDIAN = 0
DIVISION_ROOT = 1


@njit(cache=True, nogil=True)
def node_row_ranges(n_points, leaf_size, division, node_start, node_end):
    """Fill the row range ``[node_start[i], node_end[i])`` of every node of the heap.

    ``DIVISION_MEDIAN``: a perfect tree; a node with rows ``[s, e)`` gives its left child
    ``[s, s + (e - s) // 2)``. ``DIVISION_ROOT``: a left-complete tree of
    ``n_leaves = node_start.shape[0] // 2 + 1`` leaves; leaf number ``j`` in point order
    holds rows ``[j * leaf_size, min((j + 1) * leaf_size, n_points))``, so every leaf but
    the last is full and each node's range is that of its leaves.
    """
    n_nodes = node_start.shape[0]
    n_internal = n_nodes // 2
    node_start[0] = 0
    node_end[0] = n_points
    if division == DIVISION_MEDIAN:
        for node in range(n_internal):
            start = node_start[node]
            end = node_end[node]
            mid = start + (end - start) // 2
            node_start[2 * node + 1] = start
            node_end[2 * node + 1] = mid
            node_start[2 * node + 2] = mid
            node_end[2 * node + 2] = end
        return
    # leaves under each node (bottom-up), then the first leaf of each node (top-down)
    n_leaves_below = np.ones(n_nodes, dtype=np.int64)
    for node in range(n_internal - 1, -1, -1):
        n_leaves_below[node] = n_leaves_below[2 * node + 1] + n_leaves_below[2 * node + 2]
    first_leaf = np.zeros(n_nodes, dtype=np.int64)
    for node in range(n_internal):
        first_leaf[2 * node + 1] = first_leaf[node]
        first_leaf[2 * node + 2] = first_leaf[node] + n_leaves_below[2 * node + 1]
    for node in range(1, n_nodes):
        node_start[node] = first_leaf[node] * leaf_size
        node_end[node] = min((first_leaf[node] + n_leaves_below[node]) * leaf_size, n_points)


@njit(cache=True, nogil=True)
def copy_rows(data, points, idx, start, end):
    """Copy rows ``[start, end)`` of ``data`` into ``points`` and set ``idx[r] = r`` there."""
    for r in range(start, end):
        for c in range(data.shape[1]):
            points[r, c] = data[r, c]
        idx[r] = r


@njit(cache=True, nogil=True)
def rows_bounds(points, start, end, lower, upper):
    """Write the per-dimension min and max of rows ``[start, end)`` into ``lower``/``upper``.

    Columns are scanned three at a time with the six running extremes in registers (about
    twice as fast as one column at a time), the remaining one or two columns one by one.
    """
    n_dims = points.shape[1]
    c = 0
    while c + 3 <= n_dims:
        lo0 = hi0 = points[start, c]
        lo1 = hi1 = points[start, c + 1]
        lo2 = hi2 = points[start, c + 2]
        for r in range(start + 1, end):
            v0 = points[r, c]
            v1 = points[r, c + 1]
            v2 = points[r, c + 2]
            lo0 = min(lo0, v0)
            hi0 = max(hi0, v0)
            lo1 = min(lo1, v1)
            hi1 = max(hi1, v1)
            lo2 = min(lo2, v2)
            hi2 = max(hi2, v2)
        lower[c] = lo0
        upper[c] = hi0
        lower[c + 1] = lo1
        upper[c + 1] = hi1
        lower[c + 2] = lo2
        upper[c + 2] = hi2
        c += 3
    while c < n_dims:
        lo0 = hi0 = points[start, c]
        for r in range(start + 1, end):
            v0 = points[r, c]
            lo0 = min(lo0, v0)
            hi0 = max(hi0, v0)
        lower[c] = lo0
        upper[c] = hi0
        c += 1


@njit(cache=True, nogil=True)
def widest_dimension(lower, upper):
    """First dimension of largest ``upper - lower``."""
    best = 0
    best_spread = upper[0] - lower[0]
    for c in range(1, lower.shape[0]):
        spread = upper[c] - lower[c]
        if spread > best_spread:
            best = c
            best_spread = spread
    return best


@njit(cache=True, nogil=True)
def round_robin_dimension(node, n_dims):
    """Split dimension of ``node`` under the round-robin rule: its depth modulo ``n_dims``."""
    depth = 0
    v = node + 1
    while v > 1:
        v >>= 1
        depth += 1
    return depth % n_dims


@njit(cache=True, nogil=True)
def split_node(points, idx, node_start, node_end, split_dim, split_value, node_bounds, node,
               split_rule, sample, offsets_left, offsets_right):
    """Choose the split of internal ``node`` and select its rows around it.

    With ``SPLIT_MAX_SPREAD`` the node's bounding box is computed first (it gives the
    spreads). ``sample``, ``offsets_left`` and ``offsets_right`` are scratch buffers of
    sizes ``MAX_SAMPLE`` and ``PARTITION_BLOCK``.
    """
    start = node_start[node]
    end = node_end[node]
    if split_rule == SPLIT_MAX_SPREAD:
        rows_bounds(points, start, end, node_bounds[0, node], node_bounds[1, node])
        dim = widest_dimension(node_bounds[0, node], node_bounds[1, node])
    else:
        dim = round_robin_dimension(node, points.shape[1])
    k = node_end[2 * node + 1]
    select_rows(points, idx, start, end, k, dim, 0.0, False, 0, sample, offsets_left,
                offsets_right)
    split_dim[node] = dim
    split_value[node] = points[k, dim]


@njit(cache=True, nogil=True)
def split_one_node(points, idx, node_start, node_end, split_dim, split_value, node_bounds,
                   node, split_rule):
    """:func:`split_node` with its own scratch buffers: a task for a thread."""
    sample = np.empty(MAX_SAMPLE, dtype=points.dtype)
    offsets_left = np.empty(PARTITION_BLOCK, dtype=np.int32)
    offsets_right = np.empty(PARTITION_BLOCK, dtype=np.int32)
    split_node(points, idx, node_start, node_end, split_dim, split_value, node_bounds, node,
               split_rule, sample, offsets_left, offsets_right)


@njit(cache=True, nogil=True)
def build_subtree(points, idx, node_start, node_end, split_dim, split_value, node_bounds,
                  root, n_internal, split_rule):
    """Build the subtree rooted at ``root`` (depth-first, from an explicit stack).

    Fills the split of every internal node, and the bounding box of every leaf and, with
    ``SPLIT_MAX_SPREAD``, of every internal node (:func:`merge_child_bounds` fills the
    internal boxes for ``SPLIT_ROUND_ROBIN``). A subtree touches only its own rows.
    """
    sample = np.empty(MAX_SAMPLE, dtype=points.dtype)
    offsets_left = np.empty(PARTITION_BLOCK, dtype=np.int32)
    offsets_right = np.empty(PARTITION_BLOCK, dtype=np.int32)
    stack = np.empty(64, dtype=np.int64)
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        if node >= n_internal:
            split_dim[node] = -1
            split_value[node] = 0
            rows_bounds(points, node_start[node], node_end[node], node_bounds[0, node],
                        node_bounds[1, node])
            continue
        split_node(points, idx, node_start, node_end, split_dim, split_value, node_bounds,
                   node, split_rule, sample, offsets_left, offsets_right)
        stack[top] = 2 * node + 2
        stack[top + 1] = 2 * node + 1
        top += 2


@njit(cache=True, nogil=True)
def merge_child_bounds(node_bounds, n_internal):
    """Fill each internal node's box as the union of its children's, bottom-up."""
    n_dims = node_bounds.shape[2]
    for node in range(n_internal - 1, -1, -1):
        left = 2 * node + 1
        for c in range(n_dims):
            node_bounds[0, node, c] = min(node_bounds[0, left, c], node_bounds[0, left + 1, c])
            node_bounds[1, node, c] = max(node_bounds[1, left, c], node_bounds[1, left + 1, c])
