"""Shape of districts: compactness scores, contiguity and holes, and cell adjacency.

All functions take geometries in a projected CRS in metres and are vectorised (shapely 2).

Formulas (A = area, P = perimeter, both summed over the parts of a multipolygon):

- Polsby-Popper: ``4 * pi * A / P**2`` (1 for a circle, pi/4 = 0.785 for a square).
- Reock: ``A / (pi * r**2)`` with ``r`` the radius of the minimum bounding circle
  (1 for a circle, 2/pi = 0.637 for a square).
- Convex-hull ratio: ``A / area(convex hull)`` (1 for any convex shape, 6/7 for an L of three
  unit squares, whose hull has area 3.5).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

__all__ = [
    "polsby_popper",
    "reock",
    "convex_hull_ratio",
    "shape_metrics",
    "cell_adjacency",
    "cells_from_points",
]


def _geoms(geoms) -> np.ndarray:
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    arr = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    return arr.reshape(-1)


def polsby_popper(geoms) -> np.ndarray:
    """Polsby-Popper compactness ``4*pi*A / P**2`` of each geometry (0..1, 1 = circle).

    Parameters
    ----------
    geoms
        Polygons (array, GeoSeries or GeoDataFrame) in a projected CRS.

    Returns
    -------
    numpy.ndarray
        One score per geometry; NaN for empty or zero-perimeter geometries.
    """
    g = _geoms(geoms)
    area = shapely.area(g)
    per = shapely.length(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 4.0 * np.pi * area / per**2
    return np.where(per > 0, out, np.nan)


def reock(geoms) -> np.ndarray:
    """Reock compactness: area over the area of the minimum bounding circle (0..1).

    Parameters
    ----------
    geoms
        Polygons in a projected CRS.

    Returns
    -------
    numpy.ndarray
        One score per geometry; NaN for empty geometries.
    """
    g = _geoms(geoms)
    r = shapely.minimum_bounding_radius(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = shapely.area(g) / (np.pi * r**2)
    return np.where(r > 0, out, np.nan)


def convex_hull_ratio(geoms) -> np.ndarray:
    """Area over the area of the convex hull (0..1, 1 = convex).

    Parameters
    ----------
    geoms
        Polygons in a projected CRS.
    """
    g = _geoms(geoms)
    hull = shapely.area(shapely.convex_hull(g))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = shapely.area(g) / hull
    return np.where(hull > 0, out, np.nan)


def _parts(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Polygon parts of each geometry (non-empty, positive area) and the owner of each part."""
    parts, owner = shapely.get_parts(g, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], owner[keep]


def shape_metrics(geoms, *, min_part_area: float = 0.0) -> pd.DataFrame:
    """Contiguity, holes and compactness of each district geometry.

    Parameters
    ----------
    geoms
        District (multi)polygons, GeoSeries or GeoDataFrame, projected CRS in metres.
    min_part_area
        Parts smaller than this (square metres) are ignored when counting pieces, so slivers
        left by digitising do not make a district "non-contiguous". Default 0 (count every part
        with positive area).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``geoms``: ``area_km2``, ``parts`` (polygon pieces), ``contiguous``
        (exactly one piece), ``holes`` (interior rings), ``polsby_popper``, ``reock``,
        ``convex_hull_ratio``.
    """
    index = geoms.index if isinstance(geoms, pd.Series | pd.DataFrame) else None
    g = _geoms(geoms)
    g = np.where(shapely.is_valid(g) | shapely.is_missing(g), g, shapely.make_valid(g))
    parts, owner = _parts(g)
    big = shapely.area(parts) > min_part_area
    n_parts = np.bincount(owner[big], minlength=len(g))
    holes = np.bincount(owner, weights=shapely.get_num_interior_rings(parts), minlength=len(g))
    out = pd.DataFrame({
        "area_km2": shapely.area(g) / 1e6,
        "parts": n_parts.astype(int),
        "contiguous": n_parts == 1,
        "holes": holes.astype(int),
        "polsby_popper": polsby_popper(g),
        "reock": reock(g),
        "convex_hull_ratio": convex_hull_ratio(g),
    }, index=index)
    return out


def hole_polygons(geoms) -> tuple[np.ndarray, np.ndarray]:
    """The holes (interior rings as polygons) of each geometry and the owner index of each."""
    g = _geoms(geoms)
    g = np.where(shapely.is_valid(g) | shapely.is_missing(g), g, shapely.make_valid(g))
    parts, owner = _parts(g)
    n = shapely.get_num_interior_rings(parts)
    if n.sum() == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=int)
    rep_parts = np.repeat(np.arange(len(parts)), n)
    ring_no = np.concatenate([np.arange(k) for k in n])
    rings = shapely.get_interior_ring(parts[rep_parts], ring_no)
    return shapely.polygons(rings), owner[rep_parts]


def cell_adjacency(cells, *, queen: bool = False) -> sparse.csr_matrix:
    """Adjacency of polygon cells: rook (a shared edge) or queen (any shared point).

    Uses an STRtree query (vectorised), so it works for any tessellation: square grids,
    hexagons, census blocks. Cells that overlap are treated as adjacent.

    Parameters
    ----------
    cells
        Polygon cells (GeoSeries/GeoDataFrame/array), projected CRS.
    queen
        Count corner contacts as adjacency. Default False (rook), which matches contiguity of
        the union: two squares meeting at a corner do not make one polygon.

    Returns
    -------
    scipy.sparse.csr_matrix
        Symmetric boolean ``n x n`` matrix, rows in the order of ``cells``.
    """
    g = _geoms(cells)
    n = len(g)
    tree = shapely.STRtree(g)
    left, right = tree.query(g, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not queen and left.size:
        inter = shapely.intersection(g[left], g[right])
        dim = shapely.get_dimensions(inter)
        shared = (dim >= 1) & ((shapely.length(inter) > 0) | (shapely.area(inter) > 0))
        left, right = left[shared], right[shared]
    data = np.ones(2 * left.size, dtype=bool)
    adj = sparse.coo_matrix((data, (np.r_[left, right], np.r_[right, left])), shape=(n, n))
    return adj.tocsr()


def cells_from_points(points, *, spacing: float | None = None) -> gpd.GeoSeries:
    """Polygon cells around point cells (e.g. hexagon or grid centroids): Voronoi polygons
    clipped to a circle of radius ``spacing`` around each point.

    For the centres of a regular hexagonal or square grid the Voronoi cells are the grid cells
    themselves, so adjacency and dissolved zones follow the original grid.

    Parameters
    ----------
    points
        Point cells (GeoSeries/GeoDataFrame), projected CRS in metres.
    spacing
        Clip radius in metres; default: 0.75 x the median nearest-neighbour distance (more than
        the circumradius of a hexagon, 0.577, or of a square, 0.707), so interior cells are the
        grid cells and edge cells do not balloon into empty land.

    Returns
    -------
    geopandas.GeoSeries
        One polygon per point, same index and CRS.
    """
    from scipy.spatial import cKDTree

    pts = _geoms(points)
    xy = shapely.get_coordinates(pts)
    index = points.index if isinstance(points, pd.Series | pd.DataFrame) else None
    crs = getattr(points, "crs", None)
    if len(xy) == 1:
        return gpd.GeoSeries(shapely.buffer(pts, spacing or 1.0), index=index, crs=crs)
    if spacing is None:
        d, _ = cKDTree(xy).query(xy, k=2)
        spacing = 0.75 * float(np.median(d[:, 1]))
    mp = shapely.multipoints(xy)
    frame = shapely.buffer(shapely.envelope(mp), 2 * spacing)
    vor = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=frame))
    # voronoi_polygons returns cells in no guaranteed order: match each cell to its point
    tree = shapely.STRtree(vor)
    pi, vi = tree.query(pts, predicate="intersects")
    order = np.full(len(pts), -1)
    first = np.unique(pi, return_index=True)
    order[first[0]] = vi[first[1]]
    cells = shapely.intersection(vor[order], shapely.buffer(pts, spacing, quad_segs=8))
    return gpd.GeoSeries(cells, index=index, crs=crs)
