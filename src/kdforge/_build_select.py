"""Selection kernels of the build: move the k-th smallest value of one column to row k.

Every kernel reorders rows of ``points`` (the tree's private copy of the data) and of ``idx``
together, so ``points[j] == data[idx[j]]`` holds throughout.

Algorithm
---------
:func:`select_rows` narrows a row range ``[lo, hi)`` around the target row ``k`` in *rounds*.
A round draws a deterministic pseudo-random sample of the range, takes as threshold ``t`` the
sample value a little below (when ``k`` lies in the upper half of the range) or above the
target rank (Floyd & Rivest), and partitions the range into rows ``< t`` and rows ``>= t``;
the part holding ``k`` becomes the new range. The first round halves the range, the second
leaves a few per cent of it, and ranges of at most ``SMALL_SELECT`` rows finish with a
quickselect. Duplicates: once every row of the range is known to be ``>= t`` and the next
pivot equals ``t``, the round partitions on ``<= pivot`` instead, so all-equal and
few-valued columns finish in two rounds.

Partitioning is branch-free where it matters:

* :func:`partition_rows` is the block partition of BlockQuicksort (Edelkamp & Weiss, 2016):
  the positions of misplaced rows of a block are recorded without branches, then swapped.
* Ranges of at least ``CHUNKED_MIN_ROWS`` rows are partitioned *chunk-wise*
  (:func:`partition_chunks`, :func:`misplaced_runs`, :func:`swap_misplaced`): every chunk of
  ``CHUNK_ROWS`` rows is partitioned in cache on its own, then the rows of the wrong class on
  each side of the global boundary are swapped pairwise, the i-th misplaced row on the left
  with the i-th on the right. The chunks, and slices of the swap list, are independent tasks
  that threads may share in any way: the result never depends on the number of threads.

The whole procedure is deterministic, so a tree built with any number of threads is the
same tree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Rows per chunk of the chunk-wise partition (about 450 KiB of 3-D float64 rows: in L2).
CHUNK_ROWS = 1 << 14
#: Ranges of at least this many rows are partitioned chunk-wise (and so in parallel).
CHUNKED_MIN_ROWS = 1 << 17
#: Ranges of at most this many rows finish with an insertion sort.
SMALL_SELECT = 16
#: Ranges of at most this many rows take the median of their first, middle and last values
#: as pivot (for the first ``MEDIAN_OF_3_ROUNDS`` rounds); longer ones sort a sample.
MEDIAN_OF_3_MAX = 256
#: Rounds with median-of-3 pivots before a range switches to pseudo-random samples, which
#: no input order can defeat (introselect's safeguard).
MEDIAN_OF_3_ROUNDS = 16
#: Sample size is ``SAMPLE_FACTOR * sqrt(range length)``, at most ``MAX_SAMPLE``.
SAMPLE_FACTOR = 0.5
MAX_SAMPLE = 4096
#: Rows per block of the block partition (``SMALL_BLOCK`` below ``LARGE_BLOCK_MIN`` rows).
PARTITION_BLOCK = 128
SMALL_BLOCK = 32
LARGE_BLOCK_MIN = 2048


@njit(cache=True, nogil=True, inline="always")
def key(points, row, dim):
    """``points[row, dim]`` for non-negative indices (unsigned: no negative-index handling)."""
    return points[np.uint64(row), np.uint64(dim)]


@njit(cache=True, nogil=True, inline="always")
def swap_rows(points, idx, a, b):
    """Exchange rows ``a`` and ``b`` of ``points`` and ``idx``.

    Unsigned indices skip Numba's negative-index handling.
    """
    ua = np.uint64(a)
    ub = np.uint64(b)
    for c in range(points.shape[1]):
        tmp = points[ua, c]
        points[ua, c] = points[ub, c]
        points[ub, c] = tmp
    t = idx[ua]
    idx[ua] = idx[ub]
    idx[ub] = t


@njit(cache=True, nogil=True, inline="always")
def swap_rows_unrolled(points, idx, a, b):
    """:func:`swap_rows` with three columns, the common case, spelled out.

    For the branch-free Lomuto loop, where it is 1.5x faster than the column loop. (In the
    block partition's swap loop LLVM vectorises it into gathers and scatters, 4x slower:
    use :func:`swap_rows` there.)
    """
    ua = np.uint64(a)
    ub = np.uint64(b)
    n_dims = points.shape[1]
    if n_dims == 3:
        t0 = points[ua, 0]
        t1 = points[ua, 1]
        t2 = points[ua, 2]
        points[ua, 0] = points[ub, 0]
        points[ua, 1] = points[ub, 1]
        points[ua, 2] = points[ub, 2]
        points[ub, 0] = t0
        points[ub, 1] = t1
        points[ub, 2] = t2
    else:
        for c in range(n_dims):
            tmp = points[ua, c]
            points[ua, c] = points[ub, c]
            points[ub, c] = tmp
    t = idx[ua]
    idx[ua] = idx[ub]
    idx[ub] = t


@njit(cache=True, nogil=True, inline="always")
def _next_random(state):
    return state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)


@njit(cache=True, nogil=True)
def insertion_sort_rows(points, idx, lo, hi, dim):
    """Sort rows ``[lo, hi)`` by column ``dim`` (for a handful of rows)."""
    for i in range(lo + 1, hi):
        j = i
        while j > lo and key(points, j - 1, dim) > key(points, j, dim):
            swap_rows(points, idx, j - 1, j)
            j -= 1


@njit(cache=True, nogil=True)
def partition_rows(points, idx, lo, hi, dim, threshold, offsets_left, offsets_right):
    """Reorder rows ``[lo, hi)`` so rows with ``points[r, dim] < threshold`` come first.

    Block partition: blocks of rows are scanned from both ends, the offsets of misplaced
    rows recorded branch-free, and misplaced rows swapped in pairs; the last (at most two)
    blocks are partitioned by a branch-free Lomuto loop. ``offsets_left`` and
    ``offsets_right`` are scratch arrays of ``PARTITION_BLOCK`` entries.

    Returns
    -------
    int
        The boundary ``b``: rows ``[lo, b)`` are ``< threshold``, rows ``[b, hi)`` are not.
    """
    block = PARTITION_BLOCK if hi - lo >= LARGE_BLOCK_MIN else SMALL_BLOCK
    left = lo
    right = hi - 1
    n_left = 0
    n_right = 0
    first_left = 0
    first_right = 0
    while right - left + 1 >= 2 * block:
        if n_left == 0:
            first_left = 0
            for i in range(block):
                offsets_left[n_left] = i
                n_left += key(points, left + i, dim) >= threshold
        if n_right == 0:
            first_right = 0
            for i in range(block):
                offsets_right[n_right] = i
                n_right += key(points, right - i, dim) < threshold
        n_swaps = min(n_left, n_right)
        for j in range(n_swaps):
            swap_rows(points, idx, left + offsets_left[first_left + j],
                      right - offsets_right[first_right + j])
        n_left -= n_swaps
        n_right -= n_swaps
        first_left += n_swaps
        first_right += n_swaps
        if n_left == 0:
            left += block
        if n_right == 0:
            right -= block
    # rows [lo, left) are < threshold and rows (right, hi) are not; finish the middle
    boundary = left
    for i in range(left, right + 1):
        below = key(points, i, dim) < threshold
        swap_rows_unrolled(points, idx, i, boundary)
        boundary += below
    return boundary


@njit(cache=True, nogil=True)
def partition_chunks(points, idx, lo, hi, dim, threshold, first_chunk, last_chunk, counts):
    """Partition chunks ``first_chunk .. last_chunk - 1`` of rows ``[lo, hi)`` on their own.

    Chunk ``j`` covers rows ``[lo + j * CHUNK_ROWS, min(lo + (j + 1) * CHUNK_ROWS, hi))``;
    afterwards it holds its rows ``< threshold`` first, and ``counts[j]`` is their number.
    """
    offsets_left = np.empty(PARTITION_BLOCK, dtype=np.int32)
    offsets_right = np.empty(PARTITION_BLOCK, dtype=np.int32)
    for j in range(first_chunk, last_chunk):
        start = lo + j * CHUNK_ROWS
        end = min(start + CHUNK_ROWS, hi)
        counts[j] = partition_rows(points, idx, start, end, dim, threshold,
                                   offsets_left, offsets_right) - start


@njit(cache=True, nogil=True)
def misplaced_runs(lo, hi, counts):
    """Runs of misplaced rows after :func:`partition_chunks` partitioned every chunk.

    With ``b = lo + counts.sum()`` the global boundary, rows ``>= threshold`` in ``[lo, b)``
    and rows ``< threshold`` in ``[b, hi)`` are misplaced; each chunk holds at most one
    contiguous run of them.

    Returns
    -------
    boundary : int
    left_start, right_start : int64 arrays
        First row of each run of misplaced rows left / right of the boundary, in row order.
    left_cum, right_cum : int64 arrays
        ``left_cum[i]`` misplaced rows precede run ``i``; the last entry is the total, which
        is the same on both sides.
    """
    n_chunks = counts.shape[0]
    boundary = lo
    for j in range(n_chunks):
        boundary += counts[j]
    left_start = np.empty(n_chunks, dtype=np.int64)
    right_start = np.empty(n_chunks, dtype=np.int64)
    left_cum = np.zeros(n_chunks + 1, dtype=np.int64)
    right_cum = np.zeros(n_chunks + 1, dtype=np.int64)
    n_left_runs = 0
    n_right_runs = 0
    for j in range(n_chunks):
        start = lo + j * CHUNK_ROWS
        end = min(start + CHUNK_ROWS, hi)
        split = start + counts[j]
        # rows >= threshold of this chunk: [split, end); misplaced where left of the boundary
        run_end = min(end, boundary)
        if split < run_end:
            left_start[n_left_runs] = split
            left_cum[n_left_runs + 1] = left_cum[n_left_runs] + run_end - split
            n_left_runs += 1
        # rows < threshold of this chunk: [start, split); misplaced where right of it
        run_start = max(start, boundary)
        if run_start < split:
            right_start[n_right_runs] = run_start
            right_cum[n_right_runs + 1] = right_cum[n_right_runs] + split - run_start
            n_right_runs += 1
    return (boundary, left_start[:n_left_runs], left_cum[:n_left_runs + 1],
            right_start[:n_right_runs], right_cum[:n_right_runs + 1])


@njit(cache=True, nogil=True)
def swap_misplaced(points, idx, left_start, left_cum, right_start, right_cum, first, last):
    """Swap the misplaced pairs ``first .. last - 1`` found by :func:`misplaced_runs`.

    Pair ``i`` is the i-th misplaced row left of the boundary and the i-th right of it, so
    disjoint slices of pairs may be swapped by different threads.
    """
    if first >= last:
        return
    run_left = np.searchsorted(left_cum, first, side="right") - 1
    run_right = np.searchsorted(right_cum, first, side="right") - 1
    pos_left = left_start[run_left] + first - left_cum[run_left]
    pos_right = right_start[run_right] + first - right_cum[run_right]
    done = first
    while done < last:
        room_left = left_cum[run_left + 1] - done
        room_right = right_cum[run_right + 1] - done
        n = min(room_left, room_right, last - done)
        for j in range(n):
            swap_rows(points, idx, pos_left + j, pos_right + j)
        done += n
        pos_left += n
        pos_right += n
        if n == room_left and done < last:
            run_left += 1
            pos_left = left_start[run_left]
        if n == room_right and done < last:
            run_right += 1
            pos_right = right_start[run_right]


@njit(cache=True, nogil=True)
def partition_chunked(points, idx, lo, hi, dim, threshold):
    """Serial chunk-wise partition of rows ``[lo, hi)``; see :func:`partition_rows`.

    Produces exactly the arrangement the threaded driver produces from the same kernels.
    """
    n_chunks = (hi - lo + CHUNK_ROWS - 1) // CHUNK_ROWS
    counts = np.empty(n_chunks, dtype=np.int64)
    partition_chunks(points, idx, lo, hi, dim, threshold, 0, n_chunks, counts)
    boundary, left_start, left_cum, right_start, right_cum = misplaced_runs(lo, hi, counts)
    swap_misplaced(points, idx, left_start, left_cum, right_start, right_cum, 0, left_cum[-1])
    return boundary


@njit(cache=True, nogil=True)
def _insertion_sort(values, n):
    for i in range(1, n):
        v = values[i]
        j = i - 1
        while j >= 0 and values[j] > v:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = v


@njit(cache=True, nogil=True)
def choose_threshold(points, lo, hi, k, dim, floor, has_floor, round_no, sample):
    """Threshold of one selection round over rows ``[lo, hi)`` targeting row ``k``.

    Parameters
    ----------
    floor, has_floor : float, bool
        When ``has_floor``, every row of the range is known to be ``>= floor``.
    round_no : int
        Number of rounds already run on this selection (seeds the sample).
    sample : array
        Scratch space of ``MAX_SAMPLE`` values of the points' dtype.

    Returns
    -------
    threshold : float
        Rows ``< threshold`` go left.
    equal_only : bool
        True when the rows going left all equal one value (the pivot is the range's minimum),
        so that a target among them is already in place.
    """
    n = hi - lo
    if n <= MEDIAN_OF_3_MAX and round_no < MEDIAN_OF_3_ROUNDS:
        a = points[lo, dim]
        b = points[lo + n // 2, dim]
        c = points[hi - 1, dim]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
            if a > b:
                b = a
        pivot = b
    else:
        n_sample = min(MAX_SAMPLE, max(3, np.int64(SAMPLE_FACTOR * np.sqrt(n)))) | 1
        state = (np.uint64(lo) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(hi) ^ np.uint64(round_no)
        for i in range(n_sample):
            state = _next_random(state)
            # a uniform row of the range: high 32 random bits scaled to n (n < 2**32 here;
            # longer ranges sample their first 2**32 rows, which is just as good)
            offset = ((state >> np.uint64(32)) * np.uint64(min(n, 1 << 32))) >> np.uint64(32)
            sample[i] = points[lo + np.int64(offset), dim]
        if n_sample <= 32:
            _insertion_sort(sample, n_sample)
            ordered = sample
        else:
            ordered = np.sort(sample[:n_sample])
        pivot = ordered[min((k - lo) * n_sample // n, n_sample - 1)]
    if has_floor and pivot <= floor:
        # every row is >= pivot: send the rows equal to it left (x < next value up)
        infinity = np.full(1, np.inf, dtype=sample.dtype)[0]
        return np.float64(np.nextafter(pivot, infinity)), True
    return np.float64(pivot), False


@njit(cache=True, nogil=True)
def advance(lo, hi, k, boundary, threshold, equal_only, floor, has_floor):
    """Range left to search after a round that put rows ``< threshold`` before ``boundary``.

    Returns
    -------
    lo, hi : int
        The new range (``hi <= lo`` when row ``k`` is already in place).
    floor, has_floor : float, bool
        Updated lower bound of the new range's values.
    """
    if k < boundary:
        if equal_only:
            return lo, lo, floor, has_floor
        return lo, boundary, floor, has_floor
    return boundary, hi, threshold, True


@njit(cache=True, nogil=True)
def select_rows(points, idx, lo, hi, k, dim, floor, has_floor, round_no, sample,
                offsets_left, offsets_right):
    """Order rows ``[lo, hi)`` so that row ``k`` holds the k-th value of column ``dim``.

    Afterwards ``points[lo:k, dim] <= points[k, dim] <= points[k+1:hi, dim]``. The state
    arguments (``floor``, ``has_floor``, ``round_no``) let the threaded driver resume a
    selection it began; a fresh selection passes ``0.0, False, 0``. ``sample``,
    ``offsets_left`` and ``offsets_right`` are scratch arrays (``MAX_SAMPLE`` values of the
    points' dtype, ``PARTITION_BLOCK`` int32). See the module documentation.
    """
    while hi - lo > SMALL_SELECT:
        threshold, equal_only = choose_threshold(points, lo, hi, k, dim, floor, has_floor,
                                                 round_no, sample)
        if hi - lo >= CHUNKED_MIN_ROWS:
            boundary = partition_chunked(points, idx, lo, hi, dim, threshold)
        else:
            boundary = partition_rows(points, idx, lo, hi, dim, threshold, offsets_left,
                                      offsets_right)
        round_no += 1
        lo, hi, floor, has_floor = advance(lo, hi, k, boundary, threshold, equal_only, floor,
                                           has_floor)
    if hi - lo > 1:
        insertion_sort_rows(points, idx, lo, hi, dim)
