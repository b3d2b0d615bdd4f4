"""Save, load and share KD-trees without rebuilding them.

:meth:`KDTree.save <kdforge.KDTree.save>` writes a tree to one file and :func:`load` reads
it back, memory-mapped by default so that loading costs almost nothing whatever the size of
the tree. Trees also pickle: their arrays travel and the tree is not rebuilt, so a tree can
be sent to ``multiprocessing`` workers. To share a large tree between processes without
copying it into each of them, save it once and let every process :func:`load` the file: the
memory maps share the operating system's page cache.

The file format, its versions and the validation of untrusted files are documented in
:mod:`kdforge._treefile`.
"""

from __future__ import annotations

from ._treefile import FORMAT_VERSION, TreeFileError, read_tree, write_tree
from .tree import KDTree

__all__ = ["FORMAT_VERSION", "TreeFileError", "load", "save"]


def save(tree: KDTree, path, *, include_data: bool = True) -> None:
    """Write ``tree`` to the file ``path``; the same as ``tree.save(path)``.

    Parameters
    ----------
    tree : KDTree
        The tree to save.
    path : str or os.PathLike
        Destination, replaced atomically (see :func:`kdforge._treefile.write_tree`).
    include_data : bool, default True
        Also store the points in their original order. Without them the file is
        ``n * d * itemsize`` bytes smaller but :func:`load` must rebuild them (O(n)).
    """
    if not isinstance(tree, KDTree):
        raise TypeError(f"save() takes a KDTree, got {type(tree).__name__}")
    tree.save(path, include_data=include_data)


def load(path, mmap: bool = True, verify_checksum: bool = True, verify_contents: bool = True) -> KDTree:
    """Load a tree written by :meth:`KDTree.save <kdforge.KDTree.save>`.

    Parameters
    ----------
    path : str or os.PathLike
        The tree file.
    mmap : bool, default True
        Memory-map the arrays (read-only: nothing can write to the file through the tree) instead
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
        always run (see :mod:`kdforge._treefile`).

    Returns
    -------
    KDTree

    Raises
    ------
    TreeFileError
        The file is not a valid tree file, is corrupt, truncated, or has an unsupported
        format version.
    """
    record, data = read_tree(path, mmap=bool(mmap), verify_checksum=bool(verify_checksum),
                             verify_contents=bool(verify_contents))
    return KDTree._from_trusted_record(record, data)
