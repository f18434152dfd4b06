"""District boundaries: polygons with a name."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.io.vector import read_layer


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
