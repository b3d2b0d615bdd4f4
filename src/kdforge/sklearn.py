"""Drop-in replacement for ``sklearn.neighbors.KDTree``, and neighbour-graph transformers.

Change one import (``from kdforge.sklearn import KDTree``) and keep every call: the class
takes scikit-learn 1.9's arguments and returns its types, dtypes and shapes. It wraps a
:class:`kdforge.KDTree` built with the same ``leaf_size`` (default 40). Extensions:
float32 data stays float32, ``workers=`` on every query, periodic ``boxsize=`` (exact kNN
and radius search on a torus), and ``kernel_density`` / ``two_point_correlation`` on
threads. ``kernel_density`` honours ``atol`` / ``rtol`` as scikit-learn defines them
(:mod:`kdforge._kernels.density`); ``two_point_correlation`` is a dual-tree count
(:mod:`kdforge.dualtree`).

:class:`KDTreeTransformer` and :class:`KDTreeRadiusTransformer` are estimators with the
behaviour of ``KNeighborsTransformer`` / ``RadiusNeighborsTransformer``: they turn data
into a sparse neighbour graph for ``Isomap``, ``TSNE``, ``DBSCAN(metric="precomputed")``
and others in a ``Pipeline``. They need scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import math

import numpy as np

from . import _periodic
from . import _validation as v
from ._kernels.density import KERNELS, kde_batch
from ._kernels.distance import metric_code
from ._parallel import run_chunked
from .dualtree import _counts
from .results import sort_csr_rows, split_rows
from .tree import KDTree as _CoreTree

try:
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - scikit-learn is a test dependency
    raise ImportError("kdforge.sklearn needs scikit-learn: pip install scikit-learn") from error

__all__ = ["KDTree", "KDTree32", "KDTree64", "KDTreeTransformer", "KDTreeRadiusTransformer", "VALID_METRICS"]

#: Metric names and the Minkowski order each stands for (None: the ``p`` argument).
_METRIC_P = {"euclidean": 2.0, "l2": 2.0, "minkowski": None, "p": None, "manhattan": 1.0,
             "cityblock": 1.0, "l1": 1.0, "chebyshev": np.inf, "infinity": np.inf}
VALID_METRICS = list(_METRIC_P)


def _as_2d(X, name: str = "X", dtype=None) -> np.ndarray:
    """A finite 2-D float array, with scikit-learn's ``ValueError`` for bad input."""
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported in {name}")
    if arr.dtype.kind not in "fiub":
        arr = arr.astype(np.float64)
    if dtype is None:
        dtype = np.float32 if arr.dtype == np.float32 else np.float64
    if arr.ndim != 2:
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead for {name} "
                         f"(shape {arr.shape}); reshape it with .reshape(-1, 1) or .reshape(1, -1)")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return arr


def _log_kernel_norm(h: float, d: int, kernel: str) -> float:
    """Log of the factor that makes each kernel integrate to 1 over R^d (scikit-learn's)."""
    log_vn = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)

    def log_sn(n):  # log surface area of the unit n-sphere
        return math.log(2 * math.pi) + 0.5 * (n - 1) * math.log(math.pi) - math.lgamma(0.5 * (n - 1) + 1)

    if kernel == "gaussian":
        factor = 0.5 * d * math.log(2 * math.pi)
    elif kernel == "tophat":
        factor = log_vn
    elif kernel == "epanechnikov":
        factor = log_vn + math.log(2.0 / (d + 2.0))
    elif kernel == "exponential":
        factor = log_sn(d - 1) + math.lgamma(d)
    elif kernel == "linear":
        factor = log_vn - math.log(d + 1.0)
    else:
        # integral of r**(d-1) cos(pi r / 2) over [0, 1] is (2/pi)**d * I(d-1), with
        # I(n) = (pi/2)**n - n (n-1) I(n-2), I(0) = 1, I(1) = pi/2 - 1 (scikit-learn drops
        # the -1 and so misses the norm in even dimensions: 2-D wrong, 4-D NaN)
        below, current = 1.0, math.pi / 2 - 1.0
        for n in range(2, d):
            below, current = current, (math.pi / 2) ** n - n * (n - 1) * below
        integral = below if d == 1 else current
        factor = d * math.log(2.0 / math.pi) + math.log(integral) + log_sn(d - 1)
    return -factor - d * math.log(h)


class _KDTreeBase:
    """KDTree for fast generalized N-point problems, with the API of scikit-learn's.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        float32 stays float32 (an extension), other real dtypes become float64.
    leaf_size : int, default 40
        Leaf size of the underlying :class:`kdforge.KDTree`.
    metric : str, default "minkowski"
        One of :attr:`valid_metrics`; "minkowski" / "p" use ``p``.
    **kwargs
        ``p`` (Minkowski order, >= 1, default 2), ``sample_weight`` (one weight per point,
        used by ``kernel_density``), and the extension ``boxsize`` (periodic box, as in
        :class:`kdforge.scipy.cKDTree`: data in ``[0, boxsize)``; kNN and radius queries
        become periodic).

    Attributes
    ----------
    data, idx_array, node_data, node_bounds, sample_weight, sum_weight
        As in scikit-learn (``get_arrays``).
    """

    valid_metrics = VALID_METRICS
    #: dtype the points are converted to (None: float32 stays float32, others float64).
    _dtype = None

    def __init__(self, X, leaf_size=40, metric="minkowski", **kwargs):
        p = kwargs.pop("p", 2)
        sample_weight = kwargs.pop("sample_weight", None)
        boxsize = kwargs.pop("boxsize", None)
        if kwargs:
            raise TypeError(f"KDTree got unexpected keyword argument(s) {sorted(kwargs)}")
        if not isinstance(metric, str) or metric not in _METRIC_P:
            raise ValueError(f"Unrecognized metric '{metric}'")
        self.data = _as_2d(X, dtype=self._dtype)
        n, d = self.data.shape
        if n == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={self.data.shape}) while a "
                             "minimum of 1 is required.")
        if not v.is_integer(leaf_size):
            raise TypeError(f"leaf_size must be an integer, got {leaf_size!r}")
        if leaf_size < 1:
            raise ValueError("leaf_size must be greater than or equal to 1")
        self.leaf_size = int(leaf_size)
        self.metric = metric
        self.p = v.check_p(p) if _METRIC_P[metric] is None else _METRIC_P[metric]
        self.sample_weight = None
        self.sum_weight = float(n)
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if weights.shape[0] != n:
                raise ValueError(f"sample_weight has {weights.shape[0]} values for {n} samples")
            if not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError("sample_weight must be finite and non-negative")
            self.sample_weight = weights
            self.sum_weight = float(weights.sum())
        self._periods = None
        self.boxsize = None
        if boxsize is not None:
            box = np.empty(d, dtype=np.float64)
            box[:] = boxsize
            periodic = box > 0
            if ((self.data >= box) | (self.data < 0))[:, periodic].any():
                raise ValueError("data must lie in [0, boxsize) on every periodic axis")
            self.boxsize = box
            self._periods = _periodic.periods_of(box, d)
        # median splits: scikit-learn's layout (node i's children 2i + 1 and 2i + 2)
        self._core = _CoreTree(self.data, leaf_size=self.leaf_size, split="max_spread")
        self._n_calls = 0

    # ------------------------------------------------------------------ arrays
    @property
    def idx_array(self) -> np.ndarray:
        """Original index of each row in tree order (intp)."""
        return self._core.record.idx_array.astype(np.intp)

    @property
    def node_bounds(self) -> np.ndarray:
        """(2, n_nodes, n_features): lower and upper corners of each node's box."""
        return self._core.node_bounds

    @property
    def node_data(self) -> np.ndarray:
        """Per node: idx_start, idx_end, is_leaf and the radius of its box (half diagonal)."""
        record = self._core.record
        half = 0.5 * (record.node_bounds[1].astype(np.float64) - record.node_bounds[0])
        if np.isinf(self.p):
            radius = half.max(axis=1)
        else:
            radius = (half ** self.p).sum(axis=1) ** (1.0 / self.p)
        out = np.empty(record.node_start.shape[0], dtype=[("idx_start", np.intp),
                                                          ("idx_end", np.intp),
                                                          ("is_leaf", np.intp),
                                                          ("radius", np.float64)])
        out["idx_start"] = record.node_start
        out["idx_end"] = record.node_end
        out["is_leaf"] = np.arange(out.shape[0]) >= out.shape[0] // 2
        out["radius"] = radius
        return out

    def get_arrays(self):
        """``(data, idx_array, node_data, node_bounds)``."""
        return self.data, self.idx_array, self.node_data, self.node_bounds

    def get_tree_stats(self):
        """``(n_trims, n_leaves, n_splits)``: kdforge reports the tree's shape (0 trims,
        its number of leaves and of split nodes), not per-query traversal counters."""
        return 0, self._core.n_leaves, self._core.n_internal

    def get_n_calls(self) -> int:
        """Number of query calls since construction or :meth:`reset_n_calls` (kdforge counts
        calls, not distance evaluations)."""
        return self._n_calls

    def reset_n_calls(self) -> None:
        """Reset :meth:`get_n_calls` to 0."""
        self._n_calls = 0

    # ------------------------------------------------------------------ queries
    def _queries(self, X) -> np.ndarray:
        arr = _as_2d(X, dtype=self.data.dtype)
        if arr.shape[1] != self.data.shape[1]:
            raise ValueError("query data dimension must match training data dimension")
        self._n_calls += 1
        if self._periods is not None:
            arr = _periodic.wrap(arr, self._periods)
        return arr

    def query(self, X, k=1, return_distance=True, dualtree=False, breadth_first=False,
              sort_results=True, *, workers=1):
        """The k nearest neighbours of each row of ``X``.

        ``dualtree`` and ``breadth_first`` are accepted; the answer is the same exact one.

        Returns
        -------
        dist : ndarray of shape (m, k), the tree's dtype (with ``return_distance``)
        ind : intp ndarray of shape (m, k)
        """
        queries = self._queries(X)
        if not v.is_integer(k):
            raise TypeError(f"k must be an integer, got {type(k).__name__} {k!r}")
        if k > self.data.shape[0]:
            raise ValueError("k must be less than or equal to the number of training points")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        workers = v.check_workers(workers)
        m = queries.shape[0]
        if k == 0 or m == 0:
            dist = np.empty((m, k), dtype=self.data.dtype)
            ind = np.empty((m, k), dtype=np.intp)
        elif self._periods is not None:
            dist, ind = _periodic.knn(self._core, queries, int(k), self.p, 0.0, np.inf, workers,
                                      self._periods)
        else:
            dist, ind = self._core.query(queries, k=int(k), p=self.p,
                                         sort_results=bool(sort_results), workers=workers)
        ind = ind.astype(np.intp, copy=False)
        return (dist, ind) if return_distance else ind

    def query_radius(self, X, r, return_distance=False, count_only=False, sort_results=False,
                     *, workers=1):
        """Neighbours within ``r`` (a scalar or one radius per row) of each row of ``X``.

        Returns
        -------
        ind : object ndarray of intp arrays; ``(ind, dist)`` with ``return_distance``;
        counts (intp) with ``count_only``. A negative radius finds nothing.
        """
        if count_only and return_distance:
            raise ValueError("count_only and return_distance cannot both be true")
        if sort_results and not return_distance:
            raise ValueError("return_distance must be True if sort_results is True")
        queries = self._queries(X)
        workers = v.check_workers(workers)
        radii = np.asarray(r, dtype=np.float64)
        if np.isnan(radii).any():
            raise ValueError("r must not be NaN")
        try:
            radii = np.ascontiguousarray(np.broadcast_to(radii.reshape(-1) if radii.ndim else radii,
                                                         (queries.shape[0],)))
        except ValueError:
            raise ValueError("r must be broadcastable to X.shape") from None
        csr = _periodic.radius_csr(self._core, queries, radii, self.p, workers, self._periods,
                                   bool(return_distance))
        if count_only:
            return np.diff(csr.indptr).astype(np.intp)
        indices = csr.indices.astype(np.intp, copy=False)
        if sort_results:
            indices = indices.copy()
            distances = csr.distances.copy()
            sort_csr_rows(csr.indptr, indices, distances, workers)
            return split_rows(indices, csr.indptr), split_rows(distances, csr.indptr)
        ind = split_rows(indices, csr.indptr)
        if return_distance:
            return ind, split_rows(csr.distances, csr.indptr)
        return ind

    def kernel_density(self, X, h, kernel="gaussian", atol=0, rtol=1e-8, breadth_first=True,
                       return_log=False, *, workers=1):
        """Kernel density estimate at each row of ``X``: ``norm(h) * sum_j w_j K(|x - x_j|)``.

        Parameters
        ----------
        h : float
            Bandwidth (> 0).
        kernel : {"gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"}
        atol, rtol : float
            Each result is within ``atol + rtol * true value`` (0, 0: exact up to rounding).
        breadth_first : bool
            Accepted; the traversal is depth-first, nearer child first.
        return_log : bool, default False
            Return the logarithm.
        workers : int, default 1
            Extension: threads.

        Returns
        -------
        ndarray of shape (m,), the tree's dtype (sums accumulate in float64)
        """
        if kernel not in KERNELS:
            raise ValueError(f"kernel = '{kernel}' not recognized")
        h = float(h)
        if not (h > 0) or not np.isfinite(h):
            raise ValueError(f"h (bandwidth) must be > 0 and finite, got {h}")
        atol, rtol = float(atol), float(rtol)
        if not (atol >= 0) or not (rtol >= 0):
            raise ValueError(f"atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
        queries = self._queries(X)
        workers = v.check_workers(workers)
        record = self._core.record
        cum = np.zeros(record.idx_array.shape[0] + 1, dtype=np.float64)
        weights = (np.ones(record.idx_array.shape[0]) if self.sample_weight is None
                   else self.sample_weight[record.idx_array])
        np.cumsum(weights, out=cum[1:])
        log_norm = _log_kernel_norm(h, self.data.shape[1], kernel)
        atol_raw = atol * math.exp(-log_norm) if atol > 0 else 0.0
        out = np.empty(queries.shape[0], dtype=np.float64)
        code = KERNELS[kernel]
        metric = metric_code(self.p)

        def task(start, stop):
            kde_batch(record, queries, start, stop, h, code, metric, self.p, cum, atol_raw, rtol,
                      out)

        run_chunked(task, queries.shape[0], workers)
        with np.errstate(divide="ignore"):
            log_density = np.log(out) + log_norm
        density = log_density if return_log else np.exp(log_density)
        return density.astype(self.data.dtype, copy=False)

    def two_point_correlation(self, X, r, dualtree=False, *, workers=1):
        """Number of pairs (x in X, y in the tree) within each radius of ``r`` (dual-tree).

        Returns
        -------
        intp ndarray shaped like ``np.atleast_1d(r)``.
        """
        queries = self._queries(X)
        radii = np.atleast_1d(np.asarray(r, dtype=np.float64))
        if radii.ndim != 1:
            raise ValueError("r must be a 1-D array")
        if np.isnan(radii).any():
            raise ValueError("r must not be NaN")
        workers = v.check_workers(workers)
        out = np.zeros(radii.shape[0], dtype=np.float64)
        valid = radii >= 0
        if valid.any() and queries.shape[0]:
            other = _CoreTree(queries, leaf_size=self.leaf_size, split="max_spread").record
            out[valid] = _counts(other, self._core.record, radii[valid], self.p, None, None,
                                 self._periods, workers)
        return np.rint(out).astype(np.intp)


class KDTree64(_KDTreeBase):
    """scikit-learn's ``KDTree64``: the points are stored as float64."""

    _dtype = np.float64


class KDTree32(_KDTreeBase):
    """scikit-learn's ``KDTree32``: the points are stored as float32."""

    _dtype = np.float32


class KDTree(KDTree64):
    """KDTree for fast generalized N-point problems, with the API of scikit-learn's.

    As scikit-learn's ``KDTree`` (a ``KDTree64``), except that float32 data stays float32.
    See :class:`_KDTreeBase` for the parameters.
    """

    _dtype = None


class _NeighborsGraphTransformer(TransformerMixin, BaseEstimator):
    """Shared fit / transform of the neighbour-graph transformers."""

    def fit(self, X, y=None):
        """Index ``X`` (a :class:`KDTree`)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if self.mode not in ("distance", "connectivity"):
            raise ValueError(f"mode must be 'distance' or 'connectivity', got {self.mode!r}")
        self.tree_ = KDTree(X, leaf_size=self.leaf_size, metric=self.metric, p=self.p)
        self.n_samples_fit_ = X.shape[0]
        return self

    def _workers(self) -> int:
        return 1 if self.n_jobs is None else v.check_workers(self.n_jobs)

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``."""
        return self.fit(X).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class KDTreeTransformer(_NeighborsGraphTransformer):
    """k-nearest-neighbour graph transformer, like ``sklearn.neighbors.KNeighborsTransformer``.

    Parameters
    ----------
    mode : {"distance", "connectivity"}, default "distance"
        Matrix entries: distances, or ones. In distance mode each sample gets
        ``n_neighbors + 1`` neighbours (itself included), as scikit-learn does.
    n_neighbors : int, default 5
    leaf_size : int, default 40
    metric : str, default "minkowski"
        A :attr:`KDTree.valid_metrics` name.
    p : float, default 2
    n_jobs : int, optional
        Threads (-1: all cores).
    """

    def __init__(self, *, mode="distance", n_neighbors=5, leaf_size=40, metric="minkowski",
                 p=2, n_jobs=None):
        self.mode = mode
        self.n_neighbors = n_neighbors
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.n_jobs = n_jobs

    def transform(self, X):
        """Sparse (n_queries, n_samples_fit) CSR graph of each row's nearest fitted samples."""
        import scipy.sparse

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        k = self.n_neighbors + (self.mode == "distance")
        if not v.is_integer(self.n_neighbors) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an integer >= 1, got {self.n_neighbors!r}")
        if k > self.n_samples_fit_:
            raise ValueError(f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, "
                             f"n_samples_fit = {self.n_samples_fit_}, n_samples = {X.shape[0]}")
        dist, ind = self.tree_.query(X, k=k, workers=self._workers())
        data = dist.ravel().astype(np.float64) if self.mode == "distance" else np.ones(ind.size)
        indptr = np.arange(0, ind.size + 1, k)
        return scipy.sparse.csr_matrix((data, ind.ravel(), indptr),
                                       shape=(X.shape[0], self.n_samples_fit_))


class KDTreeRadiusTransformer(_NeighborsGraphTransformer):
    """Radius-neighbour graph transformer, like ``sklearn.neighbors.RadiusNeighborsTransformer``.

    Parameters
    ----------
    mode : {"distance", "connectivity"}, default "distance"
    radius : float, default 1.0
        Fitted samples within this distance of a row are its neighbours (itself included).
    leaf_size, metric, p, n_jobs
        As in :class:`KDTreeTransformer`.
    """

    def __init__(self, *, mode="distance", radius=1.0, leaf_size=40, metric="minkowski", p=2,
                 n_jobs=None):
        self.mode = mode
        self.radius = radius
        self.leaf_size = leaf_size
        self.metric = metric
        self.p = p
        self.n_jobs = n_jobs

    def transform(self, X):
        """Sparse (n_queries, n_samples_fit) CSR graph, each row sorted by distance."""
        import scipy.sparse

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        ind, dist = self.tree_.query_radius(X, self.radius, return_distance=True,
                                            sort_results=True, workers=self._workers())
        counts = np.array([a.shape[0] for a in ind], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        indices = np.concatenate(list(ind)) if len(ind) else np.zeros(0, dtype=np.intp)
        values = (np.concatenate(list(dist)).astype(np.float64) if self.mode == "distance"
                  else np.ones(indices.shape[0]))
        return scipy.sparse.csr_matrix((values, indices, indptr),
                                       shape=(X.shape[0], self.n_samples_fit_))
