"""Reduced distances, their conversions and distances to boxes against NumPy twins."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge._kernels import distance as kd

METRICS = [(kd.METRIC_L2, 2.0), (kd.METRIC_L1, 1.0), (kd.METRIC_LINF, np.inf),
           (kd.METRIC_LP, 3.0), (kd.METRIC_LP, 0.5 + 1.0)]
#: ``diff ** p`` may round differently in NumPy, libm and LLVM; other metrics agree exactly.
POW_RTOL = 1e-13


def assert_same(actual, expected, metric):
    """Exactly equal, up to ``POW_RTOL`` for general p."""
    if metric == kd.METRIC_LP:
        np.testing.assert_allclose(actual, expected, rtol=POW_RTOL, atol=0)
    else:
        np.testing.assert_array_equal(actual, expected)


@st.composite
def point_sets(draw, max_rows=8, max_dims=30):
    """Points and a query in float32 or float64, small integers (ties) or spread values."""
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_dims))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    query_dtype = draw(st.sampled_from([np.float32, np.float64]))
    if draw(st.booleans()):
        points, query = rng.integers(-3, 4, size=(n, d)), rng.integers(-3, 4, size=d)
    else:
        scale = 10.0 ** draw(st.integers(-5, 5))
        points, query = rng.normal(size=(n, d)) * scale, rng.normal(size=d) * scale
    return points.astype(dtype), query.astype(query_dtype)


@settings(max_examples=200, deadline=None)
@given(case=point_sets(), metric=st.sampled_from(METRICS))
def test_reduced_distance_matches_the_twin(case, metric):
    points, query = case
    code, p = metric
    for row in range(points.shape[0]):
        actual = kd.reduced_distance(points, row, query, code, p, np.inf)
        assert_same(actual, naive.reduced(points[row], query, p), code)


@settings(max_examples=200, deadline=None)
@given(case=point_sets(), metric=st.sampled_from(METRICS),
       fraction=st.sampled_from([0.0, 0.1, 0.5, 0.99, 1.0, 1.5]))
def test_reduced_distance_with_a_bound(case, metric, fraction):
    """The full value whenever it is within the bound; otherwise the full value or a
    partial sum above the bound."""
    points, query = case
    code, p = metric
    for row in range(points.shape[0]):
        full = kd.reduced_distance(points, row, query, code, p, np.inf)
        bound = fraction * full
        value = kd.reduced_distance(points, row, query, code, p, bound)
        if full <= bound:
            assert value == full
        else:
            assert value == full or bound < value <= full


#: Distances whose cubes neither overflow nor underflow.
DISTANCES = st.one_of(st.floats(1e-90, 1e90), st.sampled_from([0.0, 1.0, 2.0, np.inf]))


@settings(max_examples=200, deadline=None)
@given(distance=DISTANCES, metric=st.sampled_from(METRICS))
def test_to_reduced_and_back(distance, metric):
    code, p = metric
    value = kd.to_reduced(distance, code, p)
    assert value == naive.power(distance, p) or math.isclose(value, naive.power(distance, p),
                                                             rel_tol=POW_RTOL)
    back = kd.from_reduced(value, code, p)
    if math.isinf(distance):
        assert value == np.inf and back == np.inf
    elif code in (kd.METRIC_L1, kd.METRIC_LINF):
        assert value == distance and back == distance
    elif code == kd.METRIC_L2:
        assert math.isclose(back, distance, rel_tol=4e-16)
    else:  # 1 / p is rounded: an error of |log(value)| * 2**-53 relative
        rel_tol = 4e-16 * (2.0 + abs(math.log(value))) if value > 0 else 0.0
        assert math.isclose(back, distance, rel_tol=rel_tol)


@settings(max_examples=100, deadline=None)
@given(distances=st.lists(DISTANCES, min_size=1, max_size=20), metric=st.sampled_from(METRICS))
def test_py_func_conversions_on_arrays(distances, metric):
    """The Python versions work on arrays and agree with the compiled scalar ones."""
    code, p = metric
    array = np.array(distances)
    reduced = kd.to_reduced.py_func(array, code, p)
    assert isinstance(reduced, np.ndarray) and reduced.shape == array.shape
    assert_same(reduced, [kd.to_reduced(x, code, p) for x in distances], code)
    back = kd.from_reduced.py_func(reduced, code, p)
    assert_same(back, [kd.from_reduced(x, code, p) for x in reduced.tolist()], code)


@st.composite
def boxes(draw):
    """A box (lower <= upper, possibly flat) and a query inside, outside or on it."""
    d = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    corners = np.sort(rng.integers(-4, 5, size=(2, d)) * draw(st.sampled_from([1.0, 0.37])),
                      axis=0)
    query = rng.integers(-7, 8, size=d) * draw(st.sampled_from([1.0, 0.5, 0.1]))
    return corners[0].astype(dtype), corners[1].astype(dtype), query.astype(dtype)


@settings(max_examples=200, deadline=None)
@given(box=boxes(), metric=st.sampled_from(METRICS))
def test_box_distances_match_the_twins(box, metric):
    lower, upper, query = box
    code, p = metric
    nearest = kd.box_min_reduced(lower, upper, query, code, p)
    farthest = kd.box_max_reduced(lower, upper, query, code, p)
    assert_same(nearest, naive.reduced(naive.box_nearest(lower, upper, query), query, p), code)
    assert_same(farthest, naive.reduced(naive.box_farthest(lower, upper, query), query, p), code)


@settings(max_examples=100, deadline=None)
@given(box=boxes(), metric=st.sampled_from(METRICS), seed=st.integers(0, 2**32 - 1))
def test_box_distances_bracket_every_point_of_the_box(box, metric, seed):
    lower, upper, query = box
    code, p = metric
    inside = naive.box_nearest(lower, upper, np.random.default_rng(seed).uniform(
        lower, upper, size=(20, lower.shape[0])))
    nearest = kd.box_min_reduced(lower, upper, query, code, p)
    farthest = kd.box_max_reduced(lower, upper, query, code, p)
    for x in inside:
        value = naive.reduced(x, query, p)
        assert nearest <= value * (1 + POW_RTOL) and value <= farthest * (1 + POW_RTOL)
