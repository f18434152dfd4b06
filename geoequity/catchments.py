"""School catchments as polygons: nearest-school catchments and threshold service areas.

Both take the long cost table (network, straight line or the user's matrix) and the demand
cells as a GeoDataFrame indexed by cell id in a projected CRS (metres). Polygon cells are used
as they are (invalid ones repaired with ``shapely.make_valid``); point cells (population points,
raster centroids) get a polygon each: their Voronoi cell clipped to a disc of radius
``cell_radius`` (default: 0.71 x the median nearest-neighbour spacing, which keeps whole
squares of a regular grid and whole hexagons of a hexagonal grid while bounding the outer
cells), so that every point's area belongs to exactly one polygon.

Cells that are the pixels of a grid (equal axis-aligned rectangles on one lattice, as
:func:`geoequity.read_population` makes of a raster) are dissolved as a raster: the school of
each cell is burnt into a label image that is polygonised once (``rasterio.features.shapes``),
the same polygons as the union of the squares in a fraction of the time. Other cells are
dissolved with ``shapely.union_all`` per school.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.access import nearest
from geoequity.pairs import Pairs, as_pairs, as_series, id_index

__all__ = ["cell_polygons", "nearest_catchments", "service_areas"]


def _check_cells(cells: gpd.GeoDataFrame, source: str = "cells") -> None:
    if not isinstance(cells, gpd.GeoDataFrame):
        raise input_error(source, "cells must be a GeoDataFrame", "read them with read_population")
    if cells.crs is None:
        raise input_error(source, "the cells have no CRS", "set one (e.g. --input-crs EPSG:4326)")
    if not cells.crs.is_projected:
        raise input_error(source, f"the cells are in a geographic CRS ({cells.crs.name})",
                          "reproject to a projected CRS in metres (geoequity.crs.to_projected)")
    if cells.index.has_duplicates:
        dup = cells.index[cells.index.duplicated()].unique()[:5].tolist()
        raise input_error(source, f"duplicate cell ids {dup}", "make the ids unique")


def cell_polygons(cells: gpd.GeoDataFrame, *, cell_radius: float | None = None
                  ) -> gpd.GeoSeries:
    """One polygon per cell: polygons as they are (repaired), points as clipped Voronoi cells.

    Parameters
    ----------
    cells
        Demand cells in a projected CRS (metres), indexed by id; Point or Polygon geometry.
    cell_radius
        For point cells: clip each Voronoi cell to a disc of this radius (metres).

    Returns
    -------
    geopandas.GeoSeries
        Polygons indexed like ``cells``, same CRS. Empty geometries stay empty.
    """
    _check_cells(cells)
    geom = cells.geometry.to_numpy()
    kinds = shapely.get_type_id(geom)
    is_point = kinds == 0
    out = geom.copy()
    poly = ~is_point & ~shapely.is_missing(geom)
    if poly.any():
        bad = poly & ~shapely.is_valid(geom)
        if bad.any():
            info(f"cells: repaired {int(bad.sum())} invalid polygon(s) with make_valid")
            out[bad] = shapely.make_valid(geom[bad])
    if is_point.any():
        pts = geom[is_point]
        xy = shapely.get_coordinates(pts)
        uniq, inv = np.unique(xy, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        if cell_radius is None:
            if len(uniq) > 1:
                from scipy.spatial import cKDTree

                d, _ = cKDTree(uniq).query(uniq, k=2)
                cell_radius = float(np.median(d[:, 1])) * 0.71
            else:
                cell_radius = 100.0
        if cell_radius <= 0:
            raise input_error("cells", "cell_radius must be > 0", "pass a positive radius")
        if len(uniq) >= 2:
            mp = shapely.multipoints(uniq)
            env = shapely.buffer(shapely.envelope(mp), 2 * cell_radius)
            vor = shapely.voronoi_polygons(mp, extend_to=env, ordered=True)
            cellv = np.asarray(shapely.get_parts(vor))
        else:
            cellv = np.array([shapely.box(*(np.r_[uniq[0], uniq[0]] + np.array([-1, -1, 1, 1])
                                               * cell_radius))])
        discs = shapely.buffer(shapely.points(uniq), cell_radius, quad_segs=16)
        clipped = shapely.intersection(cellv, discs)
        out[is_point] = clipped[inv]
        if len(uniq) < len(xy):
            info(f"cells: {len(xy) - len(uniq)} point cells share a location with another; "
                 "they share its polygon")
    return gpd.GeoSeries(out, index=cells.index, crs=cells.crs)


def _children(cells: gpd.GeoDataFrame, demand: Any) -> pd.Series | None:
    if demand is None:
        if "children" in cells.columns:
            return as_series(cells["children"], "demand", "children")
        return None
    if isinstance(demand, str):
        if demand not in cells.columns:
            raise input_error("cells", f"no column {demand!r}", f"columns: {list(cells.columns)}")
        return as_series(cells[demand], "demand", "children")
    return as_series(demand, "demand", "children").reindex(cells.index).fillna(0.0)


def nearest_catchments(costs: pd.DataFrame | Pairs, cells: gpd.GeoDataFrame, *,
                       supply: pd.Series | None = None, threshold: float | None = None,
                       demand: Any = None, cell_radius: float | None = None,
                       nearest_school: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Nearest-school catchments: each cell goes to its lowest-cost school, dissolved.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (e.g. network metres), or the same
        already coded (:class:`geoequity.pairs.Pairs`).
    cells
        Demand cells (Point or Polygon), projected CRS in metres, indexed by cell id.
    supply
        Optional seats per school id: only these schools count; adds ``seats`` and
        ``seats_per_child``.
    threshold
        Optional cut-off: cells with no school within it belong to no catchment.
    demand
        Children per cell: a Series, a column name, or None to use a ``children`` column.
    cell_radius
        Clip radius (metres) for point cells, see :func:`cell_polygons`.
    nearest_school
        Each cell's nearest school already computed (``nearest_id``, ``nearest_cost`` indexed
        by cell id, as :func:`geoequity.nearest` gives them on ``costs``, e.g. by a cluster
        run's partitions, with the same ``supply`` and ``threshold``): used instead of
        computing it from ``costs``, which may then be None.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per school with at least one cell, indexed by school id (index name
        ``school``): ``school``, ``cells``, ``children``, ``seats``, ``seats_per_child``,
        ``shortfall`` (children - seats), ``mean_cost``, ``max_cost``, ``area_km2``, geometry
        (dissolved cells). ``attrs["cells_without_school"]`` counts cells left out. Ties on
        cost go to the smallest school id.
    """
    _check_cells(cells)
    if nearest_school is None:
        near = nearest(costs, cells.index, supply=supply, threshold=threshold)
    else:
        near = nearest_school[["nearest_id", "nearest_cost"]].reindex(cells.index)
    kids = _children(cells, demand)
    polys = cell_polygons(cells, cell_radius=cell_radius)
    frame = gpd.GeoDataFrame({
        "school": near["nearest_id"], "cost": near["nearest_cost"],
        "children": kids if kids is not None else np.nan,
    }, geometry=polys, crs=cells.crs)
    missing = frame["school"].isna()
    if missing.any():
        info(f"catchments: {int(missing.sum())} cells reach no school and belong to no "
             "catchment")
    frame = frame.loc[~missing.to_numpy()]
    with step(f"dissolving {len(frame):,} cells into catchments"):
        out = _dissolve(frame, "school", disjoint=True)
    if supply is not None:
        sup = as_series(supply, "supply", "seats")
        out["seats"] = sup.reindex(out.index).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out["seats_per_child"] = np.where(out["children"] > 0,
                                              out["seats"] / out["children"], np.nan)
        out["shortfall"] = out["children"] - out["seats"]
    out.attrs["cells_without_school"] = int(missing.sum())
    return out


def _dissolve(frame: gpd.GeoDataFrame, by: str, *, disjoint: bool = False
              ) -> gpd.GeoDataFrame:
    """One row per value of ``by``: cell statistics and the union of the cells' polygons.

    ``disjoint``: each cell is in one group only (catchments, not service areas), so a grid
    of cells can be polygonised as a label raster (:func:`_grid_union`)."""
    g = frame.groupby(by, sort=True)
    stats = pd.DataFrame({
        "cells": g.size(),
        "children": g["children"].sum(min_count=1),
        "mean_cost": g["cost"].mean(),
        "max_cost": g["cost"].max(),
    })
    grid = _grid(frame.geometry.to_numpy()) if disjoint else None
    if grid is not None:
        label = stats.index.get_indexer(frame[by])
        geometry = _grid_union(grid, label, len(stats))
    else:
        geoms = frame[[by, "geometry"]].dissolve(by=by, sort=True)
        geometry = geoms.geometry.reindex(stats.index)
    out = gpd.GeoDataFrame(stats, geometry=geometry, crs=frame.crs)
    out["area_km2"] = out.geometry.area / 1e6
    out.index.name = "school"
    out.insert(0, "school", out.index.to_numpy())
    return out


MAX_GRID_PIXELS = 50_000_000   # a label image of at most 200 MB (int32)


def _grid(polys: np.ndarray) -> tuple | None:
    """``(transform, row, col, shape)`` when every polygon is a pixel of one grid: equal
    axis-aligned rectangles on one lattice, no two in the same place; else None."""
    if len(polys) == 0 or not (shapely.get_type_id(polys) == 3).all():
        return None
    if ((shapely.get_num_coordinates(polys) != 5).any()
            or (shapely.get_num_interior_rings(polys) != 0).any()):
        return None
    b = shapely.bounds(polys)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    w0, h0 = float(np.median(w)), float(np.median(h))
    tol = 1e-6
    if not (w0 > 0 and h0 > 0) or (np.abs(w - w0) > tol * w0).any() \
            or (np.abs(h - h0) > tol * h0).any():
        return None
    # a quadrilateral with the area of its bounding box is that box
    if (np.abs(shapely.area(polys) - w * h) > tol * w0 * h0).any():
        return None
    x0, top = float(b[:, 0].min()), float(b[:, 3].max())
    fc, fr = (b[:, 0] - x0) / w0, (top - b[:, 3]) / h0
    col, row = np.rint(fc), np.rint(fr)
    if (np.abs(fc - col) > tol).any() or (np.abs(fr - row) > tol).any():
        return None
    shape = (int(row.max()) + 1, int(col.max()) + 1)
    if shape[0] * shape[1] > MAX_GRID_PIXELS:
        return None
    row, col = row.astype(np.int64), col.astype(np.int64)
    flat = row * shape[1] + col
    seen = np.zeros(shape[0] * shape[1], dtype=bool)
    seen[flat] = True
    if int(np.count_nonzero(seen)) != len(flat):   # two cells in one place: not a grid
        return None
    from rasterio.transform import Affine

    return Affine(w0, 0.0, x0, 0.0, -h0, top), row, col, shape


def _grid_union(grid: tuple, label: np.ndarray, n: int) -> np.ndarray:
    """Union of the grid cells of each label ``0 .. n-1``: the label image polygonised."""
    from rasterio.features import shapes
    from shapely.geometry import shape as from_geojson

    transform, row, col, size = grid
    image = np.full(size, -1, dtype=np.int32)
    image[row, col] = label
    parts = [(from_geojson(g), int(v)) for g, v in
             shapes(image, mask=image >= 0, connectivity=4, transform=transform)]
    del image
    polys = np.array([p for p, _ in parts], dtype=object)
    which = np.array([v for _, v in parts], dtype=np.int64)
    order = np.argsort(which, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(which[order])) + 1, len(order)]
    out = np.full(n, None, dtype=object)
    for a, z in zip(starts[:-1], starts[1:], strict=True):
        group = polys[order[a:z]]
        out[which[order[a]]] = group[0] if len(group) == 1 else shapely.union_all(group)
    bad = ~shapely.is_valid(out)
    if bad.any():
        out[bad] = shapely.make_valid(out[bad])
    return out


def service_areas(costs: pd.DataFrame | Pairs, cells: gpd.GeoDataFrame, threshold: float, *,
                  supply: pd.Series | None = None, demand: Any = None,
                  cell_radius: float | None = None) -> gpd.GeoDataFrame:
    """Service area of each school: the union of the cells within ``threshold`` of it.

    Service areas overlap where cells reach several schools (unlike catchments).

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost``, or :class:`geoequity.pairs.Pairs`.
    cells
        Demand cells, projected CRS in metres, indexed by id.
    threshold
        Cost cut-off (``cost <= threshold``), cost units.
    supply
        Optional seats per school id: restricts to these schools, adds ``seats`` and
        ``seats_per_child`` (seats per child in reach: the 2SFCA supply ratio).
    demand
        Children per cell (Series, column name or None for a ``children`` column).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per school reaching at least one cell (index ``school``): ``school``,
        ``cells``, ``children``, ``mean_cost``, ``max_cost``, ``area_km2`` (+ ``seats``,
        ``seats_per_child``), geometry.
    """
    _check_cells(cells)
    idx = id_index(cells)
    dest = None
    if supply is not None:
        sup = as_series(supply, "supply", "seats")
        dest = sup.index
    p = as_pairs(costs, idx, dest, threshold=float(threshold))
    dest = p.destinations
    kids = _children(cells, demand)
    polys = cell_polygons(cells, cell_radius=cell_radius)
    frame = gpd.GeoDataFrame({
        "school": np.asarray(dest.take(p.destination)), "cost": p.cost,
        "children": (kids.to_numpy()[p.origin] if kids is not None else np.nan),
    }, geometry=polys.to_numpy()[p.origin], crs=cells.crs)
    with step(f"building service areas of {len(np.unique(p.destination)):,} schools"):
        out = _dissolve(frame, "school")
    if supply is not None:
        out["seats"] = sup.reindex(out.index).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out["seats_per_child"] = np.where(out["children"] > 0,
                                              out["seats"] / out["children"], np.nan)
    return out
