"""The Numba kernels of kdforge: every hot loop, one home for each shared piece.

Internal: kernels trust their arguments (Numba does not check bounds); the public API
validates everything once before calling them (:mod:`kdforge._validation`). Every kernel
is ``@njit(cache=True, nogil=True)`` and serial; threads come from
:mod:`kdforge._parallel`.

Shared pieces (each defined once, used by the query kernels below):

``distance``
    Metric codes; the per-axis arithmetic (``axis_term``, ``combine``); the one per-point
    distance loop, with an optional early-exit bound (``reduced_distance``); the one
    reduced <-> true conversion (``to_reduced``, ``from_reduced``; their ``py_func``
    serves Python and NumPy arrays); distances to boxes.
``heaps``
    The k-best max-heap of (distance, index) pairs and the min-queue of (bound, node)
    branches.
``traversal``
    Cell distances kept incrementally; the descent to a leaf (``descend``), shared by the
    depth-first and best-bin-first searches; the rounding slack of cell bounds
    (``bound_slack``, defined once); point location (``find_leaf_batch``).
``results``
    Writing a heap as a result row, growable buffers, and the one CSR builder and sorter
    (``segment_indptr``, ``place_segments``, ``sort_rows``).

One module per query kind: ``knn`` (exact / (1+eps) kNN), ``radius``, ``bbf`` (budgeted
best-bin-first search over one tree or a forest), ``box`` (axis-aligned boxes),
``locate`` (exact-match search, point-to-node distances), ``brute`` (brute force). Leaf
codes of the forest: ``codes``; cache prefetching: ``prefetch``. The build: ``build``
(node row ranges, splits, subtrees) over ``select`` (selection and partition), and
``midpoint`` (the sliding-midpoint build of the explicit layout). Tree-file
validation: ``checks``.

A slow, obviously correct twin of each kernel lives in ``tests/naive.py``.
"""
