"""Schools: points (polygons become points) with seats, a level and any resource columns."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from geoequity import level_names
from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import numeric_column, read_points
from geoequity.school_types import school_types

#: Labels ``read_schools`` writes in ``level`` (lists of levels are joined by ``;``).
LEVELS = (*level_names.LEVELS, *level_names.KINDS, level_names.ALL)


def normalise_level(values) -> np.ndarray:
    """Map level labels (English or Chinese, any case) to geoequity's level names.

    The vocabulary is :mod:`geoequity.level_names` (:func:`~geoequity.level_names.canonical_label`):
    ``"小学"`` -> ``"primary"``, ``"九年一贯制"`` and ``"小学;初中"`` -> ``"combined"``.
    Unknown labels are kept as written (lower-cased), so users may define their own levels.
    """
    return np.array([level_names.canonical_label(v) for v in values], dtype=object)


def read_schools(path, *, id_col=None, seats_col=None, level_col=None, name_col=None,
                 default_seats: float | None = None, crs=None, input_crs=None, layer=None,
                 x_col=None, y_col=None, id_dtype=None, type_col=None) -> gpd.GeoDataFrame:
    """Read schools as points with a ``seats`` and a ``level`` column, ids in the index.

    Parameters
    ----------
    path
        Vector file or CSV (lon/lat or x/y). Polygons (as OpenStreetMap maps schools) become
        points inside them.
    id_col
        Unique school id column (default: row numbers).
    seats_col
        Capacity column (seats). Required unless ``default_seats`` is given.
    level_col
        School level column (kindergarten, primary, junior, ...; Chinese labels understood).
        Default: a column named ``level`` when the file has one (kept as written), else every
        school is level ``"all"``. ``attrs["level_col"]`` names the column the levels came
        from (None when there was none).
    name_col
        Display name column, copied to ``name``.
    default_seats
        Seats for schools with no capacity column or a blank value (reported).
    crs, input_crs, layer, x_col, y_col
        As in :func:`geoequity.io.read_layer`.
    id_dtype
        ``None`` (default): ids as written (text from a CSV, so ``0014`` stays ``0014``);
        ``"str"`` or ``"int"`` to make them text or whole numbers.
    type_col
        School type column (ordinary, 教学点, 特殊教育学校, 职业学校 ...), read with
        :func:`geoequity.school_types.school_types` into ``school_type``; an unknown label is
        refused naming its row. Default: no types.

    Returns
    -------
    GeoDataFrame
        Points in a projected CRS (metres), index = school id; columns ``seats`` (float),
        ``level`` (str), ``name`` (when ``name_col``), ``school_type`` (when ``type_col``)
        and every input column carried through
        (teachers, floor area, funds ...).
    """
    gdf = read_points(path, id_col=id_col, crs=crs, input_crs=input_crs, layer=layer,
                      x_col=x_col, y_col=y_col, id_dtype=id_dtype)
    source = gdf.attrs.get("source", path)
    if seats_col is None:
        if default_seats is None:
            raise input_error(source, "no seats (capacity) column was named",
                              "name it with seats_col (--seats COL) or give default_seats")
        seats = np.full(len(gdf), float(default_seats))
        info(f"  {source}: no capacity column; every school given {default_seats:g} seats")
    else:
        seats = numeric_column(gdf, seats_col, source, what="seats",
                               allow_nan=default_seats is not None)
        blank = seats.isna()
        if blank.any():
            info(f"  {source}: {int(blank.sum())} school(s) with blank {seats_col!r} given "
                 f"{default_seats:g} seats")
            seats = seats.fillna(float(default_seats))
        seats = seats.to_numpy()
    gdf["seats"] = seats
    if level_col is not None:
        if level_col not in gdf.columns:
            raise input_error(source, f"has no level column {level_col!r}",
                              f"choose one of: {', '.join(map(str, gdf.columns[:-1]))}")
        gdf["level"] = normalise_level(gdf[level_col].fillna("all"))
        gdf.attrs["level_col"] = level_col
    elif "level" not in gdf.columns:
        gdf["level"] = "all"
        gdf.attrs["level_col"] = None   # no levels: every school serves every level
    else:
        gdf.attrs["level_col"] = "level"
    if name_col is not None:
        if name_col not in gdf.columns:
            raise input_error(source, f"has no name column {name_col!r}",
                              "choose another or leave it out")
        gdf["name"] = gdf[name_col].astype(str)
    if type_col is not None:
        if type_col not in gdf.columns:
            raise input_error(source, f"has no school-type column {type_col!r}",
                              f"choose one of: {', '.join(map(str, gdf.columns[:-1]))}")
        gdf["school_type"] = school_types(gdf[type_col], source=source, column=type_col)
    gdf.attrs["kind"] = "schools"
    return gdf
