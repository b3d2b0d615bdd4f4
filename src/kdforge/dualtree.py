"""Dual-tree operations over two :class:`kdforge.KDTree` objects: pairs within a radius and
pair counts, with flat (CSR or chunked) output.

Both trees are descended together (:mod:`kdforge._kernels.dualtree`); the work is split over
threads by ranges of a frontier of the first tree's nodes (:func:`frontier`), with
:func:`kdforge._parallel.run_chunked`. Pairs come back as flat index arrays, never as
Python objects: the facades of :mod:`kdforge.scipy` build sets, lists or sparse matrices
from them only when their caller asks for those.

Public functions (:func:`pairs`, :func:`iter_pairs`, :func:`pairs_csr`,
:func:`count_pairs`) take trees and check their arguments; the ``_``-prefixed ones take
records and trust their input. ``periods`` (one period per axis, <= 0 for a plain axis)
makes axes toroidal; the trees' points must then lie in ``[0, period)`` on those axes (the
scipy facade wraps them before building).
"""

from __future__ import annotations

import numpy as np

from . import _validation as v
from ._kernels.distance import metric_code, to_reduced
from ._kernels.dualtree import count_pairs as _count_kernel
from ._kernels.dualtree import pairs_within as _pairs_kernel
from ._parallel import chunk_bounds, run_chunked
from .record import TreeRecord
from .results import NeighborsCSR

__all__ = ["frontier", "pairs", "iter_pairs", "pairs_csr", "count_pairs", "pair_order"]

#: Nodes per thread chunk of the frontier, so that run_chunked splits it (its MIN_CHUNK).
FRONTIER_NODES_PER_WORKER = 1024


def frontier(tree: TreeRecord, workers: int) -> np.ndarray:
    """Nodes of ``tree`` whose subtrees partition its rows, to split among ``workers`` threads.

    Starting from the root, every internal node of the frontier is replaced by its two
    children, level by level, until the frontier holds about ``workers *
    FRONTIER_NODES_PER_WORKER`` nodes or only leaves; nodes stay in left-to-right order.
    One thread: the root. Returns an int64 array.
    """
    nodes = np.zeros(1, dtype=np.int64)
    if workers <= 1:
        return nodes
    wanted = workers * FRONTIER_NODES_PER_WORKER
    n_internal = tree.node_start.shape[0] // 2
    while nodes.shape[0] < wanted:
        internal = nodes < n_internal
        if not internal.any():
            break
        # an internal node becomes its (left, right) children, a leaf stays (itself, dropped)
        pieces = np.where(internal[:, None], tree.node_children[np.minimum(nodes, n_internal - 1)],
                          nodes[:, None])
        keep = np.ones(pieces.shape, dtype=bool)
        keep[:, 1] = internal
        nodes = pieces[keep].astype(np.int64)
    return nodes


def pair_order(left: np.ndarray, right: np.ndarray, n_right: int) -> np.ndarray:
    """Permutation sorting pairs by ``(left, right)`` (one int64 key: ``np.lexsort`` on two
    keys is ~10x slower)."""
    return np.argsort(left * np.int64(max(n_right, 1)) + right, kind="stable")


def _no_periods(n_dims: int) -> np.ndarray:
    return np.zeros(n_dims, dtype=np.float64)


def _pair_chunks(tree_a, tree_b, r, p, periods, self_join, with_distances, workers,
                 node_range=None):
    """Per-chunk ``(left, right, distances)`` triples of the pairs within ``r`` (trusted).

    ``node_range``: the frontier nodes of ``tree_a`` to start from (an int64 array; default:
    :func:`frontier`).
    """
    metric = metric_code(p)
    r_reduced = float(to_reduced.py_func(np.float64(r), metric, p))
    periodic = periods is not None and bool((periods > 0).any())
    periods = _no_periods(tree_a.tree_data.shape[1]) if periods is None else periods
    probe = np.empty(0, dtype=tree_a.tree_data.dtype)
    starts = frontier(tree_a, workers) if node_range is None else node_range

    def task(start, stop):
        return _pairs_kernel(tree_a, tree_b, starts, start, stop, r_reduced, metric, p,
                             periods, periodic, self_join, with_distances, probe)

    return run_chunked(task, starts.shape[0], workers)


def _pairs(tree_a: TreeRecord, tree_b: TreeRecord, r: float, p: float,
           periods: np.ndarray | None, self_join: bool, with_distances: bool, workers: int):
    """All pairs within ``r``: ``(left, right, distances)`` flat arrays (trusted input).

    ``distances`` is None unless ``with_distances``. Order: unspecified.
    """
    parts = _pair_chunks(tree_a, tree_b, r, p, periods, self_join, with_distances, workers)
    left = np.concatenate([part[0] for part in parts])
    right = np.concatenate([part[1] for part in parts])
    distances = np.concatenate([part[2] for part in parts]) if with_distances else None
    return left, right, distances


def _counts(tree_a: TreeRecord, tree_b: TreeRecord, radii: np.ndarray, p: float,
            weights_a: np.ndarray | None, weights_b: np.ndarray | None,
            periods: np.ndarray | None, workers: int) -> np.ndarray:
    """Weighted number of ordered pairs within each radius (trusted input).

    ``radii`` float64 of shape (n_r,), any order, >= 0; weights float64 in original order
    (None: all ones). Returns float64 (n_r,) cumulative counts, in the order of ``radii``.
    """
    metric = metric_code(p)
    order = np.argsort(radii, kind="stable")
    radii_reduced = np.ascontiguousarray(to_reduced.py_func(radii[order], metric, p),
                                         dtype=np.float64)
    periodic = periods is not None and bool((periods > 0).any())
    periods = _no_periods(tree_a.tree_data.shape[1]) if periods is None else periods
    cum_a = _tree_order_prefix(tree_a, weights_a)
    cum_b = _tree_order_prefix(tree_b, weights_b)
    starts = frontier(tree_a, workers)

    def task(start, stop):
        return _count_kernel(tree_a, tree_b, starts, start, stop, radii_reduced, metric,
                             p, periods, periodic, cum_a, cum_b)

    bins = np.sum(run_chunked(task, starts.shape[0], workers), axis=0)
    out = np.empty(radii.shape[0], dtype=np.float64)
    out[order] = np.cumsum(bins[:-1])
    return out


def _tree_order_prefix(tree: TreeRecord, weights: np.ndarray | None) -> np.ndarray:
    """Prefix sums of the weights in tree order, float64 of shape (n + 1,)."""
    n = tree.idx_array.shape[0]
    out = np.zeros(n + 1, dtype=np.float64)
    if weights is None:
        out[1:] = np.arange(1, n + 1, dtype=np.float64)
    else:
        np.cumsum(weights[tree.idx_array], out=out[1:])
    return out


# ---------------------------------------------------------------------- public, checked
def _check_pair(tree, other, name="other"):
    from .tree import KDTree

    if not isinstance(tree, KDTree):
        raise TypeError(f"tree must be a kdforge.KDTree, got {type(tree).__name__}")
    if other is None:
        return tree
    if not isinstance(other, KDTree):
        raise TypeError(f"{name} must be a kdforge.KDTree, got {type(other).__name__}")
    if other.n_dims != tree.n_dims:
        raise ValueError(f"{name} has {other.n_dims} dimension(s) but tree has {tree.n_dims}")
    if other.dtype != tree.dtype:
        raise TypeError(f"{name} has dtype {other.dtype} but tree has {tree.dtype}; "
                        "build both trees on the same float dtype")
    return other


def _check_scalar_radius(r, name="r") -> float:
    radius = v.check_radius(r, 1)
    if np.ndim(r) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(r)}")
    return float(radius[0])


def iter_pairs(tree, other=None, r=0.0, *, p=2, return_distance=False, workers=1):
    """Yield the pairs within distance ``r`` chunk by chunk: bounded memory for huge joins.

    Parameters
    ----------
    tree : kdforge.KDTree
    other : kdforge.KDTree or None
        The other tree; None for a self-join of ``tree`` (each pair ``i < j`` once).
    r : float
        Radius (>= 0): pairs with distance <= r.
    p : float, default 2
        Minkowski order.
    return_distance : bool, default False
        Also yield the distances.
    workers : int, default 1
        Threads per chunk; the tree is cut into ``4 * workers`` or more chunks.

    Yields
    ------
    left, right : int64 arrays
        Indices into ``tree`` and ``other`` of the chunk's pairs (for a self-join,
        ``left < right``).
    distances : array
        With ``return_distance``.
    """
    other_tree = _check_pair(tree, other)
    radius = _check_scalar_radius(r)
    p = v.check_p(p)
    workers = v.check_workers(workers)
    want = v.check_bool(return_distance, "return_distance")
    self_join = other is None
    record_a = tree.record
    record_b = other_tree.record
    starts = frontier(record_a, max(workers, 8))
    for start, stop in chunk_bounds(starts.shape[0], 8):
        parts = _pair_chunks(record_a, record_b, radius, p, None, self_join, want, workers,
                             starts[start:stop])
        left = np.concatenate([part[0] for part in parts])
        right = np.concatenate([part[1] for part in parts])
        distances = np.concatenate([part[2] for part in parts]) if want else None
        if self_join:
            left, right = np.minimum(left, right), np.maximum(left, right)
        yield (left, right, distances) if want else (left, right)


def pairs(tree, other=None, r=0.0, *, p=2, return_distance=False, workers=1):
    """All pairs within distance ``r``, as flat arrays sorted by ``(left, right)``.

    Parameters are those of :func:`iter_pairs`.

    Returns
    -------
    left, right : int64 arrays
    distances : array, with ``return_distance``
    """
    parts = list(iter_pairs(tree, other, r, p=p, return_distance=return_distance,
                            workers=workers))
    left = np.concatenate([part[0] for part in parts])
    right = np.concatenate([part[1] for part in parts])
    order = pair_order(left, right, (tree if other is None else other).n_points)
    out = (left[order], right[order])
    if return_distance:
        out = out + (np.concatenate([part[2] for part in parts])[order],)
    return out


def pairs_csr(tree, other=None, r=0.0, *, p=2, return_distance=False, workers=1) -> NeighborsCSR:
    """Pairs within ``r`` as CSR rows: row ``i`` holds the points of ``other`` (or of ``tree``)
    within ``r`` of point ``i`` of ``tree``, by increasing index.

    For a self-join (``other`` None) both ``(i, j)`` and ``(j, i)`` appear and ``(i, i)``
    does not. Three flat arrays however many pairs (:class:`kdforge.NeighborsCSR`).
    """
    result = pairs(tree, other, r, p=p, return_distance=return_distance, workers=workers)
    left, right = result[0], result[1]
    distances = result[2] if return_distance else None
    if other is None:
        left, right = np.concatenate([left, right]), np.concatenate([right, left])
        if distances is not None:
            distances = np.concatenate([distances, distances])
        order = pair_order(left, right, tree.n_points)
        left, right = left[order], right[order]
        distances = distances[order] if distances is not None else None
    indptr = np.zeros(tree.n_points + 1, dtype=np.int64)
    np.cumsum(np.bincount(left, minlength=tree.n_points), out=indptr[1:])
    return NeighborsCSR(indptr, right, distances)


def count_pairs(tree, other, r, *, p=2, weights=None, other_weights=None, cumulative=True,
                workers=1) -> np.ndarray:
    """Number (or total weight) of pairs ``(i, j)`` of ``tree`` x ``other`` within each radius.

    Parameters
    ----------
    tree, other : kdforge.KDTree
        Every ordered pair counts (``other`` may be ``tree``: then ``(i, i)`` counts too).
    r : float or array_like of shape (n_r,)
        Radii (>= 0).
    p : float, default 2
    weights, other_weights : array_like of shape (n,), optional
        Per-point weights; a pair counts ``w_i * w_j``.
    cumulative : bool, default True
        Pairs within each radius; else the pairs in each bin ``(r[k-1], r[k]]`` (``r`` must
        then be non-decreasing).
    workers : int, default 1

    Returns
    -------
    float64 array of shape (n_r,) (weighted) or int64 (unweighted)
    """
    _check_pair(tree, other)
    radii = np.atleast_1d(np.asarray(r))
    if radii.ndim != 1:
        raise ValueError(f"r must be a scalar or 1-D, got shape {radii.shape}")
    radii = v.check_radius(radii, radii.shape[0])
    p = v.check_p(p)
    workers = v.check_workers(workers)
    cumulative = v.check_bool(cumulative, "cumulative")
    if not cumulative and np.any(np.diff(radii) < 0):
        raise ValueError("r must be non-decreasing when cumulative is False")
    wa = _check_weights(weights, tree.n_points, "weights")
    wb = _check_weights(other_weights, other.n_points, "other_weights")
    out = _counts(tree.record, other.record, radii, p, wa, wb, None, workers)
    if not cumulative:
        out = np.diff(out, prepend=0.0)
    if wa is None and wb is None:
        return np.rint(out).astype(np.int64)
    return out


def _check_weights(weights, n, name):
    if weights is None:
        return None
    arr = v.as_real_array(weights, name, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
