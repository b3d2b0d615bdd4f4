"""The sliding-midpoint rule and the explicit layout: structure, every query kind against
brute force, the node API, files and pickles, and the parallel build."""

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdforge
import reference
from kdforge._build import PARALLEL_MIN_POINTS, midpoint_depth_limit
from kdforge.record import tree_levels
from test_build import adversarial_inputs
from test_knn import P_VALUES, point_sets


def midpoint_tree(data, **options):
    return kdforge.KDTree(data, split="sliding_midpoint", **options)


def check_midpoint_tree(tree, data):
    """Assert every documented invariant of the explicit layout of ``tree`` over ``data``."""
    data = np.asarray(data).astype(tree.dtype)
    n, d = data.shape
    rec = tree.record
    start = rec.node_start.astype(np.int64)
    end = rec.node_end.astype(np.int64)
    n_nodes, n_internal = tree.n_nodes, tree.n_internal
    assert (tree.split, tree.division) == ("sliding_midpoint", "midpoint")
    assert n_nodes == 2 * n_internal + 1
    assert rec.node_children.shape == (n_internal, 2) and rec.node_parent.shape == (n_nodes,)
    np.testing.assert_array_equal(np.sort(rec.idx_array), np.arange(n))
    np.testing.assert_array_equal(rec.tree_data, data[rec.idx_array])
    # links: every node but the root is the child of exactly one node, with a larger id
    children = rec.node_children.astype(np.int64)
    parents = np.arange(n_internal)
    assert rec.node_parent[0] == -1
    np.testing.assert_array_equal(np.sort(children.ravel()), np.arange(1, n_nodes))
    assert (children > parents[:, None]).all()
    np.testing.assert_array_equal(rec.node_parent[children[:, 0]], parents)
    np.testing.assert_array_equal(rec.node_parent[children[:, 1]], parents)
    # pre-order: a left child that splits is its parent's id + 1
    left_internal = children[:, 0] < n_internal
    np.testing.assert_array_equal(children[left_internal, 0], parents[left_internal] + 1)
    # rows: children split their parent's range into two non-empty parts
    left, right = children[:, 0], children[:, 1]
    np.testing.assert_array_equal(start[left], start[parents])
    np.testing.assert_array_equal(end[left], start[right])
    np.testing.assert_array_equal(end[right], end[parents])
    assert (end > start).all()
    leaves = np.arange(n_internal, n_nodes)
    np.testing.assert_array_equal(start[leaves], np.sort(start[leaves]))  # left to right
    np.testing.assert_array_equal(tree.leaves(), leaves)
    assert (end[leaves] - start[leaves] <= tree.leaf_size).all()
    # splits: left rows <= value <= right rows; above the depth limit, the plane cuts the
    # longest side of the cell (among the sides where the points differ) in its middle, or
    # slid just past the lowest or onto the highest point; nodes of equal points halve
    # their rows
    bounds = rec.node_bounds
    cells = tree.boxes("cell")
    limit = midpoint_depth_limit(n, tree.leaf_size)
    depths = tree.node_depth(np.arange(n_nodes))
    for node in range(n_internal):
        dim, value = rec.split_dim[node], rec.split_value[node]
        lo, hi = bounds[0, node], bounds[1, node]
        assert rec.tree_data[start[node]:end[left[node]], dim].max() <= value
        assert rec.tree_data[start[right[node]]:end[node], dim].min() >= value
        if (hi == lo).all() or depths[node] >= limit or tree.dtype != np.float64:
            continue
        cell_lo, cell_hi = cells[node]
        width = np.where(hi > lo, cell_hi - cell_lo, -1.0)
        assert width[dim] == width.max()
        assert value in (0.5 * cell_lo[dim] + 0.5 * cell_hi[dim], np.nextafter(lo[dim], hi[dim]),
                         hi[dim])
        # a point equal to the plane lies on its right (where searches descend)
        assert rec.tree_data[start[node]:end[left[node]], dim].max() < value
    # boxes are tight
    for node in range(n_nodes):
        rows = rec.tree_data[start[node]:end[node]]
        np.testing.assert_array_equal(bounds[0, node], rows.min(axis=0))
        np.testing.assert_array_equal(bounds[1, node], rows.max(axis=0))
    # depth: n_levels is the deepest leaf, and bounded
    assert tree.n_levels == depths[leaves].max()
    assert tree.n_levels <= midpoint_depth_limit(n, tree.leaf_size) + tree_levels(n, 1) + 1
    # a validated round trip accepts it
    kdforge.KDTree.from_record(rec)


@pytest.mark.parametrize("leaf_size", [1, 5, 16, 40])
@pytest.mark.parametrize("kind", ["normal", "student_t", "lognormal"])
def test_structure(kind, leaf_size):
    rng = np.random.default_rng(leaf_size)
    data = {"normal": lambda: rng.normal(size=(3001, 3)),
            "student_t": lambda: rng.standard_t(1.5, size=(3001, 3)),
            "lognormal": lambda: rng.lognormal(0, 2, size=(3001, 3))}[kind]()
    tree = midpoint_tree(data, leaf_size=leaf_size)
    check_midpoint_tree(tree, data)


@pytest.mark.parametrize("name", sorted(adversarial_inputs(10, np.random.default_rng(0))))
def test_adversarial_inputs_serial_and_parallel(name):
    data = adversarial_inputs(100_000, np.random.default_rng(3))[name]
    serial = midpoint_tree(data, workers=1)
    check_midpoint_tree(serial, data)
    parallel = midpoint_tree(data, workers=2)
    for field in kdforge.record.ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(serial.record, field), getattr(parallel.record, field))


def test_duplicates_split_in_halves_and_depth_stays_logarithmic():
    data = np.ones((50_000, 2))
    tree = midpoint_tree(data)
    assert tree.n_levels <= tree_levels(50_000, 16) + 1
    dist, idx = tree.query(data[:3], k=2)
    assert idx.tolist() == [[0, 1]] * 3


def test_geometric_widths_fall_back_to_median_splits():
    # x = 2**i: every midpoint split cuts off one point; the depth limit stops the chain
    data = np.ldexp(1.0, np.arange(-500, 500))[:, None]
    tree = midpoint_tree(data, leaf_size=1)
    limit = midpoint_depth_limit(1000, 1)
    assert limit < tree.n_levels <= limit + tree_levels(1000, 1) + 1
    check_midpoint_tree(tree, data)
    dist, idx = tree.query([[3.0]], k=2)
    assert idx.tolist() == [[501, 502]]


def test_parallel_build_identical_on_heavy_tails():
    rng = np.random.default_rng(9)
    data = rng.standard_t(1.2, size=(3 * PARALLEL_MIN_POINTS, 3)).astype(np.float32)
    serial = midpoint_tree(data, workers=1)
    check_midpoint_tree(serial, data)
    for workers in (2, 3):
        other = midpoint_tree(data, workers=workers)
        for field in kdforge.record.ARRAY_FIELDS:
            np.testing.assert_array_equal(getattr(serial.record, field), getattr(other.record, field))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets(), st.sampled_from([1, 2, 5, 16]), st.integers(1, 12), st.sampled_from(P_VALUES))
def test_knn_matches_brute_force(points, leaf_size, k, p):
    data, queries = points
    tree = midpoint_tree(data, leaf_size=leaf_size)
    dist, idx = tree.query(queries, k=k, p=p)
    ref_dist, ref_idx = reference.knn(data, queries, k, p)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5 if data.dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(idx, ref_idx)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets(max_d=6), st.sampled_from([1, 3, 16]), st.floats(0.0, 1.5), st.sampled_from(P_VALUES))
def test_radius_and_box_match_brute_force(points, leaf_size, r, p):
    data, queries = points
    tree = midpoint_tree(data, leaf_size=leaf_size)
    got = tree.query_radius(queries, r, p=p)
    expected = reference.radius(data, queries, r, p)
    for row, ref in zip(got, expected):
        assert sorted(row.tolist()) == sorted(np.asarray(ref).tolist())
    lo, hi = queries - r, queries + r
    boxes = tree.query_box(lo, hi)
    inside = ((data[None] >= lo[:, None]) & (data[None] <= hi[:, None])).all(axis=2)
    for row, mask in zip(boxes, inside):
        assert sorted(np.asarray(row).tolist()) == np.flatnonzero(mask).tolist()


@settings(max_examples=60, deadline=None)
@given(point_sets(max_n=200, max_d=4), st.sampled_from([1, 4]))
def test_budgeted_and_node_api_on_explicit_layout(points, leaf_size):
    data, queries = points
    tree = midpoint_tree(data, leaf_size=leaf_size)
    # a budget larger than the leaf count is exact search
    dist, idx = tree.query(queries, k=3, max_leaves=tree.n_leaves + 1)
    ref_dist, ref_idx = reference.knn(data, queries, 3, 2)
    np.testing.assert_array_equal(idx, ref_idx)
    # navigation agrees with the arrays; find_leaf lands in a leaf whose cell holds the query
    nodes = np.arange(tree.n_nodes)
    internal = nodes[:tree.n_internal]
    np.testing.assert_array_equal(tree.parent(tree.left(internal)), internal)
    np.testing.assert_array_equal(tree.parent(tree.right(internal)), internal)
    assert (tree.left(nodes[tree.n_internal:]) == -1).all()
    leaves = tree.find_leaf(queries)
    assert tree.is_leaf(leaves).all()
    cells = tree.boxes("cell")
    inside = (cells[leaves, 0] <= queries) & (queries <= cells[leaves, 1])
    outside_data = (queries < tree.node_bounds[0, 0]) | (queries > tree.node_bounds[1, 0])
    assert (inside | outside_data).all()
    # every data point is found where it is
    found = tree.find_point(data[:5])
    assert (found <= np.arange(len(found))).all() and (data[found] == data[:5]).all()


def test_dual_tree_pairs_and_counts_match_median_tree():
    rng = np.random.default_rng(5)
    a = rng.lognormal(size=(3000, 3))
    b = rng.lognormal(size=(2000, 3))
    mid_a, mid_b = midpoint_tree(a, leaf_size=8), midpoint_tree(b, leaf_size=8)
    med_a, med_b = kdforge.KDTree(a), kdforge.KDTree(b)
    radii = np.array([0.05, 0.2, 1.0])
    from kdforge import dualtree
    np.testing.assert_array_equal(dualtree.count_pairs(mid_a, mid_b, radii, workers=2),
                                  dualtree.count_pairs(med_a, med_b, radii))
    left, right = dualtree.pairs(mid_a, None, 0.1, workers=2)
    ref_left, ref_right = dualtree.pairs(med_a, None, 0.1)
    assert sorted(zip(left.tolist(), right.tolist())) == sorted(zip(ref_left.tolist(), ref_right.tolist()))


@pytest.mark.parametrize("mmap_arrays", [True, False])
def test_file_and_pickle_round_trips(tmp_path, mmap_arrays):
    rng = np.random.default_rng(6)
    data = rng.standard_t(2, size=(5000, 3))
    tree = midpoint_tree(data, leaf_size=4)
    path = tmp_path / "mid.kdt"
    tree.save(path)
    for copy in (kdforge.load(path, mmap=mmap_arrays), pickle.loads(pickle.dumps(tree))):
        assert (copy.split, copy.division, copy.n_levels, copy.n_nodes) == \
            (tree.split, tree.division, tree.n_levels, tree.n_nodes)
        for field in kdforge.record.ARRAY_FIELDS:
            np.testing.assert_array_equal(getattr(copy.record, field), getattr(tree.record, field))
        np.testing.assert_array_equal(copy.query(data[:50], k=5)[1], tree.query(data[:50], k=5)[1])


def tampered_state(tree, name, change):
    state = tree.__getstate__()
    arrays = dict(state["arrays"])
    arrays[name] = np.array(arrays[name], copy=True)
    change(arrays[name])
    return {**state, "arrays": arrays}


@pytest.mark.parametrize("name,change,message", [
    ("node_children", lambda a: a.__setitem__((0, 0), 0), "larger ids"),
    ("node_children", lambda a: a.__setitem__((1, 1), a[1, 0]), "larger ids"),
    ("node_children", lambda a: a.__setitem__((2, 0), 10**6), "larger ids"),
    ("node_parent", lambda a: a.__setitem__(0, 0), "node_parent of the root"),
    ("node_parent", lambda a: a.__setitem__(5, 0), "larger ids"),
])
def test_tampered_links_are_refused(name, change, message):
    data = np.random.default_rng(7).lognormal(size=(2000, 2))
    tree = midpoint_tree(data, leaf_size=4)
    clone = kdforge.KDTree.__new__(kdforge.KDTree)
    with pytest.raises(kdforge.TreeFileError, match=message):
        clone.__setstate__(tampered_state(tree, name, change))


def test_tampered_depth_and_missing_links_are_refused():
    data = np.random.default_rng(8).lognormal(size=(2000, 2))
    tree = midpoint_tree(data, leaf_size=4)
    state = tree.__getstate__()
    clone = kdforge.KDTree.__new__(kdforge.KDTree)
    shallow = {**state, "tree": {**state["tree"], "n_levels": tree.n_levels - 1}}
    with pytest.raises(kdforge.TreeFileError, match="deepest leaf"):
        clone.__setstate__(shallow)
    for name in ("node_children", "node_parent"):
        arrays = {k: a for k, a in state["arrays"].items() if k != name}
        with pytest.raises(kdforge.TreeFileError, match="needs its array"):
            clone.__setstate__({**state, "arrays": arrays})


def test_division_goes_with_the_split_rule():
    data = np.random.default_rng(0).random((100, 2))
    assert midpoint_tree(data, division="midpoint").division == "midpoint"
    with pytest.raises(ValueError, match="takes division 'midpoint'"):
        midpoint_tree(data, division="median")
    with pytest.raises(ValueError, match="takes division 'median' or 'root'"):
        kdforge.KDTree(data, division="midpoint")


def test_scipy_facade_balanced_tree_false_matches_scipy():
    from scipy.spatial import cKDTree as ScipyTree

    import kdforge.scipy as kscipy
    rng = np.random.default_rng(11)
    data = rng.lognormal(size=(4000, 3))
    queries = rng.lognormal(size=(200, 3))
    ours = kscipy.cKDTree(data, balanced_tree=False)
    assert ours._core.split == "sliding_midpoint"
    theirs = ScipyTree(data, balanced_tree=False)
    d1, i1 = ours.query(queries, k=4)
    d2, i2 = theirs.query(queries, k=4)
    np.testing.assert_allclose(d1, d2, rtol=1e-12)
    assert (i1 == i2).mean() > 0.999
    node = ours.tree
    while node.lesser is not None:  # the node views walk the explicit layout
        assert node.lesser.end_idx == node.greater.start_idx
        node = node.lesser
    assert node.children <= ours.leafsize
