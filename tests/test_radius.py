"""Radius queries (list, CSR and count forms) against brute force and scipy."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

import kdforge
import kdforge._search
import reference
from test_knn import P_VALUES, point_sets, tree_options


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets(max_n=300, max_d=8), tree_options, st.sampled_from(P_VALUES),
       st.sampled_from([0.0, 0.05, 0.3, 1.0, 2.0]))
def test_radius_matches_brute_force(points, options, p, r):
    data, queries = points
    tree = kdforge.KDTree(data, **options)
    expected = reference.radius(data, queries, r, p)
    ind = tree.query_radius(queries, r, p=p)
    assert [np.sort(a).tolist() for a in ind] == [e.tolist() for e in expected]
    counts = tree.query_radius(queries, r, p=p, count_only=True)
    assert counts.tolist() == [e.size for e in expected]
    ind_s, dist_s = tree.query_radius(queries, r, p=p, return_distance=True, sort_results=True)
    true = reference.to_distance(reference.reduced_distances(data, queries, p), p)
    for i, (a, dd) in enumerate(zip(ind_s, dist_s)):
        assert sorted(a.tolist()) == expected[i].tolist()
        assert np.all(np.diff(dd) >= 0)
        np.testing.assert_allclose(dd, true[i, a], rtol=1e-5)


@settings(max_examples=40, deadline=None)
@given(point_sets(max_n=200, max_d=4), st.sampled_from(P_VALUES))
def test_radius_per_query_and_csr_form(points, p):
    data, queries = points
    tree = kdforge.KDTree(data, leaf_size=4)
    radii = np.linspace(0.0, 1.0, queries.shape[0])
    csr = tree.query_radius_csr(queries, radii, p=p, return_distance=True)
    expected = reference.radius(data, queries, radii, p)
    assert csr.indptr[0] == 0 and csr.indptr[-1] == csr.indices.size == csr.distances.size
    assert csr.counts.tolist() == [e.size for e in expected]
    ind, dist = csr.to_lists()
    for a, dd, e in zip(ind, dist, expected):
        assert np.sort(a).tolist() == e.tolist()
        assert dd.shape == a.shape


def test_single_query_point_returns_arrays():
    data = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    tree = kdforge.KDTree(data)
    ind, dist = tree.query_radius([0.0, 0.0], 1.0, return_distance=True, sort_results=True)
    assert ind.tolist() == [0, 1] and dist.tolist() == [0.0, 1.0]
    assert tree.query_radius([0.0, 0.0], 1.0, count_only=True) == 2


def test_against_scipy_with_threads():
    rng = np.random.default_rng(11)
    data = rng.random((50000, 3))
    queries = rng.random((2000, 3))
    tree = kdforge.KDTree(data)
    ind = tree.query_radius(queries, 0.03, workers=-1)
    ref = cKDTree(data).query_ball_point(queries, 0.03)
    assert all(np.sort(a).tolist() == sorted(b) for a, b in zip(ind, ref))


def test_infinite_radius_returns_everything():
    data = np.random.default_rng(2).random((50, 2))
    assert kdforge.KDTree(data).query_radius(data[:3], np.inf, count_only=True).tolist() == [50] * 3


def test_locality_ordering_gives_the_same_results(monkeypatch):
    rng = np.random.default_rng(12)
    data = rng.random((3000, 3))
    queries = rng.random((500, 3))
    tree = kdforge.KDTree(data, leaf_size=8)
    plain_knn = tree.query(queries, k=7)
    plain_csr = tree.query_radius_csr(queries, 0.08, return_distance=True, sort_results=True)
    monkeypatch.setattr(kdforge._search, "LOCALITY_MIN_QUERIES", 1)
    monkeypatch.setattr(kdforge._search, "LOCALITY_MIN_BYTES", 1)
    assert kdforge._search.query_order(tree.record, queries)[1]
    for workers in (1, 3):
        ordered_knn = tree.query(queries, k=7, workers=workers)
        np.testing.assert_array_equal(plain_knn[1], ordered_knn[1])
        np.testing.assert_array_equal(plain_knn[0], ordered_knn[0])
        ordered_csr = tree.query_radius_csr(queries, 0.08, return_distance=True,
                                            sort_results=True, workers=workers)
        for a, b in zip(plain_csr, ordered_csr):
            np.testing.assert_array_equal(a, b)
        counts = tree.query_radius(queries, 0.08, count_only=True, workers=workers)
        np.testing.assert_array_equal(counts, plain_csr.counts)
