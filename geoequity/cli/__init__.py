"""The ``geoequity`` command: a thin argparse layer over the library.

Each subcommand lives in its own module ``geoequity.cli.<name>`` exposing
``register(subparsers) -> None``; ``register`` adds the subparser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit status). Errors the library raises
on purpose (:class:`geoequity.GeoequityError`) end with one line on stderr and exit status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence

from geoequity import __version__
from geoequity._errors import GeoequityError
from geoequity._options import door
from geoequity._progress import is_quiet, set_quiet

# Order shown in --help. A module that does not exist yet is skipped.
SUBCOMMANDS = [
    "demo", "run", "costs", "access", "gaps", "equity", "report", "map", "site", "districts",
    "forecast", "trend", "composite", "compare",
]


class _UsageError(Exception):
    """A command line argparse refused; the message is already printed."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors end with one line ``geoequity: error: ...`` and exit
    status 2 (argparse itself prints the whole usage first)."""

    def error(self, message: str):
        print(f"geoequity: error: {self.prog}: {message}; see '{self.prog} --help'",
              file=sys.stderr)
        raise _UsageError(message)


# Numbers of the command line that must be above 0 (or at least the given bound). Every number
# must also be finite: nan and inf are refused for every flag, once, here. The cost-source
# options (speeds, snap limit, detour factor) are checked by CostSource, the one place for
# them (API, CLI and scenario), before any command starts work: see _check_cost_source.
_LOWER_BOUNDS = {
    "threshold": (0.0, False), "max_cost": (0.0, True), "assignment_max_cost": (0.0, True),
    "time_limit": (0.0, False), "child_share": (0.0, False),
    "tolerance": (0.0, True), "max_increase": (0.0, True), "k": (1, True), "p": (0, True),
    "max_vector_cells": (0, True), "class_size": (0.0, False), "capacity": (0.0, False),
    "budget": (0.0, True),
}


def _check_numbers(args: argparse.Namespace) -> None:
    """Refuse a NaN or infinite number on the command line, and out-of-range ones."""
    import math

    from geoequity._errors import input_error

    for dest, value in vars(args).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        flag = "--" + dest.replace("_", "-")
        if not math.isfinite(value):
            raise input_error(flag, f"{value!r} is not a finite number", "give a number")
        if dest in _LOWER_BOUNDS:
            low, inclusive = _LOWER_BOUNDS[dest]
            if value < low or (value == low and not inclusive):
                rule = f"at least {low:g}" if inclusive else f"greater than {low:g}"
                raise input_error(flag, f"{value:g} is out of range", f"give a value {rule}")
        if dest == "child_share" and value > 1:
            raise input_error(flag, f"{value:g} is not a share in (0, 1]", "give e.g. 0.12")


def _threshold_question(args: argparse.Namespace) -> list[str]:
    """The wrong-unit question for ``--threshold`` (one rule: costs.threshold_unit_question)."""
    threshold, unit = getattr(args, "threshold", None), getattr(args, "unit", None)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or unit not in (
            "m", "min"):
        return []
    from geoequity.costs import threshold_unit_question

    question = threshold_unit_question(threshold, unit, name="--threshold",
                                       unit_option="--unit min")
    return [question] if question else []


def _check_cost_source(args: argparse.Namespace) -> None:
    """Build the command's CostSource once before any work, so its checks (the same as the
    API's and a scenario's) refuse a bad cost option with a line naming the flag."""
    if hasattr(args, "detour_factor") and hasattr(args, "snap_limit"):
        from geoequity.cli._common import cost_source_from_args

        cost_source_from_args(args)


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


class _Buffer(logging.Handler):
    """Keeps the log records of libraries (OR-tools/absl, pyogrio, fiona ...) for later."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _library_chatter() -> Iterator[list[str]]:
    """Hold back library warnings and log lines while a command runs.

    An error then ends with its one line only; on success what was held back is printed after
    the work, once each, as ``note:`` lines (silenced by ``--quiet``).
    """
    said: list[str] = []
    buffer = _Buffer()
    root = logging.getLogger()
    root.addHandler(buffer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            yield said
        finally:
            root.removeHandler(buffer)
            said.extend(f"{w.category.__name__}: {w.message}" for w in caught)
            said.extend(f"{r.name}: {r.getMessage()}" for r in buffer.records)


def _say_after(chatter: list[str]) -> None:
    from geoequity._progress import info

    for line in dict.fromkeys(" ".join(str(c).split()) for c in chatter):
        info(f"note: {line}")


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
    try:
        args = parser.parse_args(argv)
    except _UsageError:
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        from geoequity.cli._common import refuse_overwriting_inputs

        with _library_chatter() as chatter, door("cli"):   # messages name CLI flags
            _check_numbers(args)
            _check_cost_source(args)
            refuse_overwriting_inputs(args)   # no command writes over a file it reads
            chatter.extend(_threshold_question(args))   # said after the work, as a note
            status = args.func(args)
        _say_after(chatter)
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
