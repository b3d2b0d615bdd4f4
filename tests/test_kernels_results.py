"""Result assembly: the CSR builder, the row sorter and growable buffers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge._kernels import results


@st.composite
def segments(draw):
    """Segments in processing order: a row each (rows repeat, some never appear), a length
    (maybe zero) and the values one after the other."""
    n_rows = draw(st.integers(0, 8))
    n_segments = draw(st.integers(0, 15)) if n_rows else 0
    rows = draw(st.lists(st.integers(0, max(n_rows - 1, 0)), min_size=n_segments,
                         max_size=n_segments))
    counts = draw(st.lists(st.integers(0, 6), min_size=n_segments, max_size=n_segments))
    dtype = draw(st.sampled_from([np.int64, np.float64]))
    values = np.arange(sum(counts), dtype=dtype) * 3 - 7  # distinct, so order is visible
    return (np.array(rows, dtype=np.int64), np.array(counts, dtype=np.int64), values, n_rows)


@settings(max_examples=200, deadline=None)
@given(case=segments())
def test_segment_placement_matches_the_twin(case):
    """``segment_indptr`` + ``place_segments`` over the chunks of a batch, in any cut."""
    rows, counts, values, n_rows = case
    indptr = results.segment_indptr(rows, counts, n_rows)
    out = np.empty(values.shape[0], dtype=values.dtype)
    fill = indptr[:-1].copy()
    cut = rows.shape[0] // 2  # two chunks: segments [0, cut) and [cut, end)
    middle = int(counts[:cut].sum())
    results.place_segments(rows[:cut], counts[:cut], values[:middle], fill, out)
    results.place_segments(rows[cut:], counts[cut:], values[middle:], fill, out)
    expected_indptr, expected = naive.group_segments(rows, counts, values, n_rows)
    np.testing.assert_array_equal(indptr, expected_indptr)
    np.testing.assert_array_equal(fill, expected_indptr[1:])
    np.testing.assert_array_equal(out, expected)


@st.composite
def csr_rows(draw):
    """CSR rows of (index, distance) pairs with tied distances and shuffled indices."""
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=8))
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    indices = np.concatenate([rng.permutation(50)[:n] for n in lengths]).astype(np.int64)
    distances = rng.choice([0.0, 0.5, 1.0, 2.5, np.inf], size=indices.shape[0])
    first = draw(st.integers(0, len(lengths)))
    last = draw(st.integers(first, len(lengths)))
    return indptr, indices, distances, first, last


@settings(max_examples=200, deadline=None)
@given(case=csr_rows(), by_distance=st.booleans())
def test_sort_rows_matches_sorted(case, by_distance):
    indptr, indices, distances, first, last = case
    expected_idx = indices.copy()
    expected_dist = distances.copy()
    for row in range(first, last):
        part = slice(indptr[row], indptr[row + 1])
        ids, dists = naive.sorted_row(indices[part], distances[part], by_distance)
        expected_idx[part] = ids
        if by_distance:
            expected_dist[part] = dists
    passed = distances if by_distance else np.empty(0)
    results.sort_rows(indptr, indices, passed, by_distance, first, last)
    np.testing.assert_array_equal(indices, expected_idx)
    np.testing.assert_array_equal(distances, expected_dist)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 40), needed=st.integers(0, 100),
       dtype=st.sampled_from([np.int64, np.float64, np.int32]))
def test_grow(size, needed, dtype):
    buffer = np.arange(size, dtype=dtype) + 1
    grown = results.grow(buffer, needed)
    assert grown.dtype == buffer.dtype
    if needed <= size:
        assert grown.shape == buffer.shape
        if size:  # the very same buffer: a write shows through
            grown[-1] = 99
            assert buffer[-1] == 99
    else:
        assert grown.shape == (max(needed, 2 * size),)
        assert not np.shares_memory(grown, buffer)
        np.testing.assert_array_equal(grown[:size], buffer)
