"""Brute-force references the tests compare kdforge against.

Distances are computed in float64 from the values the tree sees (float32 data is compared
after the same rounding), in the reduced form the kernels use, so that exact ties in
integer-valued data are ties here too.
"""

import numpy as np


def reduced_distances(data, queries, p):
    """(m, n) matrix of reduced Minkowski distances (sum |diff|**p, or max for p = inf)."""
    diff = np.abs(queries[:, None, :].astype(np.float64) - data[None, :, :].astype(np.float64))
    if np.isinf(p):
        return diff.max(axis=2)
    if p == 1:
        return diff.sum(axis=2)
    if p == 2:
        return (diff * diff).sum(axis=2)
    return (diff ** p).sum(axis=2)


def to_distance(reduced, p):
    if np.isinf(p) or p == 1:
        return reduced
    if p == 2:
        return np.sqrt(reduced)
    return reduced ** (1.0 / p)


def knn(data, queries, k, p=2, upper_bound=np.inf):
    """Exact kNN: k smallest (distance, index) pairs per query, padded with (inf, -1)."""
    red = reduced_distances(data, queries, p)
    m, n = red.shape
    bound = upper_bound if (np.isinf(upper_bound) or np.isinf(p) or p == 1) else upper_bound ** p
    dist = np.full((m, k), np.inf)
    idx = np.full((m, k), -1, dtype=np.int64)
    for i in range(m):
        order = np.lexsort((np.arange(n), red[i]))
        order = order[red[i, order] < bound][:k]
        dist[i, : order.size] = to_distance(red[i, order], p)
        idx[i, : order.size] = order
    return dist, idx


def radius(data, queries, r, p=2):
    """Sorted index arrays of the points with distance <= r of each query."""
    red = reduced_distances(data, queries, p)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), (queries.shape[0],))
    r_red = r if (np.isinf(p) or p == 1) else r ** p
    return [np.flatnonzero(red[i] <= r_red[i]) for i in range(queries.shape[0])]
