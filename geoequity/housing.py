"""New housing: the school-age children that planned estates bring, per cell and year.

A housing layer (``[[housing]]`` in a scenario, :class:`HousingLayer` in the API) is any points
or polygons layer (CSV with lon/lat, GeoPackage, GeoJSON ...) with a dwellings column and a
completion-year column. Each estate brings

    children = units x children_per_unit
             (or residents x children_per_1000_residents / 1000; 千人指标)

once complete. With a build-out (``build_years = n``, a number or a column), ``1/n`` of it
completes in each of the years ``year .. year + n - 1``. Only what completes *after* the base
year is added: what was there by the base year is already in the population data.

An estate stands at its representative point (a point itself, a polygon's centroid or a point
on its surface) and joins the cell containing that point; an estate no cell contains (outside
the populated grid, or between point cells) joins the nearest cell centroid, and those are
counted with their distance (stderr). Presets of yields: ``geoequity/data/standards.toml``,
section ``[housing]``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import read_layer, representative_points

__all__ = ["HousingLayer", "read_estates", "housing_children", "housing_presets",
           "cell_of_points"]


@dataclass(frozen=True)
class HousingLayer:
    """One ``[[housing]]`` layer: the keys of the scenario table, as the API takes them.

    ``path`` is a file or a GeoDataFrame; ``units``, ``year``, ``residents`` name its columns;
    ``build_years`` is a number of years or a column name. Give exactly one of
    ``children_per_unit``, ``children_per_1000_residents`` or ``preset``.
    ``persons_per_unit`` turns dwellings into residents for a per-1000 yield when the layer has
    no ``residents`` column.
    """

    path: object
    units: str | None = "units"
    year: str = "year"
    children_per_unit: float | None = None
    children_per_1000_residents: float | None = None
    residents: str | None = None
    persons_per_unit: float | None = None
    preset: str | None = None
    build_years: int | str | None = None
    input_crs: str | None = None
    layer: str | None = None


def housing_presets() -> dict[str, dict]:
    """The ``[housing]`` presets of ``geoequity/data/standards.toml`` (name -> yields)."""
    text = resources.files("geoequity").joinpath("data/standards.toml").read_text("utf-8")
    return dict(tomllib.loads(text).get("housing", {}))


def _source(layer: HousingLayer) -> str:
    return "housing layer" if isinstance(layer.path, gpd.GeoDataFrame) else str(layer.path)


def _yield_rule(layer: HousingLayer, src: str) -> tuple[float | None, float | None, float | None]:
    """(children_per_unit, children_per_1000_residents, persons_per_unit) after the preset."""
    given = [k for k in ("children_per_unit", "children_per_1000_residents", "preset")
             if getattr(layer, k) is not None]
    if len(given) != 1:
        raise input_error(src, "a housing layer needs exactly one of children_per_unit, "
                          "children_per_1000_residents or preset (given: "
                          f"{', '.join(given) or 'none'})",
                          "add e.g. children_per_unit = 0.1, or preset = \"cn-primary\"")
    cpu, per1000, ppu = layer.children_per_unit, layer.children_per_1000_residents, \
        layer.persons_per_unit
    if layer.preset is not None:
        presets = housing_presets()
        if layer.preset not in presets:
            raise input_error(src, f"unknown housing preset {layer.preset!r}",
                              f"use one of {', '.join(presets)} (geoequity/data/standards.toml)")
        p = presets[layer.preset]
        cpu = p.get("children_per_unit")
        per1000 = p.get("children_per_1000_residents")
        ppu = ppu if ppu is not None else p.get("persons_per_unit")
    for name, v in (("children_per_unit", cpu), ("children_per_1000_residents", per1000),
                    ("persons_per_unit", ppu)):
        if v is not None and (isinstance(v, bool) or not np.isfinite(float(v)) or float(v) < 0):
            raise input_error(src, f"{name} = {v!r} is not a number of 0 or more",
                              f"give {name} as a plain number, e.g. 0.1")
    return cpu, per1000, ppu


def _column(gdf: pd.DataFrame, col: str, src: str, key: str, *, what: str,
            integer: bool = False) -> np.ndarray:
    if col not in gdf.columns:
        have = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        raise input_error(src, f"has no {what} column {col!r} ([[housing]] {key})",
                          f"name one of {', '.join(have)} with {key} = \"...\"")
    raw = gdf[col]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num) | (num < 0)
    if integer:
        bad |= np.isfinite(num) & (num != np.round(num))
    if bad.any():
        rows = (np.flatnonzero(bad) + 2).tolist()   # header = row 1, as a spreadsheet shows
        shown = ", ".join(map(str, rows[:5])) + (f" and {len(rows) - 5} more"
                                                  if len(rows) > 5 else "")
        kind = "whole years" if integer else "numbers of 0 or more"
        raise input_error(src, f"column {col!r} ({what}) is not {kind} in row(s) {shown} "
                          f"(e.g. {raw.iloc[int(np.flatnonzero(bad)[0])]!r})",
                          f"write every {what} as a plain {'year' if integer else 'number'}")
    return num


def cell_of_points(points: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Position of the cell of each feature and the distance snapped (0 when inside a cell).

    A feature stands at its representative point; it belongs to the first cell (layer order)
    covering that point, else to the cell whose representative point is nearest.
    """
    from scipy.spatial import cKDTree

    pts = representative_points(points)
    pos = np.full(len(pts), -1, dtype=np.int64)
    poly = cells.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if poly.any():
        tree_idx = np.flatnonzero(poly)
        hit_pt, hit_cell = cells.geometry.iloc[tree_idx].sindex.query(
            pts.to_numpy(), predicate="intersects")
        order = np.lexsort((hit_cell, hit_pt))
        hit_pt, hit_cell = hit_pt[order], hit_cell[order]
        first = np.unique(hit_pt, return_index=True)[1]
        pos[hit_pt[first]] = tree_idx[hit_cell[first]]
    dist = np.zeros(len(pts))
    out = pos < 0
    if out.any() and len(cells):
        cp = representative_points(cells)
        tree = cKDTree(np.column_stack([cp.x.to_numpy(), cp.y.to_numpy()]))
        d, j = tree.query(np.column_stack([pts.x.to_numpy()[out], pts.y.to_numpy()[out]]))
        pos[out] = j
        dist[out] = d
    return pos, dist


def read_estates(layer: HousingLayer, cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Read one housing layer and place its estates in ``cells``.

    Returns
    -------
    pandas.DataFrame
        One row per estate with ``cell`` (position in ``cells``), ``children`` (at full
        completion), ``year`` (first completion year), ``build_years``, ``snap_m`` (metres to
        the nearest cell centroid; 0 inside a cell) and ``row`` (file row, header = 1).
    """
    src = _source(layer)
    if not isinstance(layer.path, gpd.GeoDataFrame) and not Path(os.fspath(layer.path)).exists():
        raise input_error(src, "housing layer not found", "check [[housing]] path")
    cpu, per1000, ppu = _yield_rule(layer, src)
    gdf = read_layer(layer.path, layer=layer.layer, crs=cells.crs, input_crs=layer.input_crs)
    years = _column(gdf, layer.year, src, "year", what="completion year", integer=True)
    residents = units = None
    if cpu is not None or layer.residents is None:
        units = _column(gdf, layer.units or "units", src, "units", what="dwellings")
    if layer.residents is not None:
        residents = _column(gdf, layer.residents, src, "residents", what="residents")
    if cpu is not None:
        children = units * float(cpu)
    elif residents is not None:
        children = residents * float(per1000) / 1000.0
    elif ppu is not None:
        children = units * float(ppu) * float(per1000) / 1000.0
    else:
        raise input_error(src, "children_per_1000_residents needs residents",
                          "add residents = \"<column>\" or persons_per_unit = 3.2")
    build = np.ones(len(gdf))
    if isinstance(layer.build_years, str):
        build = _column(gdf, layer.build_years, src, "build_years", what="build-out years",
                        integer=True)
    elif layer.build_years is not None:
        build = np.full(len(gdf), float(layer.build_years))
    if (build < 1).any():
        rows = (np.flatnonzero(build < 1) + 2).tolist()[:5]
        raise input_error(src, f"build_years is below 1 in row(s) {rows}",
                          "give the build-out as 1 or more years")
    pos, dist = cell_of_points(gdf, cells)
    return pd.DataFrame({"row": np.arange(len(gdf)) + 2, "cell": pos, "children": children,
                         "year": years.astype(np.int64), "build_years": build.astype(np.int64),
                         "snap_m": dist, "source": src})


def completed_share(estates: pd.DataFrame, year: int, base_year: int) -> np.ndarray:
    """Share of each estate completed after ``base_year`` and by ``year`` (0..1)."""
    y0 = estates["year"].to_numpy(float)
    n = estates["build_years"].to_numpy(float)
    done_by = np.clip(year - y0 + 1, 0, n) / n
    done_base = np.clip(base_year - y0 + 1, 0, n) / n
    return np.clip(done_by - done_base, 0.0, None)


def housing_children(estates: pd.DataFrame, n_cells: int, years, base_year: int) -> np.ndarray:
    """Children added per cell (rows) and year (columns) by the estates after ``base_year``."""
    out = np.zeros((n_cells, len(years)))
    if not len(estates):
        return out
    cell = estates["cell"].to_numpy()
    kids = estates["children"].to_numpy(float)
    for j, y in enumerate(years):
        np.add.at(out[:, j], cell, kids * completed_share(estates, int(y), base_year))
    return out


def describe(estates: pd.DataFrame, base_year: int, last_year: int) -> None:
    """Say on stderr what the housing layers add, what was snapped and what lies outside."""
    if not len(estates):
        return
    before = int((estates["year"] + estates["build_years"] - 1 <= base_year).sum())
    after = int((estates["year"] > last_year).sum())
    snapped = estates["snap_m"] > 0
    total = float((estates["children"] * completed_share(estates, last_year, base_year)).sum())
    info(f"housing: {len(estates)} estate(s) add {total:,.0f} children by {last_year}")
    if before:
        info(f"  {before} estate(s) complete by the base year {base_year}: taken as already "
             "in the population data, not added")
    if after:
        info(f"  {after} estate(s) complete after {last_year}, beyond the horizon")
    if snapped.any():
        info(f"  {int(snapped.sum())} estate(s) lie in no cell: joined to the nearest cell "
             f"centroid (up to {estates.loc[snapped, 'snap_m'].max():,.0f} m away)")
