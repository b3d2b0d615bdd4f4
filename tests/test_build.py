"""Tree construction: structure, determinism across thread counts, options and edge cases."""

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.spatial import cKDTree

import kdforge
import kdforge.tree
from kdforge._build import PARALLEL_MIN_POINTS
from kdforge._kernels.select import CHUNKED_MIN_ROWS

SPLITS = ("max_spread", "round_robin")
DIVISIONS = ("median", "root")
OPTIONS = [(split, division) for split in SPLITS for division in DIVISIONS]


def node_depths(n_nodes):
    return np.frexp(np.arange(n_nodes) + 1.0)[1].astype(np.int64) - 1


def check_tree(tree, data, leaf_size=None):
    """Assert every documented invariant of ``tree`` built over ``data``."""
    data = np.asarray(data)
    n, d = data.shape
    leaf_size = tree.leaf_size if leaf_size is None else leaf_size
    _, idx, nodes, bounds = tree.get_arrays()
    tree_data = tree.tree_data
    start = nodes["idx_start"].astype(np.int64)
    end = nodes["idx_end"].astype(np.int64)
    n_nodes, n_internal = tree.n_nodes, tree.n_internal

    # rows: a permutation, and the reordered copy matches it
    assert idx.dtype == (np.int32 if n <= kdforge.record.INDEX_INT32_LIMIT else np.int64)
    np.testing.assert_array_equal(np.sort(idx), np.arange(n))
    np.testing.assert_array_equal(tree_data, data.astype(tree.dtype)[idx])

    # heap shape and row ranges: the root holds everything, children split their parent
    assert n_nodes == 2 * n_internal + 1
    assert (start[0], end[0]) == (0, n)
    parents = np.arange(n_internal)
    left, right = 2 * parents + 1, 2 * parents + 2
    np.testing.assert_array_equal(start[left], start[parents])
    np.testing.assert_array_equal(end[left], start[right])
    np.testing.assert_array_equal(end[right], end[parents])
    assert (end > start).all(), "empty node"
    leaves = np.arange(n_internal, n_nodes)
    assert tree.n_levels == node_depths(n_nodes)[leaves].max()
    np.testing.assert_array_equal(nodes["is_leaf"], np.arange(n_nodes) >= n_internal)

    # leaf sizes as documented
    sizes = end[leaves] - start[leaves]
    if tree.division == "median":
        levels = tree.n_levels
        assert n_nodes == (2 << levels) - 1
        assert set(np.unique(sizes)) <= {n >> levels, -(-n >> levels)}
        assert (node_depths(n_nodes)[leaves] == levels).all()
        if n >= 2 * leaf_size:
            assert sizes.max() <= max(leaf_size, 2)  # leaf_size 1: one or two points
    else:
        n_leaves = -(-n // leaf_size)
        assert n_nodes == 2 * n_leaves - 1
        in_point_order = np.sort(start[leaves])
        np.testing.assert_array_equal(in_point_order, np.arange(n_leaves) * leaf_size)
        last = leaves[np.argmax(start[leaves])]
        assert (sizes[leaves != last] == leaf_size).all()

    # splits: left rows <= split value <= right rows in the split dimension
    dims = nodes["split_dim"]
    assert (dims[leaves] == -1).all()
    assert ((dims[:n_internal] >= 0) & (dims[:n_internal] < d)).all()
    for node in range(n_internal):
        dim, value = dims[node], nodes["split_value"][node]
        assert tree_data[start[node]:end[2 * node + 1], dim].max() <= value
        # the split value is the median itself: the smallest value of the right child
        assert tree_data[start[2 * node + 2]:end[node], dim].min() == value

    # boxes: tight at the leaves, the union of the children above
    order = np.argsort(start[leaves])
    leaf_lo = np.minimum.reduceat(tree_data, start[leaves][order], axis=0)
    leaf_hi = np.maximum.reduceat(tree_data, start[leaves][order], axis=0)
    np.testing.assert_array_equal(bounds[0, leaves[order]], leaf_lo)
    np.testing.assert_array_equal(bounds[1, leaves[order]], leaf_hi)
    np.testing.assert_array_equal(bounds[0, parents], np.minimum(bounds[0, left], bounds[0, right]))
    np.testing.assert_array_equal(bounds[1, parents], np.maximum(bounds[1, left], bounds[1, right]))

    # split dimensions follow the rule
    if n_internal:
        if tree.split == "max_spread":
            spread = bounds[1, parents] - bounds[0, parents]
            np.testing.assert_array_equal(dims[parents], np.argmax(spread, axis=1))
        else:
            np.testing.assert_array_equal(dims[parents], node_depths(n_nodes)[parents] % d)


def assert_same_tree(a, b):
    for x, y in zip(a.get_arrays(), b.get_arrays()):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.tree_data, b.tree_data)
    assert a.n_levels == b.n_levels and a.n_internal == b.n_internal


def adversarial_inputs(n, rng):
    grid = np.stack(np.meshgrid(*[np.arange(-(-round(n ** (1 / 3)) // 1))] * 3), -1).reshape(-1, 3)
    return {
        "identical": np.ones((n, 3)),
        "sorted": np.sort(rng.random((n, 3)), axis=0),
        "reverse_sorted": np.sort(rng.random((n, 3)), axis=0)[::-1].copy(),
        "two_valued": rng.integers(0, 2, (n, 3)).astype(np.float64),
        "grid": grid[:n].astype(np.float64),
        "one_column_constant": np.column_stack([np.zeros(n), rng.random((n, 2))]),
    }


@pytest.mark.parametrize("split,division", OPTIONS)
@pytest.mark.parametrize("leaf_size", [1, 5, 16, 40])
def test_structure_random(split, division, leaf_size):
    rng = np.random.default_rng(leaf_size)
    data = rng.normal(size=(3001, 3))
    tree = kdforge.KDTree(data, leaf_size=leaf_size, split=split, division=division)
    assert (tree.split, tree.division, tree.leaf_size) == (split, division, leaf_size)
    check_tree(tree, data)


@pytest.mark.parametrize("split,division", OPTIONS)
def test_parallel_build_is_identical_to_serial(split, division):
    # big enough for the wide phase: every round of the root's selection is chunked
    rng = np.random.default_rng(1)
    data = rng.random((2 * CHUNKED_MIN_ROWS + 12345, 3))
    data[::7, 0] = 0.5  # duplicates in a column
    serial = kdforge.KDTree(data, split=split, division=division, workers=1)
    check_tree(serial, data)
    for workers in (2, 3, 4):
        assert_same_tree(serial, kdforge.KDTree(data, split=split, division=division, workers=workers))


def test_parallel_build_clustered_float32():
    rng = np.random.default_rng(2)
    centres = rng.random((20, 4)) * 100
    data = (centres[rng.integers(0, 20, 200_000)] + rng.normal(size=(200_000, 4))).astype(np.float32)
    serial = kdforge.KDTree(data, split="max_spread", workers=1)
    check_tree(serial, data)
    assert_same_tree(serial, kdforge.KDTree(data, split="max_spread", workers=2))
    assert_same_tree(serial, kdforge.KDTree(data, split="max_spread", workers=-1, progress=False))


@pytest.mark.parametrize("name", sorted(adversarial_inputs(10, np.random.default_rng(0))))
def test_adversarial_inputs(name):
    data = adversarial_inputs(100_000, np.random.default_rng(3))[name]
    for split, division in OPTIONS:
        serial = kdforge.KDTree(data, split=split, division=division, workers=1)
        check_tree(serial, data)
        assert_same_tree(serial, kdforge.KDTree(data, split=split, division=division, workers=2))


def test_adversarial_inputs_wide_phase():
    # long identical / sorted / two-valued columns go through the chunked rounds too
    rng = np.random.default_rng(4)
    for data in (np.zeros((CHUNKED_MIN_ROWS + 5, 2)),
                 np.sort(rng.random((CHUNKED_MIN_ROWS + 5, 2)), axis=0)[::-1].copy(),
                 rng.integers(0, 2, (CHUNKED_MIN_ROWS + 5, 2)).astype(np.float64)):
        serial = kdforge.KDTree(data, workers=1)
        check_tree(serial, data)
        assert_same_tree(serial, kdforge.KDTree(data, workers=2))


@pytest.mark.parametrize("split,division", OPTIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (2, 1), (7, 2), (15, 3), (16, 3), (17, 3), (1000, 1)])
def test_small_and_one_dimensional(split, division, shape):
    data = np.random.default_rng(shape[0]).random(shape)
    tree = kdforge.KDTree(data, split=split, division=division)
    check_tree(tree, data)
    k = min(3, shape[0])
    dist, idx = tree.query(data, k=k)
    ref_dist, _ = cKDTree(data).query(data, k=k)
    np.testing.assert_allclose(dist.reshape(ref_dist.shape), ref_dist)


def test_fewer_points_than_leaf_size():
    data = np.random.default_rng(5).random((10, 3))
    for division in DIVISIONS:
        tree = kdforge.KDTree(data, leaf_size=64, division=division)
        check_tree(tree, data)
        assert tree.n_nodes == 1 and tree.n_internal == 0 and tree.n_levels == 0


@pytest.mark.parametrize("division", DIVISIONS)
def test_float32(division):
    data = np.random.default_rng(6).random((5000, 3)).astype(np.float32)
    tree = kdforge.KDTree(data, division=division)
    assert tree.tree_data.dtype == np.float32 and tree.node_bounds.dtype == np.float32
    check_tree(tree, data)


@pytest.mark.parametrize("division", DIVISIONS)
def test_int64_index_path(monkeypatch, division):
    monkeypatch.setattr(kdforge.record, "INDEX_INT32_LIMIT", 1000)
    data = np.random.default_rng(7).random((PARALLEL_MIN_POINTS + 1000, 2))
    serial = kdforge.KDTree(data, division=division, workers=1)
    assert serial.idx_array.dtype == np.int64
    assert serial.node_data["idx_start"].dtype == np.int64
    check_tree(serial, data)
    assert_same_tree(serial, kdforge.KDTree(data, division=division, workers=2))
    small = kdforge.KDTree(data[:1000], division=division)
    assert small.idx_array.dtype == np.int32
    check_tree(small, data[:1000])


def test_root_division_shape():
    data = np.random.default_rng(8).random((1000, 2))
    tree = kdforge.KDTree(data, leaf_size=10, division="root")
    assert tree.n_internal == 99 and tree.n_nodes == 199 and tree.n_levels == 7
    tree = kdforge.KDTree(data[:981], leaf_size=10, division="root")  # 99 leaves, the last of 1
    assert tree.n_internal == 98 and tree.n_levels == 7
    check_tree(tree, data[:981])


@pytest.mark.parametrize("split,division", OPTIONS)
@pytest.mark.parametrize("leaf_size", [1, 16, 33])
def test_knn_matches_scipy(split, division, leaf_size):
    rng = np.random.default_rng(leaf_size)
    data = np.vstack([rng.random((4000, 3)), np.round(rng.random((1000, 3)) * 4) / 4])
    queries = rng.random((300, 3))
    tree = kdforge.KDTree(data, leaf_size=leaf_size, split=split, division=division)
    dist, idx = tree.query(queries, k=16)
    ref_dist, ref_idx = cKDTree(data).query(queries, k=16)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)
    # ties aside, the neighbours are the same
    same = np.isclose(dist, ref_dist) & (idx != ref_idx)
    np.testing.assert_allclose(np.linalg.norm(data[idx[same]] - queries[np.nonzero(same)[0]], axis=1),
                               ref_dist[same])


def test_eight_threads_build_at_once():
    rng = np.random.default_rng(9)
    datasets = [rng.random((PARALLEL_MIN_POINTS + 5000 * i, 3)) for i in range(8)]
    expected = [kdforge.KDTree(data, workers=1) for data in datasets]

    def build(i):
        return kdforge.KDTree(datasets[i], workers=1 + i % 3, division="median")

    with ThreadPoolExecutor(max_workers=8) as pool:
        trees = list(pool.map(build, range(8)))
    for tree, reference in zip(trees, expected):
        assert_same_tree(tree, reference)


def test_build_inside_a_pool_task():
    # a build started on one of kdforge's own pool threads runs serially instead of waiting
    # on the pool it occupies
    from kdforge._parallel import run_chunked

    data = np.random.default_rng(12).random((PARALLEL_MIN_POINTS + 10, 2))
    expected = kdforge.KDTree(data, workers=1)
    trees = run_chunked(lambda start, stop: kdforge.KDTree(data, workers=2), 2 * 4096, 2)
    assert len(trees) > 1
    for tree in trees:
        assert_same_tree(tree, expected)


def test_progress_bar(capsys):
    pytest.importorskip("tqdm")
    data = np.random.default_rng(10).random((PARALLEL_MIN_POINTS + 10, 3))
    for workers in (1, 2):
        tree = kdforge.KDTree(data, workers=workers, progress=True)
        assert_same_tree(tree, kdforge.KDTree(data, workers=1))
    assert "building KDTree" in capsys.readouterr().err


def test_progress_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match=r"kdforge\[progress\]"):
        kdforge.KDTree(np.zeros((10, 2)), progress=True)
    kdforge.KDTree(np.zeros((10, 2)))  # no tqdm needed without progress


@pytest.mark.parametrize("kwargs,error", [
    (dict(workers=0), ValueError),
    (dict(workers=1.5), TypeError),
    (dict(workers="2"), TypeError),
    (dict(division="x"), ValueError),
    (dict(division=1), TypeError),
    (dict(progress="yes"), TypeError),
    (dict(progress=1), TypeError),
    (dict(progress=None), TypeError),
    (dict(split="x"), ValueError),
    (dict(leaf_size=0), ValueError),
])
def test_bad_options(kwargs, error):
    with pytest.raises(error):
        kdforge.KDTree(np.zeros((10, 2)), **kwargs)


def test_negative_workers_count_from_cores():
    data = np.random.default_rng(11).random((PARALLEL_MIN_POINTS + 1, 2))
    assert_same_tree(kdforge.KDTree(data, workers=-1), kdforge.KDTree(data, workers=-2))
