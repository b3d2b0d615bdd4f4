"""Sphinx configuration of the kdforge documentation.

Pages are Markdown (MyST); the API pages under ``api/`` are reStructuredText, one
``automodule`` each (numpydoc renders the docstrings).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (``tests/test_docs.py`` does
this with warnings as errors). The benchmark figures are PNGs made by ``make_figures.py``
from ``benchmarks/RESULTS.md``, committed beside the pages.

Optional pages join the site only when they exist: the guides ``migrating.md`` and
``dask.md``, and the API pages of the modules in ``OPTIONAL_API`` only when those modules
import. The toctrees name them through the placeholder lines ``OPTIONAL_GUIDES`` and
``OPTIONAL_API``, which :func:`fill_optional` replaces as each page is read.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import kdforge  # noqa: E402

project = "kdforge"
author = "the kdforge developers"
copyright = "the kdforge developers"
version = release = kdforge.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
myst_enable_extensions = ["colon_fence", "dollarmath"]

# autodoc: members as the modules define them, in source order; type hints stay in signatures
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "signature"
autosummary_generate = False
# numpydoc: classes list their methods through autodoc, not through numpydoc's own tables
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"kdforge {release}"

#: Guides included when their page exists.
OPTIONAL_GUIDES = {"migrating": "Migrating from scipy and scikit-learn", "dask": "Dask"}
#: API pages (``api/<name>.rst``) included when their module imports.
OPTIONAL_API = {"scipy": "kdforge.scipy", "sklearn": "kdforge.sklearn", "dask": "kdforge.dask"}


def _imports(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


present_guides = [name for name in OPTIONAL_GUIDES if (HERE / f"{name}.md").exists()]
present_api = [name for name, module in OPTIONAL_API.items()
               if (HERE / "api" / f"{name}.rst").exists() and _imports(module)]
exclude_patterns += [f"api/{name}.rst" for name in OPTIONAL_API if name not in present_api]


def fill_optional(app, docname: str, source: list[str]) -> None:
    """Replace the placeholder lines of the toctrees by the optional pages present."""
    source[0] = source[0].replace("OPTIONAL_GUIDES\n", "".join(f"{name}\n" for name in present_guides))
    source[0] = source[0].replace("OPTIONAL_API\n", "".join(f"api/{name}\n" for name in present_api))


def setup(app):
    app.connect("source-read", fill_optional)
