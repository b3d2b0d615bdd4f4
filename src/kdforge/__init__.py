"""kdforge: fast, complete KD-trees for Python.

The main entry point is :class:`kdforge.KDTree`; see its docstring and :mod:`kdforge.tree`
for the array layout.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .tree import DEFAULT_LEAF_SIZE, INDEX_INT32_LIMIT, KDTree, RadiusNeighbors

try:
    __version__ = _version("kdforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["KDTree", "RadiusNeighbors", "DEFAULT_LEAF_SIZE", "INDEX_INT32_LIMIT", "__version__"]
