"""Read district proposals from files: polygon layers or cell -> district tables.

Used by the CLI and meant for the scenario pipeline (``[[proposals]]`` entries).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from geoequity._errors import InputError, input_error

__all__ = ["read_proposal", "read_proposals"]


def _is_table(path: Path) -> bool:
    """A CSV/Parquet without coordinate columns is a cell -> district table."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        return False
    cols = (pd.read_csv(path, nrows=0).columns if suffix == ".csv"
            else pd.read_parquet(path).columns)
    lower = {str(c).lower() for c in cols}
    return not ({"lon", "lat"} <= lower or {"x", "y"} <= lower or "geometry" in lower
                or {"longitude", "latitude"} <= lower)


def read_proposal(path, *, cells, name_col: str | None = None, cell_col: str | None = None,
                  input_crs=None):
    """Read one district proposal.

    Parameters
    ----------
    path
        A polygon layer (GeoPackage, GeoJSON, Shapefile ...; read with
        :func:`geoequity.io.read_districts`) or a CSV/Parquet without coordinates assigning
        cells to districts.
    cells
        The cells (their CRS and id type are used).
    name_col
        District name column (default ``district``; a zones file written by
        ``propose_zones`` is read through ``district`` when ``name_col`` is absent from it).
    cell_col
        Cell id column of a table (default ``cell`` when present, else the first column).
    input_crs
        CRS of a polygon file that declares none.

    Returns
    -------
    GeoDataFrame or Series
        Polygons with ``district`` in a projected CRS, or a Series cell id -> district.
    """
    from geoequity.io import read_districts

    path = Path(os.fspath(path))
    if not path.exists():
        raise input_error(path, "does not exist", "check the path")
    name_col = name_col or "district"
    if _is_table(path):
        df = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        cell_col = cell_col or ("cell" if "cell" in df.columns else df.columns[0])
        for col, what in ((name_col, "district name"), (cell_col, "cell id")):
            if col not in df.columns:
                cols = ", ".join(map(str, df.columns))
                raise input_error(path, f"has no {what} column {col!r}",
                                  f"choose one of: {cols}")
        ids = df[cell_col]
        if pd.api.types.is_integer_dtype(cells.index.dtype):
            ids = pd.to_numeric(ids, errors="coerce")
        else:
            ids = ids.astype(str)
        return pd.Series(df[name_col].astype(str).to_numpy(), index=pd.Index(ids.to_numpy()))
    try:
        return read_districts(path, name_col=name_col, crs=cells.crs, input_crs=input_crs)
    except InputError as first:
        if name_col == "district":
            raise
        try:  # zones written by propose_zones name their districts in `district`
            return read_districts(path, name_col="district", crs=cells.crs,
                                  input_crs=input_crs)
        except InputError:
            raise first from None


def read_proposals(paths: dict, *, cells, name_col: str | None = None,
                   cell_col: str | None = None, input_crs=None) -> dict:
    """``{name: path}`` -> ``{name: districts}`` for :func:`compare_districts` (order kept)."""
    return {str(k): read_proposal(p, cells=cells, name_col=name_col, cell_col=cell_col,
                                  input_crs=input_crs) for k, p in paths.items()}
