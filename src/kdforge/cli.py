"""The ``kdforge`` console command.

``kdforge demo`` runs the reverse-geocoding demo on the GeoNames cities (see :mod:`kdforge.demo`).
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
                      seed=args.seed)
    return 0 if result["mismatches"] == 0 else 1


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
    demo.set_defaults(handler=_run_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kdforge`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, ImportError) as exc:
        print(f"kdforge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
