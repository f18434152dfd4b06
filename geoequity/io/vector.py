"""Generic vector input: any GDAL vector file (GeoPackage, GeoJSON, Shapefile, zipped Shapefile)
or a CSV with lon/lat or x/y columns, validated and projected."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error, shown
from geoequity._progress import info
from geoequity.crs import declare_crs, parse_input_crs, to_projected
from geoequity.io.text import read_csv_text

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb", ".gml", ".kml",
                   ".parquet", ".geoparquet"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv"}
# No count of children, residents or seats in one row comes near this (the world holds 8e9
# people); a value above it is a unit or export error, and would swamp every sum.
MAX_COUNT = 1e10
LON_NAMES = ("lon", "lng", "long", "longitude", "x_wgs84")
LAT_NAMES = ("lat", "latitude", "y_wgs84")
X_NAMES = ("x", "easting")
Y_NAMES = ("y", "northing")


def _find_column(columns, names) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _separator(path: Path) -> str:
    """Tab for .tsv; a semicolon when the header has semicolons and no comma (European
    spreadsheets); else a comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    with open(path, "rb") as fh:
        header = fh.readline().decode("latin-1")
    return ";" if ";" in header and "," not in header else ","


def _read_csv(path: Path, *, x_col, y_col, input_crs, text_cols=()) -> gpd.GeoDataFrame:
    sep = _separator(path)
    dtype = {c: str for c in text_cols if c is not None} or None
    try:
        df = read_csv_text(path, sep=sep, dtype=dtype)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise input_error(path, f"cannot be read as CSV ({str(exc).splitlines()[0]})",
                          "save it as UTF-8 comma-separated text with a header row") from exc
    declared = parse_input_crs(input_crs)
    if x_col is None and y_col is None:
        x_col, y_col = _find_column(df.columns, LON_NAMES), _find_column(df.columns, LAT_NAMES)
        lonlat = x_col is not None and y_col is not None
        if not lonlat:
            x_col, y_col = _find_column(df.columns, X_NAMES), _find_column(df.columns, Y_NAMES)
    else:
        lonlat = False
    if x_col is None or y_col is None:
        raise input_error(path, "has no coordinate columns (looked for lon/lat or x/y among "
                          f"{', '.join(map(str, df.columns))})",
                          "name them with x_col/y_col (--x-col/--y-col)")
    for col in (x_col, y_col):
        if col not in df.columns:
            raise input_error(path, f"has no column {col!r}",
                              f"choose one of {', '.join(map(str, df.columns))}")
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = vals.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise input_error(path, f"column {col!r} has a missing or non-numeric value on "
                              f"line {row + 2} (and {int(bad.sum()) - 1} more)",
                              "fill in the coordinates or remove those rows")
        df[col] = vals
    if lonlat and declared is not None and not isinstance(declared, str) \
            and not declared.is_geographic:
        # lon/lat columns are degrees: a projected declaration would put every point near
        # (0, 0) metres and leave every cell without access
        info(f"  {path.name}: columns {x_col}/{y_col} are longitude/latitude (WGS84); the "
             f"declared CRS {declared.to_string()} (a projected one) is not applied to them")
        declared = input_crs = None
    if declared is None:
        if not lonlat:
            raise input_error(path, f"has x/y columns ({x_col}, {y_col}) but no declared CRS",
                              "declare it: input_crs='EPSG:xxxx' (--input-crs EPSG:xxxx)")
        declared = "EPSG:4326"
    geom = gpd.points_from_xy(df[x_col], df[y_col])
    gdf = gpd.GeoDataFrame(df, geometry=geom, crs=None)
    if declared == "EPSG:4326" or (not isinstance(declared, str) and declared.is_geographic):
        xy = df[[x_col, y_col]].to_numpy()
        if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
            raise input_error(path, f"columns {x_col}/{y_col} hold values outside longitude/"
                              "latitude ranges", "declare the CRS they are in with input_crs")
    return declare_crs(gdf, input_crs if input_crs is not None else "EPSG:4326", path)


def _read_vector(path: Path, layer, bbox=None) -> gpd.GeoDataFrame:
    import pyogrio

    target = str(path)
    if path.suffix.lower() == ".zip":
        target = f"/vsizip/{path}"
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            from geoequity.io.parquet import in_written_order

            return in_written_order(gpd.read_parquet(path), path)   # a run's cells.parquet
        if bbox is not None:   # the features whose envelope meets bbox, in the file's order
            gdf = gpd.read_file(target, layer=layer, engine="pyogrio", bbox=tuple(bbox),
                                fid_as_index=True)
            if path.suffix.lower() in (".gpkg", ".sqlite") or (
                    path.suffix.lower() == ".zip" and pyogrio.read_info(
                        target, layer=layer)["driver"] in ("GPKG", "SQLite")):
                # GeoPackage answers in its R-tree's order (zipped too): its FIDs are its
                # rows' order
                gdf = gdf.sort_index(kind="stable")
            return gdf
        return gpd.read_file(target, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        reason = " ".join(str(exc).split())
        if len(reason) > 160:
            reason = reason[:157] + "..."
        raise input_error(path, f"cannot be read as a vector layer (GDAL: {reason})",
                          "check that the file is complete and valid (for GeoJSON, validate the "
                          "JSON syntax), or export it again as GeoPackage") from exc
    except ValueError as exc:
        raise input_error(path, f"cannot be read: {exc}", "check the file and layer name") from exc


def clean_geometries(gdf: gpd.GeoDataFrame, source) -> gpd.GeoDataFrame:
    """Drop null/empty geometries and repair invalid ones (``make_valid``), saying what was done."""
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        info(f"  {source}: dropped {int(missing.sum())} feature(s) with no geometry")
        gdf = gdf.loc[~missing]
        geoms = gdf.geometry.values
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        info(f"  {source}: repaired {int(invalid.sum())} invalid geometr"
             f"{'y' if invalid.sum() == 1 else 'ies'} with make_valid")
        fixed = geoms.copy()
        fixed[invalid] = shapely.make_valid(geoms[invalid])
        gdf = gdf.set_geometry(gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs))
    return gdf


def read_layer(path, *, layer=None, crs=None, input_crs=None, x_col=None, y_col=None,
               project: bool = True, text_cols=(), bbox=None) -> gpd.GeoDataFrame:
    """Read a vector file or a CSV of coordinates into a clean, projected GeoDataFrame.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile (also ``.zip``), FlatGeobuf, GeoParquet, or CSV with
        ``lon``/``lat`` (WGS84) or ``x``/``y`` columns (CRS to declare), or a GeoDataFrame.
    layer
        Layer name inside a multi-layer file.
    crs
        Target CRS. Default: keep a projected metric CRS, else the local UTM zone.
    input_crs
        Declared CRS of the input when the file has none: anything pyproj accepts, or
        ``"gcj02"`` / ``"bd09"`` for Chinese web-map lon/lat (converted to WGS84). A file's own
        CRS is kept (unless it claims lon/lat for coordinates that are not degrees), and CSV
        lon/lat columns stay WGS84 under a projected declaration; both are said on stderr.
    x_col, y_col
        Coordinate columns of a CSV, when not named lon/lat or x/y.
    project
        Reproject (default) or keep the input CRS.
    text_cols
        Columns of a CSV read as text exactly as written (ids such as ``0014``); typed formats
        (GeoPackage, Parquet, GeoJSON) keep their own column types.
    bbox
        ``(minx, miny, maxx, maxy)`` in the file's own coordinates: a GDAL vector file is read
        only for the features whose envelope meets it (pyogrio's spatial filter), in the
        file's order with the FIDs as index, and none is not an error (a window may be empty). Other
        inputs (CSV, GeoParquet, a GeoDataFrame) are read whole: the caller filters.
    """
    windowed = False
    if isinstance(path, gpd.GeoDataFrame):
        gdf, source = path.copy(), "layer"
        gdf = declare_crs(gdf, input_crs, source)
    else:
        source = Path(os.fspath(path))
        if not source.exists():
            raise input_error(source, "file not found", "check the path (relative paths are "
                              f"taken from {Path.cwd()})")
        if source.is_dir() and source.suffix.lower() not in (".gdb", ".parquet"):
            # (a .parquet folder: a partitioned dataset, a cluster run's cells.parquet)
            raise input_error(source, "is a folder, not a file", "give the path of the file")
        suffix = source.suffix.lower()
        if source.name.lower().endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2")):
            raise input_error(source, "is an OpenStreetMap extract, which geoequity reads as a "
                              "street network (--network / [network] path), not as a layer",
                              "export the features you need first, e.g. schools: ogr2ogr "
                              "schools.gpkg EXTRACT.osm.pbf multipolygons -where "
                              "\"amenity='school'\"")
        if suffix in TABLE_SUFFIXES:
            gdf = _read_csv(source, x_col=x_col, y_col=y_col, input_crs=input_crs,
                           text_cols=text_cols)
        else:
            windowed = bbox is not None and suffix not in (".parquet", ".geoparquet")
            gdf = declare_crs(_read_vector(source, layer, bbox if windowed else None),
                              input_crs, source)
    if len(gdf) == 0 and not windowed:
        raise input_error(source, "has no features", "check the file and layer")
    try:
        gdf = clean_geometries(gdf, source)
    except shapely.errors.GEOSException as exc:
        raise input_error(source, f"has geometries GEOS cannot repair ({exc})",
                          "repair them first (QGIS 'Fix geometries' or ogr2ogr -makevalid)"
                          ) from None
    if project:
        gdf = to_projected(gdf, crs)
    gdf.attrs["source"] = str(source)
    return gdf


def representative_points(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Points standing for each feature: points as they are, polygon centroids (or a point on
    the surface when the centroid falls outside), line midpoints.

    A large layer's points are computed once: the costs, the district of each cell, the
    coverage check and the CSV tables of a run all ask for those of the same geometries
    (copies of a frame share them), and get the remembered ones back while the geometries
    live (:data:`_REMEMBERED`).
    """
    points, _ = _points_and_rectangles(gdf)
    if points.dtype != object:
        empty = np.isnan(points[:, 0])   # an empty polygon's: an empty point
        points = shapely.points(points)
        points[empty] = shapely.Point()
    return gpd.GeoSeries(points, index=gdf.index, crs=gdf.crs)


def box_centres(layer: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The centres of the features' bounding boxes (a point's: itself)."""
    b = shapely.bounds(np.asarray(layer.geometry.array))
    return (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2


def representative_xy(gdf: gpd.GeoDataFrame | gpd.GeoSeries, *, rectangles: bool = False
                      ) -> tuple[np.ndarray, ...]:
    """``x`` and ``y`` of :func:`representative_points` (NaN for a missing or empty
    geometry), without making a point geometry of each: a large layer's remembered points are
    kept as coordinates.

    With ``rectangles=True`` also a mask of the features that are plain axis-aligned
    rectangles (:func:`axis_rectangles`: a grid's cells, valid polygons) whose representative
    point is their centroid (``shapely.centroid``, found strictly inside them)."""
    points, rect = _points_and_rectangles(gdf)
    if points.dtype != object:
        x, y = points[:, 0].copy(), points[:, 1].copy()
    else:
        x, y = np.full(len(points), np.nan), np.full(len(points), np.nan)
        has = ~(shapely.is_missing(points) | shapely.is_empty(points))
        x[has], y[has] = shapely.get_x(points[has]), shapely.get_y(points[has])
    return (x, y, rect.copy()) if rectangles else (x, y)


def _points_and_rectangles(gdf) -> tuple[np.ndarray, np.ndarray]:
    """The layer's representative points (GEOS points, or an n x 2 array of coordinates when
    remembered so: callers must not change it) and its rectangles' mask (see
    :func:`representative_xy`), remembered for a large layer."""
    geom = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    geoms = np.asarray(geom.values)
    found = _remembered(geoms, gdf.crs)
    if found is None:
        found = _points_of(geom.values)
        _remember(geoms, gdf.crs, *found)
    return found


#: [weak references to the geometry arrays holding them, the ids of the geometries, CRS,
#: points, the geometries held, rectangles' mask]: shapely geometries are immutable, so the
#: same objects have the same points. A copy of a layer (a frame with a column added: new
#: arrays of the same objects) found by its ids joins the entry, which lives while any of its
#: arrays does: a piece of a cluster run, replaced by a copy at each step
#: (:class:`geoequity.distributed.KeptCells`), keeps its points. The entry holds its
#: geometries, so an id is never that of a newer object. Only live layers' entries are kept
#: (their points are 16 bytes a feature, beside the layer's own geometries).
_REMEMBERED: list = []
_REMEMBER_FROM = 20_000   # features; smaller layers are computed again (it is quick)


def _ids(geoms: np.ndarray) -> np.ndarray:
    return np.fromiter(map(id, geoms), dtype=np.int64, count=len(geoms))


def _alive(entry: list) -> bool:
    entry[0] = [ref for ref in entry[0] if ref() is not None]
    return bool(entry[0])


def _remembered(geoms: np.ndarray, crs) -> tuple[np.ndarray, np.ndarray] | None:
    if len(geoms) < _REMEMBER_FROM:
        return None
    _forget_dead()
    ids = None
    for entry in list(_REMEMBERED):   # (a dead array's callback may change it)
        refs, known, known_crs, points, _held, rect = entry
        if len(known) != len(geoms) or known_crs != crs:
            continue
        ids = _ids(geoms) if ids is None else ids   # (an array changed in place has new ids)
        if np.array_equal(ids, known):
            if not any(ref() is geoms for ref in refs):   # a copy: it keeps the entry too
                refs.append(_weak(geoms))
            return (points if points.dtype != object else points.copy()), rect
    return None


def _remember(geoms: np.ndarray, crs, points: np.ndarray, rect: np.ndarray) -> None:
    if len(geoms) < _REMEMBER_FROM:
        return
    if points.dtype != object:   # coordinates already (:func:`_points_of`)
        _add_entry(geoms, crs, points, rect)
        return
    flat = len(points) and not (shapely.has_z(points) | shapely.is_missing(points)
                                | shapely.is_empty(points)).any()
    # plain 2-D points are kept as coordinates (16 bytes a point instead of a GEOS object)
    kept = shapely.get_coordinates(points) if flat else points.copy()
    # the entry holds the geometries themselves (a copy of the object array: references, not
    # new objects), so none of them is freed while it lives and its id cannot be taken by a
    # new geometry set in its place (after `gdf.loc[i, "geometry"] = None` the freed address
    # is often reused at once)
    _add_entry(geoms, crs, kept, rect)


def _add_entry(geoms: np.ndarray, crs, points: np.ndarray, rect: np.ndarray) -> None:
    _forget_dead()
    _REMEMBERED.append([[_weak(geoms)], _ids(geoms), crs, points, geoms.copy(),
                        np.asarray(rect, dtype=bool).copy()])


def remember_points(layer: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray,
                    rectangles: np.ndarray | None = None) -> None:
    """Remember ``x``, ``y`` and ``rectangles`` (:func:`representative_xy` with
    ``rectangles=True``, computed elsewhere from the same geometries: a cluster's client
    computed them for every cell, and a worker reads its partition's cells again, equal by
    :func:`geoequity.io.read_population`'s ``within`` rule) as ``layer``'s points, instead of
    computing them again; ``rectangles`` None: found here from the geometries and the points
    (a client that holds the cells' points only). Plain 2-D points only (finite ``x`` and
    ``y``); otherwise, or for a small layer, nothing is remembered."""
    geoms = np.asarray(layer.geometry.values)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(geoms) or len(y) != len(geoms) or (
            rectangles is not None and len(rectangles) != len(geoms)):
        raise ValueError(f"remember_points: {len(x)} points for {len(geoms)} features")
    if len(geoms) < _REMEMBER_FROM or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return
    if rectangles is None:   # as _points_of finds them: a rectangle whose point is inside
        rectangles = np.zeros(len(geoms), dtype=bool)
        poly = np.flatnonzero(np.isin(shapely.get_type_id(geoms), (3, 6)))
        rect, b = axis_rectangles(geoms[poly])
        at = poly[rect]
        rectangles[at] = ((b[:, 0] < x[at]) & (x[at] < b[:, 2])
                          & (b[:, 1] < y[at]) & (y[at] < b[:, 3]))
    if _remembered(geoms, layer.crs) is None:
        _add_entry(geoms, layer.crs, np.column_stack([x, y]), rectangles)


def _weak(geoms: np.ndarray):
    """A weak reference to a layer's geometry array that drops the entries no live array
    holds once it goes: an entry holds its geometries, which would otherwise stay in memory
    until the next lookup (a cluster run's client lets every cell go after handing them to
    the workers, and may never look up a point again)."""
    import weakref

    return weakref.ref(geoms, _forget_dead)


def _forget_dead(_ref=None) -> None:
    """Drop the entries whose every array went (a weakref's callback, and each lookup)."""
    _REMEMBERED[:] = [e for e in _REMEMBERED if _alive(e)]


def keep_points(layer: gpd.GeoDataFrame) -> None:
    """Find or compute ``layer``'s representative points and remember them while it, or a
    copy of it, lives (layers of 20,000 features and more): a step that returns a copy of
    its input with columns added calls this on the copy while the input still lives, and
    the steps after it find the points instead of computing them again."""
    _points_and_rectangles(layer)


def axis_rectangles(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which geometries are plain axis-aligned rectangles (a grid's cells), and their bounds.

    A plain rectangle is a polygon without holes whose ring is 5 coordinates going round an
    axis-aligned box of non-zero width and height (first = last). Such a polygon is valid,
    and a point lies in its interior exactly when it lies strictly within its bounds.

    Returns
    -------
    (mask, bounds)
        ``mask`` per geometry; ``bounds`` (``minx, miny, maxx, maxy``) of the rectangles, in
        order, one row each.
    """
    mask, bounds, _ = _rectangles(geoms)
    return mask, bounds


def _rectangles(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`axis_rectangles`, with the rectangles' rings (``x0, y0, ..., x4, y4`` a row)."""
    geoms = np.asarray(geoms, dtype=object)
    mask = ((shapely.get_type_id(geoms) == 3) & (shapely.get_num_coordinates(geoms) == 5)
            & (shapely.get_num_interior_rings(geoms) == 0))
    if not mask.any():
        return mask, np.zeros((0, 4)), np.zeros((0, 10))
    xy = shapely.get_coordinates(geoms[mask]).reshape(-1, 10)
    x, y = [xy[:, i] for i in range(0, 10, 2)], [xy[:, i] for i in range(1, 10, 2)]
    along_y = [x[i] == x[i + 1] for i in range(4)]
    along_x = [y[i] == y[i + 1] for i in range(4)]
    turns = ((along_y[0] & along_x[1] & along_y[2] & along_x[3])
             | (along_x[0] & along_y[1] & along_x[2] & along_y[3]))
    closed = (x[0] == x[4]) & (y[0] == y[4])
    lo_x, hi_x = np.minimum(x[0], x[2]), np.maximum(x[0], x[2])   # opposite corners
    lo_y, hi_y = np.minimum(y[0], y[2]), np.maximum(y[0], y[2])
    ok = turns & closed & (hi_x > lo_x) & (hi_y > lo_y)
    mask[mask] = ok
    return mask, np.column_stack([lo_x, lo_y, hi_x, hi_y])[ok], xy[ok]


def _ring_centroids(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The centroids of rectangles from their rings (:func:`_rectangles`), by GEOS's own
    arithmetic (``geos::algorithm::Centroid``: triangles fanned from the first vertex, their
    doubled areas signed by the ring's orientation, summed in the ring's order), so the
    same numbers as ``shapely.centroid`` without making a point of each: a raster grid's
    cells, 10 times faster. Checked against shapely once per process
    (:func:`_ring_centroids_agree`)."""
    px = [ring[:, 2 * i] for i in range(5)]
    py = [ring[:, 2 * i + 1] for i in range(5)]
    doubled = np.zeros(len(ring))
    for i in range(4):
        doubled += px[i] * py[i + 1] - px[i + 1] * py[i]
    sign = np.where(doubled > 0, -1.0, 1.0)   # counter-clockwise: a hole's sign in GEOS
    cx, cy, area = np.zeros(len(ring)), np.zeros(len(ring)), np.zeros(len(ring))
    for i in range(4):
        a2 = ((px[i] - px[0]) * (py[i + 1] - py[0])
              - (px[i + 1] - px[0]) * (py[i] - py[0]))
        cx = cx + sign * a2 * (px[0] + px[i] + px[i + 1])
        cy = cy + sign * a2 * (py[0] + py[i] + py[i + 1])
        area = area + sign * a2
    return cx / 3 / area, cy / 3 / area


_CENTROIDS_AGREE: list = []   # [bool] once checked in this process


def _ring_centroids_agree(geoms: np.ndarray, ring: np.ndarray) -> bool:
    """Whether :func:`_ring_centroids` gives shapely's centroids exactly, checked once per
    process on the first rectangles met (another GEOS might sum otherwise: then shapely's
    are used)."""
    if not _CENTROIDS_AGREE:
        k = min(len(ring), 256)
        got = np.column_stack(_ring_centroids(ring[:k]))
        _CENTROIDS_AGREE.append(bool(np.array_equal(
            got, shapely.get_coordinates(shapely.centroid(geoms[:k])))))
    return _CENTROIDS_AGREE[0]


def _xy_of(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` of points, NaN for an empty one."""
    x, y = np.full(len(points), np.nan), np.full(len(points), np.nan)
    has = ~(shapely.is_missing(points) | shapely.is_empty(points))
    x[has], y[has] = shapely.get_x(points[has]), shapely.get_y(points[has])
    return x, y


def _points_of(geoms) -> tuple[np.ndarray, np.ndarray]:
    """The representative point of each geometry (see :func:`representative_points`), and
    which geometries are rectangles whose point is their centroid (:func:`representative_xy`).
    The points are an n x 2 array of coordinates when every geometry is a polygon (a grid:
    no point object made), else GEOS points."""
    kind = shapely.get_type_id(geoms)
    poly = np.isin(kind, (3, 6))
    centroid_rect = np.zeros(len(kind), dtype=bool)
    cx = cy = None
    if poly.any():
        pg = np.asarray(geoms[poly], dtype=object)
        rect, b, ring = _rectangles(pg)
        cx, cy = np.full(len(pg), np.nan), np.full(len(pg), np.nan)
        fast = rect.copy() if rect.any() and _ring_centroids_agree(pg[rect], ring) \
            else np.zeros(len(pg), dtype=bool)
        if fast.any():
            cx[fast], cy[fast] = _ring_centroids(ring)
        if not fast.all():
            cx[~fast], cy[~fast] = _xy_of(shapely.centroid(pg[~fast]))
        outside = np.zeros(len(pg), dtype=bool)
        if rect.any():   # a grid's cells: inside when strictly within their bounds
            rx, ry = cx[rect], cy[rect]
            outside[rect] = ~((b[:, 0] < rx) & (rx < b[:, 2]) & (b[:, 1] < ry) & (ry < b[:, 3]))
        if not rect.all():
            others = np.flatnonzero(~rect)
            outside[others] = ~shapely.contains_properly(
                pg[others], shapely.points(cx[others], cy[others]))
        if outside.any():
            cx[outside], cy[outside] = _xy_of(shapely.point_on_surface(pg[outside]))
        centroid_rect[poly] = rect & ~outside
        if poly.all():   # (an empty polygon's point: NaN, as representative_xy gives it)
            return np.column_stack([cx, cy]), centroid_rect
    out = np.asarray(geoms, dtype=object).copy()
    if poly.any():
        out[poly] = shapely.points(cx, cy)
        empty = np.isnan(cx)
        if empty.any():   # (shapely makes no point of NaN: an empty one, as centroid gives)
            out[np.flatnonzero(poly)[empty]] = shapely.Point()
    other = ~np.isin(kind, (0, 3, 6))
    if other.any():
        out[other] = shapely.point_on_surface(geoms[other])
    return np.asarray(out), centroid_rect


ID_DTYPES = ("str", "int")


def check_id_dtype(id_dtype) -> None:
    """Refuse an ``id_dtype`` other than None, ``"str"`` or ``"int"``."""
    if id_dtype is not None and id_dtype not in ID_DTYPES:
        raise input_error("id_dtype", f"{id_dtype!r} is not an id type",
                          "use 'str' (text, as written) or 'int' (whole numbers), or leave it out")


def cast_ids(ids: pd.Series, id_dtype, source, id_col) -> pd.Series:
    """Ids as text (``"str"``) or whole numbers (``"int"``); ``None`` keeps them as read."""
    if id_dtype == "str" and not pd.api.types.is_object_dtype(ids.dtype):
        if pd.api.types.is_float_dtype(ids.dtype) and (ids.dropna() % 1 == 0).all():
            ids = ids.astype("Int64")   # 14.0 from a float column is the id 14
        return ids.astype(str).where(ids.notna())
    if id_dtype == "int" and not pd.api.types.is_integer_dtype(ids.dtype):
        num = pd.to_numeric(ids, errors="coerce")
        bad = (num.isna() & ids.notna()) | (num.notna() & (num % 1 != 0))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise input_error(source, f"id column {id_col!r} has {ids.iloc[row]!r} in row "
                              f"{row + 1}, not a whole number", "leave out id_dtype='int' "
                              "(--id-dtype int) to keep the ids as text")
        return num.astype("Int64") if num.isna().any() else num.astype(np.int64)
    return ids


def set_ids(gdf: gpd.GeoDataFrame, id_col, source, *, what: str = "feature",
            id_dtype=None) -> gpd.GeoDataFrame:
    """Put the layer's id in the index and in a column, refusing missing or duplicate ids.

    ``id_dtype``: ``None`` keeps the ids as read (text from CSV, exactly as written; the
    file's own type in GeoPackage/Parquet/GeoJSON), ``"str"`` makes them text, ``"int"``
    whole numbers (``0014`` becomes 14).

    The index is left unnamed so that the id column and the index never clash in pandas
    (``groupby``/``reset_index``). With ``id_col=None`` the ids are the row numbers 0..n-1,
    also written to a column ``id``. ``gdf.attrs["id_col"]`` names the id column.
    """
    if id_col is None:
        gdf = gdf.reset_index(drop=True)
        if "id" in gdf.columns:
            raise input_error(source, "has a column 'id' but no id column was named",
                              "name it (id_col='id', --...-id id) or rename that column")
        gdf["id"] = np.arange(len(gdf))
        gdf.attrs["id_col"] = "id"
        return gdf
    if id_col not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        raise input_error(source, f"has no id column {id_col!r}",
                          f"choose one of: {', '.join(map(str, cols))}")
    check_id_dtype(id_dtype)
    ids = cast_ids(gdf[id_col], id_dtype, source, id_col)
    gdf[id_col] = ids
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise input_error(source, f"{what} in row {row + 1} has no {id_col!r}",
                          "give every feature an id")
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        rows = (np.flatnonzero((ids == first).to_numpy()) + 1).tolist()
        raise input_error(source, f"column {id_col!r} has duplicate ids ({int(ids[dup].nunique())}"
                          f" values repeated; e.g. {shown(first)} in rows {rows[:5]})",
                          "make the ids unique or choose another id column")
    gdf = gdf.set_index(pd.Index(ids.to_numpy()), drop=False)
    gdf.attrs["id_col"] = id_col
    return gdf


def read_points(path, *, id_col=None, crs=None, input_crs=None, layer=None, x_col=None,
                y_col=None, id_dtype=None) -> gpd.GeoDataFrame:
    """Read any layer as points (polygons become representative points), ids in the index.

    The id column of a CSV is read as text exactly as written (``0014``, ``060816013.00``);
    ``id_dtype`` (``"str"`` or ``"int"``) makes the ids text or whole numbers (see
    :func:`set_ids`). The original geometry type is kept in ``.attrs["geometry_type"]``.
    """
    check_id_dtype(id_dtype)
    gdf = read_layer(path, layer=layer, crs=crs, input_crs=input_crs, x_col=x_col, y_col=y_col,
                     text_cols=(id_col,))
    source = gdf.attrs.get("source", path)
    gdf = set_ids(gdf, id_col, source, id_dtype=id_dtype)
    gtypes = set(gdf.geom_type.unique())
    if gtypes - {"Point"}:
        gdf = gdf.set_geometry(representative_points(gdf))
    gdf.attrs["geometry_type"] = sorted(gtypes)
    gdf.attrs["source"] = str(source)
    return gdf


def numeric_column(gdf, col, source, *, what: str, allow_nan: bool = False) -> pd.Series:
    """A column as float, refusing a missing column, text, negatives and (unless allowed) blanks."""
    if col not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        raise input_error(source, f"has no {what} column {col!r}",
                          f"choose one of: {', '.join(map(str, cols))}")
    raw = gdf[col]
    vals = pd.to_numeric(raw, errors="coerce").astype(float)
    text = vals.isna() & raw.notna()
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise input_error(source, f"{what} column {col!r} has a non-numeric value "
                          f"{shown(raw.iloc[row])} in row {row + 1}", "use numbers only")
    if not allow_nan and vals.isna().any():
        row = int(np.flatnonzero(vals.isna().to_numpy())[0])
        raise input_error(source, f"{what} column {col!r} is blank in row {row + 1} "
                          f"({int(vals.isna().sum())} blank in all)", "fill in the values")
    bad = ~np.isfinite(vals) & vals.notna() | (vals > MAX_COUNT)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error(source, f"{what} column {col!r} holds {shown(raw.iloc[row])} in row "
                          f"{row + 1}, not a plausible count", f"counts must be finite and "
                          f"below {MAX_COUNT:.0e}")
    neg = vals < 0
    if neg.any():
        row = int(np.flatnonzero(neg.to_numpy())[0])
        raise input_error(source, f"{what} column {col!r} is negative ({vals.iloc[row]}) in "
                          f"row {row + 1}", "counts and capacities must be 0 or more")
    return vals
