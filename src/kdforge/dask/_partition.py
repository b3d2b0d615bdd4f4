"""The top tree: split planes from a sample, whose leaves are the shards (NumPy only).

Each internal node splits its share of the sample at a quantile of the dimension in which
that share spreads most, so that both children receive sample points in proportion to the
number of shards below them. Quantiles (not midpoints) keep shards balanced on skewed data:
when 99% of the points sit in one small region, the planes crowd into that region. Points
equal to a split value go left, as every point with ``x[dim] <= value`` does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["TopTree", "build_top_tree", "assign_shards"]


class TopTree(NamedTuple):
    """A binary tree of split planes over shards ``0 .. n_shards - 1``.

    Node ids ``0 .. n_internal - 1`` are internal nodes; id ``n_internal + s`` is shard
    ``s``. Node ``i`` sends a point ``x`` to ``left[i]`` when ``x[split_dim[i]] <=
    split_value[i]`` and to ``right[i]`` otherwise.

    Attributes
    ----------
    split_dim : int64 array of shape (n_shards - 1,)
    split_value : float64 array of shape (n_shards - 1,)
    left, right : int64 arrays of shape (n_shards - 1,)
    n_shards : int
    """

    split_dim: np.ndarray
    split_value: np.ndarray
    left: np.ndarray
    right: np.ndarray
    n_shards: int


def build_top_tree(sample: np.ndarray, n_shards: int) -> TopTree:
    """Split planes over ``sample`` (shape (s, d)) for ``n_shards`` shards.

    A node over ``c`` shards gives ``c // 2`` to its left child and cuts its sample rows at
    the matching quantile of their widest dimension. Empty sample shares get ``+inf``
    planes (everything goes left), so tiny samples still give a valid tree.
    """
    n_internal = n_shards - 1
    split_dim = np.zeros(n_internal, dtype=np.int64)
    split_value = np.full(n_internal, np.inf)
    left = np.zeros(n_internal, dtype=np.int64)
    right = np.zeros(n_internal, dtype=np.int64)
    if n_internal == 0:
        return TopTree(split_dim, split_value, left, right, n_shards)
    sample = np.asarray(sample, dtype=np.float64)
    next_internal = 1
    # (node id, sample rows, first shard, number of shards); node 0 is the root
    stack = [(0, np.arange(sample.shape[0]), 0, n_shards)]
    while stack:
        node, rows, first, count = stack.pop()
        n_left = count // 2
        if rows.shape[0] > 0:
            part = sample[rows]
            dim = int(np.argmax(part.max(axis=0) - part.min(axis=0)))
            order = np.argsort(part[:, dim], kind="stable")
            cut = int(round(rows.shape[0] * n_left / count))
            cut = min(max(cut, 1), rows.shape[0])
            value = part[order[cut - 1], dim]
            split_dim[node] = dim
            split_value[node] = value
            goes_left = part[:, dim] <= value
            left_rows, right_rows = rows[goes_left], rows[~goes_left]
        else:
            left_rows = right_rows = rows
        for side, rows_side, first_side, count_side in (
                (left, left_rows, first, n_left), (right, right_rows, first + n_left, count - n_left)):
            if count_side == 1:
                side[node] = n_internal + first_side
            else:
                side[node] = next_internal
                stack.append((next_internal, rows_side, first_side, count_side))
                next_internal += 1
    return TopTree(split_dim, split_value, left, right, n_shards)


def assign_shards(top: TopTree, points: np.ndarray) -> np.ndarray:
    """Shard of each row of ``points`` (shape (m, d)): int64 array of shape (m,)."""
    n_internal = top.n_shards - 1
    node = np.zeros(points.shape[0], dtype=np.int64)
    if n_internal == 0:
        return node
    active = np.arange(points.shape[0])
    while active.shape[0]:
        at = node[active]
        goes_left = points[active, top.split_dim[at]] <= top.split_value[at]
        node[active] = np.where(goes_left, top.left[at], top.right[at])
        active = active[node[active] < n_internal]
    return node - n_internal
