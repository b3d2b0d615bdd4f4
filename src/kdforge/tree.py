"""The exact KD-tree: :class:`KDTree`.

Layout
------
The tree is *implicit* and pointer-free: node ``i`` has children ``2*i + 1`` and ``2*i + 2``
and parent ``(i - 1) // 2``. A tree with ``L`` splitting levels has ``2**L - 1`` internal
nodes followed by ``2**L`` leaves, all leaves at depth ``L``::

    level 0                 [0: rows 0..n)
                           /              \\
    level 1       [1: rows 0..m)        [2: rows m..n)        m = n // 2
                  /          \\           /           \\
    level 2     [3]          [4]        [5]           [6]     <- leaves when L = 2

    idx_array   | 7 2 9 | 0 4 1 | 8 3 5 | 6 ...               rows in tree order
                  leaf 3  leaf 4  leaf 5  ...

Every node owns a contiguous range of rows ``[idx_start, idx_end)``; a node with rows
``[s, e)`` splits at ``m = s + (e - s) // 2`` so siblings differ by at most one point and the
tree is balanced whatever the data. The arrays, with the meaning scikit-learn's
``KDTree.get_arrays()`` gives them:

``data`` : (n, d)
    The points as given (float32 or float64), never modified.
``idx_array`` : (n,) int32 (int64 when n > ``INDEX_INT32_LIMIT``)
    Row ``j`` in tree order is original point ``idx_array[j]``.
``tree_data`` : (n, d)
    The points reordered into tree order, ``tree_data[j] == data[idx_array[j]]``: every leaf's
    points are contiguous in memory, which is what makes queries fast. It is the one copy of
    the data the tree makes (n * d * itemsize bytes).
``node_data`` : (n_nodes,) structured
    Fields ``idx_start``, ``idx_end``, ``is_leaf``, ``split_dim`` (-1 for leaves) and
    ``split_value``. Points of the left child have ``x[split_dim] <= split_value``, points of
    the right child ``x[split_dim] >= split_value``.
``node_bounds`` : (2, n_nodes, d)
    ``node_bounds[0, i]`` / ``node_bounds[1, i]``: the lower / upper corner of the tight
    bounding box of node ``i``'s points.

Indices are int32 while ``n`` fits, halving the index memory and bandwidth; beyond it they are
int64 (a silent 32-bit overflow past 2**31 points is a known failure of other trees).
Query results always use int64 indices.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _validation as v
from ._build import SPLIT_MAX_SPREAD, SPLIT_ROUND_ROBIN, build_arrays
from ._distance import metric_code, to_reduced
from ._knn import knn_batch
from ._parallel import run_chunked
from ._radius import MODE_COUNT, MODE_DISTANCES, MODE_INDICES, radius_batch, reorder_rows
from ._traverse import leaf_order
from .io import PersistenceMixin
from .nodes import NodeMixin

__all__ = ["KDTree", "RadiusNeighbors", "INDEX_INT32_LIMIT", "DEFAULT_LEAF_SIZE"]

#: Largest number of points indexed with int32; larger trees use int64 indices.
INDEX_INT32_LIMIT = 2**31 - 1
#: Default maximum number of points per leaf.
DEFAULT_LEAF_SIZE = 16

#: Batches of at least this many queries on trees of at least this many points are answered
#: in leaf order (see ``KDTree._query_order``); below, sorting costs more than it saves.
LOCALITY_MIN_QUERIES = 2048
LOCALITY_MIN_POINTS = 65536

SPLIT_RULES = {"max_spread": SPLIT_MAX_SPREAD, "round_robin": SPLIT_ROUND_ROBIN}


class RadiusNeighbors(NamedTuple):
    """Radius-query result in compressed sparse row (CSR) form.

    The neighbours of query ``i`` are ``indices[indptr[i]:indptr[i + 1]]`` (and their distances
    the same slice of ``distances``). Three flat arrays, however many pairs: use this form when
    a radius query returns millions of neighbours.

    Attributes
    ----------
    indptr : int64 array of shape (m + 1,)
    indices : int64 array of shape (indptr[-1],)
    distances : array of shape (indptr[-1],) or None
        Present when distances were requested.
    """

    indptr: np.ndarray
    indices: np.ndarray
    distances: np.ndarray | None

    @property
    def counts(self) -> np.ndarray:
        """Number of neighbours of each query."""
        return np.diff(self.indptr)

    def to_lists(self):
        """Return the list-of-arrays form: object arrays of per-query index (and distance) arrays."""
        ind = _split_by_indptr(self.indices, self.indptr)
        if self.distances is None:
            return ind
        return ind, _split_by_indptr(self.distances, self.indptr)


def _split_by_indptr(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Object array of the per-row views ``values[indptr[i]:indptr[i + 1]]``."""
    out = np.empty(indptr.shape[0] - 1, dtype=object)
    bounds = indptr.tolist()  # Python ints slice faster than NumPy scalars (np.split: 3x slower)
    out[:] = [values[bounds[i]:bounds[i + 1]] for i in range(out.shape[0])]
    return out


def _concatenate(parts: list) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _read_only(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


class KDTree(NodeMixin, PersistenceMixin):
    """Exact KD-tree for nearest-neighbour and radius search under Minkowski metrics.

    Parameters
    ----------
    data : array_like of shape (n, d)
        Points to index. float32 stays float32 and float64 stays float64; other real dtypes
        become float64. The array is not modified; the tree keeps one reordered copy.
    leaf_size : int, default 16
        Maximum number of points in a leaf. With ``division="median"`` leaves hold between
        ``leaf_size / 2`` and ``leaf_size`` points (one or two when ``leaf_size == 1``); with
        ``division="root"`` every leaf but the last holds exactly ``leaf_size``. See Notes.
    split : {"max_spread", "round_robin"}, default "max_spread"
        How a node picks its split dimension: the dimension in which its points spread most,
        or the depth modulo d. See Notes.
    division : {"median", "root"}, default "median"
        Where a node splits. ``"median"``: at its middle row, so siblings differ by at most
        one point and all leaves lie at one depth. ``"root"``: ROOT's ``TKDTree`` rule, one
        child always holds a power-of-two number of full leaves; the tree is left-complete
        (heap-shaped) with ``ceil(n / leaf_size)`` leaves at two depths. The row ranges of
        both follow from ``n`` and ``leaf_size`` alone.
    workers : int, default -1
        Threads for the build; -1 uses all cores (-2 all but one, ...). The tree is
        identical for every value: the parallel build makes exactly the serial build's
        choices.
    progress : bool, default False
        Show a tqdm progress bar while building (needs the ``kdforge[progress]`` extra;
        tqdm is imported only then).

    Notes
    -----
    Queries release the GIL: one tree can be queried from many Python threads at once, and
    ``workers=`` splits one batch over a thread pool. Builds too release the GIL and may run
    from many threads at once.

    *Split rule* (measured on 10**6 points, 3-D): ``round_robin`` builds 10-25% faster (it
    computes no box before splitting a node) and queries as fast on uniform data, but kNN
    queries are 2x slower on clustered data and 7x slower on elongated data, where depth
    modulo d keeps cutting thin dimensions. Prefer ``max_spread`` (the default) unless the
    data is known to be uniform-like in every dimension and build time dominates.

    *Leaf size* (10**6 uniform 3-D points, ``division="root"`` to fix points per leaf, kNN
    k=16 on one thread): leaves of 8 points query 14% faster than leaves of 16 (kNN k=1:
    20%) but build 10% slower and double the node arrays (17 vs 8.5 bytes per point, next to
    the 28 of ``tree_data`` and ``idx_array``); leaves of 32 build 10% faster, halve the node
    arrays and query 20% slower. 16 balances the three; take 8 for query-heavy work, 32 for
    build-heavy or memory-bound work.

    *Division*: ``"median"`` trees have a power-of-two number of leaves, so their leaves
    hold on average anywhere between ``leaf_size / 2`` and ``leaf_size`` points depending on
    ``n`` (9.5 at 10**7 points with the default 16, 15.3 at 10**6); ``"root"`` trees always
    hold ``leaf_size``: fewer nodes (at 10**7 points, 40% fewer: less memory and a faster
    build) and queries that behave alike at every ``n``.

    Examples
    --------
    >>> import numpy as np, kdforge
    >>> points = np.random.default_rng(0).random((1000, 3))
    >>> tree = kdforge.KDTree(points)
    >>> dist, idx = tree.query(points[:5], k=3)
    >>> idx[:, 0].tolist()
    [0, 1, 2, 3, 4]
    """

    def __init__(self, data, leaf_size: int = DEFAULT_LEAF_SIZE, split: str = "max_spread",
                 *, division: str = "median", workers: int = -1, progress: bool = False):
        arr = v.as_data_array(data)
        leaf_size = v.check_leaf_size(leaf_size)
        if split not in SPLIT_RULES:
            raise ValueError(f"split must be one of {sorted(SPLIT_RULES)}, got {split!r}")
        workers = v.check_workers(workers)
        index_dtype = np.int32 if arr.shape[0] <= INDEX_INT32_LIMIT else np.int64
        arrays = build_arrays(arr, leaf_size, SPLIT_RULES[split], division, index_dtype,
                              workers, progress)
        self._data = arr
        self._leaf_size = leaf_size
        self._split = split
        self._division = division
        self._tree_data = arrays["tree_data"]
        self._idx_array = arrays["idx_array"]
        self._node_start = arrays["node_start"]
        self._node_end = arrays["node_end"]
        self._split_dim = arrays["split_dim"]
        self._split_value = arrays["split_value"]
        self._node_bounds = arrays["node_bounds"]
        self._n_levels = arrays["n_levels"]

    # ------------------------------------------------------------------ description
    @property
    def n_points(self) -> int:
        """Number of indexed points ``n``."""
        return self._data.shape[0]

    @property
    def n_dims(self) -> int:
        """Number of dimensions ``d``."""
        return self._data.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """Floating dtype of the data (float32 or float64)."""
        return self._data.dtype

    @property
    def leaf_size(self) -> int:
        """Maximum number of points in a leaf, as given at construction."""
        return self._leaf_size

    @property
    def split(self) -> str:
        """Split rule used at construction."""
        return self._split

    @property
    def division(self) -> str:
        """Division rule used at construction: ``"median"`` or ``"root"``."""
        return self._division

    @property
    def n_levels(self) -> int:
        """Number of splitting levels ``L``: leaves are at depth ``L``."""
        return self._n_levels

    @property
    def n_nodes(self) -> int:
        """Number of nodes, ``2**(L + 1) - 1``."""
        return self._node_start.shape[0]

    @property
    def n_internal(self) -> int:
        """Number of internal (split) nodes, ``(n_nodes - 1) // 2``; leaves are the nodes after them."""
        return (self.n_nodes - 1) // 2

    # ------------------------------------------------------------------ arrays
    @property
    def data(self) -> np.ndarray:
        """The indexed points, as given (read-only view)."""
        return _read_only(self._data)

    @property
    def tree_data(self) -> np.ndarray:
        """The points in tree order, ``tree_data[j] == data[idx_array[j]]`` (read-only)."""
        return _read_only(self._tree_data)

    @property
    def idx_array(self) -> np.ndarray:
        """Permutation from tree order to original indices (read-only)."""
        return _read_only(self._idx_array)

    @property
    def node_data(self) -> np.ndarray:
        """Per-node record array: idx_start, idx_end, is_leaf, split_dim, split_value."""
        record = np.dtype([
            ("idx_start", self._node_start.dtype),
            ("idx_end", self._node_start.dtype),
            ("is_leaf", np.bool_),
            ("split_dim", np.int32),
            ("split_value", self.dtype),
        ])
        out = np.empty(self.n_nodes, dtype=record)
        out["idx_start"] = self._node_start
        out["idx_end"] = self._node_end
        out["is_leaf"] = np.arange(self.n_nodes) >= self.n_internal
        out["split_dim"] = self._split_dim
        out["split_value"] = self._split_value
        return _read_only(out)

    @property
    def node_bounds(self) -> np.ndarray:
        """Tight bounding boxes, shape (2, n_nodes, d): lower corners then upper (read-only)."""
        return _read_only(self._node_bounds)

    def get_arrays(self):
        """Return ``(data, idx_array, node_data, node_bounds)`` as scikit-learn's KDTree does."""
        return self.data, self.idx_array, self.node_data, self.node_bounds

    def __repr__(self) -> str:
        return (f"KDTree(n_points={self.n_points}, n_dims={self.n_dims}, dtype={self.dtype}, "
                f"leaf_size={self.leaf_size}, split={self.split!r}, n_nodes={self.n_nodes})")

    # ------------------------------------------------------------------ queries
    def _bound_slack(self) -> float:
        """Factor (just below 1) applied to cell distances before they prune anything.

        Cell distances are updated incrementally (one term out, one in: see
        :mod:`kdforge._traverse`) and carry a few ulps of rounding per level; where a cell's
        distance equals a point's distance exactly (duplicates, points on split planes) it
        could come out just above it and prune a tied point. Shrinking the bound by this
        factor keeps every search exact.
        """
        return 1.0 - (2 * self._n_levels + self.n_dims + 8) * 2.0**-52

    def _query_order(self, queries: np.ndarray) -> tuple[np.ndarray, bool]:
        """Order in which to answer a batch, and whether it differs from the given order.

        Big batches on big trees are answered leaf by leaf: queries that fall in nearby
        leaves then run one after another and find the same points in cache. The order
        changes speed only, never results.
        """
        m = queries.shape[0]
        if m < LOCALITY_MIN_QUERIES or self.n_points < LOCALITY_MIN_POINTS:
            return np.arange(m, dtype=np.int64), False
        order = leaf_order(queries, self._split_dim, self._split_value, self._node_start,
                           self.n_internal)
        return order, True

    def query(self, X, k=1, *, p=2, eps=0, distance_upper_bound=np.inf, return_distance=True,
              sort_results=True, workers=1, max_leaves=None):
        """Find the k nearest neighbours of each query point.

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Query points (one point when 1-D).
        k : int, default 1
            Number of neighbours.
        p : float, default 2
            Minkowski order, ``1 <= p <= inf`` (1 manhattan, 2 euclidean, inf chebyshev).
        eps : float, default 0
            Approximation: the i-th returned distance is at most ``(1 + eps)`` times the true
            i-th nearest distance. 0 is exact.
        distance_upper_bound : float, default inf
            Return only neighbours strictly closer than this.
        return_distance : bool, default True
            Return ``(dist, idx)``; otherwise only ``idx``.
        sort_results : bool, default True
            Sort each row by increasing distance (ties: smaller index first). Otherwise the
            order within a row is unspecified.
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.
        max_leaves : int, optional
            Budgeted (approximate) search: visit leaves best-first - in increasing order of
            the lower bound of their distance, from one priority queue of unvisited
            branches - and stop after ``max_leaves`` leaves, returning the best points
            found (:mod:`kdforge._bbf`). Deterministic; the distances are exact ones of real
            points, and with ``max_leaves >= n_leaves`` the answer is exact. Useful in high
            dimensions, where exact search visits most leaves. None (default): exact search.

        Returns
        -------
        dist : ndarray of shape (m, k), the tree's dtype
            Distances; ``inf`` where a row has fewer than k neighbours.
        idx : int64 ndarray of shape (m, k)
            Original indices of the neighbours; ``-1`` where a row has fewer than k
            neighbours (k > n, or too few points within ``distance_upper_bound``).
            For a 1-D ``X`` both have shape (k,).
        """
        queries, single = v.as_query_array(X, self.n_dims, self.dtype)
        k = v.check_k(k)
        p = v.check_p(p)
        eps = v.check_eps(eps)
        bound = v.check_distance_upper_bound(distance_upper_bound)
        workers = v.check_workers(workers)
        metric = metric_code(p)
        prune_factor = ((1.0 + eps) if np.isinf(p) else (1.0 + eps) ** p) * self._bound_slack()
        bound_reduced = to_reduced(bound, p)
        m = queries.shape[0]
        dist = np.empty((m, k), dtype=self.dtype)
        idx = np.empty((m, k), dtype=np.int64)
        root_lower = self._node_bounds[0, 0]
        root_upper = self._node_bounds[1, 0]

        order, _ = self._query_order(queries)
        if max_leaves is not None:
            from ._bbf import query_tree  # budgeted best-bin-first search

            query_tree(self, queries, order, metric, p, prune_factor, bound_reduced,
                       v.check_max_leaves(max_leaves), bool(sort_results), dist, idx, workers)
        else:

            def task(start, stop):
                knn_batch(self._tree_data, self._idx_array, self._node_start, self._node_end,
                          self._split_dim, self._split_value, root_lower, root_upper,
                          self.n_internal, self._n_levels, queries, order[start:stop], metric,
                          p, prune_factor, bound_reduced, bool(sort_results), dist, idx)

            run_chunked(task, m, workers)
        if single:
            dist, idx = dist[0], idx[0]
        return (dist, idx) if return_distance else idx

    def _radius_csr(self, X, r, p, mode, sort_results, workers):
        queries, single = v.as_query_array(X, self.n_dims, self.dtype)
        radii = v.check_radius(r, queries.shape[0])
        p = v.check_p(p)
        workers = v.check_workers(workers)
        metric = metric_code(p)
        radii_reduced = radii if (np.isinf(p) or p == 1.0) else radii ** p
        probe = np.empty(0, dtype=self.dtype)
        order, permuted = self._query_order(queries)

        def task(start, stop):
            return radius_batch(self._tree_data, self._idx_array, self._node_start,
                                self._node_end, self._split_dim, self._split_value,
                                self._node_bounds[0, 0], self._node_bounds[1, 0],
                                self.n_internal, self._n_levels, queries, order[start:stop],
                                radii_reduced, metric, p, self._bound_slack(), mode,
                                bool(sort_results), probe)

        parts = run_chunked(task, queries.shape[0], workers)
        counts = _concatenate([part[0] for part in parts])
        indices = _concatenate([part[1] for part in parts])
        distances = _concatenate([part[2] for part in parts]) if mode == MODE_DISTANCES else None
        if permuted:
            _, distances = (None, None) if distances is None else reorder_rows(
                counts, distances, order, counts.shape[0])
            indptr, indices = reorder_rows(counts, indices, order, counts.shape[0])
        else:
            indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
        return single, indptr, (None if mode == MODE_COUNT else indices), distances

    def query_radius_csr(self, X, r, *, p=2, return_distance=False, sort_results=False, workers=1):
        """Find all points within distance ``r`` of each query, in compact CSR form.

        Parameters are those of :meth:`query_radius`.

        Returns
        -------
        RadiusNeighbors
            ``(indptr, indices, distances)``; ``distances`` is None unless requested.
        """
        want_distance = bool(return_distance or sort_results)
        mode = MODE_DISTANCES if want_distance else MODE_INDICES
        _, indptr, indices, distances = self._radius_csr(X, r, p, mode, sort_results, workers)
        return RadiusNeighbors(indptr, indices, distances if return_distance else None)

    def query_radius(self, X, r, *, p=2, return_distance=False, count_only=False,
                     sort_results=False, workers=1):
        """Find all points within distance ``r`` of each query point.

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Query points.
        r : float or array_like of shape (m,)
            Radius, or one radius per query; must be >= 0 (a negative or NaN radius is an
            error). Points with distance <= r are returned.
        p : float, default 2
            Minkowski order, ``1 <= p <= inf``.
        return_distance : bool, default False
            Also return the distances.
        count_only : bool, default False
            Return only the number of neighbours of each query.
        sort_results : bool, default False
            Sort each query's neighbours by increasing distance (ties: smaller index first);
            otherwise they come in tree order.
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        counts : int64 ndarray of shape (m,)
            When ``count_only``.
        ind : object ndarray of shape (m,) of int64 arrays
            Indices of each query's neighbours; with ``return_distance``, ``(ind, dist)``.
            For a 1-D ``X``, the single arrays. See :meth:`query_radius_csr` for the flat form.
        """
        if count_only and return_distance:
            raise ValueError("count_only and return_distance cannot both be True")
        if count_only:
            single, indptr, _, _ = self._radius_csr(X, r, p, MODE_COUNT, False, workers)
            counts = np.diff(indptr)
            return counts[0] if single else counts
        want_distance = bool(return_distance or sort_results)
        mode = MODE_DISTANCES if want_distance else MODE_INDICES
        single, indptr, indices, distances = self._radius_csr(X, r, p, mode, sort_results, workers)
        ind = _split_by_indptr(indices, indptr)
        if not return_distance:
            return ind[0] if single else ind
        dist = _split_by_indptr(distances, indptr)
        return (ind[0], dist[0]) if single else (ind, dist)
