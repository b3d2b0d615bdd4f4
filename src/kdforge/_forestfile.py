"""The forest file format and the pickled state of a :class:`~kdforge.KDForest`.

A forest file is laid out like a tree file (:mod:`kdforge._treefile`, whose preamble,
alignment and error type it shares): a 20-byte preamble (magic ``b"\\x89KDFORST"``, format
version, header length, CRC-32 of the header), a UTF-8 JSON header, then every array at a
64-byte aligned offset as raw C-order little-endian bytes with a CRC-32 of its bytes in the
header. The header holds the forest's parameters under ``"forest"`` and the arrays under
``"arrays"`` (``{"offset", "dtype", "shape", "crc32"}``). Files never contain pickles.

Loads are memory-mapped read-only by default and validated before any kernel touches the
arrays (the best-bin-first kernel does not check bounds), raising
:class:`~kdforge._treefile.TreeFileError`:

* always (memory safety, O(nodes + n_trees * n)): every header field and array shape and
  dtype; per tree, the node ranges (root ``[0, n)``, children splitting their parent's
  rows into two non-empty ranges), split dimensions in ``[0, d)`` (-1 at leaves), leaves
  no larger than the code blocks, ``idx_array`` entries in ``[0, n)``. The arrays this
  checks are copied out of a memory map first.
* ``verify_contents=True`` (O(n_trees * n * d)): finite values, positive code scales,
  orthonormal rotations, each tree's ``idx_array`` a permutation of ``range(n)``, and every
  code within half a step of its point's scan coordinate (what the screen's error bound
  assumes). The split values and root boxes are not re-derived: a crafted file with wrong
  ones can lower the recall, never leave the arrays.
* ``verify_checksum=True`` (O(file size)): the CRC-32 of every array.

A pickle carries the same parameters and arrays and is always validated in full.
"""

from __future__ import annotations

import json
import math
import mmap as _mmap
import os
import stat
import uuid
import zlib

import numpy as np

from ._kernels.checks import check_structure
from ._metric_names import resolve_metric
from ._treefile import (
    ALIGNMENT,
    MAX_HEADER_BYTES,
    PREAMBLE,
    TreeFileError,
    _align,
    _raise_on,
    _require_int,
)
from ._version import __version__
from .record import heap_links

__all__ = ["FOREST_MAGIC", "FOREST_FORMAT_VERSION", "write_forest", "read_forest",
           "check_forest_state", "write_array_file", "read_array_file"]

#: First bytes of every forest file.
FOREST_MAGIC = b"\x89KDFORST"
#: Version of the forest file format and pickled state written by this kdforge.
FOREST_FORMAT_VERSION = 1
#: Parameters of a forest, as its header and pickled state spell them.
FOREST_FIELDS = ("n_trees", "leaf_size", "metric", "p", "rotation", "split_jitter", "rounding",
                 "points_l1", "n_nodes", "n_levels")
_ROTATIONS = ("random", "pca", None)


# ---------------------------------------------------------------------- generic array files
def write_array_file(path, magic: bytes, version: int, fields: dict, arrays: dict) -> None:
    """Write ``fields`` (JSON) and ``arrays`` to ``path`` atomically (temporary file, rename)."""
    arrays = {name: np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
              for name, arr in arrays.items()}
    specs = {name: {"dtype": arr.dtype.str, "shape": list(arr.shape),
                    "crc32": zlib.crc32(memoryview(arr).cast("B"))} for name, arr in arrays.items()}
    header = {"library_version": __version__, "fields": fields, "arrays": specs}
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
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(f"{path}: header of {len(header_bytes)} bytes is too large")
    path = os.fspath(path)
    if os.path.islink(path):
        path = os.path.realpath(path)
    temporary = f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "xb") as out:
            out.write(PREAMBLE.pack(magic, version, len(header_bytes), zlib.crc32(header_bytes)))
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


def read_array_file(path, magic: bytes, max_version: int, what: str, mmap: bool = True,
                    verify_checksum: bool = True) -> tuple[int, dict, dict]:
    """Read a file of :func:`write_array_file`: ``(version, fields, arrays)``.

    The preamble, header and array table are checked (offsets aligned, inside the file,
    not overlapping, the file ending where the last array ends); arrays are read-only
    (memory-mapped, or one aligned read-only buffer). Their contents are not checked here.
    """
    source = os.fspath(path)
    if not stat.S_ISREG(os.stat(source).st_mode):
        raise TreeFileError(f"{source}: not a regular file, so not a {what} file")
    with open(source, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < PREAMBLE.size:
            raise TreeFileError(f"{source}: file too short ({size} bytes) to be a {what} file")
        file_magic, version, header_length, header_crc = PREAMBLE.unpack(file.read(PREAMBLE.size))
        if file_magic != magic:
            raise TreeFileError(f"{source}: not a kdforge {what} file (bad magic bytes {file_magic!r})")
        if version < 1 or version > max_version:
            raise TreeFileError(f"{source}: {what} file format version {version} is not supported "
                                f"(this kdforge reads up to {max_version}; upgrade kdforge)")
        if header_length > MAX_HEADER_BYTES or PREAMBLE.size + header_length > size:
            raise TreeFileError(f"{source}: header length {header_length} does not fit the file "
                                "(truncated?)")
        header_bytes = file.read(header_length)
        if zlib.crc32(header_bytes) != header_crc:
            raise TreeFileError(f"{source}: header checksum mismatch: the file is corrupt")
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise TreeFileError(f"{source}: header is not valid JSON: {exc}") from None
        if (not isinstance(header, dict) or not isinstance(header.get("fields"), dict)
                or not isinstance(header.get("arrays"), dict)):
            raise TreeFileError(f"{source}: header lacks its 'fields' and 'arrays' objects")
        table = []
        for name, entry in header["arrays"].items():
            if not isinstance(entry, dict):
                raise TreeFileError(f"{source}: array {name!r} is not described by a JSON object")
            try:
                dtype = np.dtype(entry.get("dtype"))
            except TypeError:
                raise TreeFileError(f"{source}: array {name!r} has an unknown dtype") from None
            if dtype.kind not in "fiub" or dtype.str[0] not in "<|":
                raise TreeFileError(f"{source}: array {name!r} has dtype {dtype.str!r}, expected "
                                    "a little-endian number type")
            shape = entry.get("shape")
            if (not isinstance(shape, list) or
                    not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
                raise TreeFileError(f"{source}: array {name!r} has an invalid shape {shape!r}")
            offset = _require_int(entry.get("offset"), f"offset of {name!r}",
                                  PREAMBLE.size + header_length, source)
            crc = _require_int(entry.get("crc32"), f"crc32 of {name!r}", 0, source)
            if offset % ALIGNMENT:
                raise TreeFileError(f"{source}: array {name!r} at offset {offset} is not "
                                    f"{ALIGNMENT}-byte aligned")
            table.append((offset, name, dtype, tuple(shape), math.prod(shape) * dtype.itemsize, crc))
        table.sort()
        end = PREAMBLE.size + header_length
        for offset, name, _, _, nbytes, _ in table:
            if offset < end:
                raise TreeFileError(f"{source}: array {name!r} overlaps the header or another array")
            end = offset + nbytes
        if end != size:
            raise TreeFileError(f"{source}: the file has {size} bytes but its arrays end at byte "
                                f"{end} ({'truncated' if size < end else 'trailing data'})")
        if mmap:
            try:
                buffer = _mmap.mmap(file.fileno(), size, access=_mmap.ACCESS_READ)
            except ValueError as exc:
                raise TreeFileError(f"{source}: {exc}") from None
        else:
            storage = np.empty(size + ALIGNMENT, dtype=np.uint8)
            start = -storage.ctypes.data % ALIGNMENT
            buffer = storage[start:start + size]
            file.seek(0)
            if file.readinto(buffer) != size:
                raise TreeFileError(f"{source}: the file changed while it was read")
            storage.flags.writeable = False
    view = memoryview(buffer)
    arrays = {}
    for offset, name, dtype, shape, nbytes, crc in table:
        if verify_checksum and zlib.crc32(view[offset:offset + nbytes]) != crc:
            raise TreeFileError(f"{source}: checksum mismatch in array {name!r}: the file is corrupt")
        arr = np.frombuffer(buffer, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        arrays[name] = arr.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    view.release()
    return version, header["fields"], arrays


# ---------------------------------------------------------------------- forest validation
def _expect(arrays: dict, name: str, dtypes, shape, source: str) -> np.ndarray:
    arr = arrays.get(name)
    if not isinstance(arr, np.ndarray) or arr.dtype not in [np.dtype(t) for t in dtypes] \
            or arr.shape != tuple(shape):
        raise TreeFileError(f"{source}: array {name!r} must have dtype "
                            f"{' or '.join(np.dtype(t).name for t in dtypes)} and shape {tuple(shape)}, "
                            f"got {getattr(arr, 'dtype', None)} {getattr(arr, 'shape', None)}")
    return np.ascontiguousarray(arr)


def _finite_float(value, name: str, source: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or value < 0:
        raise TreeFileError(f"{source}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_forest_state(fields, arrays, verify_contents: bool, copy_checked: bool,
                       source: str) -> tuple[dict, dict]:
    """Validate a forest's parameters and arrays (see the module documentation).

    ``copy_checked`` copies the arrays the structural check protects before checking them
    (for memory-mapped arrays, so that the checked values are the ones used). Returns the
    parameters (plain Python values) and the arrays (C-contiguous).
    """
    if not isinstance(fields, dict) or not isinstance(arrays, dict):
        raise TreeFileError(f"{source}: the forest parameters and arrays must be dicts")
    unknown = sorted(set(fields) - set(FOREST_FIELDS))
    missing = [name for name in FOREST_FIELDS if name not in fields]
    if unknown or missing:
        raise TreeFileError(f"{source}: forest parameters missing {missing} or unknown {unknown}")
    given_p = math.inf if fields["p"] == "inf" else fields["p"]  # JSON has no infinity
    try:
        metric = fields["metric"]
        _, p, cosine = resolve_metric(metric, given_p if metric == "minkowski" else None)
    except (TypeError, ValueError) as exc:
        raise TreeFileError(f"{source}: invalid metric: {exc}") from None
    if p != given_p:
        raise TreeFileError(f"{source}: p {fields['p']!r} does not match metric {metric!r}")
    rotation = fields["rotation"]
    if rotation not in _ROTATIONS or (rotation is not None and p != 2.0):
        raise TreeFileError(f"{source}: invalid rotation {rotation!r} for metric {metric!r}")
    n_trees = _require_int(fields["n_trees"], "n_trees", 1, source)
    leaf_size = _require_int(fields["leaf_size"], "leaf_size", 1, source)
    split_jitter = _require_int(fields["split_jitter"], "split_jitter", 0, source)
    n_nodes = _require_int(fields["n_nodes"], "n_nodes", 1, source)
    n_levels = _require_int(fields["n_levels"], "n_levels", 0, source)
    if n_nodes % 2 != 1 or n_nodes.bit_length() - 1 != n_levels:
        raise TreeFileError(f"{source}: {n_nodes} nodes per tree do not make a tree of depth {n_levels}")
    rounding = _finite_float(fields["rounding"], "rounding", source)
    points_l1 = _finite_float(fields["points_l1"], "points_l1", source)

    points = arrays.get("points")
    if not isinstance(points, np.ndarray) or points.ndim != 2 or points.dtype not in (np.float32, np.float64) \
            or points.shape[0] < 1 or points.shape[1] < 1:
        raise TreeFileError(f"{source}: points must be a non-empty 2-D float32 or float64 array")
    n, d = points.shape
    n_internal = n_nodes // 2
    n_leaves = n_nodes - n_internal
    codes = arrays.get("codes")
    if not isinstance(codes, np.ndarray) or codes.ndim != 3 or codes.shape[2] < 1:
        raise TreeFileError(f"{source}: codes must be a 3-D int8 array")
    cap = codes.shape[2]
    out = {"points": np.ascontiguousarray(points),
           "codes": _expect(arrays, "codes", [np.int8], (n_trees * n_leaves, d, cap), source)}
    for name in ("mean", "code_centre", "code_scale"):
        out[name] = _expect(arrays, name, [np.float64], (d,), source)
    for name in ("root_lower", "root_upper"):
        out[name] = _expect(arrays, name, [np.float64], (n_trees, d), source)
    out["idx_array"] = _expect(arrays, "idx_array", [np.int32, np.int64], (n_trees * n,), source)
    out["split_value"] = _expect(arrays, "split_value", [np.float64], (n_trees * n_nodes,), source)
    for name, dtypes in (("node_start", [np.int64]), ("node_end", [np.int64]), ("split_dim", [np.int32])):
        out[name] = _expect(arrays, name, dtypes, (n_trees * n_nodes,), source)
    if rotation is not None:
        out["scan_axes"] = _expect(arrays, "scan_axes", [np.float64], (d, d), source)
    if rotation == "random":
        out["frames"] = _expect(arrays, "frames", [np.float64], (n_trees, d, d), source)
    extra = sorted(set(arrays) - set(out))
    if extra:
        raise TreeFileError(f"{source}: unexpected arrays {extra}")
    if copy_checked:
        for name in ("idx_array", "node_start", "node_end", "split_dim"):
            out[name] = out[name].copy()

    # Structure: what keeps the kernel inside its arrays.
    idx = out["idx_array"]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise TreeFileError(f"{source}: idx_array has entries outside [0, {n})")
    children, parent = heap_links(n_nodes, np.int64)  # the median trees share one shape
    for t in range(n_trees):
        nodes = slice(t * n_nodes, (t + 1) * n_nodes)
        start = out["node_start"][nodes] - t * n
        end = out["node_end"][nodes] - t * n
        _raise_on(check_structure(start, end, out["split_dim"][nodes], children, parent, n, d,
                                  n_levels), f"{source} (tree {t})")
        if int((end[n_internal:] - start[n_internal:]).max()) > cap:
            raise TreeFileError(f"{source}: tree {t} has a leaf larger than the code blocks ({cap})")

    if verify_contents:
        _check_contents(out, n_trees, n_internal, n_leaves, rotation, source)
    params = {"n_trees": n_trees, "leaf_size": leaf_size, "metric": metric, "p": p, "cosine": cosine,
              "rotation": rotation, "split_jitter": split_jitter, "rounding": rounding,
              "points_l1": points_l1, "n_nodes": n_nodes, "n_levels": n_levels}
    return params, out


def _check_contents(arrays: dict, n_trees: int, n_internal: int, n_leaves: int, rotation,
                    source: str) -> None:
    """The O(n_trees n d) checks of ``verify_contents``."""
    points = arrays["points"]
    n, d = points.shape
    for name in ("points", "mean", "code_centre", "code_scale", "root_lower", "root_upper",
                 "split_value", "scan_axes", "frames"):
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise TreeFileError(f"{source}: array {name!r} has non-finite values")
    if not (arrays["code_scale"] > 0).all():
        raise TreeFileError(f"{source}: code_scale must be positive")
    for name in ("scan_axes", "frames"):
        if name in arrays:
            mats = arrays[name].reshape(-1, d, d)
            gram = np.einsum("tij,tik->tjk", mats, mats)
            if not np.allclose(gram, np.eye(d), rtol=0, atol=1e-9):
                raise TreeFileError(f"{source}: array {name!r} is not orthonormal")
    if rotation is None:
        scan = points.astype(np.float64)
    else:
        scan = (points - arrays["mean"]) @ arrays["scan_axes"]
    cap = arrays["codes"].shape[2]
    n_nodes = 2 * n_internal + 1
    columns = np.arange(cap)
    for t in range(n_trees):
        tree_idx = arrays["idx_array"][t * n:(t + 1) * n]
        if not (np.bincount(tree_idx, minlength=n) == 1).all():
            raise TreeFileError(f"{source}: tree {t}'s idx_array is not a permutation of range({n})")
        leaves = slice(t * n_nodes + n_internal, (t + 1) * n_nodes)
        starts = arrays["node_start"][leaves] - t * n
        sizes = arrays["node_end"][leaves] - arrays["node_start"][leaves]
        used = columns[None, :] < sizes[:, None]
        rows = tree_idx[np.minimum(starts[:, None] + columns[None, :], n - 1)]
        expected = (scan[rows] - arrays["code_centre"]) / arrays["code_scale"]  # (leaves, cap, d)
        codes = arrays["codes"][t * n_leaves:(t + 1) * n_leaves].transpose(0, 2, 1)
        off = np.abs(codes - expected) > 0.5 + 1e-6
        if (off & used[:, :, None]).any():
            raise TreeFileError(f"{source}: tree {t}'s codes do not encode its points")


# ---------------------------------------------------------------------- forest files
def write_forest(path, fields: dict, arrays: dict) -> None:
    """Write a forest's parameters and arrays to ``path`` (see the module documentation)."""
    fields = dict(fields, p="inf" if math.isinf(fields["p"]) else fields["p"])
    write_array_file(path, FOREST_MAGIC, FOREST_FORMAT_VERSION, fields, arrays)


def read_forest(path, mmap: bool = True, verify_checksum: bool = True,
                verify_contents: bool = True) -> tuple[dict, dict]:
    """Read and validate a forest file: ``(parameters, arrays)``."""
    _, fields, arrays = read_array_file(path, FOREST_MAGIC, FOREST_FORMAT_VERSION, "forest",
                                        mmap=mmap, verify_checksum=verify_checksum)
    return check_forest_state(fields, arrays, verify_contents, copy_checked=mmap,
                              source=os.fspath(path))
