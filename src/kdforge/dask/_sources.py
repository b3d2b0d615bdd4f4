"""Dask arrays of points from files: npy (memory-mapped), zarr and parquet columns.

Each chunk is read by the worker that needs it, so the client never holds the points:
npy chunks open the file as a memory map on the worker, zarr goes through
``dask.array.from_zarr`` and parquet is read one row group at a time with pyarrow.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["array_from_npy", "array_from_zarr", "array_from_parquet"]

#: Rows per chunk when a file does not say (about 24 MB of 3-D float64 points).
DEFAULT_CHUNK_ROWS = 1_000_000


def _read_npy_rows(path: str, start: int, stop: int) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def array_from_npy(path, chunk_rows: int = DEFAULT_CHUNK_ROWS):
    """A dask array over an ``.npy`` file of shape (n, d), read by row chunks via memmap.

    The path must be readable by every worker (a shared file system on a real cluster).
    """
    import dask
    import dask.array as da

    path = os.fspath(path)
    header = np.load(path, mmap_mode="r")
    if header.ndim != 2:
        raise ValueError(f"{path!r} holds a {header.ndim}-D array of shape {header.shape}; "
                         "points must be 2-D (n, d)")
    n, d = header.shape
    chunk_rows = max(1, int(chunk_rows))
    blocks = [da.from_delayed(dask.delayed(_read_npy_rows)(path, a, min(a + chunk_rows, n)),
                              shape=(min(a + chunk_rows, n) - a, d), dtype=header.dtype)
              for a in range(0, n, chunk_rows)]
    return da.concatenate(blocks, axis=0)


def array_from_zarr(path, component: str | None = None):
    """A dask array over a zarr array of shape (n, d) (``dask.array.from_zarr``)."""
    import dask.array as da

    arr = da.from_zarr(os.fspath(path), component=component)
    if arr.ndim != 2:
        raise ValueError(f"zarr array {path!r} has shape {arr.shape}; points must be 2-D (n, d)")
    return arr.rechunk({1: -1})


def _read_row_group(path: str, group: int, columns: list, dtype) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path).read_row_group(group, columns=columns)
    return np.column_stack([table.column(c).to_numpy() for c in columns]).astype(dtype, copy=False)


def array_from_parquet(path, columns, dtype=np.float64):
    """A dask array (n, len(columns)) from numeric parquet columns, one chunk per row group.

    Parameters
    ----------
    path : str or os.PathLike
        A parquet file readable by every worker.
    columns : sequence of str
        The coordinate columns, in order.
    dtype : float32 or float64, default float64
    """
    import dask
    import dask.array as da
    import pyarrow.parquet as pq

    path = os.fspath(path)
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("columns must name at least one parquet column")
    meta = pq.ParquetFile(path)
    missing = [c for c in columns if c not in meta.schema_arrow.names]
    if missing:
        raise ValueError(f"parquet file {path!r} has no column(s) {missing}; "
                         f"it has {meta.schema_arrow.names}")
    dtype = np.dtype(dtype)
    blocks = [da.from_delayed(dask.delayed(_read_row_group)(path, g, columns, dtype),
                              shape=(meta.metadata.row_group(g).num_rows, len(columns)), dtype=dtype)
              for g in range(meta.num_row_groups)]
    return da.concatenate(blocks, axis=0)
