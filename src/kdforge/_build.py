"""Build a KD-tree's arrays, serially or on a pool of threads.

Every node's row range follows from ``(n, leaf_size, division)`` alone
(:func:`~kdforge._kernels.build.node_row_ranges`), so the build only has to choose each
internal node's split and bring its rows into order. It works on a private copy of the
points, ``tree_data``, permuting its rows and ``idx_array`` together.

Parallel schedule (``workers > 1``):

1. *Wide* phase: while there are fewer open nodes than threads, each open node is split
   with all threads working inside it: its bounding box, and every round of its selection
   on ranges of at least ``CHUNKED_MIN_ROWS`` rows, are cut into chunks
   (see :mod:`kdforge._kernels.select`). The root's first round copies the input into
   ``tree_data`` chunk by chunk as it partitions; a root too small to be split this way
   is copied first, by all threads.
2. *Task* phase: the open nodes become tasks, taken by ``workers`` lanes of the shared
   thread pool (:mod:`kdforge._parallel`). A task goes depth first: while its node has
   more than ``n / (TASKS_PER_WORKER * workers)`` rows it splits it, queues the right
   child as a new task and goes on with the left child, whose rows are still in its
   cache; then it builds the rest of the subtree whole. Lanes take queued tasks as they
   free up, oldest (biggest) first, so uneven subtrees balance out.

On one thread the build runs the same tasks (:data:`SERIAL_TASKS` of them) on the calling
thread. Between tasks a build can stop: a Ctrl-C (``KeyboardInterrupt``) or an error in
one task ends it after the tasks already running, within a fraction of a second.

Every kernel is ``nogil`` and serial; none uses Numba's ``parallel=True`` threading layers,
so any number of Python threads may build trees at once. The chunked partition does the
same work whichever thread runs which chunk, so the tree is identical for every value of
``workers``, the serial build included.
"""

from __future__ import annotations

import threading
from collections import deque
from functools import partial

import numpy as np

from ._kernels.build import (
    build_subtree,
    fill_node_min_index,
    merge_child_bounds,
    node_row_ranges,
    round_robin_dimension,
    rows_bounds,
    split_one_node,
    widest_dimension,
)
from ._kernels.select import (
    CHUNK_ROWS,
    CHUNKED_MIN_ROWS,
    SMALL_ROWS,
    advance,
    choose_threshold,
    copy_rows,
    misplaced_runs,
    new_scratch,
    partition_chunks,
    select_rows,
    swap_misplaced,
)
from ._compile import notice_compile
from ._parallel import on_pool_thread, run_calls, run_lanes
from ._kernels.midpoint import (
    DEPTH,
    DIM,
    END,
    LEAF,
    LEFT,
    START,
    TASK,
    build_piece,
    piece_counts,
    place_piece,
)
from .record import (
    DIVISION_MIDPOINT,
    SPLIT_MAX_SPREAD,
    SPLIT_ROUND_ROBIN,
    SPLIT_SLIDING_MIDPOINT,
    TreeRecord,
    frozen,
    heap_links,
    index_dtype_for,
    tree_levels,
    tree_shape,
)

__all__ = ["build_record", "PARALLEL_MIN_POINTS"]

#: Below this many points the build runs on the calling thread whatever ``workers`` says:
#: handing work to threads costs more than it saves.
PARALLEL_MIN_POINTS = 1 << 16
#: Subtree tasks per thread in the task phase: enough for uneven subtrees to balance out.
TASKS_PER_WORKER = 8
#: Smallest subtree task, in rows: below, the hand-off to a thread costs too much.
MIN_TASK_ROWS = 4 * SMALL_ROWS
#: On one thread the build runs as this many tasks, so that it can stop between them.
SERIAL_TASKS = 64
#: Extra depth a sliding-midpoint tree may take beyond four times the balanced depth before
#: its nodes split at the median (:func:`midpoint_depth_limit`).
MIDPOINT_DEPTH_SLACK = 64


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError("progress=True needs tqdm: install the extra with "
                          "`pip install kdforge[progress]` (or `pip install tqdm`)") from exc
    return tqdm(total=total, unit="pt", unit_scale=True, desc="building KDTree")


def _even_parts(n_items: int, n_parts: int) -> list[tuple[int, int]]:
    """``range(n_items)`` cut into at most ``n_parts`` contiguous non-empty (start, stop)."""
    edges = [n_items * i // n_parts for i in range(n_parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n_parts) if edges[i] < edges[i + 1]]


class _Build:
    """The record of a tree under construction and the schedule that fills it."""

    def __init__(self, data, leaf_size, split_rule, division):
        n_points, n_dims = data.shape
        index_dtype = index_dtype_for(n_points)
        self.data = data
        n_levels, n_nodes = tree_shape(n_points, leaf_size, division)
        self.n_internal = n_nodes // 2
        node_start = np.empty(n_nodes, dtype=index_dtype)
        node_end = np.empty(n_nodes, dtype=index_dtype)
        node_row_ranges(n_points, leaf_size, division, node_start, node_end)
        self.record = TreeRecord(
            tree_data=np.empty_like(data), idx_array=np.empty(n_points, dtype=index_dtype),
            node_start=node_start, node_end=node_end,
            split_dim=np.empty(n_nodes, dtype=np.int32),
            split_value=np.empty(n_nodes, dtype=data.dtype),
            node_bounds=np.empty((2, n_nodes, n_dims), dtype=data.dtype),
            leaf_size=leaf_size, split=split_rule, division=division, n_levels=n_levels)
        # the arrays the schedule works on, by the names of the selection kernels
        self.points = self.record.tree_data
        self.idx = self.record.idx_array
        self.node_start = node_start
        self.node_end = node_end

    def rows(self, node: int) -> int:
        return int(self.node_end[node] - self.node_start[node])

    def finish(self) -> TreeRecord:
        """The finished record, its arrays read-only."""
        children, parent = heap_links(self.node_start.shape[0], self.node_start.dtype)
        if self.record.split == SPLIT_ROUND_ROBIN:
            merge_child_bounds(self.record.node_bounds, children)
        return _finished(self.record._replace(node_children=children, node_parent=parent))

    # ------------------------------------------------------------------ serial
    def build_serial(self) -> None:
        """Build on the calling thread, in tasks so that a Ctrl-C stops it between them."""
        n_points = self.data.shape[0]
        copy_rows(self.data, self.points, self.idx, 0, n_points)
        self._run_tasks(1, [0], max(MIN_TASK_ROWS, n_points // SERIAL_TASKS), None)

    def _build_subtree(self, node: int) -> None:
        build_subtree(self.record, node)

    def _split_one(self, node: int) -> None:
        split_one_node(self.record, node)

    # ------------------------------------------------------------------ parallel
    def build_parallel(self, workers: int, bar) -> None:
        n_points = self.data.shape[0]
        open_nodes = [0]
        if workers > 1 and self._is_wide(0):
            # the root's first partition copies the input in (see partition_chunks)
            self._split_wide(workers, 0, copy_first=True)
            open_nodes = [1, 2]
        else:
            self._map(workers, copy_rows, [(self.data, self.points, self.idx, start, stop)
                                           for start, stop in _even_parts(n_points, workers)])
        while workers > 1 and len(open_nodes) < workers:
            wide = [node for node in open_nodes if self._is_wide(node)]
            if not wide:
                break
            for node in wide:
                self._split_wide(workers, node)
            open_nodes = [child for node in open_nodes
                          for child in ((2 * node + 1, 2 * node + 2) if node in wide else (node,))]
        tasks = TASKS_PER_WORKER * workers if workers > 1 else SERIAL_TASKS
        self._run_tasks(workers, open_nodes, max(MIN_TASK_ROWS, n_points // tasks), bar)

    def _is_wide(self, node: int) -> bool:
        """Whether ``node`` is split with all threads inside it."""
        return node < self.n_internal and self.rows(node) >= CHUNKED_MIN_ROWS

    @staticmethod
    def _map(workers: int, kernel, arg_list) -> None:
        """Run ``kernel(*args)`` for every args tuple, on ``workers`` threads."""
        run_calls([partial(kernel, *args) for args in arg_list], workers)

    def _split_wide(self, workers: int, node: int, copy_first: bool = False) -> None:
        """Split ``node`` with every thread working inside it; same result as a serial split.

        With ``copy_first`` (the root, before any row moved) the rows are read from the
        input and copied in by the first partition.
        """
        start = int(self.node_start[node])
        end = int(self.node_end[node])
        n_dims = self.points.shape[1]
        rows = self.data if copy_first else self.points  # the node's rows, as they stand
        node_bounds = self.record.node_bounds
        if self.record.split == SPLIT_MAX_SPREAD:
            parts = _even_parts(end - start, workers)
            partial = np.empty((2, len(parts), n_dims), dtype=self.points.dtype)
            self._map(workers, rows_bounds, [(rows, start + a, start + b, partial, i)
                                          for i, (a, b) in enumerate(parts)])
            node_bounds[0, node] = partial[0].min(axis=0)
            node_bounds[1, node] = partial[1].max(axis=0)
            dim = widest_dimension(node_bounds, node)
        else:
            dim = round_robin_dimension(node, n_dims)
        k = int(self.node_end[2 * node + 1])
        scratch = new_scratch(self.points, self.idx)
        # the rounds of select_rows on long ranges, with each partition spread over threads
        lo, hi, floor, has_floor, round_no = start, end, 0.0, False, 0
        while hi - lo >= CHUNKED_MIN_ROWS:
            threshold, equal_only = choose_threshold(rows, lo, hi, k, dim, floor, has_floor,
                                                     round_no, scratch)
            boundary = self._partition_wide(workers, lo, hi, dim, threshold, copy_first)
            rows = self.points
            copy_first = False
            round_no += 1
            lo, hi, floor, has_floor = advance(lo, hi, k, boundary, threshold, equal_only,
                                               floor, has_floor)
        select_rows(self.points, self.idx, lo, hi, k, dim, floor, has_floor, round_no, scratch)
        self.record.split_dim[node] = dim
        self.record.split_value[node] = self.points[k, dim]

    def _partition_wide(self, workers: int, lo: int, hi: int, dim: int,
                        threshold: float, copy_first: bool) -> int:
        """:func:`~kdforge._kernels.select.partition_chunked` with chunks and swaps on threads."""
        n_chunks = -(-(hi - lo) // CHUNK_ROWS)
        counts = np.empty(n_chunks, dtype=np.int64)
        self._map(workers, partition_chunks,
                  [(self.points, self.idx, lo, hi, dim, threshold, first, last, counts,
                    self.data, copy_first)
                   for first, last in _even_parts(n_chunks, workers)])
        boundary, left_start, left_cum, right_start, right_cum = misplaced_runs(lo, hi, counts)
        self._map(workers, swap_misplaced,
                  [(self.points, self.idx, left_start, left_cum, right_start, right_cum, a, b)
                   for a, b in _even_parts(int(left_cum[-1]), workers)])
        return int(boundary)

    def _run_tasks(self, workers: int, nodes: list[int], task_rows: int, bar) -> None:
        """Build the subtrees of ``nodes`` as tasks on ``workers`` lanes, depth first within each.

        A task splits its node while it has more than ``task_rows`` rows, queueing the right
        child as a new task and going on with the left one (whose rows it just touched, so
        they are in its cache), then builds the remaining subtree whole. A free lane takes
        the oldest queued task: the biggest pending subtree. ``nodes`` must not overlap.
        The lanes stop between tasks when one fails or the caller is interrupted.
        """
        pending = deque(nodes)
        state = {"running": 0}
        changed = threading.Condition()

        def process(node):
            while node < self.n_internal and self.rows(node) > task_rows:
                self._split_one(node)
                with changed:
                    pending.append(2 * node + 2)
                    changed.notify()
                node = 2 * node + 1
            self._build_subtree(node)
            return self.rows(node)

        def lane(cancel):
            while True:
                with changed:
                    while not pending and state["running"] and not cancel.is_set():
                        changed.wait(0.05)
                    if cancel.is_set() or not pending:
                        changed.notify_all()
                        return
                    node = pending.popleft()
                    state["running"] += 1
                try:
                    done_rows = process(node)
                finally:
                    with changed:
                        state["running"] -= 1
                        changed.notify_all()
                if bar is not None:
                    bar.update(done_rows)

        run_lanes(lane, workers)


def _finished(record: TreeRecord) -> TreeRecord:
    """``record`` with its ``node_min_index`` filled in and every array read-only."""
    min_index = np.empty_like(record.node_start)
    fill_node_min_index(record.idx_array, record.node_start, record.node_end,
                        record.node_children, min_index)
    return frozen(record._replace(node_min_index=min_index), copy="never")


def midpoint_depth_limit(n_points: int, leaf_size: int) -> int:
    """Depth below which a sliding-midpoint node splits at its median instead.

    Four times the depth ``L`` of the balanced tree plus :data:`MIDPOINT_DEPTH_SLACK`: deep
    enough for the tails of real data (Student-t(2) points in 9-D, 2e5 of them, reach depth
    89 where ``L`` is 14; a limit at 44 made their kNN queries measure 2.5x more points),
    and it bounds the depth of every tree by ``5 L + 64`` (see
    :mod:`kdforge._kernels.midpoint`), so that a pathological input costs at most that many
    passes over its rows.
    """
    return 4 * tree_levels(n_points, leaf_size) + MIDPOINT_DEPTH_SLACK


def _build_midpoint(data: np.ndarray, leaf_size: int, workers: int, bar) -> TreeRecord:
    """Build a sliding-midpoint tree: the top of the tree on the calling thread, then its
    subtrees (pieces of at most ``n / tasks`` rows) as tasks, then the explicit layout."""
    n_points, n_dims = data.shape
    index_dtype = index_dtype_for(n_points)
    points = np.empty_like(data)
    idx = np.empty(n_points, dtype=index_dtype)
    run_calls([partial(copy_rows, data, points, idx, start, stop)
               for start, stop in _even_parts(n_points, workers)], workers)
    depth_limit = midpoint_depth_limit(n_points, leaf_size)
    tasks = TASKS_PER_WORKER * workers if workers > 1 else SERIAL_TASKS
    task_rows = max(MIN_TASK_ROWS, n_points // tasks)
    root_cell = np.empty((2, n_dims))
    rows_bounds(points, 0, n_points, root_cell.reshape(2, 1, n_dims), 0)  # the data's box
    top_ints, top_values, top_boxes, top_cells = build_piece(
        points, idx, 0, n_points, 0, root_cell, leaf_size, depth_limit, task_rows)
    task_nodes = np.flatnonzero(top_ints[:, DIM] == TASK)
    # biggest first, so that uneven subtrees balance out over the threads
    by_size = task_nodes[np.argsort(top_ints[task_nodes, START] - top_ints[task_nodes, END],
                                    kind="stable")]

    def build_task(node):
        start, end, depth = (int(top_ints[node, column]) for column in (START, END, DEPTH))
        piece = build_piece(points, idx, start, end, depth, top_cells[node], leaf_size,
                            depth_limit, 0)
        if bar is not None:
            bar.update(end - start)
        return piece[:3]

    built = run_calls([partial(build_task, node) for node in by_size], workers)
    pieces = dict(zip(by_size.tolist(), built))
    counts = {node: piece_counts(piece[0]) for node, piece in pieces.items()}
    top_split = top_ints[:, DIM] >= 0
    n_internal = int(top_split.sum()) + sum(int(c[0]) for c in counts.values())
    n_nodes = 2 * n_internal + 1
    n_levels = max([int(top_ints[top_ints[:, DIM] != TASK, DEPTH].max())]
                   + [int(c[2]) for c in counts.values()])
    record = TreeRecord(
        tree_data=points, idx_array=idx,
        node_start=np.empty(n_nodes, dtype=index_dtype), node_end=np.empty(n_nodes, dtype=index_dtype),
        split_dim=np.empty(n_nodes, dtype=np.int32), split_value=np.empty(n_nodes, dtype=data.dtype),
        node_bounds=np.empty((2, n_nodes, n_dims), dtype=data.dtype), leaf_size=leaf_size,
        split=SPLIT_SLIDING_MIDPOINT, division=DIVISION_MIDPOINT, n_levels=n_levels,
        node_children=np.empty((n_internal, 2), dtype=index_dtype),
        node_parent=np.empty(n_nodes, dtype=index_dtype))
    _place_top(record, top_ints, top_values, top_boxes, pieces, counts, n_internal)
    merge_child_bounds(record.node_bounds, record.node_children)
    return _finished(record)


def _place_top(record: TreeRecord, ints, values, boxes, pieces: dict, counts: dict,
               n_internal: int) -> None:
    """Write the top piece (on the calling thread: a few hundred nodes) and place every task's
    piece in the explicit layout, numbering nodes in pre-order (internal nodes first, then
    leaves; :mod:`kdforge.record`)."""
    parent_of = {}
    for node in np.flatnonzero(ints[:, DIM] >= 0).tolist():
        parent_of[int(ints[node, LEFT])] = (node, 0)
        parent_of[int(ints[node, LEFT + 1])] = (node, 1)
    ids = {}
    next_internal, next_leaf = 0, n_internal
    placements = []
    for node in range(ints.shape[0]):  # pre-order
        parent, side = parent_of.get(node, (-1, 0))
        global_parent = ids[parent] if parent >= 0 else -1
        kind = int(ints[node, DIM])
        if kind == TASK:
            n_split, n_leaves, _ = counts[node]
            placements.append((node, next_internal, next_leaf, global_parent, side))
            ids[node] = next_internal if n_split else next_leaf
            next_internal += int(n_split)
            next_leaf += int(n_leaves)
            continue
        g = next_internal if kind >= 0 else next_leaf
        ids[node] = g
        if kind >= 0:
            next_internal += 1
        else:
            next_leaf += 1
        record.node_start[g], record.node_end[g] = ints[node, START], ints[node, END]
        if kind < 0:  # a leaf: internal boxes are merged from the children afterwards
            record.node_bounds[:, g] = boxes[node]
        record.split_dim[g] = kind if kind >= 0 else LEAF
        record.split_value[g] = values[node] if kind >= 0 else 0
        record.node_parent[g] = global_parent
        if global_parent >= 0:
            record.node_children[global_parent, side] = g
    for node, first_internal, first_leaf, parent, side in placements:
        piece_ints, piece_values, piece_boxes = pieces[node]
        place_piece(piece_ints, piece_values, piece_boxes, first_internal, first_leaf, parent,
                    side, record)


def build_record(data: np.ndarray, leaf_size: int, split_rule: int, division: int,
                 workers: int = 1, progress: bool = False) -> TreeRecord:
    """Build the record of a tree over validated ``data`` (C-contiguous float32/float64).

    Parameters
    ----------
    data : ndarray of shape (n, d)
    leaf_size : int
        Validated, >= 1.
    split_rule : int
        ``SPLIT_MAX_SPREAD``, ``SPLIT_ROUND_ROBIN`` or ``SPLIT_SLIDING_MIDPOINT``.
    division : int
        ``DIVISION_MEDIAN`` or ``DIVISION_ROOT``; ``DIVISION_MIDPOINT`` with (and only with)
        ``SPLIT_SLIDING_MIDPOINT``.
    workers : int
        Threads to use (validated, >= 1). The tree does not depend on it.
    progress : bool
        Show a tqdm progress bar (tqdm is imported only then).

    Returns
    -------
    TreeRecord
        Indices are int32 up to ``INDEX_INT32_LIMIT`` points, int64 beyond.
    """
    n_points = data.shape[0]
    notice_compile("build", data.dtype)
    bar = _progress_bar(n_points) if progress else None
    if n_points < PARALLEL_MIN_POINTS or on_pool_thread():
        workers = 1
    if split_rule == SPLIT_SLIDING_MIDPOINT:
        try:
            return _build_midpoint(data, leaf_size, workers, bar)
        finally:
            if bar is not None:
                bar.close()
    build = _Build(data, leaf_size, split_rule, division)
    if workers == 1 and bar is None:
        build.build_serial()
        return build.finish()
    try:
        build.build_parallel(workers, bar)
    finally:
        if bar is not None:
            bar.close()
    return build.finish()
