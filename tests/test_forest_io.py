"""KDForest files and pickles: identical answers after a round trip, clear errors otherwise."""

import json
import os
import pickle
import struct
import zlib

import numpy as np
import pytest

import kdforge
from kdforge._forestfile import FOREST_MAGIC
from kdforge._treefile import PREAMBLE, TreeFileError
from kdforge.forest import load_forest

CONFIGS = [
    dict(),  # random rotations
    dict(rotation="pca"),
    dict(rotation=None, metric="manhattan"),
    dict(rotation=None, metric="minkowski", p=np.inf),
    dict(metric="cosine"),
]


def make_points(dtype=np.float32, n=900, d=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def answers(forest, queries):
    return forest.query(queries, k=6, max_leaves=12)


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def forest32():
    return kdforge.KDForest(make_points(), n_trees=3, leaf_size=16, random_state=1)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c) or "random")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mmap", [True, False])
def test_file_round_trip_identical_answers(tmp_path, config, dtype, mmap):
    points = make_points(dtype)
    forest = kdforge.KDForest(points, n_trees=3, leaf_size=16, random_state=2, **config)
    path = tmp_path / "forest.kdf"
    forest.save(path)
    loaded = load_forest(path, mmap=mmap)
    assert repr(loaded) == repr(forest)
    assert loaded.n_leaves == forest.n_leaves and loaded.nbytes == forest.nbytes
    assert_same(answers(loaded, points[:40]), answers(forest, points[:40]))
    # the exact budget stays exact
    full = forest.n_trees * forest.n_leaves
    assert_same(loaded.query(points[:5], k=3, max_leaves=full), forest.query(points[:5], k=3, max_leaves=full))


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(forest32, protocol):
    copy = pickle.loads(pickle.dumps(forest32, protocol=protocol))
    queries = make_points(n=30, seed=5)
    assert_same(answers(copy, queries), answers(forest32, queries))


def test_pickle_out_of_band_buffers_are_copied(forest32):
    buffers = []
    data = pickle.dumps(forest32, protocol=5, buffer_callback=buffers.append)
    copy = pickle.loads(data, buffers=buffers)
    queries = make_points(n=10, seed=6)
    assert_same(answers(copy, queries), answers(forest32, queries))
    assert not copy.points.flags.writeable


def test_loaded_arrays_are_read_only(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    loaded = load_forest(path)
    for arr in loaded._stack:
        if isinstance(arr, np.ndarray):
            assert not arr.flags.writeable


# ---------------------------------------------------------------------- bad files
def read_header(path):
    raw = path.read_bytes()
    _, _, length, _ = PREAMBLE.unpack(raw[:PREAMBLE.size])
    return raw, json.loads(raw[PREAMBLE.size:PREAMBLE.size + length]), length


def rewrite_header(path, raw, header, length):
    """Write a modified header with a valid CRC, the arrays where they were."""
    body = json.dumps(header, separators=(",", ":")).encode()
    first = min(entry["offset"] for entry in header["arrays"].values())
    assert PREAMBLE.size + len(body) <= first
    path.write_bytes(PREAMBLE.pack(FOREST_MAGIC, 1, len(body), zlib.crc32(body)) + body
                     + bytes(first - PREAMBLE.size - len(body)) + raw[first:])


def test_truncated_file(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    raw = path.read_bytes()
    for size in (0, 10, PREAMBLE.size + 5, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:size])
        with pytest.raises(TreeFileError, match="short|truncated|fit"):
            load_forest(path)


def test_not_a_forest_file(forest32, tmp_path):
    path = tmp_path / "tree.kdt"
    kdforge.KDTree(make_points()).save(path)
    with pytest.raises(TreeFileError, match="magic"):
        load_forest(path)


def test_bit_flip_in_an_array_is_caught_by_the_checksum(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    raw, header, length = read_header(path)
    offset = header["arrays"]["points"]["offset"] + 7
    flipped = bytearray(raw)
    flipped[offset] ^= 0x10
    path.write_bytes(bytes(flipped))
    with pytest.raises(TreeFileError, match="checksum mismatch in array 'points'"):
        load_forest(path)


def test_bit_flip_in_the_header(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    flipped = bytearray(path.read_bytes())
    flipped[PREAMBLE.size + 3] ^= 0x01
    path.write_bytes(bytes(flipped))
    with pytest.raises(TreeFileError, match="header checksum"):
        load_forest(path)


def crafted(forest, tmp_path, change):
    """Save, apply ``change(arrays)`` to the raw array bytes, fix the CRCs: a crafted file."""
    path = tmp_path / "crafted.kdf"
    forest.save(path)
    raw, header, length = read_header(path)
    data = bytearray(raw)
    arrays = {}
    for name, entry in header["arrays"].items():
        count = int(np.prod(entry["shape"]))
        arrays[name] = np.frombuffer(data, dtype=entry["dtype"], count=count,
                                     offset=entry["offset"]).reshape(entry["shape"])
    change({name: arr for name, arr in arrays.items()})
    for name, entry in header["arrays"].items():
        entry["crc32"] = zlib.crc32(arrays[name].tobytes())
    rewrite_header(path, bytes(data), header, length)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda a: a["idx_array"].__setitem__(5, 10**6), "outside"),
    (lambda a: a["idx_array"].__setitem__(5, -1), "outside"),
    (lambda a: a["split_dim"].__setitem__(0, 99), "split"),
    (lambda a: a["node_end"].__setitem__(1, 10**6), "range|child"),
    (lambda a: a["node_start"].__setitem__(0, 3), "root"),
])
def test_crafted_structure_is_refused_even_without_content_checks(forest32, tmp_path, change, message):
    def writable(arrays):
        for arr in arrays.values():
            arr.flags.writeable = True  # views of the bytearray
        change(arrays)

    path = crafted(forest32, tmp_path, writable)
    with pytest.raises(TreeFileError, match=message):
        load_forest(path, verify_checksum=False, verify_contents=False)


@pytest.mark.parametrize("change, message", [
    (lambda a: a["idx_array"].__setitem__(slice(0, 2), a["idx_array"][[1, 1]].copy()), "permutation"),
    (lambda a: a["codes"].__setitem__((0, 0, 0), a["codes"][0, 0, 0] + 3), "codes"),
    (lambda a: a["points"].__setitem__((0, 0), np.nan), "non-finite"),
])
def test_crafted_contents_are_refused(forest32, tmp_path, change, message):
    def writable(arrays):
        for arr in arrays.values():
            arr.flags.writeable = True
        change(arrays)

    path = crafted(forest32, tmp_path, writable)
    with pytest.raises(TreeFileError, match=message):
        load_forest(path)


def test_crafted_header_fields(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    raw, header, length = read_header(path)
    for field, value, message in [("n_trees", 0, "n_trees"), ("metric", "nope", "metric"),
                                  ("n_nodes", 4, "nodes"), ("rotation", "spin", "rotation")]:
        bad = json.loads(json.dumps(header))
        bad["fields"][field] = value
        rewrite_header(path, raw, bad, length)
        with pytest.raises(TreeFileError, match=message):
            load_forest(path)
    bad = json.loads(json.dumps(header))
    bad["arrays"]["codes"]["shape"][2] = 1  # code blocks smaller than the leaves
    rewrite_header(path, raw, bad, length)
    with pytest.raises(TreeFileError):
        load_forest(path)


def test_bad_pickled_states(forest32):
    state = forest32.__getstate__()
    blank = kdforge.KDForest.__new__(kdforge.KDForest)
    with pytest.raises(TreeFileError, match="format version"):
        blank.__setstate__({"forest": state["forest"], "arrays": state["arrays"]})
    arrays = dict(state["arrays"], idx_array=state["arrays"]["idx_array"].copy())
    arrays["idx_array"][0] = 10**6
    with pytest.raises(TreeFileError, match="outside"):
        blank.__setstate__(dict(state, arrays=arrays))
    arrays = dict(state["arrays"])
    del arrays["codes"]
    with pytest.raises(TreeFileError, match="codes"):
        blank.__setstate__(dict(state, arrays=arrays))


def test_save_replaces_atomically(forest32, tmp_path):
    path = tmp_path / "f.kdf"
    forest32.save(path)
    mapped = load_forest(path)
    other = kdforge.KDForest(make_points(seed=9), n_trees=2, random_state=3)
    other.save(path)  # over a file still mapped
    queries = make_points(n=8, seed=4)
    assert_same(answers(mapped, queries), answers(forest32, queries))
    assert_same(answers(load_forest(path), queries), answers(other, queries))
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
