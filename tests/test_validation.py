"""Bad input gives a clear ValueError or TypeError before any kernel runs."""

import numpy as np
import pytest

import kdforge


@pytest.fixture(scope="module")
def tree():
    return kdforge.KDTree(np.random.default_rng(0).random((100, 3)))


@pytest.mark.parametrize("data, error, message", [
    (np.array([[0.0, np.nan]]), ValueError, "NaN or infinite"),
    (np.array([[0.0, np.inf]]), ValueError, "NaN or infinite"),
    (np.zeros((3, 2), dtype=complex), TypeError, "complex"),
    (np.array([["a", "b"]]), TypeError, "numeric"),
    (np.array([[object(), 1]], dtype=object), TypeError, "numeric"),
    (np.zeros(5), ValueError, "2-D"),
    (np.zeros((2, 2, 2)), ValueError, "2-D"),
    (np.zeros((0, 3)), ValueError, "empty"),
    (np.zeros((4, 0)), ValueError, "zero dimensions"),
])
def test_bad_data(data, error, message):
    with pytest.raises(error, match=message):
        kdforge.KDTree(data)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"leaf_size": 0}, ValueError, "leaf_size"),
    ({"leaf_size": 2.5}, TypeError, "leaf_size"),
    ({"split": "median"}, ValueError, "split"),
])
def test_bad_tree_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        kdforge.KDTree(np.zeros((4, 2)), **kwargs)


@pytest.mark.parametrize("X, error, message", [
    (np.array([[0.0, np.nan, 0.0]]), ValueError, "NaN or infinite"),
    (np.array([[0.0, -np.inf, 0.0]]), ValueError, "NaN or infinite"),
    (np.zeros((2, 2)), ValueError, "2 dimension"),
    (np.zeros((1, 2, 3)), ValueError, "1-D"),
    (np.array([["x", "y", "z"]]), TypeError, "numeric"),
    (np.zeros((1, 3), dtype=complex), TypeError, "complex"),
])
def test_bad_queries(tree, X, error, message):
    with pytest.raises(error, match=message):
        tree.query(X)
    with pytest.raises(error, match=message):
        tree.query_radius(X, 0.1)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"k": 0}, ValueError, "k must be >= 1"),
    ({"k": -3}, ValueError, "k must be >= 1"),
    ({"k": 2.0}, TypeError, "k must be an integer"),
    ({"k": True}, TypeError, "k must be an integer"),
    ({"p": 0.5}, ValueError, "p must be >= 1"),
    ({"p": np.nan}, ValueError, "p must be >= 1"),
    ({"p": "2"}, TypeError, "p must be"),
    ({"eps": -0.1}, ValueError, "eps"),
    ({"eps": np.inf}, ValueError, "eps"),
    ({"distance_upper_bound": -1.0}, ValueError, "distance_upper_bound"),
    ({"distance_upper_bound": np.nan}, ValueError, "distance_upper_bound"),
    ({"workers": 0}, ValueError, "workers"),
    ({"workers": 1.5}, TypeError, "workers"),
])
def test_bad_query_options(tree, kwargs, error, message):
    with pytest.raises(error, match=message):
        tree.query(np.zeros(3), **kwargs)


@pytest.mark.parametrize("r, error, message", [
    (-1.0, ValueError, "negative"),
    (np.nan, ValueError, "NaN"),
    ([0.1, 0.2], ValueError, "one value per query"),
    ("0.1", TypeError, "real number"),
])
def test_bad_radius(tree, r, error, message):
    with pytest.raises(error, match=message):
        tree.query_radius(np.zeros((3, 3)), r)


def test_bad_radius_options(tree):
    with pytest.raises(ValueError, match="p must be >= 1"):
        tree.query_radius(np.zeros(3), 0.1, p=0)
    with pytest.raises(ValueError, match="workers"):
        tree.query_radius(np.zeros(3), 0.1, workers=0)
    with pytest.raises(ValueError, match="count_only"):
        tree.query_radius(np.zeros(3), 0.1, count_only=True, return_distance=True)


def test_arrays_are_read_only(tree):
    for arr in (tree.data, tree.tree_data, tree.idx_array, tree.node_bounds, tree.node_data):
        with pytest.raises(ValueError):
            arr[0] = arr[1]
