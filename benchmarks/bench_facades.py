"""Facade benchmark: the same calls through scipy / scikit-learn and through kdforge's facades.

For each operation the original and the facade run on the same data in one process, with
repetitions interleaved (A B A' ...), where A' is the original a second time: the A/A
control, whose ratio shows the noise. Medians are printed with ratios (original time over
facade time: > 1 means kdforge is faster). The facade runs with one thread (the original's
setting) and with all cores; the core API is timed beside the facade to show its overhead.

    python benchmarks/bench_facades.py            # 3-D, 1e6 points (several minutes, 2 cores)
    python benchmarks/bench_facades.py --quick    # tiny sizes, a smoke test only

Operations: query (k=16), query_ball_point (~10 neighbours), query_pairs, count_neighbors
(10 radii), sparse_distance_matrix, through scipy's cKDTree; query and kernel_density
through scikit-learn's KDTree. Peers that are slow on a full-size call get a subsample
(printed in the table).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import scipy.spatial
import sklearn.neighbors

import kdforge
import kdforge.scipy
import kdforge.sklearn


def timed(fn) -> float:
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


def report(title: str, medians: dict) -> None:
    base = medians["original"]
    cells = [f"{name} {t * 1e3:9.1f} ms ({base / t:5.2f}x)" for name, t in medians.items()]
    print(f"| {title:<34} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    n = 20_000 if args.quick else 1_000_000
    m = 2_000 if args.quick else 100_000
    reps = 2 if args.quick else args.reps
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    data = rng.random((n, 3))
    queries = rng.random((m, 3))
    r_ball = (10 / (n * 4 / 3 * np.pi)) ** (1 / 3)  # ~10 neighbours
    print(f"# facades, n={n}, m={m}, 3-D uniform, {cores} cores, {reps} reps, ratios: original / contender")

    scipy_tree = scipy.spatial.cKDTree(data)
    facade = kdforge.scipy.cKDTree(data)
    core = facade._core
    # warm up (compilation)
    facade.query(queries[:10], 16)
    facade.query_ball_point(queries[:10], r_ball)
    small = kdforge.scipy.cKDTree(data[:1000])
    small.query_pairs(0.05)
    small.count_neighbors(small, [0.01, 0.02])
    small.sparse_distance_matrix(small, 0.05)

    def section(title, original, ours, ours_all=None, core_call=None):
        contenders = {"original": original, "kdforge": ours}
        if ours_all is not None:
            contenders["kdforge all cores"] = ours_all
        if core_call is not None:
            contenders["core API"] = core_call
        contenders["original (A/A)"] = original
        report(title, interleaved(contenders, reps))

    section("cKDTree.query k=16", lambda: scipy_tree.query(queries, 16),
            lambda: facade.query(queries, 16), lambda: facade.query(queries, 16, workers=-1),
            lambda: core.query(queries, k=16))
    section("cKDTree.query_ball_point", lambda: scipy_tree.query_ball_point(queries, r_ball),
            lambda: facade.query_ball_point(queries, r_ball),
            lambda: facade.query_ball_point(queries, r_ball, workers=-1),
            lambda: core.query_radius(queries, r_ball))
    r_pairs = (5 / (n * 4 / 3 * np.pi)) ** (1 / 3)  # ~2.5 pairs per point
    section("cKDTree.query_pairs ndarray",
            lambda: scipy_tree.query_pairs(r_pairs, output_type="ndarray"),
            lambda: facade.query_pairs(r_pairs, output_type="ndarray"),
            lambda: facade.query_pairs(r_pairs, output_type="ndarray", workers=-1))
    radii = np.linspace(r_pairs / 4, 2 * r_pairs, 10)
    section("cKDTree.count_neighbors 10 radii",
            lambda: scipy_tree.count_neighbors(scipy_tree, radii),
            lambda: facade.count_neighbors(facade, radii),
            lambda: facade.count_neighbors(facade, radii, workers=-1))
    section("cKDTree.sparse_distance_matrix coo",
            lambda: scipy_tree.sparse_distance_matrix(scipy_tree, r_pairs, output_type="coo_matrix"),
            lambda: facade.sparse_distance_matrix(facade, r_pairs, output_type="coo_matrix"),
            lambda: facade.sparse_distance_matrix(facade, r_pairs, output_type="coo_matrix",
                                                  workers=-1))

    sk_tree = sklearn.neighbors.KDTree(data)
    sk_facade = kdforge.sklearn.KDTree(data)
    sk_facade.query(queries[:10], 16)
    section("sklearn KDTree.query k=16", lambda: sk_tree.query(queries, 16),
            lambda: sk_facade.query(queries, 16), lambda: sk_facade.query(queries, 16, workers=-1))
    kde_queries = queries[: max(m // 100, 100)]  # scikit-learn takes seconds per 1000 queries
    h = 0.01 if not args.quick else 0.05
    sk_facade.kernel_density(kde_queries[:5], h)
    print(f"# kernel_density on {kde_queries.shape[0]} queries, h={h}, rtol=1e-4")
    section("sklearn KDTree.kernel_density",
            lambda: sk_tree.kernel_density(kde_queries, h, rtol=1e-4),
            lambda: sk_facade.kernel_density(kde_queries, h, rtol=1e-4),
            lambda: sk_facade.kernel_density(kde_queries, h, rtol=1e-4, workers=-1))


if __name__ == "__main__":
    main()
