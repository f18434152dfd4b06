"""School levels: each level pairs with its own children and its own catchment threshold.

A :class:`SchoolLevel` names the level, its service threshold (cost units, metres for the
presets), the children's age band and optionally the share of the population in that band
(children = population x share when no per-level child column is given).

Preset ``"GB50180-2018"``: China's *Standard for urban residential area planning and design*
(GB 50180-2018, Appendix B "配套设施设置规定"): kindergartens (幼儿园) serve the 5-minute
living circle with a service radius of at most 300 m, primary schools (小学) the 10-minute
living circle with at most 500 m, junior secondary schools (初中) the 15-minute living circle
with at most 1,000 m. Age bands follow the Chinese school system: kindergarten 3-5, primary
6-11, junior secondary 12-14 (inclusive). The standard sets no population share: give
``share`` (or per-level child columns) from census or WorldPop age data.

Level names and school labels are read with the one vocabulary of
:mod:`geoequity.level_names` (``"小学"``, ``"junior"``, ``"junior_secondary"`` and ``"初中"`` all
work). The one seats-per-level rule is :func:`level_seats` (a nine-year school of 900 seats
gives 600 to primary, 300 to junior); ``geoequity access --level`` and ``[analysis] level``
use it through :func:`level_supply`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity.access import accessibility
from geoequity.level_names import (
    ALL,
    LEVELS,
    canonical_label,
    level_key,
    level_share,
    parse_levels,
)

__all__ = ["SchoolLevel", "PRESETS", "preset", "make_levels", "find_level", "level_name",
           "level_demand", "level_seats", "level_supply", "resolve_level", "access_by_level",
           "preset_level", "schools_for_level",
           "parse_levels", "canonical_label", "level_key", "LEVELS"]


@dataclass(frozen=True)
class SchoolLevel:
    """One school level.

    Attributes
    ----------
    name
        Level key as used in the schools' ``level`` column (e.g. ``"primary"``).
    threshold
        Catchment threshold in cost units (metres for the presets): ``cost <= threshold``.
    ages
        Inclusive age band ``(first, last)`` of its children, or None.
    share
        Share of the population in the age band (0-1), or None when child counts are given.
    label
        Human-readable name (may be Chinese).
    source
        Where the numbers come from.
    """

    name: str
    threshold: float
    ages: tuple[int, int] | None = None
    share: float | None = None
    label: str = ""
    source: str = "user"


_GB = "GB 50180-2018 Appendix B"
PRESETS: dict[str, dict[str, SchoolLevel]] = {
    "GB50180-2018": {
        "kindergarten": SchoolLevel("kindergarten", 300.0, (3, 5), None, "幼儿园 kindergarten",
                                    f"{_GB}: service radius <= 300 m (5-minute living circle)"),
        "primary": SchoolLevel("primary", 500.0, (6, 11), None, "小学 primary school",
                               f"{_GB}: service radius <= 500 m (10-minute living circle)"),
        "junior_secondary": SchoolLevel(
            "junior_secondary", 1000.0, (12, 14), None, "初中 junior secondary school",
            f"{_GB}: service radius <= 1000 m (15-minute living circle)"),
    },
}

# the keys levels have in a preset or make_levels mapping (kept from the first releases, so
# access_by_level's columns stay access_junior_secondary ...); every function takes either name
_KEYS = {"junior": "junior_secondary", "senior": "senior_secondary"}


def _identity(name: object, *, custom_ok: bool = False) -> str:
    """The level a name means: one of :data:`geoequity.level_names.LEVELS`, or with
    ``custom_ok`` a user-defined one (its label, lower-cased)."""
    served = parse_levels(name)
    if len(served) == 1 and ALL not in served:
        ident = next(iter(served))
        if ident in LEVELS or custom_ok:
            return ident
    return level_key(name)   # raises: unknown, a combined kind or "all" is not one level


def level_name(name: object) -> str:
    """The key of a level in a :func:`preset`/:func:`make_levels` mapping (``"初中"``,
    ``"junior"`` -> ``"junior_secondary"``; a user-defined name in snake case)."""
    ident = _identity(name, custom_ok=True)
    return _KEYS.get(ident, ident).replace(" ", "_")


def find_level(levels: Mapping[str, SchoolLevel], name: object) -> SchoolLevel | None:
    """The level of ``levels`` (a :func:`preset` or :func:`make_levels` mapping) that ``name``
    means in any spelling (``"小学"``, ``"junior"``, ``"junior_secondary"``), or None."""
    ident = _identity(name, custom_ok=True)
    for key, lvl in levels.items():
        if parse_levels(key) == {ident}:
            return lvl
    return None


def preset(name: str = "GB50180-2018", **shares: float) -> dict[str, SchoolLevel]:
    """Return a preset's levels, optionally with population shares per level.

    Parameters
    ----------
    name
        Preset name; ``"GB50180-2018"`` (also ``"gb50180"``).
    **shares
        ``level=share`` (0-1) to set the child share of each level, e.g.
        ``preset(kindergarten=0.03, primary=0.06, junior_secondary=0.03)``.
    """
    key = {"gb50180": "GB50180-2018", "gb_50180_2018": "GB50180-2018",
           "gb50180-2018": "GB50180-2018"}.get(str(name).lower().replace(" ", ""), name)
    if key not in PRESETS:
        raise input_error("levels", f"unknown preset {name!r}",
                          f"use one of {', '.join(PRESETS)} or define levels yourself")
    levels = dict(PRESETS[key])
    for lvl, share in shares.items():
        k = level_name(lvl)
        if k not in levels:
            raise input_error("levels", f"preset {key} has no level {lvl!r}",
                              f"use one of {', '.join(levels)}")
        levels[k] = replace(levels[k], share=_share(share, k))
    return levels


def _share(value: Any, name: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not 0 <= v <= 1:
        raise input_error("levels", f"level {name!r}: share {value!r} is not between 0 and 1",
                          "give the share of the population in the age band, e.g. 0.06")
    return v


def make_levels(spec: Mapping[str, Any] | str | None) -> dict[str, SchoolLevel]:
    """Build levels from a preset name or a mapping (e.g. a TOML ``[levels]`` table).

    ``spec`` may be a preset name, or ``{"preset": "GB50180-2018", "primary": {"share":
    0.06}}`` to start from a preset and override, or ``{"primary": {"threshold": 800,
    "ages": [6, 11], "share": 0.06}, ...}`` for your own levels.
    """
    if spec is None:
        return preset()
    if isinstance(spec, str):
        return preset(spec)
    spec = dict(spec)
    base = preset(spec.pop("preset")) if "preset" in spec else {}
    for raw, opts in spec.items():
        k = _custom(raw)
        if isinstance(opts, (int, float)):
            opts = {"threshold": opts}
        if not isinstance(opts, Mapping):
            raise input_error("levels", f"level {raw!r} must be a table of options",
                              "give threshold, ages and share")
        old = base.get(k)
        thr = opts.get("threshold", old.threshold if old else None)
        if thr is None or not float(thr) > 0:
            raise input_error("levels", f"level {raw!r} has no positive threshold",
                              "give threshold = cost units (metres)")
        ages = opts.get("ages", old.ages if old else None)
        base[k] = SchoolLevel(
            name=k, threshold=float(thr),
            ages=tuple(int(a) for a in ages) if ages is not None else None,
            share=_share(opts.get("share", old.share if old else None), k),
            label=str(opts.get("label", old.label if old else k)),
            source=old.source if old and "threshold" not in opts else "user")
    return base


def _custom(name: object) -> str:
    """The key of a level name, letting unknown names through as user-defined levels."""
    served = parse_levels(name)
    if len(served) == 1 and ALL not in served:
        return level_name(name)
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def resolve_level(level: SchoolLevel | str, schools: pd.DataFrame | None = None, *,
                  level_col: str = "level", source: object = "level") -> str:
    """The level ``level`` means, in the names of :mod:`geoequity.level_names`.

    A known level in any spelling (``"小学"``, ``"Primary School"``, ``"junior_secondary"``)
    gives its name (``"primary"``, ``"junior"``). A user-defined level is accepted when it is
    a :class:`SchoolLevel` or when some school's level cell carries it.

    Raises
    ------
    geoequity.InputError
        Otherwise (``"nosuchlevel"``, ``"university"`` with no such school, a combined kind
        or ``"all"``): one line naming the known levels; ``source`` names the input.
    """
    name = level.name if isinstance(level, SchoolLevel) else level
    ident = _identity(name, custom_ok=True)
    if ident in LEVELS or isinstance(level, SchoolLevel):
        return ident
    if schools is not None and level_col in schools.columns \
            and schools[level_col].map(parse_levels).map(lambda s: ident in s).any():
        return ident
    return level_key(name, source=source)   # raises, naming the known levels


def level_seats(schools: pd.DataFrame, level: SchoolLevel | str, *, level_col: str = "level",
                seats_col: str = "seats") -> pd.Series:
    """Seats each school gives ``level``: the seats-per-level rule.

    A school's level cell is read with :func:`geoequity.level_names.parse_levels` (Chinese or
    English labels, combined kinds, lists such as ``"小学;初中"``). A column ``seats_<level>``
    (``seats_primary``, ``seats_junior`` or ``seats_junior_secondary`` ...) gives a school's own
    seats for the level where it is filled in. Otherwise a school serving one level (or
    ``all``, or with no level column) gives it all its seats, and a combined school the share
    of its years: a nine-year school (九年一贯制, or ``小学;初中``) of 900 seats gives 600 to
    primary (grades 1-6) and 300 to junior (grades 7-9); a twelve-year school 6/12 primary,
    3/12 junior, 3/12 senior; a complete secondary school (完全中学) 3/6 each
    (:func:`geoequity.level_names.level_share`). Schools not serving the level give 0.

    Parameters
    ----------
    schools
        Schools indexed by school id with a seats column and (optionally) a level column.
    level
        A :class:`SchoolLevel` or a level name in any spelling.

    Returns
    -------
    pandas.Series
        Seats (float) per school, indexed like ``schools``, named ``seats``.

    Raises
    ------
    geoequity.InputError
        For a level name that is neither a known level nor any school's label.
    """
    if seats_col not in schools.columns:
        raise input_error("schools", f"no {seats_col!r} column", "name the seats column")
    seats = pd.to_numeric(schools[seats_col], errors="coerce").fillna(0.0).astype(float)
    if level_col not in schools.columns:
        return seats.rename("seats")
    ident = resolve_level(level, schools, level_col=level_col)
    served = schools[level_col].map(parse_levels)
    share = served.map(lambda s: level_share(s, ident)).astype(float)
    out = seats * share
    key = _KEYS.get(ident, ident).replace(" ", "_")
    for own in dict.fromkeys((f"seats_{ident.replace(' ', '_')}", f"seats_{key}")):
        if own in schools.columns:
            given = pd.to_numeric(schools[own], errors="coerce")
            out = out.where(~(given.notna() & (share > 0)), given)
            break
    return out.rename("seats")


def level_supply(schools: pd.DataFrame, level: SchoolLevel | str, *, level_col: str = "level",
                 seats_col: str = "seats") -> pd.Series:
    """Seats of the schools serving ``level`` (:func:`level_seats`, only those schools).

    A school serves a level when its level cell names it, a combined kind covering it
    (九年一贯制 / ``combined``: primary and junior; 十二年一贯制; 完全中学), a list holding it
    (``"小学;初中"``, ``"primary|junior_secondary"``) or is ``"all"``/empty; with no level
    column every school serves. Its seats for the level follow :func:`level_seats` (a
    nine-year school of 900 seats counts 600 primary and 300 junior seats).
    """
    seats = level_seats(schools, level, level_col=level_col, seats_col=seats_col)
    if level_col not in schools.columns:
        return seats
    ident = resolve_level(level, schools, level_col=level_col)
    serves = schools[level_col].map(lambda v: not parse_levels(v).isdisjoint({ALL, ident}))
    return seats[serves.to_numpy(bool)]


def preset_level(name: str, level: object, *, unit: str = "m",
                 source: object = "level") -> SchoolLevel:
    """The level of preset ``name`` that ``level`` means, for a threshold taken from it: the one
    rule of ``--level`` without ``--threshold`` and ``[analysis] preset``.

    Raises
    ------
    geoequity.InputError
        For a level the preset lacks (naming the preset's levels), or costs not in
        metres (``unit``): the presets' radii are metres, and 500 m read as 500 minutes would
        put every school within reach. ``source`` names the input in the message.
    """
    levels = preset(name)
    lvl = find_level(levels, level)
    if lvl is None:
        raise input_error(source, f"preset {name} has no level {level!r}",
                          f"use one of {', '.join(levels)}, or give a threshold")
    if unit != "m":
        raise input_error(source, f"preset {name} gives {lvl.threshold:g} m for {level!r} but "
                          f"the costs are in {unit!r}", "give the threshold in the costs' unit "
                          "yourself, or use metres")
    return lvl


def schools_for_level(schools: pd.DataFrame, level: SchoolLevel | str, *,
                      source: object = "level", fix: str | None = None
                      ) -> tuple[str, pd.DataFrame]:
    """The schools serving ``level`` with ``seats`` replaced by the seats they give it
    (:func:`level_supply`): what ``--level`` and ``[analysis] level`` analyse.

    Returns ``(level name, schools)``. Schools read without a level column
    (``attrs["level_col"]`` None, see :func:`geoequity.read_schools`) all serve with all their
    seats, and a note says so. Raises a one-line error naming ``source`` when no school serves.
    """
    from geoequity._progress import info

    key = resolve_level(level, schools, source=source)
    seats = level_supply(schools, key)
    if seats.empty:
        found = ", ".join(sorted(map(str, schools["level"].unique())))
        raise input_error(source, f"no school serves level {key!r} (levels found: {found})",
                          fix or "check the level or the schools' level column")
    if "level_col" in schools.attrs and schools.attrs["level_col"] is None:
        info(f"  {schools.attrs.get('source', 'schools')}: no level column, so every school "
             f"counts for {key} with all its seats (name the column holding 小学/初中/九年一贯制 "
             "... to split combined schools and leave out other levels)")
    out = schools.loc[seats.index].copy()
    out["seats"] = seats
    # the seats are now the level's: say so in the level's own column, so that a table written
    # from these schools (a run's schools.csv/gpkg) read again for this level is not given a
    # combined school's share a second time (level_seats takes seats_<level> as given)
    out[f"seats_{str(key).replace(' ', '_')}"] = seats
    return key, out


def level_demand(population: pd.DataFrame | pd.Series, level: SchoolLevel, *,
                 population_col: str = "population") -> pd.Series:
    """Children of ``level`` per cell.

    Uses the column named after the level (e.g. ``primary`` or ``children_primary``) when the
    table has one, else ``population x level.share``.
    """
    if isinstance(population, pd.DataFrame):
        for col in (level.name, f"children_{level.name}"):
            if col in population.columns:
                return pd.to_numeric(population[col], errors="coerce").fillna(0.0) \
                    .astype(float).rename("children")
        if population_col not in population.columns:
            raise input_error("population", f"no {level.name!r} child column and no "
                              f"{population_col!r} column", "give child counts per level")
        pop = population[population_col]
    else:
        pop = population
    if level.share is None:
        raise input_error("levels", f"level {level.name!r} has no population share and the "
                          f"table no {level.name!r} column",
                          f"set share for {level.name} (e.g. preset(primary=0.06))")
    return (pd.to_numeric(pop, errors="coerce").fillna(0.0) * level.share).astype(float) \
        .rename("children")


def access_by_level(costs: pd.DataFrame, population: pd.DataFrame | pd.Series,
                    schools: pd.DataFrame, levels: Mapping[str, SchoolLevel] | str | None = None,
                    *, method: str = "2sfca", decay: Any = None, decay_param: Any = None,
                    normalize: bool = False, level_col: str = "level",
                    seats_col: str = "seats", population_col: str = "population"
                    ) -> pd.DataFrame:
    """Accessibility per level: each level's children, schools and threshold.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` in the levels' units (metres for
        presets), covering at least the largest threshold.
    population
        Cells indexed by demand id, with per-level child columns or a population column.
    schools
        Schools indexed by school id with ``seats`` and ``level`` columns.
    levels
        A mapping from :func:`make_levels`/:func:`preset`, or a preset name.

    Returns
    -------
    pandas.DataFrame
        Indexed by demand id: ``children_<level>`` and ``access_<level>`` per level (NaN = no
        school of that level within its threshold).
    """
    lv = make_levels(levels) if not isinstance(levels, Mapping) or not all(
        isinstance(v, SchoolLevel) for v in levels.values()) else dict(levels)
    out = {}
    for name, level in lv.items():
        dem = level_demand(population, level, population_col=population_col)
        sup = level_supply(schools, level, level_col=level_col, seats_col=seats_col)
        out[f"children_{name}"] = dem
        if len(sup) == 0:
            out[f"access_{name}"] = pd.Series(np.nan, index=dem.index)
            continue
        out[f"access_{name}"] = accessibility(costs, dem, sup, method=method,
                                              threshold=level.threshold, decay=decay,
                                              decay_param=decay_param, normalize=normalize)
    return pd.DataFrame(out)
