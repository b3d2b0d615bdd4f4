"""Minkowski distances in "reduced" form: the one home of the per-metric arithmetic.

Kernels compare reduced distances, which order points like true distances but are cheaper:
``sum |x - q|**p`` for finite ``p`` (squared distance for p = 2) and ``max |x - q|`` for
p = inf. ``metric`` codes pick the specialised arithmetic; :func:`metric_code` maps ``p``.
All sums accumulate in float64, coordinate after coordinate, so a full sum has one value
whichever kernel computes it (trees, forests and brute force agree to the last bit).

:func:`to_reduced` and :func:`from_reduced` are the one conversion between true and
reduced distances: kernels call them compiled, Python calls ``to_reduced.py_func`` /
``from_reduced.py_func``, which work on floats and NumPy arrays alike.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

METRIC_L2 = 0
METRIC_L1 = 1
METRIC_LINF = 2
METRIC_LP = 3

#: Coordinates summed between two checks of a partial distance against its bound.
EARLY_EXIT_BLOCK = 8


def metric_code(p: float) -> int:
    """Return the metric code of a validated Minkowski order ``p``."""
    if p == 2.0:
        return METRIC_L2
    if p == 1.0:
        return METRIC_L1
    if math.isinf(p):
        return METRIC_LINF
    return METRIC_LP


@njit(cache=True, nogil=True, inline="always")
def to_reduced(distance, metric, p):
    """Reduced form of a true distance (radii, upper bounds); ``inf`` stays ``inf``."""
    if metric == METRIC_L1 or metric == METRIC_LINF:
        return distance
    if metric == METRIC_L2:
        return distance * distance
    return distance ** p


@njit(cache=True, nogil=True, inline="always")
def from_reduced(value, metric, p):
    """True distance from a reduced one."""
    if metric == METRIC_L2:
        return np.sqrt(value)
    if metric == METRIC_LP:
        return value ** (1.0 / p)
    return value


@njit(cache=True, nogil=True, inline="always")
def axis_term(diff, metric, p):
    """Reduced contribution of one coordinate difference (``diff >= 0``)."""
    if metric == METRIC_L2:
        return diff * diff
    if metric == METRIC_L1 or metric == METRIC_LINF:
        return diff
    return diff ** p


@njit(cache=True, nogil=True, inline="always")
def combine(acc, term, metric):
    """Add one axis term to a reduced distance (``max`` for p = inf)."""
    if metric == METRIC_LINF:
        return acc if acc >= term else term
    return acc + term


@njit(cache=True, nogil=True, inline="always")
def reduced_distance(points, row, query, metric, p, bound):
    """Reduced distance between ``points[row]`` and ``query``, abandoned above ``bound``.

    Accumulates in float64, coordinate after coordinate. Every :data:`EARLY_EXIT_BLOCK`
    coordinates the partial sum is compared with ``bound`` and returned as soon as it
    exceeds it (partial sums never decrease, so the point cannot qualify); pass ``inf``
    for the full distance. A complete sum is the same value whatever the bound.
    """
    n_dims = query.shape[0]
    acc = 0.0
    start = 0
    while True:
        stop = min(start + EARLY_EXIT_BLOCK, n_dims)
        if metric == METRIC_L2:
            for c in range(start, stop):
                diff = np.float64(points[row, c]) - np.float64(query[c])
                acc += diff * diff
        elif metric == METRIC_L1:
            for c in range(start, stop):
                acc += abs(np.float64(points[row, c]) - np.float64(query[c]))
        elif metric == METRIC_LINF:
            for c in range(start, stop):
                diff = abs(np.float64(points[row, c]) - np.float64(query[c]))
                if diff > acc:
                    acc = diff
        else:
            for c in range(start, stop):
                acc += abs(np.float64(points[row, c]) - np.float64(query[c])) ** p
        if stop == n_dims or acc > bound:
            return acc
        start = stop


@njit(cache=True, nogil=True)
def box_min_reduced(lower, upper, query, metric, p):
    """Reduced distance from ``query`` to the nearest point of the box [lower, upper]."""
    acc = 0.0
    for c in range(query.shape[0]):
        q = np.float64(query[c])
        lo = np.float64(lower[c])
        hi = np.float64(upper[c])
        diff = 0.0
        if q < lo:
            diff = lo - q
        elif q > hi:
            diff = q - hi
        acc = combine(acc, axis_term(diff, metric, p), metric)
    return acc


@njit(cache=True, nogil=True)
def box_max_reduced(lower, upper, query, metric, p):
    """Reduced distance from ``query`` to the farthest point of the box [lower, upper]."""
    acc = 0.0
    for c in range(query.shape[0]):
        q = np.float64(query[c])
        diff = max(abs(q - np.float64(lower[c])), abs(np.float64(upper[c]) - q))
        acc = combine(acc, axis_term(diff, metric, p), metric)
    return acc
