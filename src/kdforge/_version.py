"""The installed version of kdforge, in one place."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kdforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
