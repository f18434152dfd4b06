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

From pieces (a cluster run's cells stay on its workers, one piece per partition: that
partition's core cells, each cell in one piece, with the ``nearest_id``, ``nearest_cost`` and
``children`` columns of the run's cells): :func:`catchments_piece` gives one piece's
catchments (per school reached: its cells, the sums behind its figures and the union of its
cells in the piece, so as small as the schools' outlines), and :func:`catchments_of` joins
the pieces' into the table :func:`nearest_catchments` gives for all cells at once. A school's
cells in several pieces touch across the partitions' borders: their polygons are united
there, snapped to a precision of a power of two just below 2**-24 (6e-8) of a grid's pixel
(the pieces' lattices agree to the last bits only), so the areas equal the in-process ones within 1e-6 and a grid
catchment has the same parts. :func:`nearest_catchments` is itself :func:`catchments_of` of
one piece: one rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.access import nearest
from geoequity.pairs import Pairs, as_pairs, as_series, id_index

__all__ = ["CatchmentsPiece", "catchments_of", "catchments_piece", "cell_polygons",
           "nearest_catchments", "service_areas"]


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
    return catchments_of([_piece(cells, near, demand=demand, cell_radius=cell_radius)],
                         supply=supply)


@dataclass
class CatchmentsPiece:
    """One piece's nearest-school catchments (:func:`catchments_piece`): a row per school
    its cells reach, so bounded by the schools and their outlines, not by the cells.

    ``stats`` is indexed by school id (sorted) with ``cells``, ``children`` (the sum, 0 when
    none is known), ``children_n`` (cells with a known number of children), ``cost_sum``,
    ``cost_n`` and ``max_cost``; ``geometry`` the union of the school's cells in the piece,
    one per row; ``grid_size`` the snapping precision of a piece dissolved as a grid (None
    otherwise); ``without_school`` the piece's cells that reach no school."""

    stats: pd.DataFrame
    geometry: np.ndarray
    crs: Any
    grid_size: float | None = None
    without_school: int = 0


def catchments_piece(piece: gpd.GeoDataFrame, *, demand: Any = None,
                     cell_radius: float | None = None) -> CatchmentsPiece:
    """The nearest-school catchments of one piece of a run's cells, to join with
    :func:`catchments_of` (on a cluster: on the worker holding the piece).

    Parameters
    ----------
    piece
        Some of the run's cells (a partition's core cells; each cell in one piece), indexed
        by cell id, projected CRS in metres, with the run's ``nearest_id`` and
        ``nearest_cost`` (each cell's nearest school within ``max_cost``, NaN/NA for none)
        and children. Polygon cells (a raster's pixels); point cells get their Voronoi
        polygons from the piece's own points, which differ from the whole's near the piece's
        border, so give a piece of points its polygons first.
    demand
        Children per cell: a Series, a column name, or None for the ``children`` column.
    cell_radius
        Clip radius (metres) for point cells, see :func:`cell_polygons`.

    Returns
    -------
    CatchmentsPiece
        Per school: its cells, children and cost sums, and the union of its cells here.
    """
    _check_cells(piece)
    return _piece(piece, piece[["nearest_id", "nearest_cost"]], demand=demand,
                  cell_radius=cell_radius)


def _piece(cells: gpd.GeoDataFrame, near: pd.DataFrame, *, demand: Any,
           cell_radius: float | None) -> CatchmentsPiece:
    kids = _children(cells, demand)
    polys = cell_polygons(cells, cell_radius=cell_radius)
    frame = gpd.GeoDataFrame({
        "school": near["nearest_id"], "cost": near["nearest_cost"],
        "children": kids if kids is not None else np.nan,
    }, geometry=polys, crs=cells.crs)
    missing = frame["school"].isna()
    frame = frame.loc[~missing.to_numpy()]
    with step(f"dissolving {len(frame):,} cells into catchments"):
        out = _summarise(frame, "school", disjoint=True)
    out.without_school = int(missing.sum())
    return out


def catchments_of(pieces: list[CatchmentsPiece], *, supply: pd.Series | None = None
                  ) -> gpd.GeoDataFrame:
    """The nearest-school catchments of a run's cells from its pieces'
    (:func:`catchments_piece`): the table :func:`nearest_catchments` gives (see its Returns)
    for all the cells at once. Counts and the largest cost exactly; children and the mean
    cost to the last bits (the sums are added piece by piece); each polygon the union of
    the school's polygons in the pieces (the same area within 1e-6 of it).

    ``supply``: seats per school id, adding ``seats``, ``seats_per_child`` and
    ``shortfall`` (as :func:`nearest_catchments`' ``supply``)."""
    out = _combine(pieces)
    without = sum(p.without_school for p in pieces)
    if without:
        info(f"catchments: {without} cells reach no school and belong to no catchment")
    if supply is not None:
        sup = as_series(supply, "supply", "seats")
        out["seats"] = sup.reindex(out.index).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            out["seats_per_child"] = np.where(out["children"] > 0,
                                              out["seats"] / out["children"], np.nan)
        out["shortfall"] = out["children"] - out["seats"]
    out.attrs["cells_without_school"] = int(without)
    return out


def _dissolve(frame: gpd.GeoDataFrame, by: str, *, disjoint: bool = False
              ) -> gpd.GeoDataFrame:
    """One row per value of ``by``: cell statistics and the union of the cells' polygons.

    ``disjoint``: each cell is in one group only (catchments, not service areas), so a grid
    of cells can be polygonised as a label raster (:func:`_grid_union`)."""
    return _combine([_summarise(frame, by, disjoint=disjoint)])


def _summarise(frame: gpd.GeoDataFrame, by: str, *, disjoint: bool) -> CatchmentsPiece:
    """The sums behind each group's figures and the union of its cells (one piece)."""
    g = frame.groupby(by, sort=True)
    stats = pd.DataFrame({
        "cells": g.size(),
        "children": g["children"].sum(),
        "children_n": g["children"].count(),
        "cost_sum": g["cost"].sum(),
        "cost_n": g["cost"].count(),
        "max_cost": g["cost"].max(),
    })
    grid = _grid(frame.geometry.to_numpy()) if disjoint else None
    size = None
    if grid is not None:
        label = stats.index.get_indexer(frame[by])
        geometry = _grid_union(grid, label, len(stats))
        size = _snap_size(grid[0].a)
    elif len(frame):
        geoms = frame[[by, "geometry"]].dissolve(by=by, sort=True)
        geometry = geoms.geometry.reindex(stats.index).to_numpy()
    else:
        geometry = np.array([], dtype=object)
    return CatchmentsPiece(stats, np.asarray(geometry, dtype=object), frame.crs, size)


def _snap_size(cell: float) -> float:
    """The precision the polygons of a grid of ``cell``-wide pixels are united at across
    pieces: the power of two nearest below 2**-24 of the pixel (a grid's corners that are
    whole metres, or any multiple of it, stay where they are)."""
    return float(2.0 ** np.floor(np.log2(abs(cell)) - 24))


def _combine(pieces: list[CatchmentsPiece]) -> gpd.GeoDataFrame:
    """The groups' rows of every piece joined (see :func:`catchments_of`)."""
    used = [p for p in pieces if len(p.stats)] or pieces[:1]
    crs = pieces[0].crs if pieces else None
    if len(used) == 1:   # one piece (an in-process run): its rows as they are
        stats, geometry = used[0].stats, used[0].geometry
    else:
        rows = pd.concat([p.stats for p in used])
        g = rows.groupby(level=0, sort=True)
        stats = g[["cells", "children", "children_n", "cost_sum", "cost_n"]].sum()
        stats["max_cost"] = g["max_cost"].max()
        geometry = _united(np.concatenate([p.geometry for p in used]),
                           stats.index.get_indexer(rows.index),
                           np.concatenate([np.full(len(p.stats), p.grid_size or np.nan)
                                           for p in used]), len(stats))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = stats["cost_sum"].to_numpy() / stats["cost_n"].to_numpy()
    table = pd.DataFrame({
        "cells": stats["cells"].to_numpy(),
        "children": stats["children"].where(stats["children_n"] > 0).to_numpy(),
        "mean_cost": np.where(stats["cost_n"].to_numpy() > 0, mean, np.nan),
        "max_cost": stats["max_cost"].to_numpy(),
    }, index=stats.index)
    out = gpd.GeoDataFrame(table, geometry=np.asarray(geometry, dtype=object), crs=crs)
    out["area_km2"] = out.geometry.area / 1e6
    out.index.name = "school"
    out.insert(0, "school", out.index.to_numpy())
    return out


def _united(geoms: np.ndarray, group: np.ndarray, snap: np.ndarray, n: int) -> np.ndarray:
    """The union of the polygons of each group ``0 .. n-1`` (``group`` of each polygon);
    a group's polygons all from grids are united at their precision (``snap``, NaN for
    none), so that pixels whose corners agree to the last bits only still join."""
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1, len(order)]
    out = np.full(n, None, dtype=object)
    for a, z in zip(starts[:-1], starts[1:], strict=True):
        rows = order[a:z]
        if len(rows) == 1:
            out[group[rows[0]]] = geoms[rows[0]]
            continue
        size = snap[rows]
        precise = not np.isnan(size).any()
        out[group[rows[0]]] = shapely.union_all(
            geoms[rows], grid_size=float(size.max()) if precise else None)
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
