"""Numba kernels that build the implicit KD-tree (see :mod:`kdforge.tree` for the layout).

The build works on a private copy of the points, ``tree_data``, whose rows it permutes into
tree order while it permutes ``idx_array`` the same way, so that ``tree_data[j] ==
data[idx_array[j]]`` at every step. A node covering rows ``[start, end)`` splits at
``mid = start + (end - start) // 2``: an O(n) selection (:func:`select_kth`) moves the row
holding the ``mid``-th smallest value of the split dimension to ``mid``, smaller-or-equal
values before it and greater-or-equal values after it. The two halves then touch disjoint
rows and are independent tasks (:func:`build_subtree`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SPLIT_MAX_SPREAD = 0
SPLIT_ROUND_ROBIN = 1

#: Quickselect passes with median-of-3 pivots before the selection switches to
#: pseudo-random pivots, which no input order can defeat (introselect's safeguard).
MEDIAN_OF_3_PASSES = 16


def tree_levels(n_points: int, leaf_size: int) -> int:
    """Number of splitting levels ``L``: the tree has ``2**L`` leaves, all at depth ``L``.

    ``L`` is the smallest value for which no leaf holds more than ``leaf_size`` points, capped
    at ``floor(log2(n_points))`` so that no leaf is empty. Leaves then hold
    ``floor(n / 2**L)`` or ``ceil(n / 2**L)`` points: between ``leaf_size / 2`` and
    ``leaf_size`` (for ``leaf_size == 1``: one or two).
    """
    levels = 0
    while (leaf_size << levels) < n_points and (2 << levels) <= n_points:
        levels += 1
    return levels


@njit(cache=True, nogil=True)
def _swap_rows(points, idx, a, b):
    for c in range(points.shape[1]):
        tmp = points[a, c]
        points[a, c] = points[b, c]
        points[b, c] = tmp
    t = idx[a]
    idx[a] = idx[b]
    idx[b] = t


@njit(cache=True, nogil=True)
def select_kth(points, idx, start, end, kth, dim):
    """Partially order rows ``[start, end)`` so row ``kth`` holds the kth value of ``dim``.

    Afterwards ``points[start:kth, dim] <= points[kth, dim] <= points[kth+1:end, dim]``.
    Hoare partitioning stops on equal keys from both sides, so duplicate-heavy and all-equal
    input splits evenly; median-of-3 pivots handle sorted input, and after
    ``MEDIAN_OF_3_PASSES`` passes pseudo-random pivots take over. Expected O(n).
    """
    lo = start
    hi = end - 1
    passes = 0
    state = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(end - start)
    while hi > lo:
        if passes < MEDIAN_OF_3_PASSES:
            mid = lo + (hi - lo) // 2
            a = points[lo, dim]
            b = points[mid, dim]
            c = points[hi, dim]
            if a > b:
                a, b = b, a
            if b > c:
                b = c
                if a > b:
                    b = a
            pivot = b
        else:
            state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
            pos = lo + np.int64((state >> np.uint64(33)) % np.uint64(hi - lo + 1))
            pivot = points[pos, dim]
        i = lo
        j = hi
        while i <= j:
            while points[i, dim] < pivot:
                i += 1
            while points[j, dim] > pivot:
                j -= 1
            if i <= j:
                _swap_rows(points, idx, i, j)
                i += 1
                j -= 1
        # now rows lo..j are <= pivot, rows i..hi are >= pivot, rows j+1..i-1 equal pivot
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            break
        passes += 1


@njit(cache=True, nogil=True)
def rows_bounding_box(points, start, end, lower, upper):
    """Write the per-dimension min and max of rows ``[start, end)`` into ``lower``/``upper``."""
    n_dims = points.shape[1]
    for c in range(n_dims):
        lower[c] = points[start, c]
        upper[c] = points[start, c]
    for r in range(start + 1, end):
        for c in range(n_dims):
            v = points[r, c]
            if v < lower[c]:
                lower[c] = v
            elif v > upper[c]:
                upper[c] = v


@njit(cache=True, nogil=True)
def _widest_dimension(lower, upper):
    best = 0
    best_spread = upper[0] - lower[0]
    for c in range(1, lower.shape[0]):
        spread = upper[c] - lower[c]
        if spread > best_spread:
            best = c
            best_spread = spread
    return best


@njit(cache=True, nogil=True)
def build_subtree(points, idx, node_start, node_end, split_dim, split_value, node_bounds,
                  root, n_internal, split_rule):
    """Build the subtree rooted at node ``root`` whose row range is already set.

    Fills, for every node of the subtree, its row range, split dimension and value (internal
    nodes) and, with ``SPLIT_MAX_SPREAD``, the tight bounding box of internal nodes (it is
    the spread scan). Leaf boxes are always written; :func:`merge_child_bounds` fills the
    internal boxes for ``SPLIT_ROUND_ROBIN``. Nodes are processed depth-first from an
    explicit stack; a subtree touches only its own rows, so distinct subtrees may be built
    concurrently.
    """
    n_dims = points.shape[1]
    stack = np.empty(64, dtype=np.int64)
    stack[0] = root
    top = 1
    while top > 0:
        top -= 1
        node = stack[top]
        start = node_start[node]
        end = node_end[node]
        if node >= n_internal:
            split_dim[node] = -1
            split_value[node] = 0
            rows_bounding_box(points, start, end, node_bounds[0, node], node_bounds[1, node])
            continue
        if split_rule == SPLIT_MAX_SPREAD:
            rows_bounding_box(points, start, end, node_bounds[0, node], node_bounds[1, node])
            dim = _widest_dimension(node_bounds[0, node], node_bounds[1, node])
        else:
            depth = 0
            v = node + 1
            while v > 1:
                v >>= 1
                depth += 1
            dim = depth % n_dims
        mid = start + (end - start) // 2
        select_kth(points, idx, start, end, mid, dim)
        split_dim[node] = dim
        split_value[node] = points[mid, dim]
        left = 2 * node + 1
        node_start[left] = start
        node_end[left] = mid
        node_start[left + 1] = mid
        node_end[left + 1] = end
        stack[top] = left + 1
        stack[top + 1] = left
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


def build_arrays(data: np.ndarray, leaf_size: int, split_rule: int, index_dtype) -> dict:
    """Build every array of a tree over validated ``data`` (C-contiguous float32/float64).

    Returns
    -------
    dict
        ``tree_data`` (points in tree order), ``idx_array``, ``node_start``, ``node_end``,
        ``split_dim``, ``split_value``, ``node_bounds`` and ``n_levels``.
    """
    n_points, n_dims = data.shape
    n_levels = tree_levels(n_points, leaf_size)
    n_nodes = (2 << n_levels) - 1
    n_internal = (1 << n_levels) - 1
    points = data.copy()
    idx = np.arange(n_points, dtype=index_dtype)
    node_start = np.empty(n_nodes, dtype=index_dtype)
    node_end = np.empty(n_nodes, dtype=index_dtype)
    split_dim = np.empty(n_nodes, dtype=np.int32)
    split_value = np.empty(n_nodes, dtype=data.dtype)
    node_bounds = np.empty((2, n_nodes, n_dims), dtype=data.dtype)
    node_start[0] = 0
    node_end[0] = n_points
    build_subtree(points, idx, node_start, node_end, split_dim, split_value, node_bounds,
                  0, n_internal, split_rule)
    if split_rule == SPLIT_ROUND_ROBIN:
        merge_child_bounds(node_bounds, n_internal)
    return dict(tree_data=points, idx_array=idx, node_start=node_start, node_end=node_end,
                split_dim=split_dim, split_value=split_value, node_bounds=node_bounds,
                n_levels=n_levels)
