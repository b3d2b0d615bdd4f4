"""The on-disk cache of the KD-forest of ``kdforge words --approx``.

Building the 16-tree forest over GloVe's 400,000 words takes about ten seconds, so the
first call saves it in the forest file format (:meth:`~kdforge.KDForest.save`) and later
calls map it back read-only (:func:`~kdforge.forest.load_forest`), which costs one checksum
pass over the file instead of a build.

* **Folder**: ``$KDFORGE_CACHE_DIR`` when set, else ``platformdirs.user_cache_dir("kdforge")``
  (``~/.cache/kdforge`` on Linux).
* **Key**: the file name holds a 64-bit BLAKE2b digest of everything the forest depends on:
  the kdforge version, the vectors' shape, dtype and a digest of all their bytes, and the
  forest's parameters. Any change gives another file; files of old keys are left alone.
* **Failures never fail the command**: a file that does not load (corrupt, truncated,
  written by another format) is rebuilt and overwritten; a folder that cannot be created or
  written, or a missing ``platformdirs``, means building in memory, said in one stderr line.
  Files are written under a temporary name in the same folder and renamed over the cache
  file (:meth:`~kdforge.KDForest.save`), so no reader ever sees a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._treefile import TreeFileError
from ._version import __version__
from .forest import KDForest, load_forest

__all__ = ["CACHE_DIR_ENV", "cache_dir", "vectors_fingerprint", "cache_path", "cached_forest"]

#: Environment variable naming the cache folder (overrides the platform's).
CACHE_DIR_ENV = "KDFORGE_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder: ``$KDFORGE_CACHE_DIR``, else the platform's user cache folder.

    Raises
    ------
    ImportError
        Without ``$KDFORGE_CACHE_DIR``, when ``platformdirs`` (of the ``kdforge[words]``
        extra) is not installed.
    """
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen)
    try:
        import platformdirs
    except ImportError:
        raise ImportError('the forest cache of `kdforge words` needs platformdirs: '
                          'pip install "kdforge[words]"') from None
    return Path(platformdirs.user_cache_dir("kdforge"))


def vectors_fingerprint(vectors: np.ndarray) -> str:
    """64-bit BLAKE2b digest (16 hex digits) of the shape, dtype and bytes of ``vectors``."""
    vectors = np.ascontiguousarray(vectors)
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{vectors.shape}{vectors.dtype.str}".encode())
    digest.update(memoryview(vectors).cast("B"))
    return digest.hexdigest()


def cache_path(vectors: np.ndarray, parameters: dict) -> Path:
    """The cache file of the forest that ``KDForest(vectors, **parameters)`` builds.

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        The word vectors, as given to the forest.
    parameters : dict
        Keyword arguments of :class:`~kdforge.KDForest`, JSON values only.

    Returns
    -------
    pathlib.Path
        ``words-forest-{n}x{d}-{key}.kdforest`` in :func:`cache_dir`.
    """
    n, d = vectors.shape
    key = json.dumps({"kdforge": __version__, "shape": [n, d], "dtype": vectors.dtype.str,
                      "vectors": vectors_fingerprint(vectors), "forest": parameters}, sort_keys=True)
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return cache_dir() / f"words-forest-{n}x{d}-{digest}.kdforest"


def _describe(vectors: np.ndarray, parameters: dict) -> str:
    return f"a {parameters['n_trees']}-tree KD-forest over {vectors.shape[0]:,} words"


def _load_cached(path: Path, vectors: np.ndarray, log) -> KDForest | None:
    """The forest of ``path``, or None (with a line on ``log`` when the file is unusable)."""
    if not path.exists():  # also when the folder's path is blocked by a file
        return None
    try:
        # the checksums catch flipped bytes; the contents are those this module wrote
        forest = load_forest(path, mmap=True, verify_checksum=True, verify_contents=False)
    except (TreeFileError, OSError) as exc:
        print(f"the cached forest is unusable ({exc}); rebuilding it", file=log)
        return None
    if forest.points.shape != vectors.shape or forest.metric != "cosine":
        print(f"the cached forest {path} does not match the vectors; rebuilding it", file=log)
        return None
    return forest


def _unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (created if missing), or None if they can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as exc:
        return f"{exc.strerror or exc}: {exc.filename or folder}"


def cached_forest(vectors: np.ndarray, parameters: dict, *, use_cache: bool = True,
                  log=None) -> KDForest:
    """``KDForest(vectors, **parameters)``, loaded from the cache or built (and cached).

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        The word vectors.
    parameters : dict
        Keyword arguments of :class:`~kdforge.KDForest` (JSON values only: they are part of
        the cache key).
    use_cache : bool, default True
        False builds in memory, neither reading nor writing the cache.
    log : file, optional
        Where the one line about the build or the load goes (default: ``sys.stderr``).

    Returns
    -------
    KDForest
    """
    log = sys.stderr if log is None else log
    vectors = np.asarray(vectors)
    what = _describe(vectors, parameters)
    if not use_cache:
        print(f"building {what} (in memory, not cached)", file=log)
        return KDForest(vectors, **parameters)
    try:
        path = cache_path(vectors, parameters)
    except ImportError as exc:
        print(f"{exc}; building {what} in memory", file=log)
        return KDForest(vectors, **parameters)
    forest = _load_cached(path, vectors, log)
    if forest is not None:
        print(f"loaded {what} from the cache ({path})", file=log)
        return forest
    reason = _unwritable_reason(path.parent)
    if reason is not None:
        print(f"cannot write the forest cache ({reason}); building {what} in memory", file=log)
        return KDForest(vectors, **parameters)
    print(f"building {what} (once; cached in {path})", file=log)
    forest = KDForest(vectors, **parameters)
    try:
        forest.save(path)
    except OSError as exc:
        print(f"could not write the forest cache ({exc}); the forest is used in memory", file=log)
    return forest
