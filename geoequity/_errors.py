"""Named exceptions. Each carries a one-line message meant for a planner, not a programmer.

The CLI turns every :class:`GeoequityError` into ``geoequity: error: <message>`` and exit
status 2, with no traceback (``--debug`` shows it). Messages name the file, the column or row
and what to do about it.
"""

from __future__ import annotations


class GeoequityError(Exception):
    """Base class of every error geoequity raises on purpose."""


class InputError(GeoequityError, ValueError):
    """Bad user input: a file that cannot be read, a missing column, a missing CRS, bad values."""


class NetworkError(GeoequityError):
    """A street network cannot be built, loaded or routed on (for example offline place query)."""


class SolverError(GeoequityError):
    """An optimisation model failed or was infeasible in a way the user must act on."""


def input_error(source: object, what: str, fix: str | None = None) -> InputError:
    """Build an :class:`InputError` with the house format ``SOURCE: WHAT; FIX``.

    Parameters
    ----------
    source
        The file path (or layer name) the problem is in.
    what
        What is wrong, naming the column or row.
    fix
        What the user should do about it.
    """
    msg = f"{source}: {what}"
    if fix:
        msg += f"; {fix}"
    return InputError(" ".join(msg.split()))


def shown(value: object) -> str:
    """A data value as a message shows it: ``-1``, ``inf``, ``'abc'`` (a numpy scalar as its
    plain number, not ``np.int64(-1)``)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        value = item()
    return repr(value)
