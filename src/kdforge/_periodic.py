"""Periodic (toroidal) boundaries over a plain tree, by searching the images of each query.

A box of periods ``L`` (``L[c] <= 0`` or non-finite: axis ``c`` is not periodic) holds the
points in ``[0, L)``. The periodic distance takes, per axis, ``min(|d|, L - |d|)``; for a
query wrapped into the box it equals the smallest plain distance to one of the query's
images ``q + s * L`` with ``s`` in ``{-1, 0, 1}`` on each periodic axis. So an exact
periodic search runs the plain search for the query itself, then for each other image
whose distance to the box can still beat the current answer, and merges the results by
``(distance, index)``, keeping each point once at its smallest distance.
"""

from __future__ import annotations

import itertools

import numpy as np

from .results import NeighborsCSR

__all__ = ["periods_of", "wrap", "image_shifts", "image_lower_bounds", "knn", "radius_csr"]


def periods_of(boxsize: np.ndarray | None, n_dims: int) -> np.ndarray | None:
    """Period per axis (0 where the axis is not periodic), or None when no axis is."""
    if boxsize is None:
        return None
    periods = np.where(np.isfinite(boxsize) & (boxsize > 0), boxsize, 0.0).astype(np.float64)
    return periods if (periods > 0).any() else None


def wrap(points: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Points folded into ``[0, L)`` on the periodic axes (others unchanged)."""
    out = np.array(points, dtype=points.dtype, copy=True)
    for c in np.flatnonzero(periods > 0):
        col = np.mod(out[:, c].astype(np.float64), periods[c])
        col[col >= periods[c]] = 0.0  # mod can round up to the period itself
        out[:, c] = col
    return out


def image_shifts(periods: np.ndarray) -> list[np.ndarray]:
    """Every non-zero shift vector ``s`` (entries -1, 0, 1 on periodic axes, 0 elsewhere)."""
    axes = np.flatnonzero(periods > 0)
    shifts = []
    for combo in itertools.product((-1, 0, 1), repeat=axes.size):
        if any(combo):
            s = np.zeros(periods.shape[0], dtype=np.float64)
            s[axes] = combo
            shifts.append(s)
    return shifts


def image_lower_bounds(queries: np.ndarray, periods: np.ndarray, shift: np.ndarray,
                       p: float) -> np.ndarray:
    """Distance from each image ``q + shift * L`` to the box ``[0, L]``: no point of the
    box is closer."""
    terms = []
    for c in np.flatnonzero(shift):
        q = queries[:, c].astype(np.float64)
        terms.append(q if shift[c] > 0 else periods[c] - q)
    gaps = np.maximum(np.stack(terms, axis=1), 0.0)
    if np.isinf(p):
        return gaps.max(axis=1)
    return (gaps ** p).sum(axis=1) ** (1.0 / p)


def _merge_rows(dist: np.ndarray, idx: np.ndarray, k: int):
    """The ``k`` smallest (distance, index) pairs of each row, each index once (missing:
    -1 / inf)."""
    # keep the first occurrence of each index, at its smallest distance
    m, width = dist.shape
    rows = np.repeat(np.arange(m), width)
    flat_d = dist.ravel()
    flat_i = idx.ravel()
    order = np.lexsort((flat_d, flat_i, rows))
    dup = np.zeros(order.shape[0], dtype=bool)
    same = (rows[order][1:] == rows[order][:-1]) & (flat_i[order][1:] == flat_i[order][:-1])
    dup[1:] = same & (flat_i[order][1:] >= 0)
    flat_d = flat_d.copy()
    flat_i = flat_i.copy()
    flat_d[order[dup]] = np.inf
    flat_i[order[dup]] = -1
    dist = flat_d.reshape(m, width)
    idx = flat_i.reshape(m, width)
    missing = idx < 0
    key_i = np.where(missing, np.iinfo(np.int64).max, idx)
    order = np.lexsort((key_i, dist), axis=1)[:, :k]
    return (np.take_along_axis(dist, order, axis=1), np.take_along_axis(idx, order, axis=1))


def knn(core, queries: np.ndarray, k: int, p: float, eps: float, bound: float, workers: int,
        periods: np.ndarray):
    """Exact periodic kNN over ``core`` (a :class:`kdforge.KDTree` of points in the box).

    ``queries`` must already be wrapped into the box. Returns ``(dist, idx)`` like
    ``KDTree.query`` (missing: -1 / inf).
    """
    dist, idx = core.query(queries, k=k, p=p, eps=eps, distance_upper_bound=bound,
                           workers=workers)
    for shift in image_shifts(periods):
        kth = dist[:, -1].astype(np.float64)
        limit = np.minimum(kth * (1.0 + 1e-12), bound)
        rows = np.flatnonzero(image_lower_bounds(queries, periods, shift, p) <= limit)
        if rows.size == 0:
            continue
        image = (queries[rows].astype(np.float64) + shift * periods).astype(queries.dtype)
        d2, i2 = core.query(image, k=k, p=p, eps=eps, distance_upper_bound=bound,
                            workers=workers)
        merged_d, merged_i = _merge_rows(np.concatenate([dist[rows], d2], axis=1),
                                         np.concatenate([idx[rows], i2], axis=1), k)
        dist[rows] = merged_d
        idx[rows] = merged_i
    return dist, idx


def radius_csr(core, queries: np.ndarray, radii: np.ndarray, p: float, workers: int,
               periods: np.ndarray | None, return_distance: bool) -> NeighborsCSR:
    """Radius search with scipy's and scikit-learn's conventions, periodic or not.

    A negative radius finds nothing (the core refuses one). With ``periods`` the search is
    periodic (``queries`` must be wrapped into the box) and each row holds every point
    once, at its smallest distance, by increasing index; otherwise rows are in tree order.
    """
    m = queries.shape[0]
    valid = radii >= 0
    r = np.where(valid, radii, 0.0)
    if periods is None:
        csr = core.query_radius_csr(queries, r, p=p, return_distance=return_distance,
                                    workers=workers)
        if valid.all():
            return csr
        keep = np.repeat(valid, np.diff(csr.indptr))
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.where(valid, np.diff(csr.indptr), 0), out=indptr[1:])
        distances = csr.distances[keep] if return_distance else None
        return NeighborsCSR(indptr, csr.indices[keep], distances)
    all_rows, all_idx, all_dist = [], [], []
    n = core.n_points
    for shift in [np.zeros(periods.shape[0])] + image_shifts(periods):
        if shift.any():
            rows = np.flatnonzero(valid & (image_lower_bounds(queries, periods, shift, p) <= r))
        else:
            rows = np.flatnonzero(valid)
        if rows.size == 0:
            continue
        image = (queries[rows].astype(np.float64) + shift * periods).astype(queries.dtype)
        csr = core.query_radius_csr(image, r[rows], p=p, return_distance=True, workers=workers)
        all_rows.append(np.repeat(rows, np.diff(csr.indptr)))
        all_idx.append(csr.indices)
        all_dist.append(csr.distances)
    if not all_rows:
        return NeighborsCSR(np.zeros(m + 1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                            np.zeros(0, dtype=core.dtype) if return_distance else None)
    keys = np.concatenate(all_rows) * n + np.concatenate(all_idx)
    dist = np.concatenate(all_dist)
    order = np.lexsort((dist, keys))
    keys, dist = keys[order], dist[order]
    first = np.ones(keys.shape[0], dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, dist = keys[first], dist[first]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n, minlength=m), out=indptr[1:])
    return NeighborsCSR(indptr, keys % n, dist if return_distance else None)
