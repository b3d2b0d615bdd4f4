"""The one record of a KD-tree, :class:`TreeRecord`, and the layout of its arrays.

Everything a query needs is in one ``NamedTuple`` of arrays and scalars. The build returns
it (:func:`kdforge._build.build_record`), :class:`~kdforge.KDTree` holds it
(``tree.record``), the file format and pickles save and load exactly its fields
(:mod:`kdforge._treefile`), and Numba kernels take it whole, as pynndescent passes its
``FlatTree``. Adding a field here adds it everywhere.

Layout
------
Nodes are stored in arrays, without pointers or Python objects. The first
``n_internal = n_nodes // 2`` nodes are internal (split) nodes, the rest are leaves, and
every internal node ``i`` has two children, ``node_children[i, 0]`` (left) and
``node_children[i, 1]`` (right); ``node_parent`` goes back up. Every node owns a contiguous
range of rows ``[node_start[i], node_end[i])`` of the points in *tree order*, and its two
children split that range into two non-empty parts at ``node_end[left child]``.

Two layouts share these arrays:

*Implicit* (``division="median"`` or ``"root"``): nodes are numbered as in a binary heap,
node ``i`` has children ``2*i + 1`` and ``2*i + 2`` and parent ``(i - 1) // 2``, so
``node_children`` and ``node_parent`` could be computed; they are stored all the same, so
that one kernel body serves both layouts. The ranges follow from ``(n, leaf_size,
division)`` alone (:func:`kdforge._kernels.build.node_row_ranges`)::

    division="median": a perfect tree, all 2**L leaves at depth L (L = n_levels)

        node 0: rows [0, n)
        node 1: rows [0, m)    node 2: rows [m, n)       m = n // 2
        nodes 3..6: the halves of those halves (leaves when L = 2)

    a node with rows [s, e) gives its left child [s, s + (e - s) // 2), so siblings
    differ by at most one point and leaves hold floor or ceil of n / 2**L points.

    division="root" (CERN ROOT's TKDTree): ceil(n / leaf_size) leaves, 2 * n_leaves - 1
    nodes, left-complete (heap-shaped): leaves at depth L and possibly L - 1. Leaf number j
    from the left holds rows [j * leaf_size, min((j + 1) * leaf_size, n)): every leaf but
    the last is full. Leaf ids do not follow the left-to-right order there
    (:meth:`kdforge.KDTree.leaves` gives it).

*Explicit* (``split="sliding_midpoint"``, ``division="midpoint"``): the shape follows the
data, so the children can no longer be computed and ``node_children`` is the only record
of them. Internal nodes are numbered in depth-first pre-order (the root is 0, a left child
that splits is its parent's id + 1, and every child's id is larger than its parent's),
leaves in left-to-right order after them: leaf ``n_internal + j`` holds the ``j``-th run of
rows. Depths differ from leaf to leaf; ``n_levels`` is the deepest::

    node_children  | 1 5 | 2 6 | 7 8 | 3 4 | ...   (n_internal, 2): left, right child ids
    node_parent    | -1 0 1 3 3 0 1 2 2 ...        (n_nodes,): -1 at the root

    idx_array   | 7 2 9 | 0 4 1 | 8 3 5 | 6 ...     rows in tree order: row j is point idx_array[j]
                  leaf A  leaf B  leaf C  ...       each leaf's rows are contiguous

Fields (the arrays keep the meaning scikit-learn's ``KDTree.get_arrays()`` gives them):

``tree_data`` : (n, d) float32 or float64
    The points in tree order, ``tree_data[j] == data[idx_array[j]]``: every leaf's points
    are contiguous in memory, which is what makes queries fast. The one copy of the points
    the tree makes.
``idx_array`` : (n,) int32, int64 when n > :data:`INDEX_INT32_LIMIT`
    Original index of each row in tree order.
``node_start``, ``node_end`` : (n_nodes,), the dtype of ``idx_array``
    Row range of each node.
``split_dim`` : (n_nodes,) int32
    Split dimension of each internal node; -1 at leaves.
``split_value`` : (n_nodes,), the points' dtype
    Split value of each internal node (0 at leaves). Rows of the left child have
    ``x[split_dim] <= split_value``, rows of the right child ``x[split_dim] >=
    split_value``: ties may lie on both sides. Searches descend left when the coordinate
    is strictly below the value, right otherwise.
``node_bounds`` : (2, n_nodes, d), the points' dtype
    ``node_bounds[0, i]`` / ``node_bounds[1, i]``: lower / upper corner of the tight
    bounding box of node ``i``'s points. ``node_bounds[:, 0]`` is the root cell searches
    start from.
``node_children`` : (n_internal, 2), the dtype of ``idx_array``
    Left and right child of each internal node (see Layout).
``node_parent`` : (n_nodes,), the dtype of ``idx_array``
    Parent of each node, -1 for the root.
``node_min_index`` : (n_nodes,), the dtype of ``idx_array``
    The smallest original index among each node's points. Exact kNN breaks ties by the
    smaller index, so a node whose points are at best tied with the current k-th neighbour
    and whose indices are all larger cannot improve the answer: with it, a search over many
    exact duplicates prunes whole subtrees instead of scanning every copy.
``leaf_size``, ``split``, ``division``, ``n_levels`` : int
    The build parameters (``split`` and ``division`` as codes: :data:`SPLIT_RULES`,
    :data:`DIVISIONS`) and the depth of the deepest leaf (the root has depth 0).

The points in their original order (``KDTree.data``) are not in the record: no query
reads them, so the record's Numba type stays the same whatever array the caller passed
(a read-only input would otherwise compile every kernel again). The tree keeps them beside
the record, and tree files store them optionally (:mod:`kdforge._treefile`).

Query results always use int64 indices; node arrays use int32 while ``n`` fits, halving
their memory and bandwidth (a silent 32-bit overflow past 2**31 points is a known failure
of other trees).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "TreeRecord",
    "ARRAY_FIELDS",
    "PARAMETER_FIELDS",
    "SPLIT_RULES",
    "SPLIT_MAX_SPREAD",
    "SPLIT_ROUND_ROBIN",
    "SPLIT_SLIDING_MIDPOINT",
    "SPLIT_NAMES",
    "DIVISIONS",
    "DIVISION_NAMES",
    "DIVISION_MEDIAN",
    "DIVISION_ROOT",
    "DIVISION_MIDPOINT",
    "heap_links",
    "FLOAT_DTYPES",
    "INDEX_DTYPES",
    "INDEX_INT32_LIMIT",
    "DEFAULT_LEAF_SIZE",
    "index_dtype_for",
    "tree_levels",
    "tree_shape",
    "n_internal",
    "n_nodes",
    "frozen",
    "read_only_views",
]

#: Largest number of points indexed with int32; larger trees use int64 indices.
INDEX_INT32_LIMIT = 2**31 - 1
#: Default maximum number of points per leaf.
DEFAULT_LEAF_SIZE = 16

#: Split rules by name: how a node picks its split dimension.
SPLIT_RULES = {"max_spread": 0, "round_robin": 1, "sliding_midpoint": 2}
SPLIT_MAX_SPREAD = SPLIT_RULES["max_spread"]
SPLIT_ROUND_ROBIN = SPLIT_RULES["round_robin"]
SPLIT_SLIDING_MIDPOINT = SPLIT_RULES["sliding_midpoint"]
#: Division rules by name: where a node splits its rows. ``"midpoint"`` is the division of
#: the sliding-midpoint rule, the one rule with the explicit layout.
DIVISIONS = {"median": 0, "root": 1, "midpoint": 2}
DIVISION_MEDIAN = DIVISIONS["median"]
DIVISION_ROOT = DIVISIONS["root"]
DIVISION_MIDPOINT = DIVISIONS["midpoint"]
#: The names of the codes.
SPLIT_NAMES = {code: name for name, code in SPLIT_RULES.items()}
DIVISION_NAMES = {code: name for name, code in DIVISIONS.items()}
#: Dtypes of the points and of the indices.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


class TreeRecord(NamedTuple):
    """The arrays and parameters of one KD-tree (see the module documentation)."""

    tree_data: np.ndarray
    idx_array: np.ndarray
    node_start: np.ndarray
    node_end: np.ndarray
    split_dim: np.ndarray
    split_value: np.ndarray
    node_bounds: np.ndarray
    leaf_size: int
    split: int
    division: int
    n_levels: int
    # last, to have defaults: derived (min index) or implied by an implicit layout
    node_min_index: np.ndarray | None = None
    node_children: np.ndarray | None = None
    node_parent: np.ndarray | None = None


#: The record's array fields and its scalar parameters. ``node_min_index`` follows from
#: ``idx_array`` and the row ranges, and ``node_children`` / ``node_parent`` from the
#: implicit layouts: a record assembled by hand may leave them None, and validation
#: (:func:`kdforge._treefile.check_record`) fills them in. Kernels never see a None.
ARRAY_FIELDS = TreeRecord._fields[:7] + ("node_min_index", "node_children", "node_parent")
PARAMETER_FIELDS = TreeRecord._fields[7:11]


def index_dtype_for(n_points: int) -> np.dtype:
    """Dtype of ``idx_array`` and the node ranges for a tree of ``n_points`` points."""
    return INDEX_DTYPES[0] if n_points <= INDEX_INT32_LIMIT else INDEX_DTYPES[1]


def tree_levels(n_points: int, leaf_size: int) -> int:
    """Number of splitting levels ``L`` of a median-division tree (all leaves at depth ``L``).

    ``L`` is the smallest value for which no leaf holds more than ``leaf_size`` points, capped
    at ``floor(log2(n_points))`` so that no leaf is empty. Leaves then hold
    ``floor(n / 2**L)`` or ``ceil(n / 2**L)`` points: between ``leaf_size / 2`` and
    ``leaf_size`` (for ``leaf_size == 1``: one or two).
    """
    levels = 0
    while (leaf_size << levels) < n_points and (2 << levels) <= n_points:
        levels += 1
    return levels


def tree_shape(n_points: int, leaf_size: int, division: int) -> tuple[int, int]:
    """``(n_levels, n_nodes)`` of a tree: the depth of its deepest leaf and its node count.

    ``DIVISION_MEDIAN``: ``2**(L + 1) - 1`` nodes, see :func:`tree_levels`.
    ``DIVISION_ROOT``: ``ceil(n / leaf_size)`` leaves, ``2 * n_leaves - 1`` nodes, leaves at
    depth ``ceil(log2(n_leaves))`` and possibly one less.
    """
    if division == DIVISION_MEDIAN:
        levels = tree_levels(n_points, leaf_size)
        return levels, (2 << levels) - 1
    n_leaves = -(-n_points // leaf_size)
    return (n_leaves - 1).bit_length(), 2 * n_leaves - 1


def heap_links(n_nodes: int, index_dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(node_children, node_parent)`` of the implicit (heap) layout of ``n_nodes`` nodes."""
    internal = np.arange(n_nodes // 2, dtype=index_dtype)
    children = np.stack([2 * internal + 1, 2 * internal + 2], axis=1)
    parent = (np.arange(n_nodes, dtype=index_dtype) - 1) // 2
    return children, parent


def n_nodes(record: TreeRecord) -> int:
    """Number of nodes of the tree."""
    return record.node_start.shape[0]


def n_internal(record: TreeRecord) -> int:
    """Number of internal nodes: nodes ``0 .. n_internal - 1`` split, the others are leaves."""
    return record.node_start.shape[0] // 2


def frozen(record: TreeRecord, copy: str) -> TreeRecord:
    """The record with every array read-only, and owned by the tree.

    Parameters
    ----------
    record : TreeRecord
    copy : {"never", "foreign", "always"}
        ``"never"`` keeps the arrays (a build's own, or the read-only map of a
        loaded file) and only clears their writeable flag; ``"foreign"`` also copies every
        array that does not own its memory (out-of-band pickle buffers, views of someone
        else's array); ``"always"`` copies every array (a caller's record).

    Trees keep frozen records, so that every query kernel compiles for one array type, and
    :func:`read_only_views` hands out views nobody can make writeable.
    """
    arrays = {}
    for name in ARRAY_FIELDS:
        arr = getattr(record, name)
        if copy == "always" or (copy == "foreign" and not arr.flags.owndata):
            arr = np.array(arr, copy=True)
        arr.flags.writeable = False
        arrays[name] = arr
    return record._replace(**arrays)


def read_only_views(record: TreeRecord) -> TreeRecord:
    """The record with each array replaced by a view: views of read-only arrays cannot be
    made writeable, so a caller cannot change the tree through them."""
    return record._replace(**{name: getattr(record, name).view() for name in ARRAY_FIELDS})
