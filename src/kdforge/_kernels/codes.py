"""8-bit leaf codes of the KD-forest: compact leaves that screen points with an error bound.

Each leaf is a block of 8-bit codes, one column per point (``codes[leaf, c, j]``), so the
inner loop of :func:`code_distances` runs over points and vectorises, and a leaf is a
quarter of its float32 size. Coordinate ``c`` of a point is ``centre[c] + scale[c] *
code`` within ``scale[c] / 2``. The approximate distance (in float32) then gives, with a
rigorous error bound (:func:`code_slack`), a lower bound of the true one; only points whose
bound does not exclude them (:func:`screen_bound`) are measured exactly. Results are
therefore exact distances, and a full budget gives the exact answer
(:mod:`kdforge._kernels.bbf`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import (
    EARLY_EXIT_BLOCK,
    METRIC_L1,
    METRIC_L2,
    METRIC_LINF,
    METRIC_LP,
    axis_term,
    combine,
    from_reduced,
    to_reduced,
)

__all__ = ["CODE_MAX", "QUERY_CODE_MAX", "code_weights", "query_code", "code_distances",
           "code_slack", "screen_bound", "encode_leaves", "code_parameters", "empty_codes"]

#: Largest code magnitude: codes are int8 in ``[-CODE_MAX, CODE_MAX]``.
CODE_MAX = 127
#: A query's code coordinates are clamped to ``[-QUERY_CODE_MAX, QUERY_CODE_MAX]``: that
#: only brings the query closer to every code (which are within ``CODE_MAX``), so distances
#: are underestimated, never overestimated, and far queries cannot overflow float32.
QUERY_CODE_MAX = 2.0**20
#: Largest float32 value an approximate distance may be compared at: a screen above it
#: screens nothing (an overflowing float32 sum could not be told from a large one).
FLOAT32_SCREEN_MAX = 1e37
#: Bound of the total absolute rounding of the float32 sums in the subnormal range (at most
#: ``2 * d * 2**-150`` for d below 2**22): added to every screen.
SUBNORMAL_SLACK = 2.0**-126


@njit(cache=True, nogil=True, error_model="numpy")
def code_weights(scale, metric, p, out):
    """Fill ``out`` (float32, (d,)) with the axis weights of :func:`code_distances`; return
    the distance unit.

    With ``unit = max(scale)``, ``out[c]`` is ``(scale[c] / unit)**p`` (``scale[c] / unit``
    for p = inf), at most 1 so that it cannot overflow, rounded *down* to float32 so that an
    approximate distance never exceeds the one with exact weights (a weight that underflows
    loses precision, never the bound). Approximate distances are then reduced distances in
    units of ``unit``.
    """
    unit = 0.0
    for c in range(scale.shape[0]):
        unit = max(unit, scale[c])
    for c in range(scale.shape[0]):
        ratio = scale[c] / unit
        weight = ratio if metric == METRIC_LINF else ratio ** p
        rounded = np.float32(weight)
        if np.float64(rounded) > weight:
            rounded = np.nextafter(rounded, np.float32(0.0))
        out[c] = rounded
    return unit


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def query_code(value, centre, scale):
    """One query coordinate in code units, clamped to ``QUERY_CODE_MAX`` (float32)."""
    code = (value - centre) / scale
    return np.float32(min(QUERY_CODE_MAX, max(-QUERY_CODE_MAX, code)))


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def code_distances(codes, block, count, query_code, weights, metric, p, bound, out):
    """Approximate reduced distances of the ``count`` points of a code block, into ``out``.

    ``codes[block, c, j]`` is the code of coordinate ``c`` of point ``j``; ``query_code[c]`` is
    the query's coordinate in code units (:func:`query_code`) and ``weights`` come from
    :func:`code_weights`, so that ``out[j]`` approximates the reduced distance in units of
    its ``unit``. Float32 arithmetic; the loops over points vectorise. Returns False,
    leaving partial sums, as soon as every point's partial sum exceeds ``bound`` (checked
    every :data:`EARLY_EXIT_BLOCK` coordinates; a NaN sum, from an overflow, never counts
    as exceeding it).
    """
    n_dims = query_code.shape[0]
    for j in range(count):
        out[j] = 0.0
    exponent = np.float32(p)
    start = 0
    while start < n_dims:
        stop = min(start + EARLY_EXIT_BLOCK, n_dims)
        for c in range(start, stop):
            q = query_code[c]
            w = weights[c]
            # one loop per metric (constant arguments fold axis_term's branches away), so
            # that each loop over the points vectorises
            if metric == METRIC_L2:
                for j in range(count):
                    term = axis_term(abs(np.float32(codes[block, c, j]) - q), METRIC_L2, exponent)
                    out[j] = combine(out[j], w * term, METRIC_L2)
            elif metric == METRIC_L1:
                for j in range(count):
                    term = axis_term(abs(np.float32(codes[block, c, j]) - q), METRIC_L1, exponent)
                    out[j] = combine(out[j], w * term, METRIC_L1)
            elif metric == METRIC_LINF:
                for j in range(count):
                    term = axis_term(abs(np.float32(codes[block, c, j]) - q), METRIC_LINF, exponent)
                    out[j] = combine(out[j], w * term, METRIC_LINF)
            else:
                for j in range(count):
                    term = axis_term(abs(np.float32(codes[block, c, j]) - q), METRIC_LP, exponent)
                    out[j] = combine(out[j], w * term, METRIC_LP)
        alive = 0
        for j in range(count):
            alive += not out[j] > bound
        if alive == 0:
            return False
        start = stop
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def code_slack(query_code, scale, metric, p, transform_error):
    """Error terms of the approximate distances of :func:`code_distances` for one query.

    Returns ``(absolute, relative)``: with ``a`` the approximate reduced distance, the true
    distance is at least ``from_reduced(a * (1 - relative)) - absolute``. ``absolute``
    bounds the distance between a point and its decoded code (``scale / 2`` per coordinate,
    plus the rounding of the division), the effect of rounding the query code to float32,
    and ``transform_error``: how much the rounding of the transform to scan coordinates can
    change a distance (0 for the identity). ``relative`` covers the float32 arithmetic of
    the sum.
    """
    n_dims = query_code.shape[0]
    largest = 0.0
    for c in range(n_dims):
        largest = max(largest, abs(np.float64(query_code[c])))
    per_unit = 0.5 + 1e-6 + (largest + 1.0) * 2.0**-22  # code units, per coordinate
    unit = 0.0
    for c in range(n_dims):
        unit = max(unit, scale[c])
    norm = 0.0  # the norm of the scales, summed in units of the largest (no overflow)
    for c in range(n_dims):
        if metric == METRIC_LINF:
            norm = max(norm, scale[c] / unit)
        elif metric == METRIC_L1:
            norm += scale[c] / unit
        else:
            norm += (scale[c] / unit) ** p
    if metric != METRIC_LINF and metric != METRIC_L1:
        norm = norm ** (1.0 / p)
    relative = (n_dims + 8) * max(p, 1.0) * 2.0**-22 if metric != METRIC_LINF else 2.0**-21
    return per_unit * norm * unit + transform_error, min(relative, 0.5)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def screen_bound(heap_top, absolute, relative, metric, p, unit):
    """Approximate distance (in the units of :func:`code_weights`) above which a point
    cannot beat ``heap_top`` (a reduced distance).

    With the error terms of :func:`code_slack`: the true distance is at least
    ``unit * from_reduced((a - SUBNORMAL_SLACK) * (1 - relative)) - absolute`` for an
    approximate distance ``a``. Returns ``inf`` (screen nothing) when the bound is too
    large for float32 sums to be trusted.
    """
    if heap_top == np.inf:
        return np.inf
    limit = to_reduced((from_reduced(heap_top, metric, p) + absolute) / unit, metric, p)
    limit = limit / (1.0 - relative) + SUBNORMAL_SLACK
    return limit if limit < FLOAT32_SCREEN_MAX else np.inf


@njit(cache=True, nogil=True, error_model="numpy")
def encode_leaves(scan_points, idx_array, node_start, node_end, n_internal, centre, scale,
                  out):
    """Fill the code blocks of one tree's leaves (see :func:`bbf_batch`).

    ``scan_points`` are the points in original order and scan coordinates (float64);
    ``out[l, c, j]`` receives the code of coordinate ``c`` of the ``j``-th row of leaf
    ``n_internal + l``; unused columns are zero.
    """
    out[:] = 0
    for leaf in range(out.shape[0]):
        start = node_start[n_internal + leaf]
        for j in range(node_end[n_internal + leaf] - start):
            row = idx_array[start + j]
            for c in range(scan_points.shape[1]):
                value = round((scan_points[row, c] - centre[c]) / scale[c])
                out[leaf, c, j] = np.int8(min(CODE_MAX, max(-CODE_MAX, value)))


def code_parameters(scan_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and per-dimension scale of the 8-bit codes of float64 ``scan_points``.

    The centre is the middle of each coordinate's range and the scale maps half the range
    to :data:`CODE_MAX`, so no code clips. Coordinates with no range, or a range that is rounding
    noise next to the data's extent, get a floor scale (their codes are then 0).
    """
    lower = scan_points.min(axis=0)
    upper = scan_points.max(axis=0)
    centre = 0.5 * (lower + upper)
    half_range = np.maximum(upper - centre, centre - lower)
    # A coordinate whose range is rounding noise next to the data's extent (a flat axis of
    # rotated data) gets the floor scale: a tiny scale would make far queries' code-space
    # offsets so large that the float32 approximate distance loses its error bound.
    extent = max(float(half_range.max()), float(np.abs(centre).max()))
    floor = np.finfo(np.float32).eps * extent if extent > 0 else 1.0
    scale = np.where(half_range > floor, half_range, floor) / CODE_MAX
    # A scale slightly above the exact one keeps every |code| <= CODE_MAX despite rounding.
    scale = scale * (1.0 + 4 * np.finfo(np.float64).eps)
    return np.ascontiguousarray(centre), np.ascontiguousarray(scale)


def empty_codes(n_dims: int) -> np.ndarray:
    """The ``codes`` argument of :func:`bbf_batch` for the rows layout."""
    return np.zeros((0, n_dims, 1), dtype=np.int8)

