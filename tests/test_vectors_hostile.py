"""Word-vector loaders on hostile files: float32 overflow, decompression bombs, bad bytes."""

import gzip
import struct
import tracemalloc

import numpy as np
import pytest

from kdforge import vectors as wvec


def glove_bytes(n_words=4, dim=3, value="0.5"):
    return b"".join(f"w{i} ".encode() + " ".join([value] * dim).encode() + b"\n" for i in range(n_words))


def gzip_bomb(path, payload: bytes, repeat: int, head: bytes = b""):
    """A .gz of ``head`` then ``payload`` * ``repeat``, written block by block."""
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(head)
        for _ in range(repeat):
            fh.write(payload)
    return path


def peak_bytes(function, *args, **kwargs):
    tracemalloc.start()
    try:
        try:
            function(*args, **kwargs)
        except ValueError as exc:
            outcome = exc
        else:
            outcome = None
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------- float32 range
@pytest.mark.parametrize("loader, header", [(wvec.load_glove_text, b""), (wvec.load_word2vec_text, b"4 3\n")])
def test_a_value_beyond_float32_is_an_error_naming_file_line_and_value(tmp_path, loader, header):
    lines = glove_bytes().splitlines(keepends=True)
    lines[2] = b"big 0.5 1e39 0.5\n"
    path = tmp_path / "v.txt"
    path.write_bytes(header + b"".join(lines))
    line_no = 3 + (1 if header else 0)
    with pytest.raises(ValueError, match=rf"v\.txt, line {line_no}: the value 1e\+39 is out of float32 range"):
        loader(path)
    words, vectors = loader(path, dtype=np.float64)  # float64 holds it
    assert vectors[2, 1] == 1e39 and words[2] == "big"
    lines[2] = b"neg 0.5 -3.5e38 0.5\n"
    path.write_bytes(header + b"".join(lines))
    with pytest.raises(ValueError, match="-3.5e\\+38 is out of float32 range"):
        loader(path)


def test_float32_max_itself_and_subnormals_load(tmp_path):
    top = repr(float(np.finfo(np.float32).max))
    path = tmp_path / "edge.txt"
    path.write_bytes(f"a {top} -{top} 1e-45\n".encode())
    _, vectors = wvec.load_glove_text(path)
    np.testing.assert_array_equal(vectors[0, :2], [np.finfo(np.float32).max, -np.finfo(np.float32).max])
    assert vectors[0, 2] == np.float32(1e-45)


# ---------------------------------------------------------------------- decompression bombs
def test_a_glove_gzip_bomb_without_line_ends_is_refused_in_bounded_memory(tmp_path):
    # 16 MiB of zeros in a ~16 KB gzip: one endless line.
    path = gzip_bomb(tmp_path / "bomb.txt.gz", b"0" * (1 << 20), 16)
    assert path.stat().st_size < 100_000
    peak, error = peak_bytes(wvec.load_glove_text, path)
    assert isinstance(error, ValueError) and "bomb.txt.gz, line 1: longer than" in str(error)
    assert peak < 3 * 4 * wvec.MAX_LINE_CHARS + (8 << 20), peak  # a line or so, never the 16 MiB
    with pytest.raises(ValueError, match="line 1: longer than"):
        wvec.load_vectors(path)


def test_a_gzip_of_many_lines_stops_at_max_words_without_inflating_the_rest(tmp_path):
    line = b"w 0.25 0.5\n"
    path = gzip_bomb(tmp_path / "many.txt.gz", line * 100_000, 20)  # 22 MB of text, ~60 KB gzip
    peak, error = peak_bytes(wvec.load_glove_text, path, max_words=10)
    assert error is None and peak < (4 << 20), peak
    words, vectors = wvec.load_glove_text(path, max_words=10)
    assert words == ["w"] * 10
    np.testing.assert_array_equal(vectors, np.tile(np.float32([0.25, 0.5]), (10, 1)))


def test_a_word2vec_binary_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    path = gzip_bomb(tmp_path / "bomb.bin.gz", bytes(1 << 20), 16, head=b"3 4\n")
    peak, error = peak_bytes(wvec.load_word2vec_binary, path)
    assert isinstance(error, ValueError) and "word 1 (byte offset 4) is longer than" in str(error)
    assert peak < (8 << 20), peak
    # max_words stops reading: the words after the first are never decompressed.
    good = b"a " + struct.pack("<4f", 1, 2, 3, 4)
    path = gzip_bomb(tmp_path / "long.bin.gz", good * 100_000, 20, head=b"2000000 4\n")
    peak, error = peak_bytes(wvec.load_word2vec_binary, path, max_words=5)
    assert error is None and peak < (8 << 20), peak
    words, vectors = wvec.load_word2vec_binary(path, max_words=5)
    assert words == ["a"] * 5 and vectors.tolist() == [[1, 2, 3, 4]] * 5


def test_a_huge_announced_word2vec_binary_count_allocates_only_what_is_read(tmp_path):
    path = tmp_path / "claims.bin"
    path.write_bytes(b"1000000000 1000000\na " + struct.pack("<4f", 1, 2, 3, 4))
    with pytest.raises(ValueError, match="truncated file: word 1 of 1000000000 needs 4000000 bytes"):
        wvec.load_word2vec_binary(path)


def test_blank_line_bombs_cost_time_not_memory(tmp_path):
    path = gzip_bomb(tmp_path / "blank.txt.gz", b"\n" * (1 << 16), 4, head=b"a 1 2\n")
    peak, error = peak_bytes(wvec.load_glove_text, path)
    assert error is None and peak < (4 << 20), peak


# ---------------------------------------------------------------------- bad bytes
@pytest.mark.parametrize("gz", [False, True])
def test_a_non_utf8_word_names_file_line_and_word(tmp_path, gz):
    lines = glove_bytes(n_words=20000).splitlines(keepends=True)
    lines[12345] = b"caf\xe9 0.5 0.5 0.5\n"  # latin-1, past the first decoded chunk
    data = b"".join(lines)
    path = tmp_path / ("latin.txt.gz" if gz else "latin.txt")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(UnicodeDecodeError, match=r"latin\.txt(\.gz)?, line 12346, word b'caf\\xe9'") as info:
        wvec.load_glove_text(path)
    assert isinstance(info.value, ValueError)
    words, _ = wvec.load_glove_text(path, unicode_errors="replace")
    assert words[12345] == "caf\ufffd"
    words, _ = wvec.load_glove_text(path, encoding="latin-1")
    assert words[12345] == "café"


def test_a_non_utf8_word2vec_text_line_counts_the_header(tmp_path):
    path = tmp_path / "w2v.txt"
    path.write_bytes(b"3 3\n" + glove_bytes(2) + b"\xff\xfe 1 2 3\n")
    with pytest.raises(UnicodeDecodeError, match=r"w2v\.txt, line 4"):
        wvec.load_word2vec_text(path)


@pytest.mark.parametrize("gz", [False, True])
def test_a_non_utf8_binary_word_names_file_and_word_number(tmp_path, gz):
    body = b"3 2\n" + b"".join(w + b" " + struct.pack("<2f", 1, 2) for w in (b"ok", b"also", b"\xff\xfebad"))
    path = tmp_path / ("w.bin.gz" if gz else "w.bin")
    path.write_bytes(gzip.compress(body) if gz else body)
    with pytest.raises(UnicodeDecodeError, match=r"w\.bin(\.gz)?, word 3 at byte offset 28"):
        wvec.load_word2vec_binary(path)
    words, _ = wvec.load_word2vec_binary(path, unicode_errors="replace")
    assert words[2] == "\ufffd\ufffdbad"


def test_an_overlong_text_line_is_refused_uncompressed_too(tmp_path, monkeypatch):
    monkeypatch.setattr(wvec, "MAX_LINE_CHARS", 64)
    path = tmp_path / "long.txt"
    path.write_bytes(glove_bytes(3) + b"x " + b"1 " * 40 + b"\n")
    with pytest.raises(ValueError, match=r"long\.txt, line 4: longer than 64 characters"):
        wvec.load_glove_text(path)
