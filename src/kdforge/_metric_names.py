"""Metric names shared by the high-level indexes (:mod:`kdforge.index`, :mod:`kdforge.forest`).

Minkowski metrics map to an order ``p`` (the trees' and brute force's parameter). Cosine
search normalises the points once and searches them in Euclidean distance: for unit vectors
``|x - q|**2 = 2 - 2 cos(x, q)``, so the Euclidean order is the cosine order (decreasing
similarity), and the cosine similarity is ``1 - d**2 / 2``.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_p

__all__ = ["METRICS", "resolve_metric", "normalize_rows", "cosine_similarity"]

#: Metric names and aliases and the Minkowski order they stand for ("cosine": 2, after
#: normalisation; "minkowski": the ``p`` argument).
METRICS = {
    "euclidean": 2.0, "l2": 2.0,
    "manhattan": 1.0, "cityblock": 1.0, "l1": 1.0,
    "chebyshev": math.inf, "linf": math.inf, "infinity": math.inf,
    "minkowski": None,
    "cosine": 2.0, "angular": 2.0,
}  # fmt: skip


def resolve_metric(metric, p=None) -> tuple[str, float, bool]:
    """Validate a metric name (and ``p`` for "minkowski").

    Returns
    -------
    name : str
        The name as given (lower case).
    p : float
        Minkowski order of the search.
    cosine : bool
        Whether points and queries are normalised and results reported as cosine
        similarities.
    """
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, got {type(metric).__name__} {metric!r}")
    name = metric.lower()
    if name not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(sorted(METRICS))}")
    if name == "minkowski":
        if p is None:
            raise ValueError('metric="minkowski" needs p (1 <= p <= inf)')
        return name, check_p(p), False
    if p is not None and check_p(p) != METRICS[name]:
        raise ValueError(f"p={p} contradicts metric={metric!r}; give p only with metric='minkowski'")
    return name, METRICS[name], name in ("cosine", "angular")


def normalize_rows(X: np.ndarray, name: str = "data") -> np.ndarray:
    """Return validated rows scaled to unit Euclidean norm (same dtype; a new array).

    Raises
    ------
    ValueError
        If a row is zero: it has no direction, so no cosine similarity.
    """
    # Scale each row by its largest magnitude before squaring: the norm of a row of 1e200s
    # or of 1e-200s is then exact to rounding instead of overflowing or underflowing.
    largest = np.abs(X).max(axis=1).astype(np.float64)
    zero = np.flatnonzero(largest == 0)
    if zero.size:
        shown = ", ".join(map(str, zero[:5])) + (", ..." if zero.size > 5 else "")
        raise ValueError(f"{name} has {zero.size} zero vector(s) (row {shown}); cosine similarity "
                         "is undefined for them: drop them or use a Minkowski metric")
    scaled = X / largest[:, None]
    norms = np.sqrt(np.einsum("ij,ij->i", scaled, scaled, dtype=np.float64))
    return (scaled / norms[:, None]).astype(X.dtype, copy=False)


def cosine_similarity(euclidean: np.ndarray) -> np.ndarray:
    """Cosine similarity ``1 - d**2 / 2`` from the Euclidean distance ``d`` of unit vectors.

    The result is clipped to [-1, 1] (rounding); the ``inf`` that pads missing neighbours
    becomes ``-inf``. Same dtype as ``euclidean``.
    """
    out = 1.0 - euclidean.astype(np.float64) ** 2 / 2.0
    np.clip(out, -1.0, 1.0, out=out, where=np.isfinite(out))
    return out.astype(euclidean.dtype, copy=False)
