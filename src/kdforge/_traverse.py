"""Depth-first traversal with incremental cell distances, shared by the query kernels.

Along the current root-to-node path, ``offsets[c]`` is the distance from the query to the
node's *cell* (the region its ancestors' splits assign to it) in dimension ``c``, and
``reduced`` combines them into the reduced distance to the cell (Arya & Mount). The near
child of a split has the parent's offsets; the far child differs in the split dimension
only, so its distance costs O(1) instead of O(d).

Far children are saved on a stack with their distance and the one offset that changes.
Jumping back to a saved child undoes the offset changes made below it, which an undo log
records, then applies its own change. Both stack and log hold at most one entry per level,
so ``n_levels + 2`` entries suffice.

A cell is entered only while ``reduced * prune_factor <= limit``: for kNN ``limit`` is the
current k-th best (``prune_factor = (1 + eps)**p`` makes the search approximate), for radius
search the radius.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._distance import METRIC_LINF, axis_term


@njit(cache=True, nogil=True)
def new_traversal(n_dims, n_levels):
    """Scratch arrays for one thread's traversals.

    Returns
    -------
    offsets : float64 (d,)
    stack_node, stack_dim, stack_log, log_dim : int64 (n_levels + 2,)
    stack_reduced, stack_offset, log_value : float64 (n_levels + 2,)
    """
    size = n_levels + 2
    return (np.empty(n_dims, dtype=np.float64), np.empty(size, dtype=np.int64),
            np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64),
            np.empty(size, dtype=np.int64), np.empty(size, dtype=np.float64),
            np.empty(size, dtype=np.float64), np.empty(size, dtype=np.float64))


@njit(cache=True, nogil=True, inline="always")
def root_distance(query, root_lower, root_upper, offsets, metric, p):
    """Set ``offsets`` to the query's distances to the root cell; return the reduced distance."""
    reduced = 0.0
    for c in range(query.shape[0]):
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
    return reduced


@njit(cache=True, nogil=True, inline="always")
def descend(node, reduced, query, split_dim, split_value, n_internal, offsets,
            stack_node, stack_dim, stack_log, stack_reduced, stack_offset, top, n_log,
            metric, p, prune_factor, limit):
    """Walk from ``node`` to a leaf through near children, saving far children worth visiting.

    Returns
    -------
    leaf : int
    top : int
        New stack height.
    """
    while node < n_internal:
        dim = split_dim[node]
        diff = np.float64(query[dim]) - np.float64(split_value[node])
        if diff < 0.0:
            near = 2 * node + 1
            diff = -diff
        else:
            near = 2 * node + 2
        if metric == METRIC_LINF:
            far_reduced = max(reduced, diff)
        else:
            far_reduced = reduced - axis_term(offsets[dim], metric, p) + axis_term(diff, metric, p)
        if far_reduced * prune_factor <= limit:
            stack_node[top] = 4 * node + 3 - near
            stack_reduced[top] = far_reduced
            stack_dim[top] = dim
            stack_offset[top] = diff
            stack_log[top] = n_log
            top += 1
        node = near
    return node, top


@njit(cache=True, nogil=True, inline="always")
def jump_back(offsets, stack_node, stack_dim, stack_log, stack_reduced, stack_offset, top,
              log_dim, log_value, n_log, prune_factor, limit):
    """Pop saved far children until one is still within ``limit``; enter it.

    Returns
    -------
    node : int
        The entered node, or -1 when the traversal is over.
    reduced : float
        Its reduced cell distance.
    top, n_log : int
        New stack and log heights.
    """
    while top > 0:
        top -= 1
        if stack_reduced[top] * prune_factor <= limit:
            while n_log > stack_log[top]:
                n_log -= 1
                offsets[log_dim[n_log]] = log_value[n_log]
            dim = stack_dim[top]
            log_dim[n_log] = dim
            log_value[n_log] = offsets[dim]
            n_log += 1
            offsets[dim] = stack_offset[top]
            return stack_node[top], stack_reduced[top], top, n_log
    return -1, 0.0, 0, n_log


@njit(cache=True, nogil=True)
def find_leaf_batch(split_dim, split_value, n_internal, queries, out):
    """Write into ``out[i]`` the leaf whose cell contains ``queries[i]``.

    At an internal node a coordinate strictly below the split value goes to the left child,
    any other to the right child: the rule every query kernel descends by.
    """
    for qi in range(queries.shape[0]):
        node = 0
        while node < n_internal:
            if queries[qi, split_dim[node]] < split_value[node]:
                node = 2 * node + 1
            else:
                node = 2 * node + 2
        out[qi] = node


@njit(cache=True, nogil=True)
def leaf_order(queries, split_dim, split_value, node_start, n_internal):
    """Order of the queries by the tree-order position of the leaf each falls in.

    Processing queries in this order makes neighbouring queries touch the same leaves, which
    keeps them in cache.
    """
    leaves = np.empty(queries.shape[0], dtype=np.int64)
    find_leaf_batch(split_dim, split_value, n_internal, queries, leaves)
    keys = np.empty(queries.shape[0], dtype=np.int64)
    for qi in range(queries.shape[0]):
        keys[qi] = node_start[leaves[qi]]
    return np.argsort(keys, kind="mergesort")
