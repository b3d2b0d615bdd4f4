"""The Euclidean engines of kdforge.brute agree with each other and with a float64 scan.

Few dimensions take the direct blocked scan, more the BLAS filter; both must return what
the direct float64 scan (``p = 3`` kernel's arithmetic for ``p = 2``) returns, to the last
bit: same neighbours, same ties by index, same distances. Each case runs on both engines
(forced with ``DIRECT_MAX_DIMS``) and with blocks that do not divide the data.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdforge import brute

DTYPES = [np.float32, np.float64]
ENGINES = ["direct", "blas"]


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """Force one Euclidean engine; small direct blocks so that blocks end mid-data."""
    monkeypatch.setattr(brute, "DIRECT_MAX_DIMS", 10**6 if request.param == "direct" else 0)
    monkeypatch.setattr(brute, "DIRECT_BLOCK", 37)
    return request.param


def scan_sq_distances(data, X):
    """Squared distances summed coordinate after coordinate in float64 (the documented key)."""
    data = np.asarray(data, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    key = np.zeros((X.shape[0], data.shape[0]))
    for t in range(X.shape[1]):
        diff = X[:, None, t] - data[None, :, t]
        key += diff * diff
    return key


def reference_knn(data, X, k):
    key = scan_sq_distances(data, X)
    order = np.lexsort((np.broadcast_to(np.arange(key.shape[1]), key.shape), key), axis=1)[:, :k]
    return np.sqrt(np.take_along_axis(key, order, axis=1)), order


def check_radius(data, X, r, indptr, indices, distances, sort_results):
    key = scan_sq_distances(data, X)
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), (X.shape[0],))
    for i in range(X.shape[0]):
        want = np.flatnonzero(key[i] <= r[i] * r[i])
        got = indices[indptr[i]:indptr[i + 1]]
        got_d = distances[indptr[i]:indptr[i + 1]]
        if sort_results:
            want = want[np.lexsort((want, key[i, want]))]
        else:
            assert np.all(np.diff(got) > 0)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_d, np.sqrt(key[i, want]).astype(np.asarray(data).dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("workers", [1, 2])
def test_knn_grid_ties_exact(engine, dtype, workers):
    rng = np.random.default_rng(5)
    data = rng.integers(-3, 4, size=(500, 3)).astype(dtype)  # duplicates and ties
    X = rng.integers(-4, 5, size=(300, 3)).astype(dtype)
    dist, idx = brute.knn(data, X, k=30, workers=workers)
    ref_d, ref_i = reference_knn(data, X, 30)
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_array_equal(dist, ref_d.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sort_results", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_radius_grid_ties_exact(engine, dtype, sort_results, workers):
    rng = np.random.default_rng(6)
    data = rng.integers(-3, 4, size=(400, 2)).astype(dtype)
    X = rng.integers(-4, 5, size=(300, 2)).astype(dtype)
    r = rng.choice([0.0, 1.0, np.sqrt(2.0), 2.0, 3.0], size=300)  # radii on the grid's distances
    indptr, indices, distances = brute.radius(data, X, r, return_distance=True,
                                              sort_results=sort_results, workers=workers)
    check_radius(data, X, r, indptr, indices, distances, sort_results)


@pytest.mark.parametrize("dtype", DTYPES)
def test_radius_everything_grows_buffers(engine, dtype):
    """r = inf: every pair is a result (many more than the first buffers hold)."""
    rng = np.random.default_rng(7)
    data = rng.normal(size=(211, 4)).astype(dtype)
    X = rng.normal(size=(13, 4)).astype(dtype)
    indptr, indices, distances = brute.radius(data, X, np.inf, return_distance=True)
    assert indptr[-1] == 211 * 13
    check_radius(data, X, np.inf, indptr, indices, distances, False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_engines_identical_far_from_origin(dtype, monkeypatch):
    """Data far from the origin (the BLAS filter shifts it): both engines, same bits."""
    rng = np.random.default_rng(8)
    data = (1e4 + rng.random((300, 3))).astype(dtype)
    X = (1e4 + rng.random((50, 3))).astype(dtype)
    answers = []
    for limit in (10**6, 0):
        monkeypatch.setattr(brute, "DIRECT_MAX_DIMS", limit)
        answers.append(brute.knn(data, X, k=7) + brute.radius(data, X, 0.2, return_distance=True))
    for a, b in zip(*answers):
        np.testing.assert_array_equal(a, b)


def test_direct_engine_is_taken_for_few_dimensions():
    assert brute._use_direct(np.empty((5, brute.DIRECT_MAX_DIMS)))
    assert not brute._use_direct(np.empty((5, brute.DIRECT_MAX_DIMS + 1)))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 90), m=st.integers(0, 12), d=st.integers(1, 5), k=st.integers(1, 12),
       seed=st.integers(0, 2**32 - 1), use_float32=st.booleans())
def test_engines_agree_property(n, m, d, k, seed, use_float32):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if use_float32 else np.float64
    data = rng.integers(0, 4, size=(n, d)).astype(dtype) * 0.5
    X = rng.integers(0, 4, size=(m, d)).astype(dtype) * 0.5
    saved = brute.DIRECT_MAX_DIMS, brute.DIRECT_BLOCK
    try:
        answers = []
        for limit, block in ((10**6, 7), (0, 7)):
            brute.DIRECT_MAX_DIMS, brute.DIRECT_BLOCK = limit, block
            answers.append(brute.knn(data, X, k=k)
                           + brute.radius(data, X, 1.0, return_distance=True, sort_results=True))
    finally:
        brute.DIRECT_MAX_DIMS, brute.DIRECT_BLOCK = saved
    for a, b in zip(*answers):
        np.testing.assert_array_equal(a, b)
    ref_d, ref_i = reference_knn(data, X, min(k, n))
    np.testing.assert_array_equal(answers[0][1][:, :min(k, n)], ref_i)


# --------------------------------------------------------------------------------------
# BLAS threads in the filter: one per worker while the workers run
# --------------------------------------------------------------------------------------


def blas_thread_counts():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"]


@pytest.mark.parametrize("workers", [1, 2])
def test_blas_threads_are_limited_only_beside_other_workers(workers, monkeypatch):
    before = blas_thread_counts()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can see")
    seen = []
    real_knn, real_radius = brute.knn_filter_block, brute.radius_filter_block

    def knn_spy(*args):
        seen.append(blas_thread_counts())
        return real_knn(*args)

    def radius_spy(*args):
        seen.append(blas_thread_counts())
        return real_radius(*args)

    rng = np.random.default_rng(9)
    data = rng.normal(size=(900, brute.DIRECT_MAX_DIMS + 4))
    X = rng.normal(size=(600, data.shape[1]))
    expected = brute.knn(data, X, k=5) + brute.radius(data, X, 4.0, return_distance=True)
    monkeypatch.setattr(brute, "knn_filter_block", knn_spy)
    monkeypatch.setattr(brute, "radius_filter_block", radius_spy)
    got = (brute.knn(data, X, k=5, workers=workers)
           + brute.radius(data, X, 4.0, return_distance=True, workers=workers))
    # several workers: one BLAS thread each; one worker: BLAS keeps its own threads
    limit = [1] * len(before) if workers > 1 else before
    assert seen and all(counts == limit for counts in seen)
    assert blas_thread_counts() == before  # put back afterwards
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    key = scan_sq_distances(data, X)
    np.testing.assert_array_equal(got[1], np.argsort(key, axis=1, kind="stable")[:, :5])


def test_blas_limit_is_put_back_after_an_error(monkeypatch):
    before = blas_thread_counts()

    def failing(*args):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(brute, "knn_filter_block", failing)
    data = np.random.default_rng(10).normal(size=(50, brute.DIRECT_MAX_DIMS + 1))
    with pytest.raises(RuntimeError, match="kernel failed"):
        brute.knn(data, data[:3], k=2)
    assert blas_thread_counts() == before


def test_without_threadpoolctl_results_are_the_same(monkeypatch):
    rng = np.random.default_rng(11)
    data = rng.normal(size=(400, brute.DIRECT_MAX_DIMS + 2))
    X = rng.normal(size=(30, data.shape[1]))
    expected = brute.knn(data, X, k=4, workers=2)
    monkeypatch.setattr(brute, "_BLAS_CONTROLLER", False)  # as when threadpoolctl is missing
    for a, b in zip(expected, brute.knn(data, X, k=4, workers=2)):
        np.testing.assert_array_equal(a, b)
