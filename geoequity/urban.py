"""Urban / rural classification by the Degree of Urbanisation (DEGURBA) grid rules.

The method endorsed by the UN Statistical Commission (2020) and used by Eurostat / GHSL
classifies 1 km2 grid cells by resident density and the size of the contiguous clusters they
form:

- **urban centre** (high-density cluster): contiguous cells (4-connectivity: sharing an edge)
  with at least 1,500 residents per km2 whose cluster totals at least 50,000 residents; gaps
  are filled by the majority rule (a cell with at least 5 of its 8 neighbours in the same centre
  joins it, repeated until stable) and holes smaller than 15 km2 are filled;
- **urban cluster** (moderate-density cluster): contiguous cells (8-connectivity: diagonals
  count) with at least 300 residents per km2 whose cluster totals at least 5,000 residents and
  that are not part of an urban centre;
- **rural**: the rest.

geoequity's population grids are finer than 1 km (e.g. 250 m cells, 100 m WorldPop pixels), so
the cells are first aggregated to a 1 km grid aligned on whole kilometres of the (projected)
CRS: each input cell goes, with all its residents, to the 1 km cell holding its centroid. Every
input cell then takes the class of its 1 km cell. The thresholds live in
``geoequity/data/standards.toml`` (section ``urbanisation``).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import representative_points, representative_xy

__all__ = ["URBAN_CENTRE", "URBAN_CLUSTER", "RURAL", "cell_value_of", "degree_of_urbanisation",
           "residents_column", "urbanisation_grid"]

URBAN_CENTRE = "urban centre"
URBAN_CLUSTER = "urban cluster"
RURAL = "rural"

_CLASS_CODES = np.array([RURAL, URBAN_CLUSTER, URBAN_CENTRE], dtype=object)


def _defaults() -> dict[str, Any]:
    from geoequity.balance import load_standards

    return load_standards()["urbanisation"]


def residents_column(cells: pd.DataFrame) -> str:
    """The column of total residents to classify on, warning when there is only children.

    The Degree of Urbanisation is defined on *all* residents: ``residents`` when the cells
    have it (``[population] residents``), else ``population`` when it differs from
    ``children`` (counts of all residents scaled by ``child_share``). Otherwise the counts are
    children (or age bands) only, a small fraction of the residents, so densities fall below
    the thresholds and most cells come out rural; the classification runs on them with a
    warning.
    """
    if "residents" in cells.columns:
        return "residents"
    if "population" in cells.columns and "children" in cells.columns:
        pop = pd.to_numeric(cells["population"], errors="coerce").to_numpy(float)
        kids = pd.to_numeric(cells["children"], errors="coerce").to_numpy(float)
        if not np.allclose(pop, kids, equal_nan=True):
            return "population"
    elif "population" in cells.columns:
        return "population"
    info("warning: urban/rural is classified on the child counts only (no total residents "
         "given), so densities are too low and most cells come out rural: give "
         "[population] residents = \"residents.tif\" (or a column), or [population] child_share")
    return "children"


def _cell_coords(cells: gpd.GeoDataFrame, count_col: str, cell_size: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    if not isinstance(cells, gpd.GeoDataFrame):
        raise input_error("cells", "a GeoDataFrame of population cells is needed",
                          "read the grid with geoequity.read_population")
    if cells.crs is None or not cells.crs.is_projected:
        raise input_error("cells", "the population grid is not in a projected CRS in metres",
                          "reproject it (geoequity.crs.to_projected) before classifying")
    if count_col not in cells.columns:
        raise input_error("cells", f"no population column {count_col!r}",
                          "name the column of residents per cell")
    pop = pd.to_numeric(cells[count_col], errors="coerce").to_numpy(float)
    pop = np.where(np.isfinite(pop) & (pop > 0), pop, 0.0)
    geom = cells.geometry.to_numpy()
    empty = pd.isna(geom) | shapely.is_empty(geom)
    if empty.any():
        raise input_error("cells", f"{int(empty.sum())} cells have no geometry",
                          "drop rows without geometry")
    is_point = shapely.get_type_id(geom) == 0
    x = np.empty(len(geom))
    y = np.empty(len(geom))
    x[is_point], y[is_point] = shapely.get_x(geom[is_point]), shapely.get_y(geom[is_point])
    done = is_point.copy()
    if not done.all():   # a grid's rectangles: valid, and their centroid is their
        rx, ry, rect = representative_xy(cells, rectangles=True)   # representative point
        if rect.any():
            x[rect], y[rect] = rx[rect], ry[rect]
            done |= rect
    if not done.all():  # polygons: centroid of the repaired shape
        poly = geom[~done]
        bad = ~shapely.is_valid(poly)
        if bad.any():
            poly = poly.copy()
            poly[bad] = shapely.make_valid(poly[bad])
        cen = shapely.centroid(poly)
        x[~done], y[~done] = shapely.get_x(cen), shapely.get_y(cen)
    x0 = np.floor(x.min() / cell_size) * cell_size
    y0 = np.floor(y.min() / cell_size) * cell_size
    return (np.floor((x - x0) / cell_size).astype(np.int64),
            np.floor((y - y0) / cell_size).astype(np.int64), pop, x0, y0)


def _classify_raster(dens: np.ndarray, *, centre_density: float, centre_population: float,
                     cluster_density: float, cluster_population: float) -> np.ndarray:
    """Class codes (0 rural, 1 cluster, 2 centre) of a raster of residents per km2."""
    four = ndimage.generate_binary_structure(2, 1)
    eight = ndimage.generate_binary_structure(2, 2)
    out = np.zeros(dens.shape, dtype=np.int8)

    lab, n = ndimage.label(dens >= centre_density, structure=four)
    if n:
        sums = ndimage.sum_labels(dens, lab, index=np.arange(1, n + 1))
        big = np.concatenate([[False], sums >= centre_population])
        centre = big[lab]
        centre = _fill_centre(centre, four)
        out[centre] = 2
    lab, n = ndimage.label(dens >= cluster_density, structure=eight)
    if n:
        sums = ndimage.sum_labels(dens, lab, index=np.arange(1, n + 1))
        big = np.concatenate([[False], sums >= cluster_population])
        cluster = big[lab] & (out == 0)
        out[cluster] = 1
    return out


def _fill_centre(centre: np.ndarray, four: np.ndarray, max_hole_cells: int = 15) -> np.ndarray:
    """Majority-rule gap filling (>= 5 of 8 neighbours) and filling holes < 15 km2."""
    if not centre.any():
        return centre
    kernel = np.ones((3, 3), dtype=np.int16)
    kernel[1, 1] = 0
    for _ in range(100):
        neigh = ndimage.convolve(centre.astype(np.int16), kernel, mode="constant", cval=0)
        add = (~centre) & (neigh >= 5)
        if not add.any():
            break
        centre = centre | add
    holes, n = ndimage.label(~centre, structure=four)
    if n:
        sizes = np.bincount(holes.ravel())
        border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
        small = sizes < max_hole_cells
        small[0] = False
        small[border] = False
        centre = centre | small[holes]
    return centre


def _classify(cells: gpd.GeoDataFrame, count_col: str, cell_size: float | None,
              thresholds: dict[str, float]):
    par = _defaults()
    par.update(thresholds)
    size = float(cell_size or par["cell_size_m"])
    ix, iy, pop, x0, y0 = _cell_coords(cells, count_col, size)
    nx, ny = int(ix.max()) + 1, int(iy.max()) + 1
    if nx * ny > 50_000_000:
        raise input_error("cells", f"the grid spans {nx} x {ny} km cells",
                          "classify one region at a time")
    flat = iy * nx + ix
    total = np.bincount(flat, weights=pop, minlength=nx * ny).reshape(ny, nx)
    count = np.bincount(flat, minlength=nx * ny).reshape(ny, nx)
    area_km2 = (size / 1000.0) ** 2
    codes = _classify_raster(total / area_km2, **{k: float(par[k]) for k in (
        "centre_density", "centre_population", "cluster_density", "cluster_population")})
    return ix, iy, total, count, codes, x0, y0, size, area_km2


def urbanisation_grid(cells: gpd.GeoDataFrame, count_col: str, *,
                      cell_size: float | None = None, **thresholds: float) -> gpd.GeoDataFrame:
    """Aggregate a population grid to 1 km cells and classify them (urban centre/cluster/rural).

    Parameters
    ----------
    cells
        Population cells or points in a projected CRS in metres.
    count_col
        Residents per cell. NaN and negative counts count as 0.
    cell_size
        Side of the aggregation cell in metres (default 1000: the rules are defined on 1 km2).
    **thresholds
        Override ``centre_density``, ``centre_population``, ``cluster_density``,
        ``cluster_population`` (residents per km2 / residents).

    Returns
    -------
    geopandas.GeoDataFrame
        One square per 1 km cell holding at least one input cell, in the input CRS, with
        ``population``, ``density`` (residents per km2), ``n_cells`` and ``class``.
    """
    _, _, total, count, codes, x0, y0, size, area_km2 = _classify(cells, count_col, cell_size,
                                                                  thresholds)
    occ_y, occ_x = np.nonzero(count)
    minx = x0 + occ_x * size
    miny = y0 + occ_y * size
    return gpd.GeoDataFrame(
        {"ix": occ_x, "iy": occ_y, "population": total[occ_y, occ_x],
         "density": total[occ_y, occ_x] / area_km2, "n_cells": count[occ_y, occ_x],
         "class": _CLASS_CODES[codes[occ_y, occ_x]]},
        geometry=shapely.box(minx, miny, minx + size, miny + size), crs=cells.crs)


def degree_of_urbanisation(cells: gpd.GeoDataFrame, count_col: str, *,
                           cell_size: float | None = None, **thresholds: float) -> pd.Series:
    """Class of every population cell: ``"urban centre"``, ``"urban cluster"`` or ``"rural"``.

    The cells are aggregated to 1 km (see :func:`urbanisation_grid` and the module docstring for
    the rules); each input cell takes the class of the 1 km cell holding its centroid.

    Parameters
    ----------
    cells
        Population cells (polygons) or points, projected CRS in metres, id in the index.
    count_col
        Residents per cell (all ages: the thresholds are about residents, not children).
    cell_size, **thresholds
        As in :func:`urbanisation_grid`.

    Returns
    -------
    pandas.Series
        Indexed like ``cells``, named ``urban``, string values.
    """
    ix, iy, _, _, codes, _, _, _, _ = _classify(cells, count_col, cell_size, thresholds)
    return pd.Series(_CLASS_CODES[codes[iy, ix]], index=cells.index, name="urban",
                     dtype=object)


def cell_value_of(features: gpd.GeoDataFrame, cells: gpd.GeoDataFrame,
                  column: str = "urban") -> pd.Series:
    """The ``column`` of the cell each feature stands in: a school's urban/rural class.

    A feature stands at its representative point (as in :func:`geoequity.io.district_of`). It
    takes the value of the polygon cell containing that point (boundary included; on a shared
    edge, the first cell in the layer's order); a feature in no cell, or any feature when the
    cells are points, takes the value of the cell whose representative point is nearest.

    Parameters
    ----------
    features
        Schools (or any layer), indexed by id, in a projected CRS.
    cells
        Population cells with ``column`` (e.g. the pipeline's ``urban``), same CRS (reprojected
        when it differs).
    column
        The cells' column to carry over.

    Returns
    -------
    pandas.Series
        One value per feature, indexed like ``features``, named ``column``.
    """
    from scipy.spatial import cKDTree

    if column not in cells.columns:
        raise input_error("cells", f"no column {column!r} to give the schools",
                          f"choose one of: {', '.join(map(str, cells.columns))}")
    if features.crs is not None and cells.crs is not None and features.crs != cells.crs:
        cells = cells.to_crs(features.crs)
    values = cells[column].to_numpy(dtype=object)
    out = np.full(len(features), None, dtype=object)
    if len(features) and len(cells):
        pts = np.asarray(representative_points(features).values)
        found = np.zeros(len(pts), dtype=bool)
        geoms = np.asarray(cells.geometry.values)
        if shapely.get_type_id(geoms).max() >= 3:      # polygons: the cell containing it
            pi, ci = shapely.STRtree(geoms).query(pts, predicate="intersects")
            if pi.size:
                order = np.lexsort((ci, pi))
                pi, ci = pi[order], ci[order]
                first = np.r_[True, pi[1:] != pi[:-1]]
                out[pi[first]] = values[ci[first]]
                found[pi[first]] = True
        if not found.all():                             # else the nearest cell
            cpts = representative_points(cells)
            tree = cKDTree(np.column_stack([cpts.x.to_numpy(), cpts.y.to_numpy()]))
            miss = ~found
            _, j = tree.query(np.column_stack([shapely.get_x(pts[miss]),
                                               shapely.get_y(pts[miss])]))
            out[miss] = values[j]
    return pd.Series(out, index=features.index, name=column, dtype=object)
