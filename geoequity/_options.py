"""Option names in messages, spelled for the door the user came in by.

Library code raises and reports with a neutral option key (``option("max_increase")``); the
door that called it (the CLI, a scenario file, or Python) decides how the key is written:
``--max-increase`` on the command line, ``[analysis] max_increase`` in a scenario,
``max_increase`` in Python. One table, one mechanism, so a message never tells a CLI user to
pass a Python argument.

A door may be entered with options the caller already gave (``door("scenario",
given=("partition",))``: ``geoequity run s.toml --partition county`` runs the scenario with
the flag's value): those keep the caller's spelling inside (``--partition``), since that is
where the user wrote them; every other option is spelled for the new door.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# key -> (CLI flag, scenario key or None when scenarios do not have the option)
_NAMES: dict[str, tuple[str, str | None]] = {
    "tolerance": ("--tolerance", None),
    "max_increase": ("--max-increase", None),
    "balance": ("--balance", None),
    "method": ("--method", "[analysis] method"),
    "decay": ("--decay", "[analysis] decay"),
    "decay_param": ("--decay-param", "[analysis] decay_param"),
    "current": ("--current", None),
    "minimise_moves": ("--minimise-moves", None),
    "max_cost": ("--max-cost", "[analysis] max_cost"),
    "threshold": ("--threshold", "[analysis] threshold"),
    "scheduler": ("--scheduler", "[compute] scheduler"),
    "workers": ("--workers", "[compute] workers"),
    "partition": ("--partition", "[compute] partition"),
    "csv": ("--csv", "[outputs] csv"),
    "gpkg": ("--gpkg", "[outputs] gpkg"),
    "maps_by": ("--maps-by", "[outputs] maps_by"),
    "assignment_mode": ("--assignment-mode", "[compute] assignment_mode"),
    "district_group": ("--district-group", "[districts] group"),
    "level_col": ("--level-col", "[schools] level"),
    "type_col": ("--type-col", "[schools] type"),
    "enrolment_col": ("--enrolment-col", None),
    "year_col": ("--year-col", None),
}

_DOOR: ContextVar[str] = ContextVar("geoequity_door", default="python")
#: option key -> the door that gave it, for options a caller passed into the current door
_GIVEN: ContextVar[dict[str, str]] = ContextVar("geoequity_given", default={})


@contextmanager
def door(name: str, *, given: Iterable[str] = ()) -> Iterator[None]:
    """Spell option names for ``name`` (``"cli"``, ``"scenario"`` or ``"python"``) inside,
    but the option keys in ``given`` (the ones the current door set, e.g. the flags
    overriding a scenario's keys) as the current door spells them."""
    if name not in ("cli", "scenario", "python"):
        raise ValueError(f"unknown door {name!r}")
    outer, kept = _DOOR.get(), _GIVEN.get()
    token = _DOOR.set(name)
    given_token = _GIVEN.set({key: kept.get(key, outer) for key in given})
    try:
        yield
    finally:
        _GIVEN.reset(given_token)
        _DOOR.reset(token)


def current_door(key: str | None = None) -> str:
    """The door option names are spelled for here (``"cli"``, ``"scenario"``, ``"python"``);
    with ``key``, the door that option is spelled for (the caller's when it gave it)."""
    if key is not None:
        return _GIVEN.get().get(key, _DOOR.get())
    return _DOOR.get()


def option(key: str, value: object = None) -> str:
    """The option ``key`` (optionally set to ``value``) as the current door writes it.

    ``option("balance", "share")`` is ``--balance share`` on the CLI, ``balance = "share"`` in
    a scenario and ``balance='share'`` in Python.
    """
    cli, scenario = _NAMES.get(key, (f"--{key.replace('_', '-')}", key))
    where = current_door(key)
    if where == "cli":
        return cli if value is None else f"{cli} {value}"
    if where == "scenario" and scenario is not None:
        return scenario if value is None else f'{scenario} = {value!r}'.replace("'", '"')
    return key if value is None else f"{key}={value!r}"
