"""Long offline run of the API fuzz harness (tests/fuzz_api_cases.py).

Runs ``--cases`` hostile cases in batches of ``--batch`` per child process (a crash or a
hang is pinned on its case), prints the counts (answers checked against the reference,
documented rejections, findings) and every finding, and exits 1 if there was any.

    python benchmarks/fuzz_api.py --cases 100000 --batch 500
    python benchmarks/fuzz_api.py --quick        # 40 cases: smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import fuzz_api_cases as fuzz  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="number of cases (default 10000)")
    parser.add_argument("--batch", type=int, default=400, help="cases per child process (default 400)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per batch before it is a hang")
    parser.add_argument("--minutes", type=float, default=None, help="stop starting batches after this long")
    parser.add_argument("--quick", action="store_true", help="40 cases in 2 batches: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.batch = 40, 20
    warnings.simplefilter("ignore")
    totals = {"ok": 0, "rejected": 0, "known": 0, "finding": 0}
    findings: list[str] = []
    start = time.perf_counter()

    while sum(totals.values()) < args.cases:
        if args.minutes is not None and time.perf_counter() - start > 60 * args.minutes:
            break
        batch = fuzz.generate_cases(min(args.batch, args.cases - sum(totals.values())))
        counts, found = fuzz.run_batch(batch, timeout=args.timeout)
        for key in totals:
            totals[key] += counts[key]
        findings.extend(found)
        print(f"{sum(totals.values())} cases, {time.perf_counter() - start:.0f} s: {totals}", flush=True)
    elapsed = time.perf_counter() - start
    n_cases = sum(totals.values())
    print(f"\n{n_cases} cases in {elapsed:.0f} s: {totals['ok']} answers equal to the reference, "
          f"{totals['rejected']} documented rejections, {totals['known']} known bugs (xfail tests), "
          f"{totals['finding']} findings")
    for finding in findings:
        print("\n" + finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
