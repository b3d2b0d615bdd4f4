"""Numba kernels that build a KD-tree over precomputed node row ranges.

The row range of every node depends only on ``(n, leaf_size, division)``
(:func:`node_row_ranges`); the kernels then fill, node by node, the split dimension and
value and the bounding box of a :class:`~kdforge.record.TreeRecord` whose arrays are being
built (``tree_data`` holds the points, ``idx_array`` their indices, both permuted
together). A node with rows ``[start, end)`` splits at row
``k = node_end[left child]``: :func:`~kdforge._kernels.select.select_rows` moves the k-th
smallest value of the split dimension to row ``k``, smaller-or-equal values before it and
greater-or-equal values after it. The two halves then touch disjoint rows, so distinct
subtrees may be built at the same time by different threads (every kernel is ``nogil``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..record import DIVISION_MEDIAN, SPLIT_MAX_SPREAD
from .select import (
    RANK_SORT_MAX,
    SMALL_ROWS,
    key,
    new_scratch,
    permute_rows,
    rank_sort_pairs,
    select_pairs,
    select_rows,
)

#: Placeholder permutation for :func:`_bounds` on rows in place.
_NO_ORDER = np.zeros(1, dtype=np.int32)


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


@njit(cache=True, nogil=True, inline="always")
def _row_of(base, order, i):
    return np.uint64(base + order[np.uint64(i)])


@njit(cache=True, nogil=True, inline="always")
def _bounds(points, base, order, start, end, bounds, slot, gather):
    """Min and max of each column over rows ``start .. end - 1`` (through ``order`` when
    ``gather``) into ``bounds[0, slot]`` and ``bounds[1, slot]``.

    Columns are scanned three at a time with the six running extremes in registers (about
    twice as fast as one column at a time), the remaining one or two columns one by one.
    """
    n_dims = points.shape[1]
    c = 0
    while c < n_dims:
        first = _row_of(base, order, start) if gather else np.uint64(start)
        if c + 3 <= n_dims:
            lo0 = hi0 = points[first, c]
            lo1 = hi1 = points[first, c + 1]
            lo2 = hi2 = points[first, c + 2]
            for i in range(start + 1, end):
                r = _row_of(base, order, i) if gather else np.uint64(i)
                v0 = points[r, c]
                v1 = points[r, c + 1]
                v2 = points[r, c + 2]
                lo0 = min(lo0, v0)
                hi0 = max(hi0, v0)
                lo1 = min(lo1, v1)
                hi1 = max(hi1, v1)
                lo2 = min(lo2, v2)
                hi2 = max(hi2, v2)
            bounds[0, slot, c + 1] = lo1
            bounds[1, slot, c + 1] = hi1
            bounds[0, slot, c + 2] = lo2
            bounds[1, slot, c + 2] = hi2
            width = 3
        else:
            lo0 = hi0 = points[first, c]
            for i in range(start + 1, end):
                v0 = points[_row_of(base, order, i) if gather else np.uint64(i), c]
                lo0 = min(lo0, v0)
                hi0 = max(hi0, v0)
            width = 1
        bounds[0, slot, c] = lo0
        bounds[1, slot, c] = hi0
        c += width


@njit(cache=True, nogil=True)
def rows_bounds(points, start, end, bounds, slot):
    """Min and max of each column over rows ``[start, end)`` into ``bounds[:, slot]``."""
    _bounds(points, 0, _NO_ORDER, start, end, bounds, slot, False)


@njit(cache=True, nogil=True, inline="always")
def widest_dimension(bounds, slot):
    """First dimension of largest spread ``bounds[1, slot] - bounds[0, slot]``."""
    best = 0
    best_spread = bounds[1, slot, 0] - bounds[0, slot, 0]
    for c in range(1, bounds.shape[2]):
        spread = bounds[1, slot, c] - bounds[0, slot, c]
        if spread > best_spread:
            best = c
            best_spread = spread
    return best


@njit(cache=True, nogil=True, inline="always")
def round_robin_dimension(node, n_dims):
    """Split dimension of ``node`` under the round-robin rule: its depth modulo ``n_dims``."""
    depth = 0
    v = node + 1
    while v > 1:
        v >>= 1
        depth += 1
    return depth % n_dims


@njit(cache=True, nogil=True)
def split_node(tree, node, scratch):
    """Choose the split of internal ``node`` and select its rows around it.

    With ``SPLIT_MAX_SPREAD`` the node's bounding box is computed first (it gives the
    spreads). ``scratch`` comes from :func:`~kdforge._kernels.select.new_scratch`.
    """
    points = tree.tree_data
    idx = tree.idx_array
    node_start = tree.node_start
    node_end = tree.node_end
    node_bounds = tree.node_bounds
    start = node_start[node]
    end = node_end[node]
    if tree.split == SPLIT_MAX_SPREAD:
        rows_bounds(points, start, end, node_bounds, node)
        dim = widest_dimension(node_bounds, node)
    else:
        dim = round_robin_dimension(node, points.shape[1])
    k = node_end[2 * node + 1]
    select_rows(points, idx, start, end, k, dim, 0.0, False, 0, scratch)
    tree.split_dim[node] = dim
    tree.split_value[node] = points[k, dim]


@njit(cache=True, nogil=True)
def split_one_node(tree, node):
    """:func:`split_node` with its own scratch arrays: a task for a thread."""
    split_node(tree, node, new_scratch(tree.tree_data, tree.idx_array))


@njit(cache=True, nogil=True)
def build_small_subtree(tree, root, scratch):
    """Build the subtree of ``root`` (at most ``SMALL_ROWS`` rows) on key/position pairs.

    The rows stay put while the subtree is built: every node gathers its split column
    through the permutation ``order``, selects on (key, position) pairs
    (:func:`~kdforge._kernels.select.select_pairs`) and computes its box through ``order``;
    the rows move once, at the end. Each node makes the same choices as
    :func:`split_node` would, by the same rules.
    """
    points = tree.tree_data
    node_start = tree.node_start
    node_end = tree.node_end
    split_dim = tree.split_dim
    split_value = tree.split_value
    node_bounds = tree.node_bounds
    n_internal = node_start.shape[0] // 2
    offsets, keys, order, rows, row_idx = scratch
    spare_keys = keys[SMALL_ROWS:]
    spare_order = order[SMALL_ROWS:]
    base = node_start[root]
    n = node_end[root] - base
    for i in range(n):
        order[np.uint64(i)] = i
    stack = np.empty(64, dtype=np.int64)
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        start = node_start[node] - base
        end = node_end[node] - base
        if node >= n_internal:
            split_dim[node] = -1
            split_value[node] = 0
            _bounds(points, base, order, start, end, node_bounds, node, True)
            continue
        if tree.split == SPLIT_MAX_SPREAD:
            _bounds(points, base, order, start, end, node_bounds, node, True)
            dim = widest_dimension(node_bounds, node)
        else:
            dim = round_robin_dimension(node, points.shape[1])
        for i in range(start, end):
            keys[np.uint64(i)] = key(points, base + order[np.uint64(i)], dim)
        k = node_end[2 * node + 1] - base
        if end - start <= RANK_SORT_MAX:
            rank_sort_pairs(keys, order, start, end, spare_keys, spare_order)
        else:
            select_pairs(keys, order, start, end, k, spare_keys, spare_order, offsets)
        split_dim[node] = dim
        split_value[node] = keys[np.uint64(k)]
        stack[top] = 2 * node + 2
        stack[top + 1] = 2 * node + 1
        top += 2
    permute_rows(points, tree.idx_array, base, order, n, rows, row_idx)


@njit(cache=True, nogil=True)
def build_subtree(tree, root):
    """Build the subtree rooted at ``root`` (depth-first, from an explicit stack).

    Fills the split of every internal node, and the bounding box of every leaf and, with
    ``SPLIT_MAX_SPREAD``, of every internal node (:func:`merge_child_bounds` fills the
    internal boxes for ``SPLIT_ROUND_ROBIN``). Subtrees of at most ``SMALL_ROWS`` rows go to
    :func:`build_small_subtree`. A subtree touches only its own rows.
    """
    node_start = tree.node_start
    node_end = tree.node_end
    n_internal = node_start.shape[0] // 2
    scratch = new_scratch(tree.tree_data, tree.idx_array)
    stack = np.empty(64, dtype=np.int64)
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        if node_end[node] - node_start[node] <= SMALL_ROWS:
            build_small_subtree(tree, node, scratch)
            continue
        if node >= n_internal:
            tree.split_dim[node] = -1
            tree.split_value[node] = 0
            rows_bounds(tree.tree_data, node_start[node], node_end[node], tree.node_bounds, node)
            continue
        split_node(tree, node, scratch)
        stack[top] = 2 * node + 2
        stack[top + 1] = 2 * node + 1
        top += 2


@njit(cache=True, nogil=True)
def merge_child_bounds(node_bounds, node_children):
    """Fill each internal node's box as the union of its children's, bottom-up.

    Children have larger ids than their parent in every layout, so a descending sweep
    sees both children of a node before the node.
    """
    n_dims = node_bounds.shape[2]
    for node in range(node_children.shape[0] - 1, -1, -1):
        left = node_children[node, 0]
        right = node_children[node, 1]
        for c in range(n_dims):
            node_bounds[0, node, c] = min(node_bounds[0, left, c], node_bounds[0, right, c])
            node_bounds[1, node, c] = max(node_bounds[1, left, c], node_bounds[1, right, c])


@njit(cache=True, nogil=True)
def fill_node_min_index(idx_array, node_start, node_end, node_children, out):
    """Fill ``out[i]`` with the smallest original index among node ``i``'s points.

    Leaves scan their rows; internal nodes take the smaller of their children's, bottom-up
    (children have larger ids than their parent in every layout).
    """
    n_nodes = node_start.shape[0]
    n_internal = n_nodes // 2
    for node in range(n_internal, n_nodes):
        smallest = idx_array[node_start[node]]
        for row in range(node_start[node] + 1, node_end[node]):
            smallest = min(smallest, idx_array[row])
        out[node] = smallest
    for node in range(n_internal - 1, -1, -1):
        out[node] = min(out[node_children[node, 0]], out[node_children[node, 1]])
