"""Residential population: rasters (WorldPop, GHS-POP) or vector grids/points, to children.

A raster becomes one square polygon per populated pixel (nodata, zero and negative pixels
dropped; the total is preserved exactly because pixels are kept whole, not resampled). Several
rasters on the same grid are summed (WorldPop age/sex bands). A ``child_share`` or age-band
columns turn residents into school-age children.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.crs import declare_crs, to_projected
from geoequity.io.vector import numeric_column, read_layer, set_ids

RASTER_SUFFIXES = {".tif", ".tiff", ".img", ".vrt", ".asc"}


def _is_raster(path) -> bool:
    return Path(os.fspath(path)).suffix.lower() in RASTER_SUFFIXES


def _read_band(path: Path, bounds=None):
    """Band 1 as float (masked), the raster's transform, CRS and full shape, and the offset
    ``(row, col)`` of what was read: only the window over ``bounds`` when given."""
    import rasterio
    from rasterio.errors import RasterioIOError, WindowError
    from rasterio.windows import Window, from_bounds

    if not path.exists():
        raise input_error(path, "file not found", f"check the path (relative to {Path.cwd()})")
    try:
        with rasterio.open(path) as src:
            window, off = None, (0, 0)
            if bounds is not None:
                if hasattr(bounds, "total_bounds"):   # an area (e.g. districts): its extent
                    from rasterio.warp import transform_bounds

                    if src.crs is None or bounds.crs is None:
                        raise input_error(path, "cannot window the raster by an area without "
                                          "a CRS on both", "declare the CRS (--input-crs)")
                    bounds = transform_bounds(bounds.crs, src.crs, *bounds.total_bounds)
                w = from_bounds(*bounds, transform=src.transform)
                r0, c0 = math.floor(w.row_off + 1e-9), math.floor(w.col_off + 1e-9)
                r1 = math.ceil(w.row_off + w.height - 1e-9)
                c1 = math.ceil(w.col_off + w.width - 1e-9)
                try:   # every pixel that overlaps the bounds, clipped to the raster
                    window = Window(c0, r0, c1 - c0, r1 - r0).intersection(
                        Window(0, 0, src.width, src.height))
                except WindowError:
                    raise input_error(path, f"the bounds {tuple(bounds)} do not overlap the "
                                      "raster", "give bounds in the raster's CRS, inside its "
                                      f"extent {tuple(src.bounds)}") from None
                off = (int(window.row_off), int(window.col_off))
            data = src.read(1, masked=True, window=window).astype("float64")
            return data, src.transform, src.crs, src.shape, off
    except RasterioIOError as exc:
        raise input_error(path, f"cannot be read as a raster ({exc})",
                          "check that it is a complete GeoTIFF") from exc


def read_population_raster(paths: Sequence, *, crs=None, input_crs=None,
                           bounds=None) -> gpd.GeoDataFrame:
    """Sum one or more rasters on the same grid into populated square cells.

    Parameters
    ----------
    paths
        Raster files (people per pixel). All must share size, transform and CRS.
    bounds
        Optional ``(minx, miny, maxx, maxy)`` in the raster's CRS: only the pixels of that
        window are read from disk (a country raster need not fit in memory); cell ids and
        positions stay those of the full raster.

    Returns
    -------
    GeoDataFrame
        One polygon per pixel with a value > 0: columns ``cell`` (id, ``row * width + col``,
        also the index), ``population``, ``row``, ``col``; projected CRS.
    """
    paths = [Path(os.fspath(p)) for p in paths]
    total = None
    ref = None
    for path in paths:
        data, transform, rcrs, shape, off = _read_band(path, bounds)
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
        info(f"  {first}: {int(negative.sum())} negative pixel(s) treated as nodata")
    keep = valid & (total > 0)
    n_zero = int((valid & (total == 0)).sum())
    rows, cols = np.nonzero(keep)
    values = total[rows, cols]
    rows, cols = rows + off[0], cols + off[1]  # ids and geometry on the full raster's grid
    info(f"  {first.name}: {len(values):,} populated pixels kept "
         f"({n_zero:,} zero and {int((~valid).sum()):,} nodata pixels dropped); "
         f"total {values.sum():,.0f}")
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    if b != 0 or d != 0:
        raise input_error(first, "is a rotated raster", "warp it to a north-up grid first")
    x0 = c + cols * a
    y0 = f + rows * e
    geoms = shapely.box(np.minimum(x0, x0 + a), np.minimum(y0, y0 + e),
                        np.maximum(x0, x0 + a), np.maximum(y0, y0 + e))
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
    return to_projected(gdf, crs)


def read_population(source, *, count_col=None, id_col=None, child_share: float | None = None,
                    crs=None, input_crs=None, layer=None, bounds=None,
                    keep_zero: bool = True, id_dtype=None, residents=None) -> gpd.GeoDataFrame:
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
    if all(not isinstance(p, gpd.GeoDataFrame) and _is_raster(p) for p in paths):
        with step(f"reading population raster{'s' if len(paths) > 1 else ''}"):
            gdf = read_population_raster(paths, crs=crs, input_crs=input_crs, bounds=bounds)
        src = paths[0]
    else:
        if len(paths) != 1:
            raise input_error(paths[0], "several population files given but not all are rasters",
                              "give one vector layer, or rasters only")
        gdf = read_layer(paths[0], crs=crs, input_crs=input_crs, layer=layer,
                         text_cols=(id_col,))
        src = gdf.attrs.get("source", paths[0])
        if bounds is not None:
            info(f"  {Path(str(src)).name}: bounds apply to raster population only; this "
                 "vector layer is read whole")
        if count_col is None:
            numeric = [c for c in gdf.columns if c != gdf.geometry.name
                       and pd.api.types.is_numeric_dtype(gdf[c])]
            raise input_error(src, "no population count column was named",
                              f"name it with count_col (--demand-col); numeric columns: "
                              f"{', '.join(map(str, numeric)) or 'none'}")
        cols = [count_col] if isinstance(count_col, str) else list(count_col)
        counts = sum(numeric_column(gdf, c, src, what="population") for c in cols)
        gdf = set_ids(gdf, id_col, src, what="cell", id_dtype=id_dtype)
        gdf["population"] = counts.to_numpy()
        zero = gdf["population"] == 0
        if zero.any():
            info(f"  {src}: {int(zero.sum())} of {len(gdf)} cells have no residents"
                 + ("" if keep_zero else " (dropped)"))
            if not keep_zero:
                gdf = gdf.loc[~zero]
    share = 1.0 if child_share is None else float(child_share)
    gdf["children"] = gdf["population"] * share
    if residents is not None:
        gdf["residents"] = _residents(gdf, residents, src, bounds=bounds)
    gdf.attrs["source"] = str(src)
    gdf.attrs["child_share"] = child_share
    gdf.attrs["kind"] = "population"
    return gdf


def _residents(cells: gpd.GeoDataFrame, residents, src, *, bounds) -> np.ndarray:
    """Total residents per cell: a column of the cells, or a raster summed into the cells."""
    if not (isinstance(residents, str | os.PathLike) and _is_raster(residents)):
        if not isinstance(residents, str) or residents not in cells.columns:
            raise input_error(src, f"residents = {residents!r} is neither a raster nor a column",
                              "name a raster (.tif) of all residents or a column of the layer")
        return numeric_column(cells, residents, src, what="residents").to_numpy(float)
    with step("reading residents raster"):
        pix = read_population_raster([residents], bounds=bounds)
    if pix.crs != cells.crs:
        pix = pix.to_crs(cells.crs)
    common = pix.index.intersection(cells.index)[:50]
    if {"row", "col"} <= set(cells.columns) and len(common) and shapely.equals_exact(
            np.asarray(pix.geometry.loc[common].array),
            np.asarray(cells.geometry.loc[common].array), 1e-6).all():
        # the same grid as the children raster: cell ids match (residents of pixels with
        # no child have no cell, as with any other grid)
        return pix["population"].reindex(cells.index).fillna(0.0).to_numpy(float)
    centres = gpd.GeoDataFrame({"n": pix["population"].to_numpy()},
                               geometry=pix.geometry.centroid, crs=cells.crs)
    if set(shapely.get_type_id(np.asarray(cells.geometry.array)).tolist()) <= {0}:
        hit = gpd.sjoin_nearest(centres, cells[[cells.geometry.name]], how="inner")
    else:
        hit = gpd.sjoin(centres, cells[[cells.geometry.name]], how="inner", predicate="within")
    hit = hit[~hit.index.duplicated()]
    total = hit.groupby("index_right")["n"].sum()
    return total.reindex(cells.index).fillna(0.0).to_numpy(float)
