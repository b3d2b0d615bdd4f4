"""Numba kernels of the sliding-midpoint build (``split="sliding_midpoint"``).

Each node has a *cell*, the region its ancestors' planes leave it (the root's is the tight
bounding box of all points). A node cuts its cell in the middle of the cell's longest side
(among the sides along which its points are not all equal): rows strictly below the
midpoint go left, the others right (:func:`~kdforge._kernels.select.partition_rows`). When
every point lies on one side, the plane slides to the nearest points: just past the lowest
value (its rows go left) or onto the highest (its rows go right), so that both sides keep
rows and a point equal to a plane lies on its right, where searches descend.
Cells stay fat where the data is sparse and the plane lies in empty space, which is what
makes the rule prune well on clustered and heavy-tailed data (Maneewongvatana and Mount,
"It's okay to be skinny, if your friends are fat"; pykdtree and ANN split the same way).

Two fallbacks keep the build O(n log n) whatever the data:

* a node whose points are all equal (a zero-width tight box) splits its rows in half, so
  duplicates still give leaves of at most ``leaf_size`` points and balanced subtrees that
  exact kNN can prune by index (``node_min_index``);
* below ``depth_limit`` a node splits at its median row on the widest side of its points
  instead, so the depth is at most ``depth_limit + log2(n)`` even on data whose extent
  shrinks geometrically (1, 2, 4, 8, ... on one axis would otherwise slide one point off at
  every level).

The record keeps every node's *tight* box (``node_bounds``): the leaves' are measured, the
others are the unions of their children's.

A subtree is built depth first into *piece* arrays, in pre-order, with children given by
their pre-order ids within the piece; :func:`place_piece` writes a finished piece into the
record's explicit layout (:mod:`kdforge.record`). Pieces touch disjoint rows, so they are
independent tasks for threads (:mod:`kdforge._build`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .build import rows_bounds
from .select import new_scratch, partition_rows, select_rows

#: Columns of a piece's integer array.
START, END, DIM, DEPTH, LEFT, RIGHT = 0, 1, 2, 3, 4, 5
#: ``DIM`` of a leaf, and of a node left for another piece (a task) by :func:`build_piece`.
LEAF = -1
TASK = -2


@njit(cache=True, nogil=True)
def _grown(ints, values, boxes, cells, count):
    """The piece arrays with twice the capacity, the first ``count`` nodes copied."""
    capacity = 2 * ints.shape[0]
    new_ints = np.empty((capacity, ints.shape[1]), dtype=np.int64)
    new_values = np.empty(capacity, dtype=values.dtype)
    new_boxes = np.empty((capacity, 2, boxes.shape[2]), dtype=boxes.dtype)
    new_cells = np.empty((capacity, 2, cells.shape[2]), dtype=np.float64)
    new_ints[:count] = ints[:count]
    new_values[:count] = values[:count]
    new_boxes[:count] = boxes[:count]
    new_cells[:count] = cells[:count]
    return new_ints, new_values, new_boxes, new_cells


@njit(cache=True, nogil=True)
def _column_range(points, start, end, dim):
    """Smallest and largest value of column ``dim`` over rows ``[start, end)`` (its dtype)."""
    lowest = points[start, dim]
    highest = lowest
    for row in range(start + 1, end):
        value = points[row, dim]
        lowest = min(lowest, value)
        highest = max(highest, value)
    return lowest, highest


@njit(cache=True, nogil=True)
def _split(points, idx, start, end, cell, depth_limited, tried, typed, scratch):
    """Split rows ``[start, end)`` of a node whose cell is ``cell`` (float64, (2, d)).

    The split side is the cell's longest along which the rows differ: sides are tried
    longest first, reading one column each (most nodes need one). ``tried`` is a boolean
    scratch array of d entries, ``typed`` one of the points' dtype. Returns ``(dim, value,
    mid)``: rows ``[start, mid)`` go left (``< value``, or ``<= value`` for a median split),
    rows ``[mid, end)`` right (``>= value``), both non-empty. The value is one of the
    points' dtype, so a point equal to it lies on the right, where searches descend for it.
    """
    n_dims = cell.shape[1]
    tried[:] = False
    while True:
        dim = -1
        widest = -1.0
        for c in range(n_dims):
            if not tried[c] and cell[1, c] - cell[0, c] > widest:
                dim = c
                widest = cell[1, c] - cell[0, c]
        if dim < 0:  # every point equal: halve the rows
            return 0, points[start, 0], start + (end - start) // 2
        lowest, highest = _column_range(points, start, end, dim)
        if highest > lowest:
            break
        tried[dim] = True
    if depth_limited:
        mid = start + (end - start) // 2
        select_rows(points, idx, start, end, mid, dim, 0.0, False, 0, scratch)
        return dim, points[mid, dim], mid
    # the cell's midpoint in the points' dtype (no overflow, unlike (lo + hi) / 2) ...
    typed[0] = 0.5 * cell[0, dim] + 0.5 * cell[1, dim]
    value = typed[0]
    if value <= lowest:  # ... slid up to just past the lowest points (they go left)
        value = np.nextafter(lowest, highest)
    elif value > highest:  # ... or down to the highest (they go right)
        value = highest
    offsets = scratch[0]
    mid = partition_rows(points, idx, start, end, dim, value, offsets[0], offsets[1])
    return dim, value, mid


@njit(cache=True, nogil=True)
def build_piece(points, idx, start, end, depth, cell, leaf_size, depth_limit, task_rows):
    """Build the subtree of rows ``[start, end)`` (its root at ``depth``) as a piece.

    Parameters
    ----------
    points, idx : arrays of shape (n, d) and (n,)
        The points in tree order and their indices, permuted together in rows
        ``[start, end)`` only.
    start, end, depth : int
        The subtree's rows and the depth of its root.
    cell : float64 array of shape (2, d)
        The root's cell (lower and upper corner).
    leaf_size, depth_limit : int
        A node of at most ``leaf_size`` rows is a leaf; a node at ``depth_limit`` or deeper
        splits at its median.
    task_rows : int
        A node other than the piece's root with at most this many rows is not built: it
        is recorded with ``DIM == TASK`` (its rows, depth and parent only), for another
        piece to build. 0 builds the whole subtree.

    Returns
    -------
    ints : int64 array of shape (count, 6)
        Per node in pre-order: ``START``, ``END``, ``DIM`` (``LEAF``, ``TASK`` or the split
        dimension), ``DEPTH``, ``LEFT``, ``RIGHT`` (children's pre-order ids; -1 at leaves).
    values : array of shape (count,)
        Split values (0 at leaves and tasks).
    boxes : array of shape (count, 2, d)
        Tight boxes of the leaves (undefined elsewhere: the record's internal boxes are the
        unions of their children's, :func:`~kdforge._kernels.build.merge_child_bounds`).
    cells : float64 array of shape (count, 2, d)
        Cells (for the tasks: the cell their piece starts from).
    """
    n_dims = points.shape[1]
    capacity = max(16, 4 * ((end - start) // max(leaf_size, 1)) + 16)
    ints = np.empty((capacity, 6), dtype=np.int64)
    values = np.empty(capacity, dtype=points.dtype)
    boxes = np.empty((capacity, 2, n_dims), dtype=points.dtype)
    cells = np.empty((capacity, 2, n_dims), dtype=np.float64)
    scratch = new_scratch(points, idx)
    box = np.empty((2, 1, n_dims), dtype=points.dtype)
    tried = np.empty(n_dims, dtype=np.bool_)
    typed = np.empty(1, dtype=points.dtype)
    # stack entries: start, end, depth, parent id (-1: none), side
    stack = np.empty((depth_limit + 80, 5), dtype=np.int64)
    stack_cells = np.empty((depth_limit + 80, 2, n_dims), dtype=np.float64)
    stack_cells[0] = cell
    stack[0, 0] = start
    stack[0, 1] = end
    stack[0, 2] = depth
    stack[0, 3] = -1
    stack[0, 4] = 0
    top = 1
    count = 0
    while top > 0:
        top -= 1
        lo, hi, level, parent, side = (stack[top, 0], stack[top, 1], stack[top, 2],
                                       stack[top, 3], stack[top, 4])
        if count == ints.shape[0]:
            ints, values, boxes, cells = _grown(ints, values, boxes, cells, count)
        node = count
        count += 1
        if parent >= 0:
            ints[parent, LEFT + side] = node
        ints[node, START] = lo
        ints[node, END] = hi
        ints[node, DEPTH] = level
        ints[node, LEFT] = -1
        ints[node, RIGHT] = -1
        values[node] = 0
        cells[node] = stack_cells[top]
        if parent >= 0 and hi - lo <= task_rows:
            ints[node, DIM] = TASK
            continue
        if hi - lo <= leaf_size:
            ints[node, DIM] = LEAF
            rows_bounds(points, lo, hi, box, 0)
            boxes[node] = box[:, 0]
            continue
        dim, value, mid = _split(points, idx, lo, hi, cells[node], level >= depth_limit, tried,
                                 typed, scratch)
        ints[node, DIM] = dim
        values[node] = value
        # the children's cells: the node's, cut at the plane
        stack_cells[top] = cells[node]
        stack_cells[top, 0, dim] = value
        stack_cells[top + 1] = cells[node]
        stack_cells[top + 1, 1, dim] = value
        # right first, so the left child is popped next: its id is node + 1
        stack[top, 0] = mid
        stack[top, 1] = hi
        stack[top, 2] = level + 1
        stack[top, 3] = node
        stack[top, 4] = 1
        stack[top + 1, 0] = lo
        stack[top + 1, 1] = mid
        stack[top + 1, 2] = level + 1
        stack[top + 1, 3] = node
        stack[top + 1, 4] = 0
        top += 2
    return ints[:count], values[:count], boxes[:count], cells[:count]


@njit(cache=True, nogil=True)
def piece_counts(ints):
    """``(internal nodes, leaves, deepest depth)`` of a piece without tasks."""
    n_split = 0
    deepest = 0
    for node in range(ints.shape[0]):
        if ints[node, DIM] >= 0:
            n_split += 1
        deepest = max(deepest, ints[node, DEPTH])
    return n_split, ints.shape[0] - n_split, deepest


@njit(cache=True, nogil=True)
def place_piece(ints, values, boxes, first_internal, first_leaf, parent, side, tree):
    """Write a piece without tasks into the explicit layout of ``tree`` (a TreeRecord):
    everything but the internal nodes' boxes.

    The piece's internal nodes become ids ``first_internal, first_internal + 1, ...`` and
    its leaves ``first_leaf, ...``, both in pre-order (so leaves stay left to right).
    ``parent`` (-1 for the root of the tree) gets the piece's root as its child ``side``.
    """
    count = ints.shape[0]
    ids = np.empty(count, dtype=np.int64)
    next_internal = first_internal
    next_leaf = first_leaf
    for node in range(count):
        if ints[node, DIM] >= 0:
            ids[node] = next_internal
            next_internal += 1
        else:
            ids[node] = next_leaf
            next_leaf += 1
    for node in range(count):
        g = ids[node]
        tree.node_start[g] = ints[node, START]
        tree.node_end[g] = ints[node, END]
        if ints[node, DIM] < 0:
            tree.node_bounds[0, g] = boxes[node, 0]
            tree.node_bounds[1, g] = boxes[node, 1]
        if ints[node, DIM] >= 0:
            tree.split_dim[g] = ints[node, DIM]
            tree.split_value[g] = values[node]
            for s in range(2):
                child = ids[ints[node, LEFT + s]]
                tree.node_children[g, s] = child
                tree.node_parent[child] = g
        else:
            tree.split_dim[g] = -1
            tree.split_value[g] = 0
    root = ids[0]
    tree.node_parent[root] = parent
    if parent >= 0:
        tree.node_children[parent, side] = root
