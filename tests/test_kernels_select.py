"""Selection and partition kernels of the build against sorting and counting.

Every kernel reorders rows of ``points`` and ``idx`` together. The checks, for each call:
rows stay paired with their index (``points[j] == data[idx[j]]``), rows outside the range
are untouched, the range keeps its rows (as a multiset), and the range ends up selected or
partitioned as the twins in :mod:`naive` say.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge._kernels import select

FLOATS = (np.float32, np.float64)
INDICES = (np.int32, np.int64)
KINDS = ("random", "sorted", "reversed", "equal", "two", "few", "integers")


def make_data(kind, n, d, dtype, seed):
    """Points of one of the shapes of data that trouble selection (see ``KINDS``).

    ``sorted`` / ``reversed`` sort every column; ``equal`` is one value, ``two`` two values,
    ``few`` five, ``integers`` about ``n / 3`` distinct values (many duplicates).
    """
    rng = np.random.default_rng(seed)
    if kind == "equal":
        data = np.full((n, d), 1.5)
    elif kind == "two":
        data = rng.choice([-1.0, 2.0], size=(n, d))
    elif kind == "few":
        data = rng.choice([-3.0, 0.0, 0.25, 7.0, 1e6], size=(n, d))
    elif kind == "integers":
        data = rng.integers(0, max(1, n // 3), size=(n, d)).astype(np.float64)
    else:
        data = rng.normal(size=(n, d)) * 10.0
    if kind == "sorted":
        data = np.sort(data, axis=0)
    elif kind == "reversed":
        data = np.sort(data, axis=0)[::-1]
    return np.ascontiguousarray(data, dtype=dtype)


def tree_rows(data, index_dtype, seed):
    """The tree's view of ``data``: rows in some order and their indices, paired."""
    idx = np.random.default_rng(seed).permutation(data.shape[0]).astype(index_dtype)
    return np.ascontiguousarray(data[idx]), idx


@st.composite
def cases(draw, min_rows=1, max_rows=1500):
    """A data set (kind, size, dtypes) and a range ``[lo, hi)`` with a target ``k`` in it."""
    n = draw(st.one_of(st.integers(min_rows, 64), st.integers(min_rows, max_rows)))
    d = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    data = make_data(draw(st.sampled_from(KINDS)), n, d, draw(st.sampled_from(FLOATS)), seed)
    points, idx = tree_rows(data, draw(st.sampled_from(INDICES)), seed)
    if n == 1 or draw(st.booleans()):
        lo, hi = 0, n
    else:  # at least two rows: a one-row range is trivially selected
        lo = draw(st.integers(0, n - 2))
        hi = draw(st.integers(lo + 2, n))
    k = draw(st.integers(lo, hi - 1))
    return data, points, idx, lo, hi, k, draw(st.integers(0, d - 1))


def check_rows(data, before_idx, points, idx, lo, hi):
    """Rows paired with their indices, untouched outside ``[lo, hi)``, kept inside it."""
    np.testing.assert_array_equal(points, data[idx])
    np.testing.assert_array_equal(idx[:lo], before_idx[:lo])
    np.testing.assert_array_equal(idx[hi:], before_idx[hi:])
    np.testing.assert_array_equal(np.sort(idx[lo:hi]), np.sort(before_idx[lo:hi]))


def check_selected(column_before, points, lo, hi, k, dim):
    """Row ``k`` holds the (k - lo)-th smallest value, with no larger one before it and no
    smaller one after it."""
    value = points[k, dim]
    assert value == naive.selected_value(column_before, lo, hi, k)
    assert np.all(points[lo:k, dim] <= value)
    assert np.all(points[k + 1:hi, dim] >= value)


def check_partitioned(column_before, points, lo, hi, dim, threshold, boundary):
    """Rows ``[lo, boundary)`` below ``threshold``, the others not, at the right boundary."""
    assert boundary == naive.partition_boundary(column_before, lo, hi, threshold)
    column = points[:, dim].astype(np.float64)
    assert np.all(column[lo:boundary] < threshold)
    assert np.all(column[boundary:hi] >= threshold)


def run_select_rows(data, points, idx, lo, hi, k, dim):
    """``select_rows`` as a fresh selection, checked against the twins."""
    before_idx = idx.copy()
    column = points[:, dim].copy()
    select.select_rows(points, idx, lo, hi, k, dim, 0.0, False, 0,
                       select.new_scratch(points, idx))
    check_rows(data, before_idx, points, idx, lo, hi)
    check_selected(column, points, lo, hi, k, dim)


# ---------------------------------------------------------------------- selection


@settings(max_examples=150, deadline=None)
@given(case=cases(max_rows=3 * select.SMALL_ROWS))
def test_select_rows(case):
    data, points, idx, lo, hi, k, dim = case
    run_select_rows(data, points, idx, lo, hi, k, dim)


@settings(max_examples=100, deadline=None)
@given(case=cases(max_rows=select.SMALL_ROWS))
def test_select_small(case):
    data, points, idx, lo, hi, k, dim = case
    before_idx = idx.copy()
    column = points[:, dim].copy()
    select.select_small(points, idx, lo, hi, k, dim, select.new_scratch(points, idx))
    check_rows(data, before_idx, points, idx, lo, hi)
    check_selected(column, points, lo, hi, k, dim)


@st.composite
def key_cases(draw, max_keys):
    """Keys (with many ties, in any order) and a range ``[lo, hi)`` with a target ``k``."""
    n = draw(st.one_of(st.integers(1, 40), st.integers(1, max_keys)))
    kind = draw(st.sampled_from(KINDS))
    keys = make_data(kind, n, 1, draw(st.sampled_from(FLOATS)), draw(st.integers(0, 2**32 - 1)))
    if n == 1 or draw(st.booleans()):
        lo, hi = 0, n
    else:
        lo = draw(st.integers(0, n - 2))
        hi = draw(st.integers(lo + 2, n))
    return keys[:, 0].copy(), lo, hi, draw(st.integers(lo, hi - 1))


def check_pairs(keys_before, keys, order, lo, hi):
    """Each key still beside its position, pairs outside ``[lo, hi)`` untouched."""
    np.testing.assert_array_equal(keys, keys_before[order])
    np.testing.assert_array_equal(order[:lo], np.arange(lo))
    np.testing.assert_array_equal(order[hi:], np.arange(hi, keys.shape[0]))
    np.testing.assert_array_equal(np.sort(order[lo:hi]), np.arange(lo, hi))


@settings(max_examples=150, deadline=None)
@given(case=key_cases(max_keys=1500))
def test_select_pairs(case):
    keys, lo, hi, k = case
    keys_before = keys.copy()
    order = np.arange(keys.shape[0], dtype=np.int32)
    spare_keys = np.empty(select.RANK_SORT_MAX, dtype=keys.dtype)
    spare_order = np.empty(select.RANK_SORT_MAX, dtype=np.int32)
    offsets = np.empty((2, select.PAIR_BLOCK), dtype=np.int32)
    select.select_pairs(keys, order, lo, hi, k, spare_keys, spare_order, offsets)
    check_pairs(keys_before, keys, order, lo, hi)
    assert keys[k] == naive.selected_value(keys_before, lo, hi, k)
    assert np.all(keys[lo:k] <= keys[k]) and np.all(keys[k + 1:hi] >= keys[k])


@settings(max_examples=150, deadline=None)
@given(case=key_cases(max_keys=2 * select.RANK_SORT_MAX))
def test_rank_sort_pairs_is_a_stable_sort(case):
    keys, lo, hi, _ = case
    keys_before = keys.copy()
    order = np.arange(keys.shape[0], dtype=np.int32)
    spare_keys = np.empty(hi - lo, dtype=keys.dtype)
    spare_order = np.empty(hi - lo, dtype=np.int32)
    select.rank_sort_pairs(keys, order, lo, hi, spare_keys, spare_order)
    check_pairs(keys_before, keys, order, lo, hi)
    np.testing.assert_array_equal(order[lo:hi], naive.stable_order(keys_before, lo, hi))


# ---------------------------------------------------------------------- partition


@st.composite
def thresholds(draw, column, lo, hi):
    """A threshold: a value of the range, just above or below one, a midpoint, or +-inf."""
    value = float(draw(st.sampled_from(column[lo:hi].tolist())))
    other = float(draw(st.sampled_from(column[lo:hi].tolist())))
    return draw(st.sampled_from([
        value, np.nextafter(value, np.inf), np.nextafter(value, -np.inf),
        0.5 * (value + other), -np.inf, np.inf,
    ]))


@settings(max_examples=150, deadline=None)
@given(case=cases(max_rows=2000), data=st.data())
def test_partition_rows(case, data):
    source, points, idx, lo, hi, _, dim = case
    column = points[:, dim].copy()
    threshold = data.draw(thresholds(column, lo, hi))
    before_idx = idx.copy()
    offsets_left = np.empty(select.PARTITION_BLOCK, dtype=np.int32)
    offsets_right = np.empty(select.PARTITION_BLOCK, dtype=np.int32)
    boundary = select.partition_rows(points, idx, lo, hi, dim, threshold, offsets_left,
                                     offsets_right)
    check_rows(source, before_idx, points, idx, lo, hi)
    check_partitioned(column, points, lo, hi, dim, threshold, boundary)


#: Big ranges (partitioned chunk-wise): (kind, dtype, index dtype, seed, quantile).
BIG_CASES = [
    ("random", np.float64, np.int64, 1, 0.5),
    ("random", np.float32, np.int32, 2, 0.03),
    ("sorted", np.float64, np.int32, 3, 0.7),
    ("reversed", np.float32, np.int64, 4, 0.4),
    ("few", np.float64, np.int32, 5, 0.5),
    ("equal", np.float32, np.int32, 6, 0.5),
]


def big_case(kind, dtype, index_dtype, seed):
    """Rows for a range a little over ``CHUNKED_MIN_ROWS`` long, not aligned to chunks."""
    n = select.CHUNKED_MIN_ROWS + 3 * select.CHUNK_ROWS // 2 + 37
    data = make_data(kind, n, 2, dtype, seed)
    points, idx = tree_rows(data, index_dtype, seed)
    return data, points, idx, 11, n - 5


@pytest.mark.parametrize("kind, dtype, index_dtype, seed, quantile", BIG_CASES)
def test_partition_chunked(kind, dtype, index_dtype, seed, quantile):
    data, points, idx, lo, hi = big_case(kind, dtype, index_dtype, seed)
    column = points[:, 1].copy()
    for threshold in (float(np.quantile(column[lo:hi], quantile)), -np.inf, np.inf):
        before_idx = idx.copy()
        before = points[:, 1].copy()
        boundary = select.partition_chunked(points, idx, lo, hi, 1, threshold)
        check_rows(data, before_idx, points, idx, lo, hi)
        check_partitioned(before, points, lo, hi, 1, threshold, boundary)


@pytest.mark.parametrize("kind, dtype, index_dtype, seed, quantile", BIG_CASES)
def test_select_rows_on_big_ranges(kind, dtype, index_dtype, seed, quantile):
    data, points, idx, lo, hi = big_case(kind, dtype, index_dtype, seed)
    k = lo + int(quantile * (hi - lo - 1))
    run_select_rows(data, points, idx, lo, hi, k, 0)


# ---------------------------------------------------------------------- moving rows


@settings(max_examples=100, deadline=None)
@given(case=cases(max_rows=300), seed=st.integers(0, 2**32 - 1))
def test_permute_rows_gathers_through_order(case, seed):
    data, points, idx, lo, hi, _, _ = case
    n = hi - lo
    order = np.random.default_rng(seed).permutation(n).astype(np.int32)
    expected_points, expected_idx = naive.gather_rows(points, idx, lo, order, n)
    rows = np.empty((n, points.shape[1]), dtype=points.dtype)
    row_idx = np.empty(n, dtype=idx.dtype)
    select.permute_rows(points, idx, lo, order, n, rows, row_idx)
    np.testing.assert_array_equal(points, expected_points)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(points, data[idx])


@settings(max_examples=50, deadline=None)
@given(case=cases(max_rows=300))
def test_copy_rows(case):
    data, points, idx, start, end, _, _ = case
    expected_points = points.copy()
    expected_idx = idx.copy()
    expected_points[start:end] = data[start:end]
    expected_idx[start:end] = np.arange(start, end)
    select.copy_rows(data, points, idx, start, end)
    np.testing.assert_array_equal(points, expected_points)
    np.testing.assert_array_equal(idx, expected_idx)
