"""kdforge.brute against scipy's cdist, including the cases the BLAS expansion gets wrong."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from kdforge import brute

P_VALUES = [1, 2, 3, np.inf]
DTYPES = [np.float32, np.float64]


def cdist_p(X, data, p):
    """Distance matrix in float64 from the values brute force sees."""
    X = np.asarray(X).astype(np.float64)
    data = np.asarray(data).astype(np.float64)
    if p == 1:
        return cdist(X, data, "cityblock")
    if p == 2:
        return cdist(X, data, "euclidean")
    if np.isinf(p):
        return cdist(X, data, "chebyshev")
    return cdist(X, data, "minkowski", p=p)


def reference_knn(data, X, k, p):
    """k nearest by (distance, index), padded with (inf, -1) when k > n."""
    D = cdist_p(X, data, p)
    m, n = D.shape
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    dist = np.full((m, k), np.inf)
    idx = np.full((m, k), -1, dtype=np.int64)
    dist[:, : order.shape[1]] = np.take_along_axis(D, order, axis=1)
    idx[:, : order.shape[1]] = order
    return dist, idx


def assert_knn_matches(data, X, k, p, dist, idx, exact_ties=True):
    """Compare with cdist. With ``exact_ties`` the indices must agree exactly (data whose
    distances are exact in float64, such as small integers); otherwise near-ties may swap,
    so check that each returned index is at the returned distance and the distances agree.
    """
    ref_dist, ref_idx = reference_knn(data, X, k, p)
    dtype = np.asarray(data).dtype if np.asarray(data).dtype == np.float32 else np.float64
    assert dist.dtype == dtype
    assert idx.dtype == np.int64
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    # distances are returned in the data dtype: below its normal range, rounding to it
    # loses relative precision, so allow one smallest-normal of absolute error there
    atol = np.finfo(dtype).tiny
    np.testing.assert_allclose(dist, ref_dist.astype(dtype), rtol=rtol, atol=atol)
    if exact_ties:
        np.testing.assert_array_equal(idx, ref_idx)
    else:
        D = cdist_p(X, data, p)
        found = idx >= 0
        np.testing.assert_array_equal(found, ref_idx >= 0)
        rows = np.nonzero(found)[0]
        np.testing.assert_allclose(D[rows, idx[found]], dist[found], rtol=rtol, atol=atol)
        for row in idx:
            valid = row[row >= 0]
            assert np.unique(valid).size == valid.size


def reference_radius(data, X, r, p):
    """Points whose key sum|x - q|**p (max for p = inf), accumulated in float64 coordinate by
    coordinate, is <= r**p: brute.radius's documented test, which differs from comparing
    cdist's distance with r exactly when the distance rounds onto r."""
    X = np.asarray(X, dtype=np.float64)
    data = np.asarray(data, dtype=np.float64)
    key = np.zeros((X.shape[0], data.shape[0]))
    for t in range(X.shape[1]):
        diff = np.abs(X[:, None, t] - data[None, :, t])
        if np.isinf(p):
            key = np.maximum(key, diff)
        elif p == 1:
            key += diff
        elif p == 2:
            key += diff * diff
        else:
            key += diff**p
    r = np.broadcast_to(np.asarray(r, dtype=np.float64), (X.shape[0],))
    r_key = r if (np.isinf(p) or p == 1) else r**p
    return [np.flatnonzero(key[i] <= r_key[i]) for i in range(X.shape[0])]


def csr_rows(indptr, indices):
    return [indices[indptr[i] : indptr[i + 1]] for i in range(indptr.size - 1)]


# --------------------------------------------------------------------------------------
# kNN
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_knn_random_matches_cdist(dtype, p):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(700, 6)).astype(dtype)
    X = rng.normal(size=(60, 6)).astype(dtype)
    dist, idx = brute.knn(data, X, k=9, p=p)
    assert dist.shape == idx.shape == (60, 9)
    assert_knn_matches(data, X, 9, p, dist, idx)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_knn_integer_grid_ties_by_index(dtype, p):
    rng = np.random.default_rng(2)
    data = rng.integers(-3, 4, size=(400, 3)).astype(dtype)  # many duplicates and ties
    X = rng.integers(-4, 5, size=(50, 3)).astype(dtype)
    dist, idx = brute.knn(data, X, k=25, p=p)
    assert_knn_matches(data, X, 25, p, dist, idx)


@pytest.mark.parametrize("p", P_VALUES)
def test_knn_k_larger_than_n_pads_with_minus_one_and_inf(p):
    data = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    dist, idx = brute.knn(data, [[0.0, 0.0], [5.0, 5.0]], k=5, p=p)
    assert_knn_matches(data, [[0.0, 0.0], [5.0, 5.0]], 5, p, dist, idx)
    np.testing.assert_array_equal(idx[:, 3:], -1)
    assert np.isinf(dist[:, 3:]).all()
    np.testing.assert_array_equal(idx[0, :3], [0, 2, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_knn_single_point_and_one_dimension(dtype):
    dist, idx = brute.knn(np.array([[3.0]], dtype=dtype), [[1.0], [3.5]], k=2)
    np.testing.assert_array_equal(idx, [[0, -1], [0, -1]])
    np.testing.assert_array_equal(dist, np.array([[2.0, np.inf], [0.5, np.inf]], dtype=dtype))

    rng = np.random.default_rng(3)
    data = rng.integers(0, 50, size=(300, 1)).astype(dtype)
    X = rng.integers(-5, 55, size=(40, 1)).astype(dtype)
    for p in P_VALUES:
        dist, idx = brute.knn(data, X, k=7, p=p)
        assert_knn_matches(data, X, 7, p, dist, idx)


def test_knn_single_query_drops_leading_axis():
    data = np.arange(10.0).reshape(5, 2)
    dist, idx = brute.knn(data, [2.1, 3.0], k=3)
    assert dist.shape == idx.shape == (3,)
    np.testing.assert_array_equal(idx, [1, 2, 0])


def test_knn_no_queries():
    dist, idx = brute.knn(np.ones((4, 3)), np.empty((0, 3)), k=2)
    assert dist.shape == idx.shape == (0, 2)
    indptr, indices = brute.radius(np.ones((4, 3)), np.empty((0, 3)), 1.0)
    np.testing.assert_array_equal(indptr, [0])
    assert indices.size == 0


def test_knn_integer_input_becomes_float64():
    dist, idx = brute.knn([[0, 0], [3, 4]], [[0, 0]], k=2)
    assert dist.dtype == np.float64
    np.testing.assert_array_equal(dist, [[0.0, 5.0]])


@pytest.mark.parametrize("p", P_VALUES)
def test_knn_unsorted_holds_same_neighbours(p):
    rng = np.random.default_rng(4)
    data = rng.normal(size=(200, 4))
    X = rng.normal(size=(20, 4))
    dist, idx = brute.knn(data, X, k=6, p=p)
    dist_u, idx_u = brute.knn(data, X, k=6, p=p, sort_results=False)
    order = np.lexsort((idx_u, dist_u))  # row by row
    np.testing.assert_array_equal(np.take_along_axis(idx_u, order, 1), idx)
    np.testing.assert_array_equal(np.take_along_axis(dist_u, order, 1), dist)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2, 1])
def test_blocks_chunks_and_workers_do_not_change_results(monkeypatch, dtype, p):
    # Tiny blocks: many query blocks and data blocks, several chunks per block.
    monkeypatch.setattr(brute, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(brute, "MIN_DATA_BLOCK", 37)
    rng = np.random.default_rng(5)
    data = rng.integers(-5, 6, size=(900, 3)).astype(dtype)
    X = rng.integers(-5, 6, size=(1100, 3)).astype(dtype)
    expected = reference_knn(data, X, 12, p)
    for workers, chunk_size in [(1, 5), (2, None), (3, 300), (-1, None)]:
        dist, idx = brute.knn(data, X, k=12, p=p, workers=workers, chunk_size=chunk_size)
        np.testing.assert_array_equal(idx, expected[1])
        np.testing.assert_allclose(dist, expected[0].astype(dtype), rtol=1e-6)
        indptr, indices = brute.radius(data, X, 2.0, p=p, workers=workers)
        for got, want in zip(csr_rows(indptr, indices), reference_radius(data, X, 2.0, p)):
            np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------
# The expansion |x|^2 + |q|^2 - 2 x.q is not exact: the correction must be
# --------------------------------------------------------------------------------------


def naive_expansion_knn(data, X, k):
    """The uncorrected float32 expansion, to show that these cases defeat it."""
    sq = (X * X).sum(1)[:, None] + (data * data).sum(1)[None, :] - 2 * (X @ data.T)
    return np.argsort(sq, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize(
    "centres",
    [
        [[1000.0, -2000.0, 500.0]],  # one far cluster: shifting by the mean rescues the filter
        [[0.0, 0.0, 0.0], [3000.0, 3000.0, -3000.0]],  # two far apart: the shift cannot
    ],
)
def test_float32_nearby_points_are_exact(centres):
    rng = np.random.default_rng(6)
    centres = np.array(centres)
    data = np.concatenate([c + rng.normal(scale=1e-3, size=(400, 3)) for c in centres]).astype(np.float32)
    X = np.concatenate([c + rng.normal(scale=1e-3, size=(30, 3)) for c in centres]).astype(np.float32)
    k = 5
    ref_dist, ref_idx = reference_knn(data, X, k, 2)
    assert (naive_expansion_knn(data, X, k) != ref_idx).any(), "this case should defeat the bare expansion"
    dist, idx = brute.knn(data, X, k=k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist.astype(np.float32), rtol=1e-6)

    r = float(np.median(ref_dist[:, -1]))
    indptr, indices, distances = brute.radius(data, X, r, return_distance=True)
    for got, want in zip(csr_rows(indptr, indices), reference_radius(data, X, r, 2)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_float64_nearby_points_are_exact(dtype):
    rng = np.random.default_rng(7)
    base = np.array([1e7, -3e7])
    data = (base + rng.normal(scale=1e-6, size=(500, 2))).astype(dtype)
    X = (base + rng.normal(scale=1e-6, size=(40, 2))).astype(dtype)
    dist, idx = brute.knn(data, X, k=4)
    assert_knn_matches(data, X, 4, 2, dist, idx, exact_ties=(dtype == np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_values_underflowing_in_the_dot_product(dtype):
    rng = np.random.default_rng(11)
    scale = 1e-22 if dtype == np.float32 else 1e-160
    data = (rng.normal(size=(300, 4)) * scale).astype(dtype)
    X = (rng.normal(size=(20, 4)) * scale).astype(dtype)
    dist, idx = brute.knn(data, X, k=5)
    assert_knn_matches(data, X, 5, 2, dist, idx, exact_ties=False)


@pytest.mark.parametrize("direct_max_dims", [0, brute.DIRECT_MAX_DIMS])
def test_huge_values_fall_back_to_the_direct_scan(direct_max_dims, monkeypatch):
    # Squared norms overflow float32: the expansion cannot be used at all (the BLAS
    # filter falls back to the scan; the direct engine sums in float64).
    monkeypatch.setattr(brute, "DIRECT_MAX_DIMS", direct_max_dims)
    rng = np.random.default_rng(8)
    data = (rng.normal(size=(200, 3)) * 1e19).astype(np.float32)
    X = (rng.normal(size=(10, 3)) * 1e19).astype(np.float32)
    assert not brute._EuclideanPlan(data, X, 256).usable
    dist, idx = brute.knn(data, X, k=3)
    assert np.isfinite(dist).all()
    assert_knn_matches(data, X, 3, 2, dist, idx, exact_ties=False)
    indptr, indices = brute.radius(data, X, 1.5e19)
    for got, want in zip(csr_rows(indptr, indices), reference_radius(data, X, 1.5e19, 2)):
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------
# Radius
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", P_VALUES)
def test_radius_integer_grid_matches_cdist(dtype, p):
    rng = np.random.default_rng(9)
    data = rng.integers(-4, 5, size=(300, 3)).astype(dtype)
    X = rng.integers(-4, 5, size=(40, 3)).astype(dtype)
    r = rng.integers(0, 4, size=40).astype(float)  # radii hit distances exactly
    indptr, indices, distances = brute.radius(data, X, r, p=p, return_distance=True)
    assert indptr.dtype == indices.dtype == np.int64
    assert distances.dtype == dtype
    D = cdist_p(X, data, p)
    for i, (got, want) in enumerate(zip(csr_rows(indptr, indices), reference_radius(data, X, r, p))):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(distances[indptr[i] : indptr[i + 1]], D[i, got].astype(dtype), rtol=1e-6)


@pytest.mark.parametrize("p", P_VALUES)
def test_radius_sorted_by_distance_then_index(p):
    rng = np.random.default_rng(10)
    data = rng.integers(-3, 4, size=(250, 2)).astype(float)
    X = rng.integers(-3, 4, size=(20, 2)).astype(float)
    indptr, indices, distances = brute.radius(data, X, 2.5, p=p, return_distance=True, sort_results=True)
    D = cdist_p(X, data, p)
    for i in range(20):
        want = np.flatnonzero(D[i] <= 2.5)
        want = want[np.lexsort((want, D[i, want]))]
        np.testing.assert_array_equal(indices[indptr[i] : indptr[i + 1]], want)
        assert np.all(np.diff(distances[indptr[i] : indptr[i + 1]]) >= 0)
    # Without distances the order is still by distance.
    indptr2, indices2 = brute.radius(data, X, 2.5, p=p, sort_results=True)
    np.testing.assert_array_equal(indices2, indices)


def test_radius_zero_and_infinite():
    data = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [5.0, 5.0]])
    indptr, indices = brute.radius(data, [[0.0, 0.0], [9.0, 9.0]], [0.0, np.inf])
    rows = csr_rows(indptr, indices)
    np.testing.assert_array_equal(rows[0], [0, 2])
    np.testing.assert_array_equal(rows[1], [0, 1, 2, 3])


def test_radius_single_query_keeps_csr_form():
    indptr, indices = brute.radius(np.arange(8.0).reshape(4, 2), [2.0, 3.0], 3.0)
    np.testing.assert_array_equal(indptr, [0, 3])
    np.testing.assert_array_equal(indices, [0, 1, 2])


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------


def point_sets(dtype, integer):
    elements = (
        st.integers(-6, 6).map(float)
        if integer
        else st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)
    )
    return st.integers(1, 4).flatmap(
        lambda d: st.tuples(
            arrays(dtype, st.tuples(st.integers(1, 40), st.just(d)), elements=elements),
            arrays(dtype, st.tuples(st.integers(1, 8), st.just(d)), elements=elements),
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    integer=st.booleans(),
    dtype=st.sampled_from(DTYPES),
    p=st.sampled_from(P_VALUES),
    k=st.integers(1, 45),
    data=st.data(),
)
def test_knn_property(integer, dtype, p, k, data):
    points, X = data.draw(point_sets(dtype, integer))
    dist, idx = brute.knn(points, X, k=k, p=p)
    assert_knn_matches(points, X, k, p, dist, idx, exact_ties=integer)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    p=st.sampled_from(P_VALUES),
    r=st.integers(0, 8).map(float),
    data=st.data(),
)
def test_radius_property(dtype, p, r, data):
    points, X = data.draw(point_sets(dtype, integer=True))
    indptr, indices = brute.radius(points, X, r, p=p)
    for got, want in zip(csr_rows(indptr, indices), reference_radius(points, X, r, p)):
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

GOOD = np.zeros((5, 2))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(data=[[0.0, np.nan]]), ValueError),
        (dict(data=[[0.0, np.inf]]), ValueError),
        (dict(X=[[np.nan, 0.0]]), ValueError),
        (dict(X=[[-np.inf, 0.0]]), ValueError),
        (dict(data=np.zeros(5)), ValueError),
        (dict(data=np.zeros((2, 2, 2))), ValueError),
        (dict(data=np.zeros((0, 2))), ValueError),
        (dict(X=np.zeros((3, 3))), ValueError),
        (dict(data=[["a", "b"]]), TypeError),
        (dict(X=np.zeros((1, 2), dtype=complex)), TypeError),
        (dict(k=0), ValueError),
        (dict(k=-1), ValueError),
        (dict(k=1.5), TypeError),
        (dict(p=0.5), ValueError),
        (dict(p=np.nan), ValueError),
        (dict(p="2"), TypeError),
        (dict(workers=0), ValueError),
        (dict(workers=1.0), TypeError),
        (dict(chunk_size=0), ValueError),
        (dict(chunk_size=2.5), TypeError),
    ],
)
def test_knn_rejects_bad_input(kwargs, error):
    args = dict(data=GOOD, X=np.zeros((1, 2)), k=1)
    args.update(kwargs)
    data, X = args.pop("data"), args.pop("X")
    with pytest.raises(error):
        brute.knn(data, X, **args)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(r=-1.0), ValueError),
        (dict(r=np.nan), ValueError),
        (dict(r=[1.0, -0.5]), ValueError),
        (dict(r=[1.0, 2.0, 3.0]), ValueError),
        (dict(r="1"), TypeError),
        (dict(X=[[0.0, np.nan], [0.0, 0.0]]), ValueError),
        (dict(data=[[np.inf, 0.0]]), ValueError),
        (dict(X=np.zeros((2, 5))), ValueError),
        (dict(p=0.5), ValueError),
        (dict(workers=0), ValueError),
    ],
)
def test_radius_rejects_bad_input(kwargs, error):
    args = dict(data=GOOD, X=np.zeros((2, 2)), r=1.0)
    args.update(kwargs)
    data, X, r = args.pop("data"), args.pop("X"), args.pop("r")
    with pytest.raises(error):
        brute.radius(data, X, r, **args)
