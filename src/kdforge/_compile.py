"""Compiling the Numba kernels ahead of use, and saying so when a call is about to compile.

Every kernel is ``@njit(cache=True)``: the first call in a fresh environment compiles it
(seconds per query kind), later processes load it from Numba's on-disk cache. This module

- detects a cold cache for the kernels of one job (:func:`cold_kernels`) by reading the
  index files Numba keeps beside each cached kernel (``<module>.<kernel>-<line>.pyXY.nbi``
  under the kernels' ``__pycache__``, or under ``NUMBA_CACHE_DIR``). An index is stale, and
  so empty, when its source file changed;
- says, once per process, that a call is compiling (:func:`notice_compile`: one line through
  :mod:`warnings`, category :class:`CompileWarning`, which can be silenced);
- compiles every kernel for float32 and float64 by running tiny calls of every query kind
  (:func:`compile_all`, the ``python -m kdforge compile`` command, for images and CI).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, TextIO

import numpy as np

__all__ = ["CompileWarning", "KERNELS", "cold_kernels", "notice_compile", "compile_all", "compile_steps"]


class CompileWarning(UserWarning):
    """A call is compiling Numba kernels on a cold cache (once per environment).

    Silence it with ``warnings.filterwarnings("ignore", category=CompileWarning)``
    or with ``python -W ignore::UserWarning``; ``python -m kdforge compile`` compiles every
    kernel ahead of use.
    """


#: The kernels each job calls from Python, as ``module of kdforge._kernels: kernel names``.
#: Helpers that these kernels call are compiled into them, so only entry kernels are listed,
#: and only kernels whose first float array has the data's dtype (so not the forest's
#: float64 leaf coder).
KERNELS: dict[str, dict[str, tuple[str, ...]]] = {
    "build": {"build": ("build_subtree", "node_row_ranges", "split_one_node", "merge_child_bounds"),
              "select": ("select_rows", "copy_rows")},
    "knn": {"knn": ("knn_batch",), "traversal": ("leaf_order",)},
    "radius": {"radius": ("radius_batch",), "traversal": ("leaf_order",)},
    "budgeted kNN": {"bbf": ("bbf_batch",)},
    "forest": {"bbf": ("bbf_batch",)},
    "box": {"box": ("box_query_batch",)},
    "node queries": {"traversal": ("find_leaf_batch",), "locate": ("find_point_batch", "box_distance_pairs")},
    "brute force": {"brute": ("row_sq_norms", "knn_filter_block", "knn_scan", "radius_filter_block",
                              "radius_scan", "knn_direct", "radius_direct")},
    "tree file checks": {"checks": ("check_structure", "check_geometry")},
    "pairs": {"dualtree": ("pairs_within", "count_pairs")},
    "kernel density": {"density": ("kde_batch",)},
}

_FLOAT_ARRAY = re.compile(r"[aA]rray\((float32|float64)")
_state: dict = {"warned": False, "checked": set()}


def _kernel(module: str, name: str):
    """The dispatcher ``kdforge._kernels.<module>.<name>``."""
    return getattr(importlib.import_module(f"kdforge._kernels.{module}"), name)


def _cached_dtypes(dispatcher) -> set[str | None] | None:
    """Float dtypes of the signatures in the kernel's cache index (``None``: no float array).

    Returns ``None`` when the kernel has no readable cache (JIT disabled, no cache): then
    nothing can be said about compiling.
    """
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if cache_file is None:
        return None
    try:
        index = cache_file._load_index()  # {} when missing or stale (source changed)
    except Exception:  # an unreadable index is recompiled by Numba as well
        return set()
    dtypes: set[str | None] = set()
    for key in index:
        found = _FLOAT_ARRAY.search(str(key[0]))
        dtypes.add(found.group(1) if found else None)
    return dtypes


def cold_kernels(kind: str, dtype=np.float64) -> list[str]:
    """The kernels of ``kind`` that a call with ``dtype`` data would compile.

    Parameters
    ----------
    kind : str
        A key of :data:`KERNELS` ("build", "knn", "radius", "budgeted kNN", "forest", "box",
        "node queries", "brute force", "tree file checks", "pairs", "kernel density").
    dtype : float32 or float64
        The data's dtype.

    Returns
    -------
    list of str
        ``module.kernel`` names with no cached compilation for ``dtype``; empty when the
        cache is warm or cannot be read.
    """
    if kind not in KERNELS:
        raise ValueError(f"kind must be one of {sorted(KERNELS)}, got {kind!r}")
    want = np.dtype(dtype).name
    cold = []
    for module, names in KERNELS[kind].items():
        for name in names:
            dtypes = _cached_dtypes(_kernel(module, name))
            if dtypes is not None and want not in dtypes and None not in dtypes:
                cold.append(f"{module}.{name}")
    return cold


def notice_compile(kind: str, dtype=np.float64) -> bool:
    """Warn, once per process, when a call of ``kind`` is about to compile kernels.

    Call it from a public entry point just before its first kernel call. Each ``(kind,
    dtype)`` is checked once per process (its kernels are compiled or loaded by the call
    that follows), and after one warning nothing is checked again, so later calls cost a
    set lookup.

    Parameters
    ----------
    kind : str
        A key of :data:`KERNELS`.
    dtype : float32 or float64
        The data's dtype.

    Returns
    -------
    bool
        Whether it warned.
    """
    if _state["warned"]:
        return False
    key = (kind, dtype)  # dtype objects and scalar types both hash
    if key in _state["checked"]:
        return False
    _state["checked"].add(key)
    if not cold_kernels(kind, dtype):
        return False
    _state["warned"] = True
    message = (f"kdforge is compiling its {kind} kernels for {np.dtype(dtype).name} (Numba, a few "
               f"seconds to a minute); this happens once, later runs load them from the cache. "
               f"'python -m kdforge compile' compiles every kernel ahead of use.")
    # No source line: the warning prints as one line, "kdforge:0: CompileWarning: ...".
    warnings.warn_explicit(message, CompileWarning, filename="kdforge", lineno=0, module="kdforge")
    return True


def compile_steps() -> list[tuple[str, Callable[[], object]]]:
    """Tiny calls that together compile (or load) every kernel for float32 and float64.

    Returns
    -------
    list of (str, callable)
        One ``(description, call)`` per query kind and dtype.
    """
    from . import brute, dualtree
    from . import sklearn as sklearn_facade
    from ._build import PARALLEL_MIN_POINTS
    from ._kernels.density import KERNELS as DENSITY_KERNELS
    from ._kernels.select import CHUNKED_MIN_ROWS
    from ._search import LOCALITY_MIN_QUERIES, locality_min_points
    from .forest import KDForest
    from .index import NeighborIndex
    from .io import load
    from .tree import KDTree

    rng = np.random.default_rng(0)
    # big enough for the parallel build with chunked partitions and leaf-ordered queries
    n_big = 2 * max(PARALLEL_MIN_POINTS, CHUNKED_MIN_ROWS, locality_min_points(3, np.float32))
    m_big = LOCALITY_MIN_QUERIES
    steps: list[tuple[str, Callable[[], object]]] = []
    for dtype in (np.float32, np.float64):
        name = np.dtype(dtype).name
        small = rng.random((500, 3)).astype(dtype)
        big = rng.random((n_big, 3)).astype(dtype)
        queries = rng.random((m_big, 3)).astype(dtype)
        state: dict[str, KDTree] = {}

        def build(small=small, big=big, state=state):
            state["small"] = KDTree(small, leaf_size=8, workers=1)
            KDTree(small, leaf_size=8, split="round_robin", division="root", workers=1)
            state["big"] = KDTree(big, workers=2)

        def knn(queries=queries, state=state):
            for tree in state.values():
                tree.query(queries, k=3)
                tree.query(queries[:5], k=2, p=1, eps=0.5, distance_upper_bound=0.3)
                tree.query(queries[:5], k=2, p=np.inf)
                tree.query(queries[:5], k=2, p=3)

        def radius(queries=queries, state=state):
            for tree in state.values():
                tree.query_radius(queries, r=0.01)
                tree.query_radius(queries[:5], r=0.1, return_distance=True, sort_results=True)
                tree.query_radius(queries[:5], r=0.1, count_only=True, p=1)
                tree.query_radius_csr(queries[:5], r=0.1, return_distance=True, sort_results=True)

        def budgeted(queries=queries, state=state):
            for tree in state.values():
                tree.query(queries[:5], k=3, max_leaves=4)
                tree.query(queries[:5], k=3, max_leaves=4, p=1)

        def forest(small=small, queries=queries):
            KDForest(small, n_trees=2, random_state=0).query(queries[:5], k=3, max_leaves=8)
            KDForest(small, n_trees=2, metric="cosine", random_state=0).query(queries[:5], k=3, max_leaves=8)
            KDForest(small, n_trees=2, metric="manhattan", rotation=None,
                     random_state=0).query(queries[:5], k=3, max_leaves=8)

        def box_and_nodes(small=small, queries=queries, state=state):
            tree = state["small"]
            tree.query_box(queries[:5] - 0.1, queries[:5] + 0.1, sort_results=True)
            tree.query_box_csr(queries[:5] - 0.1, queries[:5] + 0.1)
            leaf = tree.find_leaf(queries[:5])
            tree.find_point(small[:5])
            tree.find_point(small[:5], all_matches=True)
            tree.distance_to_node(queries[:5], leaf, kind="cell")
            tree.distance_to_node(queries[:5], leaf, kind="tight", p=1)

        def brute_force(small=small, queries=queries):
            wide = np.repeat(small[:300], 7, axis=1)  # above DIRECT_MAX_DIMS: the BLAS engine
            for points, q in ((small, queries[:5]), (wide, np.repeat(queries[:5], 7, axis=1))):
                for p in (2, 1):
                    brute.knn(points, q, k=3, p=p)
                    brute.radius(points, q, r=0.1, p=p, return_distance=True)
            NeighborIndex(small, algorithm="brute").query(queries[:5], k=3)

        def pairs_and_density(small=small, queries=queries, state=state):
            tree = state["small"]
            dualtree.pairs(tree, None, 0.05, return_distance=True)
            dualtree.pairs(tree, None, 0.05, p=1)
            dualtree.count_pairs(tree, tree, np.array([0.05, 0.1]))
            facade = sklearn_facade.KDTree(small, leaf_size=8)
            for kernel in DENSITY_KERNELS:
                facade.kernel_density(queries[:5], h=0.1, kernel=kernel)

        def save_and_load(queries=queries, state=state):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "tree.kdf"
                state["small"].save(path)
                loaded = load(path)  # memory-mapped, read-only arrays: their own signatures
                loaded.query(queries[:5], k=2)
                loaded.query_radius(queries[:5], r=0.1)
                loaded.query(queries[:5], k=2, max_leaves=4)
                del loaded

        steps += [
            (f"build, serial and parallel ({name})", build),
            (f"kNN ({name})", knn),
            (f"radius: lists, CSR, counts ({name})", radius),
            (f"budgeted kNN ({name})", budgeted),
            (f"forest ({name})", forest),
            (f"box and node queries ({name})", box_and_nodes),
            (f"brute force ({name})", brute_force),
            (f"pairs and kernel density ({name})", pairs_and_density),
            (f"save, load, query a loaded tree ({name})", save_and_load),
        ]
    return steps


def compile_all(progress: bool | None = None, out: TextIO | None = None) -> float:
    """Compile (or load from the cache) every kernel for float32 and float64.

    Parameters
    ----------
    progress : bool, optional
        Show a tqdm progress bar on stderr; default: when stderr is a terminal and tqdm is
        installed.
    out : file, optional
        Where the summary line goes (default stdout).

    Returns
    -------
    float
        Seconds taken.
    """
    out = out or sys.stdout
    if progress is None:
        progress = sys.stderr.isatty() and importlib.util.find_spec("tqdm") is not None
    start = time.perf_counter()
    steps = compile_steps()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc="compiling kdforge kernels", unit="step", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for description, call in steps:
            if bar is not None:
                bar.set_postfix_str(description)
            call()
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    print(f"kdforge kernels compiled or loaded from the cache for float32 and float64 in {seconds:.1f} s",
          file=out)
    return seconds
