"""Result types and their assembly: :class:`NeighborsCSR` and the one CSR builder.

Radius, box, exact-match and brute-force searches return many neighbours per query. Their
kernels append, chunk by chunk, one *segment* per query (a count, then the neighbours and
perhaps their distances) to flat buffers (:mod:`kdforge._kernels.results`). Here the
chunks become compressed sparse rows (CSR) in query order (:func:`join_segments`), rows are
sorted on threads when asked (:func:`sort_csr_rows`), and the CSR form is split into
per-query arrays only when a caller wants lists (:func:`split_rows`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._kernels.results import place_segments, segment_indptr, sort_rows
from ._parallel import run_chunked

__all__ = ["NeighborsCSR", "RadiusNeighbors", "ResultSizeError", "join_segments", "sort_csr_rows",
           "split_rows"]


class ResultSizeError(ValueError):
    """An answer with more neighbours than the caller's ``max_results`` allows.

    Raised as soon as the count passes the limit, before memory for the rest of the answer
    is taken. Attributes: ``limit`` and ``found`` (neighbours found when it was raised).
    """

    def __init__(self, limit: int, found: int, what: str):
        self.limit = limit
        self.found = found
        super().__init__(f"{what}: the answer has more than max_results={limit} neighbours (at "
                         f"least {found}); raise max_results, or take the answer in blocks "
                         "(KDTree.query_radius_chunks)")


class NeighborsCSR(NamedTuple):
    """Neighbours of many queries in compressed sparse row (CSR) form.

    The neighbours of query ``i`` are ``indices[indptr[i]:indptr[i + 1]]`` (and their distances
    the same slice of ``distances``). Three flat arrays, however many pairs: use this form when
    a radius or box query returns millions of neighbours.

    Attributes
    ----------
    indptr : int64 array of shape (m + 1,)
    indices : int64 array of shape (indptr[-1],)
    distances : array of shape (indptr[-1],) or None
        Present when distances were requested.
    """

    indptr: np.ndarray
    indices: np.ndarray
    distances: np.ndarray | None

    @property
    def counts(self) -> np.ndarray:
        """Number of neighbours of each query."""
        return np.diff(self.indptr)

    def to_lists(self):
        """Return the list-of-arrays form: object arrays of per-query index (and distance) arrays."""
        ind = split_rows(self.indices, self.indptr)
        if self.distances is None:
            return ind
        return ind, split_rows(self.distances, self.indptr)


#: The name this type had when only radius queries returned it; kept for compatibility.
RadiusNeighbors = NeighborsCSR


def join_segments(n_rows: int, counts: list, values: list, segment_rows: list | None = None):
    """CSR rows in query order from the segments of kernel chunks, freeing chunks as it goes.

    Parameters
    ----------
    n_rows : int
        Number of queries.
    counts : list of int64 arrays
        Per chunk, the length of each of its segments, in processing order.
    values : list of lists of arrays
        ``values[v][c]``: chunk ``c``'s concatenated segments of the ``v``-th value array
        (indices, then distances, ...). All value arrays are grouped alike. Each chunk's
        entry is set to None once it is copied: when the caller keeps no other reference,
        its memory is freed at once, so the answer is never held twice (a new array's pages
        are only taken as they are written).
    segment_rows : list of int64 arrays, optional
        Per chunk, the query of each segment. None: the chunks hold one segment per query,
        queries ``0 .. n_rows - 1`` in order.

    Returns
    -------
    indptr : int64 array of shape (n_rows + 1,)
    grouped : list of arrays
        Each value array with its rows in query order.
    """
    chunk_counts = [np.asarray(c, dtype=np.int64) for c in counts]
    if segment_rows is None:
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        if chunk_counts:
            np.cumsum(np.concatenate(chunk_counts), out=indptr[1:])
    else:
        rows = [np.asarray(r, dtype=np.int64) for r in segment_rows]
        indptr = segment_indptr(np.concatenate(rows) if rows else np.zeros(0, np.int64),
                                np.concatenate(chunk_counts) if chunk_counts else
                                np.zeros(0, np.int64), n_rows)
    grouped = []
    for parts in values:
        dtype = parts[0].dtype if parts else np.dtype(np.int64)
        out = np.empty(int(indptr[-1]), dtype=dtype)
        if segment_rows is None:
            position = 0
            for c in range(len(parts)):
                part = parts[c]
                out[position:position + part.shape[0]] = part
                position += part.shape[0]
                parts[c] = None
        else:
            fill = indptr[:-1].copy()
            for c in range(len(parts)):
                place_segments(rows[c], chunk_counts[c], parts[c], fill, out)
                parts[c] = None
        grouped.append(out)
    return indptr, grouped


def sort_csr_rows(indptr: np.ndarray, indices: np.ndarray, distances: np.ndarray | None,
                  workers: int) -> None:
    """Sort every CSR row in place, on ``workers`` threads.

    By increasing (distance, index) when ``distances`` is given (it moves along), else by
    increasing index.
    """
    by_distance = distances is not None
    dist = distances if by_distance else np.empty(0, dtype=np.float64)

    def task(start, stop):
        sort_rows(indptr, indices, dist, by_distance, start, stop)

    run_chunked(task, indptr.shape[0] - 1, workers)


def split_rows(values: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Object array of the per-row views ``values[indptr[i]:indptr[i + 1]]``."""
    out = np.empty(indptr.shape[0] - 1, dtype=object)
    bounds = indptr.tolist()  # Python ints slice faster than NumPy scalars (np.split: 3x slower)
    out[:] = [values[bounds[i]:bounds[i + 1]] for i in range(out.shape[0])]
    return out
