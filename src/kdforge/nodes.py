"""The node API of CERN ROOT's ``TKDTree``, in NumPy's idiom: :class:`NodeMixin`.

ROOT's TKDTree lets its users walk the tree, look at a node's points, split and box, locate
points and measure distances to nodes. :class:`NodeMixin` gives :class:`kdforge.KDTree` the
same abilities; every method that takes node ids or points also takes arrays of them, and
the geometry queries split large batches over threads (``workers=``).

=====================================  ===================================================
ROOT ``TKDTree``                       kdforge
=====================================  ===================================================
``GetLeft`` / ``GetRight``             :meth:`~NodeMixin.left` / :meth:`~NodeMixin.right`
``GetParent``                          :meth:`~NodeMixin.parent`
``IsTerminal``                         :meth:`~NodeMixin.is_leaf`
``GetNLeaves``, ``GetTotalNodes``      :attr:`~NodeMixin.n_leaves`, ``n_nodes``
``GetNodePointsIndexes``               :meth:`~NodeMixin.node_indices`
``GetNPointsNode``                     :meth:`~NodeMixin.node_size`
``GetNodeAxis`` / ``GetNodeValue``     :meth:`~NodeMixin.node_split`
``GetBoundary`` (``MakeBoundaries``)   :meth:`boxes("cell") <NodeMixin.boxes>`
``GetBoundaryExact``                   :meth:`boxes("tight") <NodeMixin.boxes>`
``FindNode``                           :meth:`~NodeMixin.find_leaf`
``FindPoint``                          :meth:`~NodeMixin.find_point`
``DistanceToNode``                     :meth:`~NodeMixin.distance_to_node`
``SetData`` (one call per column)      :meth:`KDTree.from_columns <NodeMixin.from_columns>`
(none)                                 :meth:`~NodeMixin.query_box`,
                                       :meth:`~NodeMixin.query_box_csr`
=====================================  ===================================================

Node ids
--------
Nodes are numbered as in a binary heap (see :mod:`kdforge.tree`): node ``i`` has children
``2*i + 1`` and ``2*i + 2`` and parent ``(i - 1) // 2``; ids ``0 .. n_internal - 1`` are
internal nodes and ``n_internal .. n_nodes - 1`` leaves. Every node owns a contiguous range
of rows of ``idx_array``. With the default division all leaves lie at one depth and leaf ids
follow point order; with ROOT's division the tree is left-complete, leaves lie at two depths
and leaf ids do not follow point order (:meth:`~NodeMixin.leaves` gives that order). Nothing
here assumes either shape. Node ids are validated before use: an id outside
``0 .. n_nodes - 1`` (negative ids included) raises :class:`NodeIdError`.

The mixin reads the tree's private arrays (``_data``, ``_tree_data``, ``_idx_array``,
``_node_start``, ``_node_end``, ``_split_dim``, ``_split_value``, ``_node_bounds``) and its
``n_nodes``, ``n_internal``, ``n_dims`` and ``dtype`` properties.
"""

from __future__ import annotations

import numpy as np

from . import _validation as v
from ._distance import metric_code
from ._nodes_kernels import box_distance_pairs, box_query_batch, find_point_batch
from ._traverse import find_leaf_batch
from ._parallel import run_chunked

__all__ = ["NodeMixin", "NodeIdError", "BOX_KINDS"]

#: Kinds of node box: the region of space the splits assign to a node, or the tight
#: bounding box of its points.
BOX_KINDS = ("cell", "tight")


class NodeIdError(IndexError, ValueError):
    """A node id outside ``0 .. n_nodes - 1``.

    Both an :class:`IndexError` and a :class:`ValueError` (as NumPy's ``AxisError`` is), so
    either ``except`` clause catches it.
    """


def _check_box_kind(kind) -> str:
    if kind not in BOX_KINDS:
        raise ValueError(f"kind must be one of {BOX_KINDS}, got {kind!r}")
    return kind


def _as_box_corner(values, n_dims: int, name: str) -> np.ndarray:
    """Validate one corner array of query boxes: float64 of shape (d,) or (m, d), no NaN."""
    arr = v._as_real_array(values, name, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (one box) or 2-D (m, d), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[-1] != n_dims:
        raise ValueError(f"{name} has {arr.shape[-1]} dimension(s) but the tree has {n_dims}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; box corners must be numbers (+-inf allowed)")
    return arr


def _csr_parts(parts, sort_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """Join the ``(counts, indices)`` results of kernel chunks into ``(indptr, indices)``.

    With ``sort_rows`` each row's indices are sorted ascending.
    """
    counts = np.concatenate([part[0] for part in parts])
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = parts[0][1] if len(parts) == 1 else np.concatenate([part[1] for part in parts])
    if sort_rows:
        rows = np.repeat(np.arange(counts.shape[0]), counts)
        indices = indices[np.lexsort((indices, rows))]
    return indptr, indices


class NodeMixin:
    """Node navigation, node geometry and ROOT-style queries for :class:`kdforge.KDTree`.

    See :mod:`kdforge.nodes` for the node numbering and the correspondence with ROOT's
    ``TKDTree``.
    """

    # ------------------------------------------------------------------ construction
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
        if isinstance(columns, (str, bytes)):
            raise TypeError("columns must be a sequence of 1-D arrays, got a string")
        arrays = [np.asarray(col) for col in columns]
        if not arrays:
            raise ValueError("columns is empty: give one 1-D array per dimension")
        for j, arr in enumerate(arrays):
            if arr.dtype.kind == "c":
                raise TypeError(f"columns[{j}] must be real-valued, got complex dtype {arr.dtype}")
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"columns[{j}] must be a numeric array, got dtype {arr.dtype}")
            if arr.ndim != 1:
                raise ValueError(f"columns[{j}] must be 1-D, got {arr.ndim}-D shape {arr.shape}")
            if arr.shape[0] != arrays[0].shape[0]:
                raise ValueError(f"columns have different lengths: columns[0] has {arrays[0].shape[0]} "
                                 f"values, columns[{j}] has {arr.shape[0]}")
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(f"columns[{j}] contains NaN or infinite values; all values must be finite")
        all_float32 = all(arr.dtype == np.float32 for arr in arrays)
        data = np.empty((arrays[0].shape[0], len(arrays)), dtype=np.float32 if all_float32 else np.float64)
        for j, arr in enumerate(arrays):
            data[:, j] = arr
        return cls(data, **kwargs)

    # ------------------------------------------------------------------ node ids
    def _node_ids(self, nodes, name: str = "node") -> tuple[np.ndarray, bool]:
        """Validate node ids: return them as int64 (same shape) and whether a scalar was given."""
        arr = np.asarray(nodes)
        if arr.dtype.kind not in "iu":
            if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
                arr = arr.astype(np.int64)
            else:
                raise TypeError(f"{name} must be an integer node id or an array of them, got dtype {arr.dtype}")
        n_nodes = self.n_nodes
        if arr.size:
            bad = (arr < 0) | (arr >= n_nodes)
            if bad.any():
                raise NodeIdError(f"{name} {arr[bad].flat[0]} is out of range: this tree has {n_nodes} "
                                  f"node(s), ids 0..{n_nodes - 1}")
        return arr.astype(np.int64, copy=False), arr.ndim == 0

    def _node_depths(self, ids: np.ndarray) -> np.ndarray:
        # depth of node i is floor(log2(i + 1)); frexp is exact for ids below 2**53
        return np.frexp(ids + 1.0)[1].astype(np.int64) - 1

    # ------------------------------------------------------------------ navigation
    @property
    def n_leaves(self) -> int:
        """Number of leaves, ``n_nodes - n_internal``."""
        return self.n_nodes - self.n_internal

    @property
    def depth(self) -> int:
        """Depth of the deepest leaf (the root has depth 0; a one-node tree has depth 0)."""
        return self.n_nodes.bit_length() - 1

    def node_depth(self, node):
        """Depth of each node, ``floor(log2(node + 1))`` (the root has depth 0).

        Parameters
        ----------
        node : int or array_like of int
            Node ids.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        depths = self._node_depths(ids)
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
        """Left child of each node, ``2 * node + 1``, or -1 for a leaf.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        return self._child(node, 1)

    def right(self, node):
        """Right child of each node, ``2 * node + 2``, or -1 for a leaf.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        return self._child(node, 2)

    def _child(self, node, offset: int):
        ids, scalar = self._node_ids(node)
        child = np.where(ids < self.n_internal, 2 * ids + offset, -1)
        return int(child) if scalar else child

    def parent(self, node):
        """Parent of each node, ``(node - 1) // 2``, or -1 for the root.

        Parameters
        ----------
        node : int or array_like of int
            Node ids, ``0 <= node < n_nodes``.

        Returns
        -------
        int or int64 ndarray of the same shape
        """
        ids, scalar = self._node_ids(node)
        up = np.where(ids > 0, (ids - 1) // 2, -1)
        return int(up) if scalar else up

    def leaves(self) -> np.ndarray:
        """Leaf ids from left to right, which is the order of their points in ``idx_array``.

        With the default division this is ``arange(n_internal, n_nodes)``; with ROOT's
        division (leaves at two depths) it is not.

        Returns
        -------
        int64 ndarray of shape (n_leaves,)
        """
        ids = np.arange(self.n_internal, self.n_nodes, dtype=np.int64)
        # in-order rank: the leftmost descendant a node would have at the deepest level
        key = (ids + 1) << (self.depth - self._node_depths(ids))
        return ids[np.argsort(key, kind="stable")]

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
        view = self._idx_array[self._node_start[node]:self._node_end[node]]
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
        sizes = self._node_end[ids].astype(np.int64) - self._node_start[ids]
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
        dims = self._split_dim[ids].astype(np.int64)
        values = np.where(ids < self.n_internal, self._split_value[ids], np.nan).astype(self.dtype)
        if scalar:
            return int(dims), float(values)
        return dims, values

    def _cell_corners(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners (n_nodes, d) of every node's cell, top-down level by level."""
        n_nodes, n_internal = self.n_nodes, self.n_internal
        lower = np.empty((n_nodes, self.n_dims), dtype=self.dtype)
        upper = np.empty((n_nodes, self.n_dims), dtype=self.dtype)
        lower[0] = self._node_bounds[0, 0]
        upper[0] = self._node_bounds[1, 0]
        level_start = 0
        while level_start < n_internal:
            parents = np.arange(level_start, min(2 * level_start + 1, n_internal))
            dims = self._split_dim[parents]
            values = self._split_value[parents]
            for child in (2 * parents + 1, 2 * parents + 2):
                lower[child] = lower[parents]
                upper[child] = upper[parents]
            upper[2 * parents + 1, dims] = values
            lower[2 * parents + 2, dims] = values
            level_start = 2 * level_start + 1
        return lower, upper

    def _box_corners(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        if _check_box_kind(kind) == "cell":
            return self._cell_corners()
        return self._node_bounds[0], self._node_bounds[1]

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
        lower, upper = self._box_corners(kind)
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
        workers = v.check_workers(workers)
        out = np.empty(queries.shape[0], dtype=np.int64)

        def task(start, stop):
            find_leaf_batch(self._split_dim, self._split_value, self.n_internal,
                            queries[start:stop], out[start:stop])

        run_chunked(task, queries.shape[0], workers)
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
        first_only = not all_matches

        def task(start, stop):
            return find_point_batch(self._tree_data, self._idx_array, self._node_start,
                                    self._node_end, self._split_dim, self._split_value,
                                    self.n_internal, self.depth, queries[start:stop], first_only)

        parts = run_chunked(task, queries.shape[0], workers)
        if first_only:
            found = np.concatenate([part[1] for part in parts])
            return found[0] if single else found
        from .tree import _split_by_indptr  # tree.py imports this module: import at call time

        indptr, indices = _csr_parts(parts, sort_rows=True)
        matches = _split_by_indptr(indices, indptr)
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
        lower, upper = self._box_corners(kind)
        try:
            shape = np.broadcast_shapes(arr.shape[:-1], ids.shape)
        except ValueError:
            raise ValueError(f"X of shape {arr.shape} (points of shape {arr.shape[:-1]}) and node of "
                             f"shape {ids.shape} do not broadcast together") from None
        query_rows = np.broadcast_to(np.arange(queries.shape[0]).reshape(arr.shape[:-1]), shape).ravel()
        node_flat = np.ascontiguousarray(np.broadcast_to(ids, shape).ravel())
        dmin = np.empty(node_flat.shape[0], dtype=self.dtype)
        dmax = np.empty(node_flat.shape[0], dtype=self.dtype)
        metric = metric_code(p)

        def task(start, stop):
            box_distance_pairs(lower, upper, queries, query_rows[start:stop], node_flat[start:stop],
                               metric, p, dmin[start:stop], dmax[start:stop])

        run_chunked(task, node_flat.shape[0], workers)
        if shape == ():
            return dmin[0], dmax[0]
        return dmin.reshape(shape), dmax.reshape(shape)

    def _query_box(self, lo, hi, sort_results, workers):
        lo = _as_box_corner(lo, self.n_dims, "lo")
        hi = _as_box_corner(hi, self.n_dims, "hi")
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
        workers = v.check_workers(workers)

        def task(start, stop):
            return box_query_batch(self._tree_data, self._idx_array, self._node_start,
                                   self._node_end, self._node_bounds, self.n_internal,
                                   self.depth, lo2[start:stop], hi2[start:stop])

        indptr, indices = _csr_parts(run_chunked(task, lo2.shape[0], workers), bool(sort_results))
        return single, indptr, indices

    def query_box_csr(self, lo, hi, *, sort_results=False, workers=1):
        """Find the points inside each axis-aligned box, in compact CSR form.

        Parameters are those of :meth:`query_box`.

        Returns
        -------
        RadiusNeighbors
            ``(indptr, indices, None)``: the points of box ``i`` are
            ``indices[indptr[i]:indptr[i + 1]]``; ``.to_lists()`` gives the list form.
        """
        from .tree import RadiusNeighbors  # tree.py imports this module: import at call time

        _, indptr, indices = self._query_box(lo, hi, sort_results, workers)
        return RadiusNeighbors(indptr, indices, None)

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
        from .tree import _split_by_indptr  # tree.py imports this module: import at call time

        single, indptr, indices = self._query_box(lo, hi, sort_results, workers)
        ind = _split_by_indptr(indices, indptr)
        return ind[0] if single else ind
