"""Point location and the cell-bound slack of the traversal kernels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kdforge
import naive
from kdforge import record
from kdforge._kernels import traversal

FLOATS = st.sampled_from([np.float32, np.float64])


def hand_made_record(split_dim, split_value, n_dims, dtype):
    """A :class:`~kdforge.record.TreeRecord` with arbitrary splits (no points behind them):
    all that point location reads."""
    n_nodes = split_dim.shape[0]
    index = np.zeros(n_nodes, dtype=np.int32)
    children, parent = record.heap_links(n_nodes, np.int32)
    return record.TreeRecord(
        tree_data=np.zeros((1, n_dims), dtype=dtype), idx_array=np.zeros(1, dtype=np.int32),
        node_start=index, node_end=index.copy(), split_dim=split_dim.astype(np.int32),
        split_value=split_value.astype(dtype), node_bounds=np.zeros((2, n_nodes, n_dims), dtype),
        leaf_size=1, split=record.SPLIT_MAX_SPREAD, division=record.DIVISION_ROOT, n_levels=0,
        node_children=children, node_parent=parent)


def located(tree_record, queries):
    """Leaves of ``queries`` from ``find_leaf_batch``."""
    out = np.full(queries.shape[0], -1, dtype=np.int64)
    traversal.find_leaf_batch(tree_record, queries, out)
    return out


def twin_leaves(tree_record, queries):
    """Leaves of ``queries`` by the Python descent."""
    n_internal = record.n_internal(tree_record)
    return np.array([naive.find_leaf(tree_record.split_dim, tree_record.split_value,
                                     tree_record.node_children.tolist(), n_internal,
                                     q) for q in queries], dtype=np.int64)


@settings(max_examples=150, deadline=None)
@given(n_leaves=st.integers(1, 40), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       dtype=FLOATS, query_dtype=FLOATS)
def test_find_leaf_batch_on_arbitrary_splits(n_leaves, d, seed, dtype, query_dtype):
    """Split values and queries share a small grid, so queries often lie on a split."""
    rng = np.random.default_rng(seed)
    n_nodes = 2 * n_leaves - 1
    split_dim = rng.integers(0, d, size=n_nodes)
    split_value = rng.integers(-3, 4, size=n_nodes) * 0.1
    tree_record = hand_made_record(split_dim, split_value, d, dtype)
    queries = (rng.integers(-4, 5, size=(30, d)) * 0.1).astype(query_dtype)
    np.testing.assert_array_equal(located(tree_record, queries), twin_leaves(tree_record, queries))


def built_record(data, **options):
    """``KDTree(data, **options).record``."""
    return kdforge.KDTree(data, **options).record


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), d=st.integers(1, 4), leaf_size=st.integers(1, 20),
       split_division=st.sampled_from([("max_spread", "median"), ("max_spread", "root"),
                                       ("round_robin", "median"), ("round_robin", "root"),
                                       ("sliding_midpoint", "midpoint")]),
       seed=st.integers(0, 2**32 - 1),
       dtype=FLOATS, integer_valued=st.booleans())
def test_find_leaf_batch_on_built_trees(n, d, leaf_size, split_division, seed, dtype,
                                        integer_valued):
    split, division = split_division
    rng = np.random.default_rng(seed)
    if integer_valued:  # many ties with split values
        data = rng.integers(0, 5, size=(n, d)).astype(dtype)
    else:
        data = rng.normal(size=(n, d)).astype(dtype)
    tree_record = built_record(data, leaf_size=leaf_size, split=split, division=division)
    queries = np.concatenate([data, rng.normal(size=(20, d)).astype(dtype) * 2])
    leaves = located(tree_record, queries)
    np.testing.assert_array_equal(leaves, twin_leaves(tree_record, queries))
    assert np.all(leaves >= record.n_internal(tree_record))
    assert np.all(leaves < record.n_nodes(tree_record))
    if not integer_valued and np.all([np.unique(c).size == n for c in data.T]):
        # distinct coordinates: no point lies on the wrong side of a split it equals, so
        # every data point is found in the leaf that holds it
        rows = np.empty(n, dtype=np.int64)
        rows[tree_record.idx_array] = np.arange(n)
        start = tree_record.node_start[leaves[:n]]
        end = tree_record.node_end[leaves[:n]]
        assert np.all((start <= rows) & (rows < end))


@settings(max_examples=100, deadline=None)
@given(n_levels=st.integers(0, 64), n_dims=st.integers(1, 4000))
def test_bound_slack_is_just_below_one(n_levels, n_dims):
    slack = traversal.bound_slack(n_levels, n_dims)
    assert 1.0 - 1e-12 < slack < 1.0
    assert traversal.bound_slack(n_levels + 1, n_dims) < slack
    assert traversal.bound_slack(n_levels, n_dims + 1) < slack
