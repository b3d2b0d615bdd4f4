"""Draw the benchmark figures of the documentation from ``benchmarks/RESULTS.md``.

Run ``python docs/make_figures.py`` after updating RESULTS.md; it rewrites the PNGs under
``docs/figures/`` (committed, so that building the docs needs no benchmark run):

- ``knn_throughput.png``: kNN throughput of kdforge, scipy, scikit-learn and pykdtree
  (1e6 points, 1e5 queries; the "== kNN" block of "Queries and build");
- ``build_time.png``: build times of every builder (the "Parallel build" tables);
- ``approximate.png``: throughput at recall@10 = 0.9 on GloVe as a multiple of exact
  brute force (the "Approximate search and GloVe" table).

Every figure is read from the tables as they are; a table that cannot be found is an
error, never an empty figure.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "benchmarks" / "RESULTS.md"
FIGURES = HERE / "figures"


def knn_rows(text: str) -> dict[str, dict[str, float]]:
    """``case -> {library: thousand queries/s}`` from the "== kNN" block."""
    block = re.search(r"^== kNN.*?\n(.*?)(?:\n\s*\n|\n==)", text, flags=re.S | re.M)
    if block is None:
        raise ValueError(f"no '== kNN' block in {RESULTS}")
    rows = {}
    for line in block.group(1).splitlines():
        case = line[:37].strip()
        found = re.findall(r"(\w[\w-]*)\s+([\d.]+) kq/s", line)
        if case and found:
            rows[case] = {library: float(value) for library, value in found}
    if not rows:
        raise ValueError("the '== kNN' block has no rows")
    return rows


def markdown_table(text: str, heading: str) -> list[list[str]]:
    """The rows (cells as text) of the first table after the heading line ``heading``."""
    start = text.find(heading)
    if start < 0:
        raise ValueError(f"no heading {heading!r} in {RESULTS}")
    lines = text[start:].splitlines()[1:]
    table = []
    for line in lines:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    if len(table) < 3:
        raise ValueError(f"no table under {heading!r}")
    return table[2:]  # without the header and the |---| line


def plot_knn(plt, rows) -> None:
    cases = [case for case in rows if ", 1 thread" in case]
    libraries = ["kdforge", "scipy", "sklearn"]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.8 / len(libraries)
    for j, library in enumerate(libraries):
        values = [rows[case].get(library, 0.0) for case in cases]
        ax.barh([i + j * width for i in range(len(cases))], values, height=width, label=library)
    ax.set_yticks([i + width for i in range(len(cases))])
    ax.set_yticklabels([case.replace(", 1 thread", "") for case in cases])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("thousand queries per second, 1 thread (log scale; higher is better)")
    ax.set_title("kNN, 1e6 points, 1e5 queries (benchmarks/bench_core.py)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(FIGURES / "knn_throughput.png", dpi=110)
    plt.close(fig)


def plot_build(plt, text: str) -> None:
    headings = re.findall(r"^(### \S+ x \d+ \w+ float64).*$", text, flags=re.M)
    if not headings:
        raise ValueError("no build tables ('### 1e+06 x 3 uniform float64 ...')")
    fig, axes = plt.subplots(1, len(headings), figsize=(4.2 * len(headings), 4.8), sharey=True)
    axes = [axes] if len(headings) == 1 else list(axes)
    for ax, heading in zip(axes, headings):
        table = markdown_table(text, heading)
        names = [row[0] for row in table]
        seconds = [float(row[1].rstrip("*")) for row in table]
        colours = ["tab:blue" if name.startswith("kdforge") else "tab:gray" for name in names]
        ax.barh(range(len(names)), seconds, color=colours)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.set_title(heading.removeprefix("### ").replace(" float64", ""))
        ax.set_xlabel("seconds (lower is better)")
    fig.suptitle("Build time, 2 cores (benchmarks/bench_build.py)")
    fig.tight_layout()
    fig.savefig(FIGURES / "build_time.png", dpi=110)
    plt.close(fig)


def plot_approximate(plt, text: str) -> None:
    table = markdown_table(text, "## Approximate search and GloVe")
    names, values = [], []
    for method, ratio in table:
        names.append(method.replace("`", ""))
        values.append(float(ratio.split("/")[0]))
    colours = ["tab:blue" if name.startswith("kdforge") else "tab:gray" for name in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(range(len(names)), values, color=colours)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("throughput at recall@10 = 0.9, x exact brute force (log scale)")
    ax.set_title("GloVe 6B 50-d, cosine, k = 10 (benchmarks/bench_glove.py)")
    fig.tight_layout()
    fig.savefig(FIGURES / "approximate.png", dpi=110)
    plt.close(fig)


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    text = RESULTS.read_text()
    FIGURES.mkdir(exist_ok=True)
    plot_knn(plt, knn_rows(text))
    plot_build(plt, text)
    plot_approximate(plt, text)
    print(f"figures written to {FIGURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
