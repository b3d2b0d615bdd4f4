"""A high-level exact nearest-neighbour index that picks its engine: :class:`NeighborIndex`.

``NeighborIndex(data, algorithm="auto")`` answers exact k-nearest-neighbour queries with the
KD-tree (:class:`~kdforge.KDTree`) or by brute force (:mod:`kdforge.brute`), whichever is
faster for the data and ``k``, and builds the tree only when it is picked.

The automatic choice
--------------------
:func:`choose_algorithm` encodes a cross-over measured on this project's reference machine
(2 cores, AMD EPYC VM) by ``python benchmarks/bench_auto.py``: both engines exact, on all
cores, batches of 1000 queries, for d = 2 ... 64, n = 10**4, 10**5, 10**6, k = 1, 16, 100,
on uniform data, clustered data (50 Gaussian blobs) and a 4-D linear manifold embedded in d
dimensions, with the Euclidean and Manhattan metrics. The ratios are tabulated in
``benchmarks/results_auto.md``.

Neither n nor d decides alone: 64-D clustered data is 6-17x faster with the tree and 64-D
data on a 4-D manifold 1.6-235x, while 16-D uniform data is 3-14x faster by brute force at
n = 10**5. What decides is how much
closer a point's nearest neighbour is than a typical point - the *relative contrast*
(:func:`relative_contrast`), measured once per index on a sample of 2000 points (about 10
ms). The tree is used when the contrast is at least a threshold that depends on the metric
family, n and k (:data:`TREE_MIN_CONTRAST`); below it, brute force. Each threshold lies
between the largest measured contrast at which brute force won and the smallest at which
the tree won, and the tree won at every measured contrast above it; cases between two
measured bands take the band of the smaller n, whose threshold is higher, so the rule errs
towards brute force. Cosine uses the Euclidean thresholds (it is a Euclidean search on
normalised vectors). GloVe 50d has a contrast of 1.5-1.7: brute force.

Brute force's Euclidean engine is a BLAS matrix product and wins below a contrast of 2-3;
its other metrics scan in Numba, much more slowly, and the tree won every measured case
(down to uniform 64-D data, contrast 1.3). The rule belongs to the engines as measured:
re-run the benchmark and update :data:`TREE_MIN_CONTRAST` when either changes.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _search, brute
from . import _validation as v
from ._metric_names import cosine_similarity, normalize_rows, resolve_metric
from .record import DEFAULT_LEAF_SIZE
from .tree import KDTree

__all__ = ["NeighborIndex", "ALGORITHMS", "choose_algorithm", "relative_contrast",
           "TREE_MIN_CONTRAST"]

#: Accepted values of ``algorithm``.
ALGORITHMS = ("auto", "tree", "brute")

#: Relative contrast (:func:`relative_contrast`) from which ``algorithm="auto"`` uses the
#: tree, by metric family ("euclidean": brute force by BLAS; "other": by a Numba scan), as
#: ``(smallest n, largest k, contrast)`` bands; the first band with ``n >= smallest n`` and
#: ``k <= largest k`` (None: any k) applies. Measured (module documentation): at n = 10**6
#: the tree won from contrast 2.0 (16-D uniform) and lost at 1.7 (24-D); at 10**5 it won
#: from 2.4 (12-D) for k <= 16 and from 3.3 (8-D) for k = 100; at 10**4 it won from 3.3 for
#: k <= 16 and from 8.2 (4-D) for k = 100. Clustered (contrast 17-26) and manifold data
#: (8-9) always favoured the tree.
TREE_MIN_CONTRAST = {
    "euclidean": ((1_000_000, None, 1.95),
                  (100_000, 16, 2.3), (100_000, None, 3.2),
                  (0, 16, 3.2), (0, None, 8.0)),
    "other": ((0, None, 1.3),),
}

#: Points sampled by :func:`relative_contrast`.
CONTRAST_SAMPLE = 2000


def relative_contrast(data, sample_size: int = CONTRAST_SAMPLE, random_state=0) -> float:
    """Relative contrast of a point set: mean distance over nearest-neighbour distance.

    He, Kumar & Chang ("On the difficulty of nearest neighbor search", ICML 2012) show that
    this ratio measures how hard nearest-neighbour search is: when the nearest neighbour is
    hardly closer than a typical point (contrast near 1: uniform data in many dimensions,
    word embeddings), a tree can prune almost nothing; when it is much closer (clusters, low
    intrinsic dimension, few dimensions), trees prune most of the data. It is measured on a
    random sample: the mean of all pairwise distances divided by the median distance from a
    sample point to its nearest other sample point (Euclidean distances, whatever the metric
    of the search).

    Parameters
    ----------
    data : array_like of shape (n, d)
    sample_size : int, default 2000
        Points used (all of them when n is smaller); the thresholds of
        :data:`TREE_MIN_CONTRAST` were measured with 2000.
    random_state : int, default 0
        Seed of the sample: the value is deterministic.

    Returns
    -------
    float
        At least 1; huge (or ``inf``) when most sample points have an exact duplicate in the
        sample.
        Measured values: uniform data 3.3 (8-D), 2.0 (16-D), 1.3 (64-D); 50 Gaussian blobs
        17-27; a 4-D linear manifold in up to 64-D, 8-9; GloVe 50d 1.5-1.7.
    """
    data = np.asarray(data)
    n = data.shape[0]
    if n < 3:
        return np.inf
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n, sample_size, replace=False)) if n > sample_size else np.arange(n)
    sample = data[rows].astype(np.float64)
    sample -= sample.mean(axis=0)
    norms = np.einsum("ij,ij->i", sample, sample)
    distances = np.sqrt(np.maximum(norms[:, None] + norms[None, :] - 2.0 * (sample @ sample.T), 0.0))
    m = distances.shape[0]
    np.fill_diagonal(distances, 0.0)
    mean = distances.sum() / (m * (m - 1))
    np.fill_diagonal(distances, np.inf)
    nearest = float(np.median(distances.min(axis=1)))
    return float(mean / nearest) if nearest > 0 else np.inf


def choose_algorithm(n: int, k: int, p: float, contrast: float) -> str:
    """The engine ``algorithm="auto"`` uses: "tree" or "brute" (see the module documentation).

    Parameters
    ----------
    n : int
        Number of points.
    k : int
        Number of neighbours asked for.
    p : float
        Minkowski order of the search (2 for cosine).
    contrast : float
        :func:`relative_contrast` of the points.
    """
    bands = TREE_MIN_CONTRAST["euclidean" if p == 2.0 else "other"]
    for smallest_n, largest_k, threshold in bands:
        if n >= smallest_n and (largest_k is None or k <= largest_k):
            return "tree" if contrast >= threshold else "brute"
    return "brute"


class NeighborIndex:
    """Exact k-nearest-neighbour index over a KD-tree or brute force, chosen automatically.

    Parameters
    ----------
    data : array_like of shape (n, d)
        Points to index (float32 stays float32; other real dtypes become float64).
    algorithm : {"auto", "tree", "brute"}, default "auto"
        "tree": a :class:`~kdforge.KDTree`; "brute": :func:`kdforge.brute.knn`; "auto":
        per query, the faster of the two by the measured rule of :func:`choose_algorithm`.
        The tree is built on first use only.
    metric : str, default "euclidean"
        "euclidean" ("l2"), "manhattan" ("l1", "cityblock"), "chebyshev" ("linf"),
        "minkowski" (with ``p``), or "cosine" ("angular"): the points are normalised once,
        searched in Euclidean distance ``d``, and :meth:`query` reports cosine similarities
        ``1 - d**2 / 2``. Zero vectors have no direction: with "cosine" they are a
        ``ValueError``, in the data and in queries.
    p : float, optional
        Minkowski order, only with ``metric="minkowski"``.
    leaf_size : int, default 16
        Leaf size of the tree.
    workers : int, default -1
        Threads per query batch (and for the tree build); -1 uses all cores. Brute force's
        Euclidean matrix products use BLAS threads in any case.

    Examples
    --------
    >>> import numpy as np, kdforge
    >>> points = np.random.default_rng(0).random((10_000, 3))
    >>> index = kdforge.NeighborIndex(points)
    >>> index.algorithm_for(k=5)
    'tree'
    >>> dist, idx = index.query(points[:2], k=5)
    >>> idx[:, 0].tolist()
    [0, 1]
    """

    def __init__(self, data, algorithm: str = "auto", metric: str = "euclidean", *, p=None,
                 leaf_size: int = DEFAULT_LEAF_SIZE, workers: int = -1):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
        self._metric, self._p, self._cosine = resolve_metric(metric, p)
        self._leaf_size = v.check_leaf_size(leaf_size)
        self._workers = v.check_workers(workers)
        points = v.as_data_array(data)
        self._points = normalize_rows(points) if self._cosine else points
        self._algorithm = algorithm
        self._contrast = None
        self._tree = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ description
    @property
    def n_points(self) -> int:
        """Number of indexed points."""
        return self._points.shape[0]

    @property
    def n_dims(self) -> int:
        """Number of dimensions."""
        return self._points.shape[1]

    @property
    def metric(self) -> str:
        """Metric name, as given (lower case)."""
        return self._metric

    @property
    def p(self) -> float:
        """Minkowski order of the search (2 for cosine)."""
        return self._p

    @property
    def algorithm(self) -> str:
        """The ``algorithm`` argument."""
        return self._algorithm

    @property
    def points(self) -> np.ndarray:
        """The searched points (normalised for cosine), read-only."""
        view = self._points.view()
        view.flags.writeable = False
        return view

    @property
    def tree(self) -> KDTree | None:
        """The KD-tree if it has been built (it is built on first use), else None."""
        return self._tree

    @property
    def contrast(self) -> float:
        """:func:`relative_contrast` of the points (computed once, on demand)."""
        if self._contrast is None:
            self._contrast = relative_contrast(self._points)
        return self._contrast

    def __repr__(self) -> str:
        return (f"NeighborIndex(n_points={self.n_points}, n_dims={self.n_dims}, "
                f"algorithm={self._algorithm!r}, metric={self._metric!r})")

    # ------------------------------------------------------------------ queries
    def algorithm_for(self, k: int = 1) -> str:
        """The engine a query for ``k`` neighbours uses: "tree" or "brute"."""
        k = v.check_k(k)
        if self._algorithm != "auto":
            return self._algorithm
        return choose_algorithm(self.n_points, k, self._p, self.contrast)

    def _get_tree(self) -> KDTree:
        with self._lock:
            if self._tree is None:
                self._tree = KDTree(self._points, leaf_size=self._leaf_size, workers=self._workers)
            return self._tree

    def query(self, X, k: int = 1, *, return_distance: bool = True, sort_results: bool = True,
              workers=None):
        """Exact k nearest neighbours of each query point.

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Query points (normalised first for the cosine metric).
        k : int, default 1
            Number of neighbours.
        return_distance : bool, default True
            Return ``(dist, idx)``; otherwise only ``idx``.
        sort_results : bool, default True
            Sort each row by increasing distance (ties: smaller index first).
        workers : int, optional
            Threads for this batch; default: the index's ``workers``.

        Returns
        -------
        dist : ndarray of shape (m, k)
            Distances, increasing; ``inf`` where ``k > n``. For the cosine metric: cosine
            similarities, decreasing (the same order), ``-inf`` where ``k > n``.
        idx : int64 ndarray of shape (m, k)
            Indices of the neighbours; ``-1`` where ``k > n``. Both engines return identical
            results: the k smallest (distance, index) pairs.
        """
        queries, single = v.as_query_array(X, self.n_dims, self._points.dtype, owner="the index")
        if self._cosine:
            queries = normalize_rows(queries, "X")
        k = v.check_k(k)
        v.check_knn_answer(queries.shape[0], k, "the index")
        workers = self._workers if workers is None else v.check_workers(workers)
        dist, idx = self._search(queries, k, bool(sort_results), workers)
        if self._cosine:
            dist = cosine_similarity(dist)
        if single:
            dist, idx = dist[0], idx[0]
        return (dist, idx) if return_distance else idx

    def _search(self, queries, k, sort_results, workers=None):
        """:meth:`query` on validated (and, for cosine, normalised) queries: ``(dist, idx)``
        with the search's own distances (Euclidean for cosine); ``workers`` None: the
        index's."""
        workers = self._workers if workers is None else workers
        if self.algorithm_for(k) == "tree":
            return _search.knn(self._get_tree().record, queries, k, self._p, 0.0, np.inf,
                               sort_results, workers)
        return brute._knn(self._points, queries, k, self._p, workers, sort_results)
