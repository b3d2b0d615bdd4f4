"""Numba kernel for budgeted best-bin-first (BBF) k-nearest-neighbour search.

Best-bin-first (Beis & Lowe 1997) visits leaves in increasing order of the lower bound of
their distance to the query, taken from one priority queue of unvisited branches, and stops
after ``max_leaves`` leaves - or earlier, and then exactly, once the best unvisited bound
exceeds the current k-th best distance. With a budget of at least the number of leaves the
search is exact.

Several trees
-------------
The kernel searches several trees over the same points at once (the randomized KD-forest
of :mod:`kdforge.forest`). Their node arrays are stacked: node ``g`` of the stack is node
``g % n_nodes`` of tree ``g // n_nodes``. One shared queue orders the branches of all trees,
so the budget goes to the most promising leaves whichever tree holds them, and a point met
in several trees enters the result once. A :class:`~kdforge.tree.KDTree` is a stack of one.
Each tree may be split in its own coordinates (a rotation of the data): it descends with the
query expressed in them (``frame_queries``).

Bounds
------
Lower bounds are distances to node *cells*, as in :mod:`kdforge._traverse`: on the way down
to a leaf every far child's bound differs from its parent's in the split dimension only
(O(1)). Entries leave the queue out of order, so a popped node's per-dimension offsets are
rebuilt from the root's by walking up its ancestors (O(depth)), after undoing the previous
node's changes.

Leaf scans
----------
Scanning leaves costs most in high dimensions, and it is bound by memory traffic, so the
kernel looks one leaf ahead: it finds the next leaf and prefetches its points before it
scans the current one. Two layouts:

* *rows* (a KDTree): the leaf's rows of ``tree_data``; a point is abandoned as soon as its
  partial distance, checked every :data:`EARLY_EXIT_BLOCK` coordinates, exceeds the k-th
  best.
* *codes* (a forest): each leaf is a block of 8-bit codes, one column per point
  (``codes[leaf, c, j]``), so the inner loop runs over points and vectorises, and a leaf is
  a quarter of its float32 size. Coordinate ``c`` of a point is ``centre[c] + scale[c] *
  code`` within ``scale[c] / 2``. The approximate distance (in float32) then gives, with a
  rigorous error bound, a lower bound of the true one; only points whose bound does not
  exclude them are measured exactly, from the original ``points``. Results are therefore
  exact distances, and a full budget gives the exact answer.

Candidates are kept in the max-heap of :mod:`kdforge._knn` ordered by (distance, index); the
queue is a flat binary min-heap ordered by (bound, node) in preallocated arrays. All ties
are broken by numbers, so the results are deterministic for given trees.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._distance import (
    METRIC_L1,
    METRIC_L2,
    METRIC_LINF,
    axis_term,
    from_reduced,
    reduced_distance,
)
from ._knn import _heap_less, heap_replace_top, write_result_row
from ._parallel import run_chunked
from ._traverse import root_distance

__all__ = ["bbf_batch", "query_tree", "queue_capacity", "encode_leaves", "code_parameters",
           "empty_codes"]

#: Coordinates summed between two checks of a partial distance against the bound.
EARLY_EXIT_BLOCK = 8
#: Bytes per cache line, the prefetch granularity.
CACHE_LINE_BYTES = 64
#: Largest code magnitude: codes are int8 in ``[-CODE_MAX, CODE_MAX]``.
CODE_MAX = 127


def queue_capacity(max_leaves: int, n_trees: int, n_nodes: int, n_levels: int) -> int:
    """Size of the branch queue that a search of ``max_leaves`` leaves can need.

    Each descent to a leaf queues at most one far child per level, and no node is queued
    twice.
    """
    return int(min(n_trees * n_nodes, n_trees + max_leaves * max(n_levels, 1)))


# --------------------------------------------------------------------------------------
# Prefetching
# --------------------------------------------------------------------------------------


@intrinsic
def _prefetch(typingctx, arr, index):
    """Hint the CPU to fetch the cache line holding element ``index`` of C-contiguous ``arr``."""
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(arr)(context, builder, args[0])
        pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(8).as_pointer())
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [pointer.type, int32, int32, int32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
        # read access, keep in all cache levels, data cache
        builder.call(function, [pointer, ir.Constant(int32, 0), ir.Constant(int32, 3),
                                ir.Constant(int32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def prefetch_range(arr, start, count):
    """Prefetch ``count`` elements of C-contiguous ``arr`` from flat index ``start``.

    One hint per cache line. Taking flat indices rather than a sub-array avoids creating an
    array view (whose reference counting would cost more than the hint).
    """
    step = max(1, CACHE_LINE_BYTES // arr.itemsize)
    for offset in range(0, count, step):
        _prefetch(arr, start + offset)


# --------------------------------------------------------------------------------------
# Branch queue: a binary min-heap of (bound, node)
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _queue_less(key1, node1, key2, node2):
    return key1 < key2 or (key1 == key2 and node1 < node2)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def queue_push(keys, nodes, size, key, node):
    """Insert ``(key, node)`` into the min-heap of ``size`` entries; return the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if _queue_less(key, node, keys[parent], nodes[parent]):
            keys[pos] = keys[parent]
            nodes[pos] = nodes[parent]
            pos = parent
        else:
            break
    keys[pos] = key
    nodes[pos] = node
    return size + 1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def queue_pop(keys, nodes, size):
    """Remove the smallest entry of the min-heap; return ``(key, node, new_size)``."""
    top_key = keys[0]
    top_node = nodes[0]
    size -= 1
    key = keys[size]
    node = nodes[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _queue_less(keys[right], nodes[right], keys[child], nodes[child]):
            child = right
        if _queue_less(keys[child], nodes[child], key, node):
            keys[pos] = keys[child]
            nodes[pos] = nodes[child]
            pos = child
        else:
            break
    if size > 0:
        keys[pos] = key
        nodes[pos] = node
    return top_key, top_node, size


# --------------------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def bounded_reduced_distance(points, row, query, metric, p, bound):
    """Reduced distance between ``points[row]`` and ``query``, abandoned above ``bound``.

    Accumulates in float64, coordinate after coordinate as
    :func:`kdforge._distance.reduced_distance` does (so a complete sum has the same value),
    and returns the partial sum as soon as it exceeds ``bound`` at one of the checks made
    every :data:`EARLY_EXIT_BLOCK` coordinates (partial sums never decrease).
    """
    n_dims = query.shape[0]
    acc = 0.0
    start = 0
    while start < n_dims:
        stop = min(start + EARLY_EXIT_BLOCK, n_dims)
        if metric == METRIC_L2:
            for c in range(start, stop):
                diff = np.float64(points[row, c]) - np.float64(query[c])
                acc += diff * diff
        elif metric == METRIC_L1:
            for c in range(start, stop):
                acc += abs(np.float64(points[row, c]) - np.float64(query[c]))
        elif metric == METRIC_LINF:
            for c in range(start, stop):
                diff = abs(np.float64(points[row, c]) - np.float64(query[c]))
                if diff > acc:
                    acc = diff
        else:
            for c in range(start, stop):
                acc += abs(np.float64(points[row, c]) - np.float64(query[c])) ** p
        if acc > bound:
            return acc
        start = stop
    return acc


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def code_distances(codes, block, count, query_code, weights, metric, p, bound, out):
    """Approximate reduced distances of the ``count`` points of a code block, into ``out``.

    ``codes[block, c, j]`` is the code of coordinate ``c`` of point ``j``; ``query_code[c]`` is
    the query's coordinate in code units and ``weights[c]`` is ``scale[c]**p`` (``scale[c]``
    for p = inf), so that ``out[j]`` approximates the reduced distance. Float32 arithmetic;
    the loops over points vectorise. Returns False, leaving partial sums, as soon as every
    point's partial sum exceeds ``bound`` (checked every :data:`EARLY_EXIT_BLOCK`
    coordinates).
    """
    n_dims = query_code.shape[0]
    for j in range(count):
        out[j] = 0.0
    exponent = np.float32(p)
    start = 0
    while start < n_dims:
        stop = min(start + EARLY_EXIT_BLOCK, n_dims)
        if metric == METRIC_L2:
            for c in range(start, stop):
                q = query_code[c]
                w = weights[c]
                for j in range(count):
                    diff = np.float32(codes[block, c, j]) - q
                    out[j] += w * (diff * diff)
        elif metric == METRIC_L1:
            for c in range(start, stop):
                q = query_code[c]
                w = weights[c]
                for j in range(count):
                    out[j] += w * abs(np.float32(codes[block, c, j]) - q)
        elif metric == METRIC_LINF:
            for c in range(start, stop):
                q = query_code[c]
                w = weights[c]
                for j in range(count):
                    out[j] = max(out[j], w * abs(np.float32(codes[block, c, j]) - q))
        else:
            for c in range(start, stop):
                q = query_code[c]
                w = weights[c]
                for j in range(count):
                    out[j] += w * abs(np.float32(codes[block, c, j]) - q) ** exponent
        alive = 0
        for j in range(count):
            alive += out[j] <= bound
        if alive == 0:
            return False
        start = stop
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def code_slack(query_code, scale, metric, p, transform_error):
    """Error terms of the approximate distances of :func:`code_distances` for one query.

    Returns ``(absolute, relative)``: with ``a`` the approximate reduced distance, the true
    distance is at least ``from_reduced(a * (1 - relative)) - absolute``. ``absolute``
    bounds the distance between a point and its decoded code (``scale / 2`` per coordinate,
    plus the rounding of the division), the effect of rounding the query code to float32,
    and ``transform_error``: how much the rounding of the transform to scan coordinates can
    change a distance (0 for the identity). ``relative`` covers the float32 arithmetic of
    the sum.
    """
    n_dims = query_code.shape[0]
    largest = 0.0
    for c in range(n_dims):
        largest = max(largest, abs(np.float64(query_code[c])))
    per_unit = 0.5 + 1e-6 + (largest + 1.0) * 2.0**-22  # code units, per coordinate
    if metric == METRIC_LINF:
        norm = 0.0
        for c in range(n_dims):
            norm = max(norm, scale[c])
    elif metric == METRIC_L1:
        norm = 0.0
        for c in range(n_dims):
            norm += scale[c]
    else:
        norm = 0.0
        for c in range(n_dims):
            norm += scale[c] ** p
        norm = norm ** (1.0 / p)
    relative = (n_dims + 8) * max(p, 1.0) * 2.0**-22 if metric != METRIC_LINF else 2.0**-21
    return per_unit * norm + transform_error, min(relative, 0.5)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _screen_bound(heap_top, absolute, relative, metric, p):
    """Approximate reduced distance above which a point cannot beat ``heap_top``."""
    if heap_top == np.inf:
        return np.inf
    limit = from_reduced(heap_top, metric, p) + absolute
    if metric == METRIC_L2:
        limit = limit * limit
    elif metric == METRIC_LINF or metric == METRIC_L1:
        pass
    else:
        limit = limit ** p
    return limit / (1.0 - relative)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _prune_limit(heap_top, transform_error, metric, p):
    """Reduced cell bound above which no point can beat ``heap_top``.

    Cell bounds are measured in the trees' coordinates, which a rounded transform may have
    moved by up to ``transform_error`` (0 for the identity) from the true distances.
    """
    if transform_error == 0.0 or heap_top == np.inf:
        return heap_top
    limit = from_reduced(heap_top, metric, p) + transform_error
    if metric == METRIC_L2:
        return limit * limit
    if metric == METRIC_LINF or metric == METRIC_L1:
        return limit
    return limit ** p


# --------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _in_heap(heap_idx, index):
    """Whether ``index`` is among the k candidates (a linear scan: k is small)."""
    for j in range(heap_idx.shape[0]):
        if heap_idx[j] == index:
            return True
    return False


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _offer(heap_dist, heap_idx, d, index, dedupe):
    """Offer a candidate to the k-best max-heap; with ``dedupe``, only if not there yet."""
    if _heap_less(d, index, heap_dist[0], heap_idx[0]) and not (dedupe and _in_heap(heap_idx, index)):
        heap_replace_top(heap_dist, heap_idx, d, index)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _enter_node(node, frame_queries, frame, qi, split_dim, split_value, tree, tree_base,
                root_offsets, offsets, touched, n_touched):
    """Set ``offsets[tree]`` to the cell offsets of ``node`` (numbered within its tree).

    The query is ``frame_queries[frame, qi]``. ``offsets[tree]`` holds the root offsets
    ``root_offsets[tree]`` except in the ``n_touched[tree]`` dimensions listed in
    ``touched[tree]``; those are reset first.
    """
    for t in range(n_touched[tree]):
        offsets[tree, touched[tree, t]] = root_offsets[tree, touched[tree, t]]
    count = 0
    child = node
    while child > 0:
        parent = (child - 1) >> 1
        dim = split_dim[tree_base + parent]
        diff = np.float64(frame_queries[frame, qi, dim]) - np.float64(split_value[tree_base + parent])
        gap = diff if child == 2 * parent + 1 else -diff  # left cell x <= split, right x >= split
        if gap > offsets[tree, dim]:
            offsets[tree, dim] = gap
            touched[tree, count] = dim
            count += 1
        child = parent
    n_touched[tree] = count


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _scan_rows(tree_data, idx_array, start, stop, query, metric, p, heap_dist, heap_idx):
    """Offer rows ``[start, stop)`` of ``tree_data`` (one tree: no duplicates) to the heap."""
    for row in range(start, stop):
        d = bounded_reduced_distance(tree_data, row, query, metric, p, heap_dist[0])
        if d <= heap_dist[0]:
            index = np.int64(idx_array[row])
            if _heap_less(d, index, heap_dist[0], heap_idx[0]):
                heap_replace_top(heap_dist, heap_idx, d, index)


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _scan_codes(codes, block, points, idx_array, start, stop, query, query_code, weights,
                absolute, relative, metric, p, heap_dist, heap_idx, approx, dedupe):
    """Screen a code block with approximate distances; measure and offer the survivors.

    A point survives when its approximate distance, relaxed by the error bound
    (:func:`code_slack`), could still beat the current k-th best; it is then measured
    exactly from ``points`` (rows ``idx_array[start:stop]``).
    """
    count = stop - start
    screen = _screen_bound(heap_dist[0], absolute, relative, metric, p)
    if not code_distances(codes, block, count, query_code, weights, metric, p, screen, approx):
        return
    for j in range(count):
        if approx[j] <= screen:
            index = np.int64(idx_array[start + j])
            d = reduced_distance(points, index, query, metric, p)
            if d <= heap_dist[0]:
                _offer(heap_dist, heap_idx, d, index, dedupe)
                screen = _screen_bound(heap_dist[0], absolute, relative, metric, p)


@njit(cache=True, nogil=True, error_model="numpy")
def bbf_batch(tree_data, codes, code_centre, code_scale, transform_error, points, idx_array,
              node_start, node_end, split_dim, split_value, root_lower, root_upper, n_nodes,
              n_internal, n_levels, frame_queries, scan_queries, queries, order, metric, p,
              prune_factor, bound_reduced, max_leaves, queue_size, sort_results, out_dist,
              out_idx):
    """Budgeted best-bin-first kNN of the rows ``order`` of ``queries`` over stacked trees.

    Parameters
    ----------
    tree_data : array of shape (n_rows, d)
        *Rows* layout (``codes`` empty): the points in tree order, trees one after the other,
        in the coordinates of ``queries``.
    codes : int8 array of shape (n_trees * n_leaves, d, leaf_capacity) or (0, d, 1)
        *Codes* layout: leaf ``l`` of tree ``t`` is ``codes[t * n_leaves + l]``, its column
        ``j`` the codes of row ``node_start[leaf] + j``, in the coordinates of
        ``scan_queries``.
    code_centre, code_scale : float64 arrays of shape (d,)
        Decoding: coordinate ``c`` is ``code_centre[c] + code_scale[c] * code``.
    transform_error : float64 array of shape (m,)
        Bound of the change of a distance to query ``i`` by the rounding of the transforms
        to split and scan coordinates (zero for the identity): cell bounds and code
        distances are relaxed by it, so that the search stays exact.
    points : array of shape (n, d)
        *Codes* layout: the points in original order, in the coordinates of ``queries``, for
        the exact distances.
    idx_array : int array of shape (n_rows,)
        Original index of each row.
    node_start, node_end : int arrays of shape (n_trees * n_nodes,)
        Row range of each node (rows of the stack, not of the tree).
    split_dim, split_value : arrays of shape (n_trees * n_nodes,)
        Split of each internal node.
    root_lower, root_upper : arrays of shape (n_trees, d)
        Bounding box of each tree's points in its split coordinates: its root cell.
    n_nodes, n_internal, n_levels : int
        Nodes per tree, internal nodes per tree (nodes ``>= n_internal`` are leaves) and
        splitting levels; the same for every tree.
    frame_queries : array of shape (n_frames, m, d)
        The queries in the coordinates the trees were split in: tree ``t`` descends with
        ``frame_queries[t]``, or ``frame_queries[0]`` when ``n_frames == 1``. Cell bounds
        are measured there, so frames other than the identity must preserve the metric
        (rotations, for p = 2).
    scan_queries : float64 array of shape (m, d) or (0, d)
        *Codes* layout: the queries in the coordinates of the codes (before centring).
    queries : array of shape (m, d)
        The queries in the coordinates of ``tree_data`` / ``points``.
    order : int64 array
        Rows of ``queries`` to answer.
    metric, p : int, float
        Metric code and Minkowski order (see :mod:`kdforge._distance`).
    prune_factor : float
        ``(1 + eps) ** p`` (``1 + eps`` for p = inf): a branch is dropped when its bound times
        this factor exceeds the current k-th best, as in :func:`kdforge._knn.knn_batch`.
    bound_reduced : float
        Reduced ``distance_upper_bound``: only points strictly closer are returned.
    max_leaves : int
        Leaves to scan at most, over all trees together.
    queue_size : int
        Capacity of the branch queue (:func:`queue_capacity`).
    sort_results : bool
        Sort each row by increasing (distance, index).
    out_dist, out_idx : arrays of shape (m, k)
        Receive distances and original indices in rows ``order``; ``inf`` / ``-1`` where
        fewer than k points were found.
    """
    n_trees = root_lower.shape[0]
    n_frames = frame_queries.shape[0]
    n_dims = queries.shape[1]
    use_codes = codes.shape[0] > 0
    block_size = codes.shape[1] * codes.shape[2]
    n_leaves = n_nodes - n_internal
    dedupe = n_trees > 1
    k = out_dist.shape[1]
    heap_dist = np.empty(k, dtype=np.float64)
    heap_idx = np.empty(k, dtype=np.int64)
    queue_keys = np.empty(queue_size, dtype=np.float64)
    queue_nodes = np.empty(queue_size, dtype=np.int64)
    root_offsets = np.empty((n_trees, n_dims), dtype=np.float64)
    offsets = np.empty((n_trees, n_dims), dtype=np.float64)
    touched = np.empty((n_trees, max(n_levels, 1)), dtype=np.int64)
    n_touched = np.zeros(n_trees, dtype=np.int64)
    approx = np.empty(codes.shape[2], dtype=np.float32)
    query_code = np.zeros(n_dims, dtype=np.float32)
    weights = np.empty(n_dims, dtype=np.float32)
    for c in range(n_dims):
        weights[c] = code_scale[c] if metric == METRIC_LINF else code_scale[c] ** p
    absolute = 0.0
    relative = 0.0
    # Cell bounds are updated incrementally (one term out, one in), so they carry rounding
    # errors of a few ulps per level; where a bound equals a distance exactly (duplicate
    # points, flat boxes) it could come out above it and drop a tied point. Bounds are
    # shrunk by this factor before every comparison, which keeps the search exact.
    shrink = prune_factor * (1.0 - (2 * n_levels + n_dims + 8) * 2.0**-52)
    for qi in order:
        query = queries[qi]
        if use_codes:
            for c in range(n_dims):
                query_code[c] = (scan_queries[qi, c] - code_centre[c]) / code_scale[c]
            absolute, relative = code_slack(query_code, code_scale, metric, p,
                                            transform_error[qi])
        heap_dist[:] = bound_reduced
        heap_idx[:] = -1
        limit = _prune_limit(heap_dist[0], transform_error[qi], metric, p)
        size = 0
        for tree in range(n_trees):
            reduced = root_distance(frame_queries[min(tree, n_frames - 1), qi], root_lower[tree],
                                    root_upper[tree], root_offsets[tree], metric, p)
            size = queue_push(queue_keys, queue_nodes, size, reduced, tree * n_nodes)
        offsets[:] = root_offsets
        n_touched[:] = 0
        leaves = 0
        pending = -1  # stack number of the leaf found but not scanned yet
        while True:
            # Find the next leaf and prefetch it, then scan the pending one meanwhile.
            found = -1
            if size > 0 and leaves < max_leaves:
                reduced, g, size = queue_pop(queue_keys, queue_nodes, size)
                # The limit can only shrink with the pending leaf: stopping is safe.
                if reduced * shrink > limit:
                    size = 0
                else:
                    tree = g // n_nodes
                    node = g - tree * n_nodes
                    base = tree * n_nodes
                    frame = min(tree, n_frames - 1)
                    _enter_node(node, frame_queries, frame, qi, split_dim, split_value, tree,
                                base, root_offsets, offsets, touched, n_touched)
                    while node < n_internal:
                        dim = split_dim[base + node]
                        diff = (np.float64(frame_queries[frame, qi, dim])
                                - np.float64(split_value[base + node]))
                        if diff < 0.0:
                            near = 2 * node + 1
                            diff = -diff
                        else:
                            near = 2 * node + 2
                        if metric == METRIC_LINF:
                            far_reduced = max(reduced, diff)
                        else:
                            far_reduced = (reduced - axis_term(offsets[tree, dim], metric, p)
                                           + axis_term(diff, metric, p))
                        if far_reduced * shrink <= limit:
                            size = queue_push(queue_keys, queue_nodes, size, far_reduced,
                                              base + 4 * node + 3 - near)
                        node = near
                    leaves += 1
                    found = base + node
                    if use_codes:
                        prefetch_range(codes, (tree * n_leaves + node - n_internal) * block_size,
                                       block_size)
                    else:
                        prefetch_range(tree_data, node_start[found] * n_dims,
                                       (node_end[found] - node_start[found]) * n_dims)
            if pending >= 0:
                if use_codes:
                    tree = pending // n_nodes
                    block = tree * n_leaves + pending - tree * n_nodes - n_internal
                    _scan_codes(codes, block, points, idx_array, node_start[pending],
                                node_end[pending], query, query_code, weights, absolute,
                                relative, metric, p, heap_dist, heap_idx, approx, dedupe)
                else:
                    _scan_rows(tree_data, idx_array, node_start[pending], node_end[pending],
                               query, metric, p, heap_dist, heap_idx)
                limit = _prune_limit(heap_dist[0], transform_error[qi], metric, p)
            if found < 0:
                break
            pending = found
        write_result_row(heap_dist, heap_idx, sort_results, metric, p, out_dist[qi], out_idx[qi])


def query_tree(tree, queries, order, metric, p, prune_factor, bound_reduced, max_leaves,
               sort_results, out_dist, out_idx, workers):
    """Budgeted search of one :class:`~kdforge.tree.KDTree` (its ``query(max_leaves=...)``).

    Fills ``out_dist`` / ``out_idx`` (shape (m, k)) for the validated ``queries``, answering
    them in ``order`` on ``workers`` threads; the other arguments are those of
    :func:`bbf_batch`.
    """
    n_dims = queries.shape[1]
    size = queue_capacity(max_leaves, 1, tree.n_nodes, tree.n_levels)
    no_codes = empty_codes(n_dims)
    no_scan = np.empty((0, n_dims))
    unit = np.ones(n_dims)
    exact_frames = np.zeros(queries.shape[0])
    root_lower = tree._node_bounds[0, :1]
    root_upper = tree._node_bounds[1, :1]

    def task(start, stop):
        bbf_batch(tree._tree_data, no_codes, unit, unit, exact_frames,
                  tree._tree_data, tree._idx_array, tree._node_start, tree._node_end,
                  tree._split_dim, tree._split_value, root_lower, root_upper, tree.n_nodes,
                  tree.n_internal, tree.n_levels, queries[None], no_scan, queries,
                  order[start:stop], metric, p, prune_factor, bound_reduced, max_leaves, size,
                  sort_results, out_dist, out_idx)

    run_chunked(task, queries.shape[0], workers)


@njit(cache=True, nogil=True, error_model="numpy")
def encode_leaves(scan_points, idx_array, node_start, node_end, n_internal, centre, scale,
                  out):
    """Fill the code blocks of one tree's leaves (see :func:`bbf_batch`).

    ``scan_points`` are the points in original order and scan coordinates (float64);
    ``out[l, c, j]`` receives the code of coordinate ``c`` of the ``j``-th row of leaf
    ``n_internal + l``; unused columns are zero.
    """
    out[:] = 0
    for leaf in range(out.shape[0]):
        start = node_start[n_internal + leaf]
        for j in range(node_end[n_internal + leaf] - start):
            row = idx_array[start + j]
            for c in range(scan_points.shape[1]):
                value = round((scan_points[row, c] - centre[c]) / scale[c])
                out[leaf, c, j] = np.int8(min(CODE_MAX, max(-CODE_MAX, value)))


def code_parameters(scan_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and per-dimension scale of the 8-bit codes of float64 ``scan_points``.

    The centre is the middle of each coordinate's range and the scale maps half the range
    to :data:`CODE_MAX`, so no code clips. Coordinates with no range, or a range that is rounding
    noise next to the data's extent, get a floor scale (their codes are then 0).
    """
    lower = scan_points.min(axis=0)
    upper = scan_points.max(axis=0)
    centre = 0.5 * (lower + upper)
    half_range = np.maximum(upper - centre, centre - lower)
    # A coordinate whose range is rounding noise next to the data's extent (a flat axis of
    # rotated data) gets the floor scale: a tiny scale would make far queries' code-space
    # offsets so large that the float32 approximate distance loses its error bound.
    extent = max(float(half_range.max()), float(np.abs(centre).max()))
    floor = np.finfo(np.float32).eps * extent if extent > 0 else 1.0
    scale = np.where(half_range > floor, half_range, floor) / CODE_MAX
    # A scale slightly above the exact one keeps every |code| <= CODE_MAX despite rounding.
    scale = scale * (1.0 + 4 * np.finfo(np.float64).eps)
    return np.ascontiguousarray(centre), np.ascontiguousarray(scale)


def empty_codes(n_dims: int) -> np.ndarray:
    """The ``codes`` argument of :func:`bbf_batch` for the rows layout."""
    return np.zeros((0, n_dims, 1), dtype=np.int8)

