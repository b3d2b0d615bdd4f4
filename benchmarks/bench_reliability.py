"""Reliability figures: result memory per answer byte, and how fast Ctrl-C stops each call.

    python benchmarks/bench_reliability.py             # full run (a few minutes on 2 cores)
    python benchmarks/bench_reliability.py --quick     # small sizes, a smoke test

Sections (``--sections``, comma-separated):

``memory``
    Peak extra resident memory of one radius query per byte of its answer (int64 indices,
    plus distances when returned), for each output form (lists, CSR, CSR with distances,
    counts) and thread count, each in a fresh process whose high-water mark is reset just
    before the call. The answer is about 2 GB at full size (``--answer-gb``).
``interrupt``
    The latency from a real SIGINT to the ``KeyboardInterrupt`` in the calling thread, for
    every long call kind (build, kNN, radius, budgeted search, forest, brute force), with
    one and all threads, each in a fresh process; medians of ``--reps``.

Verified and trusted load times against a rebuild are measured by ``bench_io.py``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

ALL = max(1, os.cpu_count() or 1)
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

MEMORY_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[4])
import numpy as np, kdforge
form, workers, n_queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
tree = kdforge.KDTree(rng.random((1_000_000, 3)))
queries = rng.random((n_queries, 3))
r = 0.02  # about 33 neighbours per query
calls = {
    "lists": lambda q: tree.query_radius(q, r, workers=workers),
    "lists+dist": lambda q: tree.query_radius(q, r, return_distance=True, workers=workers),
    "csr": lambda q: tree.query_radius_csr(q, r, workers=workers),
    "csr+dist": lambda q: tree.query_radius_csr(q, r, return_distance=True, workers=workers),
    "counts": lambda q: tree.query_radius(q, r, count_only=True, workers=workers),
}
calls[form](queries[:3000])  # compile, spin up threads
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark
answer = calls[form](queries)
pairs = int(tree.query_radius(queries, r, count_only=True, workers=workers).sum())
print(status("VmHWM") - before, pairs)
"""

INTERRUPT_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np, kdforge
kind, workers = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
data = rng.random((200_000, 8))
tree = kdforge.KDTree(data)
queries = rng.random((4_000_000, 8))
big = rng.random((30_000_000, 3)) if kind == "build" else None
forest = kdforge.KDForest(data[:50_000], n_trees=4, random_state=0) if kind == "forest" else None
calls = {
    "build": lambda q: kdforge.KDTree(big if q is queries else big[:100_000], workers=workers),
    "knn": lambda q: tree.query(q, k=8, workers=workers),
    "radius": lambda q: tree.query_radius_csr(q, 0.15, workers=workers),
    "budgeted": lambda q: tree.query(q, k=8, max_leaves=64, workers=workers),
    "forest": lambda q: forest.query(q, k=8, max_leaves=256, workers=workers),
    "brute": lambda q: kdforge.brute.knn(data, q, k=8, p=3, workers=workers),
}
calls[kind](queries[:300])
print("ready", flush=True)
try:
    calls[kind](queries)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter():.6f}", flush=True)
    sys.exit(0)
print("finished", flush=True)
"""


def section_memory(n_queries: int) -> None:
    print("\n## Peak memory of a radius query per byte of its answer\n")
    print(f"1e6 uniform 3-D points, {n_queries:.0e} queries, r = 0.02; the answer counted as "
          "8 bytes per neighbour (int64 index) plus 4 or 8 per distance when returned; "
          "peak = extra resident memory at the high-water mark.\n")
    print("| output | workers | answer (MB) | peak extra (MB) | peak / answer |")
    print("|---|---|---|---|---|")
    for form in ("lists", "lists+dist", "csr", "csr+dist", "counts"):
        for workers in (1, ALL):
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, form, str(workers),
                                  str(n_queries), SRC], capture_output=True, text=True)
            if out.returncode:
                print(f"| {form} | {workers} | failed: {out.stderr.strip().splitlines()[-1]} | | |")
                continue
            peak, pairs = map(int, out.stdout.split())
            answer = pairs * (16 if "dist" in form else 8) if form != "counts" else n_queries * 8
            print(f"| {form} | {workers} | {answer / 1e6:.0f} | {peak / 1e6:.0f} | "
                  f"{peak / answer:.2f} |")


def interrupt_latency(kind: str, workers: int) -> float | None:
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_CHILD, kind, str(workers), SRC],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            return None
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    if not out.startswith("interrupted"):
        return None
    return float(out.split()[1]) - sent


def section_interrupt(reps: int) -> None:
    print("\n## Ctrl-C latency: SIGINT to KeyboardInterrupt\n")
    print(f"Fresh process per run, SIGINT 1 s into the call; medians of {reps} "
          "(target: < 0.5 s).\n")
    print("| call | workers=1 (s) | workers=all (s) |")
    print("|---|---|---|")
    for kind in ("build", "knn", "radius", "budgeted", "forest", "brute"):
        cells = []
        for workers in (1, ALL):
            runs = [interrupt_latency(kind, workers) for _ in range(reps)]
            good = [x for x in runs if x is not None]
            cells.append(f"{statistics.median(good):.3f}" if good else "did not stop")
        print(f"| {kind} | {cells[0]} | {cells[1]} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run")
    parser.add_argument("--sections", default="memory,interrupt")
    parser.add_argument("--answer-gb", type=float, default=2.0,
                        help="approximate size of the radius answer (int64 indices)")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    n_queries = int(args.answer_gb * 1e9 / 8 / 33)
    if args.quick:
        n_queries, args.reps = 20_000, 1
    print(f"python {sys.version.split()[0]}, {ALL} cores; `{' '.join(sys.argv)}`")
    if "memory" in sections:
        section_memory(n_queries)
    if "interrupt" in sections:
        section_interrupt(args.reps)


if __name__ == "__main__":
    main()
