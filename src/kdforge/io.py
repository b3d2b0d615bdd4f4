"""Save, load and share KD-trees without rebuilding them.

:meth:`KDTree.save <PersistenceMixin.save>` writes a tree to one file and :func:`load`
reads it back, memory-mapped by default so that loading costs almost nothing whatever the
size of the tree. Trees also pickle (:class:`PersistenceMixin`): their arrays travel and the
tree is not rebuilt, so a tree can be sent to ``multiprocessing`` workers. To share a large
tree between processes without copying it into each of them, save it once and let every
process :func:`load` the file: the memory maps share the operating system's page cache.

File format (version 1)
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
     "arrays": {"tree_data": {"offset": 128, "dtype": "<f8", "shape": [n, d], "crc32": 123},
                "idx_array": ..., "node_start": ..., "node_end": ..., "split_dim": ...,
                "split_value": ..., "node_bounds": ..., "data": ...}}

``"tree"`` holds the tree's scalar parameters (:data:`TREE_FIELDS`), ``"arrays"`` its
arrays (:data:`TREE_ARRAYS`), each with a CRC-32 of its bytes. Files never contain pickles.
Aligned offsets make the memory-mapped arrays aligned views of the file.

``data`` (the points in their original order) is stored by default although it is a
permutation of ``tree_data``: with it a memory-mapped load touches nothing of size O(n),
and ``tree.data`` is available at once. ``tree.save(path, include_data=False)`` leaves it
out, making the file about ``n * d * itemsize`` bytes smaller; :func:`load` then rebuilds
it in memory from ``tree_data`` and ``idx_array``, an O(n) scatter that also checks that
``idx_array`` is a permutation, so such files do not load in constant time.

Memory maps are copy-on-write: the arrays are writeable (a write would stay private to the
process; the tree never writes) and so have the Numba type of a built tree's arrays, and
the query kernels compiled for built trees serve loaded trees too. Read-only arrays would
make Numba compile a second specialization of every kernel (seconds, once per machine).

Versions
--------
A file whose version is newer than :data:`FORMAT_VERSION` is refused with a message asking
for a newer kdforge; there is no older version yet. New tree parameters or arrays change
the format version, except parameters with a default (:data:`TREE_FIELDS`), which a file
may lack: a file without ``division`` holds a ``"median"`` tree. Pickled trees carry the
same version.

Validation
----------
A tree file is untrusted input and the query kernels do not check array bounds, so
:func:`load` raises :class:`TreeFileError` for any file that is not a valid tree, in three
tiers:

* Always (memory safety, O(number of nodes), a few milliseconds for 1e7 points): the
  preamble, the header's CRC-32 and every header field (types, ranges, the node count
  implied by ``n``, ``leaf_size`` and ``division``, array shapes, dtypes and offsets
  inside the file, nothing overlapping). Then the node structure: the root holds rows
  ``[0, n)``, every internal node's children split its rows into two non-empty ranges
  (so ranges nest, stay inside ``[0, n)`` and the leaves cover every row once), split
  dimensions lie in ``[0, d)`` (-1 at leaves) and no leaf is deeper than ``n_levels``.
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
the file kills the process with SIGBUS); :meth:`~PersistenceMixin.save` replaces files
atomically, so re-saving over a file that is mapped is safe.
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
import os
import struct
import uuid
import zlib

import numpy as np
from numba import njit

from ._build import DIVISION_MEDIAN, DIVISION_ROOT, tree_shape

__all__ = ["FORMAT_VERSION", "TreeFileError", "PersistenceMixin", "load", "save"]

#: First bytes of every tree file.
MAGIC = b"\x89KDFORGE"
#: Version of the file format (and of the pickled state) this kdforge writes.
FORMAT_VERSION = 1
#: Alignment in bytes of every array in a file.
ALIGNMENT = 64
#: Largest JSON header accepted, in bytes (real headers are about 1 KiB).
MAX_HEADER_BYTES = 1 << 16
PREAMBLE = struct.Struct("<8sIII")

#: Scalar tree parameters saved in the header's ``"tree"`` object: name in the file,
#: attribute of the tree, and the value used when a tree or a file lacks it (None: required).
TREE_FIELDS = (
    ("leaf_size", "_leaf_size", None),
    ("split", "_split", None),
    ("division", "_division", "median"),
    ("n_levels", "_n_levels", None),
)
#: Arrays saved, in file order: name in the file and attribute of the tree. ``data`` is
#: optional (see the module documentation).
TREE_ARRAYS = (
    ("tree_data", "_tree_data"),
    ("idx_array", "_idx_array"),
    ("node_start", "_node_start"),
    ("node_end", "_node_end"),
    ("split_dim", "_split_dim"),
    ("split_value", "_split_value"),
    ("node_bounds", "_node_bounds"),
    ("data", "_data"),
)
OPTIONAL_ARRAYS = ("data",)
SPLITS = ("max_spread", "round_robin")
DIVISIONS = {"median": DIVISION_MEDIAN, "root": DIVISION_ROOT}
FLOAT_DTYPES = ("float32", "float64")
INDEX_DTYPES = ("int32", "int64")
INT32_MAX = int(np.iinfo(np.int32).max)

# Result codes of the validation kernels.
OK = 0
ROOT_RANGE = 1
CHILD_RANGES = 2
SPLIT_DIM = 3
LEAF_SPLIT_DIM = 4
BOX_NOT_FINITE = 5
CHILD_BOX = 6
SPLIT_VALUE = 7
POINT_OUTSIDE = 8
INDEX_RANGE = 9
INDEX_DUPLICATE = 10
DATA_MISMATCH = 11

_MESSAGES = {
    ROOT_RANGE: "the root node does not hold rows [0, n_points)",
    CHILD_RANGES: "the children of internal node {} do not split its rows into two non-empty ranges",
    SPLIT_DIM: "internal node {} has a split dimension outside [0, n_dims)",
    LEAF_SPLIT_DIM: "leaf {} has a split dimension other than -1",
    BOX_NOT_FINITE: "the bounding box of node {} is not finite with lower <= upper",
    CHILD_BOX: "a child's bounding box is not inside the box of node {}",
    SPLIT_VALUE: "the split value of node {} does not separate its children",
    POINT_OUTSIDE: "leaf {} holds a point outside its bounding box (or not finite)",
    INDEX_RANGE: "idx_array[{}] is outside [0, n_points)",
    INDEX_DUPLICATE: "idx_array[{}] repeats an index: idx_array is not a permutation",
    DATA_MISMATCH: "tree_data[{0}] differs from data[idx_array[{0}]]",
}


class TreeFileError(ValueError):
    """Raised for a tree file (or pickled tree) that is not a valid tree.

    The file may be corrupt, truncated, crafted, or of an unsupported format version.
    """


# ---------------------------------------------------------------------- validation kernels
@njit(cache=True, nogil=True)
def check_structure(node_start, node_end, split_dim, n_points, n_dims, n_internal):
    """Check the node ranges and split dimensions that keep the query kernels in bounds.

    Node ``i < n_internal`` has children ``2i + 1`` and ``2i + 2``; the arrays have
    ``2 * n_internal + 1`` entries. Returns ``(code, node)``, ``(OK, 0)`` when valid.
    """
    if node_start[0] != 0 or node_end[0] != n_points:
        return ROOT_RANGE, 0
    for node in range(n_internal):
        dim = split_dim[node]
        if dim < 0 or dim >= n_dims:
            return SPLIT_DIM, node
        left = 2 * node + 1
        mid = node_end[left]
        if (node_start[left] != node_start[node] or node_start[left + 1] != mid
                or node_end[left + 1] != node_end[node]
                or mid <= node_start[node] or mid >= node_end[node]):
            return CHILD_RANGES, node
    for node in range(n_internal, split_dim.shape[0]):
        if split_dim[node] != -1:
            return LEAF_SPLIT_DIM, node
    return OK, 0


@njit(cache=True, nogil=True)
def check_geometry(tree_data, node_start, node_end, split_dim, split_value, node_bounds,
                   n_internal):
    """Check boxes, split values and that every point lies in its leaf's box.

    Assumes :func:`check_structure` passed. Returns ``(code, node)``.
    """
    n_nodes = node_bounds.shape[1]
    n_dims = node_bounds.shape[2]
    for node in range(n_nodes):
        for c in range(n_dims):
            lo = node_bounds[0, node, c]
            hi = node_bounds[1, node, c]
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
                return BOX_NOT_FINITE, node
    for node in range(n_internal):
        for child in (2 * node + 1, 2 * node + 2):
            for c in range(n_dims):
                if not (node_bounds[0, node, c] <= node_bounds[0, child, c]
                        and node_bounds[1, child, c] <= node_bounds[1, node, c]):
                    return CHILD_BOX, node
        dim = split_dim[node]
        value = split_value[node]
        if not (node_bounds[1, 2 * node + 1, dim] <= value <= node_bounds[0, 2 * node + 2, dim]):
            return SPLIT_VALUE, node
    for node in range(n_internal, n_nodes):
        for row in range(node_start[node], node_end[node]):
            for c in range(n_dims):
                if not (node_bounds[0, node, c] <= tree_data[row, c] <= node_bounds[1, node, c]):
                    return POINT_OUTSIDE, node
    return OK, 0


@njit(cache=True, nogil=True)
def scatter_points(tree_data, idx_array, data, compare):
    """Check that ``idx_array`` is a permutation and relate ``data`` to ``tree_data``.

    With ``compare`` check ``data[idx_array[j]] == tree_data[j]`` for every row ``j``;
    otherwise write it, which rebuilds ``data``. Returns ``(code, row)``.
    """
    n_points, n_dims = tree_data.shape
    seen = np.zeros((n_points + 63) // 64, dtype=np.uint64)  # a bitset stays in cache longer
    for row in range(n_points):
        index = idx_array[row]
        if index < 0 or index >= n_points:
            return INDEX_RANGE, row
        word = index >> 6
        bit = np.uint64(1) << np.uint64(index & 63)
        if seen[word] & bit:
            return INDEX_DUPLICATE, row
        seen[word] |= bit
        for c in range(n_dims):
            if compare:
                if data[index, c] != tree_data[row, c]:
                    return DATA_MISMATCH, row
            else:
                data[index, c] = tree_data[row, c]
    return OK, 0


def _raise_on(result, source: str) -> None:
    code, where = result
    if code != OK:
        raise TreeFileError(f"{source}: invalid tree: {_MESSAGES[code].format(int(where))}")


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

    def __init__(self, n_points, n_dims, dtype, index_dtype, fields, source):
        self.source = source
        self.n_points = _require_int(n_points, "n_points", 1, source)
        self.n_dims = _require_int(n_dims, "n_dims", 1, source)
        self.dtype = np.dtype(_require_choice(dtype, "dtype", FLOAT_DTYPES, source))
        self.index_dtype = np.dtype(_require_choice(index_dtype, "index_dtype", INDEX_DTYPES, source))
        if self.index_dtype == np.int32 and self.n_points > INT32_MAX:
            raise TreeFileError(f"{source}: {self.n_points} points cannot be indexed with int32")
        if not isinstance(fields, dict):
            raise TreeFileError(f"{source}: the tree parameters must be a JSON object")
        unknown = sorted(set(fields) - {name for name, _, _ in TREE_FIELDS})
        if unknown:
            raise TreeFileError(f"{source}: unknown tree parameter(s) {unknown} (from a newer kdforge?)")
        values = {}
        for name, _, default in TREE_FIELDS:
            if name not in fields and default is None:
                raise TreeFileError(f"{source}: tree parameter {name!r} is missing")
            values[name] = fields.get(name, default)
        self.fields = {
            "leaf_size": _require_int(values["leaf_size"], "leaf_size", 1, source),
            "split": _require_choice(values["split"], "split", SPLITS, source),
            "division": _require_choice(values["division"], "division", DIVISIONS, source),
            "n_levels": _require_int(values["n_levels"], "n_levels", 0, source),
        }
        levels, self.n_nodes = tree_shape(self.n_points, self.fields["leaf_size"],
                                          DIVISIONS[self.fields["division"]])
        if self.fields["n_levels"] != levels:
            raise TreeFileError(
                f"{source}: n_levels is {self.fields['n_levels']} but a {self.fields['division']!r} "
                f"tree of {self.n_points} points with leaf_size {self.fields['leaf_size']} has {levels}")
        self.n_internal = (self.n_nodes - 1) // 2
        if self.n_nodes.bit_length() - 1 != self.fields["n_levels"]:
            raise TreeFileError(f"{source}: the deepest of {self.n_nodes} nodes is not at depth n_levels")

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
            "data": (self.dtype, (n, d)),
        }


def _tree_fields(tree) -> dict:
    """The tree's scalar parameters, by file name (defaults for attributes it lacks)."""
    fields = {}
    for name, attribute, default in TREE_FIELDS:
        value = getattr(tree, attribute, default)
        fields[name] = value if isinstance(value, str) else int(value)
    return fields


def _tree_arrays(tree, include_data: bool) -> dict:
    return {name: getattr(tree, attribute) for name, attribute in TREE_ARRAYS
            if include_data or name not in OPTIONAL_ARRAYS}


def _validate(layout: _Layout, arrays: dict, verify_contents: bool, copy_nodes: bool) -> dict:
    """Run the structural (and optionally content) checks; return the arrays to use.

    ``copy_nodes`` copies the arrays the structural check protects before checking them, so
    that the checked values are the ones used even when the originals map a file.
    """
    source = layout.source
    checked = dict(arrays)
    if copy_nodes:
        for name in ("node_start", "node_end", "split_dim"):
            checked[name] = arrays[name].copy()
    _raise_on(check_structure(checked["node_start"], checked["node_end"], checked["split_dim"],
                              layout.n_points, layout.n_dims, layout.n_internal), source)
    if verify_contents:
        _raise_on(check_geometry(checked["tree_data"], checked["node_start"], checked["node_end"],
                                 checked["split_dim"], checked["split_value"], checked["node_bounds"],
                                 layout.n_internal), source)
    if "data" not in checked:
        data = np.empty((layout.n_points, layout.n_dims), dtype=layout.dtype)
        _raise_on(scatter_points(checked["tree_data"], checked["idx_array"], data, False), source)
        checked["data"] = data
    elif verify_contents:
        _raise_on(scatter_points(checked["tree_data"], checked["idx_array"], checked["data"], True),
                  source)
    return checked


def _assemble(tree, layout: _Layout, arrays: dict) -> None:
    """Set the attributes of ``tree`` (a bare instance) from validated parts."""
    for name, attribute, _ in TREE_FIELDS:
        setattr(tree, attribute, layout.fields[name])
    for name, attribute in TREE_ARRAYS:
        setattr(tree, attribute, arrays[name])


def _tree_class():
    from .tree import KDTree  # import here: kdforge.tree imports this module

    return KDTree


# ---------------------------------------------------------------------- saving
def _align(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


def _library_version() -> str:
    from . import __version__  # import here: the package imports this module

    return __version__


def save(tree, path, *, include_data: bool = True) -> None:
    """Write ``tree`` to the file ``path`` (see the module documentation for the format).

    Parameters
    ----------
    tree : KDTree
        The tree to save.
    path : str or os.PathLike
        Destination. The file is written under a temporary name in the same directory and
        then renamed over ``path``, so readers never see a partial file and a tree still
        memory-mapped from an older file at ``path`` keeps working (on POSIX systems;
        Windows refuses to replace a file that is mapped).
    include_data : bool, default True
        Also store the points in their original order. Without them the file is
        ``n * d * itemsize`` bytes smaller but :func:`load` must rebuild them (O(n)).
    """
    fields = _tree_fields(tree)
    arrays = {name: np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
              for name, arr in _tree_arrays(tree, include_data).items()}
    tree_data = arrays["tree_data"]
    specs = {}
    for name, arr in arrays.items():
        specs[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape),
                       "crc32": zlib.crc32(memoryview(arr).cast("B"))}
    header = {
        "library_version": _library_version(),
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
    temporary = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "xb") as out:
            out.write(PREAMBLE.pack(MAGIC, FORMAT_VERSION, len(header_bytes), zlib.crc32(header_bytes)))
            out.write(header_bytes)
            position = PREAMBLE.size + len(header_bytes)
            for name, arr in arrays.items():
                out.write(bytes(specs[name]["offset"] - position))
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
    """Read and check the preamble and JSON header; return ``(layout, array entries)``."""
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
    layout = _Layout(header.get("n_points"), header.get("n_dims"), header.get("dtype"),
                     header.get("index_dtype"), header.get("tree"), source)
    entries = header.get("arrays")
    if not isinstance(entries, dict):
        raise TreeFileError(f"{source}: header has no 'arrays' object")
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
        crc = _require_int(entry.get("crc32"), f"crc32 of {name!r}", 0, source)
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
    return layout, arrays


def load(path, mmap: bool = True, verify_checksum: bool = True, verify_contents: bool = True):
    """Load a tree written by :meth:`KDTree.save <PersistenceMixin.save>`.

    Parameters
    ----------
    path : str or os.PathLike
        The tree file.
    mmap : bool, default True
        Memory-map the arrays (copy-on-write: the tree can never write to the file) instead
        of reading them into memory. Loading then reads only what validation needs, and the
        operating system pages the rest in as queries touch it; processes that load the
        same file share those pages.
    verify_checksum : bool, default True
        Check the CRC-32 of every array, which reads the whole file (about 4 GB/s). Turn
        it off for large trusted files.
    verify_contents : bool, default True
        Check the values of the tree (boxes, split values, points inside their leaves,
        ``idx_array`` a permutation, ``data`` consistent with ``tree_data``), in O(n d).
        With it, a loaded tree answers exactly like brute force over its points. Turn it off
        for large trusted files: the structural checks that keep queries inside the arrays
        always run (see the module documentation).

    Returns
    -------
    KDTree

    Raises
    ------
    TreeFileError
        The file is not a valid tree file, is corrupt, truncated, or has an unsupported
        format version.
    """
    source = os.fspath(path)
    with open(source, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        layout, entries = _read_header(file, size, source)
        if mmap:
            try:
                buffer = _mmap.mmap(file.fileno(), size, access=_mmap.ACCESS_COPY)
            except ValueError as exc:  # the file shrank since it was measured
                raise TreeFileError(f"{source}: {exc}") from None
        else:
            storage = np.empty(size + ALIGNMENT, dtype=np.uint8)
            start = -storage.ctypes.data % ALIGNMENT
            buffer = storage[start:start + size]
            file.seek(0)
            if file.readinto(buffer) != size:
                raise TreeFileError(f"{source}: the file changed while it was read")
    view = memoryview(buffer)
    arrays = {}
    for offset, name, dtype, shape, nbytes, crc in entries:
        if verify_checksum and zlib.crc32(view[offset:offset + nbytes]) != crc:
            raise TreeFileError(f"{source}: checksum mismatch in array {name!r}: the file is corrupt")
        arr = np.frombuffer(buffer, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        arrays[name] = arr.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    view.release()
    arrays = _validate(layout, arrays, verify_contents, copy_nodes=mmap)
    tree_class = _tree_class()
    tree = tree_class.__new__(tree_class)
    _assemble(tree, layout, arrays)
    return tree


# ---------------------------------------------------------------------- the mixin
class PersistenceMixin:
    """Saving and pickling for :class:`kdforge.KDTree`.

    A pickled tree carries its arrays and parameters; unpickling runs the structural checks
    of :func:`load` (not the O(n) content checks) and never rebuilds the tree. NumPy
    arrays support pickle protocol 5, so ``pickle.dumps(tree, protocol=5,
    buffer_callback=...)`` passes the arrays out of band without copying them.
    """

    def save(self, path, *, include_data: bool = True) -> None:
        """Write the tree to the file ``path``; read it back with :func:`kdforge.io.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination, replaced atomically.
        include_data : bool, default True
            Also store the points in their original order (see :func:`kdforge.io.save`).
        """
        save(self, path, include_data=include_data)

    def __getstate__(self) -> dict:
        return {"format_version": FORMAT_VERSION, "tree": _tree_fields(self),
                "arrays": _tree_arrays(self, include_data=True)}

    def __setstate__(self, state: dict) -> None:
        source = "pickled KDTree"
        _check_version(state.get("format_version"), source)
        arrays = {name: np.asarray(arr) for name, arr in state["arrays"].items()}
        tree_data = arrays["tree_data"]
        if tree_data.ndim != 2:
            raise TreeFileError(f"{source}: tree_data must be 2-D, got shape {tree_data.shape}")
        layout = _Layout(tree_data.shape[0], tree_data.shape[1], tree_data.dtype.name,
                         arrays["idx_array"].dtype.name, state["tree"], source)
        for name, (dtype, shape) in layout.array_specs().items():
            arr = arrays.get(name)
            if arr is None or arr.dtype != dtype or arr.shape != shape:
                raise TreeFileError(f"{source}: array {name!r} must have dtype {dtype} and shape {shape}")
            arrays[name] = np.ascontiguousarray(arr)
        _assemble(self, layout, _validate(layout, arrays, verify_contents=False, copy_nodes=False))
