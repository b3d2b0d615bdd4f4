"""The tasks that run on the Dask workers: split chunks, build, load and query shards.

Every function here is a plain function of NumPy arrays and small records, submitted by
:class:`~kdforge.dask.DistributedKDTree`. A shard keeps its points in increasing order of
their original index, so its tree's tie-break (the smaller index within the shard) agrees
with the global one; results leave a shard with original indices.

A *plan* (:class:`Plan`) is what one chunk of queries (or one shard's own points, for the
kNN graph) still has to ask: for every shard, the positions of the queries that must visit
it and the (strict) distance bound of each. :func:`select` cuts one shard's part out of a
plan, so only those queries travel to that shard's worker.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _validation as v
from ..io import load
from ..tree import KDTree
from ._boxes import box_reduced_distances, inclusive_bound, reduced, routing_slack
from ._pairs import candidate_reduced
from ._partition import TopTree, assign_shards

__all__ = ["Shard", "ShardInfo", "Plan", "Candidates", "split_chunk", "build_shard", "load_shard",
           "route_nearest", "route_radius", "route_all", "assemble_rows",
           "SelfCandidates", "plan_second", "plan_self", "select", "shard_knn",
           "shard_radius", "merge_knn", "drop_self", "merge_radius", "group_counts", "slice_rows"]


class Shard(NamedTuple):
    """One shard in a worker's memory: its tree (None when empty) and original indices."""

    tree: KDTree | None
    index: np.ndarray


class ShardInfo(NamedTuple):
    """What the client keeps of a built shard: size, tight box and where its files are."""

    n_points: int
    lower: np.ndarray
    upper: np.ndarray
    tree_path: str | None
    index_path: str


class Plan(NamedTuple):
    """Queries of one chunk and, per shard, which of them must visit it (see module doc)."""

    queries: np.ndarray
    groups: list
    bounds: np.ndarray | None


class Candidates(NamedTuple):
    """k-nearest candidates of some queries: their positions in the chunk, (n, k) arrays.

    ``reduced`` holds the tree's reduced distances (:mod:`kdforge.dask._pairs`), the key the
    merge orders by, so that it ranks pairs exactly as one tree would.
    """

    positions: np.ndarray
    dist: np.ndarray
    idx: np.ndarray
    reduced: np.ndarray


class SelfCandidates(NamedTuple):
    """A shard's own points' candidates from its own tree, with the points' original indices."""

    positions: np.ndarray
    dist: np.ndarray
    idx: np.ndarray
    reduced: np.ndarray
    index: np.ndarray


def _worker_threads() -> int:
    """Threads of the Dask worker running the current task (1 outside a worker)."""
    try:
        from distributed import get_worker
        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        return 1


# ---------------------------------------------------------------------------- build
def split_chunk(block, offset: int, top: TopTree) -> list:
    """Cut one row chunk of the input into per-shard ``(points, original indices)`` pieces."""
    points = v.as_data_array(block, name="x")
    shard = assign_shards(top, points)
    order = np.argsort(shard, kind="stable")         # keeps rows in index order per shard
    bounds = np.searchsorted(shard[order], np.arange(top.n_shards + 1))
    rows = offset + order
    return [(points[order[a:b]], rows[a:b].astype(np.int64)) for a, b in zip(bounds[:-1], bounds[1:])]


def build_shard(prefix: str, leaf_size: int, split: str, n_dims: int, dtype: str,
                *pieces) -> ShardInfo:
    """Build one shard's tree from its pieces (in chunk order) and save it under ``prefix``."""
    points = [p for p, _ in pieces if p.shape[0]]
    index = np.concatenate([i for _, i in pieces]) if pieces else np.empty(0, np.int64)
    index_path = prefix + ".index.npy"
    np.save(index_path, index)
    if not points:
        empty = np.empty(n_dims, dtype=dtype)
        return ShardInfo(0, np.full_like(empty, np.inf), np.full_like(empty, -np.inf), None,
                         index_path)
    data = np.concatenate(points) if len(points) > 1 else points[0]
    tree = KDTree(data, leaf_size=leaf_size, split=split, workers=_worker_threads())
    tree_path = prefix + ".kdf"
    tree.save(tree_path)
    root_box = tree.node_bounds[:, 0, :]
    return ShardInfo(data.shape[0], root_box[0].copy(), root_box[1].copy(), tree_path, index_path)


def load_shard(tree_path: str | None, index_path: str) -> Shard:
    """Load a saved shard (memory-mapped); how a lost shard comes back on another worker."""
    index = np.load(index_path, mmap_mode="r")
    if tree_path is None:
        return Shard(None, index)
    tree = load(tree_path, verify_contents=False)
    if tree.n_points != index.shape[0]:
        raise ValueError(f"shard files {tree_path!r} and {index_path!r} disagree on the number "
                         f"of points ({tree.n_points} vs {index.shape[0]})")
    return Shard(tree, index)


# ---------------------------------------------------------------------------- routing
def _groups(visit: np.ndarray) -> list:
    """Per shard (column of ``visit``, (m, s) bool), the rows that visit it."""
    return [np.flatnonzero(visit[:, s]) for s in range(visit.shape[1])]


def group_counts(plan: Plan) -> np.ndarray:
    """Number of queries of a plan per shard (the small array the client fetches)."""
    return np.array([g.shape[0] for g in plan.groups], dtype=np.int64)


def route_nearest(block, n_dims: int, dtype: str, lower: np.ndarray, upper: np.ndarray,
                  p: float) -> Plan:
    """First round: each query of a chunk to the shard whose box is nearest (ties: first)."""
    queries, _ = v.as_query_array(block, n_dims, np.dtype(dtype), name="queries")
    if queries.shape[0] == 0:
        return Plan(queries, [np.empty(0, np.int64)] * lower.shape[0], None)
    home = np.argmin(box_reduced_distances(queries, lower, upper, p), axis=1)
    visit = home[:, None] == np.arange(lower.shape[0])[None, :]
    return Plan(queries, _groups(visit), None)


def route_radius(block, radii, n_dims: int, dtype: str, lower: np.ndarray, upper: np.ndarray,
                 p: float) -> Plan:
    """Each query of a chunk to every shard whose box is within its radius."""
    queries, _ = v.as_query_array(block, n_dims, np.dtype(dtype), name="queries")
    radii = v.check_radius(radii, queries.shape[0])
    limit = reduced(radii, p) * (1.0 + routing_slack(np.dtype(dtype), p))
    box = box_reduced_distances(queries, lower, upper, p)
    visit = (box <= limit[:, None]) & np.isfinite(box)         # empty shards are at inf
    return Plan(queries, _groups(visit), radii)


def _second_visits(queries, kth, lower, upper, p, dtype, first_shard):
    """Shards (other than ``first_shard``) whose box is within each query's k-th distance."""
    limit = reduced(kth, p) * (1.0 + routing_slack(dtype, p))
    box = box_reduced_distances(queries, lower, upper, p)
    visit = (box <= limit[:, None]) & np.isfinite(box)         # empty shards are at inf
    visit[np.arange(queries.shape[0]), first_shard] = False
    return visit


def plan_second(plan: Plan, lower: np.ndarray, upper: np.ndarray, p: float,
                *first: Candidates) -> Plan:
    """Second round: the shards whose box is within each query's k-th distance so far."""
    queries = plan.queries
    m = queries.shape[0]
    kth = np.full(m, np.inf)
    first_shard = np.zeros(m, dtype=np.int64)
    for shard, group in enumerate(plan.groups):
        first_shard[group] = shard
    for cand in first:
        kth[cand.positions] = cand.dist[:, -1]
    visit = _second_visits(queries, kth, lower, upper, p, queries.dtype, first_shard)
    return Plan(queries, _groups(visit), inclusive_bound(kth, queries.dtype, p))


def plan_self(shard: Shard, shard_id: int, k: int, p: float, lower: np.ndarray,
              upper: np.ndarray):
    """kNN graph, first round: a shard's own points against its own tree, then a plan.

    Returns ``(first candidates, plan)``; the plan sends each point only to the shards
    whose box is within its k-th distance so far.
    """
    queries = np.asarray(shard.tree.data)
    dist, local = shard.tree.query(queries, k=k, p=p, workers=_worker_threads())
    first = SelfCandidates(np.arange(queries.shape[0]), dist, _to_global(shard, local),
                           candidate_reduced(queries, local, queries, p), np.array(shard.index))
    first_shard = np.full(queries.shape[0], shard_id, dtype=np.int64)
    kth = dist[:, -1].astype(np.float64)
    visit = _second_visits(queries, kth, lower, upper, p, queries.dtype, first_shard)
    return first, Plan(queries, _groups(visit), inclusive_bound(kth, queries.dtype, p))


def select(plan: Plan, shard: int):
    """One shard's part of a plan: ``(positions, queries, bounds or None)``."""
    rows = plan.groups[shard]
    bounds = None if plan.bounds is None else plan.bounds[rows]
    return rows, plan.queries[rows], bounds


# ---------------------------------------------------------------------------- shard queries
def _to_global(shard: Shard, local: np.ndarray) -> np.ndarray:
    """Original indices of a shard's local result indices (-1 stays -1)."""
    out = np.full(local.shape, -1, dtype=np.int64)
    found = local >= 0
    out[found] = shard.index[local[found]]
    return out


def shard_knn(shard: Shard, part, k: int, p: float) -> Candidates:
    """k nearest neighbours of some queries in one shard, below their bounds when given.

    One call of ``KDTree.query`` serves the whole part, bounded by its largest bound;
    candidates at or above a query's own (strict) bound are then dropped (-1, inf).
    """
    rows, queries, bounds = part
    bound = np.inf if bounds is None or bounds.shape[0] == 0 else float(bounds.max())
    dist, local = shard.tree.query(queries, k=k, p=p, distance_upper_bound=bound,
                                   workers=_worker_threads())
    if bounds is not None:
        local[dist >= bounds[:, None]] = -1
        dist[local < 0] = np.inf
    reduced_dist = candidate_reduced(np.asarray(shard.tree.data), local, queries, p)
    return Candidates(rows, dist, _to_global(shard, local), reduced_dist)


def shard_radius(shard: Shard, part, p: float):
    """Neighbours within each query's radius in one shard: ``(rows, counts, idx, dist)``."""
    rows, queries, radii = part
    csr = shard.tree.query_radius_csr(queries, radii, p=p, return_distance=True,
                                      workers=_worker_threads())
    return rows, np.diff(csr.indptr), _to_global(shard, csr.indices), csr.distances


# ---------------------------------------------------------------------------- merging
def merge_knn(m: int, k: int, dtype: str, *parts: Candidates):
    """The k smallest (reduced distance, index) pairs of each query over all candidate lists.

    Returns ``(dist, idx)`` of shape (m, k); missing entries are ``inf`` and ``-1``. A query
    with a single candidate list (most of them: only its nearest shard was needed) takes
    that list as it is, already in the tree's order; the others are merged by sorting.
    """
    dist = np.full((m, k), np.inf, dtype=dtype)
    idx = np.full((m, k), -1, dtype=np.int64)
    parts = [c for c in parts if c.positions.shape[0]]
    if not parts:
        return dist, idx
    lists = np.zeros(m, dtype=np.int64)
    for c in parts:
        lists[c.positions] += 1
    several = lists > 1
    for c in parts:
        alone = ~several[c.positions]
        width = min(k, c.dist.shape[1])
        dist[c.positions[alone], :width] = c.dist[alone, :width]
        idx[c.positions[alone], :width] = c.idx[alone, :width]
    if not several.any():
        return dist, idx
    shared = [(c, several[c.positions]) for c in parts]
    pos = np.concatenate([np.repeat(c.positions[s], c.dist.shape[1]) for c, s in shared])
    cand_dist = np.concatenate([c.dist[s].ravel() for c, s in shared])
    cand_idx = np.concatenate([c.idx[s].ravel() for c, s in shared])
    cand_reduced = np.concatenate([c.reduced[s].ravel() for c, s in shared])
    real = cand_idx >= 0
    pos, cand_dist, cand_idx = pos[real], cand_dist[real], cand_idx[real]
    order = np.lexsort((cand_idx, cand_reduced[real], pos))
    pos, cand_dist, cand_idx = pos[order], cand_dist[order], cand_idx[order]
    starts = np.searchsorted(pos, pos, side="left")
    rank = np.arange(pos.shape[0]) - starts
    keep = rank < k
    dist[pos[keep], rank[keep]] = cand_dist[keep]
    idx[pos[keep], rank[keep]] = cand_idx[keep]
    return dist, idx


def drop_self(merged, first: SelfCandidates, k: int, include_self: bool):
    """kNN graph rows from ``k + 1`` merged neighbours: each point's own index removed.

    When a point is not among its own ``k + 1`` nearest pairs (more than ``k`` exact
    duplicates with smaller indices), its first ``k`` pairs are already the answer.
    """
    dist, idx = merged
    index = first.index
    if include_self:
        return index, dist, idx
    own = idx == index[:, None]
    own[:, -1] |= ~own.any(axis=1)                      # nothing to drop: drop the (k+1)-th
    keep = ~own
    return index, dist[keep].reshape(-1, k), idx[keep].reshape(-1, k)


def merge_radius(m: int, dtype: str, sort_results: bool, *parts):
    """One chunk's radius neighbours from all shards, as ``(indptr, indices, distances)``.

    Rows are sorted by (distance, index) when ``sort_results``, else by index.
    """
    parts = [q for q in parts if q[0].shape[0]]
    if not parts:
        return np.zeros(m + 1, np.int64), np.empty(0, np.int64), np.empty(0, dtype=dtype)
    pos = np.concatenate([np.repeat(rows, counts) for rows, counts, _, _ in parts])
    idx = np.concatenate([q[2] for q in parts])
    dist = np.concatenate([q[3] for q in parts]).astype(dtype, copy=False)
    keys = (idx, dist, pos) if sort_results else (idx, pos)
    order = np.lexsort(keys)
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(pos, minlength=m), out=indptr[1:])
    return indptr, idx[order], dist[order]


def slice_rows(result, start: int, stop: int):
    """The rows of a shard's kNN-graph result whose original index is in [start, stop)."""
    index, dist, idx = result
    a, b = np.searchsorted(index, [start, stop])
    return np.asarray(index[a:b]), dist[a:b], idx[a:b]


def assemble_rows(start: int, stop: int, k: int, dtype: str, *pieces):
    """Rows ``start .. stop - 1`` of the kNN graph, in original order, from shard slices."""
    dist = np.empty((stop - start, k), dtype=dtype)
    idx = np.empty((stop - start, k), dtype=np.int64)
    for index, d, i in pieces:
        dist[index - start] = d
        idx[index - start] = i
    return dist, idx


def route_all(block, n_dims: int, dtype: str, sizes: np.ndarray) -> Plan:
    """The broadcast baseline: every query of a chunk to every non-empty shard."""
    queries, _ = v.as_query_array(block, n_dims, np.dtype(dtype), name="queries")
    every = np.arange(queries.shape[0])
    return Plan(queries, [every if size else every[:0] for size in sizes], None)

