"""kdforge: fast, complete KD-trees for Python.

The main entry point is :class:`kdforge.KDTree`; :mod:`kdforge.record` documents the
tree's arrays. :class:`kdforge.KDForest` is the approximate randomized forest,
:class:`kdforge.NeighborIndex` picks a tree or brute force, :mod:`kdforge.brute` is the
exact brute-force engine, :mod:`kdforge.words` searches word vectors (loaded by
:mod:`kdforge.vectors`), :func:`kdforge.load` reads a saved tree and :mod:`kdforge.plot`
(optional, matplotlib) draws 2-D trees.

Package layout: public modules (``tree``, ``record``, ``results``, ``nodes``, ``io``,
``forest``, ``index``, ``brute``, ``vectors``, ``words``, ``datasets``, ``plot``, ``demo``,
``cli``) over internal ones (``_search``: the queries' internal entry points; ``_build``:
the build schedule; ``_treefile``: the file format; ``_validation``: argument checks;
``_parallel``: the thread pool; ``_metric_names``; ``_kernels``: every Numba kernel).
"""

from . import brute, words
from ._compile import CompileWarning
from ._treefile import TreeFileError
from ._version import __version__
from .forest import KDForest
from .index import NeighborIndex
from .io import load
from .nodes import NodeIdError
from .record import DEFAULT_LEAF_SIZE, INDEX_INT32_LIMIT, TreeRecord
from .results import NeighborsCSR, RadiusNeighbors, ResultSizeError
from .tree import KDTree

__all__ = [
    "KDTree",
    "KDForest",
    "NeighborIndex",
    "TreeRecord",
    "NeighborsCSR",
    "RadiusNeighbors",
    "ResultSizeError",
    "NodeIdError",
    "TreeFileError",
    "CompileWarning",
    "load",
    "brute",
    "words",
    "DEFAULT_LEAF_SIZE",
    "INDEX_INT32_LIMIT",
    "__version__",
]
