"""Input checks at the Python boundary.

Numba kernels do not check array bounds and ``fastmath`` assumes finite values, so every
array and scalar that comes from a caller is checked here before any kernel sees it. Each
function either returns a value a kernel can use safely or raises ``TypeError`` (wrong kind
of thing) / ``ValueError`` (right kind, bad value) with a message that names the argument.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from ._parallel import MAX_THREADS
from .record import FLOAT_DTYPES

__all__ = [
    "as_real_array",
    "as_data_array",
    "as_query_array",
    "check_k",
    "check_knn_answer",
    "check_p",
    "check_eps",
    "check_leaf_size",
    "check_radius",
    "check_workers",
    "check_distance_upper_bound",
    "check_max_leaves",
    "check_int",
    "check_bool",
    "check_choice",
    "check_float_dtype",
    "is_integer",
    "as_box_corner",
    "columns_as_data",
]


def as_real_array(values, name: str, dtype=None) -> np.ndarray:
    """Convert ``values`` to a float32/float64 ndarray, refusing non-real dtypes."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}")
    if kind not in "fiub":
        raise TypeError(
            f"{name} must be a numeric array, got dtype {arr.dtype} "
            "(object, string and datetime arrays are not accepted)"
        )
    if dtype is not None:
        target = np.dtype(dtype)
    elif arr.dtype in FLOAT_DTYPES:
        target = arr.dtype
    else:
        target = np.dtype(np.float64)
    return np.ascontiguousarray(arr, dtype=target)


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {n_bad} NaN or infinite value(s); all values must be finite")


def as_data_array(data, name: str = "data") -> np.ndarray:
    """Validate the points a tree is built on.

    Parameters
    ----------
    data : array_like of shape (n, d)
        Real values. float32 and float64 keep their dtype; other real dtypes become float64.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        C-contiguous float32 or float64 array of shape (n, d). It is the caller's array itself
        when that already has this form (it is never written to).
    """
    arr = as_real_array(data, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_points, n_dims), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: a tree needs at least one point")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has zero dimensions: shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def as_query_array(X, n_dims: int, dtype, name: str = "X",
                   owner: str = "the tree") -> tuple[np.ndarray, bool]:
    """Validate query points against a tree of ``n_dims`` dimensions.

    Parameters
    ----------
    X : array_like of shape (m, d) or (d,)
        Query points; a 1-D array is one point.
    n_dims : int
        The tree's number of dimensions.
    dtype : numpy.dtype
        The tree's dtype; queries are converted to it.
    name : str
        Name used in error messages.
    owner : str
        What the queries are searched in, for error messages ("the tree", "data", ...).

    Returns
    -------
    queries : numpy.ndarray of shape (m, d)
    single : bool
        True when ``X`` was one point, so results should drop the leading axis.
    """
    with np.errstate(over="ignore"):  # a float32 overflow is reported below, by name
        arr = as_real_array(X, name, dtype=dtype)
    single = arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (one point) or 2-D (m, d), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[1] != n_dims:
        raise ValueError(f"{name} has {arr.shape[1]} dimension(s) but {owner} has {n_dims}")
    if arr.dtype == np.float32 and not np.isfinite(arr).all():
        original = np.asarray(X)
        if original.dtype != np.float32 and np.isfinite(original.astype(np.float64)).all():
            largest = float(np.abs(original.astype(np.float64)).max())
            raise ValueError(f"{name} has values beyond the float32 range of {owner} "
                             f"(largest magnitude {largest:.3g} > {float(np.finfo(np.float32).max):.3g})")
    _check_finite(arr, name)
    return arr, single


def is_integer(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (booleans are not)."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None,
              allow_none: bool = False) -> int | None:
    """Return ``value`` as an int within ``[minimum, maximum]``, or raise.

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name, for the messages.
    minimum, maximum : int, optional
        Inclusive bounds.
    allow_none : bool, default False
        Accept None (and return it).

    Raises
    ------
    TypeError
        Not an integer (booleans and floats are refused).
    ValueError
        Outside the bounds.
    """
    if value is None and allow_none:
        return None
    if not is_integer(value):
        expected = "an integer or None" if allow_none else "an integer"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is a Python or NumPy bool, else raise ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(value, name: str, choices):
    """Return ``value`` if it is one of ``choices`` (compared by equality), else raise.

    Raises ``TypeError`` when ``choices`` are all strings and ``value`` is not a string,
    ``ValueError`` otherwise.
    """
    choices = tuple(choices)
    if all(isinstance(c, str) for c in choices) and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {list(choices)}, got "
                        f"{type(value).__name__} {value!r}")
    if not any(value is c or (value == c and type(value) is type(c)) for c in choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """Return ``dtype`` as a NumPy dtype if it is float32 or float64, else raise ``TypeError``."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def check_k(k) -> int:
    """Return ``k`` as an int >= 1 or raise."""
    return check_int(k, "k", minimum=1)


def _physical_memory() -> int:
    """Bytes of memory of this machine (2**62 when the platform does not tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 2**62


def check_knn_answer(n_queries: int, k: int, owner: str) -> None:
    """Raise ``ValueError`` when an (m, k) kNN answer could not fit in this machine's memory.

    ``k`` may exceed the number of points (the rows are padded), but an answer of ``m * k``
    (distance, index) pairs larger than the memory is refused before anything is allocated.
    """
    needed = n_queries * k * 16
    if needed > _physical_memory():
        raise ValueError(f"k={k} for {n_queries} quer{'y' if n_queries == 1 else 'ies'} of {owner} "
                         f"asks for an answer of {needed / 1e9:.3g} GB (16 bytes per neighbour), more "
                         "than this machine's memory; use a smaller k")


def check_p(p) -> float:
    """Return the Minkowski order ``p`` as a float in [1, inf] or raise."""
    if not isinstance(p, (numbers.Real, np.floating, np.integer)) or isinstance(p, (bool, np.bool_)):
        raise TypeError(f"p must be a real number >= 1, got {type(p).__name__} {p!r}")
    p = float(p)
    if np.isnan(p) or p < 1:
        raise ValueError(f"p must be >= 1 (1 = manhattan, 2 = euclidean, inf = chebyshev), got {p}")
    return p


def check_eps(eps) -> float:
    """Return the approximation factor ``eps`` as a finite float >= 0 or raise."""
    if not isinstance(eps, (numbers.Real, np.floating, np.integer)) or isinstance(eps, (bool, np.bool_)):
        raise TypeError(f"eps must be a real number >= 0, got {type(eps).__name__} {eps!r}")
    eps = float(eps)
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    return eps


def check_distance_upper_bound(bound) -> float:
    """Return ``distance_upper_bound`` as a float > 0 (inf allowed) or raise."""
    if not isinstance(bound, (numbers.Real, np.floating, np.integer)) or isinstance(bound, (bool, np.bool_)):
        raise TypeError(f"distance_upper_bound must be a real number, got {type(bound).__name__} {bound!r}")
    bound = float(bound)
    if np.isnan(bound) or bound <= 0:
        raise ValueError(f"distance_upper_bound must be > 0 (inf for no bound), got {bound}")
    return bound


#: Largest accepted ``leaf_size`` (more than any array can hold; beyond, machine integers
#: overflow).
MAX_LEAF_SIZE = 2**62


def check_leaf_size(leaf_size) -> int:
    """Return ``leaf_size`` as an int in ``[1, MAX_LEAF_SIZE]`` or raise."""
    return check_int(leaf_size, "leaf_size", minimum=1, maximum=MAX_LEAF_SIZE)


def check_radius(r, n_queries: int) -> np.ndarray:
    """Return one float64 radius per query, all finite-or-inf and >= 0, or raise.

    Parameters
    ----------
    r : float or array_like of shape (n_queries,)
        A scalar applies to every query.
    n_queries : int
        Number of query points.
    """
    arr = np.asarray(r)
    if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
        raise TypeError(f"r must be a real number or an array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim == 0:
        arr = np.full(n_queries, float(arr), dtype=np.float64)
    elif arr.ndim != 1 or arr.shape[0] != n_queries:
        raise ValueError(f"r must be a scalar or have one value per query ({n_queries}), got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError("r contains NaN; radii must be >= 0")
    if (arr < 0).any():
        raise ValueError(f"r must be >= 0, got a negative radius ({arr.min()})")
    return np.ascontiguousarray(arr)


def check_workers(workers) -> int:
    """Return the number of threads to use: ``workers`` clamped to the usable cores.

    -1 means all cores; other negative values count back from the number of cores as in
    scikit-learn (-2 = all but one), never below 1. Values above the number of cores are
    clamped to it: the kernels are CPU-bound, so more threads than cores never help.
    """
    if not is_integer(workers):
        raise TypeError(f"workers must be an integer (-1 = all cores), got {type(workers).__name__} {workers!r}")
    workers = int(workers)
    if workers == 0:
        raise ValueError("workers must be >= 1, or negative to count from the number of cores (-1 = all); got 0")
    if workers < 0:
        return max(1, MAX_THREADS + 1 + workers)
    return min(workers, MAX_THREADS)


def check_max_leaves(max_leaves) -> int:
    """Return the leaf budget ``max_leaves`` of an approximate search as an int >= 1 or raise."""
    if not is_integer(max_leaves):
        raise TypeError(f"max_leaves must be an integer or None, got {type(max_leaves).__name__} {max_leaves!r}")
    # any budget beyond the number of leaves is exact: clamp so that kernels' integers hold it
    return min(check_int(max_leaves, "max_leaves", minimum=1), 2**62)


def as_box_corner(values, n_dims: int, name: str) -> np.ndarray:
    """Validate one corner array of query boxes: float64 of shape (d,) or (m, d), no NaN."""
    arr = as_real_array(values, name, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (one box) or 2-D (m, d), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[-1] != n_dims:
        raise ValueError(f"{name} has {arr.shape[-1]} dimension(s) but the tree has {n_dims}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; box corners must be numbers (+-inf allowed)")
    return arr


def columns_as_data(columns) -> np.ndarray:
    """Validate one 1-D array per dimension and return them side by side, shape (n, d).

    float32 when every column is float32, float64 otherwise; the columns are copied once.

    Raises
    ------
    TypeError
        A column is not real-valued (complex, object, string...), or ``columns`` is a string.
    ValueError
        No columns, a column that is not 1-D, columns of different lengths, or a NaN or
        infinite value (the message names the column).
    """
    if isinstance(columns, (str, bytes)):
        raise TypeError("columns must be a sequence of 1-D arrays, got a string")
    arrays = [np.asarray(col) for col in columns]
    if not arrays:
        raise ValueError("columns is empty: give one 1-D array per dimension")
    for j, arr in enumerate(arrays):
        if arr.dtype.kind == "c":
            raise TypeError(f"columns[{j}] must be real-valued, got complex dtype {arr.dtype}")
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"columns[{j}] must be a numeric array, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ValueError(f"columns[{j}] must be 1-D, got {arr.ndim}-D shape {arr.shape}")
        if arr.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"columns have different lengths: columns[0] has {arrays[0].shape[0]} "
                             f"values, columns[{j}] has {arr.shape[0]}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"columns[{j}] contains NaN or infinite values; all values must be finite")
    all_float32 = all(arr.dtype == np.float32 for arr in arrays)
    data = np.empty((arrays[0].shape[0], len(arrays)), dtype=np.float32 if all_float32 else np.float64)
    for j, arr in enumerate(arrays):
        data[:, j] = arr
    return data
