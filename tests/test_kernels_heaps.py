"""The k-best max-heap and the branch min-queue against sorting and :mod:`heapq`."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from kdforge._kernels import heaps

#: Distances drawn from a small set, so that ties and duplicate pairs are common.
TIED_DISTANCES = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.5, np.inf])
ANY_DISTANCES = st.one_of(TIED_DISTANCES, st.floats(0.0, 10.0))
PAIRS = st.lists(st.tuples(ANY_DISTANCES, st.integers(0, 12)), max_size=60)
BOUNDS = st.sampled_from([np.inf, 1.0, 2.0, 5.0])


def empty_heap(k, bound):
    """A k-best heap before any offer: ``(bound, -1)`` pairs."""
    return np.full(k, bound, dtype=np.float64), np.full(k, -1, dtype=np.int64)


def offered(pairs, k, bound, offer):
    """A heap after offering ``pairs`` in order, checking the heap shape after each offer."""
    dist, idx = empty_heap(k, bound)
    for d, i in pairs:
        offer(dist, idx, d, i)
        assert naive.is_max_heap(dist, idx)
    return dist, idx


@settings(max_examples=200, deadline=None)
@given(pairs=PAIRS, k=st.integers(1, 9), bound=BOUNDS)
def test_heap_offer_keeps_the_k_smallest_pairs(pairs, k, bound):
    dist, idx = offered(pairs, k, bound, heaps.heap_offer)
    assert naive.heap_pairs(dist, idx) == naive.k_best(pairs, k, bound)


@settings(max_examples=150, deadline=None)
@given(pairs=PAIRS, k=st.integers(1, 9), bound=BOUNDS)
def test_heap_sort_ascending_sorts_the_heap(pairs, k, bound):
    dist, idx = offered(pairs, k, bound, heaps.heap_offer)
    heaps.heap_sort_ascending(dist, idx)
    assert list(zip(dist.tolist(), idx.tolist())) == naive.k_best(pairs, k, bound)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(PAIRS, min_size=1, max_size=6), k=st.integers(1, 7), bound=BOUNDS)
def test_sort_heap_rows_sorts_every_row(rows, k, bound):
    dist = np.empty((len(rows), k))
    idx = np.empty((len(rows), k), dtype=np.int64)
    for r, pairs in enumerate(rows):
        dist[r], idx[r] = offered(pairs, k, bound, heaps.heap_offer)
    heaps.sort_heap_rows(dist, idx)
    for r, pairs in enumerate(rows):
        assert list(zip(dist[r].tolist(), idx[r].tolist())) == naive.k_best(pairs, k, bound)


@settings(max_examples=150, deadline=None)
@given(pairs=PAIRS, k=st.integers(1, 9), bound=BOUNDS,
       new=st.tuples(ANY_DISTANCES, st.integers(-1, 12)))
def test_heap_replace_top_swaps_out_the_largest_pair(pairs, k, bound, new):
    dist, idx = offered(pairs, k, bound, heaps.heap_offer)
    expected = naive.heap_pairs(dist, idx)[:-1] + [new]
    heaps.heap_replace_top(dist, idx, new[0], new[1])
    assert naive.is_max_heap(dist, idx)
    assert naive.heap_pairs(dist, idx) == sorted(expected)


@settings(max_examples=200, deadline=None)
@given(pairs=PAIRS, k=st.integers(1, 9), bound=BOUNDS)
def test_heap_offer_unique_follows_the_sequential_rule(pairs, k, bound):
    """Any offers, even one index at several distances: never an index twice."""
    dist, idx = offered(pairs, k, bound, heaps.heap_offer_unique)
    held = idx[idx >= 0].tolist()
    assert len(held) == len(set(held))
    assert naive.heap_pairs(dist, idx) == naive.offer_unique_sequence(pairs, k, bound)


@settings(max_examples=200, deadline=None)
@given(indices=st.lists(st.integers(0, 15), max_size=60),
       table=st.lists(TIED_DISTANCES, min_size=16, max_size=16),
       k=st.integers(1, 9), bound=BOUNDS)
def test_heap_offer_unique_on_points_met_several_times(indices, table, k, bound):
    """A point met twice has one distance (as in a forest): the k best distinct pairs."""
    pairs = [(table[i], i) for i in indices]
    dist, idx = offered(pairs, k, bound, heaps.heap_offer_unique)
    assert naive.heap_pairs(dist, idx) == naive.k_best(set(pairs), k, bound)


QUEUE_OPS = st.lists(
    st.one_of(st.tuples(st.just("push"), TIED_DISTANCES, st.integers(0, 20)),
              st.tuples(st.just("pop"))),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(ops=QUEUE_OPS)
def test_branch_queue_matches_heapq(ops):
    keys = np.empty(len(ops) + 1, dtype=np.float64)
    nodes = np.empty(len(ops) + 1, dtype=np.int64)
    size = 0
    popped = []
    for op in ops:
        if op[0] == "push":
            size = heaps.queue_push(keys, nodes, size, op[1], op[2])
        elif size > 0:
            key, node, size = heaps.queue_pop(keys, nodes, size)
            popped.append((key, node))
    while size > 0:
        key, node, size = heaps.queue_pop(keys, nodes, size)
        popped.append((key, node))
    assert popped == naive.run_queue_ops(ops)
