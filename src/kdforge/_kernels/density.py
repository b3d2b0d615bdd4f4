"""Kernel density sums with a guaranteed tolerance: :func:`kde_batch`.

For each query the tree is descended from the root, nearer child first. A node's points
lie between the smallest and largest distance from the query to its tight box, so their
kernel values lie in ``[k_min, k_max]`` (kernels decrease with distance). A node is
replaced by ``W * (k_min + k_max) / 2`` (``W`` its total weight) when its error
``W * (k_max - k_min) / 2`` is within its share ``W / W_total`` of the allowed error
``atol + rtol * LB``, where ``LB`` is a running lower bound of the whole sum (exact sums
and ``W * k_min`` of every node done or still pending). Summed over nodes, the error is at
most ``atol + rtol * true_sum``: scikit-learn's definition of ``atol`` / ``rtol``. Compact
kernels skip nodes beyond the bandwidth; leaves that are reached are summed exactly.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .distance import box_max_reduced, box_min_reduced, from_reduced, reduced_distance

KERNEL_GAUSSIAN = 0
KERNEL_TOPHAT = 1
KERNEL_EPANECHNIKOV = 2
KERNEL_EXPONENTIAL = 3
KERNEL_LINEAR = 4
KERNEL_COSINE = 5
#: Kernel codes by scikit-learn's names.
KERNELS = {"gaussian": KERNEL_GAUSSIAN, "tophat": KERNEL_TOPHAT,
           "epanechnikov": KERNEL_EPANECHNIKOV, "exponential": KERNEL_EXPONENTIAL,
           "linear": KERNEL_LINEAR, "cosine": KERNEL_COSINE}


@njit(cache=True, nogil=True, inline="always")
def kernel_value(d, h, kernel):
    """Unnormalised kernel at distance ``d`` for bandwidth ``h`` (scikit-learn's forms)."""
    if kernel == KERNEL_GAUSSIAN:
        return math.exp(-0.5 * (d / h) * (d / h))
    if kernel == KERNEL_EXPONENTIAL:
        return math.exp(-d / h)
    if d >= h:
        return 0.0
    if kernel == KERNEL_TOPHAT:
        return 1.0
    if kernel == KERNEL_EPANECHNIKOV:
        return 1.0 - (d / h) * (d / h)
    if kernel == KERNEL_LINEAR:
        return 1.0 - d / h
    return math.cos(0.5 * math.pi * d / h)


@njit(cache=True, nogil=True)
def kde_batch(tree, queries, first, last, h, kernel, metric, p, cum_weight, atol_raw, rtol,
              out):
    """Weighted kernel sums ``sum_j w_j K(|q - x_j|)`` of queries ``first..last-1``.

    Parameters
    ----------
    tree : TreeRecord
    queries : array of shape (m, d), the tree's dtype
    first, last : int
        Range of queries to answer.
    h : float
        Bandwidth (> 0).
    kernel, metric, p : int, int, float
        Kernel code, metric code, Minkowski order.
    cum_weight : float64 array of shape (n + 1,)
        Prefix sums of the weights in tree order.
    atol_raw, rtol : float
        Allowed error ``atol_raw + rtol * true_sum`` of each sum (unnormalised units).
    out : float64 array of shape (m,)
        Written at ``first..last-1``.
    """
    data = tree.tree_data
    node_start = tree.node_start
    node_end = tree.node_end
    lower = tree.node_bounds[0]
    upper = tree.node_bounds[1]
    n_internal = node_start.shape[0] // 2
    total_weight = cum_weight[cum_weight.shape[0] - 1]
    size = 2 * (tree.n_levels + 2)
    stack_node = np.empty(size, dtype=np.int64)
    stack_low = np.empty(size, dtype=np.float64)
    for qi in range(first, last):
        query = queries[qi]
        estimate = 0.0
        weight = cum_weight[node_end[0]] - cum_weight[node_start[0]]
        k_far = kernel_value(from_reduced(box_max_reduced(lower[0], upper[0], query, metric, p),
                                          metric, p), h, kernel)
        stack_node[0] = 0
        stack_low[0] = weight * k_far
        lower_bound = stack_low[0]
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            lower_bound -= stack_low[top]
            weight = cum_weight[node_end[node]] - cum_weight[node_start[node]]
            d_near = from_reduced(box_min_reduced(lower[node], upper[node], query, metric, p),
                                  metric, p)
            k_near = kernel_value(d_near, h, kernel)
            if k_near == 0.0:
                continue
            k_far = kernel_value(from_reduced(box_max_reduced(lower[node], upper[node], query,
                                                              metric, p), metric, p), h, kernel)
            allowed = (weight / total_weight) * (atol_raw + rtol * (lower_bound + weight * k_far))
            if weight * (k_near - k_far) <= 2.0 * allowed:
                estimate += 0.5 * weight * (k_near + k_far)
                lower_bound += weight * k_far
                continue
            if node >= n_internal:
                exact = 0.0
                for row in range(node_start[node], node_end[node]):
                    d = from_reduced(reduced_distance(data, row, query, metric, p, np.inf),
                                     metric, p)
                    exact += (cum_weight[row + 1] - cum_weight[row]) * kernel_value(d, h, kernel)
                estimate += exact
                lower_bound += exact
                continue
            left = tree.node_children[node, 0]
            right = tree.node_children[node, 1]
            d_left = box_min_reduced(lower[left], upper[left], query, metric, p)
            d_right = box_min_reduced(lower[right], upper[right], query, metric, p)
            near, far = (left, right) if d_left <= d_right else (right, left)
            for child in (far, near):  # the nearer child is popped first
                child_weight = cum_weight[node_end[child]] - cum_weight[node_start[child]]
                child_far = kernel_value(from_reduced(box_max_reduced(lower[child], upper[child],
                                                                      query, metric, p),
                                                      metric, p), h, kernel)
                stack_node[top] = child
                stack_low[top] = child_weight * child_far
                lower_bound += stack_low[top]
                top += 1
        out[qi] = estimate
