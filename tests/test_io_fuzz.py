"""Randomly corrupted tree files: a load either raises TreeFileError or gives a tree that
answers exactly like brute force over its points, and never crashes the process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kdforge
import reference
from kdforge import _treefile as treefile
from kdforge import io
from kdforge.io import TreeFileError

SEED = 6
MUTATIONS_PER_FILE = 120

BASE_TREES = [  # (n, d, dtype, options, include_data)
    (150, 3, np.float64, {"leaf_size": 4}, True),
    (120, 2, np.float32, {"leaf_size": 3, "split": "round_robin"}, False),
    (60, 5, np.float64, {"leaf_size": 1}, False),
    (90, 3, np.float64, {"leaf_size": 5, "division": "root"}, True),
]


def base_files(directory):
    """Save every base tree; return their bytes."""
    files = []
    for i, (n, d, dtype, options, include_data) in enumerate(BASE_TREES):
        rng = np.random.default_rng(i)
        data = rng.integers(0, 20, size=(n, d)).astype(dtype) / 4  # exact ties too
        path = directory / f"base{i}.kdt"
        kdforge.KDTree(data, **options).save(path, include_data=include_data)
        files.append(path.read_bytes())
    return files


def mutate(raw: bytes, rng) -> bytes:
    """Flip bits, truncate, or overwrite bytes, at random."""
    data = bytearray(raw)
    kind = rng.integers(4)
    if kind == 0:  # a few bit flips anywhere
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(len(data))] ^= 1 << rng.integers(8)
    elif kind == 1:  # truncation
        del data[rng.integers(len(data)):]
    elif kind == 2:  # a run of random bytes
        start = rng.integers(len(data))
        run = rng.integers(1, 17, dtype=np.uint8).item()
        data[start:start + run] = rng.integers(0, 256, size=run, dtype=np.uint8).tobytes()
    else:  # one bit flip in the preamble or the header
        _, _, header_length, _ = treefile.PREAMBLE.unpack_from(raw)
        data[rng.integers(treefile.PREAMBLE.size + header_length)] ^= 1 << rng.integers(8)
    return bytes(data)


def assert_exact(tree, rng):
    """The tree answers kNN and radius queries exactly like brute force over tree.data."""
    data = tree.data
    queries = data[rng.integers(0, tree.n_points, size=12)] + rng.normal(0, 0.5, size=(12, tree.n_dims))
    queries = queries.astype(tree.dtype)
    for p in (1, 2, np.inf):
        dist, idx = tree.query(queries, k=5, p=p)
        ref_dist, ref_idx = reference.knn(data, queries, 5, p)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)
        found = tree.query_radius(queries, 1.0, p=p)
        for got, expected in zip(found, reference.radius(data, queries, 1.0, p)):
            np.testing.assert_array_equal(np.sort(got), expected)


@pytest.mark.parametrize("verify_checksum", [True, False])
def test_corrupt_files_are_refused_or_exact(tmp_path, verify_checksum):
    rng = np.random.default_rng(SEED)
    outcomes = {"refused": 0, "loaded": 0}
    path = tmp_path / "mutated.kdt"
    for raw in base_files(tmp_path):
        for case in range(MUTATIONS_PER_FILE):
            mutated = mutate(raw, rng)
            path.write_bytes(mutated)
            try:
                tree = io.load(path, mmap=bool(case % 2), verify_checksum=verify_checksum)
            except TreeFileError:
                outcomes["refused"] += 1
                continue
            outcomes["loaded"] += 1
            if verify_checksum:  # only padding bytes can change without failing a checksum
                changed = np.flatnonzero(np.frombuffer(mutated, np.uint8) != np.frombuffer(raw, np.uint8))
                assert len(mutated) == len(raw) and _all_padding(raw, changed)
            assert_exact(tree, rng)
    assert outcomes["refused"] > MUTATIONS_PER_FILE and outcomes["loaded"] > 0, outcomes


def _all_padding(raw: bytes, positions) -> bool:
    _, _, header_length, _ = treefile.PREAMBLE.unpack_from(raw)
    header = json.loads(raw[treefile.PREAMBLE.size:treefile.PREAMBLE.size + header_length])
    covered = np.zeros(len(raw), dtype=bool)
    covered[:treefile.PREAMBLE.size + header_length] = True
    for entry in header["arrays"].values():
        nbytes = int(np.prod(entry["shape"])) * np.dtype(entry["dtype"]).itemsize
        covered[entry["offset"]:entry["offset"] + nbytes] = True
    return not covered[positions].any()


CHILD = r"""
import sys, json, numpy as np
from kdforge import io
counts = {"refused": 0, "queried": 0}
for path in sys.argv[1:]:
    try:
        tree = io.load(path, mmap=len(path) % 2 == 0, verify_checksum=False, verify_contents=False)
    except io.TreeFileError:
        counts["refused"] += 1
        continue
    X = np.random.default_rng(0).normal(0, 3, size=(20, tree.n_dims))
    tree.query(X, k=4)
    tree.query(X, k=2, p=1, eps=0.5)
    tree.query_radius_csr(X, 2.0, return_distance=True, sort_results=True)
    tree.query_radius(X, 1.0, p=np.inf, count_only=True)
    tree.find_leaf(X)
    tree.find_point(X)
    tree.query_box_csr(X - 1, X + 1)
    counts["queried"] += 1
print(json.dumps(counts))
"""


def test_unchecked_corrupt_files_never_crash(tmp_path):
    """With checksum and content checks off, corrupt trees may answer wrongly but must not
    crash: the structural checks keep every kernel inside its arrays. Run in a child
    process so that a crash fails this test instead of killing the test run."""
    rng = np.random.default_rng(SEED + 1)
    paths = []
    for i, raw in enumerate(base_files(tmp_path)):
        for case in range(MUTATIONS_PER_FILE):
            path = tmp_path / f"m{i}_{case}{'x' * (case % 2)}.kdt"
            path.write_bytes(mutate(raw, rng))
            paths.append(str(path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", CHILD, *paths], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = json.loads(result.stdout)
    assert counts["refused"] + counts["queried"] == len(paths)
    assert counts["queried"] > len(paths) // 5, counts
