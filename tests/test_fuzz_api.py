"""Fuzz every public entry point with hostile arrays and keywords, in child processes.

The cases, the checks against the brute-force reference and the subprocess runner are in
``tests/fuzz_api_cases.py``; ``benchmarks/fuzz_api.py --cases N`` runs a long budget.
Each example below is a batch of cases run in one child, so a crash or a hang fails the
example (naming the case) instead of killing pytest.
"""

import numpy as np
import pytest
import fuzz_api_cases as fuzz

N_CASES, BATCH = 150, 75


def test_hostile_calls_raise_documented_errors_or_answer_like_the_reference():
    batch = fuzz.generate_cases(N_CASES)
    counts = {"ok": 0, "rejected": 0, "known": 0, "finding": 0}
    findings = []
    for start in range(0, len(batch), BATCH):
        got, found = fuzz.run_batch(batch[start:start + BATCH], timeout=150)
        findings += found
        counts = {key: counts[key] + got[key] for key in counts}
    assert not findings, "\n\n".join(findings[:5])
    assert counts["ok"] + counts["rejected"] + counts["known"] == len(batch)
    assert counts["ok"] > len(batch) // 10  # the cases do reach the answers, not only the checks


# Found by the fuzz harness: kNN with k far above n allocated the padded (m, k) answer before
# any size check (MemoryError, or the OOM killer).
@pytest.mark.parametrize("entry", ["tree.query", "brute.knn", "index.query", "forest.query"])
def test_a_k_far_above_n_is_refused_before_allocating(entry):
    import kdforge

    data, queries, k = np.random.default_rng(0).random((22, 1)), np.zeros((2, 1)), 2 ** 40
    with pytest.raises(ValueError, match="k"):
        if entry == "tree.query":
            kdforge.KDTree(data, leaf_size=3).query(queries, k=k)
        elif entry == "brute.knn":
            kdforge.brute.knn(data, queries, k=k)
        elif entry == "index.query":
            kdforge.NeighborIndex(data, algorithm="brute").query(queries, k=k)
        else:
            kdforge.KDForest(data, n_trees=2, leaf_size=3, random_state=0).query(queries, k=k)


def test_the_runner_reports_a_crash_and_a_hang_as_findings(monkeypatch, tmp_path):
    """A child that dies by SIGSEGV or overruns its time is a finding naming the case."""
    case = {"entry": "tree.query", "data": np.zeros((2, 1)), "X": np.zeros((1, 1)),
            "build": {"leaf_size": 1}, "call": {"k": 1}}
    crasher = tmp_path / "fuzz_api_cases.py"
    crasher.write_text("import os, signal, json\nprint(json.dumps({'start': 0}), flush=True)\n"
                       "os.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.setattr(fuzz, "HERE", str(tmp_path))
    counts, findings = fuzz.run_batch([case])
    assert counts["finding"] == 1 and "crash (rc -11)" in findings[0] and "tree.query" in findings[0]
    crasher.write_text("import json, time\nprint(json.dumps({'start': 0}), flush=True)\ntime.sleep(60)\n")
    counts, findings = fuzz.run_batch([case], timeout=2)
    assert counts["finding"] == 1 and findings[0].startswith("hang")


@pytest.mark.parametrize("problem", ["wrong index", "wrong distance", "missing neighbour"])
def test_the_knn_checker_catches_wrong_answers(problem):
    rng = np.random.default_rng(0)
    data, queries = rng.random((20, 2)), rng.random((3, 2))
    import reference

    dist, idx = reference.knn(data, queries, 4)
    assert fuzz.check_knn(data, queries, 4, 2.0, dist, idx, 1e-9) is None
    dist, idx = dist.copy(), idx.copy()
    if problem == "wrong index":
        idx[1, 0] = idx[1, 3] + 1 if idx[1, 3] + 1 < 20 else 0
    elif problem == "wrong distance":
        dist[2, 1] *= 1.01
    else:
        idx[0, 3], dist[0, 3] = -1, np.inf
    assert fuzz.check_knn(data, queries, 4, 2.0, dist, idx, 1e-9) is not None


def test_the_radius_checker_catches_a_missing_and_an_extra_point():
    rng = np.random.default_rng(1)
    data, queries = rng.random((30, 2)), rng.random((2, 2))
    import reference

    lists = reference.radius(data, queries, 0.4)
    assert fuzz.check_radius(data, queries, 0.4, 2.0, lists, 1e-9) is None
    assert fuzz.check_radius(data, queries, 0.4, 2.0, [lists[0][1:], lists[1]], 1e-9) is not None
    outside = np.setdiff1d(np.arange(30), lists[1])[0]
    assert fuzz.check_radius(data, queries, 0.4, 2.0, [lists[0], np.append(lists[1], outside)], 1e-9) is not None


# Found by the fuzz harness: a subnormal distance_upper_bound (5e-324) squared to 0 in the
# reduced form, so an exact match (distance 0 < 5e-324) was dropped.
def test_a_subnormal_upper_bound_keeps_an_exact_match():
    import kdforge

    data = np.random.default_rng(0).random((7, 4))
    dist, idx = kdforge.KDTree(data).query(data[:1], k=2, distance_upper_bound=5e-324)
    assert idx[0, 0] == 0 and dist[0, 0] == 0.0
