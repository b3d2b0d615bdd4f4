"""Internal entry points of every tree query: validated input in, results out.

The public methods of :class:`~kdforge.KDTree` check their arguments once
(:mod:`kdforge._validation`) and call these functions, which trust them, split the batch
over threads (:mod:`kdforge._parallel`) and call the kernels of :mod:`kdforge._kernels`
with the tree's :class:`~kdforge.record.TreeRecord`. Other indexes that hold a tree
(:class:`~kdforge.NeighborIndex`, the word index) call them too, so no input is checked
twice.
"""

from __future__ import annotations

import threading

import numpy as np

from ._kernels.bbf import bbf_batch, identity_frames, stack_of_tree
from ._kernels.box import box_query_batch
from ._kernels.distance import metric_code, to_reduced
from ._kernels.knn import knn_batch
from ._kernels.locate import box_distance_pairs, find_point_batch
from ._kernels.radius import MODE_COUNT, MODE_DISTANCES, MODE_INDICES, radius_batch
from ._kernels.traversal import find_leaf_batch, leaf_order
from ._compile import notice_compile
from ._parallel import run_chunked
from .record import TreeRecord
from .results import ResultSizeError, join_segments, sort_csr_rows

__all__ = ["MODE_COUNT", "MODE_INDICES", "MODE_DISTANCES", "query_order", "knn", "radius",
           "box", "find_leaf", "find_point", "distance_to_node"]

#: Largest pruning factor ``(1 + eps)**p``: beyond it every cell but the query's own is
#: pruned anyway, and an infinite factor would turn a zero cell distance into NaN.
MAX_PRUNE_FACTOR = 1e300
#: Batches of at least this many queries on trees whose points take at least this many
#: bytes are answered in leaf order (:func:`query_order`); below, sorting costs more than it
#: saves. Measured on 3-D float64 kNN (k = 8, 2e4 queries, this machine's caches): 100k
#: points break even, 300k points gain 8% with the ordering paid, 1e6 points 30%.
LOCALITY_MIN_QUERIES = 2048
LOCALITY_MIN_BYTES = 6 << 20


def locality_min_points(n_dims: int, dtype) -> int:
    """Fewest points of ``n_dims`` dimensions and ``dtype`` whose queries are leaf-ordered."""
    return -(-LOCALITY_MIN_BYTES // (n_dims * np.dtype(dtype).itemsize))


def query_order(tree: TreeRecord, queries: np.ndarray) -> tuple[np.ndarray, bool]:
    """Order in which to answer a batch, and whether it differs from the given order.

    Big batches on big trees are answered leaf by leaf: queries that fall in nearby leaves
    then run one after another and find the same points in cache. The order changes speed
    only, never results.
    """
    m = queries.shape[0]
    if m < LOCALITY_MIN_QUERIES or tree.tree_data.nbytes < LOCALITY_MIN_BYTES:
        return np.arange(m, dtype=np.int64), False
    return leaf_order(tree, queries), True


def knn(tree: TreeRecord, queries: np.ndarray, k: int, p: float, eps: float, bound: float,
        sort_results: bool, workers: int, max_leaves: int | None = None):
    """k nearest neighbours: ``(dist, idx)`` of shape (m, k) (see ``KDTree.query``).

    ``max_leaves`` (None: exact search) runs the budgeted best-bin-first search.
    """
    metric = metric_code(p)
    with np.errstate(over="ignore"):  # huge eps or bounds: no pruning factor / no bound
        prune_factor = np.float64(1.0 + eps) if np.isinf(p) else np.float64(1.0 + eps) ** p
        bound_reduced = float(to_reduced.py_func(np.float64(bound), metric, p))
    if bound_reduced == 0.0:  # a subnormal bound squares to 0: keep exact matches (0 < bound)
        bound_reduced = float(np.nextafter(0.0, 1.0))
    prune_factor = float(min(prune_factor, MAX_PRUNE_FACTOR))
    m = queries.shape[0]
    notice_compile("knn" if max_leaves is None else "budgeted kNN", tree.tree_data.dtype)
    dist = np.empty((m, k), dtype=tree.tree_data.dtype)
    idx = np.empty((m, k), dtype=np.int64)
    order, _ = query_order(tree, queries)
    if max_leaves is None:

        def task(start, stop):
            knn_batch(tree, queries, order[start:stop], metric, p, prune_factor, bound_reduced,
                      sort_results, dist, idx)
    else:
        stack = stack_of_tree(tree)
        frames = identity_frames(queries)

        def task(start, stop):
            bbf_batch(stack, frames, order[start:stop], metric, p, prune_factor, bound_reduced,
                      max_leaves, sort_results, dist, idx)

    run_chunked(task, m, workers)
    return dist, idx


def radius(tree: TreeRecord, queries: np.ndarray, radii: np.ndarray, p: float, mode: int,
           sort_results: bool, workers: int, max_results: int | None = None):
    """Neighbours within ``radii`` in CSR form: ``(indptr, indices, distances)``.

    ``mode`` is ``MODE_COUNT`` (``indices`` and ``distances`` None), ``MODE_INDICES``
    (``distances`` None) or ``MODE_DISTANCES``. With ``sort_results`` (needs
    ``MODE_DISTANCES``) each row is sorted by (distance, index). With ``max_results``, a
    :class:`~kdforge.results.ResultSizeError` stops the search as soon as more neighbours
    than that are found (counts alone are never limited).
    """
    metric = metric_code(p)
    with np.errstate(over="ignore"):  # radii beyond the float range: no bound
        radii_reduced = to_reduced.py_func(radii, metric, p)
    notice_compile("radius", tree.tree_data.dtype)
    probe = np.empty(0, dtype=tree.tree_data.dtype)
    order, permuted = query_order(tree, queries)

    found = [0]
    lock = threading.Lock()

    def task(start, stop):
        part = radius_batch(tree, queries, order[start:stop], radii_reduced, metric, p, mode,
                            probe)
        if max_results is not None and mode != MODE_COUNT:
            with lock:
                found[0] += part[1].shape[0]
                if found[0] > max_results:
                    raise ResultSizeError(max_results, found[0], "KDTree radius query")
        return part

    parts = run_chunked(task, queries.shape[0], workers)
    counts = [part[0] for part in parts]
    values = [] if mode == MODE_COUNT else [[part[1] for part in parts]]
    if mode == MODE_DISTANCES:
        values.append([part[2] for part in parts])
    del parts  # join_segments frees each chunk once copied
    starts = np.cumsum([0] + [c.shape[0] for c in counts])
    segment_rows = [order[a:b] for a, b in zip(starts[:-1], starts[1:])] if permuted else None
    indptr, grouped = join_segments(queries.shape[0], counts, values, segment_rows)
    indices = grouped[0] if mode != MODE_COUNT else None
    distances = grouped[1] if mode == MODE_DISTANCES else None
    if sort_results and mode == MODE_DISTANCES:
        sort_csr_rows(indptr, indices, distances, workers)
    return indptr, indices, distances


def box(tree: TreeRecord, lo: np.ndarray, hi: np.ndarray, sort_results: bool, workers: int):
    """Points inside each closed box ``[lo[i], hi[i]]`` (float64, (m, d)): ``(indptr, indices)``."""
    notice_compile("box", tree.tree_data.dtype)

    def task(start, stop):
        return box_query_batch(tree, lo[start:stop], hi[start:stop])

    parts = run_chunked(task, lo.shape[0], workers)
    indptr, (indices,) = join_segments(lo.shape[0], [part[0] for part in parts],
                                       [[part[1] for part in parts]])
    if sort_results:
        sort_csr_rows(indptr, indices, None, workers)
    return indptr, indices


def find_leaf(tree: TreeRecord, queries: np.ndarray, workers: int) -> np.ndarray:
    """Leaf whose cell contains each query, int64 of shape (m,)."""
    notice_compile("node queries", tree.tree_data.dtype)
    out = np.empty(queries.shape[0], dtype=np.int64)

    def task(start, stop):
        find_leaf_batch(tree, queries[start:stop], out[start:stop])

    run_chunked(task, queries.shape[0], workers)
    return out


def find_point(tree: TreeRecord, queries: np.ndarray, first_only: bool, workers: int):
    """Data points equal to each query.

    Returns the smallest matching index or -1 per query (int64 (m,)) with ``first_only``,
    else ``(indptr, indices)`` with each row ascending.
    """

    def task(start, stop):
        return find_point_batch(tree, queries[start:stop], first_only)

    parts = run_chunked(task, queries.shape[0], workers)
    if first_only:
        return np.concatenate([part[1] for part in parts])
    indptr, (indices,) = join_segments(queries.shape[0], [part[0] for part in parts],
                                       [[part[1] for part in parts]])
    sort_csr_rows(indptr, indices, None, workers)
    return indptr, indices


def distance_to_node(lower: np.ndarray, upper: np.ndarray, queries: np.ndarray,
                     query_rows: np.ndarray, nodes: np.ndarray, p: float, dtype, workers: int):
    """Smallest and largest distance from ``queries[query_rows[i]]`` to box ``nodes[i]``.

    ``lower`` / ``upper`` (n_nodes, d) are the corners of the node boxes.
    """
    metric = metric_code(p)
    dmin = np.empty(nodes.shape[0], dtype=dtype)
    dmax = np.empty(nodes.shape[0], dtype=dtype)

    def task(start, stop):
        box_distance_pairs(lower, upper, queries, query_rows[start:stop], nodes[start:stop],
                           metric, p, dmin[start:stop], dmax[start:stop])

    run_chunked(task, nodes.shape[0], workers)
    return dmin, dmax
