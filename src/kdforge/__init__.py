"""kdforge: fast, complete KD-trees for Python.

The main entry point is :class:`kdforge.KDTree`; see its docstring and :mod:`kdforge.tree`
for the array layout. :mod:`kdforge.brute` is the exact brute-force engine,
:mod:`kdforge.words` loads word vectors, :func:`kdforge.load` reads a saved tree and
:mod:`kdforge.plot` (optional, matplotlib) draws 2-D trees.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import brute, words
from .forest import KDForest
from .index import NeighborIndex
from .io import TreeFileError, load
from .nodes import NodeIdError
from .tree import DEFAULT_LEAF_SIZE, INDEX_INT32_LIMIT, KDTree, RadiusNeighbors

try:
    __version__ = _version("kdforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "KDTree",
    "KDForest",
    "NeighborIndex",
    "RadiusNeighbors",
    "NodeIdError",
    "TreeFileError",
    "load",
    "brute",
    "words",
    "DEFAULT_LEAF_SIZE",
    "INDEX_INT32_LIMIT",
    "__version__",
]
