"""Reliability under hostile or careless use: pickles, shared buffers, fork, Ctrl-C, threads."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import kdforge
from kdforge import _parallel
from kdforge._treefile import TreeFileError


def make_tree(n=5000, d=3, seed=0, **kwargs):
    return kdforge.KDTree(np.random.default_rng(seed).random((n, d)), **kwargs)


# ---------------------------------------------------------------------- pickles
def test_a_tampered_pickle_is_refused():
    """Shifting the bytes of idx_array (a valid structure, wrong contents) is caught."""
    tree = make_tree()
    state = tree.__getstate__()
    state["arrays"]["idx_array"] = np.roll(state["arrays"]["idx_array"], 1) + 1
    with pytest.raises(TreeFileError, match="idx_array"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)
    state = tree.__getstate__()
    state["arrays"]["tree_data"] = state["arrays"]["tree_data"] + 10.0  # points leave their boxes
    with pytest.raises(TreeFileError, match="outside its bounding box"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)


def test_a_pickle_missing_keys_is_a_tree_file_error():
    tree = make_tree()
    for broken in ({}, {"format_version": 1}, {"format_version": 1, "arrays": {}},
                   {"format_version": 1, "tree": tree.__getstate__()["tree"],
                    "arrays": {"tree_data": tree.tree_data}}):
        with pytest.raises(TreeFileError):
            kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(broken)


def test_out_of_band_buffers_are_copied_on_unpickling():
    """Overwriting the sender's buffers after loads() cannot change (or crash) the tree."""
    tree = make_tree()
    queries = np.random.default_rng(1).random((50, 3))
    expected = tree.query(queries, k=4)
    buffers = []
    blob = pickle.dumps(tree, protocol=5, buffer_callback=buffers.append)
    raw = [bytearray(b.raw()) for b in buffers]
    loaded = pickle.loads(blob, buffers=raw)
    for buffer in raw:
        buffer[:] = b"\xff" * len(buffer)  # the sender reuses its buffers
    dist, idx = loaded.query(queries, k=4)
    np.testing.assert_array_equal(idx, expected[1])
    np.testing.assert_array_equal(dist, expected[0])


def test_no_array_of_a_tree_can_be_made_writeable():
    tree = make_tree()
    loaded = pickle.loads(pickle.dumps(tree))
    for t in (tree, loaded):
        record = t.record
        for name in kdforge.record.ARRAY_FIELDS:
            arr = getattr(record, name)
            assert not arr.flags.writeable
            with pytest.raises(ValueError):
                arr.flags.writeable = True
        for arr in (t.tree_data, t.idx_array, t.node_bounds, t.node_data):
            with pytest.raises(ValueError):
                arr.flags.writeable = True
    with pytest.raises(ValueError):  # a built tree's data is the caller's; a loaded tree's its own
        loaded.data.flags.writeable = True


def test_changing_the_callers_array_after_the_build_changes_nothing(tmp_path):
    data = np.random.default_rng(2).random((3000, 3))
    tree = kdforge.KDTree(data)
    queries = np.random.default_rng(3).random((40, 3))
    expected = tree.query(queries, k=5)
    original = data.copy()
    data[:] = 123.0  # the caller reuses its array
    np.testing.assert_array_equal(tree.query(queries, k=5)[1], expected[1])
    tree.save(tmp_path / "t.kdt")
    loaded = kdforge.load(tmp_path / "t.kdt")  # the file holds the indexed points, checked
    np.testing.assert_array_equal(loaded.data, original)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tree)).data, original)


def test_from_record_copies_and_validates():
    tree = make_tree(n=500)
    record = tree.record._replace(tree_data=tree.tree_data.copy())
    rebuilt = kdforge.KDTree.from_record(record)
    record.tree_data[:] = 0.0  # the caller's array, not the new tree's
    np.testing.assert_array_equal(rebuilt.tree_data, tree.tree_data)
    np.testing.assert_array_equal(rebuilt.data, tree.data)
    bad = tree.record._replace(split_dim=np.full_like(tree.record.split_dim, 7))
    with pytest.raises(TreeFileError, match="split dimension"):
        kdforge.KDTree.from_record(bad)


# ---------------------------------------------------------------------- threads
def test_workers_are_clamped_to_the_cores():
    data = np.random.default_rng(4).random((70_000, 2))
    tree = kdforge.KDTree(data, workers=2**70)  # hung before the clamp
    dist, idx = tree.query(data[:10], k=2, workers=2**70)
    assert (idx[:, 0] == np.arange(10)).all()
    assert kdforge._validation.check_workers(2**70) == _parallel.MAX_THREADS
    assert kdforge._validation.check_workers(-1) == _parallel.MAX_THREADS


def test_one_bounded_pool_whatever_the_workers_values():
    tree = make_tree(n=20_000)
    queries = np.random.default_rng(5).random((5000, 3))
    for workers in range(2, 40):
        tree.query(queries, k=2, workers=workers)
    threads = [t for t in threading.enumerate() if t.name.startswith(_parallel.POOL_THREAD_PREFIX)]
    assert len(threads) <= _parallel.MAX_THREADS


def test_an_error_in_one_chunk_stops_the_others_and_is_raised():
    calls = []

    def task(start, stop):
        calls.append(start)
        if start >= 1000:
            raise RuntimeError("boom")
        time.sleep(0.001)
        return stop - start

    with pytest.raises(RuntimeError, match="boom"):
        _parallel.run_chunked(task, 10**7, 2)
    assert len(calls) < 10**7 // _parallel.FIRST_CHUNK  # it stopped early


def test_chunks_cover_every_item_once_in_order():
    seen = []
    lock = threading.Lock()

    def task(start, stop):
        with lock:
            seen.append((start, stop))
        return np.arange(start, stop)

    parts = _parallel.run_chunked(task, 123_457, 2)
    np.testing.assert_array_equal(np.concatenate(parts), np.arange(123_457))
    assert sorted(seen)[0][0] == 0 and sum(b - a for a, b in seen) == 123_457


FORK_CHILD_WORK = """
import numpy as np
def work(seed):
    import kdforge
    data = np.random.default_rng(seed).random((70_000, 3))
    tree = kdforge.KDTree(data, workers=2)
    return int(tree.query(data[:3000], k=2, workers=2)[1][:, 0].sum())
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pools_work_after_fork_spawn_and_forkserver(method, tmp_path):
    """After the parent used the pool, children of every start method use theirs."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    module = tmp_path / "fork_child_work.py"
    module.write_text(FORK_CHILD_WORK)
    script = textwrap.dedent(f"""
        import multiprocessing, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, kdforge
        from fork_child_work import work
        if __name__ == "__main__":
            data = np.random.default_rng(0).random((70_000, 3))
            kdforge.KDTree(data, workers=2).query(data[:3000], k=2, workers=2)  # parent's pool
            with multiprocessing.get_context({method!r}).Pool(2) as pool:
                print(sum(pool.map(work, [1, 2])))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == 2 * sum(range(3000))


# ---------------------------------------------------------------------- Ctrl-C
INTERRUPT_SCRIPT = """
import sys, time, numpy as np, kdforge
kind, workers = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
data = rng.random((200_000, 8))
tree = kdforge.KDTree(data)
queries = rng.random((2_000_000, 8))
small = queries[:4096]  # enough for the leaf-ordered path: its kernels are loaded before "ready"
calls = {
    "knn": lambda q: tree.query(q, k=8, workers=workers),
    "radius": lambda q: tree.query_radius_csr(q, 0.15, workers=workers),
    "budgeted": lambda q: tree.query(q, k=8, max_leaves=64, workers=workers),
    "brute": lambda q: kdforge.brute.knn(data, q, k=8, p=3, workers=workers),
    "build": lambda q: kdforge.KDTree(big, workers=workers),
}
big = rng.random((20_000_000, 3)) if kind == "build" else None
calls[kind](small) if kind != "build" else kdforge.KDTree(big[:100_000], workers=workers)
print("ready", flush=True)
try:
    calls[kind](queries)
except KeyboardInterrupt:
    print(f"interrupted {time.perf_counter():.6f}", flush=True)
    sys.exit(0)
print("finished", flush=True)
"""


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", ["knn", "radius", "budgeted", "brute", "build"])
def test_ctrl_c_stops_long_calls(kind, workers, tmp_path):
    """A real SIGINT during a long call raises KeyboardInterrupt promptly; the process exits."""
    script = tmp_path / "interrupt.py"
    script.write_text(INTERRUPT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), kind, str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        waited = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.startswith("interrupted"), (out, err)
    latency = float(out.split()[1]) - sent  # perf_counter is one monotonic clock for both
    # 0.5 s is the target (benchmarks/RESULTS.md measures it on a quiet machine); a loaded
    # CI machine is allowed more
    assert latency < 10.0, latency
    assert waited < 30, waited


# ---------------------------------------------------------------------- numeric edges
@pytest.mark.parametrize("scale, metric, p", [(1e15, "minkowski", 3.0), (1e22, "euclidean", None),
                                              (1e-19, "euclidean", None), (1.0, "minkowski", 20.0),
                                              (3e-6, "minkowski", 3.0)])
def test_a_full_budget_forest_is_exact_at_every_scale(scale, metric, p):
    """Leaf codes screen with weights that neither overflow nor underflow float32."""
    rng = np.random.default_rng(6)
    data = rng.random((800, 3)) * scale
    queries = rng.random((30, 3)) * scale
    forest = kdforge.KDForest(data, n_trees=2, metric=metric, p=p, rotation=None, random_state=0)
    dist, idx = forest.query(queries, k=5, max_leaves=10**6)
    ref_dist, ref_idx = kdforge.brute.knn(data, queries, k=5, p=2.0 if p is None else p)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)


@pytest.mark.parametrize("magnitude", [1e-200, 1e-162, 1.0, 1e154, 1e200])
def test_cosine_handles_huge_and_tiny_vectors(magnitude):
    rng = np.random.default_rng(7)
    directions = rng.standard_normal((500, 8))
    index = kdforge.NeighborIndex(directions * magnitude, metric="cosine", algorithm="brute")
    reference = kdforge.NeighborIndex(directions, metric="cosine", algorithm="brute")
    sim, idx = index.query(directions[:20] * magnitude, k=4)
    ref_sim, ref_idx = reference.query(directions[:20], k=4)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sim, ref_sim, atol=1e-12)


# ---------------------------------------------------------------------- clear errors
def test_huge_bounds_and_eps_are_no_bound_not_an_overflow():
    tree = make_tree()
    queries = np.random.default_rng(8).random((20, 3))
    exact = tree.query(queries, k=3)
    for bound in (1e154, 1e300, np.finfo(np.float64).max):
        np.testing.assert_array_equal(tree.query(queries, k=3, distance_upper_bound=bound)[1],
                                      exact[1])
    for p in (2, 3, np.inf):
        dist, idx = tree.query(queries, k=3, eps=1e155, p=p)  # any points: but real ones
        assert (idx >= 0).all() and np.isfinite(dist).all()
    counts = tree.query_radius(queries, 1e200, p=3, count_only=True)
    assert (counts == tree.n_points).all()


def test_float32_range_errors_name_the_problem():
    tree = kdforge.KDTree(np.random.default_rng(9).random((100, 2)).astype(np.float32))
    with pytest.raises(ValueError, match="beyond the float32 range"):
        tree.query([[1e39, 0.0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        tree.query([[np.inf, 0.0]])


def test_huge_integer_arguments_are_clear_errors_or_clamped():
    data = np.random.default_rng(10).random((300, 2))
    with pytest.raises(ValueError, match="leaf_size must be <="):
        kdforge.KDTree(data, leaf_size=2**63)
    tree = kdforge.KDTree(data)
    exact = tree.query(data[:5], k=3)
    np.testing.assert_array_equal(tree.query(data[:5], k=3, max_leaves=2**70)[1], exact[1])


def test_load_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(TreeFileError, match="not a regular file"):
        kdforge.load(fifo)  # would block forever if opened
    with pytest.raises(TreeFileError, match="not a regular file"):
        kdforge.load(tmp_path)


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real.kdt"
    link = tmp_path / "link.kdt"
    make_tree(seed=1).save(target)
    link.symlink_to(target)
    tree = make_tree(seed=2)
    tree.save(link)
    assert link.is_symlink()
    np.testing.assert_array_equal(kdforge.load(target).data, tree.data)


# ---------------------------------------------------------------------- result memory
def test_max_results_stops_a_radius_query_that_would_be_too_large():
    tree = make_tree(n=20_000)
    queries = np.random.default_rng(11).random((20_000, 3))
    answer = tree.query_radius_csr(queries, 0.1)
    total = int(answer.indptr[-1])
    for workers in (1, 2):
        same = tree.query_radius_csr(queries, 0.1, max_results=total, workers=workers)
        np.testing.assert_array_equal(same.indices, answer.indices)
        with pytest.raises(kdforge.ResultSizeError, match="max_results=1000") as error:
            tree.query_radius(queries, 0.1, max_results=1000, workers=workers)
        assert error.value.found > 1000 and error.value.found < total  # stopped early
    counts = tree.query_radius(queries, 0.1, count_only=True, max_results=0)
    assert counts.sum() == total
    with pytest.raises(ValueError, match="max_results"):
        tree.query_radius(queries, 0.1, max_results=-1)


def test_radius_chunks_give_the_whole_answer_in_blocks():
    tree = make_tree(n=5000)
    queries = np.random.default_rng(12).random((1234, 3))
    whole = tree.query_radius_csr(queries, 0.08, return_distance=True, sort_results=True)
    starts, indices, distances, counts = [], [], [], []
    for start, block in tree.query_radius_chunks(queries, 0.08, queries_per_chunk=100,
                                                 return_distance=True, sort_results=True):
        starts.append(start)
        indices.append(block.indices)
        distances.append(block.distances)
        counts.append(block.counts)
    assert starts == list(range(0, 1234, 100))
    np.testing.assert_array_equal(np.concatenate(indices), whole.indices)
    np.testing.assert_array_equal(np.concatenate(distances), whole.distances)
    np.testing.assert_array_equal(np.concatenate(counts), whole.counts)
