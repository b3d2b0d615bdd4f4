"""Drop-in replacements for ``scipy.spatial.cKDTree`` and ``scipy.spatial.KDTree``.

Change one import (``from kdforge.scipy import cKDTree``) and keep every call: the classes
take scipy 1.17's arguments (positional order and defaults included) and return its types,
dtypes, shapes and padding (a missing neighbour is index ``n`` at distance ``inf``; a
scalar ``k`` squeezes the last axis). They wrap a :class:`kdforge.KDTree` built with the
same leaf size; the pair operations (``query_pairs``, ``query_ball_tree``,
``count_neighbors``, ``sparse_distance_matrix``) are dual-tree traversals
(:mod:`kdforge.dualtree`) and take ``workers=`` as an extension. Periodic ``boxsize`` is
exact for every query (:mod:`kdforge._periodic`).

Deliberate differences from scipy (each one where scipy answers wrongly or crashes) are
listed in ``docs/migrating.md``: a negative radius or ``distance_upper_bound`` finds
nothing (scipy squares it for p=2), ``p < 1`` is an error in every method, a rank below 1
in ``k`` is a ``ValueError`` (scipy crashes), radius queries with ``eps > 0`` return
exactly the points within ``r * (1 + eps)``, float32 data stays float32.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from . import _periodic
from . import _validation as v
from .dualtree import _counts, _pairs, pair_order
from .results import sort_csr_rows
from .tree import KDTree as _CoreTree

__all__ = ["cKDTree", "KDTree", "cKDTreeNode"]


def _as_points(data) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype.kind == "c":
        raise TypeError(f"KD-tree does not work with complex data (dtype {arr.dtype})")
    if arr.dtype.kind not in "fiub":
        arr = arr.astype(np.float64)  # raises ValueError/TypeError for non-numbers
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.ndim != 2:
        raise ValueError("data must be of shape (n, m), where there are n points of dimension m")
    if not np.isfinite(arr).all():
        raise ValueError("data must be finite, check for nan or inf values")
    return arr


def _check_p(p) -> float:
    """The Minkowski order, 1 <= p <= inf (``ValueError`` below 1, as scipy's ``query``)."""
    if isinstance(p, numbers.Real) and not isinstance(p, bool) and p < 1:
        raise ValueError(f"Only p-norms with 1<=p<=infinity permitted, got p={p}")
    return v.check_p(p)


def _workers(workers) -> int:
    """Threads for ``workers`` (None: 1; -1: all cores, as scipy, which needs a CPU count)."""
    if workers is None:
        return 1
    if v.is_integer(workers) and workers < 0 and os.cpu_count() is None:
        raise NotImplementedError("Cannot determine the number of cpus using os.cpu_count(), "
                                  "cannot use -1 for the number of workers")
    return v.check_workers(workers)


def _eps_radius(r, eps):
    """The radius searched for an approximate (``eps > 0``) radius query: ``r * (1 + eps)``.

    scipy allows every point within ``r * (1 + eps)`` (branches are "added in bulk if their
    furthest points are nearer than r * (1 + eps)"); kdforge returns exactly those, so points
    at distance ``r`` up to rounding are never lost. Negative radii stay negative.
    """
    eps = float(eps)
    return r * (1.0 + eps) if eps > 0 else r


def _ranks(k):
    """``(ranks, squeeze)``: the 1-based neighbour ranks asked for, and whether to drop the
    last axis (a scalar ``k == 1``)."""
    if v.is_integer(k):
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        return np.arange(1, int(k) + 1, dtype=np.int64), int(k) == 1
    if isinstance(k, (numbers.Real, np.floating)) and not isinstance(k, (bool, np.bool_)):
        ranks = np.arange(1, float(k) + 1).astype(np.int64)  # scipy's reading of a float k
        if ranks.size == 0:
            raise ValueError(f"k must be at least 1, got {k}")
        return ranks, False
    try:
        ranks = np.asarray(k).astype(np.int64).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"k must be an integer or a sequence of integers, got {k!r}") from None
    if np.ndim(k) != 1 or ranks.size == 0:
        raise ValueError(f"k must be an integer or a non-empty 1-D sequence of ranks, got {k!r}")
    if (ranks < 1).any():
        raise ValueError(f"every rank in k must be at least 1, got {k!r}")
    return ranks, False


class cKDTreeNode:
    """A read-only view of one node, with the attributes of scipy's ``cKDTreeNode``.

    Attributes
    ----------
    level : int
        Depth of the node (the root is 0).
    split_dim : int
        Split dimension, -1 at a leaf.
    split : float
        Split value (0 at a leaf).
    children : int
        Number of points in the node.
    start_idx, end_idx : int
        The node's points are ``indices[start_idx:end_idx]``.
    lesser, greater : cKDTreeNode or None
        Children (None at a leaf).
    indices : ndarray
        Original indices of the node's points.
    data_points : ndarray
        The node's points.
    """

    def __init__(self, owner, node: int, level: int):
        self._owner = owner
        self._node = node
        self.level = level
        record = owner._core.record
        self.start_idx = int(record.node_start[node])
        self.end_idx = int(record.node_end[node])
        self.children = self.end_idx - self.start_idx
        leaf = node >= record.node_start.shape[0] // 2
        self.split_dim = -1 if leaf else int(record.split_dim[node])
        self.split = 0.0 if leaf else float(record.split_value[node])

    @property
    def _is_leaf(self) -> bool:
        return self.split_dim < 0

    @property
    def lesser(self):
        return None if self._is_leaf else self._child(0)

    @property
    def greater(self):
        return None if self._is_leaf else self._child(1)

    def _child(self, side: int):
        child = int(self._owner._core.record.node_children[self._node, side])
        return cKDTreeNode(self._owner, child, self.level + 1)

    @property
    def indices(self) -> np.ndarray:
        return self._owner.indices[self.start_idx:self.end_idx]

    @property
    def data_points(self) -> np.ndarray:
        return self._owner.data[self.indices]


class cKDTree:
    """kd-tree for quick nearest-neighbour lookup, with the API of ``scipy.spatial.cKDTree``.

    Parameters
    ----------
    data : array_like of shape (n, m)
        The points. float32 stays float32 (an extension: scipy makes float64), other real
        dtypes become float64.
    leafsize : int, default 16
        Maximum points per leaf of the underlying :class:`kdforge.KDTree`.
    compact_nodes : bool, default True
        Accepted for compatibility; kdforge's nodes always keep tight boxes.
    balanced_tree : bool, default True
        As in scipy: True splits every node at its median (``split="max_spread"``), False
        at the middle of its box, sliding to the data (``split="sliding_midpoint"``), which
        builds faster and queries faster on clustered or heavy-tailed data.
    copy_data : bool, default False
        Copy ``data`` (it is never modified either way).
    boxsize : array_like or float, optional
        Toroidal topology: axis ``i`` wraps with period ``boxsize[i]`` (a scalar applies
        to every axis; values <= 0 leave an axis non-periodic). Data must lie in
        ``[0, boxsize)`` on periodic axes; queries are wrapped into it.

    Attributes
    ----------
    data, n, m, leafsize, maxes, mins, indices, size, boxsize, tree
        As in scipy: the points, their number and dimension, the leaf size, the bounding
        box, the permutation into tree order, the number of nodes, the periods, the root
        node (:class:`cKDTreeNode`).
    """

    _DEFAULT_LEAFSIZE = 16

    def __init__(self, data, leafsize=16, compact_nodes=True, copy_data=False,
                 balanced_tree=True, boxsize=None):
        arr = _as_points(data)
        if copy_data and arr is data:
            arr = arr.copy()
        if not v.is_integer(leafsize):
            raise TypeError(f"leafsize must be an integer, got {type(leafsize).__name__} {leafsize!r}")
        if leafsize < 1:
            raise ValueError("leafsize must be at least 1")
        self.leafsize = int(leafsize)
        self.n, self.m = arr.shape
        self.boxsize = None
        self._periods = None
        if boxsize is not None:
            box = np.empty(self.m, dtype=np.float64)
            box[:] = boxsize
            periodic = box > 0
            if (arr >= box[None, :])[:, periodic].any():
                raise ValueError("Some input data are greater than the size of the periodic box.")
            if (arr < 0)[:, periodic].any():
                raise ValueError("Negative input data are outside of the periodic box.")
            self.boxsize = box
            self._periods = _periodic.periods_of(box, self.m)
        self.data = arr
        self._split = "max_spread" if balanced_tree else "sliding_midpoint"
        self._core = _CoreTree(arr, leaf_size=self.leafsize, split=self._split) if self.n > 0 else None
        self.maxes = arr.max(axis=0).astype(np.float64) if self.n else np.zeros(self.m)
        self.mins = arr.min(axis=0).astype(np.float64) if self.n else np.zeros(self.m)

    # ------------------------------------------------------------------ attributes
    @property
    def indices(self) -> np.ndarray:
        """Original index of each point in tree order (intp)."""
        if self._core is None:
            return np.zeros(0, dtype=np.intp)
        return self._core.record.idx_array.astype(np.intp)

    @property
    def size(self) -> int:
        """Number of nodes of the tree."""
        return 0 if self._core is None else self._core.n_nodes

    @property
    def tree(self):
        """The root node (:class:`cKDTreeNode`); None for an empty tree."""
        return None if self._core is None else cKDTreeNode(self, 0, 0)

    def _build_weights(self, weights) -> np.ndarray:
        """Total weight of each node, nodes in depth-first pre-order (scipy's node order)."""
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if weights.shape[0] != self.n:
            raise ValueError("Number of weights differ from the number of data points")
        record = self._core.record
        cum = np.concatenate([[0.0], np.cumsum(weights[record.idx_array])])
        per_node = cum[record.node_end] - cum[record.node_start]
        n_internal = record.node_start.shape[0] // 2
        order, stack = [], [0]
        while stack:
            node = stack.pop()
            order.append(node)
            if node < n_internal:
                stack += [int(record.node_children[node, 1]), int(record.node_children[node, 0])]
        return per_node[order]

    def __repr__(self) -> str:
        return f"kdforge.scipy.{type(self).__name__}(n={self.n}, m={self.m}, leafsize={self.leafsize})"

    # ------------------------------------------------------------------ helpers
    def _queries(self, x, name="x") -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind == "c":
            raise TypeError(f"KD-tree does not work with complex data ({name} has dtype {arr.dtype})")
        if arr.dtype.kind not in "fiub":
            arr = arr.astype(np.float64)
        arr = np.ascontiguousarray(arr, dtype=self.data.dtype)
        if arr.ndim == 0 or arr.shape[-1] != self.m:
            raise ValueError(f"x must consist of vectors of length {self.m} but has shape "
                             f"{np.shape(x)}")
        if not np.isfinite(arr).all():
            raise ValueError(f"'{name}' must be finite, check for nan or inf values")
        if self._periods is not None:
            flat = _periodic.wrap(arr.reshape(-1, self.m), self._periods)
            arr = flat.reshape(arr.shape)
        return arr

    def _other(self, other, method: str):
        if not isinstance(other, cKDTree):
            raise TypeError(f"Argument 'other' has incorrect type (expected {type(self).__name__}, "
                            f"got {type(other).__name__})")
        if other.m != self.m:
            raise ValueError(f"Trees passed to {method} have different dimensionality")
        return other

    def _record_in_box(self, other: "cKDTree"):
        """``other``'s record, on this tree's dtype and inside its periodic box."""
        if other.data.dtype == self.data.dtype and (
                self._periods is None or other._periods is not None
                and np.array_equal(other._periods, self._periods)):
            return other._core.record
        data = other.data.astype(self.data.dtype)
        if self._periods is not None:
            data = _periodic.wrap(data, self._periods)
        return _CoreTree(data, leaf_size=other.leafsize, split=other._split).record

    # ------------------------------------------------------------------ kNN
    def query(self, x, k=1, eps=0.0, p=2.0, distance_upper_bound=np.inf, workers=None):
        """Query the tree for nearest neighbours.

        Parameters
        ----------
        x : array_like, last dimension m
            Points to query.
        k : int or sequence of int
            Number of neighbours, or the list of 1-based neighbour ranks to return.
        eps : nonnegative float
            Approximate search: the k-th neighbour is within ``(1 + eps)`` times the true
            k-th distance (negative values mean 0).
        p : float, 1 <= p <= infinity
            Minkowski p-norm.
        distance_upper_bound : nonnegative float
            Return only neighbours strictly closer than this (<= 0: none).
        workers : int, optional
            Threads (-1: all cores).

        Returns
        -------
        d : float or ndarray of shape ``x.shape[:-1] + (len(k),)`` (squeezed for ``k == 1``)
            Distances, ``inf`` for missing neighbours.
        i : int or intp ndarray, the same shape
            Indices of the neighbours, ``self.n`` for missing ones.
        """
        ranks, squeeze = _ranks(k)
        queries = self._queries(x)
        p = _check_p(p)
        eps = v.check_eps(max(float(eps), 0.0))
        workers = _workers(workers)
        bound = float(distance_upper_bound)
        if np.isnan(bound):
            raise ValueError("distance_upper_bound must be a number, got nan")
        lead = queries.shape[:-1]
        flat = queries.reshape(-1, self.m)
        k_max = int(ranks.max())
        if self._core is None or bound <= 0 or flat.shape[0] == 0:
            dist = np.full((flat.shape[0], k_max), np.inf, dtype=self.data.dtype)
            idx = np.full((flat.shape[0], k_max), -1, dtype=np.int64)
        elif self._periods is not None:
            dist, idx = _periodic.knn(self._core, flat, k_max, p, eps, bound, workers,
                                      self._periods)
        else:
            dist, idx = self._core.query(flat, k=k_max, p=p, eps=eps,
                                         distance_upper_bound=bound, workers=workers)
        if ranks.size != k_max or not np.array_equal(ranks, np.arange(1, k_max + 1)):
            dist = dist[:, ranks - 1]
            idx = idx[:, ranks - 1]
        idx = np.where(idx < 0, self.n, idx).astype(np.intp, copy=False)
        dist = dist.reshape(lead + (ranks.size,))
        idx = idx.reshape(lead + (ranks.size,))
        if squeeze:
            dist = dist[..., 0]
            idx = idx[..., 0]
            if dist.ndim == 0:
                return float(dist), int(idx)
        return dist, idx

    # ------------------------------------------------------------------ radius
    def query_ball_point(self, x, r, p=2.0, eps=0.0, workers=None, return_sorted=None,
                         return_length=False):
        """Find all points within distance ``r`` of each point of ``x``.

        Parameters
        ----------
        x : array_like, last dimension m
        r : array_like of float
            Radius, broadcast against ``x.shape[:-1]``. A negative radius finds nothing.
        p : float, 1 <= p <= infinity
        eps : nonnegative float
            Approximate search: every point within ``r * (1 + eps)`` is returned (the
            widest answer scipy's definition allows; 0: exactly the points within ``r``).
        workers : int, optional
        return_sorted : bool, optional
            Sort each list by index. None: sort for several points, not for one.
        return_length : bool, default False
            Return the number of points instead of their indices.

        Returns
        -------
        list of int, or object ndarray of lists of shape ``x.shape[:-1]``; counts (intp)
        with ``return_length``.
        """
        queries = self._queries(x)
        p = _check_p(p)
        workers = _workers(workers)
        lead = queries.shape[:-1]
        radii = np.asarray(r, dtype=np.float64)
        if np.isnan(radii).any():
            raise ValueError("r must not be NaN")
        radii = _eps_radius(np.ascontiguousarray(np.broadcast_to(radii, lead)).reshape(-1), eps)
        flat = queries.reshape(-1, self.m)
        if self._core is None or flat.shape[0] == 0:
            indptr = np.zeros(flat.shape[0] + 1, dtype=np.int64)
            indices = np.zeros(0, dtype=np.int64)
        else:
            csr = _periodic.radius_csr(self._core, flat, radii, p, workers, self._periods, False)
            indptr, indices = csr.indptr, csr.indices
        if return_length:
            counts = np.diff(indptr).astype(np.intp).reshape(lead)
            return counts[()] if counts.ndim == 0 else counts
        sort = (len(lead) > 0) if return_sorted is None else bool(return_sorted)
        if sort and self._periods is None:
            indices = indices.copy()
            sort_csr_rows(indptr, indices, None, workers)
        values = indices.tolist()
        bounds = indptr.tolist()
        lists = [values[bounds[i]:bounds[i + 1]] for i in range(flat.shape[0])]
        if not lead:
            return lists[0]
        out = np.empty(len(lists), dtype=object)
        out[:] = lists
        return out.reshape(lead)

    # ------------------------------------------------------------------ dual tree
    def _pair_arrays(self, other, r, p, self_join, with_distances, workers):
        """``(left, right, distances)`` of the pairs within ``r`` (none when ``r < 0``)."""
        radius = float(r)
        if np.isnan(radius):
            raise ValueError("r must not be NaN")
        empty = np.zeros(0, dtype=np.int64)
        if radius < 0 or self._core is None or other._core is None:
            return empty, empty, np.zeros(0, dtype=np.float64)
        record_b = self._core.record if self_join else self._record_in_box(other)
        left, right, distances = _pairs(self._core.record, record_b, radius, p, self._periods,
                                        self_join, with_distances, workers)
        return left, right, distances

    def query_ball_tree(self, other, r, p=2.0, eps=0.0, *, workers=1):
        """Find all pairs of points between ``self`` and ``other`` within distance ``r``.

        Returns
        -------
        list of lists
            For each point of ``self``, the indices of its neighbours in ``other``, sorted.
            ``workers`` is an extension (threads of the dual-tree traversal).
        """
        other = self._other(other, "query_ball_tree")
        p = _check_p(p)
        workers = _workers(workers)
        left, right, _ = self._pair_arrays(other, _eps_radius(r, eps), p, False, False, workers)
        order = pair_order(left, right, other.n)
        counts = np.bincount(left, minlength=self.n)
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        values = right[order].tolist()
        return [values[bounds[i]:bounds[i + 1]] for i in range(self.n)]

    def query_pairs(self, r, p=2.0, eps=0.0, output_type="set", *, workers=1):
        """Find all pairs ``(i, j)``, ``i < j``, of points within distance ``r``.

        Returns
        -------
        set of (int, int) tuples, or intp ndarray of shape (n_pairs, 2) sorted by
        ``(i, j)`` with ``output_type="ndarray"``. ``workers`` is an extension.
        """
        if output_type not in ("set", "ndarray"):
            raise ValueError("Invalid output type")
        p = _check_p(p)
        workers = _workers(workers)
        left, right, _ = self._pair_arrays(self, _eps_radius(r, eps), p, True, False, workers)
        i = np.minimum(left, right)
        j = np.maximum(left, right)
        if output_type == "set":
            return set(zip(i.tolist(), j.tolist()))
        order = pair_order(i, j, self.n)
        return np.stack([i[order], j[order]], axis=1).astype(np.intp, copy=False).reshape(-1, 2)

    def count_neighbors(self, other, r, p=2.0, weights=None, cumulative=True, *, workers=1):
        """Count the pairs ``(x1, x2)`` of ``self`` x ``other`` with ``distance(x1, x2) <= r``.

        Parameters
        ----------
        other : cKDTree
        r : float or one-dimensional array of floats
            Radii (a negative radius counts nothing). Non-decreasing when not cumulative.
        p : float, 1 <= p <= infinity
        weights : tuple, array_like, or None
            ``(self_weights, other_weights)`` (either may be None), or one array for both
            when ``other is self``.
        cumulative : bool, default True
            Pairs within each radius; else the pairs in each bin ``(r[i-1], r[i]]``.
        workers : int, default 1
            Extension: threads of the dual-tree traversal.

        Returns
        -------
        int or float (scalar ``r``), or an intp / float64 array like ``r``.
        """
        other = self._other(other, "count_neighbors")
        p = _check_p(p)
        workers = _workers(workers)
        radii = np.asarray(r, dtype=np.float64)
        if radii.ndim > 1:
            raise ValueError("r must be either a single value or a one-dimensional array of values")
        scalar = radii.ndim == 0
        radii = np.atleast_1d(radii)
        if np.isnan(radii).any():
            raise ValueError("r must not be NaN")
        if not cumulative and (np.diff(radii) < 0).any():
            raise ValueError("r must be non-decreasing for non-cumulative counting.")
        wa, wb = self._count_weights(other, weights)
        weighted = wa is not None or wb is not None
        out = np.zeros(radii.shape[0], dtype=np.float64)
        valid = radii >= 0
        if self._core is not None and other._core is not None and valid.any():
            out[valid] = _counts(self._core.record, self._record_in_box(other), radii[valid], p,
                                 wa, wb, self._periods, workers)
        if not cumulative:
            out = np.diff(out, prepend=0.0)
        if not weighted:
            out = np.rint(out).astype(np.intp)
            return int(out[0]) if scalar else out
        return out[0] if scalar else out

    def _count_weights(self, other, weights):
        if weights is None:
            return None, None
        if isinstance(weights, tuple):
            wa, wb = weights
        else:
            if other is not self:
                raise ValueError("Two different trees are used. Specify weights for both in a tuple.")
            wa = wb = weights
        out = []
        for w, tree in ((wa, self), (wb, other)):
            if w is None:
                out.append(None)
                continue
            arr = np.asarray(w, dtype=np.float64).reshape(-1)
            if arr.shape[0] != tree.n:
                raise ValueError("Number of weights differ from the number of data points")
            if not np.isfinite(arr).all():
                raise ValueError("weights must be finite")
            out.append(arr)
        return out[0], out[1]

    def sparse_distance_matrix(self, other, max_distance, p=2.0, output_type="dok_matrix",
                               *, workers=1):
        """Distance matrix of the pairs of ``self`` x ``other`` within ``max_distance``.

        Parameters
        ----------
        other : cKDTree
        max_distance : nonnegative float (negative: no pairs)
        p : float, 1 <= p <= infinity
        output_type : {"dok_matrix", "coo_matrix", "dict", "ndarray"}
        workers : int, default 1
            Extension: threads of the dual-tree traversal.

        Returns
        -------
        dok_matrix, coo_matrix, dict ``{(i, j): d}``, or a structured ndarray with fields
        ``i``, ``j`` (intp) and ``v`` (float64). Zero distances are stored explicitly.
        """
        if output_type not in ("dok_matrix", "coo_matrix", "dict", "ndarray"):
            raise ValueError("Invalid output type")
        other = self._other(other, "sparse_distance_matrix")
        p = _check_p(p)
        workers = _workers(workers)
        left, right, distances = self._pair_arrays(other, max_distance, p, False, True, workers)
        distances = distances.astype(np.float64, copy=False)
        if output_type == "dict":
            return dict(zip(zip(left.tolist(), right.tolist()), distances.tolist()))
        if output_type == "ndarray":
            out = np.empty(left.shape[0], dtype=[("i", np.intp), ("j", np.intp), ("v", np.float64)])
            out["i"], out["j"], out["v"] = left, right, distances
            return out
        import scipy.sparse

        coo = scipy.sparse.coo_matrix((distances, (left, right)), shape=(self.n, other.n))
        return coo if output_type == "coo_matrix" else coo.todok()


class KDTree(cKDTree):
    """kd-tree with the API of ``scipy.spatial.KDTree`` (default ``leafsize=10``).

    Everything as :class:`cKDTree`; ``tree`` is a :class:`KDTree.innernode` /
    :class:`KDTree.leafnode` view, as in scipy.
    """

    class node:
        """Base of the node views (scipy's ``KDTree.node``)."""

        def __init__(self, view: cKDTreeNode | None = None):
            self._node = view
            self.children = 0 if view is None else view.children

        def __lt__(self, other):
            return id(self) < id(other)

        def __gt__(self, other):
            return id(self) > id(other)

        def __le__(self, other):
            return id(self) <= id(other)

        def __ge__(self, other):
            return id(self) >= id(other)

    class leafnode(node):
        """A leaf: ``idx`` holds the original indices of its points."""

        @property
        def idx(self) -> np.ndarray:
            return self._node.indices

    class innernode(node):
        """An inner node: ``split_dim``, ``split`` and the children ``less`` / ``greater``."""

        def __init__(self, view: cKDTreeNode):
            super().__init__(view)
            self.split_dim = view.split_dim
            self.split = view.split

        @property
        def less(self):
            return KDTree._wrap(self._node.lesser)

        @property
        def greater(self):
            return KDTree._wrap(self._node.greater)

    @staticmethod
    def _wrap(view: cKDTreeNode):
        return KDTree.leafnode(view) if view.split_dim < 0 else KDTree.innernode(view)

    def __init__(self, data, leafsize=10, compact_nodes=True, copy_data=False,
                 balanced_tree=True, boxsize=None):
        super().__init__(data, leafsize, compact_nodes, copy_data, balanced_tree, boxsize)

    def query(self, x, k=1, eps=0.0, p=2.0, distance_upper_bound=np.inf, workers=1):
        """As :meth:`cKDTree.query`; one point and a scalar ``k == 1`` give a float and an
        ``np.intp`` (scipy's ``KDTree``), and ``k=None`` is a ``ValueError``."""
        if k is None:
            raise ValueError("k must be an integer or a sequence of integers")
        d, i = super().query(x, k, eps, p, distance_upper_bound, workers)
        return (d, np.intp(i)) if isinstance(i, int) else (d, i)

    @property
    def tree(self):
        """The root node view (:class:`KDTree.innernode` or :class:`KDTree.leafnode`)."""
        root = super().tree
        return None if root is None else KDTree._wrap(root)
