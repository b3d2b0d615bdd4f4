"""Heaps of the searches: the k best candidates, and the queue of unvisited branches.

Both order pairs lexicographically: ``(distance, index)`` for candidates and ``(bound,
node)`` for branches (:func:`pair_less`). Breaking every tie by the number makes results
deterministic: the k best are the k smallest (distance, index) pairs, exactly what a
stable brute-force scan returns.

* **k-best max-heap** (``heap_dist``, ``heap_idx``, length k): the root holds the worst of
  the k best, which is the pruning limit of a search. Filled with ``(bound, -1)`` pairs
  first, so that a search only keeps points strictly better than its bound.
* **branch min-queue** (``keys``, ``nodes`` with a size): the best-bin-first queue.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True, inline="always")
def pair_less(d1, i1, d2, i2):
    """Whether the pair ``(d1, i1)`` comes before ``(d2, i2)``."""
    return d1 < d2 or (d1 == d2 and i1 < i2)


# ---------------------------------------------------------------------- k-best max-heap
@njit(cache=True, nogil=True, inline="always")
def _sift_down(heap_dist, heap_idx, size, dist, index):
    """Put ``(dist, index)`` at the root of the max-heap made of the first ``size`` pairs
    (whose root it replaces) and sift it down to its place."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and pair_less(heap_dist[child], heap_idx[child], heap_dist[right], heap_idx[right]):
            child = right
        if pair_less(dist, index, heap_dist[child], heap_idx[child]):
            heap_dist[pos] = heap_dist[child]
            heap_idx[pos] = heap_idx[child]
            pos = child
        else:
            break
    heap_dist[pos] = dist
    heap_idx[pos] = index


@njit(cache=True, nogil=True)
def heap_replace_top(heap_dist, heap_idx, dist, index):
    """Replace the largest (distance, index) pair of a max-heap and restore the heap."""
    _sift_down(heap_dist, heap_idx, heap_dist.shape[0], dist, index)


@njit(cache=True, nogil=True, inline="always")
def heap_offer(heap_dist, heap_idx, dist, index):
    """Offer a (distance, index) pair to a max-heap that keeps the k smallest pairs."""
    if pair_less(dist, index, heap_dist[0], heap_idx[0]):
        heap_replace_top(heap_dist, heap_idx, dist, index)


@njit(cache=True, nogil=True, inline="always")
def heap_contains(heap_idx, index):
    """Whether ``index`` is among the k candidates (a linear scan: k is small)."""
    for j in range(heap_idx.shape[0]):
        if heap_idx[j] == index:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def heap_offer_unique(heap_dist, heap_idx, dist, index):
    """:func:`heap_offer`, unless ``index`` is a candidate already (a point met twice)."""
    if pair_less(dist, index, heap_dist[0], heap_idx[0]) and not heap_contains(heap_idx, index):
        heap_replace_top(heap_dist, heap_idx, dist, index)


@njit(cache=True, nogil=True)
def heap_sort_ascending(heap_dist, heap_idx):
    """Turn a max-heap into ascending (distance, index) order in place (heapsort, sifting
    down on the shrinking prefix rather than on slices: a slice is an array to build)."""
    for end in range(heap_dist.shape[0] - 1, 0, -1):
        last_d = heap_dist[end]
        last_i = heap_idx[end]
        heap_dist[end] = heap_dist[0]
        heap_idx[end] = heap_idx[0]
        _sift_down(heap_dist, heap_idx, end, last_d, last_i)


@njit(cache=True, nogil=True)
def sort_heap_rows(heap_dist, heap_idx):
    """:func:`heap_sort_ascending` on each row of a batch of heaps, shape (m, k)."""
    for row in range(heap_dist.shape[0]):
        heap_sort_ascending(heap_dist[row], heap_idx[row])


# ---------------------------------------------------------------------- branch min-queue
@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def queue_push(keys, nodes, size, key, node):
    """Insert ``(key, node)`` into the min-queue of ``size`` entries; return the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if pair_less(key, node, keys[parent], nodes[parent]):
            keys[pos] = keys[parent]
            nodes[pos] = nodes[parent]
            pos = parent
        else:
            break
    keys[pos] = key
    nodes[pos] = node
    return size + 1


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def queue_pop(keys, nodes, size):
    """Remove the smallest entry of the min-queue; return ``(key, node, new_size)``."""
    top_key = keys[0]
    top_node = nodes[0]
    size -= 1
    key = keys[size]
    node = nodes[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and pair_less(keys[right], nodes[right], keys[child], nodes[child]):
            child = right
        if pair_less(keys[child], nodes[child], key, node):
            keys[pos] = keys[child]
            nodes[pos] = nodes[child]
            pos = child
        else:
            break
    if size > 0:
        keys[pos] = key
        nodes[pos] = node
    return top_key, top_node, size
