"""Fixtures shared by the test modules."""

import builtins

import pytest


@pytest.fixture
def hide_module(monkeypatch):
    """``hide_module(name)``: make ``import name`` raise ImportError, as when it is not installed."""
    real_import = builtins.__import__

    def hide(hidden: str) -> None:
        def fake_import(name, *args, **kwargs):
            if name == hidden:
                raise ImportError(f"No module named {hidden!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return hide
