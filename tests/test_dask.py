"""kdforge.dask: sharded trees on a two-process LocalCluster against one tree and brute force.

The cluster is started once for the module and stopped at its end. Data sets are small
(thousands of points) and built to tie a lot: integer grids and duplicated points, so that
results depend on the (distance, index) tie-break across shard boundaries.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("distributed")
pytest.importorskip("dask.array")

import dask.array as da  # noqa: E402
import distributed  # noqa: E402

import kdforge  # noqa: E402
import reference  # noqa: E402
from kdforge._kernels.distance import box_min_reduced, metric_code, reduced_distance  # noqa: E402
from kdforge.dask import DistributedKDTree, build_top_tree  # noqa: E402
from kdforge.dask import _shard  # noqa: E402
from kdforge.dask._boxes import box_reduced_distances  # noqa: E402
from kdforge.dask._pairs import candidate_reduced  # noqa: E402
from kdforge.dask._partition import assign_shards  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def grid_points(n, d, seed, levels=6):
    """Integer coordinates in [0, levels): many exact ties and duplicates."""
    return np.random.default_rng(seed).integers(0, levels, size=(n, d)).astype(np.float64)


@pytest.fixture(scope="module")
def grid_tree(client):
    x = grid_points(3000, 3, seed=1)
    tree = DistributedKDTree.from_array(da.from_array(x, chunks=(700, 3)), n_shards=5,
                                        client=client, leaf_size=8)
    yield x, tree
    tree.close()


def brute_graph(x, k, p, include_self):
    """k smallest (reduced distance, index) pairs of every point over the others."""
    red = reference.reduced_distances(x, x, p)
    if not include_self:
        np.fill_diagonal(red, np.inf)
    n = x.shape[0]
    dist = np.full((n, k), np.inf)
    idx = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        order = np.lexsort((np.arange(n), red[i]))
        order = order[np.isfinite(red[i, order])][:k]
        dist[i, :order.size] = reference.to_distance(red[i, order], p)
        idx[i, :order.size] = order
    return dist, idx


# ---------------------------------------------------------------- without a cluster
def test_import_kdforge_does_not_import_dask():
    code = "import sys, kdforge; kdforge.KDTree([[0.0]]); assert 'dask' not in sys.modules, 'dask'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_names_the_extra():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "try:\n    import kdforge.dask\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert 'pip install "kdforge[dask]"' in out.stdout


@pytest.mark.parametrize("n_shards", [1, 2, 7, 16])
def test_skewed_sample_gives_balanced_shards(n_shards):
    rng = np.random.default_rng(3)
    n = 20000
    dense = 0.5 + 1e-4 * rng.random((n * 99 // 100, 3))          # 99% in a tiny cube
    sparse = rng.random((n - dense.shape[0], 3)) * 100.0
    x = np.concatenate([dense, sparse])
    top = build_top_tree(x[rng.choice(n, 4000, replace=False)], n_shards)
    counts = np.bincount(assign_shards(top, x), minlength=n_shards)
    assert counts.sum() == n
    assert counts.max() <= 1.3 * n / n_shards + 50


def test_assignment_follows_the_planes():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, size=(500, 2)).astype(float)
    top = build_top_tree(x, 6)
    shard = assign_shards(top, x)
    for i in range(x.shape[0]):                                      # walk the tree by hand
        node = 0
        while node < top.n_shards - 1:
            go_left = x[i, top.split_dim[node]] <= top.split_value[node]
            node = top.left[node] if go_left else top.right[node]
        assert node - (top.n_shards - 1) == shard[i]


def test_box_distances_match_the_shared_kernel():
    rng = np.random.default_rng(5)
    lower = rng.random((6, 3))
    upper = lower + rng.random((6, 3))
    queries = rng.random((40, 3)) * 3 - 1
    for p in (1, 2, 3, np.inf):
        got = box_reduced_distances(queries, lower, upper, p)
        want = [[box_min_reduced.py_func(lo, hi, q, metric_code(p), p) for lo, hi in zip(lower, upper)]
                for q in queries]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    empty = box_reduced_distances(queries, np.full((1, 3), np.inf), np.full((1, 3), -np.inf), 2)
    assert np.isinf(empty).all()


def test_candidate_reduced_is_the_kernel_value():
    rng = np.random.default_rng(6)
    points = rng.random((50, 4)).astype(np.float32)
    queries = rng.random((7, 4)).astype(np.float32)
    rows = rng.integers(-1, 50, size=(7, 5))
    got = candidate_reduced(points, rows, queries, 2.0)
    for i in range(7):
        for j in range(5):
            want = np.inf if rows[i, j] < 0 else reduced_distance.py_func(
                points, rows[i, j], queries[i], metric_code(2.0), 2.0, np.inf)
            assert got[i, j] == want


# ---------------------------------------------------------------- the worker tasks, composed without Dask
@st.composite
def sharded_cases(draw):
    """Points with ties, duplicates or sorted order, a shard count, k, p, dtype, leaf size."""
    n = draw(st.integers(1, 160))
    d = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["uniform", "grid", "duplicates", "sorted"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "uniform":
        x = rng.random((n, d))
    elif kind == "grid":
        x = rng.integers(0, 3, size=(n, d)).astype(np.float64)
    elif kind == "duplicates":
        base = rng.random((max(1, n // 8), d))
        x = base[rng.integers(0, base.shape[0], size=n)]
    else:
        x = np.sort(rng.random((n, d)), axis=0)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    queries = np.concatenate([x[: n // 2], rng.integers(-1, 4, size=(5, d)) * 0.5]).astype(dtype)
    return (x.astype(dtype), queries, draw(st.integers(1, 6)), draw(st.integers(1, 10)),
            draw(st.sampled_from([1.0, 2.0, np.inf])), draw(st.integers(1, 8)))


def local_shards(x, n_shards, leaf_size, folder, chunk_rows=37):
    """The build's tasks run in process: split chunks, build, save and load every shard."""
    top = build_top_tree(x, n_shards)
    pieces = [_shard.split_chunk(x[a:a + chunk_rows], a, top) for a in range(0, x.shape[0], chunk_rows)]
    infos = [_shard.build_shard(os.path.join(folder, f"s{s}"), leaf_size, "max_spread", x.shape[1],
                                x.dtype.str, *[piece[s] for piece in pieces]) for s in range(n_shards)]
    shards = [_shard.load_shard(i.tree_path, i.index_path) for i in infos]
    return shards, np.stack([i.lower for i in infos]), np.stack([i.upper for i in infos])


def ask(shards, plan, k, p):
    return [_shard.shard_knn(shards[s], _shard.select(plan, s), k, p)
            for s in range(len(shards)) if plan.groups[s].shape[0]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sharded_cases())
def test_sharded_tasks_equal_one_tree(case):
    x, queries, n_shards, k, p, leaf_size = case
    with tempfile.TemporaryDirectory() as folder:
        shards, lower, upper = local_shards(x, n_shards, leaf_size, folder)
        plan = _shard.route_nearest(queries, x.shape[1], x.dtype.str, lower, upper, p)
        first = ask(shards, plan, k, p)
        second = ask(shards, _shard.plan_second(plan, lower, upper, p, *first), k, p)
        dist, idx = _shard.merge_knn(queries.shape[0], k, x.dtype.str, *first, *second)
        want_dist, want_idx = kdforge.KDTree(x, leaf_size=leaf_size).query(queries, k=k, p=p)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(dist, want_dist)
        np.testing.assert_array_equal(idx, reference.knn(x, queries, k, p=p)[1])

        for r in (0.0, 0.5, np.inf):
            plan = _shard.route_radius(queries, r, x.shape[1], x.dtype.str,
                                       lower, upper, p)
            parts = [_shard.shard_radius(shards[s], _shard.select(plan, s), p)
                     for s in range(n_shards) if plan.groups[s].shape[0]]
            indptr, ind, dist_r = _shard.merge_radius(queries.shape[0], x.dtype.str, True, *parts)
            want = kdforge.KDTree(x).query_radius_csr(queries, r, p=p, return_distance=True,
                                                      sort_results=True)
            np.testing.assert_array_equal(indptr, want.indptr)
            np.testing.assert_array_equal(ind, want.indices)
            np.testing.assert_array_equal(dist_r, want.distances)

        own = [s for s in range(n_shards) if shards[s].tree is not None]
        rows = []
        for s in own:
            first_self, plan_self = _shard.plan_self(shards[s], s, k + 1, p, lower, upper)
            merged = _shard.merge_knn(shards[s].index.shape[0], k + 1, x.dtype.str, first_self,
                                      *ask(shards, plan_self, k + 1, p))
            rows.append(_shard.drop_self(merged, first_self, k, False))
        got = _shard.assemble_rows(0, x.shape[0], k, x.dtype.str,
                                   *[_shard.slice_rows(r, 0, x.shape[0]) for r in rows])
        np.testing.assert_array_equal(got[1], brute_graph(x, k, p, False)[1])


# ---------------------------------------------------------------- kNN
@pytest.mark.parametrize("p", [1, 2, np.inf])
def test_knn_equals_one_tree_with_ties(grid_tree, p):
    x, tree = grid_tree
    queries = np.concatenate([x[:200], grid_points(200, 3, seed=2) + 0.5])
    dist, idx = tree.query(queries, k=9, p=p)
    want_dist, want_idx = kdforge.KDTree(x).query(queries, k=9, p=p)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)
    ref_dist, ref_idx = reference.knn(x, queries, 9, p=p)
    np.testing.assert_array_equal(idx, ref_idx)
    assert 0 < tree.last_stats.fraction_visited < 1


def test_dask_in_dask_out_and_broadcast_agree(grid_tree):
    x, tree = grid_tree
    queries = da.from_array(grid_points(500, 3, seed=7) * 1.1 - 0.3, chunks=(120, 3))
    dist, idx = tree.query(queries, k=4)
    assert isinstance(idx, da.Array) and idx.shape == (500, 4)
    routed = tree.last_stats
    bdist, bidx = tree.query(queries, k=4, routing="broadcast")
    broadcast = tree.last_stats
    np.testing.assert_array_equal(idx.compute(), bidx.compute())
    np.testing.assert_array_equal(dist.compute(), bdist.compute())
    np.testing.assert_array_equal(idx.compute(), kdforge.KDTree(x).query(queries.compute(), k=4)[1])
    assert broadcast.fraction_visited == 1.0
    assert routed.shard_visits < broadcast.shard_visits
    assert routed.bytes_moved < broadcast.bytes_moved


def test_k_larger_than_n_pads(client):
    x = grid_points(12, 2, seed=8)
    with DistributedKDTree.from_array(x, n_shards=3, client=client, chunk_rows=5) as tree:
        dist, idx = tree.query(x[:4], k=15)
    want_dist, want_idx = kdforge.KDTree(x).query(x[:4], k=15)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)
    assert (idx[:, 12:] == -1).all() and np.isinf(dist[:, 12:]).all()


def test_float32_and_duplicates_everywhere(client):
    rng = np.random.default_rng(9)
    base = rng.random((40, 2)).astype(np.float32)
    x = base[rng.integers(0, 40, size=2000)]                      # each point ~50 times
    with DistributedKDTree.from_array(x, n_shards=4, client=client, chunk_rows=300) as tree:
        assert tree.dtype == np.float32 and tree.shard_sizes.sum() == 2000
        queries = np.concatenate([base, rng.random((50, 2)).astype(np.float32)])
        dist, idx = tree.query(queries, k=60)
    want_dist, want_idx = kdforge.KDTree(x).query(queries, k=60)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dist, want_dist)


def test_skewed_data_spreads_over_shards(client):
    rng = np.random.default_rng(10)
    n = 8000
    x = np.concatenate([0.3 + 1e-3 * rng.random((n * 99 // 100, 3)), rng.random((n // 100, 3))])
    with DistributedKDTree.from_array(x, n_shards=4, client=client, chunk_rows=2000) as tree:
        sizes = tree.shard_sizes
        queries = rng.random((100, 3)) * 1e-3 + 0.3
        idx = tree.query(queries, k=5)[1]
    assert sizes.max() <= 0.3 * n
    np.testing.assert_array_equal(idx, kdforge.KDTree(x).query(queries, k=5)[1])


# ---------------------------------------------------------------- radius
def test_radius_equals_one_tree(grid_tree):
    x, tree = grid_tree
    queries = np.concatenate([x[:100], grid_points(100, 3, seed=11) + 0.5])
    one = kdforge.KDTree(x)
    for r in (0.0, 1.0, 1.5):
        got = tree.query_radius(queries, r)
        want = one.query_radius_csr(queries, r, return_distance=True, sort_results=True)
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.distances, want.distances)
    radii = np.random.default_rng(12).random(200) * 2
    got = tree.query_radius(da.from_array(queries, chunks=(64, 3)), radii, p=1, sort_results=False)
    want = reference.radius(x, queries, radii, p=1)
    assert [list(row) for row in got.to_lists()[0]] == [list(row) for row in want]


# ---------------------------------------------------------------- kNN graph
@pytest.mark.parametrize("include_self", [False, True])
def test_kneighbors_graph_is_exact(grid_tree, include_self):
    x, tree = grid_tree
    dist, idx = tree.kneighbors(6, include_self=include_self)
    assert isinstance(idx, da.Array) and idx.chunks[0] == (700, 700, 700, 700, 200)
    want_dist, want_idx = brute_graph(x, 6, 2, include_self)
    np.testing.assert_array_equal(idx.compute(), want_idx)
    np.testing.assert_allclose(dist.compute(), want_dist, rtol=0, atol=0)
    assert tree.last_stats.shard_visits < x.shape[0] * tree.n_shards
    graph = tree.kneighbors_graph(6, mode="distance", include_self=include_self)
    assert graph.shape == (3000, 3000) and graph.nnz == 3000 * 6
    np.testing.assert_array_equal(graph.indices.reshape(3000, 6), want_idx)


def test_kneighbors_with_more_duplicates_than_k(client):
    rng = np.random.default_rng(13)
    x = rng.integers(0, 3, size=(600, 2)).astype(np.float64)      # ~67 copies of each point
    with DistributedKDTree.from_array(x, n_shards=3, client=client, chunk_rows=150) as tree:
        idx = tree.kneighbors(5)[1].compute()
    np.testing.assert_array_equal(idx, brute_graph(x, 5, 2, False)[1])


# ---------------------------------------------------------------- files
def test_files_npy_zarr_parquet(client, tmp_path):
    pytest.importorskip("zarr")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    x = grid_points(900, 3, seed=14)
    queries = grid_points(50, 3, seed=15) + 0.25
    want = kdforge.KDTree(x).query(queries, k=5)[1]
    np.save(tmp_path / "points.npy", x)
    da.from_array(x, chunks=(300, 3)).to_zarr(str(tmp_path / "points.zarr"))
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "name": [str(i) for i in range(900)]})
    pq.write_table(table, tmp_path / "points.parquet", row_group_size=250)
    builds = [lambda: DistributedKDTree.from_npy(tmp_path / "points.npy", 3, chunk_rows=200, client=client),
              lambda: DistributedKDTree.from_zarr(tmp_path / "points.zarr", 3, client=client),
              lambda: DistributedKDTree.from_parquet(tmp_path / "points.parquet", ["a", "b", "c"], 3,
                                                     client=client)]
    for build in builds:
        with build() as tree:
            np.testing.assert_array_equal(tree.query(queries, k=5)[1], want)
    with pytest.raises(ValueError, match="no column"):
        DistributedKDTree.from_parquet(tmp_path / "points.parquet", ["a", "zz"], client=client)


def test_storage_files_and_close(client, tmp_path):
    x = grid_points(300, 2, seed=19)
    tree = DistributedKDTree.from_array(x, 3, client=client, storage=tmp_path / "shards")
    files = [f for pair in tree.shard_files for f in pair if f is not None]
    assert files and all(os.path.exists(f) for f in files)
    reloaded = [kdforge.load(tree_file) for tree_file, _ in tree.shard_files if tree_file]
    assert sum(t.n_points for t in reloaded) == 300
    tree.close()
    assert all(os.path.exists(f) for f in files)                 # the caller's folder is kept
    temporary = DistributedKDTree.from_array(x, 3, client=client)
    folder = os.path.dirname(temporary.shard_files[0][1])
    assert os.path.isdir(folder)
    temporary.close()
    assert not os.path.exists(folder)                            # a temporary one is removed


# ---------------------------------------------------------------- errors and progress
def test_bad_input(client, grid_tree):
    _, tree = grid_tree
    bad = grid_points(50, 3, seed=16)
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DistributedKDTree.from_array(da.from_array(bad, chunks=(20, 3)), 2, client=client)
    with pytest.raises(ValueError, match="2-D"):
        DistributedKDTree.from_array(np.zeros(5), client=client)
    with pytest.raises(TypeError, match="client"):
        DistributedKDTree.from_array(bad[:5], client=42)
    with pytest.raises(ValueError, match="dimension"):
        tree.query(np.zeros((3, 2)), k=1)
    with pytest.raises(ValueError, match="k"):
        tree.query(np.zeros((3, 3)), k=0)
    with pytest.raises(ValueError, match="routing"):
        tree.query(np.zeros((3, 3)), routing="everywhere")
    with pytest.raises(ValueError, match="NaN"):
        tree.query(da.from_array(np.full((4, 3), np.nan), chunks=2), k=1)


def test_progress_bar(grid_tree, capsys):
    x, tree = grid_tree
    idx = tree.query(x[:50], k=2, progress=True)[1]
    np.testing.assert_array_equal(idx, kdforge.KDTree(x).query(x[:50], k=2)[1])
    assert "100%" in capsys.readouterr().out


def test_unreachable_scheduler_fails_fast():
    with socket.socket() as s:                                     # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        DistributedKDTree.from_array(np.zeros((4, 2)), client=f"tcp://127.0.0.1:{port}",
                                     connect_timeout=2)
    assert time.monotonic() - start < 10


# ---------------------------------------------------------------- faults (last: kills a worker)
def test_worker_killed_mid_query(client):
    x = grid_points(4000, 3, seed=17)
    queries = grid_points(6000, 3, seed=18) + 0.5
    want_dist, want_idx = kdforge.KDTree(x).query(queries, k=8)
    with DistributedKDTree.from_array(x, n_shards=4, client=client, chunk_rows=1000) as tree:
        victim = next(iter(client.who_has(tree._shards[0]).values()))[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        result = {}
        runner = threading.Thread(target=lambda: result.update(
            zip(("dist", "idx"), tree.query(queries, k=8, chunk_rows=150))))
        runner.start()
        deadline = time.monotonic() + 60
        while not any("shard_knn" in str(key) for keys in client.processing().values() for key in keys):
            assert time.monotonic() < deadline and runner.is_alive()
            time.sleep(0.01)
        assert runner.is_alive()
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=120)
        assert not runner.is_alive()
        np.testing.assert_array_equal(result["idx"], want_idx)
        np.testing.assert_array_equal(result["dist"], want_dist)
        client.wait_for_workers(2, timeout=60)
        # the lost shards came back from their files: later queries still exact
        np.testing.assert_array_equal(tree.query(queries[:300], k=8)[1], want_idx[:300])
