"""Randomized KD-forest for approximate nearest-neighbour search: :class:`KDForest`.

Design (after FLANN's randomized kd-trees, Silpa-Anan & Hartley 2008)
---------------------------------------------------------------------
* **Randomized trees from the ordinary build.** Every tree is a :class:`~kdforge.KDTree`
  (median split on the widest dimension) built on a transformed copy of the points:

  - ``rotation="random"`` (Euclidean and cosine): tree ``t`` is built in its own random
    orthonormal basis, ``R_t (x - mean)``; its splits are oblique in the original space.
  - ``rotation="pca"`` (Euclidean and cosine): every tree is built in the principal axes of
    the data, where the widest dimensions carry the most variance.
  - ``rotation=None`` (any Minkowski metric): the original axes.

  With ``split_jitter > 0`` each tree also multiplies every axis by a random power of two
  (``2**j``, ``j`` drawn from ``0 .. split_jitter``) before the build. The widest-spread
  rule then picks, at every node, among the dimensions whose spread is within that factor of
  the widest - FLANN's "random choice among the top few dimensions" - and different trees
  pick differently. Powers of two scale exactly, so the tree is exactly valid in the
  unscaled coordinates. Only the transforms are random: the forest is deterministic given
  ``random_state``.

* **One shared queue** (:mod:`kdforge._kernels.bbf`): a query descends every tree, and the branches
  left behind in all trees wait in one priority queue ordered by their lower-bound distance;
  the total budget ``max_leaves`` goes to the best leaves whichever tree holds them. A point
  found in several trees counts once.

* **Compact leaves.** The leaves store 8-bit codes of the points (in the principal axes when
  a rotation is used, so the early-exit test meets the large coordinates first), a quarter
  of the float32 size, one column per point; scans are bound by memory traffic. The codes
  only screen: a rigorous error bound decides which points to measure exactly, from the
  original points. Distances are always exact, and a budget of every leaf gives the exact
  answer.

Memory: the points once (as given, normalised for cosine), and per tree about ``n * d``
bytes of codes plus ``n`` indices.

Saving: :meth:`KDForest.save` writes one file and :func:`load_forest` maps it back
read-only, validated before any query (format and checks: :mod:`kdforge._forestfile`);
pickles are validated the same way. A loaded forest answers exactly as the saved one.
"""

from __future__ import annotations

import numpy as np

from . import _validation as v
from ._forestfile import FOREST_FORMAT_VERSION, check_forest_state, read_forest, write_forest
from ._kernels.bbf import QueryFrames, TreeStack, bbf_batch
from ._kernels.codes import code_parameters, encode_leaves
from ._kernels.distance import metric_code
from ._metric_names import cosine_similarity, normalize_rows, resolve_metric
from ._parallel import run_chunked
from ._treefile import TreeFileError
from .tree import KDTree
from .record import heap_links

__all__ = ["KDForest", "ROTATIONS", "DEFAULT_MAX_LEAVES", "load_forest"]

#: Accepted values of ``rotation``.
ROTATIONS = ("random", "pca", None)
#: Default total leaf budget of :meth:`KDForest.query`.
DEFAULT_MAX_LEAVES = 256
#: Points used to estimate the principal axes.
PCA_SAMPLE = 100_000


def _check_jitter(split_jitter, rotation) -> int:
    if split_jitter is None:
        return 0 if rotation == "random" else 1
    return v.check_int(split_jitter, "split_jitter", minimum=0, maximum=8)


def _principal_axes(centred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Orthonormal (d, d) matrix whose columns are the principal axes, largest variance first."""
    n, d = centred.shape
    sample = centred if n <= PCA_SAMPLE else centred[np.sort(rng.choice(n, PCA_SAMPLE, replace=False))]
    _, _, vt = np.linalg.svd(sample, full_matrices=False)
    if vt.shape[0] == d:
        return np.ascontiguousarray(vt.T)
    # fewer points than dimensions: complete the basis with random directions
    axes, _ = np.linalg.qr(np.hstack([vt.T, rng.standard_normal((d, d - vt.shape[0]))]))
    return axes


def _random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random (d, d) orthonormal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _shared_links(n_nodes: int) -> dict:
    """The ``node_children`` / ``node_parent`` fields of a stack of median trees of
    ``n_nodes`` nodes: one implicit (heap) layout that every tree shares."""
    children, parent = heap_links(n_nodes, np.int64)
    return {"node_children": children, "node_parent": parent}


def _read_only(stack: TreeStack) -> TreeStack:
    """``stack`` with read-only views of its arrays (the caller's points stay writeable).

    Built, loaded (memory-mapped) and unpickled forests then have one Numba type, so the
    search kernel compiled for one serves the others.
    """
    def frozen(arr):
        if not isinstance(arr, np.ndarray):
            return arr
        view = arr.view()
        view.flags.writeable = False
        return view

    return TreeStack(*(frozen(field) for field in stack))


class KDForest:
    """Randomized KD-forest for approximate k-nearest-neighbour search with a leaf budget.

    Parameters
    ----------
    data : array_like of shape (n, d)
        Points to index (float32 stays float32; other real dtypes become float64).
    n_trees : int, default 8
        Number of randomized trees. More trees give a higher recall at the same leaf budget
        (on GloVe 50d, 400k words: recall 0.84 with 8 trees and 0.88 with 16 at 512 leaves
        of 32 points, against 0.78 with 4), for more memory and build time.
    leaf_size : int, default 32
        Maximum points per leaf.
    metric : str, default "euclidean"
        "euclidean", "cosine" (the points are normalised once and searched in Euclidean
        distance; :meth:`query` reports cosine similarities), "manhattan", "chebyshev", or
        "minkowski" with ``p``.
    p : float, optional
        Minkowski order for ``metric="minkowski"``.
    rotation : {"random", "pca", None}, default "random"
        How the trees are randomized (see the module documentation). Rotations preserve only
        Euclidean distances: other metrics need ``rotation=None``.
    split_jitter : int, optional
        Random axis scaling by powers of two up to ``2**split_jitter`` before each tree's
        build; 0 disables it. Default: 0 with random rotations (measured on GloVe: they
        randomize enough, and the jitter lowers recall slightly), 1 otherwise.
    random_state : int or numpy.random.Generator, optional
        Seed of the random transforms; the forest is deterministic given it.

    Notes
    -----
    The search is approximate: with the budget ``max_leaves`` of :meth:`query` it visits
    that many leaves in all, best-first. Distances returned are exact, indices are real
    points, and with ``max_leaves >= n_trees * n_leaves`` the answer is exact.

    Examples
    --------
    >>> import numpy as np, kdforge
    >>> points = np.random.default_rng(0).standard_normal((5000, 20)).astype(np.float32)
    >>> forest = kdforge.KDForest(points, n_trees=4, random_state=0)
    >>> dist, idx = forest.query(points[:3], k=5, max_leaves=64)
    >>> idx[:, 0].tolist()
    [0, 1, 2]
    """

    def __init__(self, data, n_trees: int = 8, *, leaf_size: int = 32, metric: str = "euclidean",
                 p=None, rotation="random", split_jitter=None, random_state=None):
        self._metric, self._p, self._cosine = resolve_metric(metric, p)
        n_trees = v.check_int(n_trees, "n_trees", minimum=1)
        leaf_size = v.check_leaf_size(leaf_size)
        if rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {rotation!r}")
        if rotation is not None and self._p != 2.0:
            raise ValueError(f"rotation={rotation!r} preserves only Euclidean distances; "
                             f"use rotation=None with metric={metric!r}")
        split_jitter = _check_jitter(split_jitter, rotation)
        rng = np.random.default_rng(random_state)
        points = v.as_data_array(data)
        if self._cosine:
            points = normalize_rows(points)
        self._n_trees = n_trees
        self._leaf_size = leaf_size
        self._rotation = rotation
        self._split_jitter = split_jitter
        n, d = points.shape

        # Scan coordinates (those of the codes): principal axes when rotating, else identity.
        if rotation is None:
            self._mean = np.zeros(d)
            self._scan_axes = None
            scan = points.astype(np.float64)
            self._rounding = 0.0
            self._points_l1 = 0.0
        else:
            self._mean = points.mean(axis=0, dtype=np.float64)
            centred = points - self._mean
            self._scan_axes = _principal_axes(centred, rng)
            scan = centred @ self._scan_axes
            # Rounding of the rotations, per unit of |x - mean|_1 (see _transform_error).
            self._rounding = 4.0 * d * d * np.finfo(np.float64).eps
            self._points_l1 = float(np.abs(centred).sum(axis=1).max())
            del centred
        code_centre, code_scale = code_parameters(scan)
        self._frames = []  # per tree: None (scan coordinates) or a (d, d) rotation of them
        idx_arrays, starts, ends, split_dims, split_values, lower, upper = [], [], [], [], [], [], []
        for t in range(n_trees):
            frame = _random_rotation(d, rng) if rotation == "random" else None
            coords = scan if frame is None else scan @ frame
            if rotation is None and points.dtype == np.float32:
                coords = points  # the same values in float32: half the memory
            jitter = 2.0 ** rng.integers(0, split_jitter + 1, size=d)
            # Scaling by powers of two is exact, so unscaling the splits below is too.
            # median trees: every tree of the stack has the same (implicit) shape
            tree = KDTree(coords * jitter if split_jitter else coords, leaf_size=leaf_size,
                          split="max_spread").record
            del coords
            n_nodes = tree.node_start.shape[0]
            n_internal = n_nodes // 2
            if t == 0:
                n_leaves = n_nodes - n_internal
                sizes = tree.node_end[n_internal:] - tree.node_start[n_internal:]
                codes = np.empty((n_trees * n_leaves, d, int(sizes.max())), dtype=np.int8)
                n_levels = tree.n_levels
            encode_leaves(scan, tree.idx_array, tree.node_start, tree.node_end, n_internal,
                          code_centre, code_scale, codes[t * n_leaves:(t + 1) * n_leaves])
            idx_arrays.append(tree.idx_array)
            starts.append(tree.node_start.astype(np.int64) + t * n)
            ends.append(tree.node_end.astype(np.int64) + t * n)
            split_dims.append(tree.split_dim)
            split_values.append(tree.split_value / jitter[np.maximum(tree.split_dim, 0)])
            lower.append(tree.node_bounds[0, 0] / jitter)
            upper.append(tree.node_bounds[1, 0] / jitter)
            self._frames.append(frame)
            del tree  # its copies of the points are not needed any more
        #: The trees, stacked, in the codes layout of the best-bin-first kernel.
        self._stack = TreeStack(
            tree_data=np.empty((0, d), dtype=points.dtype), codes=codes,
            code_centre=code_centre, code_scale=code_scale, points=points,
            idx_array=np.concatenate(idx_arrays), node_start=np.concatenate(starts),
            node_end=np.concatenate(ends), split_dim=np.concatenate(split_dims),
            split_value=np.concatenate(split_values).astype(np.float64),
            **_shared_links(n_nodes),
            root_lower=np.ascontiguousarray(np.stack(lower), dtype=np.float64),
            root_upper=np.ascontiguousarray(np.stack(upper), dtype=np.float64),
            n_nodes=n_nodes, n_levels=n_levels)
        self._stack = _read_only(self._stack)

    # ------------------------------------------------------------------ description
    @property
    def n_points(self) -> int:
        """Number of indexed points."""
        return self._stack.points.shape[0]

    @property
    def n_dims(self) -> int:
        """Number of dimensions."""
        return self._stack.points.shape[1]

    @property
    def points(self) -> np.ndarray:
        """The indexed points (normalised for cosine), read-only."""
        view = self._stack.points.view()
        view.flags.writeable = False
        return view

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return self._n_trees

    @property
    def n_leaves(self) -> int:
        """Leaves per tree."""
        return self._stack.n_nodes - self._stack.n_nodes // 2

    @property
    def metric(self) -> str:
        """Metric name, as given."""
        return self._metric

    @property
    def nbytes(self) -> int:
        """Memory held by the forest's arrays, in bytes."""
        return int(sum(a.nbytes for a in self._stack if isinstance(a, np.ndarray)))

    def __repr__(self) -> str:
        return (f"KDForest(n_points={self.n_points}, n_dims={self.n_dims}, n_trees={self.n_trees}, "
                f"leaf_size={self._leaf_size}, metric={self._metric!r}, rotation={self._rotation!r})")

    # ------------------------------------------------------------------ saving and loading
    def _saved(self) -> tuple[dict, dict]:
        """The parameters and arrays a file or pickle holds (see :mod:`kdforge._forestfile`)."""
        stack = self._stack
        fields = {"n_trees": self._n_trees, "leaf_size": self._leaf_size, "metric": self._metric,
                  "p": float(self._p), "rotation": self._rotation, "split_jitter": self._split_jitter,
                  "rounding": float(self._rounding), "points_l1": float(self._points_l1),
                  "n_nodes": int(stack.n_nodes), "n_levels": int(stack.n_levels)}
        arrays = {name: getattr(stack, name) for name in (
            "points", "codes", "code_centre", "code_scale", "idx_array", "node_start", "node_end",
            "split_dim", "split_value", "root_lower", "root_upper")}
        arrays["mean"] = np.asarray(self._mean, dtype=np.float64)
        if self._scan_axes is not None:
            arrays["scan_axes"] = self._scan_axes
        if self._rotation == "random":
            arrays["frames"] = np.stack(self._frames)
        return fields, arrays

    def _restore(self, params: dict, arrays: dict) -> None:
        """Set every attribute from validated parameters and arrays (made read-only)."""
        self._metric, self._p, self._cosine = params["metric"], params["p"], params["cosine"]
        self._n_trees, self._leaf_size = params["n_trees"], params["leaf_size"]
        self._rotation, self._split_jitter = params["rotation"], params["split_jitter"]
        self._rounding, self._points_l1 = params["rounding"], params["points_l1"]
        self._mean = arrays["mean"]
        self._scan_axes = arrays.get("scan_axes")
        frames = arrays.get("frames")
        self._frames = [None] * self._n_trees if frames is None else list(frames)
        points = arrays["points"]
        self._stack = TreeStack(
            tree_data=np.empty((0, points.shape[1]), dtype=points.dtype), codes=arrays["codes"],
            code_centre=arrays["code_centre"], code_scale=arrays["code_scale"], points=points,
            idx_array=arrays["idx_array"], node_start=arrays["node_start"],
            node_end=arrays["node_end"], split_dim=arrays["split_dim"],
            split_value=arrays["split_value"], **_shared_links(params["n_nodes"]),
            root_lower=arrays["root_lower"],
            root_upper=arrays["root_upper"], n_nodes=params["n_nodes"], n_levels=params["n_levels"])
        self._stack = _read_only(self._stack)

    @classmethod
    def _from_checked(cls, params: dict, arrays: dict) -> "KDForest":
        """A forest from parameters and arrays that :func:`check_forest_state` validated."""
        forest = cls.__new__(cls)
        forest._restore(params, arrays)
        return forest

    def save(self, path) -> None:
        """Write the forest to one file (JSON header, aligned raw arrays, CRC-32 per array).

        The file is written under a temporary name and renamed over ``path``, so readers
        never see a partial file. Load it with :func:`load_forest`.
        """
        write_forest(path, *self._saved())

    def __getstate__(self) -> dict:
        fields, arrays = self._saved()
        return {"format_version": FOREST_FORMAT_VERSION, "forest": fields, "arrays": arrays}

    def __setstate__(self, state) -> None:
        """Restore a pickled forest, validated like a file (structure and contents)."""
        source = "pickled KDForest"
        if not isinstance(state, dict) or state.get("format_version") != FOREST_FORMAT_VERSION:
            raise TreeFileError(f"{source}: not the state of a forest of format version "
                                f"{FOREST_FORMAT_VERSION}")
        arrays = state.get("arrays")
        if not isinstance(arrays, dict):
            raise TreeFileError(f"{source}: the state has no 'arrays' dict")
        # Copy arrays that do not own their memory (protocol-5 out-of-band buffers).
        arrays = {name: np.array(arr, copy=True) if isinstance(arr, np.ndarray)
                  and not arr.flags.owndata else arr for name, arr in arrays.items()}
        params, checked = check_forest_state(state.get("forest"), arrays, verify_contents=True,
                                             copy_checked=False, source=source)
        self._restore(params, checked)

    # ------------------------------------------------------------------ queries
    def _transform_error(self, centred_queries: np.ndarray) -> np.ndarray:
        """Per query, a bound of how much rounding in the rotations can change a distance."""
        if self._rounding == 0.0:
            return np.zeros(centred_queries.shape[0])
        return self._rounding * (self._points_l1 + np.abs(centred_queries).sum(axis=1))

    def query(self, X, k=1, *, max_leaves=DEFAULT_MAX_LEAVES, return_distance=True,
              sort_results=True, workers=1):
        """Approximate k nearest neighbours, visiting at most ``max_leaves`` leaves in all.

        Parameters
        ----------
        X : array_like of shape (m, d) or (d,)
            Query points (normalised first for the cosine metric; zero vectors are an error).
        k : int, default 1
            Number of neighbours.
        max_leaves : int, default 256
            Total leaf budget over all trees: larger is slower and more accurate.
            ``n_trees * n_leaves`` (or more) is exact.
        return_distance : bool, default True
            Return ``(dist, idx)``; otherwise only ``idx``.
        sort_results : bool, default True
            Sort each row by increasing distance (ties: smaller index first).
        workers : int, default 1
            Threads to split the batch over; -1 uses all cores.

        Returns
        -------
        dist : ndarray of shape (m, k)
            Exact distances to the points found, increasing; ``inf`` where fewer than k points
            were found. For the cosine metric: cosine similarities, decreasing, ``-inf``
            where fewer than k points were found.
        idx : int64 ndarray of shape (m, k)
            Their indices; ``-1`` where fewer than k points were found.
        """
        queries, single = v.as_query_array(X, self.n_dims, self._stack.points.dtype,
                                           owner="the forest")
        if self._cosine:
            queries = normalize_rows(queries, "X")
        k = v.check_k(k)
        v.check_knn_answer(queries.shape[0], k, "the forest")
        dist, idx = self._search(queries, k, v.check_max_leaves(max_leaves),
                                 bool(sort_results), v.check_workers(workers))
        if self._cosine:
            dist = cosine_similarity(dist)
        if single:
            dist, idx = dist[0], idx[0]
        return (dist, idx) if return_distance else idx

    def _search(self, queries, k, max_leaves, sort_results, workers):
        """:meth:`query` on validated (and, for cosine, normalised) queries: ``(dist, idx)``
        with Euclidean distances."""
        m = queries.shape[0]
        if self._scan_axes is None:
            scan_queries = queries.astype(np.float64)
            frames = QueryFrames(queries, scan_queries[None], scan_queries, np.zeros(m))
        else:
            centred = queries - self._mean
            scan_queries = np.ascontiguousarray(centred @ self._scan_axes)
            if self._rotation == "random":
                frame_queries = np.ascontiguousarray(np.stack([scan_queries @ f for f in self._frames]))
            else:
                frame_queries = scan_queries[None]
            frames = QueryFrames(queries, frame_queries, scan_queries, self._transform_error(centred))
        dist = np.empty((m, k), dtype=self._stack.points.dtype)
        idx = np.empty((m, k), dtype=np.int64)
        order = np.arange(m, dtype=np.int64)
        metric = metric_code(self._p)

        def task(start, stop):
            bbf_batch(self._stack, frames, order[start:stop], metric, self._p, 1.0, np.inf,
                      max_leaves, sort_results, dist, idx)

        run_chunked(task, m, workers)
        return dist, idx


def load_forest(path, mmap: bool = True, verify_checksum: bool = True,
                verify_contents: bool = True) -> KDForest:
    """Load a forest written by :meth:`KDForest.save`.

    Parameters
    ----------
    path : str or os.PathLike
        The forest file.
    mmap : bool, default True
        Memory-map the arrays read-only (the load reads only the header and the node arrays
        it checks) instead of reading the file into memory.
    verify_checksum : bool, default True
        Check the CRC-32 of every array (reads the whole file).
    verify_contents : bool, default True
        Check the values too (O(n_trees * n * d)); see :mod:`kdforge._forestfile`. The
        structure is always checked, so a corrupt file cannot make a query read outside its
        arrays.

    Returns
    -------
    KDForest

    Raises
    ------
    TreeFileError
        The file is not a valid forest file (corrupt, truncated, crafted, or newer).
    """
    params, arrays = read_forest(path, mmap=bool(mmap), verify_checksum=bool(verify_checksum),
                                 verify_contents=bool(verify_contents))
    return KDForest._from_checked(params, arrays)
