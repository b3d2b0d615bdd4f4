"""kdforge.sklearn against scikit-learn itself: KDTree, the graph transformers, pipelines."""

import pickle

import numpy as np
import pytest
import scipy.integrate
import scipy.special
import sklearn.neighbors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN
from sklearn.manifold import Isomap
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import kdforge.sklearn as ksk

SETTINGS = dict(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METRICS = [("euclidean", {}), ("l2", {}), ("minkowski", {"p": 3}), ("p", {"p": 1.5}),
           ("manhattan", {}), ("cityblock", {}), ("l1", {}), ("chebyshev", {}), ("infinity", {})]
KERNELS = ["gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"]


@st.composite
def point_sets(draw, max_n=150, max_d=4):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["uniform", "grid", "duplicates"]))
    if kind == "uniform":
        data = rng.random((n, d))
    elif kind == "grid":
        data = rng.integers(0, 4, (n, d)).astype(np.float64)
    else:
        data = np.repeat(rng.random((max(1, n // 3), d)), 3, axis=0)[:n]
    return data, rng.random((6, d)) * (3 if kind == "grid" else 1)


@settings(**SETTINGS)
@given(point_sets(), st.sampled_from(METRICS), st.integers(1, 8), st.sampled_from([1, 5, 40]))
def test_query_and_query_radius_match_sklearn(points, metric, k, leaf_size):
    data, queries = points
    name, kwargs = metric
    ours = ksk.KDTree(data, leaf_size, name, **kwargs)
    theirs = sklearn.neighbors.KDTree(data, leaf_size, name, **kwargs)
    k = min(k, data.shape[0])
    d1, i1 = ours.query(queries, k)
    d2, i2 = theirs.query(queries, k)
    assert i1.dtype == i2.dtype and d1.shape == d2.shape
    np.testing.assert_allclose(d1, d2, rtol=1e-10, atol=1e-12)
    assert np.array_equal(ours.query(queries, k, return_distance=False).shape, i2.shape)
    for r in [0.0, 0.3, 1.1]:
        got = ours.query_radius(queries, r)
        want = theirs.query_radius(queries, r)
        assert [sorted(a.tolist()) for a in got] == [sorted(a.tolist()) for a in want]
        assert got[0].dtype == want[0].dtype
        assert np.array_equal(ours.query_radius(queries, r, count_only=True),
                              theirs.query_radius(queries, r, count_only=True))
        ind, dist = ours.query_radius(queries, r, return_distance=True, sort_results=True)
        ind2, dist2 = theirs.query_radius(queries, r, return_distance=True, sort_results=True)
        for a, b in zip(dist, dist2):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        radii = np.linspace(0.1, r + 0.1, queries.shape[0])
        assert np.array_equal(ours.query_radius(queries, radii, count_only=True),
                              theirs.query_radius(queries, radii, count_only=True))
    assert np.array_equal(ours.two_point_correlation(queries, [0.1, 0.5, 1.0]),
                          theirs.two_point_correlation(queries, [0.1, 0.5, 1.0]))


def radial_integral(kernel, d, h):
    """Integral of the kernel over R^d: sphere surface times the radial integral (quad)."""
    profile = {"gaussian": lambda u: np.exp(-0.5 * u * u), "exponential": lambda u: np.exp(-u),
               "tophat": lambda u: 1.0, "epanechnikov": lambda u: 1 - u * u,
               "linear": lambda u: 1 - u, "cosine": lambda u: np.cos(0.5 * np.pi * u)}[kernel]
    upper = np.inf if kernel in ("gaussian", "exponential") else 1.0
    radial, _ = scipy.integrate.quad(lambda u: u ** (d - 1) * profile(u), 0, upper)
    surface = 2 * np.pi ** (d / 2) / scipy.special.gamma(d / 2)
    return surface * radial * h ** d


def brute_density(data, queries, h, kernel, weights, p):
    """norm * sum_j w_j K(d_j) by brute force; the norm from a numerical radial integral."""
    diff = np.abs(queries[:, None] - data[None])
    d = diff.max(axis=2) if np.isinf(p) else (diff ** p).sum(axis=2) ** (1.0 / p)
    u = d / h
    inside = u < 1
    values = {"gaussian": np.exp(-0.5 * u * u), "exponential": np.exp(-u),
              "tophat": inside * 1.0, "epanechnikov": inside * (1 - u * u),
              "linear": inside * (1 - u), "cosine": inside * np.cos(0.5 * np.pi * np.minimum(u, 1))}[kernel]
    norm = 1.0 / radial_integral(kernel, data.shape[1], h)
    w = np.ones(data.shape[0]) if weights is None else weights
    return norm * (values * w).sum(axis=1)


@settings(**SETTINGS)
@given(point_sets(max_n=200), st.sampled_from(KERNELS), st.sampled_from([0.05, 0.3, 2.0]),
       st.booleans(), st.sampled_from(["euclidean", "manhattan", "chebyshev"]))
def test_kernel_density_matches_sklearn(points, kernel, h, weighted, metric):
    data, queries = points
    weights = np.random.default_rng(0).random(data.shape[0]) + 0.1 if weighted else None
    ours = ksk.KDTree(data, metric=metric, sample_weight=weights)
    theirs = sklearn.neighbors.KDTree(data, metric=metric, sample_weight=weights)
    exact = brute_density(data, queries, h, kernel, weights, ours.p)
    np.testing.assert_allclose(ours.kernel_density(queries, h, kernel=kernel, rtol=1e-12), exact,
                               rtol=1e-9, atol=1e-300)
    for atol, rtol in [(0.0, 1e-3), (1e-3, 0.0), (0.5, 0.1)]:
        got = ours.kernel_density(queries, h, kernel=kernel, atol=atol, rtol=rtol)
        assert np.all(np.abs(got - exact) <= atol + rtol * exact + 1e-12 * exact)
    log = ours.kernel_density(queries, h, kernel=kernel, return_log=True, rtol=1e-12)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(log, np.log(exact), rtol=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_kernel_density_equals_sklearn_on_random_data(kernel, d):
    rng = np.random.default_rng(d)
    data, queries = rng.random((400, d)), rng.random((30, d))
    got = ksk.KDTree(data).kernel_density(queries, 0.3, kernel=kernel, rtol=1e-12)
    want = sklearn.neighbors.KDTree(data).kernel_density(queries, 0.3, kernel=kernel, rtol=1e-12)
    if kernel == "cosine" and d % 2 == 0:
        # scikit-learn's cosine norm is wrong in even dimensions; ours integrates to 1
        ratio = got / want
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
        np.testing.assert_allclose(got, brute_density(data, queries, 0.3, kernel, None, 2.0),
                                   rtol=1e-9)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-8)


def test_arrays_stats_and_attributes():
    data = np.random.default_rng(1).random((300, 3))
    ours, theirs = ksk.KDTree(data), sklearn.neighbors.KDTree(data)
    got, want = ours.get_arrays(), theirs.get_arrays()
    assert np.array_equal(got[0], want[0])
    assert got[1].dtype == want[1].dtype and np.array_equal(np.sort(got[1]), np.arange(300))
    assert got[2].dtype == want[2].dtype and got[3].shape[0] == 2 and got[3].shape[2] == 3
    for row in got[2]:
        members = got[0][got[1][row["idx_start"]:row["idx_end"]]]
        assert members.shape[0] > 0
    assert ksk.KDTree.valid_metrics == sklearn.neighbors.KDTree.valid_metrics
    n_trims, n_leaves, n_splits = ours.get_tree_stats()
    assert n_leaves == n_splits + 1
    ours.query(data[:3])
    ours.query_radius(data[:3], 0.1)
    assert ours.get_n_calls() == 2
    ours.reset_n_calls()
    assert ours.get_n_calls() == 0
    clone = pickle.loads(pickle.dumps(ours))
    assert np.array_equal(clone.query(data[:5], 3)[1], ours.query(data[:5], 3)[1])


def test_float32_kept_and_workers():
    data = np.random.default_rng(2).random((500, 3)).astype(np.float32)
    tree = ksk.KDTree(data)
    d, i = tree.query(data[:10], 4)
    assert d.dtype == np.float32 and tree.data.dtype == np.float32
    d2, i2 = tree.query(data[:10], 4, workers=2)
    assert np.array_equal(d, d2) and np.array_equal(i, i2)
    dens = tree.kernel_density(data[:10], 0.1, workers=2)
    np.testing.assert_allclose(dens, sklearn.neighbors.KDTree(data).kernel_density(data[:10], 0.1),
                               rtol=1e-5)


def test_periodic_knn_extension():
    rng = np.random.default_rng(3)
    data = rng.random((400, 2))
    queries = rng.random((30, 2))
    tree = ksk.KDTree(data, boxsize=1.0)
    dist, ind = tree.query(queries, 5)
    diff = np.abs(queries[:, None] - data[None])
    full = np.sqrt((np.minimum(diff, 1 - diff) ** 2).sum(axis=2))
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :5], rtol=1e-12)
    counts = tree.query_radius(queries, 0.2, count_only=True)
    assert np.array_equal(counts, (full <= 0.2).sum(axis=1))


@pytest.mark.parametrize("call", [
    lambda T: T(np.random.rand(9, 2), metric="foo"),
    lambda T: T(np.random.rand(9, 2), leaf_size=0),
    lambda T: T(np.empty((0, 2))),
    lambda T: T([[np.nan, 1.0]]),
    lambda T: T(np.random.rand(9)),
    lambda T: T(np.random.rand(9, 2)).query(np.random.rand(2), k=1),
    lambda T: T(np.random.rand(9, 2)).query(np.random.rand(2, 2), k=10),
    lambda T: T(np.random.rand(9, 2)).query(np.random.rand(2, 3), k=1),
    lambda T: T(np.random.rand(9, 2)).query_radius(np.random.rand(2, 2), 0.2, count_only=True,
                                                   return_distance=True),
    lambda T: T(np.random.rand(9, 2)).query_radius(np.random.rand(2, 2), 0.2, sort_results=True),
    lambda T: T(np.random.rand(9, 2)).kernel_density(np.random.rand(2, 2), 0.1, kernel="x"),
])
def test_bad_input_raises_the_same_exception_class(call):
    with pytest.raises(Exception) as theirs:
        call(sklearn.neighbors.KDTree)
    with pytest.raises(theirs.type):
        call(ksk.KDTree)


@pytest.mark.parametrize("estimator", [ksk.KDTreeTransformer(), ksk.KDTreeRadiusTransformer()])
def test_transformers_pass_check_estimator(estimator):
    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert failed == []


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
def test_transformers_match_sklearn(mode):
    X = np.random.default_rng(4).random((200, 3))
    ours = ksk.KDTreeTransformer(mode=mode, n_neighbors=6).fit_transform(X)
    theirs = sklearn.neighbors.KNeighborsTransformer(mode=mode, n_neighbors=6).fit_transform(X)
    np.testing.assert_allclose(ours.toarray(), theirs.toarray())
    ours = ksk.KDTreeRadiusTransformer(mode=mode, radius=0.2).fit_transform(X)
    theirs = sklearn.neighbors.RadiusNeighborsTransformer(mode=mode, radius=0.2).fit_transform(X)
    np.testing.assert_allclose(ours.toarray(), theirs.toarray())


def test_pipelines_before_isomap_and_dbscan():
    X = np.random.default_rng(5).random((300, 3))
    ours = make_pipeline(ksk.KDTreeTransformer(n_neighbors=10),
                         Isomap(n_neighbors=10, metric="precomputed", n_components=2))
    theirs = make_pipeline(sklearn.neighbors.KNeighborsTransformer(n_neighbors=10),
                           Isomap(n_neighbors=10, metric="precomputed", n_components=2))
    np.testing.assert_allclose(np.abs(ours.fit_transform(X)), np.abs(theirs.fit_transform(X)),
                               rtol=1e-6, atol=1e-8)
    labels = make_pipeline(ksk.KDTreeRadiusTransformer(radius=0.1),
                           DBSCAN(eps=0.1, metric="precomputed")).fit(X)[-1].labels_
    assert np.array_equal(labels, DBSCAN(eps=0.1).fit(X).labels_)


def test_kdtree32_and_kdtree64_store_their_dtype():
    data = np.random.default_rng(6).random((100, 3))
    assert issubclass(ksk.KDTree, ksk.KDTree64)
    assert ksk.KDTree64(data.astype(np.float32)).data.dtype == np.float64
    tree32 = ksk.KDTree32(data)
    assert tree32.data.dtype == np.float32
    assert tree32.query(data[:4], 2)[0].dtype == np.float32
    assert tree32.kernel_density(data[:4], 0.2).dtype == np.float32


def test_periodic_radius_distances_extension():
    rng = np.random.default_rng(7)
    data = rng.random((300, 2)) * [1.0, 2.0]
    queries = rng.random((20, 2)) * [1.0, 2.0]
    tree = ksk.KDTree(data, boxsize=[1.0, 0.0])  # x periodic, y not
    ind, dist = tree.query_radius(queries, 0.3, return_distance=True, sort_results=True)
    diff = np.abs(queries[:, None] - data[None])
    diff[..., 0] = np.minimum(diff[..., 0], 1.0 - diff[..., 0])
    full = np.sqrt((diff ** 2).sum(axis=2))
    for row, (a, d) in enumerate(zip(ind, dist)):
        assert sorted(a.tolist()) == np.flatnonzero(full[row] <= 0.3).tolist()
        np.testing.assert_allclose(d, full[row, a], rtol=1e-12)
        assert np.all(np.diff(d) >= 0)
    with pytest.raises(ValueError):
        ksk.KDTree(data, boxsize=1.0)  # y values beyond the box
