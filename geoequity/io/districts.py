"""District boundaries: polygons with a name, and the district of a point."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import read_layer, representative_xy

#: District label of a feature lying in no district.
OUTSIDE = "(outside)"


def read_districts(path, *, name_col: str, crs=None, input_crs=None,
                   layer=None) -> gpd.GeoDataFrame:
    """Read district polygons with a ``district`` name column (also the index).

    Rows sharing a name are dissolved into one (multi)polygon, which real boundary files often
    need (a district split over several rows); the count is reported.

    Parameters
    ----------
    path
        Polygon layer (GeoPackage, GeoJSON, Shapefile ...).
    name_col
        Column holding the district name.
    """
    gdf = read_layer(path, crs=crs, input_crs=input_crs, layer=layer)
    source = gdf.attrs.get("source", path)
    if name_col not in gdf.columns:
        cols = [c for c in gdf.columns if c != gdf.geometry.name]
        raise input_error(source, f"has no district name column {name_col!r}",
                          f"choose one of: {', '.join(map(str, cols))}")
    bad = ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise input_error(source, f"row {row + 1} is a {gdf.geom_type.iloc[row]}, not a polygon",
                          "districts must be polygons")
    names = gdf[name_col]
    if names.isna().any():
        row = int(names.isna().to_numpy().nonzero()[0][0])
        raise input_error(source, f"district in row {row + 1} has no {name_col!r}",
                          "give every district a name")
    gdf = gdf.assign(district=names.astype(str))
    if gdf["district"].duplicated().any():
        n = int(gdf["district"].duplicated().sum())
        info(f"  {source}: {n} row(s) share a district name with another; dissolved by name")
        keep = gdf.drop(columns=[gdf.geometry.name]).groupby("district", sort=False).first()
        geoms = gdf.dissolve(by="district", sort=False).geometry
        gdf = gpd.GeoDataFrame(keep.drop(columns=[], errors="ignore"), geometry=geoms,
                               crs=gdf.crs).reset_index()
    gdf = gdf.set_index(pd.Index(gdf["district"].to_numpy()))
    gdf.attrs["id_col"] = "district"
    gdf.attrs["source"] = str(source)
    return gdf


def layer_names(districts: gpd.GeoDataFrame | gpd.GeoSeries, *,
                name_col: str = "district") -> np.ndarray:
    """The name :func:`district_of` gives each polygon of ``districts`` (as text): its
    ``name_col``, else its index."""
    if isinstance(districts, gpd.GeoDataFrame) and name_col in districts.columns:
        return districts[name_col].astype(str).to_numpy()
    return districts.index.astype(str).to_numpy()


def district_of(features: gpd.GeoDataFrame | gpd.GeoSeries,
                districts: gpd.GeoDataFrame | gpd.GeoSeries, *, name_col: str = "district",
                outside: str | None = OUTSIDE) -> pd.Series:
    """The district of each feature: the one rule every part of geoequity uses.

    A feature stands at its representative point (:func:`representative_points`: a point is
    itself, a polygon cell its centroid, or a point on its surface when the centroid lies
    outside it, as for an L-shaped cell). The point belongs to the district that contains it,
    boundary included; a point on a boundary shared by several districts goes to the first of
    them in the layer's order; a point in no district gets ``outside``.

    Parameters
    ----------
    features
        Cells or schools (any geometry), indexed by id.
    districts
        District polygons: a GeoDataFrame with ``name_col`` (as :func:`read_districts` gives),
        else its index names the districts; or a GeoSeries indexed by name. Reprojected to
        the features' CRS when it differs.
    name_col
        Column of district names.
    outside
        Label of features in no district (``"(outside)"``; None gives missing values).

    Returns
    -------
    pandas.Series
        District name (str) per feature, indexed like ``features``.
    """
    if features.crs is not None and districts.crs is not None and features.crs != districts.crs:
        districts = districts.to_crs(features.crs)
    names = layer_names(districts, name_col=name_col)
    x, y = representative_xy(features)
    out = np.full(len(x), outside, dtype=object)
    first = first_polygon_of(np.asarray(districts.geometry.values), x, y)
    found = first >= 0
    out[found] = names[first[found]]
    return pd.Series(out, index=features.index, name="district", dtype=object)


_BUCKET_POINTS = 64            # points per square bucket (on average) of first_polygon_of
_CHUNK_CANDIDATES = 2_000_000  # (point, polygon) candidates tested at once


def first_polygon_of(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position in ``polygons`` of the first one that each point ``(x[i], y[i])`` intersects
    (boundary included), -1 for none (and for NaN coordinates).

    The same answer as an STRtree query of the points with ``predicate="intersects"`` keeping
    the first polygon of each point, without making a point geometry per point: the points go
    in square buckets (about 64 each); a bucket's candidates are the polygons whose envelopes
    meet the box around its points, and each candidate is tested exactly
    (``shapely.intersects_xy``, on prepared copies of the polygons).
    """
    n = len(x)
    first = np.full(n, -1, dtype=np.intp)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if not len(ok) or not len(polygons):
        return first
    xs, ys = x[ok], y[ok]
    x0, y0 = xs.min(), ys.min()
    side = max(1, int(np.sqrt(len(ok) / _BUCKET_POINTS)))
    span = max(float(xs.max() - x0), float(ys.max() - y0))
    w = span / side if span > 0 else 1.0
    bx = np.minimum(((xs - x0) / w).astype(np.int64), side - 1)
    by = np.minimum(((ys - y0) / w).astype(np.int64), side - 1)
    order = np.argsort(by * side + bx, kind="stable")
    key = (by * side + bx)[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count = np.diff(np.r_[start, len(key)])
    sx, sy = xs[order], ys[order]
    # each bucket's box holds its points exactly (their own min and max)
    boxes = shapely.box(np.minimum.reduceat(sx, start), np.minimum.reduceat(sy, start),
                        np.maximum.reduceat(sx, start), np.maximum.reduceat(sy, start))
    bi, pj = shapely.STRtree(polygons).query(boxes)     # envelopes that meet: a superset
    if not len(bi):
        return first
    # prepared copies (the same coordinates through WKB): the caller's geometries are left as
    # they are, and may be in use elsewhere
    own = np.full(len(polygons), None, dtype=object)
    used = np.unique(pj)
    own[used] = shapely.from_wkb(shapely.to_wkb(polygons[used]))
    shapely.prepare(own[used])
    best = np.full(len(sx), len(polygons), dtype=np.intp)
    sizes = count[bi]
    ends = np.cumsum(sizes)
    lo = 0
    while lo < len(bi):
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - sizes[lo] + _CHUNK_CANDIDATES,
                                             "right")))
        b, p, m = bi[lo:hi], pj[lo:hi], sizes[lo:hi]
        offset = np.repeat(start[b] - (np.cumsum(m) - m), m)
        pts = offset + np.arange(int(m.sum()))
        polys = np.repeat(p, m)
        hit = shapely.intersects_xy(own[polys], sx[pts], sy[pts])
        np.minimum.at(best, pts[hit], polys[hit])
        lo = hi
    got = best < len(polygons)
    first[ok[order[got]]] = best[got]
    return first
