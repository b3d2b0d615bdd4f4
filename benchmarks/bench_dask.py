"""kdforge.dask on a LocalCluster: sharded trees against one in-process tree and a broadcast.

Three ways to answer the same exact kNN queries over the same points:

* ``local``: one in-process :class:`kdforge.KDTree` with all cores (the single-machine answer);
* ``routed``: :class:`kdforge.dask.DistributedKDTree` with the default routing (nearest shard
  first, then only shards whose box is within the k-th distance);
* ``broadcast``: the same sharded tree, every query sent to every shard (what brute-force
  distributed kNN does, e.g. cuML's Dask ``NearestNeighbors``).

Repetitions are interleaved (A B C A' ...), medians reported; ``routed (A/A)`` runs the
routed contender a second time to show the noise. Printed per contender: build time, query
throughput, the fraction of shards a query visits, the bytes of query and result arrays sent
to and from shard tasks, and whether results are identical to ``local`` (indices and
distances). Then per-shard figures (one shard's build and query speed, in process) and an
estimate, extrapolated from them, of 1e9 points on 64 workers.

    python benchmarks/bench_dask.py                   # 1e7 x 3, 1e5 queries (full size)
    python benchmarks/bench_dask.py --quick           # tiny sizes: a smoke test
    python benchmarks/bench_dask.py --n 1e6 --shards 8 --workers 2 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import time

import numpy as np


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def interleaved(contenders: dict, reps: int):
    """Median seconds and the last result of each callable, repetitions interleaved."""
    times = {name: [] for name in contenders}
    results = {}
    for _ in range(reps):
        for name, fn in contenders.items():
            seconds, results[name] = timed(fn)
            times[name].append(seconds)
    return {name: statistics.median(t) for name, t in times.items()}, results


def make_points(n: int, d: int, kind: str, rng) -> np.ndarray:
    if kind == "uniform":
        return rng.random((n, d))
    dense = n * 99 // 100                                  # 99% in a cube of side 1e-3
    return np.concatenate([0.5 + 1e-3 * rng.random((dense, d)), rng.random((n - dense, d))])


def per_shard_figures(x, top, queries, k, threads, reps):
    """Build seconds and query rate of one shard's tree (shard 0), in process."""
    import kdforge
    from kdforge.dask._partition import assign_shards

    shard_points = x[assign_shards(top, x) == 0]
    shard_queries = queries[assign_shards(top, queries) == 0]
    if shard_queries.shape[0] == 0:
        shard_queries = shard_points[: min(1000, shard_points.shape[0])]
    build = statistics.median(timed(lambda: kdforge.KDTree(shard_points, workers=threads))[0]
                              for _ in range(reps))
    tree = kdforge.KDTree(shard_points, workers=threads)
    query = statistics.median(timed(lambda: tree.query(shard_queries, k=k, workers=threads))[0]
                              for _ in range(reps))
    return shard_points.shape[0], build, shard_queries.shape[0] / query


def estimate(n_shard, build_s, shard_qps, visits_per_query, d, k, n_total=1e9, workers=64):
    """Extrapolate one-shard figures to ``n_total`` points on ``workers`` workers."""
    n_big = n_total / workers
    scale_build = (n_big / n_shard) * math.log(n_big) / math.log(n_shard)
    scale_query = math.log(n_big) / math.log(n_shard)
    moved_gb = n_total * (d * 8 + 8) / 1e9
    print(f"\nEstimate (extrapolated from the per-shard figures above, not measured): "
          f"{n_total:.0e} points x {d} on {workers} workers, one shard each "
          f"({n_big:.3g} points per shard)")
    print(f"  shard build      ~{build_s * scale_build:8.1f} s per worker, all in parallel "
          f"(n log n scaling from {n_shard} points)")
    print(f"  moving points    {moved_gb:8.1f} GB once (coordinates + int64 index); at 1 GB/s "
          f"per worker ~{moved_gb / workers:.1f} s")
    rate = workers * shard_qps / scale_query / max(visits_per_query, 1.0)
    print(f"  kNN k={k}         ~{rate / 1e3:8.0f} kq/s cluster-wide ({visits_per_query:.2f} shard "
          f"visits per query as measured here; scheduler overhead not included)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, a smoke test")
    parser.add_argument("--n", type=float, default=1e7, help="points")
    parser.add_argument("--d", type=int, default=3, help="dimensions")
    parser.add_argument("--queries", type=float, default=1e5, help="queries")
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--data", choices=("uniform", "skewed"), default="uniform")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.queries, args.reps = 20_000, 2_000, 2

    import dask.array as da
    import distributed

    import kdforge
    from kdforge.dask import DistributedKDTree

    n, m = int(args.n), int(args.queries)
    rng = np.random.default_rng(0)
    x = make_points(n, args.d, args.data, rng)
    queries = make_points(m, args.d, args.data, rng)
    all_threads = args.workers * args.threads
    chunk_rows = max(1, -(-n // (4 * args.workers)))
    print(f"kdforge.dask benchmark: {n} x {args.d} {args.data} float64, {m} queries, k={args.k}, "
          f"LocalCluster {args.workers} workers x {args.threads} threads, {args.shards} shards, "
          f"{args.reps} interleaved repetitions (medians)")

    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                                  processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        warm = x[: min(n, 5000)]                                        # compile everywhere
        with DistributedKDTree.from_array(warm, 2, client=client) as tiny:
            tiny.query(warm[:100], k=args.k)
            tiny.query(warm[:100], k=args.k, routing="broadcast")
        kdforge.KDTree(warm).query(warm[:100], k=args.k)

        # the points enter the cluster once, as a persisted dask array, as data loaded by
        # Dask (from files) would; the graph then holds no copy of them
        x_dask = client.persist(da.from_array(x, chunks=(chunk_rows, -1)))
        distributed.wait(x_dask)

        def build_distributed():
            return DistributedKDTree.from_array(x_dask, args.shards, client=client)

        trees = []
        build_times, built = interleaved({
            "local": lambda: kdforge.KDTree(x, workers=all_threads),
            "distributed": lambda: trees.append(build_distributed()) or trees[-1],
            "local (A/A)": lambda: kdforge.KDTree(x, workers=all_threads),
        }, args.reps)
        local, dtree = built["local"], trees.pop()
        for old in trees:
            old.close()
        print("\nbuild             seconds   x local")
        for name, seconds in build_times.items():
            print(f"  {name:15s} {seconds:8.3f}   {seconds / build_times['local']:6.2f}")
        sizes = dtree.shard_sizes
        print(f"  shard sizes: min {sizes.min()}, max {sizes.max()} (mean {sizes.mean():.0f}); "
              f"points moved once: {n * (args.d * 8 + 8) / 1e6:.1f} MB")

        stats = {}

        def distributed_query(routing, name):
            def run():
                out = dtree.query(queries, k=args.k, routing=routing)
                stats[name] = dtree.last_stats
                return out
            return run

        query_times, answers = interleaved({
            "local": lambda: local.query(queries, k=args.k, workers=all_threads),
            "routed": distributed_query("tree", "routed"),
            "broadcast": distributed_query("broadcast", "broadcast"),
            "routed (A/A)": distributed_query("tree", "routed (A/A)"),
        }, args.reps)
        want_dist, want_idx = answers["local"]
        print(f"\nkNN k={args.k}         kq/s   x local  shards visited  MB moved  identical")
        for name, seconds in query_times.items():
            dist, idx = answers[name]
            same = np.array_equal(idx, want_idx) and np.array_equal(dist, want_dist)
            st = stats.get(name)
            visited = f"{st.fraction_visited:14.3f}" if st else f"{'-':>14s}"
            moved = f"{st.bytes_moved / 1e6:9.1f}" if st else f"{'-':>9s}"
            print(f"  {name:15s} {m / seconds / 1e3:8.1f}  {query_times['local'] / seconds:7.2f}"
                  f"  {visited}  {moved}  {same}")
        routed = stats["routed"]
        print(f"  routed / broadcast time: {query_times['routed'] / query_times['broadcast']:.2f}; "
              f"bytes: {routed.bytes_moved / stats['broadcast'].bytes_moved:.2f}")

        n_shard, shard_build, shard_qps = per_shard_figures(x, dtree.top_tree, queries, args.k,
                                                            args.threads, args.reps)
        print(f"\nper shard (shard 0, in process, {args.threads} thread(s)): {n_shard} points, "
              f"build {shard_build:.3f} s, kNN {shard_qps / 1e3:.1f} kq/s")
        estimate(n_shard, shard_build, shard_qps, routed.shard_visits / routed.n_queries,
                 args.d, args.k)
        dtree.close()


if __name__ == "__main__":
    main()
