"""kNN queries against brute force and scipy, for every p, dtype, leaf size and split rule."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

import kdforge
import reference

P_VALUES = [1, 2, 3, np.inf]


@st.composite
def point_sets(draw, max_n=300, max_d=20):
    """Data with ties, duplicates, clusters or sorted order, plus queries near it."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(["uniform", "grid", "duplicates", "sorted", "clustered"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        data = rng.random((n, d))
    elif kind == "grid":  # integer coordinates: many exact distance ties
        data = rng.integers(0, 4, size=(n, d)).astype(np.float64)
    elif kind == "duplicates":
        base = rng.random((max(1, n // 5), d))
        data = base[rng.integers(0, base.shape[0], size=n)]
    elif kind == "sorted":
        data = np.sort(rng.random((n, d)), axis=0)
    else:
        centers = rng.random((3, d)) * 10
        data = centers[rng.integers(0, 3, size=n)] + 0.01 * rng.standard_normal((n, d))
    m = draw(st.integers(1, 20))
    if kind == "grid":
        queries = rng.integers(-1, 5, size=(m, d)).astype(np.float64)
    else:
        queries = data[rng.integers(0, n, size=m)] + 0.1 * rng.standard_normal((m, d))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return data.astype(dtype), queries.astype(dtype)


tree_options = st.fixed_dictionaries({
    "leaf_size": st.sampled_from([1, 2, 5, 16, 40]),
    "split": st.sampled_from(["max_spread", "round_robin", "sliding_midpoint"]),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets(), tree_options, st.integers(1, 12), st.sampled_from(P_VALUES))
def test_knn_matches_brute_force(points, options, k, p):
    data, queries = points
    tree = kdforge.KDTree(data, **options)
    dist, idx = tree.query(queries, k=k, p=p)
    ref_dist, ref_idx = reference.knn(data, queries, k, p)
    assert dist.dtype == data.dtype and idx.dtype == np.int64
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5 if data.dtype == np.float32 else 1e-12)
    # exact ties are broken by the smaller index, like a stable scan: same indices
    np.testing.assert_array_equal(idx, ref_idx)


@settings(max_examples=60, deadline=None)
@given(point_sets(max_n=200, max_d=6), st.integers(1, 8), st.sampled_from(P_VALUES),
       st.floats(0.01, 3.0))
def test_eps_guarantee(points, k, p, eps):
    data, queries = points
    tree = kdforge.KDTree(data, leaf_size=4)
    dist, idx = tree.query(queries, k=k, p=p, eps=eps)
    ref_dist, _ = reference.knn(data, queries, k, p)
    assert np.all(dist <= (1 + eps) * ref_dist * (1 + 1e-6) + 1e-9)
    # every returned index is real and its distance is the one reported
    found = idx >= 0
    assert found.sum() == np.isfinite(ref_dist).sum()
    true = reference.to_distance(reference.reduced_distances(data, queries, p), p)
    rows = np.nonzero(found)[0]
    np.testing.assert_allclose(dist[found], true[rows, idx[found]], rtol=1e-5)


@settings(max_examples=60, deadline=None)
@given(point_sets(max_n=200, max_d=5), st.integers(1, 6), st.sampled_from(P_VALUES),
       st.floats(0.01, 2.0))
def test_distance_upper_bound(points, k, p, bound):
    data, queries = points
    tree = kdforge.KDTree(data, leaf_size=3)
    dist, idx = tree.query(queries, k=k, p=p, distance_upper_bound=bound)
    ref_dist, ref_idx = reference.knn(data, queries, k, p, upper_bound=bound)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)
    assert np.all((idx == -1) == np.isinf(dist))


def test_k_larger_than_n_pads_with_minus_one_and_inf():
    data = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    dist, idx = kdforge.KDTree(data).query([0.1, 0.0], k=5)
    assert idx.tolist() == [0, 1, 2, -1, -1]
    np.testing.assert_allclose(dist[:3], [0.1, 0.9, np.hypot(0.1, 2.0)])
    assert np.isinf(dist[3:]).all()


def test_single_point_and_one_dimension():
    tree = kdforge.KDTree([[3.0]])
    dist, idx = tree.query([[1.0], [5.0]], k=2)
    assert idx.tolist() == [[0, -1], [0, -1]]
    assert dist[:, 0].tolist() == [2.0, 2.0]


def test_fewer_points_than_leaf_size():
    data = np.random.default_rng(1).random((7, 3))
    tree = kdforge.KDTree(data, leaf_size=100)
    assert tree.n_nodes == 1
    dist, idx = tree.query(data, k=1)
    assert idx[:, 0].tolist() == list(range(7))


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_scipy(p, dtype):
    rng = np.random.default_rng(7)
    data = rng.standard_normal((5000, 4)).astype(dtype)
    queries = rng.standard_normal((300, 4)).astype(dtype)
    dist, idx = kdforge.KDTree(data).query(queries, k=10, p=p)
    ref_dist, ref_idx = cKDTree(data.astype(np.float64)).query(queries.astype(np.float64), k=10, p=p)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert (idx == ref_idx).mean() > 0.999  # rounding may swap near-equal neighbours


def test_unsorted_results_hold_the_same_neighbours():
    rng = np.random.default_rng(3)
    data = rng.random((2000, 3))
    queries = rng.random((50, 3))
    tree = kdforge.KDTree(data)
    d_sorted, i_sorted = tree.query(queries, k=20)
    d_any, i_any = tree.query(queries, k=20, sort_results=False)
    np.testing.assert_array_equal(np.sort(i_any, axis=1), np.sort(i_sorted, axis=1))
    np.testing.assert_allclose(np.sort(d_any, axis=1), d_sorted)


def test_return_distance_false_and_workers_agree():
    rng = np.random.default_rng(4)
    data = rng.random((20000, 3))
    queries = rng.random((3000, 3))
    tree = kdforge.KDTree(data)
    dist, idx = tree.query(queries, k=4, workers=1)
    idx_parallel = tree.query(queries, k=4, return_distance=False, workers=-1)
    np.testing.assert_array_equal(idx, idx_parallel)


def test_int64_indices_when_above_threshold(monkeypatch):
    monkeypatch.setattr(kdforge.record, "INDEX_INT32_LIMIT", 100)
    rng = np.random.default_rng(5)
    small = kdforge.KDTree(rng.random((100, 2)))
    big = kdforge.KDTree(rng.random((101, 2)))
    assert small.idx_array.dtype == np.int32
    assert big.idx_array.dtype == np.int64
    queries = rng.random((20, 2))
    for tree in (small, big):
        dist, idx = tree.query(queries, k=3)
        ref_dist, ref_idx = reference.knn(tree.data, queries, 3)
        np.testing.assert_array_equal(idx, ref_idx)
        count = tree.query_radius(queries, 0.3, count_only=True)
        assert count.tolist() == [len(r) for r in reference.radius(tree.data, queries, 0.3)]


def test_caller_array_untouched_and_dtype_kept():
    rng = np.random.default_rng(6)
    data32 = rng.random((500, 3)).astype(np.float32)
    before = data32.copy()
    tree = kdforge.KDTree(data32)
    assert tree.dtype == np.float32 and tree.data.dtype == np.float32
    assert np.shares_memory(tree.data, data32)  # no copy of the caller's array beyond tree_data
    np.testing.assert_array_equal(data32, before)
    assert not tree.data.flags.writeable
    ints = kdforge.KDTree(np.arange(12).reshape(6, 2))
    assert ints.dtype == np.float64
