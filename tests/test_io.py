"""Saving, loading and pickling trees (kdforge.io), and refusing broken or hostile files."""

import copy
import json
import mmap
import multiprocessing
import pickle
import struct
import zlib

import numpy as np
import pytest

import kdforge
import kdforge._build
from kdforge import _treefile as treefile
import kdforge.tree
from kdforge import io
from kdforge.io import TreeFileError

P_VALUES = [1, 2, 3, np.inf]


def make_tree(n=300, d=3, dtype=np.float64, seed=0, **options):
    data = np.random.default_rng(seed).random((n, d)).astype(dtype)
    return kdforge.KDTree(data, **options)


def queries_for(tree, m=40, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((m, tree.n_dims)) * 1.2 - 0.1).astype(tree.dtype)


def assert_same_arrays(a, b):
    for x, y in zip(a.get_arrays(), b.get_arrays()):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.tree_data, b.tree_data)
    assert (a.leaf_size, a.split, a.division, a.n_levels, a.n_nodes, a.n_internal) == \
        (b.leaf_size, b.split, b.division, b.n_levels, b.n_nodes, b.n_internal)
    assert repr(a) == repr(b)


def assert_same_answers(a, b):
    """Every public query method gives bitwise identical results on both trees."""
    X = queries_for(a)
    for p in P_VALUES:
        for k in (1, 7):
            for eps in (0, 0.5):
                for x, y in zip(a.query(X, k=k, p=p, eps=eps), b.query(X, k=k, p=p, eps=eps)):
                    np.testing.assert_array_equal(x, y)
        r = 0.15 if p != 1 else 0.25
        for sort in (False, True):
            ra = a.query_radius_csr(X, r, p=p, return_distance=True, sort_results=sort)
            rb = b.query_radius_csr(X, r, p=p, return_distance=True, sort_results=sort)
            for x, y in zip(ra, rb):
                np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.query_radius(X, r, p=p, count_only=True),
                                      b.query_radius(X, r, p=p, count_only=True))
        for x, y in zip(a.query_radius(X, r, p=p, return_distance=True, sort_results=True),
                        b.query_radius(X, r, p=p, return_distance=True, sort_results=True)):
            for u, v in zip(x, y):
                np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(a.distance_to_node(X, 1 if a.n_nodes > 1 else 0, p=p),
                                      b.distance_to_node(X, 1 if b.n_nodes > 1 else 0, p=p))
    np.testing.assert_array_equal(a.find_leaf(X), b.find_leaf(X))
    np.testing.assert_array_equal(a.find_point(a.data[:10]), b.find_point(b.data[:10]))
    lo, hi = X[:5] - 0.2, X[:5] + 0.2
    for x, y in zip(a.query_box_csr(lo, hi, sort_results=True), b.query_box_csr(lo, hi, sort_results=True)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.boxes(), b.boxes())


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("split", ["max_spread", "round_robin", "sliding_midpoint"])
@pytest.mark.parametrize("mmap_arrays", [True, False])
@pytest.mark.parametrize("include_data", [True, False])
def test_round_trip_answers_like_the_original(tmp_path, dtype, split, mmap_arrays, include_data):
    tree = make_tree(dtype=dtype, split=split, leaf_size=5)
    path = tmp_path / "tree.kdt"
    tree.save(path, include_data=include_data)
    loaded = io.load(path, mmap=mmap_arrays)
    assert type(loaded) is kdforge.KDTree
    assert_same_arrays(tree, loaded)
    assert_same_answers(tree, loaded)


@pytest.mark.parametrize("division", ["median", "root"])
@pytest.mark.parametrize("n, leaf_size", [(1, 16), (2, 1), (7, 100), (33, 1), (1000, 16), (1000, 7)])
def test_round_trip_sizes_and_divisions(tmp_path, n, leaf_size, division):
    tree = make_tree(n=n, d=2, leaf_size=leaf_size, division=division)
    tree.save(tmp_path / "t.kdt")
    loaded = io.load(tmp_path / "t.kdt")
    assert_same_arrays(tree, loaded)
    assert loaded.division == division
    assert_same_answers(tree, loaded)


def test_mmap_arrays_are_aligned_read_only_views_of_the_file(tmp_path):
    tree = make_tree()
    path = tmp_path / "t.kdt"
    tree.save(path)
    before = path.read_bytes()
    loaded = io.load(path)
    copied = treefile.STRUCTURE_ARRAYS  # checked copies, not views
    arrays = {name: getattr(loaded.record, name) for name in kdforge.record.ARRAY_FIELDS}
    arrays["data"] = loaded.data
    for name, value in arrays.items():
        assert value.flags.c_contiguous and value.flags.aligned and not value.flags.writeable
        with pytest.raises(ValueError):
            value.flags.writeable = True  # views of read-only arrays stay read-only
        if name not in copied:
            assert value.ctypes.data % treefile.ALIGNMENT == 0
            base = value
            while not isinstance(base, mmap.mmap):
                base = base.obj if isinstance(base, memoryview) else base.base
    with pytest.raises(ValueError):
        loaded.record.tree_data[0, 0] = 123.0
    assert path.read_bytes() == before


def test_mmap_load_touches_no_copy_of_the_points(tmp_path):
    tree = make_tree(n=5000)
    path = tmp_path / "t.kdt"
    tree.save(path)
    loaded = io.load(path, verify_checksum=False, verify_contents=False)
    record = loaded.record
    for arr in (loaded._data, record.tree_data, record.idx_array, record.node_bounds,
                record.split_value):
        assert not arr.flags.owndata


def test_saving_over_a_mapped_file_is_safe(tmp_path):
    path = tmp_path / "t.kdt"
    first = make_tree(seed=1)
    first.save(path)
    loaded = io.load(path)
    make_tree(seed=2, n=50).save(path)  # replaces the file by rename, not in place
    assert_same_answers(first, loaded)
    assert io.load(path).n_points == 50
    assert [p.name for p in tmp_path.iterdir()] == ["t.kdt"]  # no temporary file left


def test_file_never_contains_a_pickle(tmp_path):
    tree = make_tree()
    tree.save(tmp_path / "t.kdt")
    raw = (tmp_path / "t.kdt").read_bytes()
    magic, version, header_length, _ = treefile.PREAMBLE.unpack_from(raw)
    assert magic == treefile.MAGIC and version == io.FORMAT_VERSION
    header = json.loads(raw[treefile.PREAMBLE.size:treefile.PREAMBLE.size + header_length])
    assert header["n_points"] == 300 and header["tree"]["leaf_size"] == tree.leaf_size
    assert header["library_version"] == kdforge.__version__
    assert all(entry["offset"] % 64 == 0 for entry in header["arrays"].values())


def test_without_data_the_file_is_smaller(tmp_path):
    tree = make_tree(n=2000)
    tree.save(tmp_path / "a.kdt")
    tree.save(tmp_path / "b.kdt", include_data=False)
    saved = (tmp_path / "a.kdt").stat().st_size - (tmp_path / "b.kdt").stat().st_size
    assert saved >= tree.data.nbytes
    np.testing.assert_array_equal(io.load(tmp_path / "b.kdt").data, tree.data)


# ---------------------------------------------------------------------- pickle
@pytest.fixture
def forbid_build(monkeypatch):
    """Call it to make any tree construction or build fail from then on."""
    def refuse(*args, **kwargs):
        raise AssertionError("the tree was rebuilt")

    def forbid():
        monkeypatch.setattr(kdforge.KDTree, "__init__", refuse)
        monkeypatch.setattr(kdforge._build, "build_record", refuse)
        monkeypatch.setattr(kdforge.tree, "build_record", refuse)

    return forbid


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_does_not_rebuild(protocol, forbid_build):
    tree = make_tree(n=400, leaf_size=4)
    forbid_build()
    restored = pickle.loads(pickle.dumps(tree, protocol=protocol))
    assert_same_arrays(tree, restored)
    assert_same_answers(tree, restored)


def test_pickle_protocol_5_passes_arrays_out_of_band(forbid_build):
    tree = make_tree(n=5000)
    forbid_build()
    buffers = []
    payload = pickle.dumps(tree, protocol=5, buffer_callback=buffers.append)
    assert len(payload) < 2000 and sum(memoryview(b).nbytes for b in buffers) >= 2 * tree.data.nbytes
    restored = pickle.loads(payload, buffers=buffers)
    assert_same_arrays(tree, restored)


def test_pickle_of_a_loaded_tree_and_copies(tmp_path, forbid_build):
    tree = make_tree()
    path = tmp_path / "t.kdt"
    tree.save(path, include_data=False)
    forbid_build()
    loaded = io.load(path)
    for other in (pickle.loads(pickle.dumps(loaded)), copy.copy(loaded), copy.deepcopy(loaded)):
        assert_same_arrays(tree, other)


def test_unpickling_checks_the_structure():
    state = make_tree().__getstate__()
    state["arrays"]["node_end"] = state["arrays"]["node_end"].copy()
    state["arrays"]["node_end"][-1] += 1000
    with pytest.raises(TreeFileError, match="children of internal node"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)
    state = make_tree().__getstate__()
    state["arrays"]["split_dim"] = state["arrays"]["split_dim"].astype(np.int64)
    with pytest.raises(TreeFileError, match="split_dim"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)


def test_unpickling_a_newer_state_is_refused():
    state = make_tree().__getstate__()
    state["format_version"] = io.FORMAT_VERSION + 1
    with pytest.raises(TreeFileError, match="newer than this kdforge"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)
    state["format_version"] = 0
    with pytest.raises(TreeFileError, match="unknown tree file format version 0"):
        kdforge.KDTree.__new__(kdforge.KDTree).__setstate__(state)


def _query_in_worker(tree, X):
    return tree.query(X, k=4)


def test_multiprocessing_spawn_round_trip():
    tree = make_tree(n=2000)
    X = queries_for(tree)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        dist, idx = pool.apply(_query_in_worker, (tree, X))
    expected = tree.query(X, k=4)
    np.testing.assert_array_equal(dist, expected[0])
    np.testing.assert_array_equal(idx, expected[1])


# ---------------------------------------------------------------------- versions
def set_version(path, version):
    raw = bytearray(path.read_bytes())
    struct.pack_into("<I", raw, 8, version)
    path.write_bytes(bytes(raw))


def test_newer_version_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "t.kdt"
    make_tree().save(path)
    set_version(path, io.FORMAT_VERSION + 1)
    with pytest.raises(TreeFileError, match=rf"version {io.FORMAT_VERSION + 1} is newer .* upgrade kdforge"):
        io.load(path)


def test_version_1_files_without_node_min_index_still_load(tmp_path):
    """Version 1 had no node_min_index: it is computed on loading, equal to a build's."""
    tree = make_tree()
    path = tmp_path / "v1.kdt"
    treefile.write_tree(tree.record._replace(node_min_index=None), tree.data, path)
    raw, header, _ = read_header(path)

    def as_version_1(header):  # version 1 kept a CRC-32 per array
        for entry in header["arrays"].values():
            start = entry["offset"] - SHIFT
            nbytes = int(np.prod(entry["shape"])) * np.dtype(entry["dtype"]).itemsize
            entry["crc32"] = zlib.crc32(raw[start:start + nbytes])
            del entry["checksum64"]

    rewrite_header(path, as_version_1)
    set_version(path, 1)
    for contents in (True, False):
        loaded = io.load(path, verify_contents=contents)
        np.testing.assert_array_equal(loaded.record.node_min_index, tree.record.node_min_index)
        assert_same_answers(tree, loaded)


def test_a_wrong_node_min_index_is_refused(tmp_path):
    tree = make_tree()
    wrong = tree.record.node_min_index.copy()
    wrong[0] += 1
    path = tmp_path / "t.kdt"
    treefile.write_tree(tree.record._replace(node_min_index=wrong), tree.data, path)
    with pytest.raises(TreeFileError, match="node_min_index"):
        io.load(path)


def test_unknown_older_version_is_refused(tmp_path):
    path = tmp_path / "t.kdt"
    make_tree().save(path)
    set_version(path, 0)
    with pytest.raises(TreeFileError, match="unknown tree file format version 0"):
        io.load(path)


def test_a_file_without_division_reads_as_median(tmp_path):
    path = tmp_path / "t.kdt"
    tree = make_tree()
    tree.save(path)
    rewrite_header(path, lambda h: h["tree"].pop("division"))
    assert_same_arrays(tree, io.load(path))


# ---------------------------------------------------------------------- broken and hostile files
def read_header(path):
    raw = path.read_bytes()
    _, _, header_length, _ = treefile.PREAMBLE.unpack_from(raw)
    return raw, json.loads(raw[treefile.PREAMBLE.size:treefile.PREAMBLE.size + header_length]), header_length


SHIFT = 4096


def rewrite_header(path, edit):
    """Apply ``edit`` to the JSON header and write a file with a correct header checksum.

    The arrays move SHIFT bytes further (offsets in the header follow before ``edit`` runs),
    leaving room for a longer header.
    """
    raw, header, _ = read_header(path)
    start = min(entry["offset"] for entry in header["arrays"].values())
    for entry in header["arrays"].values():
        entry["offset"] += SHIFT
    edit(header)
    text = json.dumps(header).encode()
    assert treefile.PREAMBLE.size + len(text) <= start + SHIFT
    preamble = treefile.PREAMBLE.pack(treefile.MAGIC, io.FORMAT_VERSION, len(text), zlib.crc32(text))
    body = preamble + text
    path.write_bytes(body + bytes(start + SHIFT - len(body)) + raw[start:])


def craft(tmp_path, mutate, **options):
    """Save a tree whose arrays ``mutate`` changed, with valid checksums (a crafted file)."""
    tree = make_tree(n=200, leaf_size=4, **options)
    state = tree.__getstate__()
    arrays = {name: arr.copy() for name, arr in state["arrays"].items()}
    mutate(arrays, tree)
    record = tree.record._replace(**{name: arrays[name] for name in kdforge.record.ARRAY_FIELDS})
    path = tmp_path / "crafted.kdt"
    treefile.write_tree(record, arrays["data"], path)  # the writer checks nothing
    return path


def test_wrong_magic(tmp_path):
    path = tmp_path / "t.kdt"
    make_tree().save(path)
    raw = bytearray(path.read_bytes())
    raw[1:4] = b"NPY"
    path.write_bytes(bytes(raw))
    with pytest.raises(TreeFileError, match="not a kdforge tree file"):
        io.load(path)
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(TreeFileError, match="not a kdforge tree file"):
        io.load(tmp_path / "x.npy")


@pytest.mark.parametrize("mmap_arrays", [True, False])
def test_truncated_files(tmp_path, mmap_arrays):
    path = tmp_path / "t.kdt"
    make_tree().save(path)
    raw = path.read_bytes()
    _, _, header_length = read_header(path)
    for size in (0, 5, treefile.PREAMBLE.size, treefile.PREAMBLE.size + header_length // 2,
                 treefile.PREAMBLE.size + header_length + 1, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:size])
        with pytest.raises(TreeFileError):
            io.load(path, mmap=mmap_arrays)
    path.write_bytes(raw + b"\0")
    with pytest.raises(TreeFileError, match="trailing data"):
        io.load(path, mmap=mmap_arrays)


def test_bit_flips_fail_the_checksums(tmp_path):
    path = tmp_path / "t.kdt"
    make_tree().save(path)
    raw, header, _ = read_header(path)
    arrays = header["arrays"]
    for position, match in [(treefile.PREAMBLE.size + 5, "header checksum"),
                            (arrays["node_bounds"]["offset"] + 3, "mismatch in array 'node_bounds'"),
                            (arrays["idx_array"]["offset"], "mismatch in array 'idx_array'")]:
        flipped = bytearray(raw)
        flipped[position] ^= 0x10
        path.write_bytes(bytes(flipped))
        with pytest.raises(TreeFileError, match=match):
            io.load(path)


def test_without_checksums_the_contents_are_still_checked(tmp_path):
    path = tmp_path / "t.kdt"
    tree = make_tree()
    tree.save(path)
    raw, header, _ = read_header(path)
    flipped = bytearray(raw)
    flipped[header["arrays"]["tree_data"]["offset"] + 8 * 30] ^= 0x01  # last mantissa bit
    path.write_bytes(bytes(flipped))
    with pytest.raises(TreeFileError, match="differs from data|outside its bounding box"):
        io.load(path, verify_checksum=False)
    trusted = io.load(path, verify_checksum=False, verify_contents=False)  # wrong but safe
    assert trusted.query(queries_for(tree), k=2)[1].shape == (40, 2)


def put(name, index, value):
    """A mutation setting ``arrays[name][index]``; ``value`` may be ``f(arrays, tree)``."""
    def mutate(arrays, tree):
        arrays[name][index] = value(arrays, tree) if callable(value) else value
    return mutate


def move_point(row, column, value):
    """A mutation changing one point consistently in ``tree_data`` and ``data``."""
    def mutate(arrays, tree):
        arrays["tree_data"][row, column] = value
        arrays["data"][arrays["idx_array"][row], column] = value
    return mutate


def empty_last_leaves(arrays, tree):
    """The second-to-last leaf gives all its rows to the last one."""
    arrays["node_end"][-2] = arrays["node_start"][-2]
    arrays["node_start"][-1] = arrays["node_start"][-2]


CRAFTED_ARRAYS = [
    ("index past the end", put("idx_array", 0, lambda a, t: t.n_points), r"outside \[0, n_points\)"),
    ("negative index", put("idx_array", 5, -1), r"outside \[0, n_points\)"),
    ("repeated index", put("idx_array", 1, lambda a, t: a["idx_array"][0]), "not a permutation"),
    ("node range past n", put("node_end", -1, lambda a, t: t.n_points + 100), "children of internal node"),
    ("root range", put("node_end", 0, lambda a, t: t.n_points - 1), "root node"),
    ("overlapping children", put("node_start", 2, lambda a, t: a["node_start"][2] - 1),
     "children of internal node 0"),
    ("empty leaf", empty_last_leaves, "non-empty"),
    ("negative split_dim", put("split_dim", 0, -1), "split dimension outside"),
    ("split_dim = d", put("split_dim", 3, lambda a, t: t.n_dims), "split dimension outside"),
    ("leaf split_dim", put("split_dim", -1, 0), "other than -1"),
    ("NaN bound", put("node_bounds", (0, 5, 1), np.nan), "not finite"),
    ("infinite bound", put("node_bounds", (1, 0, 0), np.inf), "not finite"),
    ("lower > upper", put("node_bounds", (0, 9, 2), lambda a, t: a["node_bounds"][1, 9, 2] + 1),
     "lower <= upper"),
    ("child box outside", put("node_bounds", (1, 4, 0), lambda a, t: a["node_bounds"][1, 1, 0] + 1),
     "inside the box of node 1"),
    ("split value", put("split_value", 0, lambda a, t: a["node_bounds"][1, 2, a["split_dim"][0]] + 1),
     "does not separate"),
    ("NaN split value", put("split_value", 2, np.nan), "does not separate"),
    ("point outside its leaf", move_point(0, 0, -5.0), "outside its bounding box"),
    ("NaN point", move_point(7, 1, np.nan), "outside its bounding box"),
    ("data differs", put("data", (3, 2), lambda a, t: a["data"][3, 2] + 1e-9), "differs from data"),
]


@pytest.mark.parametrize("name, mutate, match", CRAFTED_ARRAYS, ids=[c[0] for c in CRAFTED_ARRAYS])
@pytest.mark.parametrize("mmap_arrays", [True, False])
def test_crafted_arrays_are_refused(tmp_path, name, mutate, match, mmap_arrays):
    path = craft(tmp_path, mutate)
    with pytest.raises(TreeFileError, match=match):
        io.load(path, mmap=mmap_arrays)


STRUCTURAL = ("node range past n", "root range", "overlapping children", "empty leaf",
              "negative split_dim", "split_dim = d", "leaf split_dim")


@pytest.mark.parametrize("name, mutate, match", CRAFTED_ARRAYS, ids=[c[0] for c in CRAFTED_ARRAYS])
def test_structure_is_checked_even_without_content_checks(tmp_path, name, mutate, match):
    path = craft(tmp_path, mutate)
    if name in STRUCTURAL:
        with pytest.raises(TreeFileError, match=match):
            io.load(path, verify_checksum=False, verify_contents=False)
    else:  # wrong values, safe to query
        tree = io.load(path, verify_checksum=False, verify_contents=False)
        tree.query(queries_for(tree), k=3)
        tree.query_radius_csr(queries_for(tree), 0.2)


def test_index_errors_are_caught_when_data_is_rebuilt(tmp_path):
    record = make_tree().record
    idx = record.idx_array.copy()
    idx[0] = 10**6
    treefile.write_tree(record._replace(idx_array=idx), None, tmp_path / "t.kdt")
    with pytest.raises(TreeFileError, match="outside"):
        io.load(tmp_path / "t.kdt", verify_checksum=False, verify_contents=False)


def _set(path, value):
    def edit(header):
        target = header
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _move(name, delta):
    def edit(header):
        header["arrays"][name]["offset"] += delta
    return edit


def _wrong_crc(header):
    header["arrays"]["idx_array"]["checksum64"] ^= 1


def _overlap(header):
    header["arrays"]["node_end"]["offset"] = header["arrays"]["node_start"]["offset"]


CRAFTED_HEADERS = [
    ("n_points", _set(["n_points"], 201), "n_points|shape"),
    ("n_points huge", _set(["n_points"], 2**62), "cannot be indexed with int32"),
    ("n_points huge int64", lambda h: h.update(n_points=2**62, index_dtype="int64"), "n_levels is"),
    ("n_points bool", _set(["n_points"], True), "must be an integer"),
    ("n_points zero", _set(["n_points"], 0), ">= 1"),
    ("n_dims", _set(["n_dims"], 4), "shape"),
    ("n_dims string", _set(["n_dims"], "3"), "must be an integer"),
    ("dtype", _set(["dtype"], "float16"), "dtype must be one of"),
    ("index dtype", _set(["index_dtype"], "int8"), "index_dtype must be one of"),
    ("index dtype int64", _set(["index_dtype"], "int64"), "has dtype '<i4', expected '<i8'"),
    ("leaf_size", _set(["tree", "leaf_size"], 8), "n_levels is"),
    ("leaf_size zero", _set(["tree", "leaf_size"], 0), ">= 1"),
    ("leaf_size float", _set(["tree", "leaf_size"], 4.0), "must be an integer"),
    ("n_levels", _set(["tree", "n_levels"], 40), "n_levels is"),
    ("negative n_levels", _set(["tree", "n_levels"], -1), ">= 0"),
    ("split", _set(["tree", "split"], "sliding"), "split must be one of"),
    ("split of another division", _set(["tree", "split"], "sliding_midpoint"),
     "does not go with split"),
    ("division", _set(["tree", "division"], "fancy"), "division must be one of"),
    ("other division", _set(["tree", "division"], "root"), "n_levels is|has shape"),
    ("unknown parameter", _set(["tree", "colour"], "blue"), "unknown tree parameter"),
    ("missing parameter", lambda h: h["tree"].pop("leaf_size"), "'leaf_size' is missing"),
    ("tree not an object", _set(["tree"], [1, 2]), "JSON object"),
    ("no arrays", lambda h: h.pop("arrays"), "no 'arrays'"),
    ("missing array", lambda h: h["arrays"].pop("node_end"), r"missing \['node_end'\]"),
    ("unknown array", _set(["arrays", "extra"], {}), r"unknown \['extra'\]"),
    ("array not an object", _set(["arrays", "split_dim"], 5), "JSON object"),
    ("array dtype", _set(["arrays", "split_dim", "dtype"], "<i8"), "has dtype"),
    ("array dtype big-endian", _set(["arrays", "tree_data", "dtype"], ">f8"), "has dtype"),
    ("array shape", _set(["arrays", "node_bounds", "shape"], [2, 10, 3]), "has shape"),
    ("offset misaligned", _move("tree_data", 8), "aligned"),
    ("offset past the end", _move("data", 2**40), "arrays end at byte"),
    ("offset in the header", _set(["arrays", "tree_data", "offset"], 64), "must be >="),
    ("offset negative", _set(["arrays", "tree_data", "offset"], -64), "offset of 'tree_data' must be >="),
    ("overlapping arrays", _overlap, "overlaps"),
    ("crc not an integer", _set(["arrays", "idx_array", "checksum64"], "x"),
     "checksum64 of 'idx_array'"),
    ("wrong crc", _wrong_crc, "checksum mismatch in array 'idx_array'"),
]


@pytest.mark.parametrize("name, edit, match", CRAFTED_HEADERS, ids=[c[0] for c in CRAFTED_HEADERS])
def test_crafted_headers_are_refused(tmp_path, name, edit, match):
    path = tmp_path / "t.kdt"
    make_tree(n=200, leaf_size=4).save(path)
    rewrite_header(path, edit)
    with pytest.raises(TreeFileError, match=match):
        io.load(path)


@pytest.mark.parametrize("text", [b"not json", b"[1, 2]", b"[" * 30000 + b"]" * 30000,
                                  b'{"n_points": 1' + b"0" * 5000 + b"}", b"\xff\xfe"])
def test_unparsable_headers_are_refused(tmp_path, text):
    path = tmp_path / "t.kdt"
    preamble = treefile.PREAMBLE.pack(treefile.MAGIC, io.FORMAT_VERSION, len(text), zlib.crc32(text))
    path.write_bytes(preamble + text)
    with pytest.raises(TreeFileError, match="header"):
        io.load(path)


def test_header_length_beyond_the_limit(tmp_path):
    path = tmp_path / "t.kdt"
    path.write_bytes(treefile.PREAMBLE.pack(treefile.MAGIC, io.FORMAT_VERSION, 2**32 - 1, 0) + bytes(100))
    with pytest.raises(TreeFileError, match="header length"):
        io.load(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "nothing.kdt")


def test_tree_file_error_is_a_value_error():
    assert issubclass(TreeFileError, ValueError)
