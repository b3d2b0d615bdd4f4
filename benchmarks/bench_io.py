"""Save / load benchmark: kdforge tree files against rebuilding and against scipy's pickle.

For each size (uniform 3-D float64 points) it times, with interleaved repetitions and
medians: building the tree; ``tree.save``; ``kdforge.io.load`` memory-mapped and in memory,
each with all checks (the default) and trusted (``verify_checksum=False,
verify_contents=False``, structural checks only); a pickle round trip of the kdforge tree;
and scipy's cKDTree build and pickle round trip (``pickle.loads(pickle.dumps(tree))``,
protocol 5). It also times the first query batch on a memory-mapped tree (page faults
included) against the same batch on the built tree, and first calls in a fresh process with
an empty Numba cache (compilation). Files are written to ``--tmp`` (read back from the page
cache: a cold disk adds its read time) and deleted.

    python benchmarks/bench_io.py                      # 1e6 and 1e7 points, writes results_io.md
    python benchmarks/bench_io.py --sizes 1e5 --repeat 3 --output -   # quick, print only
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

import kdforge
from kdforge import io, record
from kdforge._kernels import checks

TRUSTED = {"verify_checksum": False, "verify_contents": False}


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(contenders: dict, reps: int) -> dict:
    """Seconds of every repetition of each callable, repetitions interleaved across contenders."""
    times = {name: [] for name in contenders}
    for _ in range(reps):
        for name, fn in contenders.items():
            times[name].append(timed(fn)[0])
    return times


def pickle_round_trip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=5))


def validation_steps(tree) -> dict:
    """The checks of a load, run alone on the arrays of ``tree``."""
    n_internal = (tree.n_nodes - 1) // 2
    rec = tree.record
    data = tree.data.copy()  # writeable, as a loaded tree's data is
    arrays = [getattr(rec, name) for name in record.ARRAY_FIELDS] + [data]

    def structure():
        node_start, node_end, split_dim = (rec.node_start.copy(), rec.node_end.copy(),
                                           rec.split_dim.copy())
        checks.check_structure(node_start, node_end, split_dim, tree.n_points, tree.n_dims,
                               n_internal)

    return {
        "  structure, with copies (always)": structure,
        "  boxes and split values (contents)": lambda: checks.check_geometry(
            rec.tree_data, rec.node_start, rec.node_end, rec.split_dim,
            rec.split_value, rec.node_bounds, n_internal),
        "  permutation, data = tree_data (contents)": lambda: checks.compare_points(
            rec.tree_data, rec.idx_array, data),
        "  CRC-32 of every array (checksum)": lambda: [zlib.crc32(memoryview(a).cast("B")) for a in arrays],
    }


def bench_size(n: int, reps: int, directory: str) -> dict:
    from scipy.spatial import cKDTree

    data = np.random.default_rng(0).random((n, 3))
    queries = np.random.default_rng(1).random((10_000, 3))
    path = os.path.join(directory, f"kdforge_bench_{n}.kdt")
    build_reps = max(1, reps // 3)
    times = interleaved({"build": lambda: kdforge.KDTree(data),
                         "scipy build": lambda: cKDTree(data)}, build_reps)
    tree = kdforge.KDTree(data)
    scipy_tree = cKDTree(data)
    try:
        times.update(interleaved({
            "save": lambda: tree.save(path),
            "load mmap trusted": lambda: io.load(path, **TRUSTED),
            "load mmap checked": lambda: io.load(path),
            "load memory trusted": lambda: io.load(path, mmap=False, **TRUSTED),
            "load memory checked": lambda: io.load(path, mmap=False),
            "pickle round trip": lambda: pickle_round_trip(tree),
            "scipy pickle round trip": lambda: pickle_round_trip(scipy_tree),
        }, reps))
        file_mb = os.path.getsize(path) / 1e6
        times["first query, built"] = [timed(lambda: tree.query(queries, k=8))[0]]
        start = time.perf_counter()
        loaded = io.load(path, **TRUSTED)
        times["first query, mmap"] = [timed(lambda: loaded.query(queries, k=8))[0]]
        times["load + first query, mmap"] = [time.perf_counter() - start]
        times.update(interleaved(validation_steps(tree), reps))
    finally:
        if os.path.exists(path):
            os.remove(path)
    return {"n": n, "file_mb": file_mb, "times": times}


COMPILE_PROBE = r"""
import json, sys, time
import numpy as np
import kdforge
from kdforge import io, record
from kdforge._kernels import checks

def first_queries(tree):
    start = time.perf_counter()
    tree.query(tree.data[:100], k=8)
    tree.query_radius_csr(tree.data[:100], 0.05)
    return time.perf_counter() - start

tree = kdforge.KDTree(np.random.default_rng(0).random((100_000, 3)))
out = {"first queries on a built tree": first_queries(tree)}
tree.save(sys.argv[1])
start = time.perf_counter()
loaded = io.load(sys.argv[1])
out["first load (validation kernels)"] = time.perf_counter() - start
out["first queries after an mmap load"] = first_queries(loaded)
for name in record.ARRAY_FIELDS:
    getattr(loaded.record, name).flags.writeable = False
out["first queries on read-only arrays"] = first_queries(loaded)
print(json.dumps(out))
"""


def compile_costs(directory: str) -> dict:
    """Seconds of first calls in a fresh process with an empty Numba cache.

    Shows that memory-mapped trees reuse the query kernels compiled for built trees (their
    arrays are copy-on-write, hence writeable), while read-only arrays would need a
    specialization of their own.
    """
    with tempfile.TemporaryDirectory(dir=directory) as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=os.pathsep.join(sys.path))
        result = subprocess.run([sys.executable, "-c", COMPILE_PROBE, os.path.join(cache, "t.kdt")],
                                capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, kdforge {kdforge.__version__}")


ROWS = ["build", "scipy build", "save", "load mmap trusted", "load mmap checked",
        "load memory trusted", "load memory checked", "pickle round trip",
        "scipy pickle round trip", "first query, built", "first query, mmap",
        "load + first query, mmap", "validation steps alone:",
        "  structure, with copies (always)", "  boxes and split values (contents)",
        "  permutation, data = tree_data (contents)", "  CRC-32 of every array (checksum)"]


def report(results: list, compile_seconds: dict, command: str, load_average: tuple) -> str:
    sizes = [f"{r['n']:.0e} x 3" for r in results]
    lines = [
        "# Save / load benchmark (kdforge.io)",
        "",
        f"Machine: {machine()}.  ",
        f"Command: `{command}`.  ",
        f"Load average (1 min) at start / end: {load_average[0]:.1f} / {load_average[1]:.1f} "
        "(other jobs share the machine; compare within a column).  ",
        "Uniform float64 points, leaf_size 16; median (and fastest) of interleaved repetitions",
        "(build: fewer; first queries: one run). kdforge builds with its default `workers=-1`",
        "(all cores); scipy's cKDTree builds on one thread.",
        "Files are read back from the page cache. *trusted* = `verify_checksum=False,",
        "verify_contents=False` (structural checks only); *checked* = the defaults. First query:",
        "10,000 kNN queries, k = 8, 1 thread.",
        "",
        "| operation | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for row in ROWS:
        cells = [_cell(r["times"][row]) if row in r["times"] else "" for r in results]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines.append("| file size | " + " | ".join(f"{r['file_mb']:.0f} MB" for r in results) + " |")
    lines += ["", "Ratios (how many times faster the load is):", ""]
    lines.append("| ratio | " + " | ".join(sizes) + " |")
    lines.append("|---|" + "---|" * len(sizes))
    for label, slow, fast in [
        ("rebuild / load mmap trusted", "build", "load mmap trusted"),
        ("rebuild / load mmap checked", "build", "load mmap checked"),
        ("rebuild / load memory checked", "build", "load memory checked"),
        ("scipy pickle round trip / load mmap trusted", "scipy pickle round trip", "load mmap trusted"),
        ("scipy pickle round trip / load mmap checked", "scipy pickle round trip", "load mmap checked"),
    ]:
        lines.append(f"| {label} | " + " | ".join(
            _ratio(_median(r, slow) / _median(r, fast)) for r in results) + " |")
    lines += ["", "First calls in a fresh process with an empty Numba cache (compilation; "
              "100,000 points):", "", "| first call | time |", "|---|---|"]
    lines += [f"| {label} | {_format(seconds)} |" for label, seconds in compile_seconds.items()]
    return "\n".join(lines) + "\n"


def _median(result: dict, name: str) -> float:
    return statistics.median(result["times"][name])


def _cell(samples: list) -> str:
    if len(samples) == 1:
        return _format(samples[0])
    return f"{_format(statistics.median(samples))} ({_format(min(samples))})"


def _ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"


def _format(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tmp", default="/tmp", help="directory for the tree files")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results_io.md"),
                        help="markdown file to write, '-' for none")
    args = parser.parse_args(argv)
    # compile every kernel timed below (big batches on big trees take a leaf-order path)
    warm = kdforge.KDTree(np.random.default_rng(0).random((100_000, 3)))
    warm_queries = np.random.default_rng(1).random((5000, 3))
    warm_path = os.path.join(args.tmp, "kdforge_bench_warm.kdt")
    warm.save(warm_path)
    warm.query(warm_queries, k=8)
    io.load(warm_path).query(warm_queries, k=8)
    io.load(warm_path, mmap=False)
    os.remove(warm_path)
    load_at_start = os.getloadavg()[0]
    results = []
    for size in args.sizes:
        result = bench_size(int(size), args.repeat, args.tmp)
        results.append(result)
        t = {name: _median(result, name) for name in result["times"]}
        print(f"n = {result['n']:.0e}: " + ", ".join(f"{k} {_format(v)}" for k, v in t.items()))
        print(f"  rebuild / mmap load: {_ratio(t['build'] / t['load mmap trusted'])} trusted, "
              f"{_ratio(t['build'] / t['load mmap checked'])} checked; scipy pickle round trip / "
              f"mmap load: {_ratio(t['scipy pickle round trip'] / t['load mmap trusted'])} trusted",
              flush=True)
    compile_seconds = compile_costs(args.tmp)
    print(compile_seconds)
    arguments = argv if argv is not None else sys.argv[1:]
    text = report(results, compile_seconds, " ".join(["python benchmarks/bench_io.py", *arguments]),
                  (load_at_start, os.getloadavg()[0]))
    if args.output != "-":
        with open(args.output, "w") as out:
            out.write(text)
    print(text)


if __name__ == "__main__":
    main()
