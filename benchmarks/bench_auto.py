"""Measure where exact kNN by the KD-tree beats exact brute force: the data behind
``NeighborIndex(algorithm="auto")`` (see :mod:`kdforge.index`).

For every dimension d, size n, neighbour count k, data distribution and metric, both engines
answer the same queries exactly, on all cores (``workers=-1``; brute force's matrix product
uses every core through BLAS anyway), in batches of 1000 queries (fewer, down to 100, where
the slower engine would take over a second), and the query throughput (queries/s, tree build
excluded) is reported with the ratio tree / brute. Repetitions are interleaved (tree, brute,
tree, brute, ...) and medians taken, so machine noise hits both alike.

    python benchmarks/bench_auto.py                   # full grid (~15 min on 2 cores)
    python benchmarks/bench_auto.py --quick           # a small grid, a smoke test
    python benchmarks/bench_auto.py --json out.json   # also save the raw rows
    python benchmarks/bench_auto.py --from-json out.json --out-md results.md   # re-render

Distributions: ``uniform`` (the unit cube), ``clustered`` (50 Gaussian blobs, sigma 0.02,
centres uniform in the cube) and ``manifold`` (points of a 4-D cube mapped linearly into d
dimensions, plus 1e-3 noise: intrinsic dimension 4 whatever d). Queries are fresh draws
from the same distribution. Metrics: euclidean (brute force by BLAS) and manhattan (brute
force by a Numba scan); chebyshev and other orders use the manhattan scan too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from kdforge import KDTree, brute
from kdforge.index import relative_contrast

#: Queries per batch: both engines amortise their per-call costs (brute force measures the
#: norms of all points on every call) over this many queries, unless that takes too long.
BATCH = 1000
MIN_BATCH = 100
TARGET_SECONDS = 1.0  # largest time per engine and repetition, above MIN_BATCH


def make_data(kind: str, n: int, m: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points and ``m`` queries drawn from the same distribution (same blobs, same map)."""
    total = n + m
    if kind == "uniform":
        points = rng.random((total, d))
    elif kind == "clustered":
        centres = rng.random((50, d))
        points = centres[rng.integers(0, 50, total)] + 0.02 * rng.standard_normal((total, d))
    elif kind == "manifold":
        latent = rng.random((total, 4))
        points = latent @ rng.standard_normal((4, d)) + 1e-3 * rng.standard_normal((total, d))
    else:
        raise ValueError(kind)
    return points[:n], points[n:]


def throughput(fn, queries: np.ndarray, reps: int, other=None) -> tuple[float, float]:
    """Median queries/s of ``fn`` and of ``other`` on ``queries``, interleaved."""
    times_a, times_b = [], []
    for _ in range(reps):
        start = time.perf_counter()
        fn(queries)
        times_a.append(time.perf_counter() - start)
        start = time.perf_counter()
        other(queries)
        times_b.append(time.perf_counter() - start)
    m = queries.shape[0]
    return m / statistics.median(times_a), m / statistics.median(times_b)


def pick_queries(fn_tree, fn_brute, pool: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` queries, fewer (not below MIN_BATCH) if the slower engine would take more
    than TARGET_SECONDS."""
    probe = pool[:MIN_BATCH]
    start = time.perf_counter()
    fn_tree(probe)
    t_tree = time.perf_counter() - start
    start = time.perf_counter()
    fn_brute(probe)
    t_brute = time.perf_counter() - start
    per_query = max(t_tree, t_brute) / probe.shape[0]
    m = int(np.clip(TARGET_SECONDS / max(per_query, 1e-9), MIN_BATCH, batch))
    return pool[:m]


def render_markdown(rows: list[dict], command: str) -> str:
    """Tables of tree / brute throughput ratios: one row per (data, n, metric, k), one column per d."""
    import platform

    dims = sorted({r["d"] for r in rows})
    lines = ["# Exact kNN: KD-tree against brute force (the data of `algorithm=\"auto\"`)", "",
             f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
             "Both engines exact, all cores, batches of up to 1000 queries; the tree's build is not "
             "counted. Cells: tree queries/s divided by brute-force queries/s (> 1: the tree is "
             "faster), with the relative contrast of the data in brackets (`kdforge.index.relative_contrast`: "
             "mean distance over nearest-neighbour distance in a 2000-point sample).", ""]
    for metric in sorted({r["metric"] for r in rows}):
        lines += [f"## {metric}", "", "| data | n | k | " + " | ".join(f"d={d}" for d in dims) + " |",
                  "|---|---:|---:|" + "---:|" * len(dims)]
        keys = sorted({(r["data"], r["n"], r["k"]) for r in rows if r["metric"] == metric})
        for data, n, k in keys:
            cells = []
            for d in dims:
                match = [r for r in rows if (r["metric"], r["data"], r["n"], r["k"], r["d"]) == (metric, data, n, k, d)]
                cells.append(f"{match[0]['ratio']:.2f} ({match[0]['contrast']:.1f})" if match else "")
            lines.append(f"| {data} | {n:,} | {k} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grid (a smoke test)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--json", help="write the raw rows to this JSON file")
    parser.add_argument("--out-md", help="write the ratio tables to this markdown file")
    parser.add_argument("--from-json", nargs="+", help="render --out-md from saved --json files; measure nothing")
    parser.add_argument("--kinds", help="comma-separated subset of uniform,clustered,manifold")
    parser.add_argument("--sizes", help="comma-separated numbers of points")
    parser.add_argument("--dims", help="comma-separated dimensions")
    parser.add_argument("--ks", help="comma-separated neighbour counts")
    parser.add_argument("--metrics", help="comma-separated subset of euclidean,manhattan")
    args = parser.parse_args(argv)
    command = "python benchmarks/bench_auto.py" + (" --quick" if args.quick else "")
    if args.from_json:
        rows = []
        for path in args.from_json:
            with open(path) as fh:
                rows += json.load(fh)
        if args.out_md:
            with open(args.out_md, "w") as fh:
                fh.write(render_markdown(rows, command))
        return

    batch = MIN_BATCH * 2 if args.quick else BATCH
    if args.quick:
        sizes, dims, ks = [10_000, 100_000], [2, 8, 16, 32], [1, 16]
        kinds, metrics = ["uniform", "clustered"], [("euclidean", 2.0)]
    else:
        sizes, dims, ks = [10_000, 100_000, 1_000_000], [2, 4, 8, 12, 16, 24, 32, 64], [1, 16, 100]
        kinds = ["uniform", "clustered", "manifold"]
        metrics = [("euclidean", 2.0), ("manhattan", 1.0)]
    if args.kinds:
        kinds = args.kinds.split(",")
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
    if args.dims:
        dims = [int(x) for x in args.dims.split(",")]
    if args.ks:
        ks = [int(x) for x in args.ks.split(",")]
    if args.metrics:
        metrics = [(name, {"euclidean": 2.0, "manhattan": 1.0}[name]) for name in args.metrics.split(",")]
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'data':10s} {'n':>8s} {'d':>3s} {'C':>5s} {'metric':9s} {'k':>4s} "
          f"{'tree q/s':>10s} {'brute q/s':>10s} {'tree/brute':>10s}", flush=True)
    for kind in kinds:
        for n in sizes:
            for d in dims:
                if kind == "manifold" and d < 8:
                    continue
                data, pool = make_data(kind, n, batch, d, rng)
                contrast = relative_contrast(data)
                tree = KDTree(data)
                for metric, p in metrics:
                    for k in ks:
                        def run_tree(q):
                            tree.query(q, k, p=p, workers=-1)

                        def run_brute(q):
                            brute.knn(data, q, k, p=p, workers=-1)

                        queries = pick_queries(run_tree, run_brute, pool, batch)
                        q_tree, q_brute = throughput(run_tree, queries, args.reps, run_brute)
                        row = dict(data=kind, n=n, d=d, contrast=round(contrast, 3), metric=metric,
                                   k=k, m=int(queries.shape[0]), tree_qps=q_tree, brute_qps=q_brute,
                                   ratio=q_tree / q_brute)
                        rows.append(row)
                        print(f"{kind:10s} {n:8d} {d:3d} {contrast:5.2f} {metric:9s} {k:4d} "
                              f"{q_tree:10.0f} {q_brute:10.0f} {q_tree / q_brute:10.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    if args.out_md:
        with open(args.out_md, "w") as fh:
            fh.write(render_markdown(rows, command))


if __name__ == "__main__":
    main()
