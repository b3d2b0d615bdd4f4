"""Selection kernels of the build: move the k-th smallest value of one column to row k.

Every kernel reorders rows of ``points`` (the tree's private copy of the data, ``tree_data``) and of ``idx``
together, so ``points[j] == data[idx[j]]`` holds throughout. Afterwards
``points[lo:k, dim] <= points[k, dim] <= points[k+1:hi, dim]``.

Long ranges (:func:`select_rows`, more than ``SMALL_ROWS`` rows) narrow ``[lo, hi)`` around
``k`` in *rounds*. A round draws a deterministic pseudo-random sample of
``SAMPLE_FACTOR * sqrt(hi - lo)`` values, takes as pivot the sample value at the target's
rank (selected, not sorted), and partitions the range into rows ``< pivot`` and rows ``>= pivot``; the part holding
``k`` becomes the range. On uniform data the rounds scan about 1.56 times the range in all
(the first round scans it once and leaves ``k`` near the edge of one half). Partitioning is
branch-free where it matters:

* :func:`partition_rows` is the block partition of BlockQuicksort (Edelkamp & Weiss, 2016):
  the offsets of misplaced rows in blocks of ``PARTITION_BLOCK`` rows are recorded without
  branches, then the misplaced rows are swapped in pairs.
* Ranges of at least ``CHUNKED_MIN_ROWS`` rows are partitioned *chunk-wise*
  (:func:`partition_chunks`, :func:`misplaced_runs`, :func:`swap_misplaced`): each chunk of
  ``CHUNK_ROWS`` rows is partitioned on its own, in cache; then the i-th misplaced row left
  of the global boundary is swapped with the i-th misplaced row right of it. Chunks, and
  slices of the list of swaps, are independent: threads may share them in any way and the
  result is the same.

Short ranges (:func:`select_small`) copy the column into a key array with the rows' local
positions and select on these (key, position) pairs (:func:`select_pairs`: quickselect with
median-of-3 pivots and a branch-free Lomuto partition; :func:`rank_sort_pairs` below
``RANK_SORT_MAX`` pairs); then every row moves once (:func:`permute_rows`).

Duplicates: a round that leaves every row of the range ``>= floor`` and then draws the pivot
``floor`` again partitions on ``<= pivot`` (``< nextafter(pivot)``), so all-equal and
few-valued columns take two rounds, not one per value; :func:`select_pairs` likewise gathers
the keys equal to a repeated pivot in one pass.

Every choice depends only on the data and the range, never on the thread count, so a tree
built with any number of threads is the same tree.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Rows per chunk of the chunk-wise partition (about 450 KiB of 3-D float64 rows: in L2).
CHUNK_ROWS = 1 << 14
#: Ranges of at least this many rows are partitioned chunk-wise (and so in parallel).
CHUNKED_MIN_ROWS = 1 << 17
#: Ranges of at most this many rows are selected as key/position pairs
#: (:func:`select_small`), and subtrees of at most this many rows are built that way.
SMALL_ROWS = 1024
#: Key/position ranges of at most this many pairs are sorted by rank (:func:`rank_sort_pairs`).
RANK_SORT_MAX = 24
#: Key/position ranges of more than this many pairs use the block partition.
LOMUTO_MAX = 128
#: Pairs per block of :func:`partition_pairs`.
PAIR_BLOCK = 32
#: Rounds of :func:`select_pairs` with median-of-3 pivots before it switches to
#: pseudo-random pivots, which no input order can defeat (introselect's safeguard).
MEDIAN_OF_3_ROUNDS = 16
#: Sample size is ``SAMPLE_FACTOR * sqrt(range length)``, at most ``MAX_SAMPLE``.
SAMPLE_FACTOR = 0.5
MAX_SAMPLE = SMALL_ROWS
#: Rows per block of the block partition.
PARTITION_BLOCK = 128


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


@njit(cache=True, nogil=True, inline="always")
def _median_of_3(a, b, c):
    if a > b:
        a, b = b, a
    if b > c:
        b = c
        if a > b:
            b = a
    return b


@njit(cache=True, nogil=True)
def rank_sort_pairs(keys, order, lo, hi, spare_keys, spare_order):
    """Sort the pairs ``lo .. hi - 1`` by key, ties in position order (a few dozen pairs).

    Each pair's place is its rank, counted by branch-free comparisons with every other key
    (a loop LLVM vectorises); ``spare_keys``/``spare_order`` hold at least ``hi - lo``.
    """
    n = hi - lo
    for i in range(n):
        ki = keys[np.uint64(lo + i)]
        rank = 0
        for j in range(n):
            kj = keys[np.uint64(lo + j)]
            rank += np.int64(kj < ki) + np.int64((kj == ki) & (j < i))
        spare_keys[np.uint64(rank)] = ki
        spare_order[np.uint64(rank)] = order[np.uint64(lo + i)]
    for i in range(n):
        keys[np.uint64(lo + i)] = spare_keys[np.uint64(i)]
        order[np.uint64(lo + i)] = spare_order[np.uint64(i)]


@njit(cache=True, nogil=True, inline="always")
def _swap_pairs(keys, order, a, b):
    ua = np.uint64(a)
    ub = np.uint64(b)
    k = keys[ua]
    keys[ua] = keys[ub]
    keys[ub] = k
    o = order[ua]
    order[ua] = order[ub]
    order[ub] = o


@njit(cache=True, nogil=True)
def partition_pairs(keys, order, lo, hi, pivot, offsets_left, offsets_right):
    """:func:`partition_rows` for (key, position) pairs, in blocks of ``PAIR_BLOCK``.

    Returns the boundary ``b``: keys ``[lo, b)`` are ``< pivot``, keys ``[b, hi)`` are not.
    """
    left = lo
    right = hi - 1
    n_left = 0
    n_right = 0
    first_left = 0
    first_right = 0
    while right - left + 1 >= 2 * PAIR_BLOCK:
        if n_left == 0:
            first_left = 0
            for i in range(PAIR_BLOCK):
                offsets_left[np.uint64(n_left)] = i
                n_left += keys[np.uint64(left + i)] >= pivot
        if n_right == 0:
            first_right = 0
            for i in range(PAIR_BLOCK):
                offsets_right[np.uint64(n_right)] = i
                n_right += keys[np.uint64(right - i)] < pivot
        n_swaps = min(n_left, n_right)
        for j in range(n_swaps):
            _swap_pairs(keys, order, left + offsets_left[np.uint64(first_left + j)],
                        right - offsets_right[np.uint64(first_right + j)])
        n_left -= n_swaps
        n_right -= n_swaps
        first_left += n_swaps
        first_right += n_swaps
        if n_left == 0:
            left += PAIR_BLOCK
        if n_right == 0:
            right -= PAIR_BLOCK
    return _lomuto_pairs(keys, order, left, right + 1, pivot)


@njit(cache=True, nogil=True, inline="always")
def _lomuto_pairs(keys, order, lo, hi, pivot):
    """Branch-free Lomuto partition of pairs ``[lo, hi)`` on ``key < pivot``; the boundary."""
    boundary = lo
    for i in range(lo, hi):
        ui = np.uint64(i)
        ub = np.uint64(boundary)
        ki = keys[ui]
        oi = order[ui]
        keys[ui] = keys[ub]
        order[ui] = order[ub]
        keys[ub] = ki
        order[ub] = oi
        boundary += ki < pivot
    return boundary


@njit(cache=True, nogil=True)
def select_pairs(keys, order, lo, hi, k, spare_keys, spare_order, offsets):
    """Order the pairs ``(keys[i], order[i])``, ``lo <= i < hi``, so ``keys[k]`` is in place.

    Afterwards ``keys[lo:k] <= keys[k] <= keys[k+1:hi]``. Quickselect on 8 + 4 byte pairs
    instead of rows: ranges of more than ``LOMUTO_MAX`` pairs take a ninther pivot and the
    block partition (:func:`partition_pairs`), shorter ones a median-of-3 pivot and a
    branch-free Lomuto partition, and ranges of at most ``RANK_SORT_MAX`` pairs are sorted
    (:func:`rank_sort_pairs`). When nothing is smaller than the pivot (it is the range's
    minimum, maybe repeated), one pass gathers the keys equal to it, so a run of equal keys
    costs one pass. ``spare_keys``/``spare_order`` hold ``RANK_SORT_MAX`` entries and
    ``offsets`` two rows of at least ``PAIR_BLOCK``.
    """
    rounds = 0
    state = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(hi - lo)
    while hi - lo > 1:
        n = hi - lo
        if n <= RANK_SORT_MAX:
            rank_sort_pairs(keys, order, lo, hi, spare_keys, spare_order)
            return
        if rounds >= MEDIAN_OF_3_ROUNDS:
            state = _next_random(state)
            pivot = keys[np.uint64(lo) + (state >> np.uint64(33)) % np.uint64(n)]
        elif n > LOMUTO_MAX:
            step = n // 8
            pivot = _median_of_3(
                _median_of_3(keys[np.uint64(lo)], keys[np.uint64(lo + step)],
                             keys[np.uint64(lo + 2 * step)]),
                _median_of_3(keys[np.uint64(lo + 3 * step)], keys[np.uint64(lo + n // 2)],
                             keys[np.uint64(lo + 5 * step)]),
                _median_of_3(keys[np.uint64(lo + 6 * step)], keys[np.uint64(lo + 7 * step)],
                             keys[np.uint64(hi - 1)]))
        else:
            pivot = _median_of_3(keys[np.uint64(lo)], keys[np.uint64(lo + n // 2)],
                                 keys[np.uint64(hi - 1)])
        rounds += 1
        if n > LOMUTO_MAX:
            boundary = partition_pairs(keys, order, lo, hi, pivot, offsets[0], offsets[1])
        else:
            boundary = _lomuto_pairs(keys, order, lo, hi, pivot)
        if k < boundary:
            hi = boundary
        elif boundary > lo:
            lo = boundary
        else:
            equal_end = lo
            for i in range(lo, hi):
                ki = keys[np.uint64(i)]
                _swap_pairs(keys, order, i, equal_end)
                equal_end += ki == pivot
            if k < equal_end:
                return
            lo = equal_end


@njit(cache=True, nogil=True)
def permute_rows(points, idx, base, order, n, rows, row_idx):
    """Reorder rows ``base .. base + n - 1``: the new local row ``i`` is the old local row ``order[i]``.

    ``rows`` and ``row_idx`` are scratch arrays of at least ``n`` entries.
    """
    for i in range(n):
        src = np.uint64(base + order[np.uint64(i)])
        for c in range(points.shape[1]):
            rows[np.uint64(i), c] = points[src, c]
        row_idx[np.uint64(i)] = idx[src]
    for i in range(n):
        dst = np.uint64(base + i)
        for c in range(points.shape[1]):
            points[dst, c] = rows[np.uint64(i), c]
        idx[dst] = row_idx[np.uint64(i)]


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
    block = PARTITION_BLOCK
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
def copy_rows(data, points, idx, start, end):
    """Copy rows ``[start, end)`` of ``data`` into ``points`` and set ``idx[r] = r`` there."""
    for r in range(start, end):
        for c in range(data.shape[1]):
            points[r, c] = data[r, c]
        idx[r] = r


@njit(cache=True, nogil=True)
def partition_chunks(points, idx, lo, hi, dim, threshold, first_chunk, last_chunk, counts,
                     data, copy_first):
    """Partition chunks ``first_chunk .. last_chunk - 1`` of rows ``[lo, hi)`` on their own.

    Chunk ``j`` covers rows ``[lo + j * CHUNK_ROWS, min(lo + (j + 1) * CHUNK_ROWS, hi))``;
    afterwards it holds its rows ``< threshold`` first, and ``counts[j]`` is their number.
    With ``copy_first`` each chunk is first copied from ``data`` (:func:`copy_rows`), so the
    first partition of the root reads the input directly, while it is in cache, instead of a
    separate copy pass: the same rows end in the same places.
    """
    offsets_left = np.empty(PARTITION_BLOCK, dtype=np.int32)
    offsets_right = np.empty(PARTITION_BLOCK, dtype=np.int32)
    for j in range(first_chunk, last_chunk):
        start = lo + j * CHUNK_ROWS
        end = min(start + CHUNK_ROWS, hi)
        if copy_first:
            copy_rows(data, points, idx, start, end)
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
def _last_at_most(ascending, value):
    """Largest ``i`` with ``ascending[i] <= value`` (``ascending[0] <= value`` is assumed)."""
    lo = 0
    hi = ascending.shape[0]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ascending[mid] <= value:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def swap_misplaced(points, idx, left_start, left_cum, right_start, right_cum, first, last):
    """Swap the misplaced pairs ``first .. last - 1`` found by :func:`misplaced_runs`.

    Pair ``i`` is the i-th misplaced row left of the boundary and the i-th right of it, so
    disjoint slices of pairs may be swapped by different threads.
    """
    if first >= last:
        return
    run_left = _last_at_most(left_cum, first)
    run_right = _last_at_most(right_cum, first)
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
    partition_chunks(points, idx, lo, hi, dim, threshold, 0, n_chunks, counts, points, False)
    boundary, left_start, left_cum, right_start, right_cum = misplaced_runs(lo, hi, counts)
    swap_misplaced(points, idx, left_start, left_cum, right_start, right_cum, 0, left_cum[-1])
    return boundary


@njit(cache=True, nogil=True)
def choose_threshold(points, lo, hi, k, dim, floor, has_floor, round_no, scratch):
    """Threshold of one selection round over rows ``[lo, hi)`` targeting row ``k``.

    Parameters
    ----------
    floor, has_floor : float, bool
        When ``has_floor``, every row of the range is known to be ``>= floor``.
    round_no : int
        Number of rounds already run on this selection (seeds the sample).
    scratch : tuple
        From :func:`new_scratch`; the sample goes to its key/position arrays.

    Returns
    -------
    threshold : float
        Rows ``< threshold`` go left.
    equal_only : bool
        True when the rows going left all equal one value (the pivot is the range's minimum),
        so that a target among them is already in place.
    """
    _, keys, order, _, _ = scratch
    n = hi - lo
    n_sample = min(MAX_SAMPLE, max(3, np.int64(SAMPLE_FACTOR * np.sqrt(n))))
    state = (np.uint64(lo) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(hi) ^ np.uint64(round_no)
    for i in range(n_sample):
        state = _next_random(state)
        # a uniform row of the range: high 32 random bits scaled to n (longer ranges sample
        # their first 2**32 rows, which is just as good)
        offset = ((state >> np.uint64(32)) * np.uint64(min(n, 1 << 32))) >> np.uint64(32)
        keys[i] = key(points, lo + np.int64(offset), dim)
        order[i] = i
    rank = min((k - lo) * n_sample // n, n_sample - 1)
    select_pairs(keys, order, 0, n_sample, rank, keys[SMALL_ROWS:], order[SMALL_ROWS:],
                 scratch[0])
    pivot = keys[rank]
    if has_floor and pivot <= floor:
        # every row is >= pivot: send the rows equal to it left (x < next value up)
        infinity = np.empty(1, dtype=keys.dtype)
        infinity[0] = np.inf
        return np.float64(np.nextafter(pivot, infinity[0])), True
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
def new_scratch(points, idx):
    """Scratch arrays of one thread.

    Returns
    -------
    tuple
        ``(offsets, keys, order, rows, row_idx)``: two rows of ``PARTITION_BLOCK`` offsets
        for :func:`partition_rows`; ``SMALL_ROWS + RANK_SORT_MAX`` keys and positions for
        key/position selection and for samples (the last ``RANK_SORT_MAX`` are
        :func:`rank_sort_pairs`' spare room); ``SMALL_ROWS`` rows and indices for
        :func:`permute_rows`.
    """
    offsets = np.empty((2, PARTITION_BLOCK), dtype=np.int32)
    keys = np.empty(SMALL_ROWS + RANK_SORT_MAX, dtype=points.dtype)
    order = np.empty(SMALL_ROWS + RANK_SORT_MAX, dtype=np.int32)
    rows = np.empty((SMALL_ROWS, points.shape[1]), dtype=points.dtype)
    row_idx = np.empty(SMALL_ROWS, dtype=idx.dtype)
    return offsets, keys, order, rows, row_idx


@njit(cache=True, nogil=True)
def select_small(points, idx, lo, hi, k, dim, scratch):
    """:func:`select_rows` for at most ``SMALL_ROWS`` rows: select key/position pairs, then
    move every row once."""
    offsets, keys, order, rows, row_idx = scratch
    n = hi - lo
    for i in range(n):
        keys[np.uint64(i)] = key(points, lo + i, dim)
        order[np.uint64(i)] = i
    select_pairs(keys, order, 0, n, k - lo, keys[SMALL_ROWS:], order[SMALL_ROWS:], offsets)
    permute_rows(points, idx, lo, order, n, rows, row_idx)


@njit(cache=True, nogil=True)
def select_rows(points, idx, lo, hi, k, dim, floor, has_floor, round_no, scratch):
    """Order rows ``[lo, hi)`` so that row ``k`` holds the k-th value of column ``dim``.

    Afterwards ``points[lo:k, dim] <= points[k, dim] <= points[k+1:hi, dim]``. The state
    arguments (``floor``, ``has_floor``, ``round_no``) let the threaded driver resume a
    selection it began; a fresh selection passes ``0.0, False, 0``. ``scratch`` comes from
    :func:`new_scratch`. See the module documentation for the algorithm.
    """
    offsets = scratch[0]
    while hi - lo > SMALL_ROWS:
        threshold, equal_only = choose_threshold(points, lo, hi, k, dim, floor, has_floor,
                                                 round_no, scratch)
        if hi - lo >= CHUNKED_MIN_ROWS:
            boundary = partition_chunked(points, idx, lo, hi, dim, threshold)
        else:
            boundary = partition_rows(points, idx, lo, hi, dim, threshold, offsets[0],
                                      offsets[1])
        round_no += 1
        lo, hi, floor, has_floor = advance(lo, hi, k, boundary, threshold, equal_only, floor,
                                           has_floor)
    if hi - lo > 1:
        select_small(points, idx, lo, hi, k, dim, scratch)
