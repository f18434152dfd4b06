"""Output paths against input paths: a command never writes over a file it reads.

:func:`refuse_overwrite` is the one check every command and the scenario runner use: an output
that names one of the inputs (the same file after following links, hard links included) is
refused with a one-line error, before anything is read or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from geoequity._errors import input_error


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name one existing file (after links; hard links too)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):   # either is missing (or not a path): not the same file
        return False


def refuse_overwrite(outputs: Mapping[str, object], inputs: Iterable[object], *,
                     fix: str = "write the output to another file", source=None) -> None:
    """Raise an :class:`~geoequity._errors.InputError` when an output is one of the inputs.

    Parameters
    ----------
    outputs
        ``{label: path}``: each output the command would write, labelled as the user named it
        (``-o/--output``, ``--lorenz``, ``[outputs] map``). ``None`` values are skipped.
    inputs
        The files the command reads (``None`` and non-path values are skipped).
    fix
        What to do, for the message.
    source
        What the message names first (default: the output path).
    """
    outs = {k: v for k, v in outputs.items() if isinstance(v, str | os.PathLike)}
    for path in inputs:
        if not (isinstance(path, str | os.PathLike) and os.path.isfile(path)):
            continue
        for label, out in outs.items():
            if same_file(out, path):
                raise input_error(source or out, f"{label} would overwrite the input {path}",
                                  fix)


def refuse_shared_outputs(outputs: Mapping[str, object]) -> None:
    """Raise an :class:`~geoequity._errors.InputError` when two outputs name one file (after
    links): the second written would silently replace the first (``--snap-report x.csv -o
    x.csv``). ``outputs`` is ``{label: path}`` as for :func:`refuse_overwrite`."""
    seen: dict[str, str] = {}
    for label, out in outputs.items():
        if not isinstance(out, str | os.PathLike):
            continue
        key = os.path.normcase(os.path.realpath(out))
        if key in seen:
            raise input_error(out, f"{seen[key]} and {label} name the same file",
                              "give each output its own file")
        seen[key] = label
