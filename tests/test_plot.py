"""kdforge.plot.partition, rendered headless (Agg), checked by what it draws."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import kdforge  # noqa: E402
import kdforge.plot  # noqa: E402
from kdforge.plot import _knn_visited_leaves  # noqa: E402
from test_nodes import LAYOUTS, make_tree  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def artist(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def clustered(n, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.random((3, 2))
    return centers[rng.integers(0, 3, n)] + 0.05 * rng.standard_normal((n, 2))


def holding_leaf(tree, index):
    """The leaf whose rows hold data point ``index``."""
    return next(leaf for leaf in tree.leaves() if index in tree.node_indices(leaf))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n, leaf_size", [(1, 8), (200, 8), (97, 1), (64, 64)])
def test_one_segment_per_split(layout, n, leaf_size):
    tree = make_tree(clustered(n), leaf_size, layout)
    ax = kdforge.plot.partition(tree)
    segments = artist(ax, "kdforge-splits").get_segments()
    assert len(segments) == tree.n_internal
    cells = tree.boxes("cell")
    for node, segment in enumerate(segments):
        dim, value = tree.node_split(node)
        np.testing.assert_allclose(segment[:, dim], value)  # on the split plane...
        other = 1 - dim
        np.testing.assert_allclose(np.sort(segment[:, other]), cells[node, :, other])  # ...across the cell
    np.testing.assert_array_equal(artist(ax, "kdforge-points").get_offsets(), tree.data)
    assert not [a for a in ax.get_children() if a.get_gid() == "kdforge-neighbours"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("k", [1, 5, 300])
def test_query_highlights_the_neighbours(layout, k):
    tree = make_tree(clustered(200, seed=1), 8, layout)
    query = np.array([0.5, 0.45])
    fig, ax = plt.subplots()
    assert kdforge.plot.partition(tree, ax, query=query, k=k) is ax
    _, idx = tree.query(query, k=k)
    idx = idx[idx >= 0]
    np.testing.assert_array_equal(artist(ax, "kdforge-neighbours").get_offsets(), tree.data[idx])
    np.testing.assert_array_equal(artist(ax, "kdforge-query").get_offsets(), [query])
    visited, _ = _knn_visited_leaves(tree, query, k)
    assert len(artist(ax, "kdforge-visited").get_paths()) == len(visited)
    fig.canvas.draw()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_visited_leaves_replay_the_search(layout):
    rng = np.random.default_rng(2)
    data = np.round(clustered(300, seed=2), 1)  # duplicates and points on split planes
    tree = make_tree(data, 4, layout)
    for query in np.concatenate([data[:10], rng.random((20, 2)) * 3 - 1]):
        for k in (1, 3, 10):
            visited, neighbours = _knn_visited_leaves(tree, query, k)
            dist, idx = tree.query(query, k=k)
            np.testing.assert_array_equal(neighbours, idx)
            assert len(set(visited.tolist())) == len(visited)
            assert {holding_leaf(tree, i) for i in idx} <= set(visited.tolist())
            # an exact search must scan every leaf whose cell is strictly closer than the k-th neighbour
            dmin, _ = tree.distance_to_node(query, tree.leaves())
            assert set(tree.leaves()[dmin < dist[-1]].tolist()) <= set(visited.tolist())


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D trees"):
        kdforge.plot.partition(kdforge.KDTree(np.random.default_rng(0).random((20, 3))))
    tree = kdforge.KDTree(clustered(20))
    with pytest.raises(ValueError, match="one 2-D point"):
        kdforge.plot.partition(tree, query=[[0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="dimension"):
        kdforge.plot.partition(tree, query=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="k must be"):
        kdforge.plot.partition(tree, query=[0.0, 0.0], k=0)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"kdforge\[plot\]"):
        kdforge.plot.partition(kdforge.KDTree(clustered(20)))
