"""Validation kernels of tree files and pickles: is an untrusted record a valid tree?

Each kernel returns ``(code, where)``: :data:`OK` or the code of the first problem found
and the node or row where it was found; :data:`MESSAGES` words each code.
:mod:`kdforge._treefile` runs them on every loaded record before any query kernel may
touch it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Result codes of the validation kernels.
OK = 0
ROOT_RANGE = 1
CHILD_RANGES = 2
SPLIT_DIM = 3
LEAF_SPLIT_DIM = 4
BOX_NOT_FINITE = 5
CHILD_BOX = 6
SPLIT_VALUE = 7
POINT_OUTSIDE = 8
INDEX_RANGE = 9
INDEX_DUPLICATE = 10
DATA_MISMATCH = 11
CHILD_IDS = 12
ROOT_PARENT = 13
DEPTH = 14

MESSAGES = {
    ROOT_RANGE: "the root node does not hold rows [0, n_points)",
    CHILD_RANGES: "the children of internal node {} do not split its rows into two non-empty ranges",
    SPLIT_DIM: "internal node {} has a split dimension outside [0, n_dims)",
    LEAF_SPLIT_DIM: "leaf {} has a split dimension other than -1",
    BOX_NOT_FINITE: "the bounding box of node {} is not finite with lower <= upper",
    CHILD_BOX: "a child's bounding box is not inside the box of node {}",
    SPLIT_VALUE: "the split value of node {} does not separate its children",
    POINT_OUTSIDE: "leaf {} holds a point outside its bounding box (or not finite)",
    INDEX_RANGE: "idx_array[{}] is outside [0, n_points)",
    INDEX_DUPLICATE: "idx_array[{}] repeats an index: idx_array is not a permutation",
    DATA_MISMATCH: "tree_data[{0}] differs from data[idx_array[{0}]]",
    CHILD_IDS: "the children of internal node {} are not two distinct nodes with larger ids "
               "whose node_parent is that node",
    ROOT_PARENT: "node_parent of the root is not -1",
    DEPTH: "the deepest leaf is at depth {}, which is not n_levels",
}



@njit(cache=True, nogil=True)
def check_structure(node_start, node_end, split_dim, node_children, node_parent, n_points,
                    n_dims, n_levels):
    """Check the links, row ranges, split dimensions and depth that keep the query kernels
    in bounds.

    The arrays have ``n_nodes = 2 * n_internal + 1`` entries (``node_children``:
    ``n_internal`` rows), shapes the caller checked. Every internal node's children must
    have larger ids than it and name it as their parent: then every node but the root is
    the child of exactly one node, there is no cycle, and the ids ``>= n_internal`` are
    exactly the leaves. The children must split the node's rows into two non-empty ranges,
    and the deepest leaf must lie at depth ``n_levels`` (the traversal stacks hold
    ``n_levels + 2`` entries). Returns ``(code, node)``, ``(OK, 0)`` when valid.
    """
    n_nodes = split_dim.shape[0]
    n_internal = n_nodes // 2
    if node_start[0] != 0 or node_end[0] != n_points:
        return ROOT_RANGE, 0
    if node_parent[0] != -1:
        return ROOT_PARENT, 0
    depth = np.zeros(n_nodes, dtype=np.int64)  # parents come before their children
    deepest = 0
    for node in range(n_internal):
        dim = split_dim[node]
        if dim < 0 or dim >= n_dims:
            return SPLIT_DIM, node
        left = node_children[node, 0]
        right = node_children[node, 1]
        if not (node < left < n_nodes and node < right < n_nodes and left != right
                and node_parent[left] == node and node_parent[right] == node):
            return CHILD_IDS, node
        mid = node_end[left]
        if (node_start[left] != node_start[node] or node_start[right] != mid
                or node_end[right] != node_end[node]
                or mid <= node_start[node] or mid >= node_end[node]):
            return CHILD_RANGES, node
        depth[left] = depth[node] + 1
        depth[right] = depth[node] + 1
        deepest = max(deepest, depth[left])
    if deepest != n_levels:
        return DEPTH, deepest
    for node in range(n_internal, n_nodes):
        if split_dim[node] != -1:
            return LEAF_SPLIT_DIM, node
    return OK, 0


@njit(cache=True, nogil=True)
def check_geometry(tree_data, node_start, node_end, split_dim, split_value, node_bounds,
                   node_children):
    """Check boxes, split values and that every point lies in its leaf's box.

    Assumes :func:`check_structure` passed. Returns ``(code, node)``.
    """
    n_nodes = node_bounds.shape[1]
    n_dims = node_bounds.shape[2]
    n_internal = node_children.shape[0]
    for node in range(n_nodes):
        for c in range(n_dims):
            lo = node_bounds[0, node, c]
            hi = node_bounds[1, node, c]
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                return BOX_NOT_FINITE, node
    for node in range(n_internal):
        left = node_children[node, 0]
        right = node_children[node, 1]
        for child in (left, right):
            for c in range(n_dims):
                if not (node_bounds[0, node, c] <= node_bounds[0, child, c]
                        and node_bounds[1, child, c] <= node_bounds[1, node, c]):
                    return CHILD_BOX, node
        dim = split_dim[node]
        value = split_value[node]
        if not (node_bounds[1, left, dim] <= value <= node_bounds[0, right, dim]):
            return SPLIT_VALUE, node
    for node in range(n_internal, n_nodes):
        for row in range(node_start[node], node_end[node]):
            for c in range(n_dims):
                if not (node_bounds[0, node, c] <= tree_data[row, c] <= node_bounds[1, node, c]):
                    return POINT_OUTSIDE, node
    return OK, 0


@njit(cache=True, nogil=True, inline="always")
def _first_seen(seen, index, n_points):
    """Mark ``index`` in the bitset ``seen``; return a problem code or :data:`OK`."""
    if index < 0 or index >= n_points:
        return INDEX_RANGE
    word = index >> 6
    bit = np.uint64(1) << np.uint64(index & 63)
    if seen[word] & bit:
        return INDEX_DUPLICATE
    seen[word] |= bit
    return OK


@njit(cache=True, nogil=True)
def scatter_points(tree_data, idx_array, out):
    """Check that ``idx_array`` is a permutation and write ``out[idx_array[j]] = tree_data[j]``
    (which rebuilds the points in their original order). Returns ``(code, row)``."""
    n_points, n_dims = tree_data.shape
    seen = np.zeros((n_points + 63) // 64, dtype=np.uint64)  # a bitset stays in cache longer
    for row in range(n_points):
        index = idx_array[row]
        code = _first_seen(seen, index, n_points)
        if code != OK:
            return code, row
        for c in range(n_dims):
            out[index, c] = tree_data[row, c]
    return OK, 0


@njit(cache=True, nogil=True)
def compare_points(tree_data, idx_array, data):
    """Check that ``idx_array`` is a permutation and ``data[idx_array[j]] == tree_data[j]``
    for every row ``j``. Returns ``(code, row)``."""
    n_points, n_dims = tree_data.shape
    seen = np.zeros((n_points + 63) // 64, dtype=np.uint64)
    for row in range(n_points):
        index = idx_array[row]
        code = _first_seen(seen, index, n_points)
        if code != OK:
            return code, row
        for c in range(n_dims):
            if data[index, c] != tree_data[row, c]:
                return DATA_MISMATCH, row
    return OK, 0


@njit(cache=True, nogil=True)
def checksum64(data):
    """A 64-bit Fletcher checksum of the bytes of ``data`` (a uint8 array).

    Two running sums modulo 2**64 over the bytes read as little-endian 64-bit words (the
    tail bytes one by one): ``a`` changes with any changed word, ``b`` (the sum of the
    ``a``s) with any reordering too. About memory speed (two additions per 8 bytes),
    against about 1 GB/s for CRC-32; it guards against accidental corruption, not against
    deliberate tampering (the content checks do that).
    """
    n_words = data.shape[0] // 8
    words = data[:n_words * 8].view(np.uint64)
    a = np.uint64(1)
    b = np.uint64(0)
    for i in range(n_words):
        a += words[i]
        b += a
    for i in range(n_words * 8, data.shape[0]):
        a += np.uint64(data[i])
        b += a
    return b ^ (a << np.uint64(32)) ^ (a >> np.uint64(32))
