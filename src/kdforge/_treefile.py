"""The tree file format and the pickled state: a :class:`~kdforge.record.TreeRecord` in and out.

:func:`write_tree` writes a record (and optionally the points in their original order) to
one file, :func:`read_tree` reads it back, memory-mapped by default, and validates it
before any kernel may touch it; :func:`state_of` / :func:`record_from_state` do the same for
pickles. The public entry points are :meth:`kdforge.KDTree.save`, :func:`kdforge.load`
(:mod:`kdforge.io`) and pickling.

File format (version 3)
-----------------------
All integers are little-endian. A file is a 20-byte preamble, a JSON header, then the arrays::

    offset  size  field
    0       8     magic b"\\x89KDFORGE"
    8       4     format version (uint32), FORMAT_VERSION
    12      4     header length H in bytes (uint32), at most MAX_HEADER_BYTES
    16      4     CRC-32 of the header bytes (uint32), always verified
    20      H     header: UTF-8 JSON object (below)
    ...           zero padding, then each array at its offset (a multiple of 64), raw
                  C-order little-endian bytes, zero padding between arrays; the file ends
                  exactly where the last array ends

The header::

    {"library_version": "0.1.0",            informational: the kdforge that wrote it
     "n_points": n, "n_dims": d,
     "dtype": "float64",                    float32 or float64
     "index_dtype": "int32",                int32 or int64 (int64 needed past 2**31 - 1 points)
     "tree": {"leaf_size": 16, "split": "max_spread", "division": "median", "n_levels": L},
     "arrays": {"tree_data": {"offset": 128, "dtype": "<f8", "shape": [n, d], "checksum64": 123},
                "idx_array": ..., "node_start": ..., "node_end": ..., "split_dim": ...,
                "split_value": ..., "node_bounds": ..., "node_min_index": ...,
                "node_children": ..., "node_parent": ..., "data": ...}}

``"tree"`` holds the record's parameters (:data:`kdforge.record.PARAMETER_FIELDS`; split
and division by name), ``"arrays"`` its arrays (:data:`kdforge.record.ARRAY_FIELDS`) and
the optional ``data``, each with a 64-bit checksum of its bytes
(:func:`~kdforge._kernels.checks.checksum64`; version-1 files have a ``crc32``). Files never contain pickles.
Aligned offsets make the memory-mapped arrays aligned views of the file.

``data`` (the points in their original order) is stored by default although it is a
permutation of ``tree_data``: with it a memory-mapped load touches nothing of size O(n),
and ``tree.data`` is available at once. ``tree.save(path, include_data=False)`` leaves it
out, making the file about ``n * d * itemsize`` bytes smaller; :func:`load` then rebuilds
it in memory from ``tree_data`` and ``idx_array``, an O(n) scatter that also checks that
``idx_array`` is a permutation, so such files do not load in constant time.

Memory maps are read-only, and a tree read into memory makes its buffer read-only too, so
nothing can write to a loaded tree's arrays, as to a built tree's
(:func:`kdforge.record.frozen`):
every tree has the same Numba type, so the query kernels compiled for built trees serve
loaded and unpickled trees too.

Versions
--------
A file whose version is newer than :data:`FORMAT_VERSION` is refused with a message asking
for a newer kdforge. New tree parameters or arrays change the format version, except
parameters with a default (:data:`PARAMETER_DEFAULTS`), which a file may lack: a file
without ``division`` holds a ``"median"`` tree. Version 2 added ``node_min_index``;
version-1 files (without it) still load, and it is computed on loading (O(n)). Version 3
added ``node_children`` and ``node_parent`` and the explicit layout of sliding-midpoint
trees (``division="midpoint"``), whose node count the arrays give; older files hold
implicit layouts, whose links are computed on loading (O(number of nodes)). Pickled trees
carry the same version.

Validation
----------
A tree file is untrusted input and the query kernels do not check array bounds, so
:func:`load` raises :class:`TreeFileError` for any file that is not a valid tree, in three
tiers:

* Always (memory safety, O(number of nodes), a few milliseconds for 1e7 points): the
  preamble, the header's CRC-32 and every header field (types, ranges, the node count
  implied by ``n``, ``leaf_size`` and ``division`` for the implicit layouts, array
  shapes, dtypes and offsets inside the file, nothing overlapping). Then the node
  structure: every internal node's two children have larger ids and name it as their
  parent (so the links form one tree without cycles), the root holds rows ``[0, n)``,
  every internal node's children split its rows into two non-empty ranges (so ranges
  nest, stay inside ``[0, n)`` and the leaves cover every row once), split dimensions lie
  in ``[0, d)`` (-1 at leaves) and the deepest leaf is at depth ``n_levels``.
  The node arrays this checks are copied out of a memory map first, so that a later
  change to the file cannot invalidate them.
* ``verify_contents=True`` (O(n d)): the values. Boxes are finite with ``lower <= upper``,
  children's boxes lie inside their parent's, split values separate the children
  (left box ``<= split_value <=`` right box), every point lies in its leaf's box (so all
  points are finite), ``idx_array`` is a permutation of ``range(n)`` and ``tree_data[j]
  == data[idx_array[j]]``. A tree that passes answers every query exactly like brute
  force over its points.
* ``verify_checksum=True`` (O(file size)): the CRC-32 of every array, which catches
  accidental corruption that leaves a consistent tree (a flipped bit of a coordinate
  that stays inside its box, say).

With both options off a corrupt or crafted file can give wrong answers, but structural
validation still keeps every kernel inside its arrays. A memory-mapped file must not be
truncated while a tree uses it (as for any memory map, reading a page past the new end of
the file kills the process with SIGBUS); :func:`write_tree` replaces files atomically, so re-saving over a file that is mapped is safe.
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
import os
import stat
import struct
import uuid
import zlib

import numpy as np

from ._compile import notice_compile
from ._version import __version__
from ._kernels.build import fill_node_min_index
from ._kernels.checks import (
    MESSAGES,
    OK,
    check_geometry,
    check_structure,
    checksum64,
    compare_points,
    scatter_points,
)
from .record import (
    ARRAY_FIELDS,
    DIVISION_NAMES,
    DIVISIONS,
    FLOAT_DTYPES,
    INDEX_DTYPES,
    INDEX_INT32_LIMIT,
    PARAMETER_FIELDS,
    DIVISION_MIDPOINT,
    SPLIT_NAMES,
    SPLIT_RULES,
    SPLIT_SLIDING_MIDPOINT,
    TreeRecord,
    frozen,
    heap_links,
    tree_shape,
)

__all__ = ["FORMAT_VERSION", "TreeFileError", "write_tree", "read_tree", "state_of",
           "record_from_state", "check_record", "points_in_original_order"]

#: First bytes of every tree file.
MAGIC = b"\x89KDFORGE"
#: Version of the file format (and of the pickled state) this kdforge writes.
FORMAT_VERSION = 3
#: Alignment in bytes of every array in a file.
ALIGNMENT = 64
#: Largest JSON header accepted, in bytes (real headers are about 1 KiB).
MAX_HEADER_BYTES = 1 << 16
PREAMBLE = struct.Struct("<8sIII")

#: Parameters a file or pickle may lack, and the value then meant (older files have no
#: ``division``: they hold median trees).
PARAMETER_DEFAULTS = {"division": "median"}
#: Arrays a file or pickle may lack: the points in original order (rebuilt from the tree),
#: ``node_min_index`` (derived; version-1 files do not have it) and the links of an
#: implicit layout (computed; files before version 3 do not have them).
OPTIONAL_ARRAYS = ("data", "node_min_index", "node_children", "node_parent")
#: The node arrays the structural check protects (copied out of a memory map first).
STRUCTURE_ARRAYS = ("node_start", "node_end", "split_dim", "node_children", "node_parent")


class TreeFileError(ValueError):
    """Raised for a tree file (or pickled tree) that is not a valid tree.

    The file may be corrupt, truncated, crafted, or of an unsupported format version.
    """


def _raise_on(result, source: str) -> None:
    code, where = result
    if code != OK:
        raise TreeFileError(f"{source}: invalid tree: {MESSAGES[code].format(int(where))}")


# ---------------------------------------------------------------------- tree description
def _require_int(value, name: str, minimum: int, source: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TreeFileError(f"{source}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise TreeFileError(f"{source}: {name} must be >= {minimum}, got {value}")
    return value


def _require_choice(value, name: str, choices, source: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise TreeFileError(f"{source}: {name} must be one of {list(choices)}, got {value!r}")
    return value


class _Layout:
    """Validated description of a tree: sizes, dtypes, parameters and array shapes."""

    def __init__(self, n_points, n_dims, dtype, index_dtype, fields, source, n_nodes=None):
        self.source = source
        self.n_points = _require_int(n_points, "n_points", 1, source)
        self.n_dims = _require_int(n_dims, "n_dims", 1, source)
        self.dtype = np.dtype(_require_choice(dtype, "dtype", [t.name for t in FLOAT_DTYPES], source))
        self.index_dtype = np.dtype(_require_choice(index_dtype, "index_dtype",
                                                    [t.name for t in INDEX_DTYPES], source))
        if self.index_dtype == np.int32 and self.n_points > INDEX_INT32_LIMIT:
            raise TreeFileError(f"{source}: {self.n_points} points cannot be indexed with int32")
        if not isinstance(fields, dict):
            raise TreeFileError(f"{source}: the tree parameters must be a JSON object")
        unknown = sorted(set(fields) - set(PARAMETER_FIELDS))
        if unknown:
            raise TreeFileError(f"{source}: unknown tree parameter(s) {unknown} (from a newer kdforge?)")
        values = {}
        for name in PARAMETER_FIELDS:
            if name not in fields and name not in PARAMETER_DEFAULTS:
                raise TreeFileError(f"{source}: tree parameter {name!r} is missing")
            values[name] = fields.get(name, PARAMETER_DEFAULTS.get(name))
        #: The record's parameters, split and division as codes.
        self.parameters = {
            "leaf_size": _require_int(values["leaf_size"], "leaf_size", 1, source),
            "split": SPLIT_RULES[_require_choice(values["split"], "split", SPLIT_RULES, source)],
            "division": DIVISIONS[_require_choice(values["division"], "division", DIVISIONS, source)],
            "n_levels": _require_int(values["n_levels"], "n_levels", 0, source),
        }
        division_name = DIVISION_NAMES[self.parameters["division"]]
        #: Whether the layout is explicit (its links are data, not implied by the shape).
        self.explicit = self.parameters["division"] == DIVISION_MIDPOINT
        if self.explicit != (self.parameters["split"] == SPLIT_SLIDING_MIDPOINT):
            raise TreeFileError(f"{source}: division {division_name!r} does not go with split "
                                f"{SPLIT_NAMES[self.parameters['split']]!r}")
        if self.explicit:
            # the node count is data: the arrays give it, validation checks the structure
            self.n_nodes = _require_int(n_nodes, "number of nodes", 1, source)
            if self.n_nodes % 2 != 1 or self.n_nodes > 2 * self.n_points - 1:
                raise TreeFileError(f"{source}: {self.n_nodes} nodes cannot make a binary tree "
                                    f"over {self.n_points} points")
        else:
            levels, self.n_nodes = tree_shape(self.n_points, self.parameters["leaf_size"],
                                              self.parameters["division"])
            if self.parameters["n_levels"] != levels:
                raise TreeFileError(
                    f"{source}: n_levels is {self.parameters['n_levels']} but a {division_name!r} "
                    f"tree of {self.n_points} points with leaf_size {self.parameters['leaf_size']} "
                    f"has {levels}")
            if self.n_nodes.bit_length() - 1 != self.parameters["n_levels"]:
                raise TreeFileError(f"{source}: the deepest of {self.n_nodes} nodes is not at depth n_levels")
        self.n_internal = (self.n_nodes - 1) // 2

    def array_specs(self) -> dict:
        """Expected dtype and shape of every array, by name."""
        n, d, n_nodes = self.n_points, self.n_dims, self.n_nodes
        return {
            "tree_data": (self.dtype, (n, d)),
            "idx_array": (self.index_dtype, (n,)),
            "node_start": (self.index_dtype, (n_nodes,)),
            "node_end": (self.index_dtype, (n_nodes,)),
            "split_dim": (np.dtype(np.int32), (n_nodes,)),
            "split_value": (self.dtype, (n_nodes,)),
            "node_bounds": (self.dtype, (2, n_nodes, d)),
            "node_min_index": (self.index_dtype, (n_nodes,)),
            "node_children": (self.index_dtype, (self.n_internal, 2)),
            "node_parent": (self.index_dtype, (n_nodes,)),
            "data": (self.dtype, (n, d)),
        }


def _parameters_by_name(record: TreeRecord) -> dict:
    """The record's parameters as the header and pickles spell them (split, division by name)."""
    return {"leaf_size": int(record.leaf_size), "split": SPLIT_NAMES[int(record.split)],
            "division": DIVISION_NAMES[int(record.division)], "n_levels": int(record.n_levels)}


def _saved_arrays(record: TreeRecord, data: np.ndarray | None) -> dict:
    """The arrays a file or pickle holds: the record's, then ``data`` when given."""
    arrays = {name: getattr(record, name) for name in ARRAY_FIELDS
              if getattr(record, name) is not None}
    if data is not None:
        arrays["data"] = data
    return arrays


def _validate(layout: _Layout, arrays: dict, verify_contents: bool, copy_nodes: bool,
              copy: str) -> tuple[TreeRecord, np.ndarray]:
    """Run the structural (and optionally content) checks; return the record and ``data``.

    ``copy`` says which arrays the tree must copy to own them (see
    :func:`kdforge.record.frozen`); the record and ``data`` come back read-only. With
    ``copy="never"``, ``copy_nodes`` copies the arrays the structural check protects before
    checking them, so that the checked values are the ones used even when the originals map
    a file. A missing ``data`` is rebuilt from ``tree_data`` and ``idx_array`` (which checks
    the permutation).
    """
    source = layout.source
    checked = dict(arrays)
    for name, arr in arrays.items():
        if copy == "always" or (copy == "foreign" and not arr.flags.owndata):
            checked[name] = np.array(arr, copy=True)
        elif copy_nodes and name in STRUCTURE_ARRAYS:
            checked[name] = arr.copy()
    links = [name for name in ("node_children", "node_parent") if name not in checked]
    if links and layout.explicit:
        raise TreeFileError(f"{source}: a 'midpoint' tree needs its array(s) {links}")
    if links:
        children, parent = heap_links(layout.n_nodes, layout.index_dtype)
        checked.setdefault("node_children", children)
        checked.setdefault("node_parent", parent)
    _raise_on(check_structure(checked["node_start"], checked["node_end"], checked["split_dim"],
                              checked["node_children"], checked["node_parent"], layout.n_points,
                              layout.n_dims, layout.parameters["n_levels"]), source)
    if verify_contents:
        _raise_on(check_geometry(checked["tree_data"], checked["node_start"], checked["node_end"],
                                 checked["split_dim"], checked["split_value"], checked["node_bounds"],
                                 checked["node_children"]), source)
    if "data" not in checked:
        data = np.empty((layout.n_points, layout.n_dims), dtype=layout.dtype)
        _raise_on(scatter_points(checked["tree_data"], checked["idx_array"], data), source)
        checked["data"] = data
    elif verify_contents:
        _raise_on(compare_points(checked["tree_data"], checked["idx_array"], checked["data"]), source)
    min_index = np.empty(layout.n_nodes, dtype=layout.index_dtype)
    if "node_min_index" not in checked or verify_contents:
        fill_node_min_index(checked["idx_array"], checked["node_start"], checked["node_end"],
                            checked["node_children"], min_index)
    if "node_min_index" not in checked:
        checked["node_min_index"] = min_index
    elif verify_contents and not np.array_equal(checked["node_min_index"], min_index):
        node = int(np.flatnonzero(checked["node_min_index"] != min_index)[0])
        raise TreeFileError(f"{source}: invalid tree: node_min_index[{node}] is not the smallest "
                            "index of the node's points")
    record = TreeRecord(**{name: checked[name] for name in ARRAY_FIELDS}, **layout.parameters)
    data = checked["data"]
    data.flags.writeable = False
    return frozen(record, copy="never"), data


def _node_count(split_dim) -> int | None:
    """The node count an untrusted ``split_dim`` gives (None when it is not a 1-D array)."""
    if isinstance(split_dim, np.ndarray) and split_dim.ndim == 1:
        return int(split_dim.shape[0])
    return None


def _check_arrays(layout: _Layout, arrays: dict, source: str) -> dict:
    """Check the dtype and shape of every array against the layout; return them C-contiguous."""
    checked = {}
    for name, (dtype, shape) in layout.array_specs().items():
        arr = arrays.get(name)
        if arr is None and name in OPTIONAL_ARRAYS:
            continue
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape:
            raise TreeFileError(f"{source}: array {name!r} must have dtype {dtype} and shape {shape}")
        checked[name] = np.ascontiguousarray(arr)
    return checked


def check_record(record: TreeRecord, data: np.ndarray | None = None, *,
                 verify_contents: bool = True,
                 source: str = "TreeRecord") -> tuple[TreeRecord, np.ndarray]:
    """Validate a record that comes from outside (a file, a pickle, a caller).

    Parameters
    ----------
    record : TreeRecord
    data : ndarray of shape (n, d), optional
        The points in original order; rebuilt from the record when None.
    verify_contents : bool, default True
        Also run the O(n d) content checks (see the module documentation).
    source : str
        What the record came from, for error messages.

    Returns
    -------
    record, data
        The checked record (arrays made C-contiguous, parameters plain ints) and ``data``.

    Raises
    ------
    TreeFileError
        The record is not a valid tree.
    """
    if not isinstance(record, TreeRecord):
        raise TypeError(f"{source}: expected a TreeRecord, got {type(record).__name__}")
    tree_data = record.tree_data
    if not isinstance(tree_data, np.ndarray) or tree_data.ndim != 2:
        raise TreeFileError(f"{source}: tree_data must be a 2-D array")
    if not isinstance(record.idx_array, np.ndarray):
        raise TreeFileError(f"{source}: idx_array must be an array")
    layout = _Layout(tree_data.shape[0], tree_data.shape[1], tree_data.dtype.name,
                     record.idx_array.dtype.name, _parameters_by_name_checked(record, source),
                     source, _node_count(record.split_dim))
    return _validate(layout, _check_arrays(layout, _saved_arrays(record, data), source),
                     verify_contents, copy_nodes=False, copy="always")


def _parameters_by_name_checked(record: TreeRecord, source: str) -> dict:
    """:func:`_parameters_by_name` for an untrusted record: codes must be known."""
    try:
        split = SPLIT_NAMES[record.split]
        division = DIVISION_NAMES[record.division]
    except (KeyError, TypeError):
        raise TreeFileError(f"{source}: unknown split {record.split!r} or division "
                            f"{record.division!r} code") from None
    return {"leaf_size": record.leaf_size, "split": split, "division": division,
            "n_levels": record.n_levels}


# ---------------------------------------------------------------------- saving
def _align(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


def write_tree(record: TreeRecord, data: np.ndarray | None, path) -> None:
    """Write ``record`` (and ``data`` unless None) to the file ``path``.

    Parameters
    ----------
    record : TreeRecord
        The tree.
    data : ndarray of shape (n, d) or None
        The points in their original order; None leaves them out (:func:`read_tree` then
        rebuilds them, in O(n)).
    path : str or os.PathLike
        Destination. The file is written under a temporary name in the same directory and
        then renamed over ``path``, so readers never see a partial file and a tree still
        memory-mapped from an older file at ``path`` keeps working (on POSIX systems;
        Windows refuses to replace a file that is mapped).
    """
    fields = _parameters_by_name(record)
    arrays = {name: np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
              for name, arr in _saved_arrays(record, data).items()}
    tree_data = arrays["tree_data"]
    specs = {}
    for name, arr in arrays.items():
        specs[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                       CHECKSUM_KEY: _checksum(arr)}
    header = {
        "library_version": __version__,
        "n_points": int(tree_data.shape[0]),
        "n_dims": int(tree_data.shape[1]),
        "dtype": tree_data.dtype.name,
        "index_dtype": arrays["idx_array"].dtype.name,
        "tree": fields,
        "arrays": specs,
    }
    data_start = 0
    while True:  # offsets are written in the header, whose length moves the data start
        offset = data_start
        for name, arr in arrays.items():
            specs[name]["offset"] = offset
            offset = _align(offset + arr.nbytes)
        header_bytes = json.dumps(header, separators=(",", ":")).encode()
        needed = _align(PREAMBLE.size + len(header_bytes))
        if needed <= data_start:
            break
        data_start = needed
    path = os.fspath(path)
    if os.path.islink(path):  # replace the file the link points to, not the link
        path = os.path.realpath(path)
    temporary = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "xb") as out:
            out.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes), zlib.crc32(header_bytes)))
            out.write(header_bytes)
            position = PREAMBLE.size + len(header_bytes)
            for name, arr in arrays.items():
                out.write(bytes(specs[name]["offset"] - position))
                if arr.nbytes:  # (a memoryview of an empty array cannot be cast)
                    out.write(memoryview(arr).cast("B"))
                position = specs[name]["offset"] + arr.nbytes
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ---------------------------------------------------------------------- loading
def _check_version(version, source: str) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TreeFileError(f"{source}: unknown tree file format version {version!r}")
    if version > FORMAT_VERSION:
        raise TreeFileError(
            f"{source}: tree file format version {version} is newer than this kdforge supports "
            f"(version {FORMAT_VERSION}); upgrade kdforge to load it")


def _read_header(file, size: int, source: str):
    """Read and check the preamble and JSON header; return ``(layout, array entries, version)``."""
    if size < PREAMBLE.size:
        raise TreeFileError(f"{source}: file too short ({size} bytes) to be a kdforge tree file")
    magic, version, header_length, header_crc = PREAMBLE.unpack(file.read(PREAMBLE.size))
    if magic != MAGIC:
        raise TreeFileError(f"{source}: not a kdforge tree file (bad magic bytes {magic!r})")
    _check_version(version, source)
    if header_length > MAX_HEADER_BYTES or PREAMBLE.size + header_length > size:
        raise TreeFileError(f"{source}: header length {header_length} does not fit the file (truncated?)")
    header_bytes = file.read(header_length)
    if zlib.crc32(header_bytes) != header_crc:
        raise TreeFileError(f"{source}: header checksum mismatch: the file is corrupt")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise TreeFileError(f"{source}: header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise TreeFileError(f"{source}: header is not a JSON object")
    entries = header.get("arrays")
    if not isinstance(entries, dict):
        raise TreeFileError(f"{source}: header has no 'arrays' object")
    split_dim = entries.get("split_dim")
    shape = split_dim.get("shape") if isinstance(split_dim, dict) else None
    layout = _Layout(header.get("n_points"), header.get("n_dims"), header.get("dtype"),
                     header.get("index_dtype"), header.get("tree"), source,
                     shape[0] if isinstance(shape, list) and len(shape) == 1 else None)
    specs = layout.array_specs()
    required = [name for name in specs if name not in OPTIONAL_ARRAYS]
    missing = [name for name in required if name not in entries]
    unknown = sorted(set(entries) - set(specs))
    if missing or unknown:
        raise TreeFileError(f"{source}: arrays missing {missing} or unknown {unknown}")
    arrays = []
    for name, (dtype, shape) in specs.items():
        if name not in entries:
            continue
        entry = entries[name]
        if not isinstance(entry, dict):
            raise TreeFileError(f"{source}: array {name!r} is not described by a JSON object")
        file_dtype = dtype.newbyteorder("<")
        if entry.get("dtype") != file_dtype.str:
            raise TreeFileError(f"{source}: array {name!r} has dtype {entry.get('dtype')!r}, "
                                f"expected {file_dtype.str!r}")
        if entry.get("shape") != list(shape):
            raise TreeFileError(f"{source}: array {name!r} has shape {entry.get('shape')!r}, "
                                f"expected {list(shape)}")
        offset = _require_int(entry.get("offset"), f"offset of {name!r}",
                              PREAMBLE.size + header_length, source)
        key = CHECKSUM_KEYS[version]
        crc = _require_int(entry.get(key), f"{key} of {name!r}", 0, source)
        if offset % ALIGNMENT:
            raise TreeFileError(f"{source}: array {name!r} at offset {offset} is not "
                                f"{ALIGNMENT}-byte aligned")
        arrays.append((offset, name, file_dtype, shape, math.prod(shape) * dtype.itemsize, crc))
    arrays.sort()
    end = PREAMBLE.size + header_length
    for offset, name, _, _, nbytes, _ in arrays:
        if offset < end:
            raise TreeFileError(f"{source}: array {name!r} overlaps the header or another array")
        end = offset + nbytes
    if end != size:
        raise TreeFileError(f"{source}: the file has {size} bytes but its arrays end at byte {end} "
                            f"({'truncated' if size < end else 'trailing data'})")
    return layout, arrays, version


def read_tree(path, mmap: bool = True, verify_checksum: bool = True,
              verify_contents: bool = True) -> tuple[TreeRecord, np.ndarray]:
    """Read and validate a tree file written by :func:`write_tree`.

    Parameters are those of :func:`kdforge.load`. Returns the record and the points in
    their original order; raises :class:`TreeFileError` for any file that is not a valid
    tree.
    """
    source = os.fspath(path)
    if not stat.S_ISREG(os.stat(source).st_mode):  # a FIFO or a device would block or never end
        raise TreeFileError(f"{source}: not a regular file, so not a tree file")
    with open(source, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        layout, entries, version = _read_header(file, size, source)
        if mmap:
            try:
                buffer = _mmap.mmap(file.fileno(), size, access=_mmap.ACCESS_READ)
            except ValueError as exc:  # the file shrank since it was measured
                raise TreeFileError(f"{source}: {exc}") from None
        else:
            storage = np.empty(size + ALIGNMENT, dtype=np.uint8)
            start = -storage.ctypes.data % ALIGNMENT
            buffer = storage[start:start + size]
            file.seek(0)
            if file.readinto(buffer) != size:
                raise TreeFileError(f"{source}: the file changed while it was read")
            storage.flags.writeable = False  # so that no view of it can be made writeable
    view = memoryview(buffer)
    arrays = {}
    for offset, name, dtype, shape, nbytes, crc in entries:
        if verify_checksum and CHECKSUMS[version](view[offset:offset + nbytes]) != crc:
            raise TreeFileError(f"{source}: checksum mismatch in array {name!r}: the file is corrupt")
        arr = np.frombuffer(buffer, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        arrays[name] = arr.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    view.release()
    notice_compile("tree file checks", layout.dtype)
    return _validate(layout, arrays, verify_contents, copy_nodes=mmap, copy="never")


def _checksum(arr) -> int:
    """The checksum this kdforge writes: :func:`~kdforge._kernels.checks.checksum64`."""
    return int(checksum64(np.frombuffer(arr, dtype=np.uint8) if isinstance(arr, memoryview)
                          else np.ascontiguousarray(arr).reshape(-1).view(np.uint8)))


#: Per format version: the header key of each array's checksum, and its function.
CHECKSUM_KEY = "checksum64"
CHECKSUM_KEYS = {1: "crc32", 2: CHECKSUM_KEY, 3: CHECKSUM_KEY}
CHECKSUMS = {1: zlib.crc32, 2: _checksum, 3: _checksum}


def points_in_original_order(record: TreeRecord) -> np.ndarray:
    """The points in their original order, rebuilt from the record (O(n d)).

    What files and pickles store as ``data``: made from the tree's own arrays, never from
    the caller's array (which the caller may have changed since the build).
    """
    data = np.empty_like(record.tree_data)
    _raise_on(scatter_points(record.tree_data, record.idx_array, data), "KDTree")
    return data


# ---------------------------------------------------------------------- pickled state
def state_of(record: TreeRecord, data: np.ndarray) -> dict:
    """The pickled state of a tree: the format version, its parameters and its arrays."""
    return {"format_version": FORMAT_VERSION, "tree": _parameters_by_name(record),
            "arrays": _saved_arrays(record, data)}


def record_from_state(state, source: str = "pickled KDTree") -> tuple[TreeRecord, np.ndarray]:
    """Validate a pickled state exactly like a file; return the record and data.

    A pickle is untrusted input as a file is: the structure and the contents are checked
    (O(n d)), and arrays that do not own their memory (protocol-5 out-of-band buffers,
    which their sender may still write to) are copied, so that nothing outside the tree can
    change it afterwards.

    Raises
    ------
    TreeFileError
        The state is not one of a valid tree.
    """
    if not isinstance(state, dict):
        raise TreeFileError(f"{source}: the state must be a dict, got {type(state).__name__}")
    _check_version(state.get("format_version"), source)
    arrays = state.get("arrays")
    if not isinstance(arrays, dict):
        raise TreeFileError(f"{source}: the state has no 'arrays' dict")
    arrays = {name: np.asarray(arr) for name, arr in arrays.items()}
    tree_data = arrays.get("tree_data")
    idx_array = arrays.get("idx_array")
    if tree_data is None or tree_data.ndim != 2 or idx_array is None:
        raise TreeFileError(f"{source}: tree_data must be a 2-D array and idx_array present")
    layout = _Layout(tree_data.shape[0], tree_data.shape[1], tree_data.dtype.name,
                     idx_array.dtype.name, state.get("tree"), source,
                     _node_count(arrays.get("split_dim")))
    if "data" not in arrays:
        raise TreeFileError(f"{source}: array 'data' is missing")
    return _validate(layout, _check_arrays(layout, arrays, source), verify_contents=True,
                     copy_nodes=False, copy="foreign")
