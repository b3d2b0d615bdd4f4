"""Tree construction benchmark: kdforge against pykdtree, scipy cKDTree and scikit-learn KDTree.

Every contender builds on the same data in one process; repetitions are interleaved
(A B C A B C ...) so machine noise hits all of them alike, and medians are reported with
ratios (a contender's time over kdforge's default build with all threads: > 1 means
kdforge is faster).

    python benchmarks/bench_build.py             # full run (about 10 minutes on 2 cores)
    python benchmarks/bench_build.py --quick     # small sizes, a smoke test
    python benchmarks/bench_build.py --sections peers --sizes 1e7x3 --reps 5

Sections (``--sections``, comma-separated):

``peers``
    Build time of kdforge (both split rules, one thread and all) and of every peer, on
    uniform and clustered 3-D data and uniform 8-D data; kdforge's 1 -> all thread speedup.
``memory``
    Peak extra resident memory of one build, per point, each in a fresh subprocess (the
    kernel's high-water mark is reset just before the build), and what the tree keeps.
``robustness``
    kdforge on sorted, reverse-sorted, all-equal, two-valued and gridded inputs, as ratios
    to uniform random input.
``split_rules``
    Build time and kNN (k = 16) query time of ``max_spread`` against ``round_robin`` trees on
    uniform, clustered and elongated data.
``leaf_size``
    Build time, kNN (k = 16) query time and node memory against ``leaf_size``, for both
    division rules.
``division``
    ``division="median"`` against ``"root"`` at the default leaf size: build time, kNN and
    radius query time, node memory.
``data_movement``
    Building with the reordered copy ``tree_data`` (kdforge) against permuting only the
    index array (a variant built here from kdforge's own kernels).
``profile``
    Where a serial build spends its time: copy, long-range selection, small subtrees, boxes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from numba import njit

import kdforge
from kdforge import _build, record
from kdforge._kernels import build as build_kernels
from kdforge._kernels import select as select_kernels

ALL = max(1, os.cpu_count() or 1)
SECTIONS = ("peers", "memory", "robustness", "split_rules", "leaf_size", "division",
            "data_movement", "profile")
#: Sequential read bandwidth of this machine (shared/README.md): the lower bound reads every
#: coordinate once per tree level at this speed.
READ_BANDWIDTH = 28e9


# ---------------------------------------------------------------------- data
def make_data(kind: str, n: int, d: int, seed: int = 0) -> np.ndarray:
    """Benchmark inputs: uniform, clustered (100 Gaussian blobs) and adversarial orders."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, d))
    if kind == "clustered":
        centres = rng.random((100, d))
        return centres[rng.integers(0, 100, n)] + rng.normal(scale=0.01, size=(n, d))
    if kind == "elongated":
        return rng.random((n, d)) * np.geomspace(1.0, 1e-3, d)
    if kind == "sorted":
        return np.sort(rng.random((n, d)), axis=0)
    if kind == "reverse_sorted":
        return np.ascontiguousarray(np.sort(rng.random((n, d)), axis=0)[::-1])
    if kind == "all_equal":
        return np.full((n, d), 0.5)
    if kind == "two_valued":
        return rng.integers(0, 2, (n, d)).astype(np.float64)
    if kind == "grid":
        side = int(np.ceil(n ** (1.0 / d)))
        axes = np.meshgrid(*[np.arange(side, dtype=np.float64)] * d, indexing="ij")
        return np.ascontiguousarray(np.stack(axes, -1).reshape(-1, d)[:n])
    raise ValueError(kind)


def parse_size(text: str) -> tuple[int, int]:
    n, d = text.lower().split("x")
    return int(float(n)), int(d)


# ---------------------------------------------------------------------- timing
def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict, reps: int, max_seconds: float) -> dict:
    """``(median, runs, best)`` seconds of each callable, repetitions interleaved.

    A contender whose first run takes longer than ``max_seconds`` runs only once (its time is
    then a single run, flagged in the tables).
    """
    times = {name: [] for name in contenders}
    for rep in range(reps):
        for name, fn in contenders.items():
            if rep and times[name][0] > max_seconds:
                continue
            times[name].append(timed(fn))
    return {name: (statistics.median(values), len(values), min(values))
            for name, values in times.items()}


def peers() -> dict:
    found = {}
    try:
        from pykdtree.kdtree import KDTree as PyKDTree
        found["pykdtree"] = lambda x: PyKDTree(x, leafsize=16)
    except ImportError:
        pass
    try:
        from scipy.spatial import cKDTree
        found["scipy cKDTree"] = lambda x: cKDTree(x)
        found["scipy cKDTree balanced_tree=False"] = lambda x: cKDTree(x, balanced_tree=False)
    except ImportError:
        pass
    try:
        from sklearn.neighbors import KDTree as SKTree
        found["sklearn KDTree"] = lambda x: SKTree(x)
    except ImportError:
        pass
    return found


def kdforge_builders(all_workers: int) -> dict:
    builders = {}
    for split in ("max_spread", "round_robin"):
        for workers in (1, all_workers):
            builders[f"kdforge {split} workers={workers}"] = (
                lambda x, s=split, w=workers: kdforge.KDTree(x, split=s, workers=w))
    return builders


def lower_bound_seconds(n: int, d: int, itemsize: int = 8) -> float:
    levels = record.tree_levels(n, kdforge.DEFAULT_LEAF_SIZE) + 1
    return n * d * itemsize * levels / READ_BANDWIDTH


def warm_up() -> None:
    """Compile (or load from cache) every kernel before timing."""
    for dtype in (np.float64,):
        x = np.random.default_rng(0).random((select_kernels.CHUNKED_MIN_ROWS + 10, 3)).astype(dtype)
        for split in ("max_spread", "round_robin"):
            kdforge.KDTree(x, split=split, workers=1)
            kdforge.KDTree(x, split=split, workers=2)


# ---------------------------------------------------------------------- sections
def section_peers(sizes, reps, max_seconds) -> None:
    print("\n## Build time: kdforge vs peers")
    print(f"{ALL} threads for kdforge's workers=all; medians of {reps} interleaved runs "
          "(* = one run: slower than --max-seconds), and the best run. Ratio = median / median "
          "of kdforge max_spread all threads.")
    contenders_for = {**kdforge_builders(ALL), **peers()}
    reference = f"kdforge max_spread workers={ALL}"
    for (n, d), kind in sizes:
        data = make_data(kind, n, d)
        contenders = {name: (lambda b=build: b(data)) for name, build in contenders_for.items()}
        results = interleaved(contenders, reps, max_seconds)
        ref = results[reference][0]
        print(f"\n### {n:.0e} x {d} {kind} float64 "
              f"(lower bound {lower_bound_seconds(n, d):.3f} s: every coordinate read once per level "
              f"at {READ_BANDWIDTH / 1e9:.0f} GB/s)\n")
        print("| builder | median (s) | best (s) | ratio |")
        print("|---|---|---|---|")
        for name, (seconds, runs, best) in results.items():
            star = "*" if runs == 1 and reps > 1 else ""
            print(f"| {name} | {seconds:.3f}{star} | {best:.3f} | {seconds / ref:.2f} |")
        for split in ("max_spread", "round_robin"):
            one = results[f"kdforge {split} workers=1"]
            many = results[f"kdforge {split} workers={ALL}"]
            print(f"\nkdforge {split}: 1 -> {ALL} threads speedup {one[0] / many[0]:.2f}x "
                  f"(best runs: {one[2] / many[2]:.2f}x); "
                  f"{many[0] / lower_bound_seconds(n, d):.1f}x the lower bound")


MEMORY_CHILD = r"""
import sys, numpy as np
which, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path[:0] = sys.argv[4:]
import kdforge
from pykdtree.kdtree import KDTree as PyKDTree
from scipy.spatial import cKDTree
from sklearn.neighbors import KDTree as SKTree
builders = {
    "kdforge workers=1": lambda x: kdforge.KDTree(x, workers=1),
    "kdforge workers=all": lambda x: kdforge.KDTree(x, workers=-1),
    "kdforge division=root": lambda x: kdforge.KDTree(x, division="root", workers=-1),
    "pykdtree": lambda x: PyKDTree(x, leafsize=16),
    "scipy cKDTree": lambda x: cKDTree(x),
    "scipy cKDTree balanced_tree=False": lambda x: cKDTree(x, balanced_tree=False),
    "sklearn KDTree": lambda x: SKTree(x),
}
build = builders[which]
build(np.random.default_rng(1).random((200_000, d)))  # load kernels, spin up threads
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
data = np.random.default_rng(0).random((n, d))
before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
tree = build(data)
print(status("VmHWM") - before, status("VmRSS") - before)
"""


def section_memory(sizes) -> None:
    print("\n## Peak memory of one build\n")
    print("Extra resident memory per point over the input array, in a fresh process per builder: "
          "peak during the build, and kept by the tree afterwards.\n")
    names = ["kdforge workers=1", "kdforge workers=all", "kdforge division=root", "pykdtree",
             "scipy cKDTree", "scipy cKDTree balanced_tree=False", "sklearn KDTree"]
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    for n, d in sizes:
        print(f"### {n:.0e} x {d} float64 (input {8 * d} B/point)\n")
        print("| builder | peak extra (B/point) | kept (B/point) |")
        print("|---|---|---|")
        for name in names:
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, name, str(n), str(d), src],
                                 capture_output=True, text=True)
            if out.returncode:
                print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1]} | |")
                continue
            peak, kept = map(int, out.stdout.split())
            print(f"| {name} | {peak / n:.1f} | {kept / n:.1f} |")
        print()


def section_robustness(n, d, reps) -> None:
    print(f"\n## Robustness: {n:.0e} x {d} adversarial inputs\n")
    print("Median of interleaved runs; ratio = time / time on uniform random input "
          "(same builder). Requirement: < 2.\n")
    kinds = ("uniform", "sorted", "reverse_sorted", "all_equal", "two_valued", "grid")
    datasets = {kind: make_data(kind, n, d) for kind in kinds}
    builders = kdforge_builders(ALL)
    contenders = {(kind, name): (lambda b=build, x=datasets[kind]: b(x))
                  for name, build in builders.items() for kind in kinds}
    results = interleaved(contenders, reps, float("inf"))
    print("| input | " + " | ".join(builders) + " |")
    print("|---|" + "---|" * len(builders))
    for kind in kinds:
        cells = []
        for name in builders:
            seconds = results[(kind, name)][0]
            cells.append(f"{seconds:.3f} s ({seconds / results[('uniform', name)][0]:.2f})")
        print(f"| {kind} | " + " | ".join(cells) + " |")


def section_split_rules(n, d, n_queries, reps) -> None:
    print(f"\n## Split rules: {n:.0e} x {d}, kNN k=16 for {n_queries:.0e} queries drawn like the data\n")
    print(f"Medians of {reps} interleaved runs; build with {ALL} threads, queries with 1 thread. "
          "`elongated`: uniform scaled by 1, 0.03, 0.001 per axis.\n")
    print("| data | build max_spread (s) | build round_robin (s) | kNN max_spread (s) | "
          "kNN round_robin (s) | kNN round_robin / max_spread |")
    print("|---|---|---|---|---|---|")
    for kind in ("uniform", "clustered", "elongated"):
        data = make_data(kind, n, d)
        queries = make_data(kind, n_queries, d, seed=1)
        trees = {split: kdforge.KDTree(data, split=split) for split in ("max_spread", "round_robin")}
        contenders = {}
        for split in trees:
            contenders[(split, "build")] = lambda s=split: kdforge.KDTree(data, split=s)
            contenders[(split, "knn")] = lambda s=split: trees[s].query(queries, k=16, workers=1)
        r = {key: value[0] for key, value in interleaved(contenders, reps, float("inf")).items()}
        print(f"| {kind} | {r[('max_spread', 'build')]:.3f} | {r[('round_robin', 'build')]:.3f} | "
              f"{r[('max_spread', 'knn')]:.3f} | {r[('round_robin', 'knn')]:.3f} | "
              f"{r[('round_robin', 'knn')] / r[('max_spread', 'knn')]:.2f} |")


def section_leaf_size(n, d, n_queries, reps) -> None:
    print(f"\n## leaf_size and division: {n:.0e} x {d} uniform, kNN k=16 for {n_queries:.0e} "
          "uniform queries\n")
    data = make_data("uniform", n, d)
    queries = np.random.default_rng(1).random((n_queries, d))
    print(f"Medians of {reps} interleaved runs. Node memory: node_start/node_end/split_dim/"
          "split_value/node_bounds; the tree also keeps tree_data (8d B/point) and "
          "idx_array (4 B/point).\n")
    print(f"| division | leaf_size | points per leaf | build, {ALL} threads (s) | "
          f"kNN 1 thread (s) | kNN {ALL} threads (s) | node memory (B/point) |")
    print("|---|---|---|---|---|---|---|")
    configs = [(division, leaf) for division in ("median", "root") for leaf in (8, 12, 16, 24, 32, 48, 64)]
    trees = {c: kdforge.KDTree(data, leaf_size=c[1], division=c[0]) for c in configs}
    contenders = {}
    for c in configs:
        contenders[(c, "build")] = lambda c=c: kdforge.KDTree(data, leaf_size=c[1], division=c[0])
        contenders[(c, "knn1")] = lambda c=c: trees[c].query(queries, k=16, workers=1)
        contenders[(c, "knn_all")] = lambda c=c: trees[c].query(queries, k=16, workers=ALL)
    results = interleaved(contenders, reps, float("inf"))
    for c in configs:
        tree = trees[c]
        node_bytes = sum(getattr(tree.record, name).nbytes for name in
                         ("node_start", "node_end", "split_dim", "split_value", "node_bounds"))
        per_leaf = n / (tree.n_nodes - tree.n_internal)
        print(f"| {c[0]} | {c[1]} | {per_leaf:.1f} | {results[(c, 'build')][0]:.3f} | "
              f"{results[(c, 'knn1')][0]:.3f} | {results[(c, 'knn_all')][0]:.3f} | "
              f"{node_bytes / n:.1f} |")


def section_division(n, d, n_queries, reps) -> None:
    print(f"\n## Division rules: {n:.0e} x {d} uniform, leaf_size {kdforge.DEFAULT_LEAF_SIZE}, "
          f"{n_queries:.0e} uniform queries on 1 thread\n")
    data = make_data("uniform", n, d)
    queries = np.random.default_rng(1).random((n_queries, d))
    radius = (10 * 3 / (4 * np.pi * n)) ** (1 / 3) if d == 3 else 0.01  # ~10 neighbours in 3-D
    trees = {div: kdforge.KDTree(data, division=div) for div in ("median", "root")}
    contenders = {}
    for div in trees:
        contenders[(div, "build1")] = lambda v=div: kdforge.KDTree(data, division=v, workers=1)
        contenders[(div, "build")] = lambda v=div: kdforge.KDTree(data, division=v)
        contenders[(div, "knn")] = lambda v=div: trees[v].query(queries, k=16, workers=1)
        contenders[(div, "radius")] = lambda v=div: trees[v].query_radius(queries, radius,
                                                                           count_only=True)
    r = {key: value[0] for key, value in interleaved(contenders, reps, float("inf")).items()}
    print(f"Medians of {reps} interleaved runs; radius {radius:.4f} (about 10 neighbours).\n")
    print(f"| division | nodes | points per leaf | leaf depths | build 1 thread (s) | build {ALL} threads (s) | "
          "kNN k=16 (s) | radius count (s) | node memory (B/point) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for div, tree in trees.items():
        node_bytes = sum(getattr(tree.record, name).nbytes for name in
                         ("node_start", "node_end", "split_dim", "split_value", "node_bounds"))
        leaves = np.arange(tree.n_internal, tree.n_nodes)
        depths = sorted(set((np.frexp(leaves + 1.0)[1] - 1).tolist()))
        print(f"| {div} | {tree.n_nodes} | {n / leaves.size:.1f} | {depths} | "
              f"{r[(div, 'build1')]:.3f} | {r[(div, 'build')]:.3f} | {r[(div, 'knn')]:.3f} | "
              f"{r[(div, 'radius')]:.3f} | {node_bytes / n:.1f} |")


@njit(cache=True, nogil=True)
def _build_index_only(data, idx, keys, node_start, node_end, split_dim, split_value, node_bounds,
                      n_internal):
    """kdforge's max_spread median build permuting only ``idx``: the rows never move.

    Every node gathers its points' coordinates through ``idx`` for its box and its split
    column (into ``keys``, which moves with ``idx`` during the selection). Nodes are visited
    in id order, parents before children.
    """
    key_rows = keys.reshape(-1, 1)
    scratch = select_kernels.new_scratch(key_rows, idx)
    for node in range(node_start.shape[0]):
        start = node_start[node]
        end = node_end[node]
        build_kernels._bounds(data, 0, idx, start, end, node_bounds, node, True)
        if node >= n_internal:
            split_dim[node] = -1
            continue
        dim = build_kernels.widest_dimension(node_bounds, node)
        for r in range(start, end):
            keys[r] = data[idx[r], dim]
        k = node_end[2 * node + 1]
        select_kernels.select_rows(key_rows, idx, start, end, k, 0, 0.0, False, 0, scratch)
        split_dim[node] = dim
        split_value[node] = keys[k]


@njit(cache=True, nogil=True)
def _gather_rows(data, idx, out):
    for r in range(idx.shape[0]):
        for c in range(data.shape[1]):
            out[r, c] = data[idx[r], c]


def index_only_build(data: np.ndarray, with_tree_data: bool):
    build = _build._Build(data, kdforge.DEFAULT_LEAF_SIZE, record.SPLIT_MAX_SPREAD,
                          record.DIVISION_MEDIAN)
    tree = build.record
    tree.idx_array[:] = np.arange(data.shape[0], dtype=tree.idx_array.dtype)
    keys = np.empty(data.shape[0], dtype=data.dtype)
    _build_index_only(data, tree.idx_array, keys, tree.node_start, tree.node_end, tree.split_dim,
                      tree.split_value, tree.node_bounds, build.n_internal)
    if with_tree_data:
        _gather_rows(data, build.idx, build.points)
    return build


def section_data_movement(sizes, reps) -> None:
    print("\n## Data movement: reordered copy vs index array only (max_spread, median, 1 thread)\n")
    print("`copy`: kdforge, rows of tree_data move with idx_array (leaves end contiguous). "
          "`index only`: rows never move; each node gathers coordinates through idx_array "
          "(keys scratch 8 B/point); `+ gather` adds building tree_data at the end, which "
          "queries need.\n")
    print("| data | copy (s) | index only (s) | index only + gather (s) | extra memory copy / index only (B/point) |")
    print("|---|---|---|---|---|")
    for n, d in sizes:
        data = make_data("uniform", n, d)
        index_only_build(data[:1000], True)
        contenders = {
            "copy": lambda: kdforge.KDTree(data, workers=1),
            "index": lambda: index_only_build(data, False),
            "index+gather": lambda: index_only_build(data, True),
        }
        results = interleaved(contenders, reps, float("inf"))
        print(f"| {n:.0e} x {d} | {results['copy'][0]:.3f} | {results['index'][0]:.3f} | "
              f"{results['index+gather'][0]:.3f} | {8 * d + 4} / {4 + 8} |")


@njit(cache=True, nogil=True)
def _split_long_nodes(tree):
    """Split (serially) every node longer than SMALL_ROWS; return the first shorter node."""
    scratch = select_kernels.new_scratch(tree.tree_data, tree.idx_array)
    node = 0
    while tree.node_end[node] - tree.node_start[node] > select_kernels.SMALL_ROWS:
        build_kernels.split_node(tree, node, scratch)
        node += 1
    return node


@njit(cache=True, nogil=True)
def _build_small_subtrees(tree, first):
    scratch = select_kernels.new_scratch(tree.tree_data, tree.idx_array)
    for node in range(first, 2 * first + 1):
        build_kernels.build_small_subtree(tree, node, scratch)


def section_profile(sizes, reps) -> None:
    print("\n## Where a serial build spends its time (process CPU time, best of runs)\n")
    print(f"`long nodes`: nodes of more than {select_kernels.SMALL_ROWS} rows "
          "(sample-pivot selection on rows, chunk-wise from "
          f"{select_kernels.CHUNKED_MIN_ROWS} rows); `small subtrees`: the subtrees below, "
          "built on key/position pairs. Boxes = max_spread - round_robin.\n")
    print("| data | split | copy (ms) | long nodes (ms) | small subtrees (ms) | total (ms) | ns per point per level |")
    print("|---|---|---|---|---|---|---|")
    for n, d in sizes:
        data = make_data("uniform", n, d)
        levels = record.tree_levels(n, kdforge.DEFAULT_LEAF_SIZE) + 1
        for name, split_rule in record.SPLIT_RULES.items():
            best = None
            for _ in range(reps):
                build = _build._Build(data, kdforge.DEFAULT_LEAF_SIZE, split_rule,
                                      record.DIVISION_MEDIAN)
                tree = build.record
                t0 = time.process_time()
                select_kernels.copy_rows(data, tree.tree_data, tree.idx_array, 0, n)
                t1 = time.process_time()
                first = _split_long_nodes(tree)
                t2 = time.process_time()
                _build_small_subtrees(tree, first)
                t3 = time.process_time()
                times = (t1 - t0, t2 - t1, t3 - t2)
                best = times if best is None else tuple(map(min, best, times))
            total = sum(best)
            print(f"| {n:.0e} x {d} | {name} | {best[0] * 1e3:.1f} | {best[1] * 1e3:.1f} | "
                  f"{best[2] * 1e3:.1f} | {total * 1e3:.1f} | {total / (n * levels) * 1e9:.2f} |")


# ---------------------------------------------------------------------- main
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 runs")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--sizes", default=None,
                        help="peers sizes, e.g. 1e6x3,1e7x3 (uniform and clustered for d = 3)")
    parser.add_argument("--reps", type=int, default=None, help="interleaved runs (default 5, quick 3)")
    parser.add_argument("--max-seconds", type=float, default=10.0,
                        help="peers slower than this run once")
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    if args.sizes:
        base = [parse_size(s) for s in args.sizes.split(",")]
    else:
        base = [(10**5, 3), (10**6, 8)] if args.quick else [(10**6, 3), (10**7, 3), (10**6, 8)]
    sizes = [((n, d), kind) for n, d in base for kind in (("uniform", "clustered") if d == 3 else ("uniform",))]
    robust_n = 10**5 if args.quick else 10**6
    print(f"# kdforge build benchmark\n\nkdforge {kdforge.__version__}, numpy {np.__version__}, "
          f"{ALL} cores, python {sys.version.split()[0]}\n\n`{' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}`")
    warm_up()
    sections = args.sections.split(",")
    if "peers" in sections:
        section_peers(sizes, reps, args.max_seconds)
    if "memory" in sections:
        section_memory([(10**5, 3)] if args.quick else [(10**6, 3), (10**7, 3)])
    if "robustness" in sections:
        section_robustness(robust_n, 3, reps)
    if "split_rules" in sections:
        section_split_rules(robust_n, 3, 10**4 if args.quick else 10**5, reps)
    if "leaf_size" in sections:
        section_leaf_size(robust_n, 3, 10**4 if args.quick else 10**5, reps)
    if "division" in sections:
        section_division(10**5 if args.quick else 10**7, 3, 10**4 if args.quick else 10**5, reps)
    if "data_movement" in sections:
        section_data_movement([(10**5, 3)] if args.quick else [(10**6, 3), (10**7, 3)], reps)
    if "profile" in sections:
        section_profile([(10**5, 3)] if args.quick else [(10**6, 3), (10**7, 3), (10**6, 8)], reps)


if __name__ == "__main__":
    main()
