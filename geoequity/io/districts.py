"""District boundaries: polygons with a name, and the district of a point."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import read_layer, representative_points

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
    if isinstance(districts, gpd.GeoDataFrame) and name_col in districts.columns:
        names = districts[name_col].astype(str).to_numpy()
    else:
        names = districts.index.astype(str).to_numpy()
    frame = features if isinstance(features, gpd.GeoDataFrame) else gpd.GeoDataFrame(
        geometry=features)
    pts = np.asarray(representative_points(frame).values)
    out = np.full(len(pts), outside, dtype=object)
    if len(pts) and len(districts):
        pi, di = shapely.STRtree(np.asarray(districts.geometry.values)).query(
            pts, predicate="intersects")
        if pi.size:
            order = np.lexsort((di, pi))     # per point, the first district in layer order
            pi, di = pi[order], di[order]
            first = np.r_[True, pi[1:] != pi[:-1]]
            out[pi[first]] = names[di[first]]
    return pd.Series(out, index=features.index, name="district", dtype=object)
