"""Atomic table output: CSV, GeoPackage, Parquet or GeoJSON chosen by the file extension."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._atomic import atomic_path
from geoequity._errors import input_error

#: Below this size a float in a written table is a residue of arithmetic, not a value: no
#: count, share, cost or index geoequity writes is meaningful at 1e-9.
TINY = 1e-9

SUFFIXES = (".csv", ".gpkg", ".parquet", ".geojson", ".json")


def write_table(df: pd.DataFrame, path, *, layer: str | None = None, index: bool = False) -> Path:
    """Write ``df`` to ``path`` atomically; the format follows the extension.

    - ``.csv``: plain table, floats rounded to 10 significant digits
      (:func:`round_significant`: ``0.30000000000000004`` is written ``0.3``). A
      GeoDataFrame's geometry is written as ``lon``/``lat`` columns
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


def round_significant(values, digits: int = 10) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (NaN and inf kept), so that
    ``0.1 + 0.2`` is written ``0.3`` and ``26791.359982795715`` ``26791.35998``; values
    smaller than ``TINY`` in size (float residues such as ``2.2e-16``) become 0."""
    v = np.asarray(values, dtype=float)
    out = np.where(np.abs(v) < TINY, 0.0, v)   # 2.2e-16 children left by a solver is none
    ok = np.isfinite(out) & (out != 0)
    if ok.any():
        mag = np.floor(np.log10(np.abs(v[ok]))).astype(int)
        k = digits - 1 - mag                      # decimals to keep
        small = k >= 0                            # divide by exact powers of ten only
        x = v[ok]
        r = np.empty_like(x)
        r[small] = np.round(x[small] * 10.0 ** k[small]) / 10.0 ** k[small]
        r[~small] = np.round(x[~small] / 10.0 ** -k[~small]) * 10.0 ** -k[~small]
        out[ok] = r
    return out


def _rounded(df: pd.DataFrame) -> pd.DataFrame:
    floats = [c for c in df.columns if pd.api.types.is_float_dtype(df[c])]
    if not floats:
        return df
    df = df.copy()
    for c in floats:
        df[c] = round_significant(df[c].to_numpy())
    return df


def _write(df, path: Path, *, tmp_suffix: str, layer, is_geo: bool) -> None:
    suffix = tmp_suffix
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            table = _rounded(df)   # no 1e-12 residues of float sums in a text table
            if is_geo:
                from geoequity.io.vector import representative_points

                pts = representative_points(df).to_crs(4326)
                table = pd.DataFrame(table.drop(columns=df.geometry.name))
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
