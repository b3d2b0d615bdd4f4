"""The ROOT-style node API (kdforge.nodes) against brute-force references.

Every check runs on trees of several layouts: the default median division (max-spread and
round-robin splits), a left-complete heap-shaped tree like ROOT's division (built here by
hand, leaves at two depths and leaf ids out of point order), and ROOT's division itself
when ``KDTree`` accepts ``division="root"``.
"""

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kdforge
import reference
from kdforge.nodes import NodeIdError

HAS_ROOT_DIVISION = "division" in inspect.signature(kdforge.KDTree.__init__).parameters
LAYOUTS = ["max_spread", "round_robin", "sliding_midpoint", "heap"] + (["root"] if HAS_ROOT_DIVISION else [])


def heap_shaped_tree(data, leaf_size):
    """Left-complete tree: ceil(n / leaf_size) leaves of leaf_size points (the last one in
    point order takes the rest), node i's children 2i+1 and 2i+2, split on the widest
    dimension at the row where the left subtree's leaves end. Built here in Python, from
    sorting, and validated by ``KDTree.from_record``."""
    data = np.asarray(data)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    points = data.copy()
    n = points.shape[0]
    n_leaves = -(-n // leaf_size)
    n_internal, n_nodes = n_leaves - 1, 2 * n_leaves - 1

    def in_order(node):
        if node >= n_internal:
            return [node]
        return in_order(2 * node + 1) + in_order(2 * node + 2)

    start = np.zeros(n_nodes, dtype=np.int64)
    end = np.zeros(n_nodes, dtype=np.int64)
    for position, leaf in enumerate(in_order(0)):
        start[leaf] = position * leaf_size
        end[leaf] = min(n, (position + 1) * leaf_size)
    for node in range(n_internal - 1, -1, -1):
        start[node], end[node] = start[2 * node + 1], end[2 * node + 2]
    idx = np.arange(n, dtype=np.int32)
    split_dim = np.full(n_nodes, -1, dtype=np.int32)
    split_value = np.zeros(n_nodes, dtype=points.dtype)
    for node in range(n_internal):
        rows = slice(start[node], end[node])
        dim = int(np.argmax(np.ptp(points[rows], axis=0)))
        order = np.argsort(points[rows, dim], kind="stable")
        points[rows] = points[rows][order]
        idx[rows] = idx[rows][order]
        split_dim[node] = dim
        split_value[node] = points[end[2 * node + 1], dim]
    bounds = np.stack([np.array([points[start[i]:end[i]].min(0) for i in range(n_nodes)]),
                       np.array([points[start[i]:end[i]].max(0) for i in range(n_nodes)])])
    record = kdforge.TreeRecord(
        tree_data=points, idx_array=idx, node_start=start.astype(np.int32),
        node_end=end.astype(np.int32), split_dim=split_dim, split_value=split_value,
        node_bounds=bounds, leaf_size=leaf_size, split=kdforge.record.SPLIT_RULES["max_spread"],
        division=kdforge.record.DIVISIONS["root"], n_levels=n_nodes.bit_length() - 1)
    return kdforge.KDTree.from_record(record, data)


def make_tree(data, leaf_size, layout):
    if layout == "heap":
        return heap_shaped_tree(data, leaf_size)
    if layout == "root":
        return kdforge.KDTree(data, leaf_size=leaf_size, division="root")
    return kdforge.KDTree(data, leaf_size=leaf_size, split=layout)


def datasets():
    rng = np.random.default_rng(42)
    centers = rng.random((3, 2)) * 10
    return {
        "uniform3d": rng.random((300, 3)),
        "grid2d": rng.integers(0, 4, size=(200, 2)).astype(np.float64),  # many duplicates and ties
        "all_equal": np.full((40, 3), 0.5),
        "single": np.array([[1.0, 2.0, 3.0]]),
        "d1": rng.integers(0, 20, size=(101, 1)).astype(np.float64),
        "float32": (centers[rng.integers(0, 3, 257)] + 0.1 * rng.standard_normal((257, 2))).astype(np.float32),
        "sorted": np.sort(rng.random((64, 2)), axis=0),
    }


DATASETS = datasets()
CASES = [(name, leaf_size, layout) for name in DATASETS for leaf_size in (1, 5) for layout in LAYOUTS]


@pytest.fixture(params=CASES, ids=lambda case: "-".join(map(str, case)))
def tree(request):
    name, leaf_size, layout = request.param
    return make_tree(DATASETS[name], leaf_size, layout)


# ---------------------------------------------------------------------- references
def ancestors(tree, node):
    """(ancestor, went_left) pairs from the node up to the root: by the heap formulas for the
    implicit layouts, by the stored parents for the explicit one."""
    rec = tree.record
    while node > 0:
        if tree.division == "midpoint":
            parent = int(rec.node_parent[node])
            yield parent, node == rec.node_children[parent, 0]
        else:
            parent = (node - 1) // 2
            yield parent, node % 2 == 1
        node = parent


def ref_cells(tree):
    """Cell of every node from the data's bounding box and the ancestors' splits."""
    nd = tree.node_data
    lo0, hi0 = tree.data.min(axis=0), tree.data.max(axis=0)
    cells = np.empty((tree.n_nodes, 2, tree.n_dims), dtype=tree.dtype)
    for node in range(tree.n_nodes):
        lo, hi = lo0.copy(), hi0.copy()
        for parent, went_left in ancestors(tree, node):
            dim, value = nd["split_dim"][parent], nd["split_value"][parent]
            if went_left:
                hi[dim] = min(hi[dim], value)
            else:
                lo[dim] = max(lo[dim], value)
        cells[node] = lo, hi
    return cells


def ref_find_leaf(tree, queries):
    """The one leaf whose path conditions (left: x < split, right: x >= split) hold."""
    nd = tree.node_data
    q = queries.astype(tree.dtype)
    out = np.full(q.shape[0], -1)
    for leaf in range(tree.n_internal, tree.n_nodes):
        ok = np.ones(q.shape[0], dtype=bool)
        for parent, went_left in ancestors(tree, leaf):
            column = q[:, nd["split_dim"][parent]]
            value = nd["split_value"][parent]
            ok &= (column < value) if went_left else (column >= value)
        assert (out[ok] == -1).all()
        out[ok] = leaf
    assert (out >= 0).all()
    return out


def ref_box_distances(q, lo, hi, p):
    """Distances from points to the nearest and farthest points of boxes, in float64."""
    q, lo, hi = (np.asarray(a, dtype=np.float64) for a in (q, lo, hi))
    near = np.abs(q - np.clip(q, lo, hi))
    far = np.maximum(np.abs(q - lo), np.abs(hi - q))

    def norm(diff):
        return diff.max(axis=-1) if np.isinf(p) else (diff ** p).sum(axis=-1) ** (1.0 / p)

    return norm(near), norm(far)


def awkward_queries(tree, rng, m=60):
    """Data points, points on split planes, nearby points and points far outside the data."""
    data = tree.data.astype(np.float64)
    n, d = data.shape
    picks = data[rng.integers(0, n, m)]
    on_planes = picks.copy()
    dims, values = tree.node_split(np.arange(tree.n_internal))
    if tree.n_internal:
        chosen = rng.integers(0, tree.n_internal, m)
        on_planes[np.arange(m), dims[chosen]] = values[chosen]
    span = np.ptp(data, axis=0) + 1.0
    outside = data.min(axis=0) - span + rng.random((m, d)) * 3 * span
    near = picks + 0.05 * span * rng.standard_normal((m, d))
    return np.concatenate([picks, on_planes, outside, near])


# ---------------------------------------------------------------------- navigation
def test_navigation_matches_heap_formulas(tree):
    ids = np.arange(tree.n_nodes)
    leaf = ids >= tree.n_internal
    assert tree.n_leaves == leaf.sum() == tree.n_nodes - tree.n_internal
    depths = np.array([len(list(ancestors(tree, i))) for i in ids])
    np.testing.assert_array_equal(tree.node_depth(ids), depths)
    assert tree.depth == depths[leaf].max()
    np.testing.assert_array_equal(tree.is_leaf(ids), leaf)
    if tree.division == "midpoint":  # explicit links: consistent with each other
        internal = ids[~leaf]
        np.testing.assert_array_equal(tree.parent(tree.left(internal)), internal)
        np.testing.assert_array_equal(tree.parent(tree.right(internal)), internal)
        assert (tree.left(ids[leaf]) == -1).all() and (tree.right(ids[leaf]) == -1).all()
        assert sorted(np.concatenate([tree.left(internal), tree.right(internal)]).tolist()) == \
            list(range(1, tree.n_nodes))
    else:
        np.testing.assert_array_equal(tree.left(ids), np.where(leaf, -1, 2 * ids + 1))
        np.testing.assert_array_equal(tree.right(ids), np.where(leaf, -1, 2 * ids + 2))
        np.testing.assert_array_equal(tree.parent(ids), np.where(ids > 0, (ids - 1) // 2, -1))
    assert tree.parent(0) == -1 and isinstance(tree.parent(0), int)
    last = tree.n_nodes - 1
    assert tree.is_leaf(last) is True and tree.left(last) == -1 and tree.right(last) == -1
    grid = ids[: 2 * (ids.size // 2)].reshape(2, -1)
    assert tree.left(grid).shape == grid.shape and tree.node_size(grid).shape == grid.shape
    assert tree.left([]).shape == (0,)


def test_leaves_are_in_point_order(tree):
    leaves = tree.leaves()
    assert sorted(leaves.tolist()) == list(range(tree.n_internal, tree.n_nodes))
    starts = tree.node_data["idx_start"][leaves]
    assert (np.diff(starts) >= 0).all()
    joined = np.concatenate([tree.node_indices(leaf) for leaf in leaves])
    np.testing.assert_array_equal(joined, tree.idx_array)
    assert tree.node_size(leaves).sum() == tree.n_points


def test_node_indices_and_sizes(tree):
    for node in range(tree.n_nodes):
        indices = tree.node_indices(node)
        assert not indices.flags.writeable
        assert indices.size == tree.node_size(node) > 0
        if not tree.is_leaf(node):
            children = np.concatenate([tree.node_indices(tree.left(node)), tree.node_indices(tree.right(node))])
            np.testing.assert_array_equal(np.sort(children), np.sort(indices))
    assert tree.node_size(0) == tree.n_points
    np.testing.assert_array_equal(np.sort(tree.node_indices(0)), np.arange(tree.n_points))


def test_node_split_separates_children(tree):
    for node in range(tree.n_nodes):
        dim, value = tree.node_split(node)
        if tree.is_leaf(node):
            assert dim == -1 and np.isnan(value)
            continue
        left = tree.data[tree.node_indices(tree.left(node)), dim]
        right = tree.data[tree.node_indices(tree.right(node)), dim]
        assert (left <= value).all() and (right >= value).all()
    dims, values = tree.node_split(np.arange(tree.n_nodes))
    assert values.dtype == tree.dtype and dims.dtype == np.int64


def test_boxes(tree):
    tight = tree.boxes("tight")
    cell = tree.boxes()
    assert tight.shape == cell.shape == (tree.n_nodes, 2, tree.n_dims)
    assert tight.dtype == cell.dtype == tree.dtype
    for node in range(tree.n_nodes):
        points = tree.data[tree.node_indices(node)]
        np.testing.assert_array_equal(tight[node], [points.min(axis=0), points.max(axis=0)])
    np.testing.assert_array_equal(cell, ref_cells(tree))
    assert (cell[:, 0] <= tight[:, 0]).all() and (tight[:, 1] <= cell[:, 1]).all()
    np.testing.assert_array_equal(tight.transpose(1, 0, 2), tree.node_bounds)


# ---------------------------------------------------------------------- geometry queries
def test_find_leaf(tree):
    queries = awkward_queries(tree, np.random.default_rng(1))
    leaves = tree.find_leaf(queries)
    assert leaves.dtype == np.int64
    np.testing.assert_array_equal(leaves, ref_find_leaf(tree, queries))
    cells = tree.boxes("cell")[leaves]
    inside = (queries >= tree.data.min(0)).all(1) & (queries <= tree.data.max(0)).all(1)
    q = queries.astype(tree.dtype)[inside]
    assert ((cells[inside, 0] <= q) & (q <= cells[inside, 1])).all()
    assert tree.find_leaf(queries[0]) == leaves[0]


def test_find_point(tree):
    queries = awkward_queries(tree, np.random.default_rng(2)).astype(tree.dtype)
    equal = (queries[:, None, :] == tree.data[None, :, :]).all(axis=2)
    expected = np.where(equal.any(axis=1), equal.argmax(axis=1), -1)
    np.testing.assert_array_equal(tree.find_point(queries), expected)
    every = tree.find_point(queries, all_matches=True)
    assert every.shape == (queries.shape[0],)
    for row, found in zip(equal, every):
        np.testing.assert_array_equal(found, np.flatnonzero(row))
    # every data point finds itself or an identical point with a smaller index
    first = tree.find_point(tree.data)
    np.testing.assert_array_equal(tree.data[first], tree.data)
    assert (first <= np.arange(tree.n_points)).all()
    assert tree.find_point(tree.data[0]) == 0
    np.testing.assert_array_equal(tree.find_point(tree.data[0], all_matches=True),
                                  np.flatnonzero((tree.data == tree.data[0]).all(axis=1)))


@pytest.mark.parametrize("p", [1, 2, 3, np.inf])
@pytest.mark.parametrize("kind", ["cell", "tight"])
def test_distance_to_node(tree, p, kind):
    rng = np.random.default_rng(3)
    queries = awkward_queries(tree, rng, m=15)
    nodes = rng.integers(0, tree.n_nodes, queries.shape[0])
    boxes = ref_cells(tree) if kind == "cell" else tree.boxes("tight")
    dmin, dmax = tree.distance_to_node(queries, nodes, p=p, kind=kind)
    assert dmin.shape == dmax.shape == nodes.shape and dmin.dtype == tree.dtype
    q = queries.astype(tree.dtype)
    ref_min, ref_max = ref_box_distances(q, boxes[nodes, 0], boxes[nodes, 1], p)
    rtol = 1e-5 if tree.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(dmin, ref_min, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(dmax, ref_max, rtol=rtol, atol=1e-12)
    # the bounds hold for every point of the node
    for qi, node in enumerate(nodes):
        red = reference.reduced_distances(tree.data[tree.node_indices(node)], q[qi:qi + 1], p)
        dist = reference.to_distance(red, p)
        assert dmin[qi] <= dist.min() * (1 + rtol) and dist.max() <= dmax[qi] * (1 + rtol)
    # outer form, and one point against many nodes
    outer_min, outer_max = tree.distance_to_node(queries[:4, None, :], np.arange(tree.n_nodes), p=p, kind=kind)
    assert outer_min.shape == (4, tree.n_nodes)
    for qi in range(4):
        one_min, one_max = tree.distance_to_node(queries[qi], np.arange(tree.n_nodes), p=p, kind=kind)
        np.testing.assert_array_equal(outer_min[qi], one_min)
        np.testing.assert_array_equal(outer_max[qi], one_max)
    scalar_min, _ = tree.distance_to_node(queries[0], int(nodes[0]), p=p, kind=kind)
    assert np.ndim(scalar_min) == 0 and scalar_min == dmin[0]


def test_query_box(tree):
    rng = np.random.default_rng(4)
    data = tree.data.astype(np.float64)
    corners = awkward_queries(tree, rng, m=20)
    other = corners + rng.random(corners.shape) * np.ptp(data, axis=0).max()
    lo, hi = np.minimum(corners, other), np.maximum(corners, other)
    lo[:3], hi[:3] = data[:3], data[:3]                # degenerate boxes on data points
    lo[3], hi[3] = -np.inf, np.inf                      # everything
    lo[4, 0], hi[4, 0] = -np.inf, data[0, 0]            # half-open slab
    expected = [np.flatnonzero(((data >= a) & (data <= b)).all(axis=1)) for a, b in zip(lo, hi)]
    got = tree.query_box(lo, hi, sort_results=True)
    csr = tree.query_box_csr(lo, hi)
    assert got.shape == (lo.shape[0],)
    for i, exp in enumerate(expected):
        np.testing.assert_array_equal(got[i], exp)
        np.testing.assert_array_equal(np.sort(csr.indices[csr.indptr[i]:csr.indptr[i + 1]]), exp)
    assert csr.distances is None and csr.indices.dtype == np.int64
    np.testing.assert_array_equal(csr.counts, [e.size for e in expected])
    np.testing.assert_array_equal(tree.query_box(lo[0], hi[0], sort_results=True), expected[0])
    # one corner shared by every box
    shared_lo = lo[5:9].min(axis=0)
    shared = tree.query_box(shared_lo, hi[5:9], sort_results=True)
    for i, found in enumerate(shared):
        np.testing.assert_array_equal(found, np.flatnonzero(((data >= shared_lo) & (data <= hi[5 + i])).all(axis=1)))


def test_workers_give_the_serial_answers():
    rng = np.random.default_rng(5)
    tree = kdforge.KDTree(rng.integers(0, 50, size=(3000, 2)).astype(np.float64), leaf_size=8)
    queries = rng.integers(-2, 52, size=(3000, 2)).astype(np.float64)
    np.testing.assert_array_equal(tree.find_leaf(queries, workers=2), tree.find_leaf(queries))
    np.testing.assert_array_equal(tree.find_point(queries, workers=2), tree.find_point(queries))
    for a, b in zip(tree.find_point(queries, all_matches=True, workers=2), tree.find_point(queries, all_matches=True)):
        np.testing.assert_array_equal(a, b)
    nodes = rng.integers(0, tree.n_nodes, 3000)
    for a, b in zip(tree.distance_to_node(queries, nodes, workers=2), tree.distance_to_node(queries, nodes)):
        np.testing.assert_array_equal(a, b)
    serial = tree.query_box_csr(queries, queries + 3)
    threaded = tree.query_box_csr(queries, queries + 3, workers=2)
    np.testing.assert_array_equal(serial.indptr, threaded.indptr)
    np.testing.assert_array_equal(serial.indices, threaded.indices)


# ---------------------------------------------------------------------- property tests
@st.composite
def small_trees(draw):
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    data = rng.integers(0, draw(st.integers(1, 5)), size=(n, d)).astype(draw(st.sampled_from([np.float32, np.float64])))
    tree = make_tree(data, draw(st.integers(1, 6)), draw(st.sampled_from(LAYOUTS)))
    queries = rng.integers(-1, 6, size=(draw(st.integers(1, 10)), d)).astype(np.float64)
    return tree, queries


@settings(deadline=None, max_examples=60)
@given(small_trees())
def test_property_find_point_and_leaf(case):
    tree, queries = case
    equal = (queries[:, None, :] == tree.data[None, :, :]).all(axis=2)
    np.testing.assert_array_equal(tree.find_point(queries),
                                  np.where(equal.any(axis=1), equal.argmax(axis=1), -1))
    np.testing.assert_array_equal(tree.find_leaf(queries), ref_find_leaf(tree, queries))


@settings(deadline=None, max_examples=60)
@given(small_trees(), st.integers(0, 2**32 - 1))
def test_property_query_box(case, seed):
    tree, lo = case
    hi = lo + np.random.default_rng(seed).integers(0, 4, size=lo.shape)
    data = tree.data.astype(np.float64)
    for got, a, b in zip(tree.query_box(lo, hi, sort_results=True), lo, hi):
        np.testing.assert_array_equal(got, np.flatnonzero(((data >= a) & (data <= b)).all(axis=1)))


@settings(deadline=None, max_examples=40)
@given(small_trees())
def test_property_cells_tile_space(case):
    tree, queries = case
    leaves = tree.find_leaf(queries)
    cells = tree.boxes("cell")
    root_lo, root_hi = cells[0]
    clipped = np.clip(queries.astype(tree.dtype), root_lo, root_hi)
    assert ((cells[leaves, 0] <= clipped) & (clipped <= cells[leaves, 1])).all()
    dmin, _ = tree.distance_to_node(clipped, leaves)
    np.testing.assert_array_equal(dmin, 0)


# ---------------------------------------------------------------------- from_columns
def test_from_columns():
    rng = np.random.default_rng(6)
    x, y, z = rng.random((3, 100))
    tree = kdforge.KDTree.from_columns([x, y, z], leaf_size=4)
    np.testing.assert_array_equal(tree.data, np.column_stack([x, y, z]))
    assert tree.leaf_size == 4 and tree.dtype == np.float64
    np.testing.assert_array_equal(tree.query(tree.data[:5], k=3)[1],
                                  kdforge.KDTree(np.column_stack([x, y, z])).query(tree.data[:5], k=3)[1])
    f32 = kdforge.KDTree.from_columns([x.astype(np.float32), y.astype(np.float32)])
    assert f32.dtype == np.float32
    assert kdforge.KDTree.from_columns([x.astype(np.float32), y]).dtype == np.float64
    assert kdforge.KDTree.from_columns([np.arange(5), np.arange(5)]).dtype == np.float64
    np.testing.assert_array_equal(kdforge.KDTree.from_columns(np.stack([x, y])).data, np.column_stack([x, y]))
    strided = np.column_stack([x, y])[:, 0]  # a non-contiguous column
    np.testing.assert_array_equal(kdforge.KDTree.from_columns([strided]).data[:, 0], x)


@pytest.mark.parametrize("columns, error, match", [
    ([], ValueError, "empty"),
    ([np.arange(3.0), np.arange(4.0)], ValueError, "different lengths"),
    ([np.arange(3.0), np.array([1.0, np.nan, 2.0])], ValueError, r"columns\[1\].*NaN"),
    ([np.ones((3, 2))], ValueError, "1-D"),
    ([np.array(["a", "b"])], TypeError, "numeric"),
    ([np.ones(2, dtype=complex)], TypeError, "complex"),
    ("xy", TypeError, "string"),
])
def test_from_columns_rejects(columns, error, match):
    with pytest.raises(error, match=match):
        kdforge.KDTree.from_columns(columns)


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def small():
    return kdforge.KDTree(np.random.default_rng(7).random((50, 2)), leaf_size=4)


@pytest.mark.parametrize("method", ["left", "right", "parent", "is_leaf", "node_size", "node_split",
                                    "node_indices", "node_depth"])
def test_node_ids_are_checked(small, method):
    call = getattr(small, method)
    for bad in (-1, small.n_nodes, [0, small.n_nodes + 5], np.array([-3])):
        with pytest.raises(NodeIdError, match="out of range"):
            call(bad)
    with pytest.raises(IndexError):
        call(small.n_nodes)
    with pytest.raises(ValueError):
        call(-1)
    for bad in (1.0, [0.5], True, "3", None):
        with pytest.raises(TypeError):
            call(bad)


def test_bad_input(small):
    with pytest.raises(TypeError, match="one node id"):
        small.node_indices([0, 1])
    with pytest.raises(ValueError, match="kind"):
        small.boxes("exact")
    with pytest.raises(ValueError, match="kind"):
        small.distance_to_node([0.0, 0.0], 0, kind="box")
    for method in (small.find_leaf, small.find_point):
        with pytest.raises(ValueError, match="NaN"):
            method([[0.0, np.nan]])
        with pytest.raises(ValueError, match="dimension"):
            method([[0.0, 1.0, 2.0]])
        with pytest.raises(TypeError):
            method([["a", "b"]])
    with pytest.raises(ValueError, match="shape"):
        small.distance_to_node(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match="broadcast"):
        small.distance_to_node(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        small.distance_to_node([np.nan, 0.0], 0)
    with pytest.raises(NodeIdError):
        small.distance_to_node([0.0, 0.0], small.n_nodes)
    with pytest.raises(ValueError, match="p must be"):
        small.distance_to_node([0.0, 0.0], 0, p=0.5)
    with pytest.raises(ValueError, match="lo > hi"):
        small.query_box([0.0, 1.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="NaN"):
        small.query_box([0.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="dimension"):
        small.query_box([0.0], [1.0])
    with pytest.raises(ValueError, match="broadcast"):
        small.query_box(np.zeros((3, 2)), np.ones((2, 2)))
    with pytest.raises(TypeError):
        small.query_box_csr([0.0, 0.0j], [1.0, 1.0])
    with pytest.raises(ValueError, match="workers"):
        small.find_leaf([0.0, 0.0], workers=0)
