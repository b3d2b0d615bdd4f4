"""Result assembly: heaps into result rows, growable buffers, the one CSR builder and sorter.

Radius, box, exact-match and brute-force searches produce *segments*: for each query a run
of neighbours, appended to flat buffers chunk by chunk, possibly in an order other than
the queries' (leaf order, blocks of data points). :func:`segment_indptr` and
:func:`place_segments` turn segments in processing order into CSR rows in query order, one
chunk at a time; :func:`sort_rows` sorts rows. The Python
side of this assembly is :mod:`kdforge.results`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .distance import from_reduced
from .heaps import heap_sort_ascending


@njit(cache=True, nogil=True, inline="always")
def write_result_row(heap_dist, heap_idx, sort_results, metric, p, dist_row, idx_row):
    """Write a query's heap as a result row: true distances, -1/inf where the heap is short."""
    if sort_results:
        heap_sort_ascending(heap_dist, heap_idx)
    for j in range(heap_dist.shape[0]):
        if heap_idx[j] < 0:
            dist_row[j] = np.inf
            idx_row[j] = -1
        else:
            dist_row[j] = from_reduced(heap_dist[j], metric, p)
            idx_row[j] = heap_idx[j]


@njit(cache=True, nogil=True)
def grow(buffer, needed):
    """Return ``buffer``, or a copy of it at least twice as long when it holds fewer than
    ``needed`` entries."""
    size = buffer.shape[0]
    if needed <= size:
        return buffer
    new_size = max(needed, 2 * size)
    grown = np.empty(new_size, dtype=buffer.dtype)
    for i in range(size):  # a plain loop compiles much faster than a slice copy
        grown[i] = buffer[i]
    return grown


@njit(cache=True, nogil=True)
def segment_indptr(segment_rows, counts, n_rows):
    """CSR ``indptr`` (int64, (n_rows + 1,)) of segments: row ``r`` gets the total length of
    the segments whose ``segment_rows`` is ``r``."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    for s in range(segment_rows.shape[0]):
        indptr[segment_rows[s] + 1] += counts[s]
    for r in range(n_rows):
        indptr[r + 1] += indptr[r]
    return indptr


@njit(cache=True, nogil=True)
def place_segments(segment_rows, counts, values, fill, out):
    """Copy segments (in processing order) to their rows of a CSR array.

    Segment ``s`` (row ``segment_rows[s]``, length ``counts[s]``; ``values`` holds the
    segments one after the other) goes to ``out[fill[row]:]``, and ``fill[row]`` moves past
    it. Start from ``fill = indptr[:-1]``; placing the chunks of a batch one after another
    concatenates each row's segments in processing order.
    """
    source = 0
    for s in range(segment_rows.shape[0]):
        row = segment_rows[s]
        target = fill[row]
        for j in range(counts[s]):
            out[target + j] = values[source + j]
        fill[row] = target + counts[s]
        source += counts[s]


@njit(cache=True, nogil=True)
def sort_rows(indptr, indices, distances, by_distance, first_row, last_row):
    """Sort CSR rows ``first_row .. last_row - 1`` in place.

    By increasing (distance, index) when ``by_distance`` (``distances`` moves along), else
    by increasing index (``distances`` may then be empty).
    """
    for row in range(first_row, last_row):
        start = indptr[row]
        stop = indptr[row + 1]
        if stop - start < 2:
            continue
        if not by_distance:
            indices[start:stop] = np.sort(indices[start:stop])
            continue
        seg_idx = indices[start:stop].copy()
        seg_dist = distances[start:stop].copy()
        order = np.argsort(seg_idx, kind="mergesort")
        seg_idx = seg_idx[order]
        seg_dist = seg_dist[order]
        order = np.argsort(seg_dist, kind="mergesort")
        indices[start:stop] = seg_idx[order]
        distances[start:stop] = seg_dist[order]
