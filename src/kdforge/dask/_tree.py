"""DistributedKDTree: the client side, which holds the top tree and submits every task.

Nothing here touches the points: the client keeps the top tree (split planes from a
sample), each shard's size and tight box, and Dask futures of the shards (loaded trees on
the workers). Every query is a few rounds of tasks (:mod:`kdforge.dask._shard`); between
rounds the client fetches only how many queries each shard must answer, so that no task is
submitted for a shard that nothing visits.
"""

from __future__ import annotations

import math
import operator
import os
import shutil
import tempfile
import uuid
from typing import NamedTuple

import numpy as np

from .. import _validation as v
from ..record import DEFAULT_LEAF_SIZE
from ..results import NeighborsCSR
from ..tree import SPLIT_CHOICES
from ._client import DEFAULT_CONNECT_TIMEOUT, resolve_client
from ._partition import TopTree, build_top_tree
from . import _shard
from ._sources import array_from_npy, array_from_parquet, array_from_zarr

__all__ = ["DistributedKDTree", "QueryStats"]

#: Sample points per shard used to place the split planes (capped by ``MAX_SAMPLE``).
SAMPLE_PER_SHARD = 2000
MAX_SAMPLE = 1_000_000
#: Rows per query chunk when queries come as a NumPy array.
DEFAULT_QUERY_CHUNK = 100_000
#: Rows per chunk when points come as a NumPy array.
DEFAULT_POINT_CHUNK = 1_000_000
ROUTINGS = ("tree", "broadcast")


class QueryStats(NamedTuple):
    """What the last query cost (:attr:`DistributedKDTree.last_stats`).

    Attributes
    ----------
    n_queries : int
    n_shards : int
    shard_visits : int
        (query, shard) pairs searched; ``n_queries * non-empty shards`` for broadcast.
    shard_tasks : int
        Tasks that searched a shard.
    bytes_moved : int
        Bytes of the arrays sent to and returned by shard tasks (queries, their positions
        and bounds; candidate distances, reduced distances, indices and positions).
    """

    n_queries: int
    n_shards: int
    shard_visits: int
    shard_tasks: int
    bytes_moved: int

    @property
    def fraction_visited(self) -> float:
        """Mean fraction of the shards each query visited."""
        return self.shard_visits / max(1, self.n_queries * self.n_shards)


def _as_dask_array(x, name: str, chunk_rows: int):
    """A 2-D dask array with one column chunk and known row chunks, from dask or NumPy."""
    import dask.array as da

    if not isinstance(x, da.Array):
        x = np.asarray(x)
        v.as_real_array(x[:0], name)                  # dtype check only; values on workers
        x = da.from_array(x, chunks=(max(1, chunk_rows), -1)) if x.ndim == 2 else x
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d), got {x.ndim}-D shape {x.shape}")
    if any(math.isnan(c) for c in x.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    v.as_real_array(np.empty((0,), dtype=x.dtype), name)
    return x.rechunk({1: -1})


def _data_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float64)


class DistributedKDTree:
    """Exact k-nearest-neighbour and radius search over points sharded across Dask workers.

    Build it with :meth:`from_array` (or :meth:`from_npy`, :meth:`from_zarr`,
    :meth:`from_parquet`). Answers equal those of one :class:`kdforge.KDTree` over all the
    points: the k smallest (distance, original index) pairs, ties included.

    Use it as a context manager, or call :meth:`close`, to release the shards and their
    files.
    """

    def __init__(self, *, client, owns_client, top, infos, shards, n_points, n_dims, dtype,
                 row_chunks, storage, owns_storage):
        self._client = client
        self._owns_client = owns_client
        self._top = top
        self._infos = infos
        self._shards = shards
        self._n_points = n_points
        self._n_dims = n_dims
        self._dtype = dtype
        self._row_chunks = row_chunks
        self._storage = storage
        self._owns_storage = owns_storage
        self._lower = np.stack([i.lower for i in infos])
        self._upper = np.stack([i.upper for i in infos])
        self._sizes = np.array([i.n_points for i in infos], dtype=np.int64)
        self.last_stats: QueryStats | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_array(cls, x, n_shards: int | None = None, *, client=None,
                   leaf_size: int = DEFAULT_LEAF_SIZE, split: str = "auto",
                   sample_size: int | None = None, storage=None, random_state=0,
                   progress: bool = False, chunk_rows: int = DEFAULT_POINT_CHUNK,
                   connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> "DistributedKDTree":
        """Shard the points ``x`` over the cluster and build one tree per shard.

        Parameters
        ----------
        x : dask.array.Array or array_like of shape (n, d)
            The points; indices in every result are rows of ``x``. float32 stays float32
            and float64 stays float64; other real dtypes become float64.
        n_shards : int, optional
            Number of shards (leaves of the top tree); default: one per worker.
        client : distributed.Client or str, optional
            The client, or a scheduler address (then a client is opened and closed by
            :meth:`close`); default: the current client.
        leaf_size, split
            Passed to every shard's :class:`kdforge.KDTree`.
        sample_size : int, optional
            Points sampled to place the split planes; default ``2000 * n_shards`` (at most
            10**6, at most n).
        storage : str or os.PathLike, optional
            Folder for the shards' tree files, from which a shard lost with its worker is
            reloaded. On a cluster of several machines it must be on a file system every
            worker can read. Default: a new temporary folder, removed by :meth:`close`
            (fine for a ``LocalCluster``).
        random_state : int
            Seed of the sample.
        progress : bool, default False
            Show Dask's progress bar (``distributed.progress``) while shards build.
        chunk_rows : int
            Rows per chunk when ``x`` is a NumPy array.
        connect_timeout : float, default 10
            Seconds to wait for a scheduler given by address.

        Raises
        ------
        ConnectionError
            The scheduler given by address cannot be reached in time.
        ValueError, TypeError
            Bad points or arguments (NaN and infinite values are reported by the worker
            that reads them).
        """
        import distributed

        leaf_size = v.check_leaf_size(leaf_size)
        split = v.check_choice(split, "split", SPLIT_CHOICES)
        progress = v.check_bool(progress, "progress")
        chunk_rows = v.check_int(chunk_rows, "chunk_rows", minimum=1)
        x = _as_dask_array(x, "x", chunk_rows)
        n, d = (int(s) for s in x.shape)
        if n == 0 or d == 0:
            raise ValueError(f"x is empty (shape {x.shape}): a tree needs at least one point")
        client, owns_client = resolve_client(client, float(connect_timeout))
        workers = list(client.scheduler_info()["workers"])
        if n_shards is None:
            n_shards = max(1, len(workers))
        n_shards = v.check_int(n_shards, "n_shards", minimum=1)
        if sample_size is None:
            sample_size = min(MAX_SAMPLE, SAMPLE_PER_SHARD * n_shards)
        sample_size = min(n, v.check_int(sample_size, "sample_size", minimum=1))
        dtype = _data_dtype(x.dtype)

        rows = np.sort(np.random.default_rng(random_state).choice(n, size=sample_size, replace=False))
        sample = v.as_data_array(client.compute(x[rows]).result(), name="x")
        top = build_top_tree(sample, n_shards)

        owns_storage = storage is None
        storage = tempfile.mkdtemp(prefix="kdforge-dask-") if owns_storage else os.fspath(storage)
        os.makedirs(storage, exist_ok=True)
        name = uuid.uuid4().hex[:12]
        blocks = client.compute(x.to_delayed().ravel().tolist())
        offsets = np.concatenate([[0], np.cumsum(x.chunks[0])[:-1]]).astype(np.int64)
        splits = [client.submit(_shard.split_chunk, b, int(o), top) for b, o in zip(blocks, offsets)]
        built = []
        for s in range(n_shards):
            pieces = [client.submit(operator.getitem, part, s) for part in splits]
            prefix = os.path.join(storage, f"{name}-shard{s:05d}")
            built.append(client.submit(_shard.build_shard, prefix, leaf_size, split, d, dtype.str,
                                       *pieces, workers=[workers[s % len(workers)]],
                                       allow_other_workers=True))
        if progress:
            distributed.progress(built)
        infos = client.gather(built)
        where = client.who_has(built)
        shards = [client.submit(_shard.load_shard, info.tree_path, info.index_path,
                                workers=list(where.get(f.key, ())) or None,
                                allow_other_workers=True)
                  for info, f in zip(infos, built)]
        distributed.wait(shards)
        del blocks, splits, built, pieces
        return cls(client=client, owns_client=owns_client, top=top, infos=infos, shards=shards,
                   n_points=n, n_dims=d, dtype=dtype, row_chunks=x.chunks[0], storage=storage,
                   owns_storage=owns_storage)

    @classmethod
    def from_npy(cls, path, n_shards: int | None = None, *, chunk_rows: int = DEFAULT_POINT_CHUNK,
                 **kwargs) -> "DistributedKDTree":
        """Build from an ``.npy`` file (n, d), read by the workers through memory maps."""
        return cls.from_array(array_from_npy(path, chunk_rows), n_shards, **kwargs)

    @classmethod
    def from_zarr(cls, path, n_shards: int | None = None, *, component: str | None = None,
                  **kwargs) -> "DistributedKDTree":
        """Build from a zarr array (n, d)."""
        return cls.from_array(array_from_zarr(path, component), n_shards, **kwargs)

    @classmethod
    def from_parquet(cls, path, columns, n_shards: int | None = None, *, dtype=np.float64,
                     **kwargs) -> "DistributedKDTree":
        """Build from numeric columns of a parquet file (one chunk per row group)."""
        return cls.from_array(array_from_parquet(path, columns, dtype), n_shards, **kwargs)

    # ------------------------------------------------------------------ description
    @property
    def n_points(self) -> int:
        """Number of indexed points."""
        return self._n_points

    @property
    def n_dims(self) -> int:
        """Number of dimensions."""
        return self._n_dims

    @property
    def dtype(self) -> np.dtype:
        """dtype of the points (float32 or float64)."""
        return self._dtype

    @property
    def n_shards(self) -> int:
        """Number of shards (some may be empty when points repeat a lot)."""
        return self._top.n_shards

    @property
    def shard_sizes(self) -> np.ndarray:
        """Points per shard."""
        return self._sizes.copy()

    @property
    def shard_boxes(self) -> tuple[np.ndarray, np.ndarray]:
        """Tight bounding boxes of the shards: ``(lower, upper)``, each (n_shards, d)."""
        return self._lower.copy(), self._upper.copy()

    @property
    def top_tree(self) -> TopTree:
        """The split planes that define the shards."""
        return self._top

    @property
    def shard_files(self) -> list:
        """Per shard, ``(tree file or None when empty, index file)``."""
        return [(i.tree_path, i.index_path) for i in self._infos]

    @property
    def client(self):
        """The ``distributed.Client`` the tree lives on."""
        return self._client

    def __repr__(self) -> str:
        return (f"DistributedKDTree(n_points={self.n_points}, n_dims={self.n_dims}, "
                f"dtype={self.dtype}, n_shards={self.n_shards})")

    # ------------------------------------------------------------------ helpers
    def _query_blocks(self, X, chunk_rows: int | None):
        """Validated query chunks as futures, the dask array and whether X was NumPy."""
        import dask.array as da

        is_numpy = not isinstance(X, da.Array)
        if is_numpy:
            X, _ = v.as_query_array(X, self.n_dims, self.dtype, name="queries",
                                    owner="the distributed tree")
        if chunk_rows is None:
            n_workers = max(1, len(self._client.scheduler_info()["workers"]))
            chunk_rows = min(DEFAULT_QUERY_CHUNK, -(-X.shape[0] // (2 * n_workers)))
        chunk_rows = v.check_int(chunk_rows, "chunk_rows", minimum=1)
        q = _as_dask_array(X, "queries", chunk_rows)
        if q.shape[1] != self.n_dims:
            raise ValueError(f"queries have {q.shape[1]} dimension(s) but the distributed tree "
                             f"has {self.n_dims}")
        blocks = self._client.compute(q.to_delayed().ravel().tolist())
        return blocks, [int(c) for c in q.chunks[0]], is_numpy

    def _submit_to_shards(self, plans, counts, task, *args):
        """One ``task(shard, part, *args)`` per (plan, shard) pair with queries to answer."""
        client = self._client
        out = []
        for plan, row in zip(plans, counts):
            out.append([client.submit(task, self._shards[s],
                                      client.submit(_shard.select, plan, s), *args)
                        for s in np.flatnonzero(row)])
        return out

    def _counts(self, plans) -> np.ndarray:
        """(plans, shards) matrix of queries per shard: the one small fetch between rounds."""
        client = self._client
        if not plans:
            return np.zeros((0, self.n_shards), dtype=np.int64)
        return np.stack(client.gather([client.submit(_shard.group_counts, p) for p in plans]))

    def _moved(self, counts, k: int | None, with_bounds: bool) -> int:
        """Bytes of the query and result arrays sent to and from shard tasks."""
        item = self.dtype.itemsize
        sent = int(counts.sum()) * (self.n_dims * item + 8 + (8 if with_bounds else 0))
        back = 0 if k is None else int(counts.sum()) * (k * (item + 16) + 8)
        return sent + back

    @staticmethod
    def _progress(futures, progress: bool) -> None:
        if progress and futures:
            import distributed
            distributed.progress(futures)

    # ------------------------------------------------------------------ kNN
    def query(self, X, k: int = 1, *, p: float = 2, chunk_rows: int | None = None,
              routing: str = "tree", progress: bool = False):
        """The k nearest neighbours of each query, exactly.

        Parameters
        ----------
        X : dask.array.Array or array_like of shape (m, d)
            Queries; a dask array keeps its row chunks (one task chain per chunk).
        k : int, default 1
        p : float, default 2
            Minkowski order, ``1 <= p <= inf``.
        chunk_rows : int, optional
            Rows per chunk when ``X`` is a NumPy array; default: two chunks per worker, at
            most 100,000 rows each.
        routing : {"tree", "broadcast"}, default "tree"
            ``"tree"``: each query visits its nearest shard, then only the shards whose box
            is within its k-th distance so far. ``"broadcast"``: every query visits every
            shard (the baseline of brute-force distributed kNN), for comparison.
        progress : bool, default False
            Show Dask's progress bar for each round.

        Returns
        -------
        dist : (m, k) array of the tree's dtype
        idx : (m, k) int64 array
            Rows of the indexed array; ``-1`` and ``inf`` where fewer than k points exist.
            Dask arrays (already computed, held on the cluster) when ``X`` is a dask array,
            NumPy arrays otherwise. :attr:`last_stats` tells what the query cost.
        """
        import dask.array as da

        k = v.check_k(k)
        p = v.check_p(p)
        routing = v.check_choice(routing, "routing", ROUTINGS)
        progress = v.check_bool(progress, "progress")
        client = self._client
        blocks, sizes, is_numpy = self._query_blocks(X, chunk_rows)
        dtype = self.dtype.str
        if routing == "broadcast":
            plans = [client.submit(_shard.route_all, b, self.n_dims, dtype, self._sizes)
                     for b in blocks]
            counts = self._counts(plans)
            first = self._submit_to_shards(plans, counts, _shard.shard_knn, k, p)
            self._progress([f for row in first for f in row], progress)
            rounds = [(counts, False)]
            second = [[] for _ in plans]
        else:
            plans = [client.submit(_shard.route_nearest, b, self.n_dims, dtype, self._lower,
                                   self._upper, p) for b in blocks]
            counts = self._counts(plans)
            first = self._submit_to_shards(plans, counts, _shard.shard_knn, k, p)
            self._progress([f for row in first for f in row], progress)
            plans2 = [client.submit(_shard.plan_second, plan, self._lower, self._upper, p, *row)
                      for plan, row in zip(plans, first)]
            counts2 = self._counts(plans2)
            second = self._submit_to_shards(plans2, counts2, _shard.shard_knn, k, p)
            self._progress([f for row in second for f in row], progress)
            rounds = [(counts, False), (counts2, True)]
        merged = [client.submit(_shard.merge_knn, m, k, dtype, *a, *b)
                  for m, a, b in zip(sizes, first, second)]
        self._progress(merged, progress)
        self.last_stats = QueryStats(
            n_queries=sum(sizes), n_shards=self.n_shards,
            shard_visits=int(sum(c.sum() for c, _ in rounds)),
            shard_tasks=int(sum(np.count_nonzero(c) for c, _ in rounds)),
            bytes_moved=sum(self._moved(c, k, b) for c, b in rounds))
        if is_numpy:
            parts = client.gather(merged)
            if not parts:
                return np.empty((0, k), self.dtype), np.empty((0, k), np.int64)
            return np.concatenate([d for d, _ in parts]), np.concatenate([i for _, i in parts])
        dist = [da.from_delayed(client.submit(operator.getitem, f, 0), (m, k), self.dtype)
                for f, m in zip(merged, sizes)]
        idx = [da.from_delayed(client.submit(operator.getitem, f, 1), (m, k), np.int64)
               for f, m in zip(merged, sizes)]
        return da.concatenate(dist), da.concatenate(idx)

    # ------------------------------------------------------------------ radius
    def query_radius(self, X, r, *, p: float = 2, sort_results: bool = True,
                     chunk_rows: int | None = None, progress: bool = False) -> NeighborsCSR:
        """All points within distance ``r`` (``<= r``) of each query, visiting only shards within r.

        Parameters
        ----------
        X : dask.array.Array or array_like of shape (m, d)
        r : float or array_like of shape (m,)
            Radius, or one radius per query (>= 0).
        p : float, default 2
        sort_results : bool, default True
            Sort each row by (distance, index), as ``KDTree.query_radius_csr`` with
            ``sort_results=True`` does; otherwise rows are in increasing index order.
        chunk_rows, progress
            As for :meth:`query`.

        Returns
        -------
        NeighborsCSR
            ``indptr``, ``indices`` (rows of the indexed array) and ``distances``, fetched to
            the client.
        """
        p = v.check_p(p)
        sort_results = v.check_bool(sort_results, "sort_results")
        progress = v.check_bool(progress, "progress")
        client = self._client
        blocks, sizes, _ = self._query_blocks(X, chunk_rows)
        m = sum(sizes)
        radii = v.check_radius(r, m)
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        dtype = self.dtype.str
        plans = [client.submit(_shard.route_radius, b, radii[a:a + n], self.n_dims, dtype,
                               self._lower, self._upper, p)
                 for b, a, n in zip(blocks, starts, sizes)]
        counts = self._counts(plans)
        parts = self._submit_to_shards(plans, counts, _shard.shard_radius, p)
        merged = [client.submit(_shard.merge_radius, n, dtype, sort_results, *row)
                  for n, row in zip(sizes, parts)]
        self._progress(merged, progress)
        chunks = client.gather(merged)
        indptr = np.zeros(m + 1, dtype=np.int64)
        indices, distances, total = [], [], 0
        for a, n, (ptr, ind, dist) in zip(starts, sizes, chunks):
            indptr[a + 1:a + n + 1] = ptr[1:] + total
            total += int(ptr[-1])
            indices.append(ind)
            distances.append(dist)
        self.last_stats = QueryStats(m, self.n_shards, int(counts.sum()),
                                     int(np.count_nonzero(counts)),
                                     self._moved(counts, None, True) + total * (8 + self.dtype.itemsize))
        cat = (lambda xs, t: np.concatenate(xs) if xs else np.empty(0, t))
        return NeighborsCSR(indptr, cat(indices, np.int64), cat(distances, self.dtype))

    # ------------------------------------------------------------------ kNN graph
    def kneighbors(self, k: int, *, p: float = 2, include_self: bool = False,
                   progress: bool = False):
        """The exact k nearest neighbours of every indexed point (the all-kNN graph).

        Each shard answers its own points on its own tree, then sends only the points whose
        k-th distance reaches another shard's box to that shard.

        Parameters
        ----------
        k : int
        p : float, default 2
        include_self : bool, default False
            Count each point as its own neighbour (at distance 0). Without it, a point's own
            row is left out, but exact duplicates of it (other rows) are kept.
        progress : bool, default False

        Returns
        -------
        dist, idx : dask arrays of shape (n, k), chunked like the indexed array
            Row ``i`` holds the neighbours of row ``i`` in (distance, index) order;
            ``-1``/``inf`` where fewer than k other points exist.
        """
        import dask.array as da

        k = v.check_k(k)
        p = v.check_p(p)
        include_self = v.check_bool(include_self, "include_self")
        progress = v.check_bool(progress, "progress")
        client = self._client
        kk = k if include_self else k + 1
        dtype = self.dtype.str
        owners = [s for s in range(self.n_shards) if self._sizes[s]]
        selfs = [client.submit(_shard.plan_self, self._shards[s], s, kk, p, self._lower, self._upper)
                 for s in owners]
        firsts = [client.submit(operator.getitem, f, 0) for f in selfs]
        plans = [client.submit(operator.getitem, f, 1) for f in selfs]
        self._progress(selfs, progress)
        counts = self._counts(plans)
        helps = self._submit_to_shards(plans, counts, _shard.shard_knn, kk, p)
        rows = []
        for s, first, row in zip(owners, firsts, helps):
            merged = client.submit(_shard.merge_knn, int(self._sizes[s]), kk, dtype, first, *row)
            rows.append(client.submit(_shard.drop_self, merged, first, k, include_self))
        self._progress(rows, progress)
        self.last_stats = QueryStats(self.n_points, self.n_shards,
                                     self.n_points + int(counts.sum()),
                                     len(owners) + int(np.count_nonzero(counts)),
                                     self._moved(counts, kk, True))
        dist, idx, start = [], [], 0
        for n in self._row_chunks:
            stop = start + int(n)
            pieces = [client.submit(_shard.slice_rows, r, start, stop) for r in rows]
            block = client.submit(_shard.assemble_rows, start, stop, k, dtype, *pieces)
            dist.append(da.from_delayed(client.submit(operator.getitem, block, 0), (n, k), self.dtype))
            idx.append(da.from_delayed(client.submit(operator.getitem, block, 1), (n, k), np.int64))
            start = stop
        return da.concatenate(dist), da.concatenate(idx)

    def kneighbors_graph(self, k: int, *, mode: str = "connectivity", p: float = 2,
                         include_self: bool = False, progress: bool = False):
        """The all-kNN graph as a ``scipy.sparse.csr_matrix`` of shape (n, n).

        ``mode="connectivity"`` stores ones, ``"distance"`` the distances (as scikit-learn's
        ``kneighbors_graph``); other arguments as for :meth:`kneighbors`. The matrix is
        assembled on the client: for graphs too big for it, use :meth:`kneighbors`.
        """
        import scipy.sparse

        mode = v.check_choice(mode, "mode", ("connectivity", "distance"))
        dist, idx = self.kneighbors(k, p=p, include_self=include_self, progress=progress)
        dist, idx = self._client.compute([dist, idx], sync=True)
        real = idx >= 0
        indptr = np.concatenate([[0], np.cumsum(real.sum(axis=1))]).astype(np.int64)
        data = dist[real] if mode == "distance" else np.ones(int(real.sum()), dtype=self.dtype)
        return scipy.sparse.csr_matrix((data, idx[real], indptr), shape=(self.n_points, self.n_points))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the shards on the workers, remove the temporary storage, close an own client."""
        self._shards = []                     # dropping the futures releases the shards
        if self._owns_storage and self._storage and os.path.isdir(self._storage):
            shutil.rmtree(self._storage, ignore_errors=True)
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> "DistributedKDTree":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
