"""Exact KD-tree search on a Dask cluster: :class:`DistributedKDTree` (extra ``dask``).

The points are split into shards by a small top tree whose split planes are quantiles of a
sample; every shard is one :class:`kdforge.KDTree`, built and kept on a Dask worker and saved
to a tree file so that a lost worker's shard is reloaded elsewhere. The client holds only
the top tree and the shards' bounding boxes. Queries go first to the nearest shard, then
only to the shards whose box is within the current k-th distance; answers equal those of
one tree over all the points, ties included. See ``docs/dask.md``.

Modules: ``_partition`` (top tree and shard assignment, NumPy only), ``_boxes`` (box
distances and routing), ``_shard`` (the tasks that run on the workers), ``_sources``
(dask arrays from npy, zarr and parquet files), ``_client`` (finding or reaching the
scheduler), ``_tree`` (:class:`DistributedKDTree`, which submits the tasks).
"""

from __future__ import annotations

_INSTALL_HINT = 'kdforge.dask needs dask[array] and distributed: pip install "kdforge[dask]"'

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"{_INSTALL_HINT} ({error})") from error

from ._partition import TopTree, build_top_tree
from ._sources import array_from_npy, array_from_parquet, array_from_zarr
from ._tree import DistributedKDTree, QueryStats

__all__ = ["DistributedKDTree", "QueryStats", "TopTree", "build_top_tree",
           "array_from_npy", "array_from_zarr", "array_from_parquet"]
