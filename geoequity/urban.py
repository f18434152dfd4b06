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

From pieces (disjoint parts of the cells, e.g. a cluster's partitions; docs/scale.md): on
each piece :func:`residents_column_piece` and :func:`urban_origin_piece`, combined by
:func:`residents_column_of` and :func:`urban_origin_of`; then :func:`urban_piece` (the
piece's residents per 1 km cell) and :func:`urban_classes_of` (the classified 1 km grid);
then :func:`label_piece` (or :func:`urban_class`, the run's rule) per piece. The classes are
those of :func:`degree_of_urbanisation`, which is the same functions over one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import representative_points, representative_xy

__all__ = ["URBAN_CENTRE", "URBAN_CLUSTER", "RURAL", "cell_value_of", "cell_value_piece",
           "cell_values_of", "CellValues", "degree_of_urbanisation", "label_piece",
           "residents_column", "residents_column_of", "residents_column_piece", "urban_class",
           "urban_classes_of", "urban_origin_of", "urban_origin_piece", "urban_piece", "UrbanGrid",
           "urbanisation_grid", "UrbanSums"]

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
    return residents_column_of([residents_column_piece(cells)])


def residents_column_piece(piece: pd.DataFrame) -> tuple[bool, bool, bool, bool]:
    """What :func:`residents_column_of` needs of a piece of cells: whether it has the columns
    ``residents``, ``population`` and ``children``, and whether ``population`` equals
    ``children`` in every cell of the piece (``numpy.allclose``, NaN equal to NaN; True
    when one of the two is absent)."""
    cols = piece.columns
    same = True
    if "residents" not in cols and "population" in cols and "children" in cols:
        pop = pd.to_numeric(piece["population"], errors="coerce").to_numpy(float)
        kids = pd.to_numeric(piece["children"], errors="coerce").to_numpy(float)
        same = bool(np.allclose(pop, kids, equal_nan=True))
    return "residents" in cols, "population" in cols, "children" in cols, same


def residents_column_of(summaries) -> str:
    """:func:`residents_column` of all cells from every piece's :func:`residents_column_piece`
    (the pieces' columns are the run's; ``population`` differs from ``children`` when it does
    in any piece). Warns (once) when the classification falls back on the children."""
    summaries = list(summaries)
    residents, population, children = (any(s[i] for s in summaries) for i in range(3))
    if residents:
        return "residents"
    if population and children:
        if not all(s[3] for s in summaries):
            return "population"
    elif population:
        return "population"
    info("warning: urban/rural is classified on the child counts only (no total residents "
         "given), so densities are too low and most cells come out rural: give "
         "[population] residents = \"residents.tif\" (or a column), or [population] child_share")
    return "children"


def _cell_xy(cells: gpd.GeoDataFrame, count_col: str | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Each cell's centre (``x``, ``y``) and residents (NaN and negatives as 0; None without
    ``count_col``): a point as it is, a grid's rectangle by its centroid (its representative
    point), another polygon by the centroid of its repaired shape. Checks the layer."""
    if not isinstance(cells, gpd.GeoDataFrame):
        raise input_error("cells", "a GeoDataFrame of population cells is needed",
                          "read the grid with geoequity.read_population")
    if cells.crs is None or not cells.crs.is_projected:
        raise input_error("cells", "the population grid is not in a projected CRS in metres",
                          "reproject it (geoequity.crs.to_projected) before classifying")
    pop = None
    if count_col is not None:
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
    return x, y, pop


def _cell_size(cell_size: float | None) -> float:
    return float(cell_size or _defaults()["cell_size_m"])


def _extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return (x.min(), y.min()) if len(x) else (np.inf, np.inf)


def _origin(extents, size: float) -> tuple[float, float]:
    """The lower left corner of the 1 km grid: the cells' lowest centre coordinates, snapped
    down to whole multiples of ``size`` (``(0, 0)`` when there is no cell)."""
    xmin = min((e[0] for e in extents), default=np.inf)
    ymin = min((e[1] for e in extents), default=np.inf)
    if not (np.isfinite(xmin) and np.isfinite(ymin)):
        return 0.0, 0.0
    return np.floor(xmin / size) * size, np.floor(ymin / size) * size


def _km_index(x: np.ndarray, y: np.ndarray, origin: tuple[float, float], size: float
              ) -> tuple[np.ndarray, np.ndarray]:
    return (np.floor((x - origin[0]) / size).astype(np.int64),
            np.floor((y - origin[1]) / size).astype(np.int64))


def _check_span(nx: int, ny: int) -> None:
    if nx * ny > 50_000_000:
        raise input_error("cells", f"the grid spans {nx} x {ny} km cells",
                          "classify one region at a time")


def _km_sums(ix: np.ndarray, iy: np.ndarray, pop: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Residents and cells per 1 km cell holding a cell, in row-major order: ``ix, iy,
    population, count``. Each total adds its cells' residents in the cells' order."""
    if not len(ix):
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))
    lx, ly = int(ix.min()), int(iy.min())
    nx, ny = int(ix.max()) - lx + 1, int(iy.max()) - ly + 1
    _check_span(nx, ny)
    flat = (iy - ly) * nx + (ix - lx)
    total = np.bincount(flat, weights=pop, minlength=nx * ny)
    count = np.bincount(flat, minlength=nx * ny)
    occ = np.flatnonzero(count)
    return occ % nx + lx, occ // nx + ly, total[occ], count[occ].astype(np.int64)


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


@dataclass(frozen=True, eq=False)
class UrbanSums:
    """One piece's residents per 1 km cell (:func:`urban_piece`): one entry per 1 km cell
    holding at least one of its cells, ``ix``/``iy`` counted from ``origin`` in steps of
    ``cell_size`` (metres)."""

    origin: tuple[float, float]
    cell_size: float
    ix: np.ndarray          # int64
    iy: np.ndarray          # int64
    population: np.ndarray  # float64: residents (NaN and negative counts as 0)
    count: np.ndarray       # int64: cells


@dataclass(frozen=True, eq=False)
class UrbanGrid:
    """The classified 1 km grid of all cells (:func:`urban_classes_of`): ``codes[iy, ix]``
    is 0 (rural), 1 (urban cluster) or 2 (urban centre), ``ix``/``iy`` counted from
    ``origin`` in steps of ``cell_size`` (metres). One byte per 1 km cell of the cells'
    extent: what :func:`label_piece` needs on a worker."""

    origin: tuple[float, float]
    cell_size: float
    codes: np.ndarray       # int8, shape (ny, nx)


def urban_origin_piece(piece: gpd.GeoDataFrame) -> tuple[float, float]:
    """A piece's lowest cell centre coordinates ``(xmin, ymin)``, for :func:`urban_origin_of`
    (``(inf, inf)`` for a piece of no cell).

    Parameters
    ----------
    piece
        Population cells (or points), projected CRS in metres.
    """
    x, y, _ = _cell_xy(piece, None)
    return _extent(x, y)


def urban_origin_of(summaries, *, cell_size: float | None = None) -> tuple[float, float]:
    """The origin of the 1 km grid of all cells from the pieces' :func:`urban_origin_piece`:
    their lowest centre coordinates snapped down to whole multiples of ``cell_size`` (as
    :func:`degree_of_urbanisation` places its grid), to give :func:`urban_piece`.

    Parameters
    ----------
    summaries
        Every piece's :func:`urban_origin_piece`, in any order.
    cell_size
        As in :func:`urbanisation_grid` (default 1000 m).

    Returns
    -------
    tuple of float
        ``(x0, y0)`` in the cells' CRS; ``(0, 0)`` when there is no cell.
    """
    return _origin(list(summaries), _cell_size(cell_size))


def urban_piece(piece: gpd.GeoDataFrame, count_col: str, origin: tuple[float, float],
                cell_size: float | None = None) -> UrbanSums:
    """A piece's residents and cells per 1 km cell, for :func:`urban_classes_of`.

    Parameters
    ----------
    piece
        Population cells (or points), projected CRS in metres, with ``count_col``.
    count_col
        Residents per cell (:func:`residents_column_of` of all pieces).
    origin
        :func:`urban_origin_of` of all pieces.
    cell_size
        As in :func:`urbanisation_grid`; the same as given to :func:`urban_origin_of`.

    Returns
    -------
    UrbanSums
        One entry per 1 km cell the piece touches (float64 sums in the piece's order).
    """
    size = _cell_size(cell_size)
    x, y, pop = _cell_xy(piece, count_col)
    ix, iy = _km_index(x, y, origin, size)
    return UrbanSums((float(origin[0]), float(origin[1])), size, *_km_sums(ix, iy, pop))


def _combine(summaries: list[UrbanSums]):
    """The dense 1 km rasters of residents and cells (``ny x nx``) from every piece's sums,
    with the origin and cell size they share."""
    if not summaries:
        raise ValueError("urban_classes_of needs the summary of at least one piece")
    origin, size = summaries[0].origin, summaries[0].cell_size
    if any(s.origin != origin or s.cell_size != size for s in summaries):
        raise ValueError("the pieces' 1 km sums have different origins or cell sizes: give "
                         "every urban_piece the same urban_origin_of and cell_size")
    ix = np.concatenate([s.ix for s in summaries])
    iy = np.concatenate([s.iy for s in summaries])
    nx = int(ix.max()) + 1 if len(ix) else 0
    ny = int(iy.max()) + 1 if len(iy) else 0
    _check_span(nx, ny)
    flat = iy * nx + ix
    total = np.bincount(flat, weights=np.concatenate([s.population for s in summaries]),
                        minlength=nx * ny).reshape(ny, nx)
    count = np.bincount(flat, weights=np.concatenate([s.count for s in summaries]),
                        minlength=nx * ny).astype(np.int64).reshape(ny, nx)
    return total, count, origin, size


def _codes(total: np.ndarray, size: float, thresholds: dict[str, float]) -> np.ndarray:
    par = _defaults()
    par.update(thresholds)
    return _classify_raster(total / (size / 1000.0) ** 2, **{k: float(par[k]) for k in (
        "centre_density", "centre_population", "cluster_density", "cluster_population")})


def urban_classes_of(summaries, **thresholds: float) -> UrbanGrid:
    """The classified 1 km grid of all cells from every piece's :func:`urban_piece`: the
    same classes as :func:`degree_of_urbanisation` of all cells, for :func:`label_piece`.

    A 1 km cell's residents are the sum of its pieces' float64 sums (each the sum of that
    piece's cells in their order). Where those additions are exact (whole-number counts, or
    float32 rasters' values, whose sums need fewer than 53 bits) the totals, and so the
    classes, are exactly those of one process; otherwise a total may differ in its last bit,
    which changes a class only for a 1 km cell or cluster whose density or residents lie
    within that bit of a threshold.

    Parameters
    ----------
    summaries
        Every piece's :func:`urban_piece` (the same origin and cell size), in any order.
    **thresholds
        As in :func:`urbanisation_grid`.
    """
    total, _, origin, size = _combine(list(summaries))
    return UrbanGrid(origin, size, _codes(total, size, thresholds))


def _labels(grid: UrbanGrid, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    ny, nx = grid.codes.shape
    if len(ix) and (ix.min() < 0 or iy.min() < 0 or ix.max() >= nx or iy.max() >= ny):
        raise ValueError("cells outside the classified 1 km grid: classify the grid with "
                         "the urban_piece of every piece, these cells' included")
    return _CLASS_CODES[grid.codes[iy, ix]]


def label_piece(piece: gpd.GeoDataFrame, grid: UrbanGrid) -> pd.Series:
    """The class of each cell of a piece: the class of the 1 km cell holding its centre in
    ``grid`` (:func:`urban_classes_of` of all pieces), as :func:`degree_of_urbanisation`
    gives it.

    Returns
    -------
    pandas.Series
        Indexed like ``piece``, named ``urban``, string values.
    """
    x, y, _ = _cell_xy(piece, None)
    ix, iy = _km_index(x, y, grid.origin, grid.cell_size)
    return pd.Series(_labels(grid, ix, iy), index=piece.index, name="urban", dtype=object)


def _classify(cells: gpd.GeoDataFrame, count_col: str, cell_size: float | None,
              thresholds: dict[str, float]):
    """All cells as one piece: their 1 km indices, the dense residents and cells rasters,
    the classified grid and the area of a 1 km cell in km2."""
    size = float(cell_size or {**_defaults(), **thresholds}["cell_size_m"])
    x, y, pop = _cell_xy(cells, count_col)
    origin = _origin([_extent(x, y)], size)
    ix, iy = _km_index(x, y, origin, size)
    sums = UrbanSums(origin, size, *_km_sums(ix, iy, pop))
    total, count, origin, size = _combine([sums])
    grid = UrbanGrid(origin, size, _codes(total, size, thresholds))
    return ix, iy, total, count, grid, (size / 1000.0) ** 2


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
    _, _, total, count, grid, area_km2 = _classify(cells, count_col, cell_size, thresholds)
    codes, size = grid.codes, grid.cell_size
    occ_y, occ_x = np.nonzero(count)
    minx = grid.origin[0] + occ_x * size
    miny = grid.origin[1] + occ_y * size
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
    ix, iy, _, _, grid, _ = _classify(cells, count_col, cell_size, thresholds)
    return pd.Series(_labels(grid, ix, iy), index=cells.index, name="urban", dtype=object)


def urban_class(cells: gpd.GeoDataFrame, districts: pd.DataFrame | None = None,
                urban_col: str | None = None, *, grid: UrbanGrid | None = None) -> np.ndarray:
    """The urban/rural class of each cell by a run's rule (:func:`geoequity.pipeline.analyse`),
    of all cells or of one piece of them.

    With ``urban_col`` (``[districts] type``, ``[analysis] urban``): the districts layer's
    column of that name, by each cell's ``district`` (``"unknown"`` for a district without a
    value), else the cells' own column. Both are per cell: a piece's classes are those of its
    cells, nothing global. Without it the Degree of Urbanisation: of ``cells`` on their
    :func:`residents_column`, or for a piece, its cells' classes in ``grid`` (the
    :func:`urban_classes_of` of all pieces).

    Returns
    -------
    numpy.ndarray
        One string per cell, in the cells' order.
    """
    if urban_col:
        if districts is not None and urban_col in districts.columns:
            lookup = districts.set_index("district")[urban_col]
            return cells["district"].map(lookup).fillna("unknown").astype(str).to_numpy()
        if urban_col in cells.columns:
            return cells[urban_col].astype(str).to_numpy()
        have = [c for c in (*(districts.columns if districts is not None else ()),
                            *cells.columns) if c != "geometry"]
        raise input_error("urban", f"no districts or cells column {urban_col!r} holds the "
                          "urban/rural classes ([districts] type, [analysis] urban)",
                          f"choose one of: {', '.join(dict.fromkeys(map(str, have)))}, or "
                          "leave it out for the Degree of Urbanisation")
    if grid is not None:
        return np.asarray(label_piece(cells, grid)).astype(str)
    return np.asarray(degree_of_urbanisation(cells, residents_column(cells))).astype(str)


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
    return cell_values_of(
        [cell_value_piece(cells, features, column, order=np.arange(len(cells)))], features)


@dataclass(frozen=True, eq=False)
class CellValues:
    """What :func:`cell_values_of` needs of a piece (:func:`cell_value_piece`): the cells
    containing each feature's point, and for the features in none of the piece's cells, the
    nearest of its cells; each with the cell's ``key`` (its place in the layer) and value.
    Bounded by the features."""

    column: str
    polygons: bool           # the piece has polygon cells
    hit: np.ndarray          # feature positions (int64), one per containing cell
    hit_key: np.ndarray
    hit_value: np.ndarray    # object
    near: np.ndarray         # feature positions (int64) in none of the piece's cells
    near_dist: np.ndarray    # float64: distance to the nearest cell's representative point
    near_key: np.ndarray
    near_value: np.ndarray   # object


def cell_value_piece(piece: gpd.GeoDataFrame, features: gpd.GeoDataFrame,
                     column: str = "urban", *, order=None) -> CellValues:
    """A piece's part of :func:`cell_value_of` (every feature against the piece's cells),
    for :func:`cell_values_of`.

    Parameters
    ----------
    piece
        Some of the cells, with ``column``.
    features
        All the features (schools), as given to :func:`cell_value_of`.
    column
        The cells' column to carry over.
    order
        Each cell's place in the whole layer (ties between pieces, e.g. a school on the edge
        of two cells, go to the first); default the piece's index (a raster's cell ids,
        ``row * width + col``, are its order).
    """
    from scipy.spatial import cKDTree

    if column not in piece.columns:
        raise input_error("cells", f"no column {column!r} to give the schools",
                          f"choose one of: {', '.join(map(str, piece.columns))}")
    if features.crs is not None and piece.crs is not None and features.crs != piece.crs:
        piece = piece.to_crs(features.crs)
    values = piece[column].to_numpy(dtype=object)
    keys = np.asarray(piece.index if order is None else order)
    none = np.zeros(0, np.int64)
    hit, hit_cell, near, near_dist, near_cell = none, none, none, np.zeros(0), none
    geoms = np.asarray(piece.geometry.values)
    polygons = bool(len(geoms)) and int(shapely.get_type_id(geoms).max()) >= 3
    if len(features) and len(piece):
        pts = np.asarray(representative_points(features).values)
        found = np.zeros(len(pts), dtype=bool)
        if polygons:                                    # the cells containing it
            hit, hit_cell = shapely.STRtree(geoms).query(pts, predicate="intersects")
            found[hit] = True
        near = np.flatnonzero(~found)
        if len(near):                                   # else the nearest cell
            tree = cKDTree(np.column_stack(representative_xy(piece)))   # no point objects
            near_dist, near_cell = tree.query(np.column_stack([shapely.get_x(pts[near]),
                                                               shapely.get_y(pts[near])]))
    return CellValues(column, polygons, hit.astype(np.int64), keys[hit_cell], values[hit_cell],
                      near.astype(np.int64), np.asarray(near_dist, float), keys[near_cell],
                      values[near_cell])


def cell_values_of(summaries, features: pd.DataFrame) -> pd.Series:
    """:func:`cell_value_of` from every piece's :func:`cell_value_piece`: a feature takes the
    value of the first cell (by ``key``) containing it in any piece when the cells are
    polygons, else that of the nearest cell of any piece (the first by ``key`` at equal
    distances).

    Returns
    -------
    pandas.Series
        One value per feature, indexed like ``features``, named as the column.
    """
    summaries = list(summaries)
    if not summaries:
        raise ValueError("cell_values_of needs the summary of at least one piece")
    column = summaries[0].column
    out = np.full(len(features), None, dtype=object)
    found = np.zeros(len(features), dtype=bool)
    if any(s.polygons for s in summaries):
        _first(out, found, [(s.hit, np.zeros(len(s.hit)), s.hit_key, s.hit_value)
                            for s in summaries])
    _first(out, found, [(s.near, s.near_dist, s.near_key, s.near_value) for s in summaries])
    return pd.Series(out, index=features.index, name=column, dtype=object)


def _first(out: np.ndarray, found: np.ndarray, candidates: list) -> None:
    """Give each feature not yet ``found`` the value of its candidate of least distance,
    then least key (in place)."""
    feat = np.concatenate([c[0] for c in candidates])
    keep = ~found[feat]
    if not keep.any():
        return
    dist = np.concatenate([c[1] for c in candidates])[keep]
    key = pd.Series(np.concatenate([c[2] for c in candidates])[keep])
    value = np.concatenate([c[3] for c in candidates])[keep]
    feat = feat[keep]
    rank = key.rank(method="dense").to_numpy()   # keys of any sortable type
    order = np.lexsort((rank, dist, feat))
    feat, value = feat[order], value[order]
    first = np.r_[True, feat[1:] != feat[:-1]]
    out[feat[first]] = value[first]
    found[feat[first]] = True
