"""kdforge.scipy against scipy.spatial itself: same answers, types, shapes and exceptions."""

import pickle

import numpy as np
import pytest
import scipy.sparse
import scipy.spatial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdforge.scipy as kscipy

P_VALUES = [1.0, 2.0, np.inf, 3.0]
SETTINGS = dict(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def point_sets(draw, max_n=120, max_d=4):
    """Random or adversarial (grid ties, duplicates, all equal, 1-D) points and queries."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(["uniform", "grid", "duplicates", "equal"]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        data = rng.random((n, d))
    elif kind == "grid":
        data = rng.integers(0, 4, (n, d)).astype(np.float64)
    elif kind == "duplicates":
        data = np.repeat(rng.random((max(1, n // 4), d)), 4, axis=0)[:n]
    else:
        data = np.full((n, d), 0.5)
    queries = rng.integers(0, 4, (7, d)).astype(np.float64) if kind == "grid" else rng.random((7, d))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    return data.astype(dtype), queries.astype(dtype)


def trees(data, leafsize=None, boxsize=None):
    kwargs = {} if leafsize is None else {"leafsize": leafsize}
    ours = kscipy.cKDTree(data, boxsize=boxsize, **kwargs)
    theirs = scipy.spatial.cKDTree(data.astype(np.float64), boxsize=boxsize, **kwargs)
    return ours, theirs


def brute_distances(data, queries, p, boxsize=None):
    diff = np.abs(queries[:, None, :].astype(np.float64) - data[None].astype(np.float64))
    if boxsize is not None:
        box = np.broadcast_to(np.asarray(boxsize, dtype=np.float64), (data.shape[1],))
        diff = np.where(box > 0, np.minimum(diff, box - diff), diff)
    if np.isinf(p):
        return diff.max(axis=2)
    return (diff ** p).sum(axis=2) ** (1.0 / p)


def check_knn(ours, theirs, data, queries, p, boxsize=None):
    """Same distances; every returned index really lies at its distance; same padding."""
    rtol = 1e-5 if data.dtype == np.float32 else 1e-9
    d1, i1 = ours
    d2, i2 = theirs
    assert d1.shape == d2.shape and i1.shape == i2.shape and i1.dtype == i2.dtype
    np.testing.assert_allclose(d1, d2, rtol=rtol, atol=1e-6)
    n = data.shape[0]
    assert np.array_equal(i1 == n, i2 == n)
    d1, i1 = d1.reshape(queries.shape[0], -1), i1.reshape(queries.shape[0], -1)
    full = brute_distances(data, queries, p, boxsize)
    rows = np.broadcast_to(np.arange(queries.shape[0])[:, None], i1.shape)
    found = i1 < n
    np.testing.assert_allclose(full[rows[found], i1[found]], d1[found], rtol=rtol, atol=1e-6)


@settings(**SETTINGS)
@given(point_sets(), st.sampled_from(P_VALUES), st.sampled_from([1, 3, [1, 4], [5, 2]]),
       st.sampled_from([np.inf, 0.3, 1.5]), st.sampled_from([1, 4, 16]))
def test_query_matches_scipy(points, p, k, bound, leafsize):
    data, queries = points
    ours, theirs = trees(data, leafsize)
    q64 = queries.astype(np.float64)
    check_knn(ours.query(queries, k, 0, p, bound), theirs.query(q64, k, 0, p, bound),
              data, queries, p)


@settings(**SETTINGS)
@given(point_sets(), st.sampled_from(P_VALUES), st.sampled_from([0.0, 0.2, 0.7, 2.0]))
def test_radius_operations_match_scipy(points, p, r):
    data, queries = points
    ours, theirs = trees(data)
    q64 = queries.astype(np.float64)
    got = ours.query_ball_point(queries, r, p)
    want = theirs.query_ball_point(q64, r, p)
    assert got.dtype == object and got.shape == want.shape
    assert [list(a) for a in got] == [list(a) for a in want]
    assert sorted(ours.query_ball_point(queries[0], r, p)) == sorted(theirs.query_ball_point(q64[0], r, p))
    assert np.array_equal(ours.query_ball_point(queries, r, p, return_length=True),
                          theirs.query_ball_point(q64, r, p, return_length=True))
    assert ours.query_pairs(r, p) == theirs.query_pairs(r, p)
    other_data = q64.astype(data.dtype)
    ours_other = kscipy.cKDTree(other_data)
    theirs_other = scipy.spatial.cKDTree(q64)
    assert ours.query_ball_tree(ours_other, r, p) == [sorted(x) for x in theirs.query_ball_tree(theirs_other, r, p)]
    radii = [0.0, r / 2, r]
    assert np.array_equal(ours.count_neighbors(ours_other, radii, p),
                          theirs.count_neighbors(theirs_other, radii, p))
    got = ours.sparse_distance_matrix(ours_other, r, p).toarray()
    want = theirs.sparse_distance_matrix(theirs_other, r, p).toarray()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_query_shapes_types_and_padding():
    rng = np.random.default_rng(1)
    data = rng.random((30, 2))
    ours, theirs = trees(data)
    for x, k in [([0.5, 0.5], 1), ([0.5, 0.5], 3), ([[0.5, 0.5]], 1), (rng.random((2, 3, 2)), 2),
                 (rng.random((2, 3, 2)), [2]), (rng.random((0, 2)), 1), ([0.5, 0.5], [3, 1])]:
        got, want = ours.query(x, k), theirs.query(x, k)
        for a, b in zip(got, want):
            assert type(a) is type(b)
            assert np.shape(a) == np.shape(b)
    d, i = ours.query([0.5, 0.5], k=40, distance_upper_bound=0.2)
    d2, i2 = theirs.query([0.5, 0.5], k=40, distance_upper_bound=0.2)
    assert np.array_equal(i == 30, i2 == 30) and np.isinf(d[i == 30]).all()
    assert ours.query([0.5, 0.5], distance_upper_bound=0) == theirs.query([0.5, 0.5], distance_upper_bound=0)
    assert type(ours.count_neighbors(ours, 0.2)) is int
    assert isinstance(ours.count_neighbors(ours, 0.2, weights=np.ones(30)), np.floating)
    counts = ours.query_ball_point([0.5, 0.5], 0.3, return_length=True)
    assert counts == theirs.query_ball_point([0.5, 0.5], 0.3, return_length=True)
    assert ours.query_pairs(0.2, output_type="ndarray").dtype == np.intp


def test_attributes_and_node_views():
    data = np.random.default_rng(2).random((100, 3))
    for cls, peer, default in [(kscipy.cKDTree, scipy.spatial.cKDTree, 16),
                               (kscipy.KDTree, scipy.spatial.KDTree, 10)]:
        ours, theirs = cls(data), peer(data)
        assert ours.leafsize == theirs.leafsize == default
        assert (ours.n, ours.m) == (theirs.n, theirs.m)
        assert np.array_equal(ours.maxes, theirs.maxes) and np.array_equal(ours.mins, theirs.mins)
        assert np.array_equal(np.sort(ours.indices), np.arange(100)) and ours.indices.dtype == np.intp
        assert ours.size == ours._core.n_nodes and ours.boxsize is None
        assert np.array_equal(ours.data, data)
    root = kscipy.cKDTree(data).tree
    assert root.level == 0 and root.children == 100 and root.split_dim >= 0
    assert root.lesser.children + root.greater.children == 100
    node, members = root, []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.lesser is None:
            members.extend(node.indices.tolist())
            assert np.array_equal(node.data_points, data[node.indices])
        else:
            stack += [node.greater, node.lesser]
    assert sorted(members) == list(range(100))
    kd_root = kscipy.KDTree(data).tree
    assert isinstance(kd_root, kscipy.KDTree.innernode)
    leaf = kd_root
    while isinstance(leaf, kscipy.KDTree.innernode):
        leaf = leaf.less
    assert isinstance(leaf, kscipy.KDTree.leafnode) and leaf.children == len(leaf.idx)


@pytest.mark.parametrize("call", [
    lambda T: T(np.arange(5.0)),
    lambda T: T([[np.nan, 1.0]]),
    lambda T: T([[1.0, 2.0]], leafsize=0),
    lambda T: T([[1.0, 2.0]], boxsize=[1, 1]),
    lambda T: T([[-0.1, 0.2]], boxsize=1),
    lambda T: T([[0.1, 0.2]], boxsize=[1, 1, 1]),
    lambda T: T(np.random.rand(9, 2)).query([0.5, 0.5, 1.0]),
    lambda T: T(np.random.rand(9, 2)).query(0.5),
    lambda T: T(np.random.rand(9, 2)).query([0.5, 0.5], p=0.5),
    lambda T: T(np.random.rand(9, 2)).query([0.5, np.nan]),
    lambda T: T(np.random.rand(9, 2)).query([0.5, 0.5], workers=0),
    lambda T: T(np.random.rand(9, 2)).query([0.5, 0.5], k=None),
    lambda T: T(np.random.rand(9, 2)).query_ball_point(np.random.rand(2, 3, 2), [0.1, 0.2]),
    lambda T: T(np.random.rand(9, 2)).query_pairs(0.2, output_type="x"),
    lambda T: T(np.random.rand(9, 2)).query_ball_tree(np.ones((3, 2)), 0.2),
    lambda T: T(np.random.rand(9, 2)).count_neighbors(T(np.random.rand(9, 2)), [[0.2]]),
    lambda T: T(np.random.rand(9, 2)).count_neighbors(T(np.random.rand(9, 2)), [0.3, 0.2], cumulative=False),
    lambda T: T(np.random.rand(9, 2)).count_neighbors(T(np.random.rand(5, 2)), 0.2, weights=np.ones(9)),
    lambda T: T(np.random.rand(9, 2)).count_neighbors(T(np.random.rand(9, 2)), 0.2, weights=(np.ones(3), None)),
    lambda T: T(np.random.rand(9, 2)).sparse_distance_matrix(T(np.random.rand(9, 2)), 0.2, output_type="zz"),
])
def test_bad_input_raises_the_same_exception_class(call):
    with pytest.raises(Exception) as theirs:
        call(scipy.spatial.cKDTree)
    with pytest.raises(theirs.type):
        call(kscipy.cKDTree)


def test_rank_below_one_is_a_value_error():
    # scipy crashes (segmentation fault) on k=[0]; kdforge refuses it
    with pytest.raises(ValueError):
        kscipy.cKDTree(np.random.rand(9, 2)).query([0.5, 0.5], k=[0])


def test_negative_radius_finds_nothing():
    tree = kscipy.cKDTree(np.random.default_rng(3).random((50, 2)))
    assert tree.query_ball_point([0.5, 0.5], -0.3) == []
    assert tree.query_pairs(-0.2) == set()
    assert tree.count_neighbors(tree, -1.0) == 0
    assert tree.sparse_distance_matrix(tree, -0.2).nnz == 0
    assert tree.query([0.5, 0.5], distance_upper_bound=-1.0) == (np.inf, 50)


def test_sparse_distance_matrix_output_types():
    rng = np.random.default_rng(4)
    a, b = rng.random((60, 2)), rng.random((40, 2))
    ours = kscipy.cKDTree(a).sparse_distance_matrix(kscipy.cKDTree(b), 0.2, output_type="dok_matrix")
    theirs = scipy.spatial.cKDTree(a).sparse_distance_matrix(scipy.spatial.cKDTree(b), 0.2)
    assert isinstance(ours, type(theirs)) and ours.shape == theirs.shape and ours.nnz == theirs.nnz
    for kind in ["coo_matrix", "dict", "ndarray"]:
        got = kscipy.cKDTree(a).sparse_distance_matrix(kscipy.cKDTree(b), 0.2, output_type=kind)
        want = scipy.spatial.cKDTree(a).sparse_distance_matrix(scipy.spatial.cKDTree(b), 0.2,
                                                              output_type=kind)
        assert type(got) is type(want)
        if kind == "dict":
            assert got.keys() == want.keys()
            np.testing.assert_allclose([got[key] for key in want], list(want.values()))
        elif kind == "ndarray":
            assert got.dtype == want.dtype
            assert sorted(zip(got["i"], got["j"])) == sorted(zip(want["i"], want["j"]))
        else:
            np.testing.assert_allclose(got.toarray(), want.toarray())
    # zero distances are stored explicitly, as in scipy
    self_matrix = kscipy.cKDTree(a).sparse_distance_matrix(kscipy.cKDTree(a), 0.1)
    assert self_matrix.nnz == scipy.spatial.cKDTree(a).sparse_distance_matrix(scipy.spatial.cKDTree(a), 0.1).nnz


def test_count_neighbors_weights_and_bins():
    rng = np.random.default_rng(5)
    a, b = rng.random((80, 3)), rng.random((70, 3))
    wa, wb = rng.random(80), rng.random(70)
    radii = np.linspace(0.0, 0.8, 9)
    ours_a, theirs_a = trees(a)
    ours_b, theirs_b = trees(b)
    for weights in [None, (wa, wb), (wa, None), (None, wb)]:
        for cumulative in [True, False]:
            got = ours_a.count_neighbors(ours_b, radii, 2, weights, cumulative, workers=2)
            want = theirs_a.count_neighbors(theirs_b, radii, 2, weights, cumulative)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-10)
    got = ours_a.count_neighbors(ours_a, radii, weights=wa)
    np.testing.assert_allclose(got, theirs_a.count_neighbors(theirs_a, radii, weights=wa))


def test_workers_give_identical_results():
    data = np.random.default_rng(6).random((20000, 3))
    tree = kscipy.cKDTree(data)
    one = tree.query_pairs(0.01, output_type="ndarray")
    assert np.array_equal(one, tree.query_pairs(0.01, output_type="ndarray", workers=2))
    assert np.array_equal(tree.count_neighbors(tree, [0.01, 0.02]),
                          tree.count_neighbors(tree, [0.01, 0.02], workers=2))
    assert one.shape[0] == scipy.spatial.cKDTree(data).query_pairs(0.01, output_type="ndarray").shape[0]


@st.composite
def periodic_sets(draw):
    n = draw(st.integers(1, 80))
    d = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    box = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 0.0]), min_size=d, max_size=d)))
    if draw(st.booleans()):
        box = np.full(d, box[0] if box[0] > 0 else 1.0)
    span = np.where(box > 0, box, 1.0)
    data = rng.random((n, d)) * span
    if draw(st.booleans()):  # points on the box edges
        data[: n // 2] = np.where(rng.random((n // 2, d)) < 0.5, 0.0, np.nextafter(span, 0))
    queries = rng.uniform(-1.0, 3.0, (6, d))
    return data, queries, box


@settings(**SETTINGS)
@given(periodic_sets(), st.sampled_from(P_VALUES), st.sampled_from([0.1, 0.4, 0.9]),
       st.sampled_from([1, 4]))
def test_periodic_boxsize_matches_scipy(sets, p, r, k):
    data, queries, box = sets
    boxsize = box if box.size > 1 and len(set(box.tolist())) > 1 else float(box[0])
    ours, theirs = trees(data, boxsize=boxsize)
    assert np.array_equal(ours.boxsize, theirs.boxsize)
    check_knn(ours.query(queries, k, p=p), theirs.query(queries, k, p=p), data,
              ours._queries(queries), p, boxsize)
    got = ours.query_ball_point(queries, r, p)
    want = theirs.query_ball_point(queries, r, p)
    assert [sorted(a) for a in got] == [sorted(a) for a in want]
    assert ours.query_pairs(r, p) == theirs.query_pairs(r, p)
    assert np.array_equal(ours.count_neighbors(ours, [r / 2, r], p),
                          theirs.count_neighbors(theirs, [r / 2, r], p))
    np.testing.assert_allclose(ours.sparse_distance_matrix(ours, r, p).toarray(),
                               theirs.sparse_distance_matrix(theirs, r, p).toarray(), atol=1e-9)
    assert ours.query_ball_tree(ours, r, p) == [sorted(x) for x in theirs.query_ball_tree(theirs, r, p)]


def test_pickle_round_trip():
    data = np.random.default_rng(7).random((200, 3))
    for tree in [kscipy.cKDTree(data), kscipy.KDTree(data, boxsize=1.0)]:
        clone = pickle.loads(pickle.dumps(tree))
        assert type(clone) is type(tree) and clone.leafsize == tree.leafsize
        q = data[:10]
        for a, b in zip(tree.query(q, k=3), clone.query(q, k=3)):
            assert np.array_equal(a, b)
        assert clone.query_pairs(0.1) == tree.query_pairs(0.1)


def test_float32_stays_float32_and_empty_tree():
    data = np.random.default_rng(8).random((50, 2)).astype(np.float32)
    d, i = kscipy.cKDTree(data).query(data[:3], k=2)
    assert d.dtype == np.float32 and i.dtype == np.intp
    empty = kscipy.cKDTree(np.empty((0, 3)))
    got, want = empty.query([0.0, 0.0, 0.0], k=2), scipy.spatial.cKDTree(np.empty((0, 3))).query([0.0, 0.0, 0.0], k=2)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])
    assert empty.query_pairs(1.0) == set() and empty.count_neighbors(empty, 1.0) == 0
