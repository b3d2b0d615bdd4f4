"""The exact KD-tree: :class:`KDTree`.

A tree is one :class:`~kdforge.record.TreeRecord` (its arrays and parameters; the layout is
documented in :mod:`kdforge.record`) and the points it was built on. Every method lives in
this class: queries (kNN, radius, boxes), the node API after CERN ROOT's ``TKDTree`` (its
correspondence table is in :mod:`kdforge.nodes`), and saving and pickling. Methods check
their arguments once (:mod:`kdforge._validation`) and call the internal entry points of
:mod:`kdforge._search`, which run the kernels of :mod:`kdforge._kernels`.
"""

from __future__ import annotations

import numpy as np

from . import _search
from . import _validation as v
from ._build import build_record
from ._treefile import (
    check_record,
    points_in_original_order,
    record_from_state,
    state_of,
    write_tree,
)
from .nodes import box_corners, leaves_in_order, node_depths, node_ids
from .record import (
    DEFAULT_LEAF_SIZE,
    DIVISION_MEDIAN,
    DIVISION_MIDPOINT,
    DIVISION_NAMES,
    DIVISIONS,
    INDEX_INT32_LIMIT,
    SPLIT_NAMES,
    SPLIT_RULES,
    SPLIT_SLIDING_MIDPOINT,
    TreeRecord,
    n_internal,
    read_only_views,
)
from .results import NeighborsCSR, RadiusNeighbors, split_rows

__all__ = ["KDTree", "RadiusNeighbors", "NeighborsCSR", "INDEX_INT32_LIMIT", "DEFAULT_LEAF_SIZE",
           "SPLIT_CHOICES", "AUTO_MIDPOINT_MIN_DIMS", "split_rule_for"]

def _read_only(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


#: ``split="auto"`` (the default) takes the sliding midpoint from this many dimensions on, the
#: median below (measured: see the Notes of :class:`KDTree`).
AUTO_MIDPOINT_MIN_DIMS = 4
#: Every ``split`` a tree accepts: the rules of :data:`kdforge.record.SPLIT_RULES` and "auto".
SPLIT_CHOICES = ("auto",) + tuple(SPLIT_RULES)


def split_rule_for(split, n_dims: int, division=None) -> int:
    """The split-rule code for a ``split`` argument (checked here), the data's dimension and
    the ``division`` asked for: ``"auto"`` with a median division is ``"max_spread"``."""
    name = v.check_choice(split, "split", SPLIT_CHOICES)
    if name == "auto":
        midpoint = n_dims >= AUTO_MIDPOINT_MIN_DIMS and division in (None, "midpoint")
        name = "sliding_midpoint" if midpoint else "max_spread"
    return SPLIT_RULES[name]


def _division_for(split_rule: int, division) -> int:
    """The division code for a split rule and the ``division`` argument (None: its default).

    The median rules divide by ``"median"`` (default) or ``"root"``; the sliding-midpoint
    rule only by ``"midpoint"``, its own division.
    """
    midpoint = split_rule == SPLIT_SLIDING_MIDPOINT
    if division is None:
        return DIVISION_MIDPOINT if midpoint else DIVISION_MEDIAN
    code = DIVISIONS[v.check_choice(division, "division", DIVISIONS)]
    if midpoint != (code == DIVISION_MIDPOINT):
        allowed = "'midpoint'" if midpoint else "'median' or 'root'"
        raise ValueError(f"KDTree: split={SPLIT_NAMES[split_rule]!r} takes division {allowed} "
                         f"(or None), got {division!r}")
    return code


class KDTree:
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
    split : {"auto", "max_spread", "round_robin", "sliding_midpoint"}, default "auto"
        How a node splits. ``"max_spread"``: at the median row of the dimension in which its
        points spread most; ``"round_robin"``: at the median row of dimension depth modulo
        d; ``"sliding_midpoint"``: in the middle of its cell's longest side, the plane slid
        to the nearest points when all lie on one side (trees then follow the data: deeper
        in dense regions, with fat cells in sparse ones). ``"auto"``: ``"max_spread"`` for
        data of 1 to 3 dimensions, ``"sliding_midpoint"`` from 4 on. ``tree.split`` tells
        the rule used; ``"auto"`` with ``division="median"`` or ``"root"`` is
        ``"max_spread"``. See Notes.
    division : {"median", "root", "midpoint"}, optional
        Where a median-rule node splits (default ``"median"``): at its middle row, so
        siblings differ by at most one point and all leaves lie at one depth; or ``"root"``:
        ROOT's ``TKDTree`` rule, one child always holds a power-of-two number of full
        leaves, the tree left-complete (heap-shaped) with ``ceil(n / leaf_size)`` leaves at
        two depths. The row ranges of both follow from ``n`` and ``leaf_size`` alone (an
        implicit layout, :mod:`kdforge.record`). ``"midpoint"`` is the sliding-midpoint
        rule's own division (its default; the only one it takes), whose shape follows the
        data (the explicit layout).
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

    *Split rule* (kNN k = 10 on one thread, 2e5 points, 1e4 held-out queries drawn like
    them; ``benchmarks/bench_core.py --sections adaptive`` and ``RESULTS.md``). The sliding
    midpoint against the median (``max_spread``): from 4-D on it is never slower
    (0.99-1.01x on uniform data up to 8-D, 1.00-1.08x on 4-D tails and clusters), and on
    heavy-tailed and clustered data it wins from 5-D on, by a factor that grows with the
    tails (in the recorded run, Student-t(2): 1.7x in 6-D, 2.7x in 9-D; log-normal 9-D:
    2.0x; 20 clusters with a Cauchy background, 9-D: 1.6x; Student-t(2) 5-D, another run:
    1.2x), since its cells stay fat in the sparse regions where medians cut slivers. In 2-D
    and 3-D it is no faster (0.79-1.03x over the runs measured; GeoNames places 0.88-0.90x):
    both trees measure about as many points there, the deeper midpoint tree costs more in
    traversal, and it builds 1.3-2x slower. Hence ``"auto"``; with it kdforge answered
    1.3-1.6x pykdtree's kNN throughput on every heavy-tailed and clustered workload of
    ``RESULTS.md`` (3-D, 6-D, 9-D, GeoNames). The sliding-midpoint build is as fast as
    the median build on uniform data and 1.2-3.5x slower on heavy tails (its trees are
    deeper there; a depth limit, ``4 L + 64`` for a balanced depth ``L``, bounds them).
    ``round_robin`` (measured on 10**6 points, 3-D) builds 10-25% faster than
    ``max_spread`` (it computes no box before splitting a node) and queries as fast on
    uniform data, but kNN queries are 2x slower on clustered data and 7x slower on
    elongated data, where depth modulo d keeps cutting thin dimensions.

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

    def __init__(self, data, leaf_size: int = DEFAULT_LEAF_SIZE, split: str = "auto",
                 *, division: str | None = None, workers: int = -1, progress: bool = False):
        arr = v.as_data_array(data)
        leaf_size = v.check_leaf_size(leaf_size)
        split_rule = split_rule_for(split, arr.shape[1], division)
        division_rule = _division_for(split_rule, division)
        workers = v.check_workers(workers)
        progress = v.check_bool(progress, "progress")
        self._record = build_record(arr, leaf_size, split_rule, division_rule, workers, progress)
        self._data = arr

    @classmethod
    def _from_trusted_record(cls, record: TreeRecord, data: np.ndarray) -> "KDTree":
        """A tree around a record and its points that are known to be valid (no checks)."""
        tree = cls.__new__(cls)
        tree._record = record
        tree._data = data
        return tree

    @classmethod
    def from_record(cls, record: TreeRecord, data=None, *, verify_contents: bool = True) -> "KDTree":
        """A tree from a :class:`~kdforge.record.TreeRecord`, validated like a tree file.

        Parameters
        ----------
        record : TreeRecord
            Arrays and parameters, with the layout of :mod:`kdforge.record` (for example
            another tree's ``record``, or one assembled by hand).
        data : ndarray of shape (n, d), optional
            The points in their original order; rebuilt from ``tree_data`` and
            ``idx_array`` when None.
        verify_contents : bool, default True
            Also check the values (boxes, split values, points inside their leaves,
            ``idx_array`` a permutation), in O(n d); the structural checks that keep
            queries inside the arrays always run.

        Raises
        ------
        kdforge.TreeFileError
            The record is not a valid tree.
        """
        record, data = check_record(record, data, verify_contents=bool(verify_contents),
                                    source="KDTree.from_record")
        return cls._from_trusted_record(record, data)

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
        return self._record.leaf_size

    @property
    def split(self) -> str:
        """Split rule used at construction (``"auto"`` resolved to the rule it chose)."""
        return SPLIT_NAMES[self._record.split]

    @property
    def division(self) -> str:
        """Division rule used at construction: ``"median"``, ``"root"`` or ``"midpoint"``."""
        return DIVISION_NAMES[self._record.division]

    @property
    def n_levels(self) -> int:
        """Depth of the deepest leaf (all leaves with ``division="median"``)."""
        return self._record.n_levels

    @property
    def n_nodes(self) -> int:
        """Number of nodes, ``2 * n_leaves - 1``: ``2**(n_levels + 1) - 1`` for a median tree."""
        return self._record.node_start.shape[0]

    @property
    def n_internal(self) -> int:
        """Number of internal (split) nodes, ``(n_nodes - 1) // 2``; leaves are the nodes after them."""
        return n_internal(self._record)

    @property
    def record(self) -> TreeRecord:
        """The tree's :class:`~kdforge.record.TreeRecord`: every array and parameter.

        Read-only views of the tree's own arrays (no copies); nothing can make them
        writeable, so nothing can change the tree.
        """
        return read_only_views(self._record)

    # ------------------------------------------------------------------ arrays
    @property
    def data(self) -> np.ndarray:
        """The indexed points in their original order (read-only view).

        For a built tree, the array it was given (not a copy). The tree copied what it
        needs when it was built (``tree_data``): a caller who changes that array later
        changes this view, never the tree's answers, files or pickles, which are made from
        the tree's own arrays.
        """
        return _read_only(self._data)

    @property
    def tree_data(self) -> np.ndarray:
        """The points in tree order, ``tree_data[j] == data[idx_array[j]]`` (read-only)."""
        return _read_only(self._record.tree_data)

    @property
    def idx_array(self) -> np.ndarray:
        """Permutation from tree order to original indices (read-only)."""
        return _read_only(self._record.idx_array)

    @property
    def node_data(self) -> np.ndarray:
        """Per-node record array: idx_start, idx_end, is_leaf, split_dim, split_value."""
        tree = self._record
        fields = np.dtype([
            ("idx_start", tree.node_start.dtype),
            ("idx_end", tree.node_start.dtype),
            ("is_leaf", np.bool_),
            ("split_dim", np.int32),
            ("split_value", self.dtype),
        ])
        out = np.empty(self.n_nodes, dtype=fields)
        out["idx_start"] = tree.node_start
        out["idx_end"] = tree.node_end
        out["is_leaf"] = np.arange(self.n_nodes) >= self.n_internal
        out["split_dim"] = tree.split_dim
        out["split_value"] = tree.split_value
        out.flags.writeable = False
        return out.view()

    @property
    def node_bounds(self) -> np.ndarray:
        """Tight bounding boxes, shape (2, n_nodes, d): lower corners then upper (read-only)."""
        return _read_only(self._record.node_bounds)

    def get_arrays(self):
        """Return ``(data, idx_array, node_data, node_bounds)`` as scikit-learn's KDTree does."""
        return self.data, self.idx_array, self.node_data, self.node_bounds

    def __repr__(self) -> str:
        return (f"KDTree(n_points={self.n_points}, n_dims={self.n_dims}, dtype={self.dtype}, "
                f"leaf_size={self.leaf_size}, split={self.split!r}, n_nodes={self.n_nodes})")

    # ------------------------------------------------------------------ queries
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
            branches - and stop after ``max_leaves`` leaves (or later, once ``k`` points
            are found, if those leaves held fewer), returning the best points found
            (:mod:`kdforge._kernels.bbf`). Deterministic; the distances are exact ones of real
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
        v.check_knn_answer(queries.shape[0], k, "the tree")
        p = v.check_p(p)
        eps = v.check_eps(eps)
        bound = v.check_distance_upper_bound(distance_upper_bound)
        workers = v.check_workers(workers)
        if max_leaves is not None:
            max_leaves = v.check_max_leaves(max_leaves)
        dist, idx = _search.knn(self._record, queries, k, p, eps, bound, bool(sort_results),
                                workers, max_leaves)
        if single:
            dist, idx = dist[0], idx[0]
        return (dist, idx) if return_distance else idx

    def _radius(self, X, r, p, return_distance, sort_results, count_only, workers,
                max_results=None):
        """Validate a radius query and run it: ``(single, indptr, indices, distances)``."""
        queries, single = v.as_query_array(X, self.n_dims, self.dtype)
        radii = v.check_radius(r, queries.shape[0])
        p = v.check_p(p)
        workers = v.check_workers(workers)
        max_results = v.check_int(max_results, "max_results", minimum=0, allow_none=True)
        if count_only:
            mode = _search.MODE_COUNT
        elif return_distance or sort_results:
            mode = _search.MODE_DISTANCES
        else:
            mode = _search.MODE_INDICES
        indptr, indices, distances = _search.radius(self._record, queries, radii, p, mode,
                                                    sort_results and not count_only, workers,
                                                    max_results)
        return single, indptr, indices, distances

    def query_radius_csr(self, X, r, *, p=2, return_distance=False, sort_results=False, workers=1,
                         max_results=None):
        """Find all points within distance ``r`` of each query, in compact CSR form.

        Parameters are those of :meth:`query_radius`.

        Returns
        -------
        NeighborsCSR
            ``(indptr, indices, distances)``; ``distances`` is None unless requested.
        """
        _, indptr, indices, distances = self._radius(X, r, p, bool(return_distance),
                                                     bool(sort_results), False, workers,
                                                     max_results)
        return NeighborsCSR(indptr, indices, distances if return_distance else None)

    def query_radius_chunks(self, X, r, *, queries_per_chunk=65536, p=2, return_distance=False,
                            sort_results=False, workers=1):
        """Radius search in blocks of queries, for answers too large to hold at once.

        Parameters are those of :meth:`query_radius`, and ``queries_per_chunk``: how many
        queries each block answers. The queries and radii are checked once, up front.

        Yields
        ------
        start : int
            The first query of the block.
        block : NeighborsCSR
            The neighbours of queries ``start .. start + len(block.indptr) - 2``, as
            :meth:`query_radius_csr` gives them.
        """
        queries, _ = v.as_query_array(X, self.n_dims, self.dtype)
        radii = v.check_radius(r, queries.shape[0])
        p = v.check_p(p)
        workers = v.check_workers(workers)
        step = v.check_int(queries_per_chunk, "queries_per_chunk", minimum=1)
        mode = _search.MODE_DISTANCES if (return_distance or sort_results) else _search.MODE_INDICES
        for start in range(0, queries.shape[0], step):
            stop = min(start + step, queries.shape[0])
            indptr, indices, distances = _search.radius(self._record, queries[start:stop],
                                                        radii[start:stop], p, mode,
                                                        bool(sort_results), workers)
            yield start, NeighborsCSR(indptr, indices, distances if return_distance else None)

    def query_radius(self, X, r, *, p=2, return_distance=False, count_only=False,
                     sort_results=False, workers=1, max_results=None):
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
        max_results : int, optional
            Largest number of neighbours (over all queries) the caller accepts: a
            :class:`~kdforge.results.ResultSizeError` is raised as soon as more are found,
            before memory for the rest of the answer is taken. Ignored with
            ``count_only``. See :meth:`query_radius_chunks` for answers taken in blocks.

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
        single, indptr, indices, distances = self._radius(X, r, p, bool(return_distance),
                                                          bool(sort_results), bool(count_only),
                                                          workers, max_results)
        if count_only:
            counts = np.diff(indptr)
            return counts[0] if single else counts
        ind = split_rows(indices, indptr)
        if not return_distance:
            return ind[0] if single else ind
        dist = split_rows(distances, indptr)
        return (ind[0], dist[0]) if single else (ind, dist)

    # ------------------------------------------------------------------ construction from columns
    @classmethod
    def from_columns(cls, columns, **kwargs):
        """Build a tree from one 1-D array per dimension (ROOT's ``SetData`` per column).

        Parameters
        ----------
        columns : sequence of d array_like of shape (n,)
            The coordinates, one array per dimension, all of the same length (a 2-D array of
            shape (d, n) is read as its d rows). Real dtypes only.
        **kwargs
            Passed on to the constructor (``leaf_size``, ``split``, ...).

        Returns
        -------
        KDTree
            A tree whose ``data`` is a new (n, d) array holding the columns side by side:
            float32 when every column is float32, float64 otherwise. Building it is the only
            copy of the columns; the tree then makes its usual reordered copy
            (``tree_data``). The caller's arrays are not modified and not kept.

        Raises
        ------
        TypeError
            A column is not real-valued (complex, object, string...).
        ValueError
            No columns, a column that is not 1-D, columns of different lengths, or a NaN or
            infinite value (the message names the column).

        Examples
        --------
        >>> import numpy as np, kdforge
        >>> x, y = np.arange(4.0), np.array([0.0, 1.0, 0.0, 1.0])
        >>> kdforge.KDTree.from_columns([x, y], leaf_size=2).data.tolist()
        [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]]
        """
        return cls(v.columns_as_data(columns), **kwargs)

    # ------------------------------------------------------------------ node ids
    def _node_ids(self, nodes, name: str = "node") -> tuple[np.ndarray, bool]:
        """Validate node ids: return them as int64 (same shape) and whether a scalar was given."""
        return node_ids(self._record, nodes, name)

    # ------------------------------------------------------------------ navigation
    @property
    def n_leaves(self) -> int:
        """Number of leaves, ``n_nodes - n_internal``."""
        return self.n_nodes - self.n_internal

    @property
    def depth(self) -> int:
        """Depth of the deepest leaf, the same number as :attr:`n_levels` (the root has depth 0)."""
        return self._record.n_levels

    def node_depth(self, node):
        """Depth of each node (the root has depth 0; ``floor(log2(node + 1))`` in the implicit
        layouts).

        Parameters
        ----------
        node : int or array_like of int
            Node ids.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        depths = node_depths(self._record, ids)
        return int(depths) if scalar else depths

    def is_leaf(self, node):
        """Whether each node is a leaf (ROOT's ``IsTerminal``).

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        bool or bool ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        leaf = ids >= self.n_internal
        return bool(leaf) if scalar else leaf

    def left(self, node):
        """Left child of each node (``2 * node + 1`` in the implicit layouts), or -1 for a leaf.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        return self._child(node, 0)

    def right(self, node):
        """Right child of each node (``2 * node + 2`` in the implicit layouts), or -1 for a leaf.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        return self._child(node, 1)

    def _child(self, node, side: int):
        ids, scalar = self._node_ids(node)
        internal = ids < self.n_internal
        child = np.full(ids.shape, -1, dtype=np.int64)
        child[internal] = self._record.node_children[ids[internal], side]
        return int(child) if scalar else child

    def parent(self, node):
        """Parent of each node (``(node - 1) // 2`` in the implicit layouts), or -1 for the root.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        up = self._record.node_parent[ids].astype(np.int64)
        return int(up) if scalar else up

    def leaves(self) -> np.ndarray:
        """Leaf ids from left to right, which is the order of their points in ``idx_array``.

        With the default division this is ``arange(n_internal, n_nodes)``; with ROOT's
        division (leaves at two depths) it is not.

        Returns
        -------
        int64 ndarray of shape (n_leaves,)
        """
        return leaves_in_order(self._record)

    # ------------------------------------------------------------------ node contents
    def node_indices(self, node: int) -> np.ndarray:
        """Original indices of the points under one node (ROOT's ``GetNodePointsIndexes``).

        Parameters
        ----------
        node : int
            One node id, ``0 <= node < n_nodes``.

        Returns
        -------
        ndarray of shape (node_size(node),), dtype of ``idx_array`` (int32 or int64)
            A read-only view of ``idx_array`` (a node's rows are contiguous), in tree order;
            ``data[node_indices(i)]`` are the node's points.
        """
        ids, scalar = self._node_ids(node)
        if not scalar:
            raise TypeError("node_indices takes one node id; use node_size for arrays of nodes")
        node = int(ids)
        tree = self._record
        view = tree.idx_array[tree.node_start[node]:tree.node_end[node]]
        view.flags.writeable = False
        return view

    def node_size(self, node):
        """Number of points under each node (ROOT's ``GetNPointsNode``).

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        sizes = self._record.node_end[ids].astype(np.int64) - self._record.node_start[ids]
        return int(sizes) if scalar else sizes

    def node_split(self, node):
        """Split dimension and value of each node (ROOT's ``GetNodeAxis``/``GetNodeValue``).

        Points of the left child have ``x[dim] <= value``, points of the right child
        ``x[dim] >= value``: points equal to the value may lie on either side.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        dim : int or int64 ndarray of the same shape
            Split dimension; -1 for a leaf.
        value : float or ndarray of the same shape, the tree's dtype
            Split value; NaN for a leaf.
        """
        ids, scalar = self._node_ids(node)
        dims = self._record.split_dim[ids].astype(np.int64)
        values = np.where(ids < self.n_internal, self._record.split_value[ids], np.nan).astype(self.dtype)
        if scalar:
            return int(dims), float(values)
        return dims, values

    def boxes(self, kind: str = "cell") -> np.ndarray:
        """Axis-aligned box of every node.

        Parameters
        ----------
        kind : {"cell", "tight"}, default "cell"
            ``"cell"``: the region of space the splits assign to the node, starting from the
            bounding box of the data at the root (ROOT's ``MakeBoundaries``/``GetBoundary``);
            a left child's cell ends at its parent's split value, the right child's begins
            there, so the leaf cells tile the data's bounding box. ``"tight"``: the bounding
            box of the node's points (ROOT's ``MakeBoundariesExact``/``GetBoundaryExact``;
            the :attr:`node_bounds` array in another layout).

        Returns
        -------
        ndarray of shape (n_nodes, 2, d), the tree's dtype
            ``boxes[i, 0]`` is the lower corner and ``boxes[i, 1]`` the upper corner of node
            ``i``'s box (a new array).
        """
        lower, upper = box_corners(self._record, kind)
        return np.stack([lower, upper], axis=1)

    # ------------------------------------------------------------------ geometry queries
    def find_leaf(self, X, *, workers=1):
        """Leaf whose cell contains each point (ROOT's ``FindNode``).

        The descent is the kNN search's: at an internal node a point whose coordinate is
        strictly below the split value goes left, any other (equal included) goes right. So
        a point on a split plane is placed in the right-hand cell, even when it is a data
        point stored in the left child (the build puts values equal to the split on both
        sides; :meth:`find_point` searches both). A point outside the data's bounding box
        gets the leaf whose cell, extended outward past the faces of that box, contains it:
        every point of space gets exactly one leaf.

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Points, converted to the tree's dtype.
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        int64 ndarray of shape (m,), or one int64 for a 1-D ``X``
            Leaf ids.
        """
        queries, single = v.as_query_array(X, self.n_dims, self.dtype)
        out = _search.find_leaf(self._record, queries, v.check_workers(workers))
        return out[0] if single else out

    def find_point(self, X, *, all_matches=False, workers=1):
        """Index of a data point exactly equal to each point, or -1 (ROOT's ``FindPoint``).

        Points are converted to the tree's dtype, then compared coordinate by coordinate
        with ``==`` (so ``-0.0`` matches ``0.0``).

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Points to look up.
        all_matches : bool, default False
            Return every matching index instead of the smallest.
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        int64 ndarray of shape (m,), or one int64 for a 1-D ``X``
            Without ``all_matches``: the smallest original index of a data point equal to
            the point (the data may hold duplicates), -1 when there is none.
        object ndarray of shape (m,) of int64 arrays, or one int64 array for a 1-D ``X``
            With ``all_matches``: the indices of all equal data points, ascending (empty
            when there is none).
        """
        queries, single = v.as_query_array(X, self.n_dims, self.dtype)
        workers = v.check_workers(workers)
        if not all_matches:
            found = _search.find_point(self._record, queries, True, workers)
            return found[0] if single else found
        indptr, indices = _search.find_point(self._record, queries, False, workers)
        matches = split_rows(indices, indptr)
        return matches[0] if single else matches

    def distance_to_node(self, X, node, *, p=2, kind="cell", workers=1):
        """Smallest and largest distance from points to node boxes (ROOT's ``DistanceToNode``).

        ``X`` without its last axis and ``node`` broadcast against each other, NumPy style:

        * pairwise: ``X`` (m, d) and ``node`` (m,) give (m,);
        * one point, many nodes: ``X`` (d,) and ``node`` (k,) give (k,);
        * many points, one node: ``X`` (m, d) and an int ``node`` give (m,);
        * outer: ``X[:, None, :]`` (m, 1, d) and ``node`` (k,) give (m, k).

        Parameters
        ----------
        X : array_like of shape (..., d)
            Points, converted to the tree's dtype (as queries are).
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.
        p : float, default 2
            Minkowski order, ``1 <= p <= inf``.
        kind : {"cell", "tight"}, default "cell"
            Which box of the node (see :meth:`boxes`).
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        dmin : ndarray of the broadcast shape (a scalar when it is ()), the tree's dtype
            Distance from the point to the nearest point of the closed box; 0 inside it.
            No point of the node is closer (with ``kind="tight"`` it is a lower bound on
            the distance to the node's points, with ``"cell"`` on the distance to anything
            in the node's region).
        dmax : same
            Distance from the point to the farthest corner of the box: no point of the
            node is farther.
        """
        arr = np.asarray(X)
        if arr.ndim == 0 or arr.shape[-1] != self.n_dims:
            raise ValueError(f"X must have shape (..., {self.n_dims}) for this tree, got shape {arr.shape}")
        queries, _ = v.as_query_array(arr.reshape(-1, self.n_dims), self.n_dims, self.dtype)
        ids, _ = self._node_ids(node)
        p = v.check_p(p)
        workers = v.check_workers(workers)
        lower, upper = box_corners(self._record, kind)
        try:
            shape = np.broadcast_shapes(arr.shape[:-1], ids.shape)
        except ValueError:
            raise ValueError(f"X of shape {arr.shape} (points of shape {arr.shape[:-1]}) and node of "
                             f"shape {ids.shape} do not broadcast together") from None
        query_rows = np.broadcast_to(np.arange(queries.shape[0]).reshape(arr.shape[:-1]), shape).ravel()
        node_flat = np.ascontiguousarray(np.broadcast_to(ids, shape).ravel())
        dmin, dmax = _search.distance_to_node(lower, upper, queries, query_rows, node_flat, p,
                                              self.dtype, workers)
        if shape == ():
            return dmin[0], dmax[0]
        return dmin.reshape(shape), dmax.reshape(shape)

    def _query_box(self, lo, hi, sort_results, workers):
        lo = v.as_box_corner(lo, self.n_dims, "lo")
        hi = v.as_box_corner(hi, self.n_dims, "hi")
        single = lo.ndim == 1 and hi.ndim == 1
        try:
            lo2, hi2 = np.broadcast_arrays(np.atleast_2d(lo), np.atleast_2d(hi))
        except ValueError:
            raise ValueError(f"lo of shape {lo.shape} and hi of shape {hi.shape} do not broadcast "
                             "together (give (d,) or (m, d) corners)") from None
        lo2, hi2 = np.ascontiguousarray(lo2), np.ascontiguousarray(hi2)
        inverted = lo2 > hi2
        if inverted.any():
            box, dim = np.argwhere(inverted)[0]
            raise ValueError(f"box {box} has lo > hi in dimension {dim} "
                             f"({lo2[box, dim]} > {hi2[box, dim]}); boxes need lo <= hi")
        indptr, indices = _search.box(self._record, lo2, hi2, bool(sort_results),
                                      v.check_workers(workers))
        return single, indptr, indices

    def query_box_csr(self, lo, hi, *, sort_results=False, workers=1):
        """Find the points inside each axis-aligned box, in compact CSR form.

        Parameters are those of :meth:`query_box`.

        Returns
        -------
        NeighborsCSR
            ``(indptr, indices, None)``: the points of box ``i`` are
            ``indices[indptr[i]:indptr[i + 1]]``; ``.to_lists()`` gives the list form.
        """
        _, indptr, indices = self._query_box(lo, hi, sort_results, workers)
        return NeighborsCSR(indptr, indices, None)

    def query_box(self, lo, hi, *, sort_results=False, workers=1):
        """Find the points inside each closed axis-aligned box ``lo <= x <= hi``.

        Nodes whose tight box misses the query box are skipped and nodes whose tight box lies
        inside it are taken whole, so the cost grows with the number of points returned and
        the number of nodes the box's faces cut.

        Parameters
        ----------
        lo, hi : array_like of shape (d,) or (m, d)
            Lower and upper corners of the boxes; one of them may be (d,) and apply to every
            box. Compared with the points in float64 (not rounded to a float32 tree's dtype);
            ``-inf``/``inf`` leave a side open. NaN or ``lo > hi`` is an error.
        sort_results : bool, default False
            Sort each box's indices ascending; otherwise they come in tree order.
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        object ndarray of shape (m,) of int64 arrays, or one int64 array when both corners are 1-D
            Original indices of the points inside each box. See :meth:`query_box_csr` for
            the flat form.
        """
        single, indptr, indices = self._query_box(lo, hi, sort_results, workers)
        ind = split_rows(indices, indptr)
        return ind[0] if single else ind

    # ------------------------------------------------------------------ saving and pickling
    def save(self, path, *, include_data: bool = True) -> None:
        """Write the tree to the file ``path``; read it back with :func:`kdforge.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination. The file is written under a temporary name in the same directory
            and renamed over ``path``, so readers never see a partial file.
        include_data : bool, default True
            Also store the points in their original order. Without them the file is
            ``n * d * itemsize`` bytes smaller but :func:`kdforge.load` must rebuild them
            (O(n)).
        """
        write_tree(self._record, points_in_original_order(self._record) if include_data else None,
                   path)

    def __getstate__(self) -> dict:
        """Pickled state: the record's parameters and arrays and the points (no rebuild).

        NumPy arrays support pickle protocol 5, so ``pickle.dumps(tree, protocol=5,
        buffer_callback=...)`` passes the arrays out of band without copying them.
        """
        return state_of(self._record, points_in_original_order(self._record))

    def __setstate__(self, state: dict) -> None:
        """Restore a pickled tree after the structural checks of :func:`kdforge.load`."""
        self._record, self._data = record_from_state(state)
