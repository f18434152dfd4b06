"""Plain tables of attributes: CSV, TSV, Excel, Parquet or a vector layer without geometry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geoequity._errors import GeoequityError, input_error
from geoequity.io.text import read_csv_text

__all__ = ["read_attributes"]

_TABLE = (".csv", ".txt", ".tsv")


def read_attributes(path: str, *, text_cols=()) -> pd.DataFrame:
    """Read a plain table or a vector layer's attributes (geometry not needed).

    ``text_cols`` of a CSV (ids) are read as text exactly as written (``0014`` stays so).
    """
    from geoequity.io.population import RASTER_SUFFIXES

    src = Path(path)
    if not src.exists():
        raise input_error(src, "file not found", f"check the path (taken from {Path.cwd()})")
    suffix = src.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        raise input_error(src, "is a raster; equity reads a table of values (one row per cell "
                          "or school)", "give a CSV, Parquet or vector file, e.g. the cells.csv "
                          "of a run")
    try:
        if suffix in _TABLE:
            df = read_csv_text(src, sep="\t" if suffix == ".tsv" else ",",
                               dtype={c: str for c in text_cols if c} or None)
        elif suffix == ".parquet":
            from geoequity.io.parquet import in_written_order

            # a run's cells.parquet holds its rows by district: back in the run's order,
            # as cells.csv and cells.gpkg have them (the same sums to the last bit)
            df = in_written_order(pd.read_parquet(src), src)
        elif suffix in (".xlsx", ".xls"):
            df = pd.read_excel(src)
        else:
            import pyogrio

            df = pyogrio.read_dataframe(src, read_geometry=False)
    except GeoequityError:
        raise
    except Exception as exc:   # pandas, pyarrow and GDAL each raise their own kinds
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise input_error(src, f"cannot be read ({reason})",
                          "check that it is a valid UTF-8 CSV, Parquet or vector file") from None
    if len(df) == 0:
        raise input_error(src, "has no rows", "give a table with at least one row")
    df.attrs["source"] = str(src)
    return df
