"""Atomic table output: CSV, GeoPackage, Parquet or GeoJSON chosen by the file extension."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geoequity._atomic import atomic_path
from geoequity._errors import input_error

SUFFIXES = (".csv", ".gpkg", ".parquet", ".geojson", ".json")


def write_table(df: pd.DataFrame, path, *, layer: str | None = None, index: bool = False) -> Path:
    """Write ``df`` to ``path`` atomically; the format follows the extension.

    - ``.csv``: plain table. A GeoDataFrame's geometry is written as ``lon``/``lat`` columns
      of its representative points (WGS84) so the CSV opens in any spreadsheet.
    - ``.gpkg``: GeoPackage (layer named after the file unless ``layer`` is given).
    - ``.parquet``: (Geo)Parquet.
    - ``.geojson``/``.json``: GeoJSON in WGS84.

    The write goes to a temporary file beside the target that is renamed into place, so a
    failure never leaves a half-written file.
    """
    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise input_error(path, f"unknown output format {suffix or '(no extension)'!r}",
                          f"use one of {', '.join(SUFFIXES)}")
    is_geo = isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df.columns
    if index:
        df = df.reset_index()
    try:
        _write(df, path, tmp_suffix=suffix, layer=layer, is_geo=is_geo)
    except Exception as exc:   # GDAL's own errors (a full disk inside SQLite ...) in one line
        import pyogrio

        if not isinstance(exc, pyogrio.errors.DataSourceError | pyogrio.errors.DataLayerError
                          | pyogrio.errors.FieldError | pyogrio.errors.GeometryError):
            raise
        reason = " ".join(str(exc).split())[:160]
        raise input_error(path, f"could not be written (GDAL: {reason})",
                          "check free disk space and that the folder can be written") from None
    return path


def _write(df, path: Path, *, tmp_suffix: str, layer, is_geo: bool) -> None:
    suffix = tmp_suffix
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            table = df
            if is_geo:
                from geoequity.io.vector import representative_points

                pts = representative_points(df).to_crs(4326)
                table = pd.DataFrame(df.drop(columns=df.geometry.name))
                table["lon"] = pts.x.round(7).to_numpy()
                table["lat"] = pts.y.round(7).to_numpy()
            table.to_csv(tmp, index=False)
        elif suffix == ".gpkg":
            if not is_geo:
                raise input_error(path, "a table without geometry cannot be a GeoPackage here",
                                  "write it as .csv or .parquet")
            df.to_file(tmp, driver="GPKG", layer=layer or path.stem, engine="pyogrio",
                       index=False)
        elif suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            if not is_geo:
                raise input_error(path, "a table without geometry cannot be GeoJSON",
                                  "write it as .csv or .parquet")
            df.to_crs(4326).to_file(tmp, driver="GeoJSON", engine="pyogrio", index=False,
                                     layer=layer or path.stem)
