"""Query benchmark: kdforge against scipy cKDTree, scikit-learn KDTree and pykdtree.

Every contender runs on the same data in one process; repetitions are interleaved (A B C A B C
...) so machine noise hits all of them alike, and medians are reported with ratios
(kdforge's throughput over each peer's: > 1 means kdforge is faster).

    python benchmarks/bench_core.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_core.py --quick    # small sizes, a smoke test

Sections: build time; kNN k = 1, 8, 16 with workers = 1 and all cores on uniform 3-D,
clustered 3-D, uniform 8-D and the GeoNames cities; radius queries (~10 neighbours) against
scipy; ``adaptive``: the split rules on heavy-tailed, log-normal and mixture data in 3-D, 6-D
and 9-D and on GeoNames with queries away from the data (the newest places), against scipy
(both ``balanced_tree`` settings) and pykdtree, one thread, build + kNN k = 10 + radius;
Numba compile time on a cold cache and import + first-query latency on a warm cache.

    python benchmarks/bench_core.py --sections adaptive --reps 5
pykdtree takes its thread count from OpenMP (OMP_NUM_THREADS) and is timed once, at its default;
scikit-learn's KDTree queries are single-threaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import kdforge


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict, reps: int) -> dict:
    """Median seconds of each callable, repetitions interleaved across contenders."""
    times = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def peers_available():
    found = {}
    try:
        from scipy.spatial import cKDTree
        found["scipy"] = cKDTree
    except ImportError:
        pass
    try:
        from sklearn.neighbors import KDTree as SKTree
        found["sklearn"] = SKTree
    except ImportError:
        pass
    try:
        from pykdtree.kdtree import KDTree as PyKDTree
        found["pykdtree"] = PyKDTree
    except ImportError:
        pass
    return found


def make_datasets(n: int, rng: np.random.Generator, include_geonames: bool) -> dict:
    data = {"uniform 3-D": rng.random((n, 3))}
    centers = rng.random((50, 3))
    labels = rng.integers(0, 50, size=n)
    data["clustered 3-D"] = centers[labels] + 0.01 * rng.standard_normal((n, 3))
    data["uniform 8-D"] = rng.random((n, 8))
    if include_geonames:
        from kdforge.datasets import load_geonames
        data["GeoNames cities"] = load_geonames(500).unit_vectors()
    return data


def queries_for(data: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Queries drawn like the data: data points jittered by a small fraction of the spread."""
    base = data[rng.integers(0, data.shape[0], size=m)]
    scale = 1e-3 * (data.max(axis=0) - data.min(axis=0))
    return base + scale * rng.standard_normal(base.shape)


def print_row(label, times, base="kdforge", unit_count=None):
    parts = []
    for name, seconds in times.items():
        if unit_count:
            parts.append(f"{name} {unit_count / seconds / 1e3:8.1f} kq/s")
        else:
            parts.append(f"{name} {seconds:7.3f} s")
    ratios = [f"x{times[name] / times[base]:.2f} vs {name}" for name in times if name != base]
    print(f"  {label:<34s} " + " | ".join(parts) + ("   [" + ", ".join(ratios) + "]" if ratios else ""))


def bench_build(datasets, peers, reps):
    print("\n== build (seconds; ratio = peer time / kdforge time)")
    for name, data in datasets.items():
        contenders = {"kdforge": lambda: kdforge.KDTree(data)}
        if "scipy" in peers:
            contenders["scipy"] = lambda: peers["scipy"](data)
        if "sklearn" in peers:
            contenders["sklearn"] = lambda: peers["sklearn"](data)
        if "pykdtree" in peers:
            contenders["pykdtree"] = lambda: peers["pykdtree"](data)
        print_row(name, interleaved(contenders, reps))


def bench_knn(datasets, peers, m, reps, n_cores):
    print(f"\n== kNN, {m} queries (thousand queries/s; ratio = kdforge throughput / peer's)")
    rng = np.random.default_rng(1)
    for name, data in datasets.items():
        queries = queries_for(data, m, rng)
        tree = kdforge.KDTree(data)
        scipy_tree = peers["scipy"](data) if "scipy" in peers else None
        sk_tree = peers["sklearn"](data) if "sklearn" in peers else None
        py_tree = peers["pykdtree"](data) if "pykdtree" in peers else None
        for k in (1, 8, 16):
            for workers in (1, -1):
                contenders = {"kdforge": lambda: tree.query(queries, k=k, workers=workers)}
                if scipy_tree is not None:
                    contenders["scipy"] = lambda: scipy_tree.query(queries, k=k, workers=workers)
                if sk_tree is not None and workers == 1:
                    contenders["sklearn"] = lambda: sk_tree.query(queries, k=k)
                if py_tree is not None and workers == -1:
                    contenders["pykdtree"] = lambda: py_tree.query(queries, k=k)
                threads = 1 if workers == 1 else n_cores
                times = interleaved(contenders, reps)
                label = f"{name}, k={k}, {threads} thread{'s' if threads > 1 else ''}"
                print_row(label, times, unit_count=m)


def bench_radius(data, peers, m, reps, n_cores):
    print(f"\n== radius, ~10 neighbours, uniform 3-D, {m} queries (kq/s; ratio vs scipy)")
    rng = np.random.default_rng(2)
    queries = rng.random((m, 3))
    r = (10 / (data.shape[0] * 4 / 3 * np.pi)) ** (1 / 3)
    tree = kdforge.KDTree(data)
    scipy_tree = peers["scipy"](data) if "scipy" in peers else None
    sk_tree = peers["sklearn"](data) if "sklearn" in peers else None
    mean_count = tree.query_radius(queries, r, count_only=True).mean()
    print(f"  r = {r:.5f}, mean neighbours = {mean_count:.1f}")
    for workers in (1, -1):
        threads = 1 if workers == 1 else n_cores
        contenders = {
            "kdforge": lambda: tree.query_radius(queries, r, workers=workers),
            "kdforge-csr": lambda: tree.query_radius_csr(queries, r, workers=workers),
        }
        if scipy_tree is not None:
            contenders["scipy"] = lambda: scipy_tree.query_ball_point(queries, r, workers=workers)
        if sk_tree is not None and workers == 1:
            contenders["sklearn"] = lambda: sk_tree.query_radius(queries, r)
        print_row(f"lists, {threads} thread(s)", interleaved(contenders, reps), unit_count=m)
        contenders = {"kdforge": lambda: tree.query_radius(queries, r, count_only=True, workers=workers)}
        if scipy_tree is not None:
            contenders["scipy"] = lambda: scipy_tree.query_ball_point(queries, r, workers=workers,
                                                                      return_length=True)
        print_row(f"counts, {threads} thread(s)", interleaved(contenders, reps), unit_count=m)


def adaptive_datasets(n: int, m: int, rng: np.random.Generator, include_geonames: bool) -> dict:
    """``name -> (data, queries)``: heavy-tailed and clustered workloads, queries held out
    (drawn like the data, never in it)."""
    out = {}
    for d in (3, 6, 9):
        both = rng.standard_t(2.0, size=(n + m, d))
        out[f"student-t(2) {d}-D"] = (both[:n], both[n:])
        both = rng.lognormal(0.0, 1.0, size=(n + m, d))
        out[f"log-normal {d}-D"] = (both[:n], both[n:])
        centres = rng.standard_normal((20, d)) * 5
        labels = rng.integers(0, 20, size=n + m)
        widths = np.exp(rng.normal(-2.0, 1.0, size=20))[labels, None]
        both = centres[labels] + widths * rng.standard_normal((n + m, d))
        tail = rng.random(n + m) < 0.05  # a broad Cauchy background: the tails
        both[tail] = 5 * rng.standard_cauchy((int(tail.sum()), d))
        out[f"mixture + tails {d}-D"] = (both[:n], both[n:])
    if include_geonames:
        from kdforge.datasets import load_geonames
        places = load_geonames(500).unit_vectors()
        out["GeoNames, newest 10k as queries"] = (places[:-10_000], places[-10_000:])
        random = rng.permutation(places.shape[0])
        out["GeoNames, random 10k as queries"] = (places[random[10_000:]], places[random[:10_000]])
    return out


def _one_openmp_thread(fn, *args, **kwargs):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return fn(*args, **kwargs)


def bench_adaptive(n, m, peers, reps, include_geonames):
    """Split rules on real-like data, one thread, against scipy (both settings) and pykdtree."""
    print(f"\n== adaptive splits: build (s), kNN k=10 and radius (~10 neighbours) (kq/s), 1 thread; "
          f"n = {n}, {m} held-out queries; 'kdforge' is the default split, 'kdforge A/A' the same "
          "tree timed twice (noise)")
    rng = np.random.default_rng(5)
    for name, (data, queries) in adaptive_datasets(n, m, rng, include_geonames).items():
        builders = {"kdforge": lambda: kdforge.KDTree(data, workers=1),
                    "kd median": lambda: kdforge.KDTree(data, split="max_spread", workers=1),
                    "kd midpoint": lambda: kdforge.KDTree(data, split="sliding_midpoint", workers=1)}
        if "scipy" in peers:
            builders["scipy bal"] = lambda: peers["scipy"](data)
            builders["scipy unbal"] = lambda: peers["scipy"](data, balanced_tree=False)
        if "pykdtree" in peers:
            builders["pykdtree"] = lambda: _one_openmp_thread(peers["pykdtree"], data, leafsize=16)
        trees = {label: build() for label, build in builders.items()}
        print(f"  {name}   (default split: {trees['kdforge'].split})")
        print_row("build", interleaved(builders, reps))
        searches = {}
        for label, tree in trees.items():
            if label.startswith("k"):
                searches[label] = (lambda t: lambda: t.query(queries, k=10, workers=1))(tree)
            elif label.startswith("scipy"):
                searches[label] = (lambda t: lambda: t.query(queries, k=10, workers=1))(tree)
            else:  # pykdtree's OpenMP threads, limited to one like the others' workers=1
                searches[label] = (lambda t: lambda: _one_openmp_thread(t.query, queries, k=10))(tree)
        searches["kdforge A/A"] = searches["kdforge"]
        print_row("kNN k=10", interleaved(searches, reps), unit_count=m)
        dist, _ = trees["kdforge"].query(queries, k=10, workers=-1)
        r = float(np.median(dist[:, -1]))
        radius = {label: (lambda t: lambda: t.query_radius(queries, r, workers=1))(tree)
                  for label, tree in trees.items() if label.startswith("k")}
        for label in ("scipy bal", "scipy unbal"):
            if label in trees:
                radius[label] = (lambda t: lambda: t.query_ball_point(queries, r, workers=1))(trees[label])
        print_row(f"radius r={r:.3g}", interleaved(radius, reps), unit_count=m)


LATENCY_SCRIPT = """
import time
t0 = time.perf_counter()
import numpy as np
import kdforge
t1 = time.perf_counter()
points = np.random.default_rng(0).random((1000, 3))
tree = kdforge.KDTree(points)
tree.query(points[:10], k=4)
tree.query_radius(points[:10], 0.1)
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
"""


def bench_latency():
    print("\n== Numba compile (cold cache) and first-call latency (warm cache), fresh processes")
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        for label in ("cold cache", "warm cache", "warm cache"):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", LATENCY_SCRIPT], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            total = time.perf_counter() - start
            print(f"  {label:<11s} import {float(out[0]):.2f} s, build + first kNN + first radius "
                  f"{float(out[1]):.2f} s, whole process {total:.2f} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--n", type=int, default=1_000_000, help="points per synthetic set")
    parser.add_argument("--queries", type=int, default=100_000, help="queries per workload")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--sections", default="build,knn,radius,adaptive,latency",
                        help="comma-separated subset of build,knn,radius,adaptive,latency")
    parser.add_argument("--adaptive-n", type=int, default=200_000,
                        help="points per synthetic set of the adaptive section")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.queries, args.reps = 50_000, 5_000, 1
    sections = set(args.sections.split(","))
    n_cores = os.cpu_count() or 1
    peers = peers_available()
    print(f"kdforge {kdforge.__version__}, numpy {np.__version__}, {n_cores} cores, "
          f"peers: {', '.join(peers) or 'none'}; n = {args.n}, queries = {args.queries}, "
          f"reps = {args.reps} (medians)")
    rng = np.random.default_rng(0)
    datasets = make_datasets(args.n, rng, include_geonames=not args.quick)
    kdforge.KDTree(datasets["uniform 3-D"][:1000]).query(datasets["uniform 3-D"][:10], k=2)
    if "build" in sections:
        bench_build(datasets, peers, args.reps)
    if "knn" in sections:
        bench_knn(datasets, peers, args.queries, args.reps, n_cores)
    if "radius" in sections:
        bench_radius(datasets["uniform 3-D"], peers, args.queries, args.reps, n_cores)
    if "adaptive" in sections:
        bench_adaptive(args.adaptive_n if not args.quick else 20_000, 10_000 if not args.quick else 1000,
                       peers, args.reps, include_geonames=not args.quick)
    if "latency" in sections:
        bench_latency()


if __name__ == "__main__":
    main()
