"""WordIndex.save / WordIndex.load: the same answers after a reload, without a rebuild."""


import numpy as np
import pytest

from kdforge._treefile import TreeFileError
from kdforge.words import WordIndex


def vocabulary(n=1500, d=12, seed=0):
    rng = np.random.default_rng(seed)
    # synthetic words, some non-ASCII, one duplicate (the first keeps the lookup)
    words = [f"w{i}" + ("é" if i % 7 == 0 else "") + ("中" if i % 11 == 0 else "") for i in range(n)]
    words[-1] = words[3]
    return words, rng.standard_normal((n, d)).astype(np.float32)


@pytest.fixture(scope="module", params=[False, True], ids=["exact", "approximate"])
def index(request):
    words, vectors = vocabulary()
    return WordIndex(words, vectors, approximate=request.param, n_trees=3, leaf_size=16,
                     max_leaves=24)


@pytest.mark.parametrize("mmap", [True, False])
def test_reload_gives_the_same_answers(index, tmp_path, mmap):
    path = tmp_path / "words.kdw"
    index.save(path)
    loaded = WordIndex.load(path, mmap=mmap)
    assert loaded.words == index.words
    assert repr(loaded) == repr(index)
    assert loaded.approximate == index.approximate
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    for word in ["w1", "w3", "w77é中", "w500"]:
        assert loaded.similar(word, k=8) == index.similar(word, k=8)
        assert loaded.index_of(word) == index.index_of(word)
    assert loaded.analogy("w1", "w2", "w5", k=5) == index.analogy("w1", "w2", "w5", k=5)
    vector = np.random.default_rng(3).standard_normal(12)
    assert loaded.similar(vector, k=5) == index.similar(vector, k=5)
    assert loaded.suggest("w12") == index.suggest("w12")


def test_reload_takes_milliseconds(tmp_path):
    words, vectors = vocabulary(n=20_000, d=16, seed=1)
    index = WordIndex(words, vectors, approximate=True, n_trees=2, leaf_size=32)
    path = tmp_path / "words.kdw"
    index.save(path)
    loaded = WordIndex.load(path, verify_checksum=False, verify_contents=False)
    assert loaded.similar("w10", k=3) == index.similar("w10", k=3)


def test_corrupt_files_are_refused(index, tmp_path):
    path = tmp_path / "words.kdw"
    index.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 3])
    with pytest.raises(TreeFileError, match="truncated"):
        WordIndex.load(path)
    flipped = bytearray(raw)
    flipped[-5] ^= 0x40
    path.write_bytes(bytes(flipped))
    with pytest.raises(TreeFileError, match="checksum"):
        WordIndex.load(path)


def test_a_forest_file_is_not_a_word_index(tmp_path):
    words, vectors = vocabulary(n=200)
    index = WordIndex(words, vectors, approximate=True, n_trees=2)
    index.index.save(tmp_path / "forest.kdf")
    with pytest.raises(TreeFileError, match="magic"):
        WordIndex.load(tmp_path / "forest.kdf")


def test_words_with_newlines_and_empty_words(tmp_path):
    words = ["a\nb", "", "c", "a\nb", "é"]
    vectors = np.random.default_rng(4).standard_normal((5, 3))
    index = WordIndex(words, vectors)
    index.save(tmp_path / "w.kdw")
    loaded = WordIndex.load(tmp_path / "w.kdw")
    assert loaded.words == words
    assert loaded.index_of("a\nb") == 0
    assert loaded.similar("c", k=2) == index.similar("c", k=2)
