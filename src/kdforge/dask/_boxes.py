"""Distances from query points to shard boxes, and the slack that keeps routing exact.

Routing compares reduced distances (:mod:`kdforge._kernels.distance`): a shard must be
visited when the reduced distance from the query to its box is at most the reduced form of
the query's current k-th distance (or radius). Box distances are computed here in float64;
the k-th distances come back from the shard trees in the data's dtype, rounded. Both sides
therefore get a relative slack (:func:`routing_slack`): visiting one shard too many costs a
little time, missing one would cost exactness.
"""

from __future__ import annotations

import numpy as np

from .._kernels.distance import METRIC_LINF, axis_term, metric_code, to_reduced

__all__ = ["box_reduced_distances", "routing_slack", "inclusive_bound", "reduced"]

#: Rows of queries handled at once (bounds the (rows, shards, d) temporary).
BOX_BLOCK_ROWS = 4096


def reduced(distances, p: float) -> np.ndarray:
    """Reduced form of true distances (float64), ``inf`` staying ``inf``."""
    return to_reduced.py_func(np.asarray(distances, dtype=np.float64), metric_code(p), p)


def box_reduced_distances(queries: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          p: float) -> np.ndarray:
    """Reduced distance from every query (m, d) to every box (s, d): float64 (m, s).

    Empty boxes (``lower > upper``, as for a shard without points) are at ``inf``.
    """
    metric = metric_code(p)
    m, s = queries.shape[0], lower.shape[0]
    out = np.empty((m, s), dtype=np.float64)
    empty = (lower > upper).any(axis=1)
    lo = lower.astype(np.float64)
    hi = upper.astype(np.float64)
    for start in range(0, m, BOX_BLOCK_ROWS):
        q = queries[start:start + BOX_BLOCK_ROWS, None, :].astype(np.float64)
        gap = np.maximum(np.maximum(lo[None] - q, q - hi[None]), 0.0)
        terms = axis_term.py_func(gap, metric, p)
        out[start:start + q.shape[0]] = terms.max(axis=2) if metric == METRIC_LINF else terms.sum(axis=2)
    out[:, empty] = np.inf
    return out


def routing_slack(dtype, p: float) -> float:
    """Relative slack on reduced distances covering the rounding of ``dtype`` results."""
    power = 1.0 if np.isinf(p) else max(p, 1.0)
    return 64.0 * power * float(np.finfo(dtype).eps)


def inclusive_bound(kth: np.ndarray, dtype, p: float) -> np.ndarray:
    """A ``distance_upper_bound`` (strict) that keeps every point at distance <= ``kth``.

    The bound is widened by :func:`routing_slack`; for ``kth == 0`` it is the smallest
    distance whose reduced form is still positive, so exact duplicates are kept.
    """
    kth = np.asarray(kth, dtype=np.float64)
    power = 1.0 if np.isinf(p) else max(p, 1.0)
    floor = 2.0 * float(np.finfo(np.float64).tiny) ** (1.0 / power)
    widened = kth * (1.0 + routing_slack(dtype, p)) ** (1.0 / power)
    return np.maximum(widened, floor)
