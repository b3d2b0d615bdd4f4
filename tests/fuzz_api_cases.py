"""Hostile API cases for the fuzz harness: hypothesis strategies, a checker, a subprocess runner.

A *case* is a plain dict (picklable): the entry point (``entry``), the points (``data``), the
queries (``X``), the constructor keywords (``build``) and the call keywords (``call``). Cases
run in a child process (``python fuzz_api_cases.py CASES.pkl``), which prints one JSON line
per case, so a crash (SIGSEGV, abort) or a hang is caught by the parent and pinned on the
case that was running. Each case must end in

- a documented exception: ``TypeError`` or ``ValueError`` (``kdforge.TreeFileError``,
  ``kdforge.NodeIdError``, ``kdforge.ResultSizeError`` are subclasses), or
- an answer equal to the brute-force reference of ``tests/reference.py`` (distances to a
  relative tolerance; indices whose distance is within that tolerance of a tie or of the
  radius may differ).

Anything else (another exception, a wrong answer, a crash, a hang) is a *finding*, except the
bugs already known and pinned by an ``xfail(strict=True)`` test (:data:`KNOWN`), which are
counted apart as *known*.
``tests/test_fuzz_api.py`` runs a short budget; ``benchmarks/fuzz_api.py --cases N`` a long one.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import traceback

import numpy as np
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------- strategies
DTYPES = ("float64", "float32", "float16", "int8", "int64", "uint8", "uint64", "bool",
          "complex128", "object", "str", "datetime64[s]")
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, np.nan, np.inf, -np.inf, 1e300, -1e300, 1e154,
           1e39, 3.4e38, 1e-300, 5e-324, 1e-45, 2.0 ** 53, 1e-19)
LAYOUTS = ("C", "F", "strided", "negative", "readonly")
ENTRIES = ("tree.query", "tree.query_radius", "tree.query_radius_csr", "tree.query_radius_chunks",
           "tree.query_box", "tree.find_leaf", "tree.find_point", "tree.distance_to_node",
           "tree.nodes", "tree.boxes", "brute.knn", "brute.radius", "index.query", "forest.query",
           "load")


def mostly(valid, hostile, share=0.85):
    """A (valid, hostile, share) choice: ``valid`` with probability ``share``, else ``hostile``.

    Drawn by :func:`choose` with a seeded ``random.Random``, so that the share holds (the
    hypothesis integer and float strategies favour their bounds).
    """
    return valid, hostile, share


def choose(draw, rnd, choice):
    """Draw from a :func:`mostly` choice."""
    valid, hostile, share = choice
    return draw(valid if rnd.random() < share else hostile)


P_VALUES = mostly(st.sampled_from([1, 2, 2, 3, 1.5, np.inf]), st.sampled_from([0.5, 0, -1, np.nan, 20, "2", None]))
K_VALUES = mostly(st.integers(1, 12), st.one_of(st.integers(-2, 0), st.sampled_from(
    [2 ** 63, 1.0, 2.5, None, True, "3", np.int32(3), np.uint64(2), 10 ** 5, 2 ** 40])))
WORKERS = mostly(st.sampled_from([1, 2, -1]), st.sampled_from([0, -2, 2 ** 70, 1.5, None, 64]))
RADII = mostly(st.floats(0, 4), st.sampled_from([0.0, -0.0, -1.0, np.nan, np.inf, 1e300, 1e154, "1"]))
SMALL_INTS = mostly(st.integers(1, 40), st.sampled_from([2 ** 63, 0, -3, None, 1.5]))


@st.composite
def values(draw, n_values, rnd):
    """float64 values from a class: plain, small integers (duplicates), special, or a mix."""
    kind = choose(draw, rnd, mostly(st.sampled_from(["uniform", "integers", "constant", "tiny"]),
                       st.sampled_from(["special", "mixed"]), 0.7))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if kind == "uniform":
        out = rng.uniform(-5, 5, n_values)
    elif kind == "integers":
        out = rng.integers(-3, 4, n_values).astype(np.float64)
    elif kind == "constant":
        out = np.full(n_values, draw(st.sampled_from([0.0, 1.0, -0.0, 1e-300])))
    elif kind == "tiny":
        out = rng.uniform(-1, 1, n_values) * draw(st.sampled_from([1e-19, 1e-160, 5e-324, 1e150]))
    else:
        special = np.array(SPECIAL)[rng.integers(0, len(SPECIAL), n_values)]
        out = special if kind == "special" else np.where(rng.random(n_values) < 0.2, special,
                                                         rng.integers(-2, 3, n_values))
    return out


@st.composite
def arrays(draw, n_rows, n_dims, rnd, dtype=None):
    """An array of any dtype, shape and layout; mostly (n_rows, n_dims) float."""
    shape = choose(draw, rnd, mostly(st.just((n_rows, n_dims)), st.sampled_from(
        [(), (n_dims,), (0, n_dims), (n_rows, 0), (2, n_rows, n_dims), (n_rows, n_dims + 1)]), 0.85))
    if dtype is None:
        dtype = choose(draw, rnd, mostly(st.sampled_from(["float64", "float32"]), st.sampled_from(DTYPES), 0.75))
    size = int(np.prod(shape))
    raw = draw(values(2 * max(size, 1), rnd))
    layout = draw(st.sampled_from(LAYOUTS))
    with np.errstate(all="ignore"):
        if dtype == "object":
            base = raw.astype(object)
        elif dtype == "str":
            base = raw.astype(str)
        elif dtype.startswith("datetime"):
            base = np.nan_to_num(raw, posinf=0, neginf=0).astype(np.int64).astype(dtype)
        elif dtype == "complex128":
            base = raw + 1j * raw[::-1]
        elif np.dtype(dtype).kind in "iub":
            base = np.nan_to_num(raw, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dtype)
        else:
            base = raw.astype(dtype)
    if layout == "strided":
        arr = base[: 2 * size : 2][:size].reshape(shape) if size else base[:0].reshape(shape)
    else:
        arr = base[:size].reshape(shape)
        if layout == "F":
            arr = np.asfortranarray(arr)
        elif layout == "negative" and arr.ndim:
            arr = arr[::-1]
        elif layout == "readonly":
            arr = arr.copy()
            arr.flags.writeable = False
    return arr


@st.composite
def cases(draw):
    """One case: an entry point, its data, queries and keywords."""
    entry = draw(st.sampled_from(ENTRIES))
    rnd = draw(st.randoms(use_true_random=False))
    n, d, m = draw(st.integers(1, 30)), draw(st.integers(1, 4)), draw(st.integers(0, 6))
    data = draw(arrays(n, d, rnd))
    X = draw(arrays(m, d, rnd, dtype=choose(draw, rnd, mostly(st.sampled_from(["float64", "float32", "int64"]),
                                            st.sampled_from(["object", "complex128", "str", "float16"])))))
    build = {"leaf_size": choose(draw, rnd, SMALL_INTS)}
    if entry.startswith("tree."):
        build["split"] = choose(draw, rnd, mostly(st.sampled_from(["max_spread", "round_robin"]), st.sampled_from(["median", 1])))
        build["division"] = choose(draw, rnd, mostly(st.sampled_from(["median", "root"]), st.sampled_from(["mean", None])))
    call = {}
    if entry in ("tree.query", "brute.knn", "index.query", "forest.query"):
        call["k"] = choose(draw, rnd, K_VALUES)
        call["sort_results"] = choose(draw, rnd, mostly(st.just(True), st.sampled_from([False, "yes"])))
        if entry != "brute.knn":
            call["return_distance"] = choose(draw, rnd, mostly(st.just(True), st.sampled_from([False, 1])))
    if entry in ("tree.query", "tree.query_radius", "tree.query_radius_csr", "tree.query_radius_chunks",
                 "brute.knn", "brute.radius", "tree.distance_to_node"):
        call["p"] = choose(draw, rnd, P_VALUES)
    if entry == "tree.query":
        call["eps"] = choose(draw, rnd, mostly(st.sampled_from([0, 0, 0.5]), st.sampled_from([-1, np.nan, np.inf, 1e155])))
        call["distance_upper_bound"] = choose(draw, rnd, mostly(st.sampled_from([np.inf, np.inf, 1.0, 0.0]),
                                                   st.sampled_from([-1.0, np.nan, 1e154, 1e-150, 5e-324])))
        call["max_leaves"] = choose(draw, rnd, mostly(st.sampled_from([None, None, 1, 3, 10 ** 6]), st.sampled_from([0, -1, 2 ** 63])))
        call["return_distance"] = True
    if entry.startswith("tree.query_radius") or entry == "brute.radius":
        r = choose(draw, rnd, RADII)
        if draw(st.booleans()) and X.ndim == 2 and entry != "brute.radius":
            r = np.abs(draw(arrays(X.shape[0], 1, rnd, dtype="float64")).ravel())
        call["r"] = r
        call["sort_results"] = draw(st.sampled_from([False, True, "no"]))
        if entry != "tree.query_radius_chunks":
            call["return_distance"] = draw(st.booleans())
    if entry == "tree.query_radius":
        call["count_only"] = draw(st.sampled_from([False, False, True, 2]))
        call["max_results"] = draw(st.sampled_from([None, None, 0, 1, 5, 10 ** 9, -1, 2 ** 70]))
    if entry == "tree.query_radius_csr":
        call["max_results"] = draw(st.sampled_from([None, 0, 3, 10 ** 9, -1]))
    if entry == "tree.query_radius_chunks":
        call["queries_per_chunk"] = draw(st.sampled_from([1, 2, 65536, 0, -1, 2 ** 70]))
    if entry == "tree.query_box":
        call["hi"] = draw(arrays(m, d, rnd, dtype="float64"))
        call["sort_results"] = draw(st.booleans())
    if entry == "tree.find_point":
        call["all_matches"] = draw(st.booleans())
    if entry in ("tree.distance_to_node", "tree.nodes"):
        call["node"] = draw(st.one_of(st.integers(-3, 70), st.sampled_from(
            [2 ** 40, 1.0, np.int64(1), np.uint8(0), None, "0", np.array([0, 1]), np.array([[1]]),
             np.array([-1, 2]), np.array([], dtype=np.int64), np.array([1.5]), True])))
    if entry == "tree.distance_to_node":
        call["kind"] = draw(st.sampled_from(["cell", "tight", "box", None]))
    if entry == "tree.boxes":
        call["kind"] = draw(st.sampled_from(["cell", "tight", "", 3]))
    if entry == "index.query":
        build["algorithm"] = draw(st.sampled_from(["auto", "tree", "brute", "ball"]))
        build["metric"] = draw(st.sampled_from(["euclidean", "manhattan", "chebyshev", "cosine", "x"]))
    if entry == "forest.query":
        build["n_trees"] = draw(st.sampled_from([1, 2, 3, 0]))
        build["rotation"] = choose(draw, rnd, mostly(st.sampled_from(["random", None, "pca"]), st.just("bad")))
        build["metric"] = draw(st.sampled_from(["euclidean", "manhattan", "minkowski"]))
        build["p"] = 20 if build["metric"] == "minkowski" else None
        call["max_leaves"] = choose(draw, rnd, mostly(st.sampled_from([1, 4, 10 ** 6]), st.sampled_from([0, -1])))
    if entry == "load":
        build["mutation"] = draw(st.sampled_from(["random", "flip", "truncate", "none", "zero"]))
        build["where"] = draw(st.floats(0, 1))
        build["seed"] = draw(st.integers(0, 2 ** 32 - 1))
    if entry != "load":
        call["workers"] = choose(draw, rnd, WORKERS)
    return {"entry": entry, "data": data, "X": X, "build": build, "call": call}


# ---------------------------------------------------------------------- known bugs
#: Bugs found by this harness and not fixed yet: (name, predicate on (case, exception)).
#: Both found so far are fixed and have regression tests in tests/test_fuzz_api.py: a
#: huge ``k`` is refused before anything is allocated, and a subnormal
#: ``distance_upper_bound`` keeps exact matches.
KNOWN = ()


# ---------------------------------------------------------------------- checking
def _reference_arrays(tree_dtype, data, queries):
    """The points and queries in float64, after the rounding to the tree's dtype."""
    data = np.asarray(data).astype(tree_dtype).astype(np.float64).reshape(np.shape(data))
    queries = np.atleast_1d(np.asarray(queries).astype(tree_dtype).astype(np.float64))  # 0-d: one 1-d point
    return data, queries.reshape(1, -1) if queries.ndim == 1 else queries


def _tolerance(dtype):
    return 2e-5 if np.dtype(dtype) == np.float32 else 1e-9


def _distances(data, queries, p):
    import reference

    with np.errstate(all="ignore"):
        return reference.to_distance(reference.reduced_distances(data, queries, p), p)


def _close(a, b, rtol):
    with np.errstate(all="ignore"):
        return (a == b) | (np.isfinite(a) & np.isfinite(b)
                           & (np.abs(a - b) <= rtol * np.maximum(np.abs(a), np.abs(b))))


def _checker(check):
    """Report a failure of the checker itself as a finding (never as a documented rejection)."""
    def checked(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            return f"checker failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    checked.__doc__ = check.__doc__
    return checked


@_checker
def check_knn(data, queries, k, p, dist, idx, rtol, upper_bound=np.inf, exact=True):
    """None if (dist, idx) are the k nearest neighbours (to ``rtol``), else what is wrong."""
    full = _distances(data, queries, p)
    n = data.shape[0]
    dist, idx = np.asarray(dist, dtype=np.float64), np.asarray(idx)
    if idx.size != len(queries) * k or dist.shape != idx.shape:
        return f"shapes {dist.shape} {idx.shape}, expected {len(queries)} x {k}"
    dist, idx = dist.reshape(len(queries), k), idx.reshape(len(queries), k)
    for i in range(len(queries)):
        row_idx, row_dist = idx[i], dist[i]
        found = row_idx >= 0
        if ((row_idx < -1) | (row_idx >= n)).any():
            return f"query {i}: index out of range {row_idx}"
        if len(set(row_idx[found].tolist())) != found.sum():
            return f"query {i}: repeated index {row_idx}"
        if not _close(row_dist[found], full[i, row_idx[found]], rtol).all():
            return f"query {i}: distances {row_dist} do not match indices {row_idx} ({full[i, row_idx[found]]})"
        if not np.isinf(row_dist[~found]).all():
            return f"query {i}: missing entries with finite distance {row_dist}"
        if not exact:
            continue
        within = full[i][full[i] < upper_bound]
        expected = np.sort(within)[:k]
        got = np.sort(row_dist[found])
        if got.size != expected.size:
            # near the bound, a point may be in or out within rounding
            borderline = _close(np.sort(full[i])[min(got.size, expected.size):max(got.size, expected.size)],
                                upper_bound, rtol).all()
            if not borderline:
                return f"query {i}: {got.size} neighbours, reference has {expected.size}"
            continue
        if not _close(got, expected, rtol).all():
            return f"query {i}: distances {got}, reference {expected}"
    return None


@_checker
def check_radius(data, queries, radii, p, lists, rtol):
    """None if each list holds the points within radius (up to rounding at the radius)."""
    full = _distances(data, queries, p)
    radii = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(queries),))
    if len(lists) != len(queries):
        return f"{len(lists)} result rows for {len(queries)} queries"
    for i, got in enumerate(lists):
        got = np.asarray(got)
        if got.size != np.unique(got).size:
            return f"query {i}: repeated indices"
        inside = full[i] <= radii[i]
        mask = np.zeros(data.shape[0], bool)
        if got.size and (got.min() < 0 or got.max() >= data.shape[0]):
            return f"query {i}: index out of range"
        mask[got.astype(np.int64)] = True
        differ = np.flatnonzero(mask != inside)
        if differ.size and not _close(full[i, differ], radii[i], rtol).all():
            return f"query {i}: points {differ[:5]} at distances {full[i, differ[:5]]} vs r={radii[i]}"
    return None


def _as_lists(indptr, indices):
    return [indices[indptr[i]:indptr[i + 1]] for i in range(len(indptr) - 1)]


def _tree_call(kdforge, case, tree):
    entry, X, call = case["entry"], case["X"], dict(case["call"])
    data, queries = _reference_arrays(tree.dtype, tree.data, X) if np.ndim(X) <= 2 else (None, None)
    rtol = _tolerance(tree.dtype)
    p = call.get("p", 2)
    if entry == "tree.query":
        out = tree.query(X, **call)
        exact = call["eps"] == 0 and call["max_leaves"] is None
        if call["eps"] != 0:
            rtol = max(rtol, float(call["eps"]) + rtol) if np.isfinite(call["eps"]) else np.inf
        return check_knn(data, queries, call["k"], float(p), out[0], out[1], rtol,
                         upper_bound=call["distance_upper_bound"], exact=exact)
    if entry == "tree.query_radius":
        out = tree.query_radius(X, **call)
        if call["count_only"]:
            counts = np.asarray(out).reshape(-1)
            full = _distances(data, queries, float(p))
            radii = np.broadcast_to(np.asarray(call["r"], dtype=np.float64), (len(queries),))
            lo = (full <= radii[:, None] * (1 - rtol)).sum(axis=1)
            hi = (full <= radii[:, None] * (1 + rtol)).sum(axis=1)
            return None if ((counts >= lo) & (counts <= hi)).all() else f"counts {counts}, reference {lo}..{hi}"
        lists = out[0] if call["return_distance"] else out
        if np.ndim(X) <= 1:
            lists = [np.asarray(lists[0] if len(lists) == 1 and np.ndim(lists[0]) else lists)]
        return check_radius(data, queries, call["r"], float(p), list(lists), rtol)
    if entry == "tree.query_radius_csr":
        csr = tree.query_radius_csr(X, **call)
        return check_radius(data, queries, call["r"], float(p), _as_lists(csr.indptr, csr.indices), rtol)
    if entry == "tree.query_radius_chunks":
        lists = []
        for block in tree.query_radius_chunks(X, **call):
            csr = block[1] if isinstance(block, tuple) else block
            lists.extend(_as_lists(csr.indptr, csr.indices))
        return check_radius(data, queries, call["r"], float(p), lists, rtol)
    if entry == "tree.query_box":
        hi = call.pop("hi")
        csr = tree.query_box_csr(X, hi, **call)
        lo_r = np.asarray(X, dtype=np.float64).reshape(-1, tree.n_dims)
        hi_r = np.asarray(hi, dtype=np.float64).reshape(-1, tree.n_dims)
        got = _as_lists(csr.indptr, csr.indices)
        lo_r, hi_r = np.broadcast_arrays(lo_r, hi_r)  # one corner may be shared by all boxes
        lo_r, hi_r = (np.broadcast_to(c, (len(got), tree.n_dims)) for c in (lo_r, hi_r))
        for i, row in enumerate(got):
            inside = ((data >= lo_r[i]) & (data <= hi_r[i])).all(axis=1)
            near = (_close(data, lo_r[i], rtol) | _close(data, hi_r[i], rtol)).any(axis=1)
            mask = np.zeros(len(data), bool)
            mask[np.asarray(row, dtype=np.int64)] = True
            if ((mask != inside) & ~near).any():
                return f"box {i}: {np.flatnonzero(mask != inside)[:5]} differ"
        return None
    if entry == "tree.find_leaf":
        leaves = np.asarray(tree.find_leaf(X, **call)).reshape(-1)
        return None if np.asarray(tree.is_leaf(leaves)).all() else f"find_leaf gave non-leaves {leaves}"
    if entry == "tree.find_point":
        got = tree.find_point(X, **call)
        if call["all_matches"]:
            return None
        got = np.asarray(got).reshape(-1)
        for i, q in enumerate(queries):
            equal = np.flatnonzero((data == q).all(axis=1))
            expected = equal[0] if equal.size else -1
            if got[i] != expected:
                return f"find_point row {i}: {got[i]}, reference {expected}"
        return None
    if entry == "tree.distance_to_node":
        dmin, dmax = tree.distance_to_node(X, **call)
        if not (np.asarray(dmin) <= np.asarray(dmax)).all():
            return f"dmin > dmax: {dmin} {dmax}"
        return None
    if entry == "tree.nodes":
        node = call["node"]
        n_internal = tree.n_internal
        for method in ("left", "right", "parent", "is_leaf", "node_size", "node_depth", "node_split",
                       "node_indices"):
            try:
                value = getattr(tree, method)(node)
            except (TypeError, ValueError):
                continue
            ids = np.asarray(node).astype(np.int64)  # a uint8 id must not turn -1 into 255
            if method == "left" and not (np.asarray(value) == np.where(ids < n_internal, 2 * ids + 1, -1)).all():
                return f"left({node}) = {value}"
            if method == "is_leaf" and not (np.asarray(value) == (ids >= n_internal)).all():
                return f"is_leaf({node}) = {value}"
            if method == "node_indices":
                members = np.asarray(value)
                if members.size and (members.min() < 0 or members.max() >= tree.n_points):
                    return f"node_indices({node}) out of range"
        return None
    if entry == "tree.boxes":
        boxes = tree.boxes(**{k: v for k, v in call.items() if k == "kind"})
        return None if boxes.shape == (tree.n_nodes, 2, tree.n_dims) else f"boxes shape {boxes.shape}"
    raise AssertionError(entry)


def _load_case(kdforge, case):
    build = case["build"]
    rng = np.random.default_rng(build["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.kdf")
        data = np.asarray(case["data"])
        try:
            kdforge.KDTree(data, leaf_size=4).save(path)
            blob = bytearray(open(path, "rb").read())
        except (TypeError, ValueError):
            blob = bytearray(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
        at = int(build["where"] * max(len(blob) - 1, 0))
        mutation = build["mutation"]
        if mutation == "random":
            blob = bytearray(rng.integers(0, 256, len(blob), dtype=np.uint8).tobytes())
        elif mutation == "flip":
            blob[at] ^= 1 << int(rng.integers(0, 8))
        elif mutation == "truncate":
            blob = blob[:at]
        elif mutation == "zero":
            blob[at:at + 64] = bytes(len(blob[at:at + 64]))
        with open(path, "wb") as fh:
            fh.write(blob)
        tree = kdforge.load(path, verify_checksum=bool(rng.integers(0, 2)))
        queries = tree.data[:3] + 0.25
        dist, idx = tree.query(queries, k=min(3, tree.n_points))
        ref, q = _reference_arrays(tree.dtype, tree.data, queries)
        return check_knn(ref, q, min(3, tree.n_points), 2.0, dist, idx, _tolerance(tree.dtype))


def run_case(case):
    """Run one case: ("ok" | "rejected" | "known" | "finding", detail)."""
    import kdforge

    entry, build, call = case["entry"], case["build"], dict(case["call"])
    try:
        if entry == "load":
            problem = _load_case(kdforge, case)
        elif entry.startswith("tree."):
            tree = kdforge.KDTree(case["data"], leaf_size=build["leaf_size"], split=build["split"],
                                  division=build["division"], workers=call.get("workers", 1))
            problem = _tree_call(kdforge, case, tree)
        elif entry.startswith("brute."):
            data = kdforge._validation.as_data_array(case["data"])  # the same checks brute runs
            queries = case["X"]
            if entry == "brute.knn":
                out = kdforge.brute.knn(case["data"], queries, **call)
                ref, q = _reference_arrays(data.dtype, data, queries)
                problem = check_knn(ref, q, call["k"], float(call["p"]), out[0], out[1], _tolerance(data.dtype))
            else:
                out = kdforge.brute.radius(case["data"], queries, **call)
                ref, q = _reference_arrays(data.dtype, data, queries)
                problem = check_radius(ref, q, call["r"], float(call["p"]), _as_lists(out[0], out[1]),
                                       _tolerance(data.dtype))
        elif entry == "index.query":
            index = kdforge.NeighborIndex(case["data"], algorithm=build["algorithm"], metric=build["metric"],
                                          leaf_size=build["leaf_size"])
            out = index.query(case["X"], **call)
            problem = None
            if build["metric"] != "cosine" and call["return_distance"] is True:
                ref, q = _reference_arrays(index.points.dtype, index.points, case["X"])
                problem = check_knn(ref, q, call["k"], index.p, out[0], out[1], _tolerance(index.points.dtype))
        elif entry == "forest.query":
            forest = kdforge.KDForest(case["data"], n_trees=build["n_trees"], leaf_size=build["leaf_size"],
                                      metric=build["metric"], p=build["p"], rotation=build["rotation"],
                                      random_state=0)
            out = forest.query(case["X"], **call)
            problem = None
            if call["return_distance"] is True:
                ref, q = _reference_arrays(forest.points.dtype, forest.points, case["X"])
                p = {"euclidean": 2.0, "manhattan": 1.0, "minkowski": 20.0}[build["metric"]]
                problem = check_knn(ref, q, call["k"], p, out[0], out[1], 1e-4, exact=False)
        else:
            raise AssertionError(entry)
    except (TypeError, ValueError) as exc:
        return "rejected", f"{type(exc).__name__}: {str(exc)[:200]}"
    except Exception as exc:  # noqa: BLE001 - anything else is what we are looking for
        for name, predicate in KNOWN:
            if predicate(case, exc):
                return "known", name
        return "finding", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    return ("ok", "") if problem is None else ("finding", f"wrong answer: {problem}")


def describe(case) -> str:
    """A short, reproducible description of a case."""
    def show(a):
        a = np.asarray(a) if not isinstance(a, np.ndarray) else a
        text = repr(a.ravel()[:12].tolist())[:400]
        return f"array(dtype={a.dtype}, shape={a.shape}, C={a.flags.c_contiguous}, strides={a.strides}) {text}"
    return (f"{case['entry']} build={case['build']!r} call={ {k: v for k, v in case['call'].items()}!r}\n"
            f"  data={show(case['data'])}\n  X={show(case['X'])}")


def generate_cases(n_cases):
    """``n_cases`` cases drawn by hypothesis (each on its own, to keep its buffers small)."""
    from hypothesis import HealthCheck, Phase, given, settings

    drawn = []

    @settings(max_examples=n_cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def collect(case):
        drawn.append(case)

    collect()
    return drawn


# ---------------------------------------------------------------------- subprocess runner
def run_batch(batch, timeout=240.0):
    """Run cases in one child process; return (counts by status, findings as text)."""
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
        pickle.dump(batch, fh)
        path = fh.name
    counts = {"ok": 0, "rejected": 0, "known": 0, "finding": 0}
    findings = []
    try:
        try:
            proc = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_api_cases.py"), path],
                                  capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONFAULTHANDLER": "1"})
            stdout, returncode, stderr = proc.stdout, proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            returncode, stderr = "timeout", ""
        started = None
        for line in stdout.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
                continue
            started = None
            counts[record["status"]] += 1
            if record["status"] == "finding":
                findings.append(f"{record['detail']}\n  {describe(batch[record['i']])}")
        if returncode != 0:
            what = f"hang (> {timeout:.0f} s for the batch)" if returncode == "timeout" else f"crash (rc {returncode})"
            where = describe(batch[started]) if started is not None else "outside any case"
            counts["finding"] += 1
            findings.append(f"{what}\n  {where}\n  stderr: {stderr[-1500:]}")
    finally:
        os.unlink(path)
    return counts, findings


def _child(path):
    import warnings

    warnings.simplefilter("ignore")
    sys.path.insert(0, HERE)
    with open(path, "rb") as fh:
        batch = pickle.load(fh)
    for i, case in enumerate(batch):
        print(json.dumps({"start": i}), flush=True)
        status, detail = run_case(case)
        print(json.dumps({"i": i, "status": status, "detail": detail}), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])
