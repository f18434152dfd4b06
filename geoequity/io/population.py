"""Residential population: rasters (WorldPop, GHS-POP) or vector grids/points, to children.

A raster becomes one square polygon per populated pixel (nodata, zero and negative pixels
dropped; the total is preserved exactly because pixels are kept whole, not resampled). Several
rasters on the same grid are summed (WorldPop age/sex bands). A ``child_share`` or age-band
columns turn residents into school-age children.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._memory import trim_memory
from geoequity._progress import info, quiet, step
from geoequity.crs import (
    declare_crs,
    distance_crs,
    is_metric,
    parse_input_crs,
    to_projected,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geoequity.io.vector import (
    TABLE_SUFFIXES,
    numeric_column,
    read_layer,
    representative_xy,
    set_ids,
)

RASTER_SUFFIXES = {".tif", ".tiff", ".img", ".vrt", ".asc"}


def _is_raster(path) -> bool:
    return Path(os.fspath(path)).suffix.lower() in RASTER_SUFFIXES


def _pixel_window(src, bounds, path, *, empty_ok: bool):
    """The window of every pixel that overlaps ``bounds`` (the raster's CRS), clipped to the
    raster; ``None`` when they do not overlap and ``empty_ok``."""
    from rasterio.errors import WindowError
    from rasterio.windows import Window, from_bounds

    w = from_bounds(*bounds, transform=src.transform)
    r0, c0 = math.floor(w.row_off + 1e-9), math.floor(w.col_off + 1e-9)
    r1 = math.ceil(w.row_off + w.height - 1e-9)
    c1 = math.ceil(w.col_off + w.width - 1e-9)
    try:   # every pixel that overlaps the bounds, clipped to the raster
        return Window(c0, r0, c1 - c0, r1 - r0).intersection(
            Window(0, 0, src.width, src.height))
    except WindowError:
        if empty_ok:
            return None
        raise input_error(path, f"the bounds {tuple(bounds)} do not overlap the "
                          "raster", "give bounds in the raster's CRS, inside its "
                          f"extent {tuple(src.bounds)}") from None


def _bounds_in(src, bounds, path):
    """``bounds`` as 4 numbers in the raster's CRS (an area such as the districts: its extent,
    transformed)."""
    if hasattr(bounds, "total_bounds"):   # an area (e.g. districts): its extent
        from rasterio.warp import transform_bounds

        if src.crs is None or bounds.crs is None:
            raise input_error(path, "cannot window the raster by an area without "
                              "a CRS on both", "declare the CRS (--input-crs)")
        return transform_bounds(bounds.crs, src.crs, *bounds.total_bounds)
    return tuple(bounds)


def _grid_window(src, path, bounds=None, within=None):
    """The window read (``[population] bounds``, intersected with ``within``: bounds in the
    raster's CRS), or ``None`` when ``within`` leaves no pixel."""
    from rasterio.windows import Window

    window = Window(0, 0, src.width, src.height)
    if bounds is not None:
        window = _pixel_window(src, _bounds_in(src, bounds, path), path, empty_ok=False)
    if within is not None:
        inner = _pixel_window(src, within, path, empty_ok=True)
        if inner is None:
            return None
        from rasterio.errors import WindowError

        try:
            window = window.intersection(inner)
        except WindowError:
            return None
    return window


def _read_band(path: Path, bounds=None, within=None):
    """Band 1 as float (masked), the raster's transform, CRS and full shape, and the offset
    ``(row, col)`` of what was read: only the window over ``bounds`` when given, and of that
    only the pixels overlapping ``within`` (the raster's CRS; none may be left)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.exists():
        raise input_error(path, "file not found", f"check the path (relative to {Path.cwd()})")
    try:
        with rasterio.open(path) as src:
            window = _grid_window(src, path, bounds, within)
            if window is None:
                data = np.ma.masked_all((0, 0), dtype="float64")
                return data, src.transform, src.crs, src.shape, (0, 0)
            whole = (window.row_off, window.col_off, window.height, window.width) == (
                0, 0, src.height, src.width)
            off = (int(window.row_off), int(window.col_off))
            data = src.read(1, masked=True, window=None if whole else window).astype("float64")
            return data, src.transform, src.crs, src.shape, off
    except RasterioIOError as exc:
        raise input_error(path, f"cannot be read as a raster ({exc})",
                          "check that it is a complete GeoTIFF") from exc


# ---------------------------------------------------------------------------------------------
# The layer's extent without its cells, and reading by window


@dataclass(frozen=True)
class PopulationExtent:
    """What a run needs to know of a population layer before reading any cell.

    ``crs`` is the CRS :func:`read_population` gives the cells (``crs=`` when named, else the
    layer's own when projected in metres, else the UTM zone of the centre of the layer's
    extent); ``bounds`` (``minx, miny, maxx, maxy`` in ``crs``) holds every cell's
    representative point strictly inside (the layer's extent transformed, edges densified,
    padded by a metre, and a vector layer's by 0.1 % of its size too; a raster's extent is
    that of its outermost pixels' points, made as the read makes them, about half a pixel
    inside its edges). ``layer_crs`` and
    ``layer_bounds`` are the layer's own (after ``input_crs``; WGS84 for a Chinese web-map
    system). A raster's
    ``raster`` holds its grid: ``transform`` (of the full raster: cell ids are
    ``row * width + col`` of it), ``width``, ``height``, ``pixel`` (sizes in the layer's
    units), ``crs`` (its own, as WKT; None without one) and ``window`` (``row_off, col_off,
    height, width`` read: the whole raster, or its ``[population] bounds``)."""

    crs: object
    bounds: tuple
    layer_crs: object
    layer_bounds: tuple
    raster: dict | None = None


def _china(input_crs, own_crs) -> str | None:
    """The Chinese web-map system the coordinates are in (converted to WGS84 on reading), as
    :func:`geoequity.crs.declare_crs` decides it."""
    declared = parse_input_crs(input_crs)
    if isinstance(declared, str) and (own_crs is None or own_crs.is_geographic):
        return declared
    return None


def _extent_frame(box, own_crs, input_crs, source, *, say: bool) -> gpd.GeoDataFrame:
    """The layer's extent ``box`` (its own coordinates) as one polygon, edges densified, with
    the CRS :func:`geoequity.crs.declare_crs` gives the layer (China systems converted); its
    notes on stderr only when ``say`` (a read says them of the cells themselves)."""
    from pyproj import CRS

    own = None if own_crs is None else CRS.from_user_input(own_crs)
    minx, miny, maxx, maxy = box
    n = 64
    t = np.linspace(0.0, 1.0, n + 1)[:-1]
    xs = np.concatenate([minx + (maxx - minx) * t, np.full(n, maxx),
                         maxx - (maxx - minx) * t, np.full(n, minx)])
    ys = np.concatenate([np.full(n, miny), miny + (maxy - miny) * t,
                         np.full(n, maxy), maxy - (maxy - miny) * t])
    ring = shapely.polygons(np.column_stack([xs, ys]))
    frame = gpd.GeoDataFrame(geometry=[ring], crs=own)
    with contextlib.nullcontext() if say else quiet():
        return declare_crs(frame, input_crs, source)


def _target(crs, frame):
    """The CRS to project to, as :func:`geoequity.crs.to_projected` would choose it for a
    layer of ``frame``'s extent; ``None`` when the layer's own is kept."""
    if crs is not None:
        return distance_crs(crs)
    if frame.crs is not None and is_metric(frame.crs):
        return None
    return utm_crs_for(frame)


def _padded(b, margin: float = 0.01, plus: float = 0.0) -> tuple:
    minx, miny, maxx, maxy = (float(v) for v in b)
    pad = margin * max(maxx - minx, maxy - miny) + plus
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def _native_box(within, acrs, frame_crs, china, pad) -> tuple:
    """The analysis-CRS box ``within`` in the layer's own coordinates (its envelope, edges
    densified, then padded by ``pad`` of the layer's units): what to ask the file for."""
    minx, miny, maxx, maxy = within
    ring = shapely.segmentize(shapely.box(minx, miny, maxx, maxy),
                              max(maxx - minx, maxy - miny) / 64)
    g = gpd.GeoSeries([ring], crs=acrs).to_crs(frame_crs)
    if china is not None:
        xy = shapely.get_coordinates(g.values)
        to = wgs84_to_gcj02 if china == "gcj02" else wgs84_to_bd09
        x, y = to(xy[:, 0], xy[:, 1])
        b = (x.min(), y.min(), x.max(), y.max())
    else:
        b = tuple(g.total_bounds)
    return (b[0] - pad[0], b[1] - pad[1], b[2] + pad[0], b[3] + pad[1])


def _check_box(within) -> tuple:
    try:
        box = tuple(float(v) for v in within)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box) \
            or not (box[0] < box[2] and box[1] < box[3]):
        raise input_error("within", f"{within!r} is not a box",
                          "give (minx, miny, maxx, maxy) in the analysis CRS, min < max")
    return box


def _inside(gdf, box) -> np.ndarray:
    """Which rows have their representative point in the half-open ``box``
    ``[minx, maxx) x [miny, maxy)``: adjacent boxes never both take a cell, never both miss it."""
    if len(gdf) == 0:
        return np.zeros(0, dtype=bool)
    minx, miny, maxx, maxy = box
    # the point lies in its feature, so in its envelope: only features whose envelope
    # crosses an edge of the box need their point (the rest are wholly in or out)
    b = shapely.bounds(np.asarray(gdf.geometry.array))
    inside = (b[:, 0] >= minx) & (b[:, 2] < maxx) & (b[:, 1] >= miny) & (b[:, 3] < maxy)
    out = (b[:, 2] < minx) | (b[:, 0] >= maxx) | (b[:, 3] < miny) | (b[:, 1] >= maxy)
    edge = ~(inside | out)   # (an empty geometry's NaN envelope lands here too)
    if edge.any():
        x, y = representative_xy(gdf.geometry[edge])
        inside[edge] = (x >= minx) & (x < maxx) & (y >= miny) & (y < maxy)
    return inside


def _raster_grid(path: Path, bounds, input_crs, *, say: bool = False):
    """The raster's grid (metadata only) and its extent frame (see :func:`_extent_frame`)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    if not path.exists():
        raise input_error(path, "file not found", f"check the path (relative to {Path.cwd()})")
    try:
        with rasterio.open(path) as src:
            window = _grid_window(src, path, bounds)
            transform, own = src.transform, src.crs
            width, height = src.width, src.height
    except RasterioIOError as exc:
        raise input_error(path, f"cannot be read as a raster ({exc})",
                          "check that it is a complete GeoTIFF") from exc
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    if b != 0 or d != 0:
        raise input_error(path, "is a rotated raster", "warp it to a north-up grid first")
    xs = c + a * np.array([window.col_off, window.col_off + window.width], dtype=float)
    ys = f + e * np.array([window.row_off, window.row_off + window.height], dtype=float)
    box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    own = None if own is None else own.to_wkt()
    frame = _extent_frame(box, own, input_crs, path, say=say)
    grid = {"transform": transform, "width": width, "height": height, "crs": own,
            "pixel": (abs(transform.a), abs(transform.e)),
            "window": (int(window.row_off), int(window.col_off), int(window.height),
                       int(window.width))}
    return frame, _china(input_crs, _own_crs(own)), box, grid


def _pixel_boxes(transform, rows, cols) -> np.ndarray:
    """The pixels (``rows``, ``cols`` of a north-up ``transform``'s grid) as boxes in the
    raster's coordinates: the cells' polygons before they are projected."""
    a, c, e, f = transform.a, transform.c, transform.e, transform.f
    x0 = c + cols * a
    y0 = f + rows * e
    return shapely.box(np.minimum(x0, x0 + a), np.minimum(y0, y0 + e),
                       np.maximum(x0, x0 + a), np.maximum(y0, y0 + e))


def _edge_points(path: Path, grid: dict, input_crs, target) -> tuple[np.ndarray, ...]:
    """``x``, ``y`` of the representative points of the outermost pixels of the window read
    (``grid["window"]``'s first and last rows and columns), each made as
    :func:`read_population_raster` makes a cell (its box, its CRS declared, projected to
    ``target``): their extent is that of every cell's point, since a grid's rows and columns
    stay in order when projected."""
    r0, c0, h, w = grid["window"]
    along, down = np.arange(c0, c0 + w), np.arange(r0, r0 + h)
    rows = np.concatenate([np.full(w, r0), np.full(w, r0 + h - 1), down, down])
    cols = np.concatenate([along, along, np.full(h, c0), np.full(h, c0 + w - 1)])
    gdf = gpd.GeoDataFrame(geometry=_pixel_boxes(grid["transform"], rows, cols),
                           crs=grid["crs"])
    with quiet():
        gdf = to_projected(declare_crs(gdf, input_crs, path), target)
    return representative_xy(gdf)


def _own_crs(own):
    from pyproj import CRS

    return None if own is None else CRS.from_user_input(own)


def _vector_target(path: Path) -> str:
    return f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)


def reads_by_window(source, residents=None) -> bool:
    """Whether ``read_population(source, within=BOX)`` reads only the window (rasters and
    GDAL vector files), not the whole layer filtered (CSV, GeoParquet, frames), and can
    take ``residents`` by window (a residents raster summed into a vector layer's cells
    needs every cell when they are points: not by window)."""
    if reads_as_points(source):   # rasters
        return True
    paths = list(source) if isinstance(source, list | tuple) else [source]
    if len(paths) != 1 or not _windowable(paths[0]):
        return False
    return not (isinstance(residents, str | os.PathLike) and _is_raster(residents))


def _windowable(source) -> bool:
    """A GDAL vector file (read by window with pyogrio's spatial filter); CSV, GeoParquet and
    frames have no spatial index and are read whole."""
    if isinstance(source, gpd.GeoDataFrame):
        return False
    suffix = Path(os.fspath(source)).suffix.lower()
    return suffix not in TABLE_SUFFIXES and suffix not in (".parquet", ".geoparquet")


def population_extent(source, *, crs=None, input_crs=None, layer=None,
                      bounds=None, layout: VectorLayout | None = None) -> PopulationExtent:
    """The analysis CRS and the extent of a population layer, without reading its cells.

    Parameters are those of :func:`read_population` (``crs``, ``input_crs``, ``layer``,
    ``bounds``). A raster costs its metadata; a GDAL vector file its layer information
    (pyogrio's ``read_info``, the extent the file records); a CSV, a GeoParquet file or a
    GeoDataFrame is read whole (they have no spatial index: convert a province's points to
    GeoPackage or FlatGeobuf).

    The CRS is the one :func:`read_population` gives the cells: for a raster the UTM zone of
    its grid's (or its ``bounds`` window's) centre; for a vector layer the UTM zone of its
    features' extent, which the file records (equal to the features' own unless the file's
    recorded extent is stale; in a projected CRS in feet or a Chinese web-map system the
    transformed extent of the recorded box may differ from that of the features by less than
    a cell, so the zones differ only for a layer centred on a zone border: name
    ``[analysis] crs`` there). With ``layout`` (the layer's :func:`vector_layout`), a vector
    layer's extent is its features' own, not the one the file records (which may be stale).
    """
    paths = list(source) if isinstance(source, list | tuple) else [source]
    if not paths:
        raise input_error("population", "no population file given (an empty list)",
                          "name a raster, a list of rasters or a vector layer")
    first = paths[0]
    if not isinstance(first, gpd.GeoDataFrame) and _is_raster(first):
        path = Path(os.fspath(first))
        frame, _china_sys, box, grid = _raster_grid(path, bounds, input_crs, say=True)
        target = _target(crs, frame)
        acrs = target if target is not None else frame.crs
        # the extent of the cells' points themselves (half a pixel inside the edges), so
        # that districts covering the raster leave no strip of it without a cell to cut
        # into partitions: those of the outermost pixels, made as the read makes them (a
        # densified edge through the pixels' centres would not do: projected, a parallel
        # bows metres beyond its chords, and the bottom row's cells fell outside)
        x, y = _edge_points(path, grid, input_crs, target)
        out = _padded((np.nanmin(x), np.nanmin(y), np.nanmax(x), np.nanmax(y)), 0.0, 1.0)
        return PopulationExtent(crs=acrs, bounds=out, layer_crs=frame.crs,
                                layer_bounds=tuple(float(v) for v in box), raster=grid)
    if not _windowable(first):
        own = read_layer(first, input_crs=input_crs, layer=layer, project=False)
        gdf = to_projected(own, crs)   # as read_layer projects it
        b = _padded(gdf.total_bounds, 0.0, 1.0)
        return PopulationExtent(crs=gdf.crs, bounds=b, layer_crs=own.crs,
                                layer_bounds=tuple(float(v) for v in own.total_bounds))
    frame, _ = _vector_frame(Path(os.fspath(first)), layer, input_crs, say=True,
                             box=layout.box if layout is not None else None)
    target = _target(crs, frame)
    acrs = target if target is not None else frame.crs
    out = _padded(frame.to_crs(acrs).total_bounds, 0.001, 1.0)
    return PopulationExtent(crs=acrs, bounds=out, layer_crs=frame.crs,
                            layer_bounds=tuple(float(v) for v in frame.total_bounds))


def _vector_frame(path: Path, layer, input_crs, *, say: bool = False, box=None):
    """A GDAL vector layer's recorded extent (or ``box``, in its own coordinates) as a frame
    (:func:`_extent_frame`), and its Chinese web-map system if declared."""
    import pyogrio

    if not path.exists() or path.is_dir() and path.suffix.lower() != ".gdb":
        read_layer(path, layer=layer, input_crs=input_crs)   # its one-line error
    try:
        # (the features' extent computed only when no box is given: a layout's box spares
        # each window's read a pass over a file that records none)
        meta = pyogrio.read_info(_vector_target(path), layer=layer,
                                 force_total_bounds=box is None)
    except Exception:   # pyogrio's errors; read_layer says what is wrong in one line
        read_layer(path, layer=layer, input_crs=input_crs)
        raise
    box = meta.get("total_bounds") if box is None else box
    if box is None or not np.isfinite(np.asarray(box, dtype=float)).all():
        raise input_error(path, "has no features", "check the file and layer")
    own = meta.get("crs")
    frame = _extent_frame(tuple(float(v) for v in box), own, input_crs, path, say=say)
    return frame, _china(input_crs, _own_crs(own))


def read_population_raster(paths: Sequence, *, crs=None, input_crs=None,
                           bounds=None, within=None, ids=None,
                           tally: _PixelTally | None = None) -> gpd.GeoDataFrame:
    """Sum one or more rasters on the same grid into populated square cells.

    Parameters
    ----------
    paths
        Raster files (people per pixel). All must share size, transform and CRS.
    bounds
        Optional ``(minx, miny, maxx, maxy)`` in the raster's CRS: only the pixels of that
        window are read from disk (a country raster need not fit in memory); cell ids and
        positions stay those of the full raster.
    within
        Optional box ``(minx, miny, maxx, maxy)`` in the cells' (analysis) CRS: only the cells
        whose representative point lies in ``[minx, maxx) x [miny, maxy)`` (see
        :func:`read_population`). The pixels read are the window over the box transformed to
        the raster's CRS, padded by two pixels.
    ids
        Optional cell ids (``row * width + col``): only those cells (of those ``within``
        gives), their geometries made for them alone (a cluster's worker reading its
        partition's cells, whose box also holds its neighbours').
    tally
        A read window by window (:func:`read_population_points`): the dropped pixels are
        counted there, each once.

    The CRS is ``crs`` when named, else the raster's own when projected in metres, else the
    UTM zone of the centre of the grid's extent (of the ``bounds`` window when given): the
    extent, not the populated pixels, so that :func:`population_extent` knows it from the
    metadata.

    Returns
    -------
    GeoDataFrame
        One polygon per pixel with a value > 0: columns ``cell`` (id, ``row * width + col``,
        also the index), ``population``, ``row``, ``col``; projected CRS.
    """
    paths = [Path(os.fspath(p)) for p in paths]
    frame, china, _box, grid = _raster_grid(paths[0], bounds, input_crs)
    target = _target(crs, frame)
    native = None
    if within is not None:
        within = _check_box(within)
        px, py = grid["pixel"]
        native = _native_box(within, target if target is not None else frame.crs,
                             frame.crs, china, (2 * px, 2 * py))
    total = None
    ref = None
    for path in paths:
        data, transform, rcrs, shape, off = _read_band(path, bounds, native)
        if ref is None:
            ref = (transform, rcrs, shape, path)
        elif (shape != ref[2]) or (not transform.almost_equals(ref[0])) or (rcrs != ref[1]):
            raise input_error(path, f"is not on the same grid as {ref[3].name} (size, pixel "
                              "grid or CRS differ)", "resample the rasters to one grid first")
        vals = data.filled(np.nan)
        vals[~np.isfinite(vals)] = np.nan
        total = vals if total is None else np.where(np.isnan(total), vals,
                                                    np.where(np.isnan(vals), total, total + vals))
    transform, rcrs, (height, width), first = ref
    valid = np.isfinite(total)
    negative = valid & (total < 0)
    if negative.any():
        info(_negative_line(first, int(negative.sum())))
    keep = valid & (total > 0)
    n_zero = int((valid & (total == 0)).sum())
    if tally is not None:   # a read by windows: each pixel counted once
        tally.add(off, valid, total, negative)
    rows, cols = np.nonzero(keep)
    values = total[rows, cols]
    rows, cols = rows + off[0], cols + off[1]  # ids and geometry on the full raster's grid
    if ids is not None:   # before the geometries: only those cells'
        wanted = np.isin(rows.astype(np.int64) * width + cols, np.asarray(ids, dtype=np.int64))
        rows, cols, values = rows[wanted], cols[wanted], values[wanted]
    info(_pixels_line(first.name, len(values), n_zero, int((~valid).sum()), values.sum()))
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    if b != 0 or d != 0:
        raise input_error(first, "is a rotated raster", "warp it to a north-up grid first")
    geoms = _pixel_boxes(transform, rows, cols)
    gdf = gpd.GeoDataFrame(
        {"population": values, "row": rows.astype(np.int32), "col": cols.astype(np.int32)},
        geometry=geoms, crs=rcrs,
        index=pd.Index(rows.astype(np.int64) * width + cols),
    )
    gdf.insert(0, "cell", gdf.index.to_numpy())
    gdf.attrs["id_col"] = "cell"
    gdf = declare_crs(gdf, input_crs, first)
    gdf.attrs["raster"] = {"paths": [str(p) for p in paths], "width": width, "height": height,
                           "pixel": (abs(a), abs(e))}
    gdf = to_projected(gdf, target)
    if within is not None:
        inside = _inside(gdf, within)
        if not inside.all():
            gdf = gdf.loc[inside]
    return gdf


def _negative_line(path, count: int) -> str:
    """The read's line on a raster's negative pixels (treated as nodata)."""
    return f"  {path}: {count} negative pixel(s) treated as nodata"


def _pixels_line(name: str, kept: int, zero: int, nodata: int, total: float) -> str:
    """The read's line on a raster's pixels: kept, dropped, and the total population."""
    return (f"  {name}: {kept:,} populated pixels kept ({zero:,} zero and {nodata:,} nodata "
            f"pixels dropped); total {total:,.0f}")


def pixels_kept_line(extent: PopulationExtent, source, kept: int, population: float) -> str:
    """The line a raster read by windows on several workers says of its pixels: ``kept``
    cells and the ``population`` they count (the windows' own cells' sums), and the pixels
    dropped, every other pixel of the window read (``extent.raster``: the whole raster, or
    its ``[population] bounds``), whether zero, nodata or negative (the windows overlap by
    their halo, so their own counts of each kind would count some pixels twice)."""
    _, _, height, width = extent.raster["window"]
    paths = list(source) if isinstance(source, list | tuple) else [source]
    name = Path(os.fspath(paths[0])).name
    return (f"  {name}: {kept:,} populated pixels kept ({height * width - kept:,} zero, nodata "
            f"or negative pixels dropped); total {population:,.0f}")


def read_population(source, *, count_col=None, id_col=None, child_share: float | None = None,
                    crs=None, input_crs=None, layer=None, bounds=None,
                    keep_zero: bool = True, id_dtype=None, residents=None,
                    within=None, ids=None, layout: VectorLayout | None = None,
                    rows: bool = False) -> gpd.GeoDataFrame:
    """Read residents (raster or vector) and return children per cell.

    Parameters
    ----------
    source
        A raster path, a list of raster paths to sum (e.g. WorldPop age/sex bands), or a vector
        grid / point layer / CSV of points.
    count_col
        For vector input: the count column, or a list of columns to add up (age bands such as
        ``["age_6", "age_7", ...]``). Ignored for rasters.
    id_col
        Vector input's unique id column (default: row numbers). Raster cells get ``row*width+col``.
    child_share
        Share of the counted residents who are school-age children (0-1], e.g. 0.12. Omit it
        when the counts already are children.
    crs, input_crs, layer
        As in :func:`geoequity.io.read_layer`.
    bounds
        Raster only: read only a window, ``(minx, miny, maxx, maxy)`` in the raster's CRS, or
        the extent of a GeoDataFrame (e.g. the districts) in any CRS. A country-wide WorldPop
        raster then costs only the county's pixels. Cell ids stay those of the full raster.
    keep_zero
        Vector input: keep zero-population rows (default; they are cells all the same).
    id_dtype
        Vector input: ``None`` (default) keeps ids as written (text from a CSV, so
        ``060816013.00`` stays as it is); ``"str"`` or ``"int"`` makes them text or whole
        numbers. Raster cell ids are integers.
    residents
        Total residents (all ages) per cell, for the urban/rural classification
        (:mod:`geoequity.urban`), when the counts read are children or age bands: a raster path
        (its pixels summed into the cell holding their centre) or a column of the vector
        input. Becomes the ``residents`` column. Without it, counts scaled by ``child_share``
        are taken as the residents; counts that already are children are all there is (the
        classification then warns).
    within
        A box ``(minx, miny, maxx, maxy)`` in the analysis CRS (:func:`population_extent`'s
        ``crs``): only the cells whose representative point
        (:func:`geoequity.io.vector.representative_xy`, the point the run uses for a cell)
        lies in ``[minx, maxx) x [miny, maxy)``, half-open so that boxes tiling a plane take
        each cell exactly once. They are exactly the rows of the whole read (ids, values,
        geometry, dtypes, columns, in the whole read's order), and none is not an error (a
        partition may be empty). Only what the box needs is read: a raster's window over the
        box (two pixels of margin), a GDAL vector file's features meeting the box (pyogrio's
        ``bbox``, 1 % of margin); a CSV, GeoParquet or GeoDataFrame is read whole and
        filtered. Checks over the whole layer are not made (that some cell has children,
        duplicate ids across boxes). A vector layer without ``id_col`` numbers its features
        as the whole read does (their rows among the features with a geometry): that scans
        the file's feature envelopes in chunks (name an id column to avoid it). A residents
        raster is read over the box's cells' extent; summing it into point cells (each pixel
        to its nearest cell) needs every cell, and is refused.
    ids
        With ``within``: only the cells of these ids (a subset of the box's cells). A raster
        makes the geometries of those cells alone; other layers are read by ``within`` and
        then filtered. The rows keep the whole read's order (a vector layer with
        ``id_col`` and no ``layout``: the order its driver answers the box in, which is the
        file's for GeoPackage, shapefiles, FlatGeobuf and GeoJSON, not for every driver).
    layout
        With ``within``, a GDAL vector layer's :func:`vector_layout` (one scan of the file
        for every window): the rows of the whole read come from it instead of each window
        scanning the envelopes, and the UTM zone from its features' extent instead of the
        one the file records (which may be stale, or hold an empty geometry's zeros).
    rows
        With ``within``, a GDAL vector layer and ``id_col``: each cell's row in the whole
        read (0, 1, ... among the features with a geometry, from the ``layout``'s FIDs, else
        a scan of the envelopes) in the column :data:`ROW_COLUMN`, and the cells in that
        order whatever their ids (text, or not in the file's order): what a cluster's
        workers number the run's cells by, as they number a raster's by its ids.

    Returns
    -------
    GeoDataFrame
        Projected, index = cell id; ``population`` (residents counted), ``children`` and, with
        ``residents``, ``residents``.
    """
    if child_share is not None and not (0 < float(child_share) <= 1):
        raise input_error("child_share", f"{child_share} is not a share in (0, 1]",
                          "give e.g. 0.12 for 12%")
    from geoequity.io.vector import check_id_dtype

    check_id_dtype(id_dtype)
    paths = list(source) if isinstance(source, list | tuple) else [source]
    if isinstance(source, gpd.GeoDataFrame):
        paths = [source]
    if not paths:
        raise input_error("population", "no population file given (an empty list)",
                          "name a raster, a list of rasters or a vector layer")
    if within is not None:
        within = _check_box(within)
    if all(not isinstance(p, gpd.GeoDataFrame) and _is_raster(p) for p in paths):
        with step(f"reading population raster{'s' if len(paths) > 1 else ''}"):
            gdf = read_population_raster(paths, crs=crs, input_crs=input_crs, bounds=bounds,
                                         within=within, ids=ids, tally=_TALLY.get())
        src = paths[0]
    else:
        if len(paths) != 1:
            raise input_error(paths[0], "several population files given but not all are rasters",
                              "give one vector layer, or rasters only")
        gdf, src = _vector_cells(paths[0], count_col=count_col, id_col=id_col, crs=crs,
                                 input_crs=input_crs, layer=layer, bounds=bounds,
                                 keep_zero=keep_zero, id_dtype=id_dtype, within=within,
                                 layout=layout, rows=rows)
        if ids is not None:
            gdf = gdf.loc[gdf.index.isin(ids)]
    share = 1.0 if child_share is None else float(child_share)
    gdf["children"] = gdf["population"] * share
    if residents is not None:
        gdf["residents"] = _residents(gdf, residents, src, bounds=bounds, within=within)
    gdf.attrs["source"] = str(src)
    gdf.attrs["child_share"] = child_share
    gdf.attrs["kind"] = "population"
    return gdf


#: the column of :func:`read_population`'s ``rows``: each cell's row in the whole read
ROW_COLUMN = "_geoequity_row"


def bounds_ignored_line(source) -> str:
    """The line a vector population's read says of ``[population] bounds`` (rasters only)."""
    return (f"  {Path(str(source)).name}: bounds apply to raster population only; this "
            "vector layer is read whole")


def _vector_cells(source, *, count_col, id_col, crs, input_crs, layer, bounds, keep_zero,
                  id_dtype, within, layout=None, rows: bool = False):
    """The cells of a vector layer (:func:`read_population`), all or those of ``within``
    (``rows``: with their rows in the whole read, in :data:`ROW_COLUMN`)."""
    windowed = within is not None and _windowable(source)
    if windowed:
        path = Path(os.fspath(source))
        frame, china = _vector_frame(path, layer, input_crs,
                                     box=layout.box if layout is not None else None)
        target = _target(crs, frame)
        native = _native_box(within, target if target is not None else frame.crs,
                             frame.crs, china, (0.0, 0.0))
        native = _padded(native, 0.01)
        gdf = read_layer(path, crs=target, input_crs=input_crs, layer=layer,
                         text_cols=(id_col,), bbox=native)
        fids = gdf.index.to_numpy()
    else:
        gdf = read_layer(source, crs=crs, input_crs=input_crs, layer=layer,
                         text_cols=(id_col,))
    src = gdf.attrs.get("source", source)
    if bounds is not None:
        info(bounds_ignored_line(src))
    if count_col is None:
        numeric = [c for c in gdf.columns if c != gdf.geometry.name
                   and pd.api.types.is_numeric_dtype(gdf[c])]
        raise input_error(src, "no population count column was named",
                          f"name it with count_col (--demand-col); numeric columns: "
                          f"{', '.join(map(str, numeric)) or 'none'}")
    cols = [count_col] if isinstance(count_col, str) else list(count_col)
    counts = sum(numeric_column(gdf, c, src, what="population") for c in cols)
    gdf = set_ids(gdf, id_col, src, what="cell", id_dtype=id_dtype)
    # the ids' own dtype in the index, whichever ids a read holds (pandas makes ids that
    # happen to run 0..n-1 a RangeIndex, int64 whatever the column's type)
    gdf.index = pd.Index(gdf[gdf.attrs["id_col"]].to_numpy())
    # the whole read's order, whatever order the driver answers a box in (a zipped
    # GeoPackage's or a MapInfo file's index's: a cluster's workers number the cells by their
    # ids): by the rows of the whole read, which are the ids without an id column, or by the
    # FIDs where the layout says they ascend in the file's order
    key = None
    if windowed and (id_col is None or rows):
        if layout is not None and not layout.fids_unique:
            raise repeated_fids(path)
        at = layout.rows_of(fids) if layout is not None else None
        if at is None:
            at = _feature_rows(path, layer, fids)
        if id_col is None:
            gdf["id"] = at
            gdf.index = pd.Index(at)
        else:
            gdf[ROW_COLUMN] = at
        key = at
    elif windowed and layout is not None and layout.fids_ascend:
        key = fids
    if key is not None and len(key) > 1 and not (np.diff(key) > 0).all():
        order = np.argsort(key, kind="stable")
        counts, gdf = counts.iloc[order], gdf.iloc[order]
    gdf["population"] = counts.to_numpy()
    zero = gdf["population"] == 0
    if zero.any():
        info(f"  {src}: {int(zero.sum())} of {len(gdf)} cells have no residents"
             + ("" if keep_zero else " (dropped)"))
        if not keep_zero:
            gdf = gdf.loc[~zero]
    if within is not None:
        inside = _inside(gdf, within)
        if not inside.all():
            gdf = gdf.loc[inside]
    return gdf, src


def _feature_chunks(path: Path, layer, chunk: int = 1_000_000):
    """The layer's features in the file's order, ``chunk`` at a time: each chunk's FIDs,
    envelopes (4 x n) and whether each feature has a geometry (what
    :func:`geoequity.io.vector.clean_geometries` keeps: an empty geometry's envelope is NaN
    or zeros, those few are read to tell)."""
    import pyogrio

    target = _vector_target(path)
    # (counted if need be: GML's count is -1 unless GDAL reads the file for it)
    n = pyogrio.read_info(target, layer=layer, force_feature_count=True)["features"]
    skip = 0
    while skip < n:
        f, b = pyogrio.read_bounds(target, layer=layer, skip_features=skip, max_features=chunk)
        if not len(f):
            break
        kept = np.isfinite(b).all(axis=0)
        zero = kept & (b == 0).all(axis=0)
        if zero.any():
            g = pyogrio.read_dataframe(target, layer=layer, fids=f[zero], columns=[],
                                       fid_as_index=True)
            empty = g.geometry.is_empty | g.geometry.isna()
            kept[zero] = ~empty.reindex(f[zero]).fillna(True).to_numpy(bool)
        yield np.asarray(f, dtype=np.int64), b, kept
        skip += len(f)


def _feature_rows(path: Path, layer, fids, chunk: int = 1_000_000) -> np.ndarray:
    """The row of each FID among the layer's features that have a geometry (the ids the
    whole read gives without an id column: :func:`geoequity.io.vector.set_ids` after
    :func:`geoequity.io.vector.clean_geometries`), from the features' envelopes read in
    chunks; an input error when a FID repeats (two features' rows it cannot tell apart)."""
    rows = np.full(len(fids), -1, dtype=np.int64)
    want = pd.Index(fids)
    if not len(want):
        return rows
    if not want.is_unique:
        raise repeated_fids(path)
    found = np.zeros(len(fids), dtype=np.int64)   # (a FID found twice: two features' rows)
    seen = 0
    for f, _, kept in _feature_chunks(path, layer, chunk):
        at = want.get_indexer(f)
        hit = at >= 0
        rows[at[hit]] = seen + np.cumsum(kept)[hit] - 1
        np.add.at(found, at[hit], 1)
        seen += int(kept.sum())
    if (found > 1).any():
        raise repeated_fids(path)
    return rows


def repeated_fids(path):
    """The input error of a layer whose features repeat their FIDs, read by window without
    an id column (:func:`_feature_rows`; a cluster run:
    :func:`geoequity.scenario.window_reading`)."""
    return input_error(path, "repeats feature ids (GDAL's FIDs, e.g. GeoJSON \"id\" "
                       "members), so its features' rows cannot be told apart by window",
                       "name an id column ([population] id), or convert the file to "
                       "GeoPackage")


def ids_follow_file_order(source, id_col: str, *, layer=None, id_dtype=None,
                          chunk: int = 100_000, integers: bool = False) -> bool:
    """Whether a GDAL vector layer's ids (column ``id_col`` as :func:`read_population` makes
    them with ``id_dtype``) strictly ascend in the file's order: then the cells sorted by
    their ids are in the whole read's order, which a cluster run reading the layer by window
    needs (it numbers the run's cells by their ids, as a raster's). Read in chunks of
    ``chunk`` features, the id column alone (no geometry). False also for an id column that
    is not there, or a missing or repeated id (the whole read then says which), and with
    ``integers`` for ids that are not whole numbers of an integer type."""
    import pyogrio

    path = Path(os.fspath(source))
    target = _vector_target(path)
    info_ = pyogrio.read_info(target, layer=layer, force_feature_count=True)   # (GML: -1)
    if id_col not in list(info_["fields"]):
        return False
    last = None
    for ids in _id_chunks(target, layer, id_col, chunk, id_dtype):
        if ids is None or integers and not pd.api.types.is_integer_dtype(ids.dtype):
            return False
        values = pd.Index(ids.to_numpy())
        if not (values.is_monotonic_increasing and values.is_unique):
            return False
        try:
            if last is not None and len(values) and not last < values[0]:
                return False
        except TypeError:   # ids of two types (text beside numbers)
            return False
        last = values[-1] if len(values) else last
    return True


def _id_chunks(target, layer, id_col: str, chunk: int, id_dtype):
    """The ids of a GDAL vector layer (``target``: :func:`_vector_target`'s; column
    ``id_col`` as :func:`read_population` makes them with ``id_dtype``) in the file's order,
    every feature's (with a geometry or not), ``chunk`` at a time, as pandas Series: streamed
    (pyogrio's Arrow stream, no geometry), so one chunk is held at a time and no chunk is
    found by skipping features from the start (FlatGeobuf cannot). None, and no more, for a
    chunk with a missing id or ids ``id_dtype`` cannot make (the whole read says which)."""
    from pyogrio.raw import open_arrow

    from geoequity.io.vector import cast_ids

    with open_arrow(target, layer=layer, columns=[id_col], read_geometry=False,
                    batch_size=chunk, use_pyarrow=True) as (_, reader):
        for batch in reader:
            if not len(batch):
                continue
            try:
                ids = cast_ids(batch.column(id_col).to_pandas(), id_dtype, target, id_col)
            except Exception:   # not whole numbers for id_dtype="int"
                ids = None
            if ids is None or ids.isna().any():
                yield None
                return
            yield ids


def no_spatial_index_line(source, *, layer=None) -> str | None:
    """The line a cluster run says of a GDAL vector layer without a spatial index (GDAL's
    ``fast_spatial_filter``: a GeoJSON or GML file, a shapefile without its ``.qix``), each
    of whose windows' reads then goes through the whole file; None for one with an index
    (GeoPackage, FlatGeobuf, an indexed shapefile)."""
    import pyogrio

    path = Path(os.fspath(source))
    capabilities = pyogrio.read_info(_vector_target(path), layer=layer).get("capabilities", {})
    if capabilities.get("fast_spatial_filter", True):
        return None
    return (f"  {path.name}: no spatial index, so each partition's read goes through the "
            f"whole file: convert it once (ogr2ogr -f GPKG grid.gpkg {path.name}) for a "
            "faster cluster run")


def ids_are_unique(source, id_col: str, *, layer=None, id_dtype=None,
                   chunk: int = 100_000) -> bool:
    """Whether a GDAL vector layer's ids (column ``id_col`` as :func:`read_population` makes
    them with ``id_dtype``) are all there and each once, over the whole layer: what a
    cluster's workers reading it by window cannot tell (each sees its window's). Read in
    chunks of ``chunk`` features, the id column alone, each id kept as its 64-bit hash (8
    bytes a cell: 160 MB for 20 million; the column streamed, ``chunk`` ids at a time).
    False for a missing id, a repeated one (the whole
    read then says which, unless it is a feature's without a geometry, which the whole read
    drops), an id column that is not there, or two ids of one hash (about one chance in
    100,000 at 20 million cells; also a number and its text, 7 and "7", in a column of both:
    the layer is then read whole, as if an id repeated)."""
    import pyogrio

    path = Path(os.fspath(source))
    target = _vector_target(path)
    info_ = pyogrio.read_info(target, layer=layer, force_feature_count=True)   # (GML: -1)
    if id_col not in list(info_["fields"]):
        return False
    every = np.empty(max(int(info_["features"]), 0), dtype=np.uint64)   # (8 bytes a cell)
    skip = 0
    for ids in _id_chunks(target, layer, id_col, chunk, id_dtype):
        if ids is None or skip + len(ids) > len(every):   # (more than GDAL counted)
            return False
        every[skip:skip + len(ids)] = pd.util.hash_pandas_object(
            ids, index=False, categorize=False).to_numpy()
        skip += len(ids)
    every = every[:skip]
    every.sort()
    return not (every[1:] == every[:-1]).any()


#: the most runs of consecutive FIDs a :class:`VectorLayout` holds (beyond, each window
#: scans the file's envelopes itself): 24 bytes a run, sent with every window's task on a
#: cluster, so 240 KB at most
MAX_FID_RUNS = 10_000


@dataclass(frozen=True)
class VectorLayout:
    """What one scan of a GDAL vector layer's feature envelopes tells a read by window
    (:func:`vector_layout`): ``features``, the number with a geometry (the cells of the
    whole read); ``box``, the union of their envelopes in the layer's own coordinates (the
    exact extent, whatever extent the file records); and the row of each FID in the whole
    read (the cells' ids without an id column) as runs of consecutive FIDs: ``starts`` (each
    run's first FID), ``lengths`` and ``rows`` (the row of its first FID), None when the
    FIDs make more than :data:`MAX_FID_RUNS` runs (each window then scans the envelopes
    itself)."""

    features: int
    box: tuple
    starts: np.ndarray | None
    lengths: np.ndarray | None
    rows: np.ndarray | None
    #: every feature's FID (with a geometry or not) strictly ascends in the file's order
    fids_ascend: bool = True
    #: no FID repeats (GDAL keeps a GeoJSON sequence's repeated "id" members as FIDs)
    fids_unique: bool = True

    def rows_of(self, fids) -> np.ndarray | None:
        """The rows of ``fids`` in the whole read (-1 for a FID of no feature with a
        geometry), or None without the runs."""
        if self.starts is None:
            return None
        fids = np.asarray(fids, dtype=np.int64)
        if not len(self.starts):
            return np.full(len(fids), -1, dtype=np.int64)
        run = np.maximum(np.searchsorted(self.starts, fids, side="right") - 1, 0)
        off = fids - self.starts[run]
        ok = (off >= 0) & (off < self.lengths[run])
        return np.where(ok, self.rows[run] + off, -1)


def vector_layout(source, *, layer=None, chunk: int = 1_000_000) -> VectorLayout:
    """Scan a GDAL vector layer's feature envelopes once, in chunks of ``chunk`` features
    (memory bounded by the chunk, not the layer; about a second per million features):
    its :class:`VectorLayout`. A cluster run reading a vector population by window
    computes it on the client and hands it to every window's read
    (:func:`read_population`'s ``layout``). The runs are kept only while the FIDs ascend in
    the file's order (GeoPackage, FlatGeobuf, shapefiles) and make at most
    :data:`MAX_FID_RUNS` runs; FIDs that do not ascend are scanned a second time, for
    whether they repeat."""
    path = Path(os.fspath(source))
    box = np.array([np.inf, np.inf, -np.inf, -np.inf])
    starts: list = []
    lengths: list = []
    rows: list = []
    last = None   # the FID after the last chunk's
    seen = runs = 0
    keep_runs = ascend = True
    end = None   # the last FID so far
    for f, b, kept in _feature_chunks(path, layer, chunk):
        if ascend and len(f):
            ascend = bool((np.diff(f) > 0).all()) and (end is None or f[0] > end)
            end = int(f[-1])
        if kept.any():
            box = np.r_[np.minimum(box[:2], b[:2, kept].min(axis=1)),
                        np.maximum(box[2:], b[2:, kept].max(axis=1))]
        fk = f[kept]
        if keep_runs and len(fk):
            step_ = np.diff(fk)
            if (step_ <= 0).any() or (last is not None and fk[0] < last):
                keep_runs = False   # FIDs out of the file's order
            else:
                cut = np.flatnonzero(step_ != 1) + 1   # a run ends where a FID is skipped
                first = np.r_[0, cut]
                n = np.r_[cut, len(fk)] - first
                starts.append(fk[first])
                lengths.append(n)
                rows.append(seen + first)
                last = int(fk[-1]) + 1
                runs += len(first)
                keep_runs = runs <= MAX_FID_RUNS + 1
        seen += int(kept.sum())
    whole = tuple(float(v) for v in box)
    if not ascend:   # (a second scan, of these layers only: are the FIDs unique?)
        fids = [f for f, _, _ in _feature_chunks(path, layer, chunk)]
        every = np.concatenate(fids) if fids else np.zeros(0, dtype=np.int64)
        return VectorLayout(seen, whole, None, None, None, fids_ascend=False,
                            fids_unique=len(np.unique(every)) == len(every))
    if not keep_runs:
        return VectorLayout(seen, whole, None, None, None)
    s, n, r = (np.concatenate(a).astype(np.int64) if a else np.zeros(0, dtype=np.int64)
               for a in (starts, lengths, rows))
    # a run cut by a chunk's end goes on in the next chunk: one run
    new = np.r_[True, s[1:] != s[:-1] + n[:-1]] if len(s) else np.zeros(0, dtype=bool)
    group = np.cumsum(new) - 1
    n = np.bincount(group, weights=n, minlength=int(new.sum())).astype(np.int64)
    s, r = s[new], r[new]
    if len(s) > MAX_FID_RUNS:
        return VectorLayout(seen, whole, None, None, None)
    return VectorLayout(seen, whole, s, n, r)


def _residents(cells: gpd.GeoDataFrame, residents, src, *, bounds,
               within=None) -> np.ndarray:
    """Total residents per cell: a column of the cells, or a raster summed into the cells."""
    if not (isinstance(residents, str | os.PathLike) and _is_raster(residents)):
        if not isinstance(residents, str) or residents not in cells.columns:
            raise input_error(src, f"residents = {residents!r} is neither a raster nor a column",
                              "name a raster (.tif) of all residents or a column of the layer")
        return numeric_column(cells, residents, src, what="residents").to_numpy(float)
    points = set(shapely.get_type_id(np.asarray(cells.geometry.array)).tolist()) <= {0}
    box = None
    if within is not None:
        if points and len(cells):
            raise input_error(src, "a residents raster is summed into point cells by nearest "
                              "cell, which needs every cell: it cannot be read by window",
                              "give the residents as a column of the layer, or read it whole")
        if not len(cells):
            return np.zeros(0)
        box = _padded(cells.total_bounds, 0.0, 1.0)   # every pixel centre inside a cell
    with step("reading residents raster"):
        pix = read_population_raster([residents], bounds=bounds, crs=cells.crs, within=box)
    common = pix.index.intersection(cells.index)[:50]
    if {"row", "col"} <= set(cells.columns) and len(common) and shapely.equals_exact(
            np.asarray(pix.geometry.loc[common].array),
            np.asarray(cells.geometry.loc[common].array), 1e-6).all():
        # the same grid as the children raster: cell ids match (residents of pixels with
        # no child have no cell, as with any other grid)
        return pix["population"].reindex(cells.index).fillna(0.0).to_numpy(float)
    centres = gpd.GeoDataFrame({"n": pix["population"].to_numpy()},
                               geometry=pix.geometry.centroid.to_numpy(), crs=cells.crs)
    if points:
        hit = gpd.sjoin_nearest(centres, cells[[cells.geometry.name]], how="inner")
    else:
        hit = gpd.sjoin(centres, cells[[cells.geometry.name]], how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]
    total = hit.groupby("index_right")["n"].sum()
    return total.reindex(cells.index).fillna(0.0).to_numpy(float)


def reads_as_points(source) -> bool:
    """Whether :func:`read_population_points` reads ``source`` (rasters)."""
    paths = list(source) if isinstance(source, list | tuple) else [source]
    return bool(paths) and all(not isinstance(p, gpd.GeoDataFrame) and _is_raster(p)
                               for p in paths)


#: pixels of a raster read at once by :func:`read_population_points` (its window's polygons
#: are the read's peak: about 0.6 KB a populated pixel)
POINTS_WINDOW_PIXELS = 250_000


@dataclass
class _PixelTally:
    """The dropped pixels of a raster read window by window (:func:`read_population_points`),
    each pixel counted once: the windows overlap (each reads its box padded by two pixels),
    so the pixels of a window that an earlier one read are left out."""

    zero: int = 0
    nodata: int = 0
    negative: int = 0
    read: list = field(default_factory=list)   # (row0, col0, row1, col1) of each window

    def add(self, off: tuple[int, int], valid: np.ndarray, total: np.ndarray,
            negative: np.ndarray) -> None:
        r0, c0 = off
        r1, c1 = r0 + total.shape[0], c0 + total.shape[1]
        fresh = np.ones(total.shape, dtype=bool)
        for a0, b0, a1, b1 in self.read:
            lo_r, hi_r, lo_c, hi_c = max(r0, a0), min(r1, a1), max(c0, b0), min(c1, b1)
            if lo_r < hi_r and lo_c < hi_c:
                fresh[lo_r - r0:hi_r - r0, lo_c - c0:hi_c - c0] = False
        self.zero += int((valid & (total == 0) & fresh).sum())
        self.nodata += int((~valid & fresh).sum())
        self.negative += int((negative & fresh).sum())
        if total.size:
            self.read.append((r0, c0, r1, c1))


#: the tally of the raster read by windows under way (None: a plain read)
_TALLY: contextvars.ContextVar = contextvars.ContextVar("geoequity_pixel_tally",
                                                       default=None)


def read_population_points(source, **keywords) -> gpd.GeoDataFrame:
    """:func:`read_population`'s rows of a raster layer, each cell's geometry its
    representative point (:func:`geoequity.io.vector.representative_xy`, computed from its
    polygon), read window by window: what a cluster run's client needs of the cells (their
    partitions, the solver's numbering, the children), without every cell's polygon in its
    memory at once (the workers read their own cells' polygons by window).

    ``keywords`` are :func:`read_population`'s (not ``within``). The rows, ids, columns,
    dtypes, attributes and order are the whole read's; the points are exactly the whole
    read's cells' representative points, so every rule that stands a cell at its point
    (districts, partitions, costs) gives the same answer. ``attrs["points_of"]`` is
    ``"polygons"``: a step needing the cells' shapes (a map, catchments, the urban grid)
    must not take these. Raises ValueError for a layer that is not rasters."""
    from geoequity.io.vector import representative_xy

    if "within" in keywords:
        raise ValueError("read_population_points reads the whole layer (no within)")
    if not reads_as_points(source):
        raise ValueError("read_population_points reads rasters only")
    paths = list(source) if isinstance(source, list | tuple) else [source]
    ext = population_extent(source, crs=keywords.get("crs"),
                            input_crs=keywords.get("input_crs"),
                            bounds=keywords.get("bounds"))
    window = ext.raster["window"]
    side = max(1, math.ceil(math.sqrt(window[2] * window[3] / POINTS_WINDOW_PIXELS)))
    minx, miny, maxx, maxy = ext.bounds   # every cell's point strictly inside
    xs, ys = np.linspace(minx, maxx, side + 1), np.linspace(miny, maxy, side + 1)
    parts = []
    tally = _PixelTally()
    with step(f"reading population raster{'s' if len(paths) > 1 else ''} as points"
              f" ({side * side} window{'s' if side > 1 else ''})"):
        token = _TALLY.set(tally)
        try:
            with quiet():
                for i in range(side):
                    for j in range(side):
                        part = read_population(source, within=(xs[i], ys[j], xs[i + 1],
                                                               ys[j + 1]), **keywords)
                        x, y = representative_xy(part)
                        parts.append(part.set_geometry(
                            gpd.GeoSeries(shapely.points(x, y), index=part.index,
                                          crs=part.crs), crs=part.crs))
                        del part
        finally:
            _TALLY.reset(token)
        attrs = dict(parts[0].attrs)
        cells = pd.concat(parts) if len(parts) > 1 else parts[0]
        del parts
        cells = cells.sort_index(kind="stable")   # a raster's ids: the whole read's order
        if cells.index.has_duplicates:   # (half-open windows take each cell once)
            raise RuntimeError("read_population_points: a cell read in two windows")
        # every pixel of the window read is read (the windows cover every cell's point, and
        # the pixels around it), so it is a cell or dropped: one of neither lay in no window
        pixels = window[2] * window[3]
        counted = len(cells) + tally.zero + tally.nodata + tally.negative
        if keywords.get("ids") is None and counted != pixels:
            raise RuntimeError(f"read_population_points: {pixels - counted:,} populated "
                               "pixel(s) in no window (their points outside the extent)")
        cells.attrs = {**attrs, "points_of": "polygons"}
    trim_memory()   # the windows' polygons went: their pages go back too
    name = Path(os.fspath(paths[0])).name
    if tally.negative:
        info(_negative_line(Path(os.fspath(paths[0])), tally.negative))
    info(f"{_pixels_line(name, len(cells), tally.zero, tally.nodata, cells['population'].sum())}"
         f"; read in {side * side} window(s) as their points (the workers read the cells "
         "themselves)")
    return cells
