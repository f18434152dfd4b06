"""The ``geoequity`` command: a thin argparse layer over the library.

Each subcommand lives in its own module ``geoequity.cli.<name>`` exposing
``register(subparsers) -> None``; ``register`` adds the subparser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit status). Errors the library raises
on purpose (:class:`geoequity.GeoequityError`) end with one line on stderr and exit status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from geoequity import __version__
from geoequity._errors import GeoequityError
from geoequity._progress import is_quiet, set_quiet

# Order shown in --help. A module that does not exist yet is skipped.
SUBCOMMANDS = [
    "demo", "run", "costs", "access", "gaps", "equity", "report", "map", "site", "districts",
    "forecast",
]


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors exit with status 2 and one line, as argparse does."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="geoequity",
        description="Where children cannot reach a school seat, and what to do about it.",
    )
    parser.add_argument("--version", action="version", version=f"geoequity {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"geoequity.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"geoequity.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _common_flags(argv: list[str]) -> tuple[bool, bool]:
    """--quiet/--debug are accepted before or after the subcommand."""
    return ("-q" in argv or "--quiet" in argv), ("--debug" in argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``geoequity`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet, debug = _common_flags(argv)
    argv = [a for a in argv if a not in ("-q", "--quiet", "--debug")]
    was_quiet = is_quiet()
    set_quiet(quiet)
    try:   # called in-process (tests, notebooks): leave the caller's setting as it was
        return _main(argv, debug)
    finally:
        set_quiet(was_quiet)


def _main(argv: list[str], debug: bool) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        status = args.func(args)
    except GeoequityError as exc:
        if debug:
            raise
        print(f"geoequity: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # the file system refused (an output path that is a folder, no permission, a full
        # disk): the user can fix that, so one line, not a traceback
        if debug or not (exc.filename or exc.strerror):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"geoequity: error: {where}{exc.strerror or exc}; check the path and that it "
              "can be written (or use --debug)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("geoequity: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
