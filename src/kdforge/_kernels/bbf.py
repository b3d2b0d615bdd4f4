"""Budgeted best-bin-first (BBF) k-nearest-neighbour search: :func:`bbf_batch`.

Best-bin-first (Beis & Lowe 1997) visits leaves in increasing order of the lower bound of
their distance to the query, taken from one priority queue of unvisited branches, and stops
after ``max_leaves`` leaves (going on, up to k more, while fewer than k points are found)
- or earlier, and then exactly, once the best unvisited bound exceeds the current k-th best
distance. With a budget of at least the number of leaves the
search is exact.

Several trees
-------------
The kernel searches a :class:`TreeStack`: several trees over the same points (the
randomized KD-forest of :mod:`kdforge.forest`) whose node arrays are stacked, node ``g`` of
the stack being node ``g % n_nodes`` of tree ``g // n_nodes``. One shared queue orders the
branches of all trees, so the budget goes to the most promising leaves whichever tree holds
them, and a point met in several trees enters the result once. A
:class:`~kdforge.KDTree` is a stack of one (:func:`stack_of_tree`). Each tree may be split
in its own coordinates (a rotation of the data): it descends with the query expressed in
them (``QueryFrames.frame_queries``).

Bounds
------
Lower bounds are distances to node *cells*: a popped node descends to a leaf by the shared
:func:`~kdforge._kernels.traversal.descend`, and the far children it saves move into the
queue. Entries leave the queue out of order, so a popped node's per-dimension offsets are
rebuilt from the root's (:func:`~kdforge._kernels.traversal.enter_cell`).

Leaf scans
----------
Scanning leaves costs most in high dimensions, and it is bound by memory traffic, so the
kernel looks one leaf ahead: it finds the next leaf and prefetches its points before it
scans the current one. Two layouts:

* *rows* (a KDTree): the leaf's rows of ``tree_data``; a point is abandoned as soon as its
  partial distance exceeds the k-th best (``reduced_distance`` with a bound).
* *codes* (a forest): 8-bit leaf codes screen the points with a rigorous error bound
  (:mod:`kdforge._kernels.codes`); survivors are measured exactly from ``points``.

Candidates are kept in the k-best max-heap and branches in the min-queue of
:mod:`kdforge._kernels.heaps`. All ties are broken by numbers, so the results are
deterministic for given trees.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .codes import code_distances, code_slack, code_weights, empty_codes, query_code, screen_bound
from .distance import METRIC_LINF, from_reduced, reduced_distance, to_reduced
from .heaps import heap_offer, heap_offer_unique, queue_pop, queue_push
from .prefetch import prefetch_range
from .results import write_result_row
from .traversal import bound_slack, descend, enter_cell, root_distance

__all__ = ["TreeStack", "QueryFrames", "stack_of_tree", "identity_frames", "queue_capacity",
           "bbf_batch"]


class TreeStack(NamedTuple):
    """Trees over the same points with stacked node arrays: the input of :func:`bbf_batch`.

    Attributes
    ----------
    tree_data : array of shape (n_rows, d)
        *Rows* layout (``codes`` empty): the points in tree order, trees one after the
        other, in the coordinates of ``QueryFrames.queries``.
    codes : int8 array of shape (n_trees * n_leaves, d, leaf_capacity) or (0, d, 1)
        *Codes* layout: leaf ``l`` of tree ``t`` is ``codes[t * n_leaves + l]``, its column
        ``j`` the codes of row ``node_start[leaf] + j``, in the coordinates of
        ``QueryFrames.scan_queries``.
    code_centre, code_scale : float64 arrays of shape (d,)
        Decoding: coordinate ``c`` is ``code_centre[c] + code_scale[c] * code``.
    points : array of shape (n, d)
        *Codes* layout: the points in original order, in the coordinates of the queries,
        for the exact distances.
    idx_array : int array of shape (n_rows,)
        Original index of each row.
    node_start, node_end : int arrays of shape (n_trees * n_nodes,)
        Row range of each node (rows of the stack, not of the tree).
    split_dim, split_value : arrays of shape (n_trees * n_nodes,)
        Split of each internal node.
    node_children : int array of shape (n_internal, 2)
        Left and right child of each internal node, numbered within its tree: the trees of
        a stack share one shape (:mod:`kdforge.record`, Layout).
    node_parent : int array of shape (n_nodes,)
        Parent of each node within its tree, -1 at the root.
    root_lower, root_upper : arrays of shape (n_trees, d)
        Bounding box of each tree's points in its split coordinates: its root cell.
    n_nodes, n_levels : int
        Nodes per tree (the first ``n_nodes // 2`` internal) and the depth of the deepest
        leaf; the same for every tree.
    """

    tree_data: np.ndarray
    codes: np.ndarray
    code_centre: np.ndarray
    code_scale: np.ndarray
    points: np.ndarray
    idx_array: np.ndarray
    node_start: np.ndarray
    node_end: np.ndarray
    split_dim: np.ndarray
    split_value: np.ndarray
    node_children: np.ndarray
    node_parent: np.ndarray
    root_lower: np.ndarray
    root_upper: np.ndarray
    n_nodes: int
    n_levels: int


class QueryFrames(NamedTuple):
    """A batch of queries in the coordinates a :class:`TreeStack` needs.

    Attributes
    ----------
    queries : array of shape (m, d)
        The queries in the coordinates of ``tree_data`` / ``points``.
    frame_queries : array of shape (n_frames, m, d)
        The queries in the coordinates the trees were split in: tree ``t`` descends with
        ``frame_queries[t]``, or ``frame_queries[0]`` when ``n_frames == 1``. Cell bounds
        are measured there, so frames other than the identity must preserve the metric
        (rotations, for p = 2).
    scan_queries : float64 array of shape (m, d) or (0, d)
        *Codes* layout: the queries in the coordinates of the codes (before centring).
    transform_error : float64 array of shape (m,)
        Bound of the change of a distance to query ``i`` by the rounding of the transforms
        to split and scan coordinates (zero for the identity): cell bounds and code
        distances are relaxed by it, so that the search stays exact.
    """

    queries: np.ndarray
    frame_queries: np.ndarray
    scan_queries: np.ndarray
    transform_error: np.ndarray


def stack_of_tree(tree) -> TreeStack:
    """The one-tree :class:`TreeStack` of a :class:`~kdforge.record.TreeRecord` (no copies)."""
    n_dims = tree.tree_data.shape[1]
    unit = np.ones(n_dims)
    return TreeStack(tree.tree_data, empty_codes(n_dims), unit, unit, tree.tree_data,
                     tree.idx_array, tree.node_start, tree.node_end, tree.split_dim,
                     tree.split_value, tree.node_children, tree.node_parent,
                     tree.node_bounds[0, :1], tree.node_bounds[1, :1],
                     tree.node_start.shape[0], tree.n_levels)


def identity_frames(queries: np.ndarray) -> QueryFrames:
    """:class:`QueryFrames` of queries searched in the coordinates they are given in."""
    return QueryFrames(queries, queries[None], np.empty((0, queries.shape[1])),
                       np.zeros(queries.shape[0]))


@njit(cache=True, nogil=True)
def queue_capacity(max_leaves, n_trees, n_nodes, n_levels):
    """Size of the branch queue that a search of ``max_leaves`` leaves can need.

    Each descent to a leaf queues at most one far child per level, and no node is queued
    twice.
    """
    total = n_trees * n_nodes
    return min(total, n_trees + min(max_leaves, total) * max(n_levels, 1))  # no overflow


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _prune_limit(heap_top, transform_error, metric, p):
    """Reduced cell bound above which no point can beat ``heap_top``.

    Cell bounds are measured in the trees' coordinates, which a rounded transform may have
    moved by up to ``transform_error`` (0 for the identity) from the true distances.
    """
    if transform_error == 0.0 or heap_top == np.inf:
        return heap_top
    return to_reduced(from_reduced(heap_top, metric, p) + transform_error, metric, p)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _scan_rows(tree_data, idx_array, start, stop, query, metric, p, heap_dist, heap_idx):
    """Offer rows ``[start, stop)`` of ``tree_data`` (one tree: no duplicates) to the heap."""
    for row in range(start, stop):
        d = reduced_distance(tree_data, row, query, metric, p, heap_dist[0])
        if d <= heap_dist[0]:
            heap_offer(heap_dist, heap_idx, d, np.int64(idx_array[row]))


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _scan_codes(codes, block, points, idx_array, start, stop, query, query_codes, weights,
                unit, absolute, relative, metric, p, heap_dist, heap_idx, approx, dedupe):
    """Screen a code block with approximate distances; measure and offer the survivors.

    A point survives when its approximate distance, relaxed by the error bound
    (:func:`~kdforge._kernels.codes.code_slack`), could still beat the current k-th best;
    it is then measured exactly from ``points`` (rows ``idx_array[start:stop]``).
    """
    count = stop - start
    screen = screen_bound(heap_dist[0], absolute, relative, metric, p, unit)
    if not code_distances(codes, block, count, query_codes, weights, metric, p, screen, approx):
        return
    for j in range(count):
        if not approx[j] > screen:  # NaN (an overflow) is measured, never dropped
            index = np.int64(idx_array[start + j])
            d = reduced_distance(points, index, query, metric, p, heap_dist[0])
            if d <= heap_dist[0]:
                if dedupe:
                    heap_offer_unique(heap_dist, heap_idx, d, index)
                else:
                    heap_offer(heap_dist, heap_idx, d, index)
                screen = screen_bound(heap_dist[0], absolute, relative, metric, p, unit)


@njit(cache=True, nogil=True, error_model="numpy")
def bbf_batch(stack, frames, order, metric, p, prune_factor, bound_reduced, max_leaves,
              sort_results, out_dist, out_idx):
    """Budgeted best-bin-first kNN of the rows ``order`` of the queries over a tree stack.

    Parameters
    ----------
    stack : TreeStack
        The trees (rows or codes layout).
    frames : QueryFrames
        The queries, in every coordinate system the stack needs.
    order : int64 array
        Rows of the queries to answer.
    metric, p : int, float
        Metric code and Minkowski order (:mod:`kdforge._kernels.distance`).
    prune_factor : float
        ``(1 + eps) ** p`` (``1 + eps`` for p = inf): a branch is dropped when its bound times
        this factor exceeds the current k-th best, as in exact kNN.
    bound_reduced : float
        Reduced ``distance_upper_bound``: only points strictly closer are returned.
    max_leaves : int
        Leaves to scan at most, over all trees together.
    sort_results : bool
        Sort each row by increasing (distance, index).
    out_dist, out_idx : arrays of shape (m, k)
        Receive distances and original indices in rows ``order``; ``inf`` / ``-1`` where
        fewer than k points were found.
    """
    codes = stack.codes
    tree_data = stack.tree_data
    node_start = stack.node_start
    node_end = stack.node_end
    frame_queries = frames.frame_queries
    transform_error = frames.transform_error
    n_trees = stack.root_lower.shape[0]
    n_frames = frame_queries.shape[0]
    n_dims = frames.queries.shape[1]
    n_nodes = stack.n_nodes
    n_internal = n_nodes // 2
    n_levels = stack.n_levels
    use_codes = codes.shape[0] > 0
    block_size = codes.shape[1] * codes.shape[2]
    n_leaves = n_nodes - n_internal
    dedupe = n_trees > 1
    k = out_dist.shape[1]
    factor = prune_factor * bound_slack(n_levels, n_dims)
    heap_dist = np.empty(k, dtype=np.float64)
    heap_idx = np.empty(k, dtype=np.int64)
    queue_size = queue_capacity(max_leaves + k, n_trees, n_nodes, n_levels)
    queue_keys = np.empty(queue_size, dtype=np.float64)
    queue_nodes = np.empty(queue_size, dtype=np.int64)
    saved = n_levels + 2
    saved_node = np.empty(saved, dtype=np.int64)
    saved_dim = np.empty(saved, dtype=np.int64)
    saved_log = np.empty(saved, dtype=np.int64)
    saved_reduced = np.empty(saved, dtype=np.float64)
    saved_offset = np.empty(saved, dtype=np.float64)
    root_offsets = np.empty((n_trees, n_dims), dtype=np.float64)
    offsets = np.empty((n_trees, n_dims), dtype=np.float64)
    touched = np.empty((n_trees, max(n_levels, 1)), dtype=np.int64)
    n_touched = np.zeros(n_trees, dtype=np.int64)
    approx = np.empty(codes.shape[2], dtype=np.float32)
    query_codes = np.zeros(n_dims, dtype=np.float32)
    weights = np.empty(n_dims, dtype=np.float32)
    unit = code_weights(stack.code_scale, metric, p, weights)
    absolute = 0.0
    relative = 0.0
    for qi in order:
        query = frames.queries[qi]
        if use_codes:
            for c in range(n_dims):
                query_codes[c] = query_code(frames.scan_queries[qi, c], stack.code_centre[c],
                                            stack.code_scale[c])
            absolute, relative = code_slack(query_codes, stack.code_scale, metric, p,
                                            transform_error[qi])
        heap_dist[:] = bound_reduced
        heap_idx[:] = -1
        limit = _prune_limit(heap_dist[0], transform_error[qi], metric, p)
        size = 0
        for tree in range(n_trees):
            reduced = root_distance(frame_queries[min(tree, n_frames - 1), qi], stack.root_lower[tree],
                                    stack.root_upper[tree], root_offsets[tree], metric, p)
            size = queue_push(queue_keys, queue_nodes, size, reduced, tree * n_nodes)
        offsets[:] = root_offsets
        n_touched[:] = 0
        leaves = 0
        pending = -1  # stack number of the leaf found but not scanned yet
        while True:
            # Find the next leaf and prefetch it, then scan the pending one meanwhile.
            found = -1
            # the budget is spent once it is used up and k candidates are in hand (small
            # sliding-midpoint leaves may hold fewer than k points between them; every leaf
            # holds one at least, so k more leaves always suffice: the queue is sized so)
            if size > 0 and (leaves < max_leaves or (heap_idx[0] < 0 and leaves < max_leaves + k)):
                reduced, g, size = queue_pop(queue_keys, queue_nodes, size)
                # The limit can only shrink with the pending leaf: stopping is safe.
                if reduced * factor > limit:
                    size = 0
                else:
                    tree = g // n_nodes
                    base = tree * n_nodes
                    frame_query = frame_queries[min(tree, n_frames - 1), qi]
                    enter_cell(g - base, frame_query, stack.split_dim, stack.split_value,
                               stack.node_children, stack.node_parent, tree, base, root_offsets,
                               offsets, touched, n_touched)
                    leaf, n_saved = descend(g - base, reduced, frame_query, stack.split_dim,
                                            stack.split_value, stack.node_children, base,
                                            n_internal, offsets[tree],
                                            saved_node, saved_dim, saved_log, saved_reduced,
                                            saved_offset, 0, 0, metric, p, factor, limit)
                    for s in range(n_saved):
                        size = queue_push(queue_keys, queue_nodes, size, saved_reduced[s],
                                          base + saved_node[s])
                    leaves += 1
                    found = base + leaf
                    if use_codes:
                        prefetch_range(codes, (tree * n_leaves + leaf - n_internal) * block_size,
                                       block_size)
                    else:
                        prefetch_range(tree_data, node_start[found] * n_dims,
                                       (node_end[found] - node_start[found]) * n_dims)
            if pending >= 0:
                if use_codes:
                    tree = pending // n_nodes
                    block = tree * n_leaves + pending - tree * n_nodes - n_internal
                    _scan_codes(codes, block, stack.points, stack.idx_array, node_start[pending],
                                node_end[pending], query, query_codes, weights, unit, absolute,
                                relative, metric, p, heap_dist, heap_idx, approx, dedupe)
                else:
                    _scan_rows(tree_data, stack.idx_array, node_start[pending], node_end[pending],
                               query, metric, p, heap_dist, heap_idx)
                limit = _prune_limit(heap_dist[0], transform_error[qi], metric, p)
            if found < 0:
                break
            pending = found
        write_result_row(heap_dist, heap_idx, sort_results, metric, p, out_dist[qi], out_idx[qi])
