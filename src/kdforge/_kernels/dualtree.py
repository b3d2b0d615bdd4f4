"""Dual-tree kernels: pairs of points within a radius, and pair counts over many radii.

Both trees are descended together. A pair of nodes ``(a, b)`` (``a`` of the query tree,
``b`` of the other) is bounded by the smallest and largest distance between their tight
boxes (:func:`box_pair_bounds`): pruned whole when the smallest exceeds the radius,
accepted whole when the largest is within it (pair counts; pair lists when no distances
are wanted), otherwise the node with more rows is split. Leaf pairs are measured point
by point with the one distance loop of :mod:`kdforge._kernels.distance`.

Work is split by the caller over contiguous ranges of one level of the query tree (its
nodes at one depth, numbered consecutively in the heap layout): each range is descended
against the other tree's root, so threads share nothing.

Periodic (toroidal) axes: ``periods[c] > 0`` wraps axis ``c`` with that period; a point
difference ``d`` there counts as ``min(d, period - d)``, a box gap as the smallest gap over
the shifts ``-period, 0, +period``, and a box's largest difference at most ``period / 2``.
Points must lie in ``[0, period)`` on those axes. Box bounds get a relative margin of
:data:`BOX_MARGIN` before they prune or accept anything, so rounding can only send a pair
to the exact point-by-point test, never to a wrong answer.

Self-joins (``self_join``, both trees the same) visit each unordered pair once: a node
pair whose ``b`` rows all precede ``a``'s is dropped, and only rows ``j > i`` are paired.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import axis_term, box_min_reduced, combine, from_reduced, reduced_distance
from .results import grow

#: Relative margin on box bounds (far above the few ulps of rounding of a box distance).
BOX_MARGIN = 1e-12


@njit(cache=True, nogil=True, inline="always")
def periodic_diff(diff, period):
    """Axis difference ``diff >= 0`` on a circle of length ``period`` (no wrap if <= 0)."""
    if period > 0.0 and diff > 0.5 * period:
        return period - diff
    return diff


@njit(cache=True, nogil=True)
def periodic_reduced(point, b_data, j, metric, p, periods):
    """Reduced periodic distance between ``point`` and ``b_data[j]`` (periodic axes wrap).

    Kernels call it only with periods; plain distances go to ``reduced_distance`` directly
    (one function holding both branches, inlined, made leaf loops five times slower).
    """
    acc = 0.0
    for c in range(point.shape[0]):
        diff = periodic_diff(abs(np.float64(point[c]) - np.float64(b_data[j, c])), periods[c])
        acc = combine(acc, axis_term(diff, metric, p), metric)
    return acc


@njit(cache=True, nogil=True)
def box_pair_bounds(bounds_a, a, bounds_b, b, metric, p, periods, periodic):
    """Smallest and largest reduced distance between the tight boxes of nodes ``a`` and ``b``."""
    dmin = 0.0
    dmax = 0.0
    for c in range(bounds_a.shape[2]):
        alo = np.float64(bounds_a[0, a, c])
        ahi = np.float64(bounds_a[1, a, c])
        blo = np.float64(bounds_b[0, b, c])
        bhi = np.float64(bounds_b[1, b, c])
        gap = max(0.0, blo - ahi, alo - bhi)
        far = max(ahi - blo, bhi - alo)
        if periodic and periods[c] > 0.0:
            period = periods[c]
            gap = min(gap, max(0.0, blo + period - ahi, alo - bhi - period),
                      max(0.0, blo - period - ahi, alo - bhi + period))
            far = min(far, 0.5 * period)
        dmin = combine(dmin, axis_term(gap, metric, p), metric)
        dmax = combine(dmax, axis_term(far, metric, p), metric)
    return dmin * (1.0 - BOX_MARGIN), dmax * (1.0 + BOX_MARGIN)


@njit(cache=True, nogil=True)
def _stack_size(tree_a, tree_b):
    return 2 * (tree_a.n_levels + tree_b.n_levels + 4)


@njit(cache=True, nogil=True, inline="always")
def _split_a(tree_a, a, tree_b, b, n_int_a, n_int_b):
    """Whether to split ``a`` (else ``b``): the internal node with more rows."""
    if a >= n_int_a:
        return False
    if b >= n_int_b:
        return True
    rows_a = tree_a.node_end[a] - tree_a.node_start[a]
    rows_b = tree_b.node_end[b] - tree_b.node_start[b]
    return rows_a >= rows_b


@njit(cache=True, nogil=True)
def pairs_within(tree_a, tree_b, starts, first, last, r_reduced, metric, p, periods, periodic,
                 self_join, with_distances, dist_dtype_probe):
    """All pairs ``(i, j)`` with ``dist(a_i, b_j) <= r`` for the query-tree nodes ``starts[first:last]``.

    Parameters
    ----------
    tree_a, tree_b : TreeRecord
        Query tree and other tree (the same record for a self-join).
    starts : int64 array
        Query-tree nodes whose subtrees partition its rows (a frontier,
        :func:`kdforge.dualtree.frontier`); each is joined against ``tree_b``'s root.
    first, last : int
        The positions of ``starts`` to start from.
    r_reduced : float
        Reduced radius.
    metric, p : int, float
        Metric code and Minkowski order.
    periods : float64 array of shape (d,)
        Period of each axis, <= 0 for a non-periodic axis (used when ``periodic``).
    periodic : bool
    self_join : bool
        Both trees are one: each unordered pair ``i < j`` (in tree rows) once, no ``(i, i)``.
    with_distances : bool
        Measure every pair (no whole-node acceptance) and return the distances.
    dist_dtype_probe : array
        Zero-length array of the distances' dtype.

    Returns
    -------
    left, right : int64 arrays
        Original indices in ``tree_a`` and ``tree_b`` of each pair.
    distances : array
        Their true distances (empty unless ``with_distances``).
    """
    a_data = tree_a.tree_data
    b_data = tree_b.tree_data
    a_start = tree_a.node_start
    a_end = tree_a.node_end
    b_start = tree_b.node_start
    b_end = tree_b.node_end
    n_int_a = a_start.shape[0] // 2
    n_int_b = b_start.shape[0] // 2
    size = _stack_size(tree_a, tree_b)
    stack_a = np.empty(size, dtype=np.int64)
    stack_b = np.empty(size, dtype=np.int64)
    left = np.empty(1024, dtype=np.int64)
    right = np.empty(1024, dtype=np.int64)
    distances = np.empty(1024 if with_distances else 0, dtype=dist_dtype_probe.dtype)
    total = 0
    for position in range(first, last):
        start_node = starts[position]
        top = 0
        stack_a[0] = start_node
        stack_b[0] = 0
        top = 1
        while top > 0:
            top -= 1
            a = stack_a[top]
            b = stack_b[top]
            if self_join and b_end[b] <= a_start[a]:
                continue
            dmin, dmax = box_pair_bounds(tree_a.node_bounds, a, tree_b.node_bounds, b, metric,
                                         p, periods, periodic)
            if dmin > r_reduced:
                continue
            whole = (not with_distances) and dmax <= r_reduced
            if whole or (a >= n_int_a and b >= n_int_b):
                # at most every pair of the two row ranges
                needed = total + (a_end[a] - a_start[a]) * (b_end[b] - b_start[b])
                left = grow(left, needed)
                right = grow(right, needed)
                if with_distances:
                    distances = grow(distances, needed)
                b_lower = tree_b.node_bounds[0, b]
                b_upper = tree_b.node_bounds[1, b]
                for i in range(a_start[a], a_end[a]):
                    point = a_data[i]  # one view per row: views cost reference counting
                    if not whole and not periodic and box_min_reduced(
                            b_lower, b_upper, point, metric, p) > r_reduced:
                        continue  # this point is too far from b's box
                    j_first = b_start[b]
                    if self_join and j_first <= i:
                        j_first = i + 1
                    for j in range(j_first, b_end[b]):
                        if whole:
                            left[total] = tree_a.idx_array[i]
                            right[total] = tree_b.idx_array[j]
                            total += 1
                            continue
                        if periodic:
                            d = periodic_reduced(point, b_data, j, metric, p, periods)
                        else:
                            d = reduced_distance(b_data, j, point, metric, p, r_reduced)
                        if d <= r_reduced:
                            left[total] = tree_a.idx_array[i]
                            right[total] = tree_b.idx_array[j]
                            if with_distances:
                                distances[total] = from_reduced(d, metric, p)
                            total += 1
                continue
            if _split_a(tree_a, a, tree_b, b, n_int_a, n_int_b):
                stack_a[top] = tree_a.node_children[a, 1]
                stack_b[top] = b
                stack_a[top + 1] = tree_a.node_children[a, 0]
                stack_b[top + 1] = b
            else:
                stack_a[top] = a
                stack_b[top] = tree_b.node_children[b, 1]
                stack_a[top + 1] = a
                stack_b[top + 1] = tree_b.node_children[b, 0]
            top += 2
    n_dist = total if with_distances else 0
    return left[:total], right[:total], distances[:n_dist]


@njit(cache=True, nogil=True, inline="always")
def _first_at_least(values, lo, hi, x):
    """Smallest index ``k`` in ``[lo, hi]`` with ``values[k] >= x`` (``hi`` if none below ``hi``)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] >= x:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, nogil=True)
def count_pairs(tree_a, tree_b, starts, first, last, radii_reduced, metric, p, periods, periodic,
                cum_weight_a, cum_weight_b):
    """Weighted pair counts binned by radius, for the query-tree nodes ``starts[first:last]``.

    Parameters
    ----------
    radii_reduced : float64 array of shape (n_r,), non-decreasing
        Reduced radii.
    cum_weight_a, cum_weight_b : float64 arrays of shape (n + 1,)
        Prefix sums of the points' weights in tree order (row ``j``'s weight is
        ``cum[j + 1] - cum[j]``).
    (others as in :func:`pairs_within`, without self-join: every ordered pair counts.)

    Returns
    -------
    bins : float64 array of shape (n_r + 1,)
        ``bins[k]``: total weight ``w_i * w_j`` of the pairs whose distance ``d`` has
        ``radii[k - 1] < d <= radii[k]`` (``bins[0]``: ``d <= radii[0]``; ``bins[n_r]``:
        beyond every radius, not counted and left 0). The cumulative sum gives the counts
        within each radius.
    """
    a_data = tree_a.tree_data
    b_data = tree_b.tree_data
    a_start = tree_a.node_start
    a_end = tree_a.node_end
    b_start = tree_b.node_start
    b_end = tree_b.node_end
    n_int_a = a_start.shape[0] // 2
    n_int_b = b_start.shape[0] // 2
    n_r = radii_reduced.shape[0]
    size = _stack_size(tree_a, tree_b)
    stack_a = np.empty(size, dtype=np.int64)
    stack_b = np.empty(size, dtype=np.int64)
    stack_lo = np.empty(size, dtype=np.int64)
    stack_hi = np.empty(size, dtype=np.int64)
    bins = np.zeros(n_r + 1, dtype=np.float64)
    for position in range(first, last):
        start_node = starts[position]
        stack_a[0] = start_node
        stack_b[0] = 0
        stack_lo[0] = 0
        stack_hi[0] = n_r
        top = 1
        while top > 0:
            top -= 1
            a = stack_a[top]
            b = stack_b[top]
            dmin, dmax = box_pair_bounds(tree_a.node_bounds, a, tree_b.node_bounds, b, metric,
                                         p, periods, periodic)
            # every pair of (a, b) falls in a bin in [lo, hi]
            lo = _first_at_least(radii_reduced, stack_lo[top], stack_hi[top], dmin)
            hi = _first_at_least(radii_reduced, lo, stack_hi[top], dmax)
            if lo == n_r:
                continue
            if lo == hi:
                weight_a = cum_weight_a[a_end[a]] - cum_weight_a[a_start[a]]
                weight_b = cum_weight_b[b_end[b]] - cum_weight_b[b_start[b]]
                bins[lo] += weight_a * weight_b
                continue
            if a >= n_int_a and b >= n_int_b:
                b_lower = tree_b.node_bounds[0, b]
                b_upper = tree_b.node_bounds[1, b]
                largest = radii_reduced[min(hi, n_r - 1)]
                for i in range(a_start[a], a_end[a]):
                    point = a_data[i]
                    if not periodic and box_min_reduced(b_lower, b_upper, point, metric,
                                                        p) > largest:
                        continue  # this point is too far from b's box for every radius
                    weight_i = cum_weight_a[i + 1] - cum_weight_a[i]
                    for j in range(b_start[b], b_end[b]):
                        if periodic:
                            d = periodic_reduced(point, b_data, j, metric, p, periods)
                        else:
                            d = reduced_distance(b_data, j, point, metric, p, np.inf)
                        k = _first_at_least(radii_reduced, lo, hi, d)
                        if k < n_r:
                            bins[k] += weight_i * (cum_weight_b[j + 1] - cum_weight_b[j])
                continue
            if _split_a(tree_a, a, tree_b, b, n_int_a, n_int_b):
                stack_a[top] = tree_a.node_children[a, 1]
                stack_b[top] = b
                stack_a[top + 1] = tree_a.node_children[a, 0]
                stack_b[top + 1] = b
            else:
                stack_a[top] = a
                stack_b[top] = tree_b.node_children[b, 1]
                stack_a[top + 1] = a
                stack_b[top + 1] = tree_b.node_children[b, 0]
            stack_lo[top] = lo
            stack_hi[top] = hi
            stack_lo[top + 1] = lo
            stack_hi[top + 1] = hi
            top += 2
    bins[n_r] = 0.0
    return bins
