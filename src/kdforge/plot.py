"""Pictures of 2-D trees with matplotlib (``pip install 'kdforge[plot]'``).

:func:`partition` draws how a tree divides the plane: every internal node's split as a
segment across its cell, the points, and optionally one k-nearest-neighbour search (the
leaves it visited and the neighbours it found). matplotlib is imported when a picture is
drawn, so importing this module does not need it.

Artists carry a ``gid`` so that scripts and tests can find them on the Axes:
``"kdforge-splits"`` (a LineCollection, one segment per internal node),
``"kdforge-points"``, ``"kdforge-visited"`` (a PolyCollection, one rectangle per visited
leaf), ``"kdforge-query"``, ``"kdforge-neighbours"`` and ``"kdforge-knn-radius"``.
"""

from __future__ import annotations

import numpy as np

from . import _validation as v

__all__ = ["partition"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("kdforge.plot needs matplotlib: install it with "
                          "pip install 'kdforge[plot]'") from err
    return plt


def _knn_visited_leaves(tree, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Leaves an exact Euclidean kNN search of one point scans, in scan order.

    A Python transcription of :func:`kdforge._kernels.knn.knn_batch` (and of the traversal in
    :mod:`kdforge._kernels.traversal` it uses) for ``p=2, eps=0`` and no distance bound: same descent
    (near child first), same cell distances kept with the same incremental arithmetic, same
    pruning test (a cell is entered while its reduced distance is <= the current k-th best)
    and the same (distance, index) candidate order, so it scans the leaves the kernel scans.

    Returns
    -------
    visited : int64 ndarray
        Leaf ids in the order they were scanned.
    neighbours : int64 ndarray of shape (k,)
        The neighbours found, nearest first (-1 where the tree has fewer than k points).
    """
    q = query.astype(np.float64)
    record = tree.record
    split_dim, split_value = record.split_dim, record.split_value
    node_start, node_end = record.node_start, record.node_end
    n_internal = tree.n_internal
    offsets = (np.maximum(record.node_bounds[0, 0] - q, 0.0)
               + np.maximum(q - record.node_bounds[1, 0], 0.0)).tolist()
    reduced = 0.0
    for offset in offsets:
        reduced += offset * offset
    best = [(np.inf, -1)] * k
    stack = []  # saved far children: (node, reduced, dim, offset in dim, undo-log length)
    undo = []   # (dim, previous offset) for every offset changed along the current path
    visited = []
    node = 0
    while True:
        if reduced <= max(best)[0]:
            while node < n_internal:
                dim = int(split_dim[node])
                diff = float(q[dim]) - float(split_value[node])
                left, right = (int(child) for child in record.node_children[node])
                if diff < 0.0:
                    near, far, diff = left, right, -diff
                else:
                    near, far = right, left
                far_reduced = reduced - offsets[dim] * offsets[dim] + diff * diff
                if far_reduced <= max(best)[0]:
                    stack.append((far, far_reduced, dim, diff, len(undo)))
                node = near
            visited.append(node)
            rows = slice(node_start[node], node_end[node])
            diffs = record.tree_data[rows].astype(np.float64) - q
            distances = diffs[:, 0] * diffs[:, 0] + diffs[:, 1] * diffs[:, 1]
            for dist, index in zip(distances.tolist(), record.idx_array[rows].tolist()):
                worst = max(best)
                if (dist, index) < worst:
                    best.remove(worst)
                    best.append((dist, index))
        while stack:
            far, far_reduced, dim, diff, n_undo = stack.pop()
            if far_reduced <= max(best)[0]:
                while len(undo) > n_undo:
                    undo_dim, previous = undo.pop()
                    offsets[undo_dim] = previous
                undo.append((dim, offsets[dim]))
                offsets[dim] = diff
                node, reduced = far, far_reduced
                break
        else:
            break
    neighbours = np.array([index for _, index in sorted(best)], dtype=np.int64)
    return np.array(visited, dtype=np.int64), neighbours


def partition(tree, ax=None, *, query=None, k=5, show_points=True, show_visited=True):
    """Draw a 2-D tree's partition of the plane, optionally with one kNN search.

    Each internal node's split is drawn as a segment across the node's cell (thicker near
    the root); the outer rectangle is the data's bounding box, the root's cell (see
    ``KDTree.boxes``).

    Parameters
    ----------
    tree : KDTree
        A tree over 2-D points.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's Axes by default.
    query : array_like of shape (2,), optional
        A point to search for: it is drawn with its ``k`` nearest neighbours (from
        ``tree.query``, Euclidean), the circle through the k-th neighbour and, with
        ``show_visited``, the cells of the leaves the search scanned.
    k : int, default 5
        Number of neighbours of ``query``.
    show_points : bool, default True
        Draw the data points.
    show_visited : bool, default True
        Shade the cells of the leaves the kNN search of ``query`` scanned. They are found by
        a Python replay of the search kernel's traversal (same descent order, cell
        distances and pruning test), so they are the leaves ``tree.query`` scans.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'kdforge[plot]'``).
    ValueError
        The tree is not 2-D, or ``query`` is not one 2-D point.

    Examples
    --------
    >>> import numpy as np, kdforge, kdforge.plot
    >>> tree = kdforge.KDTree(np.random.default_rng(0).random((200, 2)), leaf_size=8)
    >>> ax = kdforge.plot.partition(tree, query=[0.5, 0.5], k=5)
    """
    if tree.n_dims != 2:
        raise ValueError(f"partition draws 2-D trees only; this tree has {tree.n_dims} dimension(s)")
    if query is not None:
        queries, single = v.as_query_array(query, 2, tree.dtype, name="query")
        if not single:
            raise ValueError(f"query must be one 2-D point of shape (2,), got shape {np.shape(query)}")
        k = v.check_k(k)
    plt = _pyplot()
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Circle, Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    boxes = tree.boxes("cell")
    internal = np.arange(tree.n_internal)
    dims, values = tree.node_split(internal)
    starts = boxes[internal, 0].astype(np.float64)
    ends = boxes[internal, 1].astype(np.float64)
    starts[internal, dims] = values
    ends[internal, dims] = values
    depth_share = tree.node_depth(internal) / max(1, tree.depth)
    ax.add_collection(LineCollection(np.stack([starts, ends], axis=1), colors="0.25",
                                     linewidths=0.4 + 1.6 * (1.0 - depth_share), zorder=2,
                                     gid="kdforge-splits", label="splits"))
    lower, upper = boxes[0].astype(np.float64)
    ax.add_patch(Rectangle(lower, *(upper - lower), fill=False, edgecolor="0.25", linewidth=2.0,
                           zorder=2, gid="kdforge-data-box"))
    if query is not None:
        point = queries[0]
        dist, idx = tree.query(point, k=k)
        found = idx >= 0
        if show_visited:
            visited, _ = _knn_visited_leaves(tree, point, k)
            cells = boxes[visited].astype(np.float64)
            corners = np.stack([cells[:, 0], np.stack([cells[:, 1, 0], cells[:, 0, 1]], axis=1),
                                cells[:, 1], np.stack([cells[:, 0, 0], cells[:, 1, 1]], axis=1)],
                               axis=1)
            ax.add_collection(PolyCollection(corners, facecolors="#ffd27f", edgecolors="none",
                                             alpha=0.6, zorder=1, gid="kdforge-visited",
                                             label=f"visited leaves ({len(visited)} of {tree.n_leaves})"))
    if show_points:
        data = tree.data
        ax.scatter(data[:, 0], data[:, 1], s=8, color="#3b6ea8", zorder=3, gid="kdforge-points",
                   label="points")
    if query is not None:
        neighbours = tree.data[idx[found]]
        ax.scatter(neighbours[:, 0], neighbours[:, 1], s=70, facecolors="none", edgecolors="#d62728",
                   linewidths=1.5, zorder=4, gid="kdforge-neighbours", label=f"{k} nearest")
        ax.scatter([point[0]], [point[1]], s=160, marker="*", color="#d62728", zorder=5,
                   gid="kdforge-query", label="query")
        if found.any():
            ax.add_patch(Circle(point, float(dist[found][-1]), fill=False, linestyle="--",
                                edgecolor="#d62728", linewidth=1.0, zorder=4,
                                gid="kdforge-knn-radius"))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    return ax
