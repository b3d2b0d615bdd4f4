"""Node ids and node geometry over a :class:`~kdforge.record.TreeRecord`.

The node API of :class:`kdforge.KDTree` (after CERN ROOT's ``TKDTree``) is made of methods
of the tree; this module holds what they compute from the record: checked node ids, depths,
the left-to-right order of the leaves, and the two kinds of node box.

=====================================  ===================================================
ROOT ``TKDTree``                       kdforge ``KDTree``
=====================================  ===================================================
``GetLeft`` / ``GetRight``             ``left`` / ``right``
``GetParent``                          ``parent``
``IsTerminal``                         ``is_leaf``
``GetNLeaves``, ``GetTotalNodes``      ``n_leaves``, ``n_nodes``
``GetNodePointsIndexes``               ``node_indices``
``GetNPointsNode``                     ``node_size``
``GetNodeAxis`` / ``GetNodeValue``     ``node_split``
``GetBoundary`` (``MakeBoundaries``)   ``boxes("cell")``
``GetBoundaryExact``                   ``boxes("tight")``
``FindNode``                           ``find_leaf``
``FindPoint``                          ``find_point``
``DistanceToNode``                     ``distance_to_node``
``SetData`` (one call per column)      ``KDTree.from_columns``
(none)                                 ``query_box``, ``query_box_csr``
=====================================  ===================================================

Node ids follow :mod:`kdforge.record`: internal nodes first, their children in
``node_children``, parents in ``node_parent``; nothing here assumes a layout's shape, so the
implicit (heap) and explicit (sliding-midpoint) layouts answer alike. An id outside
``0 .. n_nodes - 1`` (negative ids included) raises :class:`NodeIdError`.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice
from .record import TreeRecord

__all__ = ["NodeIdError", "BOX_KINDS", "node_ids", "levels", "node_depths", "leaves_in_order",
           "box_corners"]

#: Kinds of node box: the region of space the splits assign to a node, or the tight
#: bounding box of its points.
BOX_KINDS = ("cell", "tight")


class NodeIdError(IndexError, ValueError):
    """A node id outside ``0 .. n_nodes - 1``.

    Both an :class:`IndexError` and a :class:`ValueError` (as NumPy's ``AxisError`` is), so
    either ``except`` clause catches it.
    """


def node_ids(tree: TreeRecord, nodes, name: str = "node") -> tuple[np.ndarray, bool]:
    """Validate node ids: return them as int64 (same shape) and whether a scalar was given."""
    arr = np.asarray(nodes)
    if arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an integer node id or an array of them, got dtype {arr.dtype}")
    n_nodes = tree.node_start.shape[0]
    if arr.size:
        bad = (arr < 0) | (arr >= n_nodes)
        if bad.any():
            raise NodeIdError(f"{name} {arr[bad].flat[0]} is out of range: this tree has {n_nodes} "
                              f"node(s), ids 0..{n_nodes - 1}")
    return arr.astype(np.int64, copy=False), arr.ndim == 0


def levels(tree: TreeRecord) -> list[np.ndarray]:
    """Node ids by depth: ``levels(tree)[k]`` holds the nodes at depth ``k`` (int64)."""
    n_internal = tree.node_start.shape[0] // 2
    out = [np.zeros(1, dtype=np.int64)]
    while True:
        internal = out[-1][out[-1] < n_internal]
        if internal.size == 0:
            return out
        out.append(tree.node_children[internal].reshape(-1).astype(np.int64))


def node_depths(tree: TreeRecord, ids: np.ndarray) -> np.ndarray:
    """Depth of each node id (the root has depth 0)."""
    depth = np.empty(tree.node_start.shape[0], dtype=np.int64)
    for k, nodes in enumerate(levels(tree)):
        depth[nodes] = k
    return depth[ids]


def leaves_in_order(tree: TreeRecord) -> np.ndarray:
    """Leaf ids from left to right, which is the order of their points in ``idx_array``."""
    n_nodes = tree.node_start.shape[0]
    ids = np.arange(n_nodes // 2, n_nodes, dtype=np.int64)
    # leaves own disjoint non-empty row ranges: their first rows order them
    return ids[np.argsort(tree.node_start[ids], kind="stable")]


def _cell_corners(tree: TreeRecord) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners (n_nodes, d) of every node's cell, top-down level by level."""
    n_nodes = tree.node_start.shape[0]
    n_internal = n_nodes // 2
    bounds = tree.node_bounds
    lower = np.empty((n_nodes, bounds.shape[2]), dtype=bounds.dtype)
    upper = np.empty((n_nodes, bounds.shape[2]), dtype=bounds.dtype)
    lower[0] = bounds[0, 0]
    upper[0] = bounds[1, 0]
    for nodes in levels(tree):
        parents = nodes[nodes < n_internal]
        dims = tree.split_dim[parents]
        values = tree.split_value[parents]
        left = tree.node_children[parents, 0]
        right = tree.node_children[parents, 1]
        for child in (left, right):
            lower[child] = lower[parents]
            upper[child] = upper[parents]
        upper[left, dims] = values
        lower[right, dims] = values
    return lower, upper


def box_corners(tree: TreeRecord, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners (n_nodes, d) of every node's box of ``kind`` (checked here).

    ``"cell"``: the region of space the splits assign to the node, starting from the
    bounding box of the data at the root; ``"tight"``: the bounding box of its points.
    """
    if check_choice(kind, "kind", BOX_KINDS) == "cell":
        return _cell_corners(tree)
    return tree.node_bounds[0], tree.node_bounds[1]
