"""Tree traversal with incremental cell distances, shared by the query kernels.

Along the current root-to-node path, ``offsets[c]`` is the distance from the query to the
node's *cell* (the region its ancestors' splits assign to it) in dimension ``c``, and
``reduced`` combines them into the reduced distance to the cell (Arya & Mount). The near
child of a split has the parent's offsets; the far child differs in the split dimension
only, so its distance costs O(1) instead of O(d).

:func:`descend` walks from a node to a leaf through near children and saves the far
children worth visiting, with their distance and the one offset that changes. The
depth-first searches (kNN, radius) keep the saved children on a stack and come back to
them with :func:`jump_back`, which undoes the offset changes made below them (an undo log
records those). Budgeted best-bin-first search (:mod:`kdforge._kernels.bbf`) moves them
into its priority queue instead, and rebuilds a popped node's offsets with
:func:`enter_cell`. Stack and log hold at most one entry per level, so ``n_levels + 2``
entries suffice.

A cell is entered only while ``reduced * factor <= limit``: for kNN ``limit`` is the
current k-th best (``factor = (1 + eps)**p * bound_slack`` makes the search approximate),
for radius search the radius. Cell distances are updated incrementally (one term out, one
in) and carry a few ulps of rounding per level; where a cell's distance equals a point's
exactly (duplicates, points on split planes) it could come out just above it and prune a
tied point. :func:`bound_slack`, the one definition of that margin, shrinks every cell
bound before it prunes, which keeps every search exact.

Nodes of several stacked trees (a forest) are addressed as ``base + node``, ``base`` the
first node of the tree in the stacked arrays (0 for a single tree).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import METRIC_LINF, axis_term


@njit(cache=True, nogil=True)
def bound_slack(n_levels, n_dims):
    """Factor just below 1 applied to cell bounds before they prune anything.

    Covers the rounding of the incremental updates of :func:`descend` (at most
    ``n_levels`` of them, each of a few ulps) and of the sum over ``n_dims`` axes.
    """
    return 1.0 - (2 * n_levels + n_dims + 8) * 2.0**-52


@njit(cache=True, nogil=True)
def new_traversal(n_dims, n_levels):
    """Scratch arrays for one thread's depth-first traversals.

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
def descend(node, reduced, query, split_dim, split_value, children, base, n_internal, offsets,
            saved_node, saved_dim, saved_log, saved_reduced, saved_offset, top, n_log,
            metric, p, factor, limit):
    """Walk from ``node`` to a leaf through near children, saving far children worth visiting.

    ``children`` (n_internal, 2) holds the left and right child of each internal node,
    numbered within its tree (one array serves every tree of a stack: they share a shape).
    A far child is saved at position ``top`` of the ``saved_*`` arrays (its node id within
    its tree, split dimension, the undo-log height, its reduced cell distance and its
    offset in the split dimension) when ``its distance * factor <= limit``.

    Returns
    -------
    leaf : int
        The leaf reached (numbered within its tree).
    top : int
        New number of saved children.
    """
    while node < n_internal:
        dim = split_dim[base + node]
        diff = np.float64(query[dim]) - np.float64(split_value[base + node])
        if diff < 0.0:
            near = np.int64(children[node, 0])
            far = np.int64(children[node, 1])
            diff = -diff
        else:
            near = np.int64(children[node, 1])
            far = np.int64(children[node, 0])
        if metric == METRIC_LINF:
            far_reduced = max(reduced, diff)
        else:
            far_reduced = reduced - axis_term(offsets[dim], metric, p) + axis_term(diff, metric, p)
        if far_reduced * factor <= limit:
            saved_node[top] = far
            saved_reduced[top] = far_reduced
            saved_dim[top] = dim
            saved_offset[top] = diff
            saved_log[top] = n_log
            top += 1
        node = near
    return node, top


@njit(cache=True, nogil=True, inline="always")
def jump_back(offsets, stack_node, stack_dim, stack_log, stack_reduced, stack_offset, top,
              log_dim, log_value, n_log, factor, limit):
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
        if stack_reduced[top] * factor <= limit:
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


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def enter_cell(node, query, split_dim, split_value, children, parents, tree, base,
               root_offsets, offsets, touched, n_touched):
    """Set ``offsets[tree]`` to the cell offsets of ``node`` (numbered within its tree).

    For searches that jump between nodes in any order (best-bin-first): the offsets are
    rebuilt from the root's by walking up the node's ancestors (``parents``, numbered within
    the tree like ``children``), O(depth). ``offsets[tree]``
    holds ``root_offsets[tree]`` except in the ``n_touched[tree]`` dimensions listed in
    ``touched[tree]``; those are reset first.
    """
    for t in range(n_touched[tree]):
        offsets[tree, touched[tree, t]] = root_offsets[tree, touched[tree, t]]
    count = 0
    child = node
    while child > 0:
        parent = np.int64(parents[child])
        dim = split_dim[base + parent]
        diff = np.float64(query[dim]) - np.float64(split_value[base + parent])
        gap = diff if child == children[parent, 0] else -diff  # left x <= split, right x >= split
        if gap > offsets[tree, dim]:
            offsets[tree, dim] = gap
            touched[tree, count] = dim
            count += 1
        child = parent
    n_touched[tree] = count


@njit(cache=True, nogil=True, inline="always")
def descend_to(tree, queries, qi, max_depth):
    """The node ``queries[qi]`` descends to: a leaf, or the node reached at ``max_depth``.

    At an internal node a coordinate strictly below the split value goes to the left child,
    any other to the right child: the rule every query kernel descends by.
    """
    n_internal = tree.node_start.shape[0] // 2
    node = np.int64(0)
    depth = 0
    while node < n_internal and depth < max_depth:
        side = 0 if queries[qi, tree.split_dim[node]] < tree.split_value[node] else 1
        node = np.int64(tree.node_children[node, side])
        depth += 1
    return node


@njit(cache=True, nogil=True)
def find_leaf_batch(tree, queries, out):
    """Write into ``out[i]`` the leaf whose cell contains ``queries[i]`` (:func:`descend_to`)."""
    for qi in range(queries.shape[0]):
        out[qi] = descend_to(tree, queries, qi, tree.node_start.shape[0])


#: Levels :func:`leaf_order` descends at most: cells of ~n / 4096 points are small enough for
#: queries in one of them to share the cache, and the deeper levels cost more than they give.
ORDER_DEPTH = 12


@njit(cache=True, nogil=True)
def leaf_order(tree, queries):
    """Order of the queries by the tree-order position of the cell each falls in, at most
    :data:`ORDER_DEPTH` levels down.

    Processing queries in this order makes neighbouring queries touch the same leaves, which
    keeps them in cache.
    """
    keys = np.empty(queries.shape[0], dtype=np.int64)
    for qi in range(queries.shape[0]):
        keys[qi] = tree.node_start[descend_to(tree, queries, qi, ORDER_DEPTH)]
    return np.argsort(keys)
