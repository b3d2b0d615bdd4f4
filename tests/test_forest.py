"""Randomized KD-forest: exact with a full budget, deterministic, validated."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from kdforge.forest import KDForest

FULL = 10**9  # a budget above every leaf of every tree


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((8, 10)) * 4
    data = centres[rng.integers(0, 8, 3000)] + rng.standard_normal((3000, 10))
    queries = centres[rng.integers(0, 8, 80)] + rng.standard_normal((80, 10))
    return data, queries


@pytest.mark.parametrize("rotation", ["random", "pca", None])
def test_full_budget_equals_brute_force(cloud, rotation):
    data, queries = cloud
    forest = KDForest(data, n_trees=3, leaf_size=16, rotation=rotation, random_state=0)
    dist, idx = forest.query(queries, k=8, max_leaves=FULL)
    ref_dist, ref_idx = reference.knn(data, queries, 8)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)


@pytest.mark.parametrize("metric, p", [("manhattan", 1), ("chebyshev", np.inf), ("minkowski", 3)])
def test_full_budget_other_metrics(cloud, metric, p):
    data, queries = cloud
    forest = KDForest(data, n_trees=2, metric=metric, p=p if metric == "minkowski" else None,
                      rotation=None, random_state=1)
    dist, idx = forest.query(queries, k=5, max_leaves=FULL)
    ref_dist, ref_idx = reference.knn(data, queries, 5, p)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-9)


def test_duplicates_keep_the_smaller_index():
    rng = np.random.default_rng(12)
    base = rng.random((40, 5))
    data = np.repeat(base, 2, axis=0)
    queries = base + 0.1 * rng.standard_normal((40, 5))
    for rotation in ("random", None):
        forest = KDForest(data, n_trees=2, leaf_size=1, rotation=rotation, random_state=0)
        np.testing.assert_array_equal(forest.query(queries, k=3, max_leaves=FULL)[1],
                                      reference.knn(data, queries, 3)[1])


def test_cosine_float32(cloud):
    data, queries = (a.astype(np.float32) for a in cloud)
    forest = KDForest(data, n_trees=4, metric="cosine", random_state=2)
    dist, idx = forest.query(queries, k=6, max_leaves=FULL)
    ref_dist, ref_idx = reference.knn(unit(data).astype(np.float32), unit(queries).astype(np.float32), 6)
    np.testing.assert_array_equal(idx, ref_idx)
    assert dist.dtype == np.float32
    np.testing.assert_allclose(dist, 1 - ref_dist**2 / 2, rtol=1e-5, atol=1e-6)  # cosine similarity


def test_budgeted_results_are_real_points_and_improve(cloud):
    data, queries = cloud
    forest = KDForest(data, n_trees=4, leaf_size=16, random_state=0)
    truth = reference.knn(data, queries, 10)[1]
    recalls = []
    for budget in (1, 8, 64):
        dist, idx = forest.query(queries, k=10, max_leaves=budget)
        found = idx >= 0
        rows, cols = np.nonzero(found)
        true = np.sqrt(((data[idx[rows, cols]] - queries[rows]) ** 2).sum(axis=1))
        np.testing.assert_allclose(dist[rows, cols], true, rtol=1e-12)
        assert all(len(set(r[r >= 0].tolist())) == int((r >= 0).sum()) for r in idx)  # deduplicated
        recalls.append(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx.tolist(), truth.tolist())]))
    assert recalls[0] < recalls[1] < recalls[2] and recalls[2] > 0.8, recalls


def test_deterministic_given_random_state(cloud):
    data, queries = cloud
    one = KDForest(data, n_trees=3, random_state=11).query(queries, k=5, max_leaves=10, workers=2)
    two = KDForest(data, n_trees=3, random_state=11).query(queries, k=5, max_leaves=10)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], two[0])
    generator = KDForest(data, n_trees=3, random_state=np.random.default_rng(11))
    np.testing.assert_array_equal(generator.query(queries, k=5, max_leaves=10)[1], one[1])


def test_shapes_padding_and_repr():
    data = np.arange(10.0).reshape(5, 2)
    forest = KDForest(data, n_trees=2, leaf_size=2, random_state=0)
    dist, idx = forest.query(data[0], k=7, max_leaves=FULL)
    assert dist.shape == idx.shape == (7,)
    assert idx.tolist() == [0, 1, 2, 3, 4, -1, -1] and np.isinf(dist[5:]).all()
    assert forest.query(data, k=1, return_distance=False).shape == (5, 1)
    assert forest.n_trees == 2 and forest.n_points == 5 and forest.n_dims == 2 and forest.nbytes > 0
    assert "KDForest" in repr(forest)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n_trees=0), ValueError, "n_trees"),
    (dict(n_trees=2.5), TypeError, "n_trees"),
    (dict(rotation="spin"), ValueError, "rotation"),
    (dict(metric="manhattan"), ValueError, "rotation"),  # rotations are Euclidean only
    (dict(metric="hamming"), ValueError, "metric"),
    (dict(metric="minkowski"), ValueError, "needs p"),
    (dict(split_jitter=-1), ValueError, "split_jitter"),
    (dict(leaf_size=0), ValueError, "leaf_size"),
])
def test_constructor_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        KDForest(np.random.default_rng(0).random((50, 3)), **kwargs)


def test_query_validation_and_zero_vectors():
    data = np.random.default_rng(0).random((60, 3))
    forest = KDForest(data, n_trees=2, metric="cosine", random_state=0)
    with pytest.raises(ValueError, match="max_leaves"):
        forest.query(data[:2], k=1, max_leaves=0)
    with pytest.raises(ValueError, match="zero vector"):
        forest.query(np.zeros(3), k=1)
    with pytest.raises(ValueError, match="zero vector"):
        KDForest(np.vstack([data, np.zeros((1, 3))]), metric="cosine")
    with pytest.raises(ValueError, match="dimension"):
        forest.query(np.ones(4), k=1)


@st.composite
def point_sets(draw):
    n = draw(st.integers(1, 120))
    d = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # integer grid: exact ties and duplicates
        data = rng.integers(0, 3, size=(n, d)).astype(np.float64)
        queries = rng.integers(-1, 4, size=(draw(st.integers(1, 6)), d)).astype(np.float64)
    else:
        data = rng.standard_normal((n, d)) * 10.0 ** draw(st.integers(-3, 3))
        queries = data[rng.integers(0, n, 4)] + rng.standard_normal((4, d)) * np.abs(data).max()
    return data, queries


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets(), st.integers(1, 5), st.sampled_from(["random", "pca", None]), st.integers(0, 99))
def test_full_budget_is_exact_property(points, k, rotation, seed):
    data, queries = points
    forest = KDForest(data, n_trees=2, leaf_size=3, rotation=rotation, random_state=seed)
    idx = forest.query(queries, k=k, max_leaves=FULL)[1]
    np.testing.assert_array_equal(idx, reference.knn(data, queries, k)[1])


@pytest.mark.parametrize("rotation", ["random", "pca", None])
def test_flat_rotated_axes_and_far_queries_stay_exact(rotation):
    # rotated duplicates span a line: the other scan axes have a range of rounding noise,
    # whose code scale must not shrink with it (a far query then lost every point)
    data = np.array([[2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 2.0]])
    queries = np.array([[2.0, 3.0, 2.0, 2.0], [1e8, -1e8, 0.0, 3.0]])
    forest = KDForest(data, n_trees=2, leaf_size=3, rotation=rotation, random_state=0)
    dist, idx = forest.query(queries, k=3, max_leaves=FULL)
    ref_dist, ref_idx = reference.knn(data, queries, 3)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)
