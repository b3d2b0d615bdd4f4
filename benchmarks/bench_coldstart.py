"""Cold start: what the first calls of a fresh process cost, with an empty and a warm Numba cache.

Each run is a fresh Python process that times ``import kdforge``, the first
``KDTree(n x 3)``, the first kNN query and the first radius query, then the same three
calls again (warm, in the same process: the work itself). The difference between a first
and a second call is what compiling (empty cache) or loading the compiled kernels (warm
cache) costs beyond the work.

Three contenders alternate, run after run (A B C A B C ...), medians over ``--reps``:

- ``cold``: ``NUMBA_CACHE_DIR`` set to a folder emptied before every run, so every kernel
  compiles, as in a fresh environment;
- ``warm`` and ``warm (A/A)``: the same folder, filled once before the runs; the second is
  the same contender again, to show the noise.

Targets (issue 15, 2 cores): cold ``import + first build + first kNN + first radius``
<= 6 s in total; warm, <= 0.3 s beyond the work itself.

Usage::

    python benchmarks/bench_coldstart.py            # 1e6 x 3 points, 1e5 queries, 3 runs
    python benchmarks/bench_coldstart.py --quick    # tiny sizes, 1 run: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

CHILD = r"""
import json, sys, time
n, m = int(sys.argv[1]), int(sys.argv[2])
t = {}
start = time.perf_counter()
import numpy as np
import kdforge
t["import"] = time.perf_counter() - start
rng = np.random.default_rng(0)
points = rng.random((n, 3))
queries = rng.random((m, 3))
r = (10 / (n * 4.19)) ** (1 / 3)   # about 10 neighbours per query
for rep in ("first", "again"):
    start = time.perf_counter(); tree = kdforge.KDTree(points); t[f"build {rep}"] = time.perf_counter() - start
    start = time.perf_counter(); tree.query(queries, k=8); t[f"kNN {rep}"] = time.perf_counter() - start
    start = time.perf_counter(); tree.query_radius_csr(queries, r); t[f"radius {rep}"] = time.perf_counter() - start
print(json.dumps(t))
"""

STEPS = ("import", "build", "kNN", "radius")


def run_child(n: int, m: int, cache: Path) -> dict[str, float]:
    """Run one fresh process with ``NUMBA_CACHE_DIR=cache``; its timings and its wall time."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(n), str(m)], env=env, capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"child process failed:\n{done.stderr}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    timings["process"] = wall
    return timings


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Medians of the first calls, of the work (second calls) and of the totals."""
    med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    out = {"import": med["import"]}
    for step in STEPS[1:]:
        out[f"first {step}"] = med[f"{step} first"]
        out[f"{step} work"] = med[f"{step} again"]
    out["first calls, total"] = statistics.median(
        run["import"] + sum(run[f"{s} first"] for s in STEPS[1:]) for run in runs)
    out["beyond the work"] = statistics.median(
        run["import"] + sum(run[f"{s} first"] - run[f"{s} again"] for s in STEPS[1:]) for run in runs)
    out["whole process"] = med["process"]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="points (default 1e6)")
    parser.add_argument("--m", type=int, default=100_000, help="queries (default 1e5)")
    parser.add_argument("--reps", type=int, default=3, help="runs of each contender (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one run: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.m, args.reps = 20_000, 2_000, 1

    contenders = ("cold", "warm", "warm (A/A)")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory(prefix="kdforge-coldstart-") as folder:
        cold_cache, warm_cache = Path(folder) / "cold", Path(folder) / "warm"
        warm_cache.mkdir()
        run_child(args.n, args.m, warm_cache)  # fills the warm cache
        for rep in range(args.reps):
            for name in contenders:
                if name == "cold":
                    shutil.rmtree(cold_cache, ignore_errors=True)
                    cold_cache.mkdir()
                runs[name].append(run_child(args.n, args.m, cold_cache if name == "cold" else warm_cache))
            print(f"run {rep + 1}/{args.reps} done", file=sys.stderr)

    table = {name: summary(results) for name, results in runs.items()}
    print(f"Cold start, {args.n:,} x 3 points, {args.m:,} queries (kNN k=8, radius ~10 neighbours), "
          f"fresh processes, medians of {args.reps} (seconds)\n")
    print("| | " + " | ".join(contenders) + " |")
    print("|---|" + "---:|" * len(contenders))
    for row in table["cold"]:
        print(f"| {row} | " + " | ".join(f"{table[name][row]:.3f}" for name in contenders) + " |")
    cold_total, warm_extra = table["cold"]["first calls, total"], table["warm"]["beyond the work"]
    print(f"\nTargets: cold first calls <= 6 s: {cold_total:.2f} s, "
          f"{'met' if cold_total <= 6 else 'not met'}; warm <= 0.3 s beyond the work: "
          f"{warm_extra:.2f} s, {'met' if warm_extra <= 0.3 else 'not met'} "
          f"(A/A control: {table['warm (A/A)']['beyond the work']:.2f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
