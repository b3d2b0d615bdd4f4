"""Brute force: kdforge.brute against scikit-learn's brute-force NearestNeighbors.

One process, repetitions interleaved (sklearn, kdforge, sklearn again, ...): the second
sklearn run is the A/A control whose ratio shows the noise. Medians are printed with
ratios (sklearn's time over the contender's: > 1 means faster than sklearn). Both use all
cores (kdforge ``workers=-1``; sklearn ``n_jobs=-1``).

    python benchmarks/bench_brute.py                 # issue 13's case: 1e6 x 1e3, 3-D, r = 0.01
    python benchmarks/bench_brute.py --n 200000      # smaller
    python benchmarks/bench_brute.py --quick         # tiny sizes, a smoke test only

Operations: radius (r = 0.01 on uniform data in the unit cube, about 4 neighbours per query
at 1e6 points) and kNN (k = 10), in float64, for the dimensions given (default 3 and 32: the
direct engine and the BLAS filter).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import sklearn.neighbors

from kdforge import brute


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
    base = medians["sklearn"]
    cells = [f"{name} {t * 1e3:9.1f} ms ({base / t:5.2f}x)" for name, t in medians.items()]
    print(f"| {title:<28} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--m", type=int, default=1_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[3, 32])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    n, m = (20_000, 100) if args.quick else (args.n, args.m)
    rng = np.random.default_rng(0)
    print(f"n = {n}, m = {m}, {args.reps} interleaved repetitions, medians")
    for d in args.dims:
        data = rng.random((n, d))
        queries = rng.random((m, d))
        # r = 0.01 in 3-D; in more dimensions a radius with a few neighbours likewise
        r = 0.01 if d == 3 else float(np.sort(np.linalg.norm(data[:2000] - queries[0], axis=1))[0])
        nn = sklearn.neighbors.NearestNeighbors(algorithm="brute", n_jobs=-1).fit(data)
        brute.radius(data[:100], queries[:2], r)  # compile / load the kernels
        brute.knn(data[:100], queries[:2], k=2)
        got = brute.radius(data, queries, r, workers=-1)
        ref = nn.radius_neighbors(queries, r, return_distance=False)
        assert all(np.array_equal(np.sort(a), got[1][got[0][i]:got[0][i + 1]])
                   for i, a in enumerate(ref)), "kdforge and sklearn disagree"
        report(f"radius d={d} ({got[0][-1]} pairs)", interleaved({
            "sklearn": lambda: nn.radius_neighbors(queries, r, return_distance=False),
            "kdforge": lambda: brute.radius(data, queries, r, workers=-1),
            "sklearn A/A": lambda: nn.radius_neighbors(queries, r, return_distance=False),
        }, args.reps))
        report(f"knn k=10 d={d}", interleaved({
            "sklearn": lambda: nn.kneighbors(queries, 10),
            "kdforge": lambda: brute.knn(data, queries, k=10, workers=-1),
            "sklearn A/A": lambda: nn.kneighbors(queries, 10),
        }, args.reps))


if __name__ == "__main__":
    main()
