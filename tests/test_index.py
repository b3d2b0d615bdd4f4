"""NeighborIndex: tree, brute force and the automatic choice agree with brute force."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from kdforge import KDTree
from kdforge.index import TREE_MIN_CONTRAST, NeighborIndex, choose_algorithm, relative_contrast

METRICS = [("euclidean", None, 2), ("manhattan", None, 1), ("chebyshev", None, np.inf),
           ("minkowski", 3, 3), ("cosine", None, 2)]


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return rng.standard_normal((800, 5)), rng.standard_normal((40, 5))


@pytest.mark.parametrize("metric, p, order", METRICS)
def test_engines_agree_with_brute_force_reference(points, metric, p, order):
    data, queries = points
    if metric == "cosine":
        ref_dist, ref_idx = reference.knn(unit(data), unit(queries), 7)
        ref_dist = 1 - ref_dist**2 / 2  # cosine similarity
    else:
        ref_dist, ref_idx = reference.knn(data, queries, 7, order)
    for algorithm in ("auto", "tree", "brute"):
        index = NeighborIndex(data, algorithm=algorithm, metric=metric, p=p)
        dist, idx = index.query(queries, k=7)
        np.testing.assert_array_equal(idx, ref_idx, err_msg=f"{algorithm} {metric}")
        np.testing.assert_allclose(dist, ref_dist, rtol=1e-9, atol=1e-12, err_msg=f"{algorithm} {metric}")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 60), st.integers(1, 6), st.integers(1, 8), st.sampled_from(METRICS[:4]),
       st.integers(0, 2**32 - 1))
def test_tree_and_brute_identical_with_ties(n, d, k, metric, seed):
    name, p, _ = metric
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 3, size=(n, d)).astype(np.float64)  # ties everywhere
    queries = rng.integers(-1, 4, size=(5, d)).astype(np.float64)
    tree = NeighborIndex(data, algorithm="tree", metric=name, p=p).query(queries, k=k)
    scan = NeighborIndex(data, algorithm="brute", metric=name, p=p).query(queries, k=k)
    np.testing.assert_array_equal(tree[1], scan[1])
    np.testing.assert_allclose(tree[0], scan[0], rtol=1e-12)


def test_auto_follows_the_documented_rule():
    rng = np.random.default_rng(1)
    low = NeighborIndex(rng.random((5000, 3)))
    assert low.contrast > 5
    assert low.algorithm_for(1) == "tree" and low.algorithm_for(100) == "tree"
    high = NeighborIndex(rng.random((5000, 32)))
    assert high.contrast < 2
    assert high.algorithm_for(10) == "brute"
    assert NeighborIndex(rng.random((5000, 32)), metric="manhattan").algorithm_for(10) == "tree"
    # a 2-D sheet or tight clusters in 32 dimensions: contrast, not dimension, decides
    sheet = rng.random((5000, 2)) @ rng.standard_normal((2, 32))
    assert NeighborIndex(sheet).algorithm_for(10) == "tree"
    blobs = rng.random((20, 32))[rng.integers(0, 20, 5000)] + 0.01 * rng.standard_normal((5000, 32))
    assert NeighborIndex(blobs).algorithm_for(10) == "tree"
    # the index asks choose_algorithm with its own figures
    for index in (low, high):
        for k in (1, 16, 100):
            assert index.algorithm_for(k) == choose_algorithm(index.n_points, k, 2.0, index.contrast)
    # forced engines are never overridden
    assert NeighborIndex(rng.random((100, 32)), algorithm="tree").algorithm_for(5) == "tree"
    assert NeighborIndex(rng.random((100, 2)), algorithm="brute").algorithm_for(5) == "brute"


def test_choose_algorithm_thresholds():
    for family, bands in TREE_MIN_CONTRAST.items():
        p = 2.0 if family == "euclidean" else 1.0
        for smallest_n, largest_k, threshold in bands:
            k = largest_k or 1000
            assert choose_algorithm(smallest_n, k, p, threshold) == "tree"
            assert choose_algorithm(smallest_n, k, p, threshold - 0.01) == "brute"
            assert choose_algorithm(smallest_n, k, p, np.inf) == "tree"
    # GloVe-like contrast goes to brute force at every size; more points favour the tree
    assert all(choose_algorithm(n, 10, 2.0, 1.6) == "brute" for n in (10**3, 10**5, 10**7))
    assert choose_algorithm(10**4, 10, 2.0, 2.5) == "brute"
    assert choose_algorithm(10**6, 10, 2.0, 2.5) == "tree"


def test_tree_built_only_when_used():
    rng = np.random.default_rng(2)
    index = NeighborIndex(rng.random((3000, 40)))
    assert index.algorithm_for(5) == "brute"
    index.query(rng.random((3, 40)), k=5)
    assert index.tree is None
    low = NeighborIndex(rng.random((3000, 2)))
    assert low.tree is None
    low.query(rng.random((3, 2)), k=5)
    assert isinstance(low.tree, KDTree)


def test_cosine_reports_similarity(points):
    data, queries = points
    sim, idx = NeighborIndex(data[:5], metric="cosine").query(queries[:3], k=7)
    assert np.all(idx[:, 5:] == -1) and np.all(sim[:, 5:] == -np.inf)
    assert np.all(np.diff(sim[:, :5], axis=1) <= 0) and np.all(np.abs(sim[:, :5]) <= 1)
    expected = unit(queries[:3]) @ unit(data[:5]).T
    np.testing.assert_allclose(sim[:, :5], np.take_along_axis(expected, idx[:, :5], axis=1), atol=1e-12)


def test_shapes_padding_and_options(points):
    data, queries = points
    index = NeighborIndex(data[:4], algorithm="brute")
    dist, idx = index.query(queries[0], k=6)
    assert dist.shape == idx.shape == (6,)
    assert idx[4:].tolist() == [-1, -1] and np.isinf(dist[4:]).all()
    tree_idx = NeighborIndex(data[:4], algorithm="tree").query(queries[0], k=6, return_distance=False)
    np.testing.assert_array_equal(tree_idx, idx)
    assert NeighborIndex(data.astype(np.float32)).query(queries, k=2)[0].dtype == np.float32
    assert "NeighborIndex" in repr(index) and index.n_points == 4 and index.n_dims == 5


def test_relative_contrast():
    rng = np.random.default_rng(4)
    uniform_8, uniform_64 = relative_contrast(rng.random((4000, 8))), relative_contrast(rng.random((4000, 64)))
    assert 2.8 < uniform_8 < 3.8 and 1.2 < uniform_64 < 1.45
    data = rng.random((3000, 8))
    assert relative_contrast(data) == relative_contrast(data)  # deterministic
    assert relative_contrast(np.repeat(data[:500], 4, axis=0)) > 1e6  # duplicates: trivially easy
    assert relative_contrast(data[:2]) == np.inf


def test_validation():
    data = np.random.default_rng(5).random((30, 3))
    with pytest.raises(ValueError, match="algorithm"):
        NeighborIndex(data, algorithm="ball_tree")
    with pytest.raises(ValueError, match="metric"):
        NeighborIndex(data, metric="jaccard")
    with pytest.raises(TypeError, match="metric"):
        NeighborIndex(data, metric=2)
    with pytest.raises(ValueError, match="contradicts"):
        NeighborIndex(data, metric="euclidean", p=1)
    with pytest.raises(ValueError, match="zero vector"):
        NeighborIndex(np.vstack([data, np.zeros(3)]), metric="cosine")
    with pytest.raises(ValueError, match="zero vector"):
        NeighborIndex(data, metric="cosine").query(np.zeros((2, 3)), k=1)
    with pytest.raises(ValueError, match="k must be"):
        NeighborIndex(data).query(data, k=0)
