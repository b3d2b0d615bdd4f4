"""Slow, obviously correct twins of the shared Numba kernels (:mod:`kdforge._kernels`).

Each function here computes what one kernel promises, in the plainest Python or NumPy
available: sorting instead of heaps and selection, recursion instead of heap arithmetic,
clipping instead of case analysis. ``tests/test_kernels_*.py`` compare every kernel with
its twin on generated inputs (in the spirit of stumpy's ``tests/naive.py``).

Distances follow the kernels' conventions: *reduced* distances are ``sum |x - q|**p`` for
finite ``p`` and ``max |x - q|`` for ``p = inf``, accumulated in float64 coordinate after
coordinate (so that L1, L2 and L-inf sums agree with the kernels to the last bit).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

# ---------------------------------------------------------------------- pairs and heaps


def k_best(pairs, k, bound):
    """The ``k`` smallest ``(distance, index)`` pairs strictly below ``(bound, -1)``.

    Parameters
    ----------
    pairs : iterable of (float, int)
        Every pair offered, duplicates included (each counts once per offer).
    k : int
        Number of pairs kept.
    bound : float
        Only pairs lexicographically below ``(bound, -1)`` qualify.

    Returns
    -------
    list of (float, int)
        ``k`` pairs in ascending order, padded with ``(bound, -1)``.
    """
    kept = sorted(pair for pair in pairs if pair < (bound, -1))[:k]
    return kept + [(bound, -1)] * (k - len(kept))


def offer_unique_sequence(pairs, k, bound):
    """Contents of a k-best heap after offering ``pairs`` one by one, rejecting known indices.

    The rule of ``heap_offer_unique``: a pair enters when it is below the worst pair held
    and its index is not held already; it then replaces the worst pair.

    Returns
    -------
    list of (float, int)
        The ``k`` pairs held, ascending.
    """
    held = [(bound, -1)] * k
    for dist, index in pairs:
        worst = max(held)
        if (dist, index) < worst and index not in [i for _, i in held]:
            held.remove(worst)
            held.append((dist, index))
    return sorted(held)


def is_max_heap(dist, idx):
    """Whether the arrays form a max-heap of ``(dist, idx)`` pairs (parent >= children)."""
    pairs = list(zip(dist.tolist(), idx.tolist()))
    return all(pairs[(i - 1) // 2] >= pairs[i] for i in range(1, len(pairs)))


def heap_pairs(dist, idx):
    """The ``(distance, index)`` pairs of a heap's arrays, ascending."""
    return sorted(zip(dist.tolist(), idx.tolist()))


def run_queue_ops(ops):
    """Replay pushes and pops on Python's :mod:`heapq`, the twin of the branch min-queue.

    Parameters
    ----------
    ops : list
        ``("push", key, node)`` or ``("pop",)``; a pop on an empty queue is skipped.

    Returns
    -------
    list of (float, int)
        The popped ``(key, node)`` pairs in order, then the rest of the queue ascending.
    """
    queue = []
    popped = []
    for op in ops:
        if op[0] == "push":
            heapq.heappush(queue, (op[1], op[2]))
        elif queue:
            popped.append(heapq.heappop(queue))
    return popped + sorted(queue)


# ---------------------------------------------------------------------- selection and partition


def selected_value(column, lo, hi, k):
    """Value a selection of rows ``[lo, hi)`` puts at row ``k``: the (k - lo)-th smallest."""
    return np.sort(column[lo:hi])[k - lo]


def partition_boundary(column, lo, hi, threshold):
    """Boundary of a partition of rows ``[lo, hi)``: ``lo`` plus the rows ``< threshold``."""
    return lo + int(np.count_nonzero(column[lo:hi].astype(np.float64) < threshold))


def stable_order(keys, lo, hi):
    """Positions ``lo .. hi - 1`` sorted by key, ties in position order (a stable sort)."""
    return lo + np.argsort(keys[lo:hi], kind="stable")


def gather_rows(points, idx, base, order, n):
    """Twin of ``permute_rows``: new local row ``i`` is old local row ``order[i]``."""
    points = points.copy()
    idx = idx.copy()
    source = base + np.asarray(order[:n], dtype=np.int64)
    points[base:base + n] = points[source]
    idx[base:base + n] = idx[source]
    return points, idx


# ---------------------------------------------------------------------- node row ranges


def median_levels(n_points, leaf_size):
    """Levels of a median tree: fewest halvings leaving <= ``leaf_size`` points per leaf,
    but never so many that a leaf could be empty (``2**L <= n_points``)."""
    levels = 0
    while math.ceil(n_points / 2**levels) > leaf_size and 2 ** (levels + 1) <= n_points:
        levels += 1
    return levels


def median_ranges(n_points, leaf_size):
    """Row ranges of a median-division tree, by recursion.

    Returns
    -------
    dict
        ``{node: (start, end)}`` over all nodes of the perfect tree of
        :func:`median_levels` levels; a node ``[s, e)`` gives its left child
        ``[s, s + (e - s) // 2)``.
    """
    levels = median_levels(n_points, leaf_size)
    ranges = {}

    def visit(node, start, end, depth):
        ranges[node] = (start, end)
        if depth < levels:
            mid = start + (end - start) // 2
            visit(2 * node + 1, start, mid, depth + 1)
            visit(2 * node + 2, mid, end, depth + 1)

    visit(0, 0, n_points, 0)
    return ranges


def root_ranges(n_points, leaf_size):
    """Row ranges of a ROOT-division tree, by an in-order walk of the heap-shaped tree.

    The tree has ``n_leaves = ceil(n / leaf_size)`` leaves and ``2 * n_leaves - 1`` nodes;
    nodes ``>= n_leaves - 1`` are leaves. The walk meets the leaves left to right and gives
    leaf number ``j`` rows ``[j * leaf_size, min((j + 1) * leaf_size, n))``; an internal
    node spans its children.

    Returns
    -------
    dict
        ``{node: (start, end)}``.
    """
    n_leaves = -(-n_points // leaf_size)
    n_internal = n_leaves - 1
    ranges = {}
    next_leaf = [0]

    def visit(node):
        if node >= n_internal:
            j = next_leaf[0]
            next_leaf[0] += 1
            ranges[node] = (j * leaf_size, min((j + 1) * leaf_size, n_points))
        else:
            visit(2 * node + 1)
            visit(2 * node + 2)
            ranges[node] = (ranges[2 * node + 1][0], ranges[2 * node + 2][1])

    visit(0)
    return ranges


def node_depth(node):
    """Depth of heap node ``node`` (the root has depth 0)."""
    return (node + 1).bit_length() - 1


def deepest_leaf(ranges):
    """Depth of the deepest leaf of a heap-numbered tree given as ``{node: range}``."""
    n_internal = len(ranges) // 2
    return max(node_depth(node) for node in ranges if node >= n_internal)


# ---------------------------------------------------------------------- distances


def reduced(x, q, p):
    """Reduced Minkowski distance between two vectors, summed in float64 one axis at a time.

    ``sum |x - q|**p`` (``diff * diff`` for p = 2, as the kernels do), ``max |x - q|`` for
    ``p = inf``.
    """
    acc = 0.0
    for a, b in zip(np.asarray(x, dtype=np.float64).tolist(),
                    np.asarray(q, dtype=np.float64).tolist()):
        diff = abs(a - b)
        if math.isinf(p):
            acc = max(acc, diff)
        elif p == 2.0:
            acc += diff * diff
        elif p == 1.0:
            acc += diff
        else:
            acc += diff ** p
    return acc


def root(value, p):
    """True distance of a reduced one: ``value ** (1 / p)`` (itself for p = 1 and inf)."""
    if math.isinf(p) or p == 1.0:
        return value
    if p == 2.0:
        return math.sqrt(value)
    return value ** (1.0 / p)


def power(distance, p):
    """Reduced distance of a true one: ``distance ** p`` (itself for p = 1 and inf)."""
    if math.isinf(p) or p == 1.0:
        return distance
    if p == 2.0:
        return distance * distance
    return distance ** p


def true_distance(x, q, p):
    """Minkowski distance between two vectors (the root of :func:`reduced`)."""
    return root(reduced(x, q, p), p)


def box_nearest(lower, upper, query):
    """Nearest point of the box ``[lower, upper]`` to ``query``: the query clipped to it."""
    return np.clip(np.asarray(query, dtype=np.float64), np.asarray(lower, dtype=np.float64),
                   np.asarray(upper, dtype=np.float64))


def box_farthest(lower, upper, query):
    """Farthest corner of the box ``[lower, upper]`` from ``query``, axis by axis."""
    q = np.asarray(query, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    return np.where(np.abs(q - lo) >= np.abs(hi - q), lo, hi)


# ---------------------------------------------------------------------- leaf codes


def encode(points, centre, scale, code_max=127):
    """8-bit codes of float64 ``points``: ``(x - centre) / scale`` rounded, clipped."""
    codes = np.rint((points - centre) / scale)
    return np.clip(codes, -code_max, code_max).astype(np.int8)


def decode(codes, centre, scale):
    """Coordinates the codes stand for: ``centre + scale * code``."""
    return centre + scale * codes.astype(np.float64)


def code_distance(point_codes, query_code, weights, p):
    """The approximate reduced distance of a point from its codes, evaluated exactly.

    ``sum weights[c] * |code[c] - query_code[c]|**p`` (the maximum of
    ``weights[c] * |code[c] - query_code[c]|`` for p = inf) in float64 on the float32
    inputs: what ``code_distances`` computes in float32, without its rounding.
    """
    diff = np.abs(point_codes.astype(np.float64) - query_code.astype(np.float64))
    weights = weights.astype(np.float64)
    if math.isinf(p):
        return float(np.max(weights * diff))
    return float(np.sum(weights * diff ** p))


def leaf_code_blocks(points, idx_array, leaves, centre, scale, width):
    """Twin of ``encode_leaves``: block ``l`` holds the codes of leaf ``l``'s rows, column-wise.

    Parameters
    ----------
    leaves : list of (start, end)
        Row range of each leaf (rows in tree order: row ``j`` is point ``idx_array[j]``).
    width : int
        Columns of each block (at least the largest leaf); unused columns are zero.
    """
    blocks = np.zeros((len(leaves), points.shape[1], width), dtype=np.int8)
    for leaf, (start, end) in enumerate(leaves):
        blocks[leaf, :, :end - start] = encode(points[idx_array[start:end]], centre, scale).T
    return blocks


# ---------------------------------------------------------------------- results


def group_segments(segment_rows, counts, values, n_rows):
    """Twin of the CSR builder: each row's segments concatenated in processing order.

    Returns
    -------
    indptr : int64 array
    grouped : array like ``values``
    """
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = [[] for _ in range(n_rows)]
    for s, row in enumerate(segment_rows):
        rows[row].extend(values[starts[s]:starts[s + 1]].tolist())
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    grouped = np.array([v for r in rows for v in r], dtype=values.dtype)
    return indptr, grouped


def sorted_row(indices, distances, by_distance):
    """One CSR row sorted by ``(distance, index)``, or by index alone.

    Returns
    -------
    indices, distances : lists (``distances`` is None when not ``by_distance``)
    """
    if not by_distance:
        return sorted(indices.tolist()), None
    pairs = sorted(zip(distances.tolist(), indices.tolist()))
    return [i for _, i in pairs], [d for d, _ in pairs]


# ---------------------------------------------------------------------- traversal


def find_leaf(split_dim, split_value, children, n_internal, query):
    """Leaf a query descends to: left when its coordinate is strictly below the split value."""
    node = 0
    while node < n_internal:
        side = 0 if float(query[split_dim[node]]) < float(split_value[node]) else 1
        node = int(children[node][side])
    return node
