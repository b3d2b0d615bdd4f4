"""Before/after benchmark: two source trees of kdforge in one interleaved run.

Compares the code of two checkouts (say, before and after a refactoring) through kdforge's
public API only, so any two versions with the same API can be compared:

    python benchmarks/bench_compare.py --before /work/before --after /work/main   # ~20 min, 2 cores
    python benchmarks/bench_compare.py --before A --after B --sections query --reps 3
    python benchmarks/bench_compare.py --before A --after B --quick              # smoke test

Protocol
--------
Three contenders: ``before``, ``after`` and ``after again``, the after tree a second time,
an A/A control whose ratio to ``after`` shows the noise of the machine. Every timing comes
from a child process running this script with ``<tree>/src`` first on ``sys.path`` (the child
checks that ``kdforge.__file__`` lies in that tree and aborts otherwise, so an installed
kdforge cannot shadow it). Each tree has its own Numba cache (``NUMBA_CACHE_DIR``) and
bytecode cache (``PYTHONPYCACHEPREFIX``) in a temporary directory kept for the run, so the
source trees are never written to and kernels compile once per tree: a first child per tree
checks the import, the compile section (run first) fills the tree's cache with its first
cold run, and a priming child per tree loads or compiles the rest before any timing.

Repetitions are interleaved: rep 1 runs before, after, after again, rep 2 the same, and so
on; each run of each contender is a fresh process that builds the data (seeded, the same for
every contender), loads the kernels on small inputs, then for each workload makes one untimed
call at full size (except the heavy ones: the 1e7-point builds and the 8-D kNN with k > 1,
whose kernels and data a cheaper workload has warmed) and one timed call, and prints its
timings as JSON lines. The tables give the median over repetitions; ratios are speed ratios:
``after/before`` = before time / after time (> 1: after is faster) and ``A/A`` = after time
/ after-again time (the same code against itself: its distance from 1 is the noise floor).

Sections (``--sections``, comma-separated):

``query``
    As ``bench_core.py``: kNN k = 1, 8, 16 with 1 thread and all on 1e6 x 3 uniform, 1e6 x 3
    clustered (50 Gaussian blobs, sigma 0.01) and 1e6 x 8 uniform, 1e5 queries drawn like the
    data (2e4 for the 8-D kNN with k = 8 and 16, which cost ~80 us a query); radius queries
    with ~10 neighbours on uniform 3-D as lists, CSR and counts; plus a budgeted search
    (``max_leaves=64``, 1e5 x 16, 2e4 queries), ``brute.knn`` (1e5 x 16, 1e3 queries),
    ``query_box`` (1e4 boxes holding ~10 points each), ``find_leaf`` (1e5 queries) and a 4-tree
    ``KDForest`` query (``max_leaves=128``) on GloVe-like random 2e5 x 32 float32 vectors,
    1e3 queries. Trees and forest are built untimed.
``build``
    As ``bench_build.py``'s peers section: KDTree build of 1e6 x 3 uniform (both split rules,
    1 thread and all), 1e7 x 3 uniform (all threads and 1), 1e6 x 3 clustered (100 blobs) and
    1e6 x 8 uniform.
``compile``
    Cold-cache compile time: per contender a fresh process with an empty Numba cache times
    ``import kdforge`` and the first KDTree (1e5 x 3), kNN, radius query, budgeted query,
    box query and ``brute.knn``, in float64 then float32; then a second process on the now
    warm cache times the same (warm start). Interleaved like the others, at most 3 reps;
    about 2 minutes per cold process on 2 cores, so this section is most of a full run.

``--quick`` shrinks every size 20x and runs one repetition. A contender whose child fails
is reported with the tail of its stderr and skipped for the rest of that section; a failing
workload shows its error under the table.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

SECTIONS = ("query", "build", "compile")
CONTENDERS = ("before", "after", "after again")
QUICK_SCALE = 0.05
#: Size of the small inputs every child runs first, relative to full size.
SMALL_SCALE = 0.002
COMPILE_MAX_REPS = 3
#: Queries of the 8-D kNN with k = 8 and 16 (~80 us each at 1e6 points, 1 thread).
HEAVY_8D_QUERIES = 20_000
CHILD_TIMEOUT_S = 1800
STDERR_TAIL_LINES = 15


# ---------------------------------------------------------------------- data
def sized(count: int, scale: float) -> int:
    return max(16, round(count * scale))


def count_label(n: int) -> str:
    """1000000 -> '1e6', 50000 -> '5e4'."""
    mantissa, exponent = f"{n:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def threads_label(workers: int) -> str:
    return "1 thread" if workers == 1 else f"{os.cpu_count()} threads"


def make_datasets(n: int, rng: np.random.Generator) -> dict:
    """bench_core.make_datasets without GeoNames."""
    data = {"uniform 3-D": rng.random((n, 3))}
    centers = rng.random((50, 3))
    labels = rng.integers(0, 50, size=n)
    data["clustered 3-D"] = centers[labels] + 0.01 * rng.standard_normal((n, 3))
    data["uniform 8-D"] = rng.random((n, 8))
    return data


def queries_for(data: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """bench_core.queries_for: data points jittered by 1e-3 of the spread."""
    base = data[rng.integers(0, data.shape[0], size=m)]
    scale = 1e-3 * (data.max(axis=0) - data.min(axis=0))
    return base + scale * rng.standard_normal(base.shape)


def make_build_data(kind: str, n: int, d: int) -> np.ndarray:
    """bench_build.make_data for the uniform and clustered kinds (seed 0)."""
    rng = np.random.default_rng(0)
    if kind == "uniform":
        return rng.random((n, d))
    centres = rng.random((100, d))
    return centres[rng.integers(0, 100, n)] + rng.normal(scale=0.01, size=(n, d))


# ---------------------------------------------------------------------- workloads (child side)
class Workload(NamedTuple):
    name: str
    #: Builds what the workload needs (untimed) and returns the call to time.
    prepare: Callable[[], Callable[[], object]]
    #: Heavy workloads (seconds per call) skip the untimed call at full size that precedes
    #: every other timed call; a cheaper workload on the same kernels and data warms them.
    heavy: bool = False


def call(target: Callable[[], object], method: str, *args, **kwargs):
    """A ``prepare``: ``target()`` gives the object; ``object.method(*args, **kwargs)`` is timed."""
    def prepare():
        bound = getattr(target(), method)
        return lambda: bound(*args, **kwargs)
    return prepare


def query_workloads(kdforge, scale: float) -> list[Workload]:
    n, m = sized(1_000_000, scale), sized(100_000, scale)
    datasets = make_datasets(n, np.random.default_rng(0))
    qrng = np.random.default_rng(1)
    queries = {name: queries_for(data, m, qrng) for name, data in datasets.items()}
    tree = functools.cache(lambda name: kdforge.KDTree(datasets[name]))
    m_8d = sized(HEAVY_8D_QUERIES, scale)
    work = []
    for name in datasets:
        for k in (1, 8, 16):
            heavy = name == "uniform 8-D" and k > 1
            q = queries[name][:m_8d] if heavy else queries[name]
            for workers in (1, -1):
                work.append(Workload(
                    f"{name}, kNN k={k}, {threads_label(workers)}"
                    + (f", {count_label(m_8d)} queries" if heavy else ""),
                    call(functools.partial(tree, name), "query", q, k=k, workers=workers),
                    heavy))

    uniform = functools.partial(tree, "uniform 3-D")
    rng = np.random.default_rng(2)
    radius_queries = rng.random((m, 3))
    r = (10 / (n * 4 / 3 * np.pi)) ** (1 / 3)
    for workers in (1, -1):
        threads = threads_label(workers)
        work += [
            Workload(f"radius lists, {threads}",
                     call(uniform, "query_radius", radius_queries, r, workers=workers)),
            Workload(f"radius CSR, {threads}",
                     call(uniform, "query_radius_csr", radius_queries, r, workers=workers)),
            Workload(f"radius counts, {threads}",
                     call(uniform, "query_radius", radius_queries, r, count_only=True,
                          workers=workers)),
        ]

    n16, m16, m_brute = sized(100_000, scale), sized(20_000, scale), sized(1_000, scale)
    data16 = rng.random((n16, 16))
    queries16 = queries_for(data16, m16, rng)
    work += [
        Workload(f"budgeted kNN k=10 max_leaves=64, {count_label(n16)} x 16, "
                 f"{count_label(m16)} queries",
                 call(lambda: kdforge.KDTree(data16), "query", queries16, k=10, max_leaves=64)),
        Workload(f"brute.knn k=10, {count_label(n16)} x 16, {count_label(m_brute)} queries",
                 call(lambda: kdforge.brute, "knn", data16, queries16[:m_brute], k=10)),
    ]

    n_boxes = sized(10_000, scale)
    half = 0.5 * (10 / n) ** (1 / 3)  # a cube holding ~10 uniform points
    centres = rng.random((n_boxes, 3))
    leaf_queries = rng.random((m, 3))
    work += [
        Workload(f"query_box, {count_label(n_boxes)} boxes of ~10 points",
                 call(uniform, "query_box", centres - half, centres + half)),
        Workload(f"find_leaf, {count_label(m)} queries", call(uniform, "find_leaf", leaf_queries)),
    ]

    n_words, m_words = sized(200_000, scale), sized(1_000, scale)
    words = rng.standard_normal((n_words + m_words, 32)).astype(np.float32)
    work.append(Workload(
        f"KDForest 4 trees, k=10 max_leaves=128, {count_label(n_words)} x 32 float32, "
        f"{count_label(m_words)} queries",
        call(lambda: kdforge.KDForest(words[:n_words], n_trees=4, random_state=0), "query",
             words[n_words:], k=10, max_leaves=128)))
    return work


def build_workloads(kdforge, scale: float) -> list[Workload]:
    def build(kind, n, d, split="max_spread", workers=-1, heavy=False):
        data = make_build_data(kind, n, d)
        name = f"{count_label(n)} x {d} {kind}, {split}, {threads_label(workers)}"
        return Workload(name, call(lambda: kdforge, "KDTree", data, split=split, workers=workers),
                        heavy)

    n, n_large = sized(1_000_000, scale), sized(10_000_000, scale)
    work = [build("uniform", n, 3, split, workers)
            for split in ("max_spread", "round_robin") for workers in (1, -1)]
    work += [build("uniform", n_large, 3, workers=workers, heavy=True) for workers in (-1, 1)]
    work += [build("clustered", n, 3), build("uniform", n, 8)]
    return work


WORKLOADS = {"query": query_workloads, "build": build_workloads}


# ---------------------------------------------------------------------- child process
def emit(name: str, seconds: float | None = None, error: str | None = None) -> None:
    record = {"name": name, "seconds": seconds} if error is None else {"name": name, "error": error}
    print(json.dumps(record), flush=True)


def report_error(name: str, exc: Exception) -> None:
    traceback.print_exc()
    emit(name, error=f"{type(exc).__name__}: {exc}")


def measure(name: str, fn: Callable[[], object]):
    """Time one call of ``fn`` and emit it (or its error); return its result (None on error)."""
    try:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    except Exception as exc:
        report_error(name, exc)
        return None
    emit(name, seconds)
    return result


def run_small(kdforge, sections: list[str]) -> None:
    """Every workload of ``sections`` once on small inputs: load (or compile) the kernels.

    Errors are left to the timed calls to report.
    """
    for section in sections:
        for workload in WORKLOADS[section](kdforge, SMALL_SCALE):
            try:
                workload.prepare()()
            except Exception:
                traceback.print_exc()


def time_section(kdforge, section: str, scale: float) -> None:
    run_small(kdforge, [section])
    for workload in WORKLOADS[section](kdforge, scale):
        try:
            fn = workload.prepare()
            if not workload.heavy or scale <= QUICK_SCALE:
                fn()
        except Exception as exc:
            report_error(workload.name, exc)
            continue
        measure(workload.name, fn)


def time_first_calls(kdforge, scale: float) -> None:
    """The compile section's steps, each the first call of its kind in this process."""
    n = sized(100_000, scale)
    rng = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        data = rng.random((n, 3)).astype(dtype)
        queries = data[:100]
        tree = measure(f"{dtype}: first KDTree ({count_label(n)} x 3)",
                       lambda: kdforge.KDTree(data))
        if tree is not None:
            measure(f"{dtype}: first kNN", lambda: tree.query(queries, k=4))
            measure(f"{dtype}: first query_radius", lambda: tree.query_radius(queries, 0.05))
            measure(f"{dtype}: first query(max_leaves=8)",
                    lambda: tree.query(queries, k=4, max_leaves=8))
            measure(f"{dtype}: first query_box",
                    lambda: tree.query_box(queries - 0.05, queries + 0.05))
        measure(f"{dtype}: first brute.knn", lambda: kdforge.brute.knn(data, queries, k=4))


def child_main(mode: str, src: str, scale: float, sections: list[str]) -> None:
    sys.path.insert(0, src)
    start = time.perf_counter()
    import kdforge
    import_seconds = time.perf_counter() - start
    origin = os.path.realpath(kdforge.__file__)
    if not origin.startswith(os.path.realpath(src) + os.sep):
        sys.exit(f"kdforge was imported from {origin}, not from {src}: aborting")
    if mode == "prime":
        run_small(kdforge, sections)
    elif mode == "compile":
        emit("import kdforge", import_seconds)
        time_first_calls(kdforge, scale)
    else:
        time_section(kdforge, mode, scale)


# ---------------------------------------------------------------------- parent process
class Contender(NamedTuple):
    label: str
    src: str
    numba_cache: str
    pycache: str


class ChildResult(NamedTuple):
    seconds: dict
    errors: dict
    failure: str | None
    wall: float


def run_child(contender: Contender, mode: str, scale: float, sections: list[str], cwd: str,
              numba_cache: str | None = None) -> ChildResult:
    pythonpath = os.pathsep.join(filter(None, [contender.src, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=pythonpath,
               NUMBA_CACHE_DIR=numba_cache or contender.numba_cache,
               PYTHONPYCACHEPREFIX=contender.pycache)
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--src", contender.src,
               "--scale", repr(scale), "--sections", ",".join(sections)]
    start = time.perf_counter()
    try:
        out = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                             timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr or b""  # bytes even with text=True
        stderr = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        return ChildResult({}, {}, f"timed out after {CHILD_TIMEOUT_S} s\n{tail(stderr)}",
                           time.perf_counter() - start)
    wall = time.perf_counter() - start
    seconds, errors = {}, {}
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "error" in record:
            errors[record["name"]] = record["error"]
        else:
            seconds[record["name"]] = record["seconds"]
    failure = f"exit status {out.returncode}\n{tail(out.stderr)}" if out.returncode else None
    return ChildResult(seconds, errors, failure, wall)


def tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-STDERR_TAIL_LINES:])


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe_tree(tree: Path) -> str:
    git = ["git", "-C", str(tree)]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode:
        return f"`{tree}`"
    dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"`{tree}` at {head.stdout.strip()}" + (" + uncommitted changes" if dirty else "")


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def format_ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or den is None else f"{num / den:.3f}"


class Section:
    """Timings of one section: ``times[workload][contender]`` lists seconds, one per rep."""

    def __init__(self, name: str, reps: int):
        self.name = name
        self.reps = reps
        self.times: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[tuple[str, str], str] = {}
        self.failures: dict[str, str] = {}

    def add(self, contender: str, result: ChildResult, prefix: str = "") -> None:
        for name, seconds in result.seconds.items():
            self.times.setdefault(prefix + name, {}).setdefault(contender, []).append(seconds)
        for name, error in result.errors.items():
            self.times.setdefault(prefix + name, {})
            self.errors.setdefault((prefix + name, contender), error)

    def median(self, workload: str, contender: str) -> float | None:
        values = self.times[workload].get(contender)
        return statistics.median(values) if values else None

    def ratios(self) -> list[tuple[str, float | None, float | None]]:
        """(workload, after/before, A/A) speed ratios of the medians."""
        rows = []
        for workload in self.times:
            before, after, again = (self.median(workload, c) for c in CONTENDERS)
            rows.append((workload,
                         before / after if before and after else None,
                         after / again if after and again else None))
        return rows

    def print_table(self) -> None:
        print(f"\n## {self.name}\n")
        print(f"Medians of {self.reps} interleaved run(s) per contender, each a fresh process. "
              "after/before = before time / after time (> 1: after faster); "
              "A/A = after time / after-again time.\n")
        print("| workload | before (median) | after (median) | after again | after/before | A/A |")
        print("|---|---|---|---|---|---|")
        for workload in self.times:
            before, after, again = (self.median(workload, c) for c in CONTENDERS)
            print(f"| {workload} | {format_seconds(before)} | {format_seconds(after)} | "
                  f"{format_seconds(again)} | {format_ratio(before, after)} | "
                  f"{format_ratio(after, again)} |")
        for (workload, contender), error in self.errors.items():
            print(f"\n{contender} failed on {workload!r}: `{error}`")
        for contender, failure in self.failures.items():
            print(f"\n{contender} failed:\n\n```\n{failure}\n```")
        sys.stdout.flush()


def run_section(name: str, contenders: list[Contender], reps: int, scale: float, tmp: str,
                skip: set[str]) -> Section:
    section = Section(name, reps)
    for rep in range(reps):
        for contender in contenders:
            if contender.label in skip or contender.label in section.failures:
                continue
            if name == "compile":
                # A tree's own cache is still empty at its first cold run: that run fills it
                # for the other sections. Every other cold run gets a new empty cache.
                own_empty = not os.listdir(contender.numba_cache)
                cold_cache = (contender.numba_cache if own_empty
                              else tempfile.mkdtemp(prefix="numba-cold-", dir=tmp))
                runs = [("cold: ", cold_cache), ("warm: ", cold_cache)]
            else:
                runs = [("", None)]
            wall = 0.0
            errors = 0
            for prefix, numba_cache in runs:
                result = run_child(contender, name, scale, [], tmp, numba_cache)
                section.add(contender.label, result, prefix)
                wall += result.wall
                errors += len(result.errors)
                if result.failure:
                    section.failures[contender.label] = result.failure
                    progress(f"[{name} {rep + 1}/{reps}] {contender.label} FAILED, skipped for "
                             f"the rest of {name}:\n{result.failure}")
                    break
            else:
                progress(f"[{name} {rep + 1}/{reps}] {contender.label}: {wall:.1f} s"
                         + (f", {errors} workload error(s)" if errors else ""))
    return section


def prime(contenders: list[Contender], sections: list[str], scale: float, tmp: str,
          skip: set[str]) -> None:
    """One child per tree running the small inputs of ``sections``; a failing tree is skipped."""
    for src in dict.fromkeys(c.src for c in contenders):
        sharing = [c for c in contenders if c.src == src and c.label not in skip]
        if not sharing:
            continue
        labels = ", ".join(c.label for c in sharing)
        progress(f"priming {src} ({labels}) for {','.join(sections) or 'import'}")
        result = run_child(sharing[0], "prime", scale, sections, tmp)
        if result.failure:
            progress(f"{src} FAILED to prime, skipping {labels}:\n{result.failure}")
            print(f"\n{src} failed to prime; {labels} skipped:\n\n```\n{result.failure}\n```")
            skip.update(c.label for c in sharing)
        else:
            progress(f"primed {src} in {result.wall:.1f} s")


def print_summary(sections: list[Section]) -> None:
    rows = [(section.name, workload, speed, aa)
            for section in sections for workload, speed, aa in section.ratios()]
    speeds = [(speed, f"{name}: {workload}") for name, workload, speed, _ in rows if speed]
    controls = [aa for *_, aa in rows if aa]
    print()
    if not speeds or not controls:
        print("Summary: no workload has timings for every contender.")
        return
    slowest, where = min(speeds)
    print(f"Smallest after/before ratio: {slowest:.3f} ({where}); A/A spread: "
          f"{min(controls):.3f} to {max(controls):.3f} over {len(controls)} workloads.")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path,
                        help="source tree before the change (holds src/kdforge)")
    parser.add_argument("--after", type=Path, help="source tree after the change")
    parser.add_argument("--reps", type=int, default=None,
                        help=f"interleaved repetitions (default 5, quick 1; compile at most "
                             f"{COMPILE_MAX_REPS})")
    parser.add_argument("--quick", action="store_true", help="sizes / 20 and one repetition")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--child", choices=("prime",) + SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--src", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    if args.child:
        child_main(args.child, args.src, args.scale, sections)
        return
    if args.before is None or args.after is None:
        parser.error("--before and --after are required")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for label, tree in trees.items():
        if not (tree / "src" / "kdforge" / "__init__.py").is_file():
            parser.error(f"--{label} {tree}: no src/kdforge/__init__.py")
    reps = args.reps or (1 if args.quick else 5)
    scale = QUICK_SCALE if args.quick else 1.0

    print("# kdforge before/after comparison\n")
    print(f"`{shlex.join(['python'] + sys.argv)}`\n")
    print(f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} cores; "
          f"scale {scale:g}, {reps} rep(s)\n")
    print(f"- before: {describe_tree(trees['before'])}\n- after: {describe_tree(trees['after'])}\n")
    print(f"Load at start: `{load_average()}`", flush=True)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as tmp:
        caches = {}
        for tree in dict.fromkeys(trees.values()):
            caches[tree] = (tempfile.mkdtemp(prefix="numba-", dir=tmp),
                            tempfile.mkdtemp(prefix="pycache-", dir=tmp))
        contenders = [Contender(label, str(trees[tree_label] / "src"), *caches[trees[tree_label]])
                      for label, tree_label in zip(CONTENDERS, ("before", "after", "after"))]
        skip = set()
        prime(contenders, [], scale, tmp, skip)  # check the import, fill the bytecode caches
        done = []
        if "compile" in sections:
            done.append(run_section("compile", contenders, min(reps, COMPILE_MAX_REPS), scale,
                                    tmp, skip))
            done[-1].print_table()
        timed_sections = [s for s in sections if s != "compile"]
        if timed_sections:
            prime(contenders, timed_sections, scale, tmp, skip)
        for name in timed_sections:
            done.append(run_section(name, contenders, reps, scale, tmp, skip))
            done[-1].print_table()
    print_summary(done)
    print(f"\nLoad at end: `{load_average()}`; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
