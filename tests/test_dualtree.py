"""kdforge.dualtree (pairs, chunks, CSR, counts) and its kernels against brute force."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdforge
import kdforge.dualtree as dt
import reference
from kdforge._kernels.distance import metric_code, reduced_distance
from kdforge._kernels.dualtree import box_pair_bounds, periodic_reduced

SETTINGS = dict(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
P_VALUES = [1.0, 2.0, np.inf, 3.0]


@st.composite
def two_sets(draw, max_n=150, max_d=4):
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    grid = draw(st.booleans())
    sizes = [draw(st.integers(1, max_n)) for _ in range(2)]
    sets = [rng.integers(0, 5, (n, d)).astype(np.float64) if grid else rng.random((n, d))
            for n in sizes]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return sets[0].astype(dtype), sets[1].astype(dtype)


def brute_pairs(a, b, r, p):
    red = reference.reduced_distances(b, a, p)
    r_red = r if (np.isinf(p) or p == 1) else r ** p
    return np.nonzero(red <= r_red)


@settings(**SETTINGS)
@given(two_sets(), st.sampled_from(P_VALUES), st.sampled_from([0.0, 0.1, 0.5, 1.0, 3.0]),
       st.sampled_from([1, 2, 8]), st.sampled_from([1, 3]))
def test_pairs_csr_and_counts_match_brute_force(sets, p, r, leaf_size, workers):
    a, b = sets
    ta = kdforge.KDTree(a, leaf_size=leaf_size)
    tb = kdforge.KDTree(b, leaf_size=leaf_size, division="root")
    left, right, dist = dt.pairs(ta, tb, r, p=p, return_distance=True, workers=workers)
    want_left, want_right = brute_pairs(a, b, r, p)
    assert np.array_equal(left, want_left) and np.array_equal(right, want_right)
    true = reference.to_distance(reference.reduced_distances(b, a, p), p)[left, right]
    np.testing.assert_allclose(dist, true, rtol=1e-6 if a.dtype == np.float32 else 1e-12)
    # self-join: each i < j once
    left, right = dt.pairs(ta, None, r, p=p, workers=workers)
    all_left, all_right = brute_pairs(a, a, r, p)
    keep = all_left < all_right
    assert np.array_equal(left, all_left[keep]) and np.array_equal(right, all_right[keep])
    csr = dt.pairs_csr(ta, None, r, p=p, workers=workers)
    off_diagonal = all_left != all_right
    assert np.array_equal(csr.indices, all_right[off_diagonal])
    assert np.array_equal(csr.counts, np.bincount(all_left[off_diagonal], minlength=a.shape[0]))
    radii = np.array([r, 0.0, r / 3, 2 * r])
    counts = dt.count_pairs(ta, tb, radii, p=p, workers=workers)
    red = reference.reduced_distances(b, a, p)
    r_red = radii if (np.isinf(p) or p == 1) else radii ** p
    assert counts.tolist() == [int((red <= x).sum()) for x in r_red]


def test_count_pairs_weights_and_bins():
    rng = np.random.default_rng(0)
    a, b = rng.random((300, 2)), rng.random((200, 2))
    wa, wb = rng.random(300), rng.random(200)
    radii = np.linspace(0.05, 0.5, 6)
    ta, tb = kdforge.KDTree(a), kdforge.KDTree(b)
    d = reference.to_distance(reference.reduced_distances(b, a, 2.0), 2.0)
    want = np.array([(wa[:, None] * wb[None, :] * (d <= x)).sum() for x in radii])
    got = dt.count_pairs(ta, tb, radii, weights=wa, other_weights=wb, workers=2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    binned = dt.count_pairs(ta, tb, radii, cumulative=False)
    assert np.array_equal(np.cumsum(binned), dt.count_pairs(ta, tb, radii))
    with pytest.raises(ValueError):
        dt.count_pairs(ta, tb, radii[::-1], cumulative=False)
    with pytest.raises(ValueError):
        dt.count_pairs(ta, tb, radii, weights=np.ones(3))


def test_iter_pairs_chunks_cover_every_pair_once():
    data = np.random.default_rng(1).random((30000, 3))
    tree = kdforge.KDTree(data)
    chunks = list(dt.iter_pairs(tree, None, 0.01, workers=2))
    assert len(chunks) > 1
    left = np.concatenate([c[0] for c in chunks])
    right = np.concatenate([c[1] for c in chunks])
    keys = np.sort(left * data.shape[0] + right)
    assert np.unique(keys).size == keys.size and (left < right).all()
    expected = dt.count_pairs(tree, tree, 0.01)[0] - data.shape[0]
    assert 2 * keys.size == expected


def test_checks_name_the_argument():
    tree = kdforge.KDTree(np.random.default_rng(2).random((50, 2)))
    with pytest.raises(TypeError, match="other"):
        dt.pairs(tree, np.ones((3, 2)), 0.1)
    with pytest.raises(ValueError, match="dimension"):
        dt.pairs(tree, kdforge.KDTree(np.ones((3, 3))), 0.1)
    with pytest.raises(ValueError, match="r"):
        dt.pairs(tree, None, -0.1)
    with pytest.raises(ValueError, match="p"):
        dt.pairs(tree, None, 0.1, p=0.5)
    with pytest.raises(ValueError, match="workers"):
        dt.count_pairs(tree, tree, 0.1, workers=0)


@settings(**SETTINGS)
@given(st.integers(0, 2**31 - 1), st.sampled_from(P_VALUES), st.booleans())
def test_box_bounds_enclose_every_point_pair(seed, p, periodic):
    """The kernel's box bounds never exceed (min) or fall below (max) a real pair distance."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    periods = np.where(rng.random(d) < 0.7, 1.0, 0.0) if periodic else np.zeros(d)
    a = rng.random((40, d))
    b = rng.random((40, d))
    ta, tb = kdforge.KDTree(a, leaf_size=4).record, kdforge.KDTree(b, leaf_size=4).record
    metric = metric_code(p)
    for node_a in range(ta.node_start.shape[0]):
        node_b = int(rng.integers(0, tb.node_start.shape[0]))
        dmin, dmax = box_pair_bounds(ta.node_bounds, node_a, tb.node_bounds, node_b, metric, p,
                                     periods, periodic)
        for i in range(ta.node_start[node_a], ta.node_end[node_a]):
            for j in range(tb.node_start[node_b], tb.node_end[node_b]):
                point = ta.tree_data[i]
                if periodic:
                    dist = periodic_reduced(point, tb.tree_data, j, metric, p, periods)
                else:
                    dist = reduced_distance(tb.tree_data, j, point, metric, p, np.inf)
                assert dmin <= dist <= dmax
