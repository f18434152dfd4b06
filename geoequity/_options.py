"""Option names in messages, spelled for the door the user came in by.

Library code raises and reports with a neutral option key (``option("max_increase")``); the
door that called it (the CLI, a scenario file, or Python) decides how the key is written:
``--max-increase`` on the command line, ``[analysis] max_increase`` in a scenario,
``max_increase`` in Python. One table, one mechanism, so a message never tells a CLI user to
pass a Python argument.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@contextmanager
def door(name: str) -> Iterator[None]:
    """Spell option names for ``name`` (``"cli"``, ``"scenario"`` or ``"python"``) inside."""
    if name not in ("cli", "scenario", "python"):
        raise ValueError(f"unknown door {name!r}")
    token = _DOOR.set(name)
    try:
        yield
    finally:
        _DOOR.reset(token)


def current_door() -> str:
    """The door option names are spelled for here (``"cli"``, ``"scenario"``, ``"python"``)."""
    return _DOOR.get()


def option(key: str, value: object = None) -> str:
    """The option ``key`` (optionally set to ``value``) as the current door writes it.

    ``option("balance", "share")`` is ``--balance share`` on the CLI, ``balance = "share"`` in
    a scenario and ``balance='share'`` in Python.
    """
    cli, scenario = _NAMES.get(key, (f"--{key.replace('_', '-')}", key))
    where = _DOOR.get()
    if where == "cli":
        return cli if value is None else f"{cli} {value}"
    if where == "scenario" and scenario is not None:
        return scenario if value is None else f'{scenario} = {value!r}'.replace("'", '"')
    return key if value is None else f"{key}={value!r}"
