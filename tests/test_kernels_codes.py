"""The 8-bit leaf codes of the forest and the error bound that keeps its screening exact.

A code approximates a coordinate within half a scale step; :func:`code_distances` turns
codes into approximate reduced distances in float32, and :func:`code_slack` bounds the
error: with ``a`` the approximation, the true distance is at least
``from_reduced(a * (1 - relative)) - absolute``. The tests check that bound against true
distances computed in float64 from the original points, on data built to strain it (far
queries, flat axes, axes that are flat but for rounding noise, tiny and huge scales).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge._kernels import codes as kc
from kdforge._kernels import distance as kd

METRICS = [(kd.METRIC_L2, 2.0), (kd.METRIC_L1, 1.0), (kd.METRIC_LINF, np.inf),
           (kd.METRIC_LP, 3.0), (kd.METRIC_LP, 1.5)]
AXIS_KINDS = ("normal", "flat", "noisy_flat", "offset", "few")
#: Relative margin for the float64 rounding of the true distances the bound is checked on.
CHECK_ROUNDING = 1e-12


def make_axis(kind, n, magnitude, rng):
    """One coordinate of the scan points, of a kind that strains the code parameters."""
    if kind == "flat":
        return np.full(n, 3.0 * magnitude)
    if kind == "noisy_flat":  # a flat axis of rotated data: noise far below the extent
        return 1e3 * magnitude * (1.0 + 1e-12 * rng.normal(size=n))
    if kind == "offset":
        return 500.0 * magnitude + magnitude * rng.normal(size=n)
    if kind == "few":
        return magnitude * rng.choice([-1.0, 0.0, 2.0], size=n)
    return magnitude * rng.normal(size=n)


@st.composite
def code_cases(draw):
    """Scan points, a query (inside the data or far away) and a metric."""
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    magnitude = 10.0 ** draw(st.integers(-6, 6))
    kinds = draw(st.lists(st.sampled_from(AXIS_KINDS), min_size=d, max_size=d))
    points = np.stack([make_axis(kind, n, magnitude, rng) for kind in kinds], axis=1)
    lower, upper = points.min(axis=0), points.max(axis=0)
    far = 10.0 ** draw(st.integers(0, 3))
    extent = np.maximum(upper - lower, np.abs(upper)).max()
    if draw(st.booleans()):  # inside the data's box
        query = lower + (upper - lower) * rng.random(d)
    else:
        query = points[rng.integers(n)] + far * extent * rng.normal(size=d)
    metric, p = draw(st.sampled_from(METRICS))
    return np.ascontiguousarray(points), query, metric, p


def raw_weights(scale, metric, p):
    """The per-axis weights ``scale**p`` (``scale`` for p = inf) taken directly in float32:
    what the forest once used, out of float32 range on the cases below."""
    with np.errstate(over="ignore"):
        return (scale if metric == kd.METRIC_LINF else scale ** p).astype(np.float32)


def query_code_and_weights(query, centre, scale, metric, p):
    """The query in code units, the per-axis weights and their unit, as the forest makes them."""
    weights = np.empty(scale.shape[0], dtype=np.float32)
    unit = kc.code_weights(scale, metric, p, weights)
    codes = np.array([kc.query_code(q, c, s) for q, c, s in zip(query, centre, scale)],
                     dtype=np.float32)
    return codes, weights, unit


def one_leaf_codes(points, centre, scale):
    """Code block of a single leaf holding every point in order, from ``encode_leaves``."""
    n = points.shape[0]
    idx_array = np.arange(n, dtype=np.int32)
    node_start = np.array([0], dtype=np.int32)
    node_end = np.array([n], dtype=np.int32)
    out = np.full((1, points.shape[1], n), 99, dtype=np.int8)
    kc.encode_leaves(points, idx_array, node_start, node_end, 0, centre, scale, out)
    return out


def approximate(points, query, metric, p, bound=np.inf):
    """Approximate reduced distances of every point, with the query's error terms."""
    centre, scale = kc.code_parameters(points)
    codes = one_leaf_codes(points, centre, scale)
    query_code, weights, unit = query_code_and_weights(query, centre, scale, metric, p)
    out = np.full(points.shape[0], np.nan, dtype=np.float32)
    finished = kc.code_distances(codes, 0, points.shape[0], query_code, weights, metric, p,
                                 bound, out)
    absolute, relative = kc.code_slack(query_code, scale, metric, p, 0.0)
    return out.astype(np.float64), finished, absolute, relative, unit


# ---------------------------------------------------------------------- codes


@settings(max_examples=150, deadline=None)
@given(case=code_cases())
def test_codes_decode_within_half_a_step(case):
    points = case[0]
    centre, scale = kc.code_parameters(points)
    assert centre.dtype == scale.dtype == np.float64 and np.all(scale > 0)
    unclipped = np.rint((points - centre) / scale)
    assert np.all(np.abs(unclipped) <= kc.CODE_MAX)  # no code clips
    codes = one_leaf_codes(points, centre, scale)[0].T
    np.testing.assert_array_equal(codes, naive.encode(points, centre, scale))
    error = np.abs(naive.decode(codes, centre, scale) - points)
    assert np.all(error <= scale * (0.5 + 1e-9))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 80), d=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
       index_dtype=st.sampled_from([np.int32, np.int64]))
def test_encode_leaves_of_several_leaves(n, d, seed, index_dtype):
    """Leaves of any sizes, rows in any order: block ``l`` codes leaf ``n_internal + l``."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, d)) * 10.0 ** rng.integers(-3, 4, size=d)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, rng.integers(0, 6)),
                              replace=False)) if n > 1 else np.array([], dtype=np.int64)
    bounds = [0, *cuts.tolist(), n]
    leaves = list(zip(bounds[:-1], bounds[1:]))
    n_internal = len(leaves) - 1
    node_start = np.full(n_internal + len(leaves), -1, dtype=index_dtype)
    node_end = np.full(n_internal + len(leaves), -1, dtype=index_dtype)
    node_start[n_internal:] = [s for s, _ in leaves]
    node_end[n_internal:] = [e for _, e in leaves]
    idx_array = rng.permutation(n).astype(index_dtype)
    centre, scale = kc.code_parameters(points)
    width = max(e - s for s, e in leaves) + 2
    out = np.full((len(leaves), d, width), -5, dtype=np.int8)
    kc.encode_leaves(points, idx_array, node_start, node_end, n_internal, centre, scale, out)
    expected = naive.leaf_code_blocks(points, idx_array, leaves, centre, scale, width)
    np.testing.assert_array_equal(out, expected)


# ---------------------------------------------------------------------- the error bound


def raw_weights_are_normal(points, metric, p):
    """Whether every raw weight ``scale**p`` is a normal float32 (neither subnormal nor inf)."""
    weights = raw_weights(kc.code_parameters(points)[1], metric, p)
    return bool(np.all(np.isfinite(weights)) and np.all(weights >= np.finfo(np.float32).tiny))


def check_lower_bound(points, query, metric, p):
    """True distance >= ``unit * from_reduced((a - slack) * (1 - relative)) - absolute`` for
    every finite approximate distance ``a`` (an overflowing float32 sum is inf or NaN, and
    ``screen_bound`` never screens at such sizes: see the screening test)."""
    approx, finished, absolute, relative, unit = approximate(points, query, metric, p)
    assert finished
    assert 0.0 <= relative <= 0.5 and absolute >= 0.0
    for j in range(points.shape[0]):
        if not np.isfinite(approx[j]):
            assert kc.screen_bound(naive.reduced(points[j], query, p), absolute, relative,
                                   metric, p, unit) == np.inf
            continue
        true = naive.true_distance(points[j], query, p)
        reduced = max(approx[j] - kc.SUBNORMAL_SLACK, 0.0) * (1.0 - relative)
        lower = unit * naive.root(reduced, p) - absolute
        assert true >= lower - CHECK_ROUNDING * abs(lower), (j, true, lower)


def check_screening(points, query, metric, p):
    """A point whose true reduced distance is at most ``heap_top`` is never screened out,
    even at ``heap_top`` equal to its own distance (the tightest case)."""
    approx, _, absolute, relative, unit = approximate(points, query, metric, p)
    assert kc.screen_bound(np.inf, absolute, relative, metric, p, unit) == np.inf
    for j in range(points.shape[0]):
        heap_top = naive.reduced(points[j], query, p)
        screen = kc.screen_bound(heap_top, absolute, relative, metric, p, unit)
        assert not approx[j] > screen * (1.0 + CHECK_ROUNDING), (j, heap_top, approx[j], screen)


@settings(max_examples=200, deadline=None)
@given(case=code_cases())
def test_approximate_distances_give_a_rigorous_lower_bound(case):
    check_lower_bound(*case)


@settings(max_examples=200, deadline=None)
@given(case=code_cases())
def test_screening_never_drops_a_point_within_the_heap_top(case):
    check_screening(*case)


#: Inputs whose raw float32 weights ``scale**p`` leave the normal range (found by the tests
#: above when the forest still used raw weights): p = 3 on a flat axis at 3e-6 (weight
#: 2.2e-44, a subnormal rounded up by 2%: the lower bound failed), and coordinates near 1e15
#: for p = 3 or 1e22 for p = 2 (weight inf: every point was screened out, and
#: ``KDForest.query`` missed the true neighbours at any budget). Normalised weights rounded
#: down (``code_weights``) keep both properties.
OUT_OF_RANGE_WEIGHTS = [
    pytest.param(np.array([[3e-6]]), np.array([3.37719066e-06]), kd.METRIC_LP, 3.0,
                 id="subnormal-weight-p3"),
    pytest.param(np.array([[1e15], [2e15], [-1e15]]), np.array([1.2e15]), kd.METRIC_LP, 3.0,
                 id="overflowing-weight-p3"),
    pytest.param(np.array([[1e22], [2e22], [-1e22]]), np.array([1.2e22]), kd.METRIC_L2, 2.0,
                 id="overflowing-weight-l2"),
    pytest.param(np.array([[1.0, 0.0], [2.0, 5.0], [-1.0, 3.0]]), np.array([1.2, 1e10]),
                 kd.METRIC_LP, 20.0, id="p20-far-query"),
]


@pytest.mark.parametrize("points, query, metric, p", OUT_OF_RANGE_WEIGHTS[:3])
def test_out_of_range_cases_have_out_of_range_raw_weights(points, query, metric, p):
    assert not raw_weights_are_normal(points, metric, p)


@pytest.mark.parametrize("points, query, metric, p", OUT_OF_RANGE_WEIGHTS)
def test_lower_bound_with_raw_weights_out_of_float32_range(points, query, metric, p):
    check_lower_bound(points, query, metric, p)


@pytest.mark.parametrize("points, query, metric, p", OUT_OF_RANGE_WEIGHTS)
def test_screening_with_raw_weights_out_of_float32_range(points, query, metric, p):
    check_screening(points, query, metric, p)


@settings(max_examples=200, deadline=None)
@given(case=code_cases())
def test_relative_term_covers_the_float32_arithmetic(case):
    """The float32 sum of ``code_distances`` is within ``relative`` of the same sum taken
    exactly (plus the absolute rounding of float32 subnormals)."""
    points, query, metric, p = case
    centre, scale = kc.code_parameters(points)
    point_codes = one_leaf_codes(points, centre, scale)[0].T
    query_code, weights, _ = query_code_and_weights(query, centre, scale, metric, p)
    approx, _, _, relative, _ = approximate(points, query, metric, p)
    subnormal = 4 * points.shape[1] * 2.0**-149
    for j in range(points.shape[0]):
        exact = naive.code_distance(point_codes[j], query_code, weights, p)
        assert abs(approx[j] - exact) <= relative * exact + subnormal, (j, approx[j], exact)


@settings(max_examples=100, deadline=None)
@given(case=code_cases(), fraction=st.sampled_from([0.0, 0.3, 0.9, 1.0, 2.0]))
def test_code_distances_stops_only_when_every_point_is_beyond_the_bound(case, fraction):
    points, query, metric, p = case
    full, _, _, _, _ = approximate(points, query, metric, p)
    bound = fraction * float(np.median(full))
    partial, finished, _, _, _ = approximate(points, query, metric, p, bound)
    if finished:
        np.testing.assert_array_equal(partial, full)
    else:
        assert np.all(partial > bound) and np.all(partial <= full)
