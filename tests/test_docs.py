"""The documentation site builds with warnings as errors, and its figures are current."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"

needs_sphinx = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("sphinx", "numpydoc", "myst_parser")),
    reason='sphinx, numpydoc and myst-parser are not installed (pip install ".[docs]")',
)


@needs_sphinx
def test_docs_build_without_warnings(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d",
         str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    html = tmp_path / "html"
    for page in ("getting-started", "guides/choosing", "guides/layout", "guides/file-format",
                 "guides/threads", "guides/compiling", "benchmarks", "api", "api/tree"):
        assert (html / f"{page}.html").exists(), page
    assert 'id="kdforge.tree.KDTree.query"' in (html / "api" / "tree.html").read_text()
    for optional in ("migrating", "dask"):  # guides written elsewhere: in the site when present
        assert (html / f"{optional}.html").exists() == (DOCS / f"{optional}.md").exists()


def test_benchmark_figures_are_drawn_from_results(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(DOCS))
    try:
        import make_figures
    finally:
        sys.path.remove(str(DOCS))
    monkeypatch.setattr(make_figures, "FIGURES", tmp_path)
    assert make_figures.main() == 0
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    assert drawn == sorted(p.name for p in (DOCS / "figures").glob("*.png")) and drawn
    text = make_figures.RESULTS.read_text()
    rows = make_figures.knn_rows(text)
    assert rows["uniform 3-D, k=1, 1 thread"]["kdforge"] > 0 and "scipy" in rows["uniform 3-D, k=1, 1 thread"]
    with pytest.raises(ValueError, match="no heading"):
        make_figures.markdown_table(text, "## no such section")


def test_getting_started_code_runs(tmp_path):
    import re

    text = (DOCS / "getting-started.md").read_text()
    script = "\n\n".join(re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M))
    assert "kdforge.KDTree" in script
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
