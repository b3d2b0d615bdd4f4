"""Node row ranges and tree shapes against recursive twins of the layout rules.

The rules (:mod:`kdforge.record`): ``median`` gives a perfect tree whose nodes hand their
left child ``(e - s) // 2`` rows; ``root`` gives a left-complete tree of
``ceil(n / leaf_size)`` leaves, leaf number ``j`` from the left holding rows
``[j * leaf_size, min((j + 1) * leaf_size, n))``.
"""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge import record
from kdforge._kernels.build import node_row_ranges

TWINS = {record.DIVISION_MEDIAN: naive.median_ranges, record.DIVISION_ROOT: naive.root_ranges}
SIZES = st.one_of(st.integers(1, 70), st.integers(1, 4000))
LEAF_SIZES = st.integers(1, 40)
DIVISION_CODES = st.sampled_from(sorted(TWINS))  # the implicit layouts


def kernel_ranges(n, leaf_size, division, dtype):
    """Row ranges from the kernel, as ``{node: (start, end)}``."""
    _, n_nodes = record.tree_shape(n, leaf_size, division)
    start = np.full(n_nodes, -7, dtype=dtype)
    end = np.full(n_nodes, -7, dtype=dtype)
    node_row_ranges(n, leaf_size, division, start, end)
    return {node: (int(start[node]), int(end[node])) for node in range(n_nodes)}


@settings(max_examples=200, deadline=None)
@given(n=SIZES, leaf_size=LEAF_SIZES, division=DIVISION_CODES,
       dtype=st.sampled_from([np.int32, np.int64]))
def test_node_row_ranges_match_the_recursive_twin(n, leaf_size, division, dtype):
    assert kernel_ranges(n, leaf_size, division, dtype) == TWINS[division](n, leaf_size)


@settings(max_examples=200, deadline=None)
@given(n=SIZES, leaf_size=LEAF_SIZES, division=DIVISION_CODES)
def test_tree_shape_matches_the_twin(n, leaf_size, division):
    ranges = TWINS[division](n, leaf_size)
    n_levels, n_nodes = record.tree_shape(n, leaf_size, division)
    assert n_nodes == len(ranges)
    assert n_levels == naive.deepest_leaf(ranges)
    if division == record.DIVISION_MEDIAN:
        assert n_levels == record.tree_levels(n, leaf_size) == naive.median_levels(n, leaf_size)
        assert n_nodes == 2 ** (n_levels + 1) - 1
    else:
        assert n_nodes == 2 * math.ceil(n / leaf_size) - 1


def leaf_sizes(ranges):
    """Number of rows of every leaf."""
    n_internal = len(ranges) // 2
    return [end - start for node, (start, end) in ranges.items() if node >= n_internal]


@settings(max_examples=200, deadline=None)
@given(n=SIZES, leaf_size=LEAF_SIZES, division=DIVISION_CODES)
def test_layout_rules(n, leaf_size, division):
    """Independent of the twins: children split their parent, no leaf is empty, leaves hold
    at most ``leaf_size`` rows (median, leaf_size 1: one or two) and are as few as that
    allows; median leaves all lie at depth ``n_levels``, root leaves at most one above."""
    ranges = kernel_ranges(n, leaf_size, division, np.int64)
    n_levels, n_nodes = record.tree_shape(n, leaf_size, division)
    n_internal = n_nodes // 2
    assert ranges[0] == (0, n)
    for node in range(n_internal):
        left, right = ranges[2 * node + 1], ranges[2 * node + 2]
        assert left[0] == ranges[node][0] and left[1] == right[0] and right[1] == ranges[node][1]
    sizes = leaf_sizes(ranges)
    assert min(sizes) >= 1
    assert max(sizes) <= max(leaf_size, 2 if division == record.DIVISION_MEDIAN else 1)
    depths = {naive.node_depth(node) for node in range(n_internal, n_nodes)}
    if division == record.DIVISION_MEDIAN:
        assert depths == {n_levels}
        assert max(sizes) - min(sizes) <= 1
        fewer_levels_suffice = n_levels > 0 and math.ceil(n / 2 ** (n_levels - 1)) <= leaf_size
        assert not fewer_levels_suffice
    else:
        assert depths <= {n_levels, n_levels - 1} and n_levels in depths
        assert len(sizes) == math.ceil(n / leaf_size)
