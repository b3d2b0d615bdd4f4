"""Reduced distances of (query, candidate) pairs, for merging shards' answers exactly.

A tree ranks neighbours by reduced distance (:mod:`kdforge._kernels.distance`), then by
index. Two points can have different reduced distances but the same true distance after
the square root, so merging shards' answers by true distance could order such a pair
differently from one tree over all the points. Shards therefore send the reduced distance
of each candidate too, computed by the same shared loop the tree kernels use, so it is the
tree's value to the last bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._kernels.distance import metric_code, reduced_distance

__all__ = ["candidate_reduced"]


@njit(cache=True, nogil=True)
def _pair_reduced(points, rows, queries, metric, p, out):
    """``out[i, j]``: reduced distance of ``queries[i]`` to ``points[rows[i, j]]`` (inf for -1)."""
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            r = rows[i, j]
            if r < 0:
                out[i, j] = np.inf
            else:
                out[i, j] = reduced_distance(points, r, queries[i], metric, p, np.inf)


def candidate_reduced(points: np.ndarray, rows: np.ndarray, queries: np.ndarray,
                      p: float) -> np.ndarray:
    """Reduced distances (float64, shape of ``rows``) of each query to its candidate rows.

    ``points`` (n, d) and ``queries`` (m, d) share a dtype; ``rows`` (m, k) are row numbers
    of ``points`` produced by a tree over them (-1 for none), so they are in range.
    """
    out = np.empty(rows.shape, dtype=np.float64)
    _pair_reduced(np.asarray(points), np.ascontiguousarray(rows, dtype=np.int64),
                  np.ascontiguousarray(queries, dtype=points.dtype), metric_code(p), p, out)
    return out
