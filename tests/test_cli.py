"""The `kdforge` command: `compile`, the flag checks of `words`, and the compile notice."""

import os
import subprocess
import sys

import numpy as np
import pytest

from kdforge import _compile
from kdforge.cli import check_query_word, main
from kdforge.words import UnknownWordError

WORDS = ["the", "paris", "king", "queen", "london", "kings"]
VECTORS = np.random.default_rng(0).standard_normal((len(WORDS), 4))


@pytest.mark.parametrize("flags", [["--max-leaves", "64"], ["--trees", "4"], ["--max-leaves", "8", "--trees", "2"]])
def test_words_flags_that_need_approx_are_an_error(flags, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["words", "king", *flags])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "only apply to approximate search: add --approx" in err and "usage: kdforge words" in err


def test_query_word_checked_before_any_build():
    assert check_query_word("queen", WORDS, VECTORS, k=3) == 3
    with pytest.raises(UnknownWordError) as caught:
        check_query_word("Paris", WORDS, VECTORS, k=3)
    assert caught.value.suggestions == ["paris"] and "did you mean 'paris'" in str(caught.value)
    with pytest.raises(UnknownWordError) as caught:
        check_query_word("kinng", WORDS, VECTORS, k=3)
    assert caught.value.suggestions[0] == "king"
    with pytest.raises(UnknownWordError) as caught:
        check_query_word("zzzz", WORDS, VECTORS, k=3)
    assert caught.value.suggestions == []


def test_k_must_be_below_the_vocabulary_size():
    assert check_query_word("the", WORDS, VECTORS, k=len(WORDS) - 1) == 0
    with pytest.raises(ValueError, match=r"--k must be below the vocabulary size \(6 words\), got 6"):
        check_query_word("the", WORDS, VECTORS, k=len(WORDS))


def test_compile_command_leaves_no_cold_kernel(capsys):
    assert main(["compile", "--no-progress"]) == 0
    assert "compiled or loaded from the cache for float32 and float64" in capsys.readouterr().out
    for kind in _compile.KERNELS:
        for dtype in (np.float32, np.float64):
            assert _compile.cold_kernels(kind, dtype) == [], (kind, dtype)


def test_compile_steps_cover_both_dtypes_and_every_kind():
    described = [description for description, _ in _compile.compile_steps()]
    for dtype in ("float32", "float64"):
        mine = [d for d in described if d.endswith(f"({dtype})")]
        assert len(mine) == len(described) // 2
    with pytest.raises(ValueError, match="kind must be one of"):
        _compile.cold_kernels("sorting")


def test_notice_compile_warns_once_on_a_cold_cache(tmp_path):
    script = (
        "import warnings, numpy as np\n"
        "from kdforge._compile import notice_compile\n"
        "print(notice_compile('knn', np.float32), notice_compile('radius'), notice_compile('knn'))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))  # an empty cache: every kernel is cold
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "False"]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "CompileWarning: kdforge is compiling its knn kernels for float32" in lines[0]
    assert "python -m kdforge compile" in lines[0]
    silenced = subprocess.run([sys.executable, "-W", "ignore::UserWarning", "-c", script], env=env,
                              capture_output=True, text=True, timeout=120)
    assert silenced.stdout.split() == ["True", "False", "False"] and silenced.stderr == ""



def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "kdforge", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("kdforge ")
    done = subprocess.run([sys.executable, "-m", "kdforge", "compile", "--progress", "--no-progress"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
