"""Axis-aligned box (range) search: :func:`box_query_batch`."""

from __future__ import annotations

import numpy as np
from numba import njit

from .results import grow


@njit(cache=True, nogil=True)
def box_query_batch(tree, lo, hi):
    """Original indices of the points inside each closed box ``[lo[i], hi[i]]``.

    Depth-first over the tight node boxes: a node whose box misses the query box is
    skipped, a node whose box lies inside it contributes all its points without a test,
    other nodes are opened (leaves: each point is tested).

    Parameters
    ----------
    tree : TreeRecord
    lo, hi : float64 arrays of shape (m, d)
        Corners of the query boxes, ``lo <= hi``.

    Returns
    -------
    counts : int64 array of shape (m,)
    indices : int64 array of shape (counts.sum(),)
        The indices of all boxes one after the other (CSR order), each box's in tree order.
    """
    tree_data = tree.tree_data
    idx_array = tree.idx_array
    node_bounds = tree.node_bounds
    n_internal = tree.node_start.shape[0] // 2
    n_boxes, n_dims = lo.shape
    counts = np.zeros(n_boxes, dtype=np.int64)
    indices = np.empty(16 * n_boxes, dtype=np.int64)
    stack = np.empty(tree.n_levels + 2, dtype=np.int64)
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
            start = tree.node_start[node]
            end = tree.node_end[node]
            if inside:
                indices = grow(indices, total + end - start)
                for row in range(start, end):
                    indices[total] = idx_array[row]
                    total += 1
                continue
            if node < n_internal:
                stack[top] = tree.node_children[node, 1]
                stack[top + 1] = tree.node_children[node, 0]
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
                    indices = grow(indices, total + 1)
                    indices[total] = idx_array[row]
                    total += 1
        counts[bi] = total - first
    return counts, indices[:total]
