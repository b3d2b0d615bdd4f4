"""Budgeted best-bin-first search: KDTree.query(max_leaves=...)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdforge
import reference


def recall(found, truth):
    return np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found.tolist(), truth.tolist())])


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(7)
    data = rng.standard_normal((4000, 12))
    queries = rng.standard_normal((150, 12))
    return data, queries, kdforge.KDTree(data, leaf_size=8)


@pytest.mark.parametrize("p", [1, 2, 3, np.inf])
def test_full_budget_equals_exact(cloud, p):
    data, queries, tree = cloud
    exact = tree.query(queries, k=9, p=p)
    budgeted = tree.query(queries, k=9, p=p, max_leaves=tree.n_leaves)
    np.testing.assert_array_equal(budgeted[1], exact[1])
    np.testing.assert_array_equal(budgeted[0], exact[0])


def test_full_budget_root_division(cloud):
    data, queries, _ = cloud
    tree = kdforge.KDTree(data, leaf_size=7, division="root")  # leaves at two depths
    np.testing.assert_array_equal(tree.query(queries, k=4, max_leaves=tree.n_leaves)[1],
                                  tree.query(queries, k=4)[1])


def test_full_budget_float32_ties_and_options():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 5, size=(700, 4)).astype(np.float32)  # many exact ties
    queries = rng.integers(-1, 6, size=(60, 4)).astype(np.float32)
    tree = kdforge.KDTree(data, leaf_size=4)
    ref_dist, ref_idx = reference.knn(data, queries, 12)
    dist, idx = tree.query(queries, k=12, max_leaves=10**9)
    assert dist.dtype == np.float32 and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-6)
    # distance_upper_bound and eps keep their meaning under a budget
    bounded = tree.query(queries, k=12, distance_upper_bound=1.5, max_leaves=10**9)
    np.testing.assert_array_equal(bounded[1], tree.query(queries, k=12, distance_upper_bound=1.5)[1])
    approx, _ = tree.query(queries, k=3, eps=0.5, max_leaves=10**9)
    assert np.all(approx <= 1.5 * ref_dist[:, :3] + 1e-6)


@pytest.mark.parametrize("p", [1, 2, np.inf])
def test_duplicates_keep_the_smaller_index(p):
    # identical points in different leaves: the far cell's bound equals the point distance,
    # and rounding in the incremental bound must not drop the tied point with the smaller index
    rng = np.random.default_rng(11)
    base = rng.random((40, 5))
    data = np.repeat(base, 2, axis=0)
    queries = base + 0.1 * rng.standard_normal((40, 5))
    tree = kdforge.KDTree(data, leaf_size=1)
    np.testing.assert_array_equal(tree.query(queries, k=3, p=p, max_leaves=10**6)[1],
                                  reference.knn(data, queries, 3, p)[1])


def test_budgeted_results_are_real_points(cloud):
    data, queries, tree = cloud
    for budget in (1, 3, 20):
        dist, idx = tree.query(queries, k=7, max_leaves=budget)
        assert idx.min() >= 0 and idx.max() < data.shape[0]
        true = np.sqrt(((data[idx] - queries[:, None, :]) ** 2).sum(axis=2))
        np.testing.assert_allclose(dist, true, rtol=1e-12)
        for row_d, row_i in zip(dist, idx):
            assert len(set(row_i.tolist())) == row_i.size  # no point twice
            keys = list(zip(row_d.tolist(), row_i.tolist()))
            assert keys == sorted(keys)  # sorted by (distance, index)


def test_recall_increases_with_budget(cloud):
    data, queries, tree = cloud
    truth = reference.knn(data, queries, 10)[1]
    recalls = [recall(tree.query(queries, k=10, max_leaves=b)[1], truth) for b in (1, 4, 16, 64, 256)]
    assert all(a <= b + 1e-9 for a, b in zip(recalls, recalls[1:])), recalls
    assert recalls[0] < 0.6 and recalls[-1] > 0.95


def test_deterministic_and_thread_independent(cloud):
    _, queries, tree = cloud
    first = tree.query(queries, k=5, max_leaves=6)
    again = tree.query(queries, k=5, max_leaves=6)
    threaded = tree.query(queries, k=5, max_leaves=6, workers=3)
    for other in (again, threaded):
        np.testing.assert_array_equal(first[0], other[0])
        np.testing.assert_array_equal(first[1], other[1])


def test_padding_shapes_and_return_forms():
    data = np.arange(12.0).reshape(6, 2)
    tree = kdforge.KDTree(data, leaf_size=2)
    dist, idx = tree.query(data, k=8, max_leaves=2)
    assert dist.shape == idx.shape == (6, 8)
    assert np.all(idx[:, 6:] == -1)  # k > n
    assert np.all((idx == -1) == np.isinf(dist))
    d1, i1 = tree.query(data[2], k=2, max_leaves=10)
    assert d1.shape == i1.shape == (2,) and i1[0] == 2
    only_idx = tree.query(data, k=1, max_leaves=1, return_distance=False)
    assert only_idx.shape == (6, 1)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (1.5, TypeError),
                                        (True, TypeError), ("4", TypeError)])
def test_max_leaves_validation(cloud, bad, error):
    _, queries, tree = cloud
    with pytest.raises(error, match="max_leaves"):
        tree.query(queries, k=2, max_leaves=bad)


@st.composite
def small_sets(draw):
    n = draw(st.integers(1, 150))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        data = rng.integers(0, 3, size=(n, d)).astype(np.float64)
    else:
        data = rng.random((n, d))
    queries = rng.random((draw(st.integers(1, 8)), d)) * 3
    return data, queries


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_sets(), st.integers(1, 6), st.integers(1, 40), st.sampled_from([1, 2, np.inf]))
def test_budgeted_search_properties(points, k, budget, p):
    data, queries = points
    tree = kdforge.KDTree(data, leaf_size=3)
    dist, idx = tree.query(queries, k=k, p=p, max_leaves=budget)
    found = idx >= 0
    # at least the first leaf's points, at most k; found ones first; each a real point at
    # its true distance
    count = found.sum(axis=1)
    assert np.all((count >= 1) & (count <= min(k, data.shape[0])))
    assert np.all(found == (np.arange(k) < count[:, None]))
    true = reference.to_distance(reference.reduced_distances(data, queries, p), p)
    rows = np.nonzero(found)
    np.testing.assert_allclose(dist[rows], true[rows[0], idx[rows]], rtol=1e-12)
    if budget >= tree.n_leaves:
        np.testing.assert_array_equal(idx, reference.knn(data, queries, k, p)[1])
