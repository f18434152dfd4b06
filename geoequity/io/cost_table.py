"""Reading a cost table a user brings (from geoequity, a transit router, a spreadsheet)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from geoequity._errors import input_error, shown

COST_COLUMNS = ("origin", "destination", "cost")


def read_cost_table(path, *, columns: str | tuple | None = None) -> pd.DataFrame:
    """Read a long cost table (CSV or Parquet) as columns ``origin, destination, cost``.

    Parameters
    ----------
    path
        ``.csv`` or ``.parquet`` file.
    columns
        The file's names for origin, destination and cost, as ``"o,d,c"`` or a 3-tuple, when
        they are not ``origin,destination,cost``.

    Ids of a CSV are read as text exactly as written (``0014``), as the layers' ids are; a
    layer with integer ids gets them converted (:func:`match_ids`);
    rows with a blank or negative cost are refused (naming the row).
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise input_error(path, "file not found", "check the --costs path")
    names = COST_COLUMNS
    if columns is not None:
        names = tuple(c.strip() for c in columns.split(",")) if isinstance(columns, str) \
            else tuple(columns)
        if len(names) != 3:
            raise input_error(path, f"--costs-columns needs 3 names, got {len(names)}",
                              "give ORIGIN,DESTINATION,COST")
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
        else:   # ids as text exactly as written, like the layers' ids (0014 stays 0014)
            df = pd.read_csv(path, dtype={names[0]: str, names[1]: str})
    except Exception as exc:
        raise input_error(path, f"cannot be read as a table ({str(exc).splitlines()[0]})",
                          "give a CSV or Parquet file") from exc
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise input_error(path, f"has no column(s) {', '.join(missing)} (it has "
                          f"{', '.join(map(str, df.columns))})",
                          "rename them or pass --costs-columns ORIGIN,DESTINATION,COST")
    if len(df) == 0:
        raise input_error(path, "has a header but no rows", "give a cost table with at least one "
                          "origin-destination pair (or compute one with --network/--euclidean)")
    for col in names[:2]:
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise input_error(path, f"column {col!r} is blank on line {row + 2}",
                              "fill in every origin and destination id")
    out = pd.DataFrame({"origin": df[names[0]].to_numpy(), "destination": df[names[1]].to_numpy(),
                        "cost": pd.to_numeric(df[names[2]], errors="coerce").to_numpy(float)})
    bad = ~np.isfinite(out["cost"].to_numpy()) | (out["cost"].to_numpy() < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise input_error(path, f"cost on line {row + 2} is blank, not a number or negative "
                          f"({shown(df[names[2]].iloc[row])})", "fix or remove that row")
    if out.duplicated(["origin", "destination"]).any():
        n = int(out.duplicated(["origin", "destination"]).sum())
        out = out.groupby(["origin", "destination"], as_index=False, sort=False)["cost"].min()
        from geoequity._progress import info

        info(f"  {path}: {n} repeated origin-destination pair(s); kept the lowest cost")
    return out


def match_ids(costs: pd.DataFrame, ids: pd.Index, column: str, source) -> pd.DataFrame:
    """Cast ``costs[column]`` to the dtype of the layer's ids so joins match (``"7"`` vs ``7``).

    Rows whose id is not in the layer are dropped and counted (a cost table may cover more).
    A layer without features keeps no row: no pairs, as a computed source gives it, the
    column of the layer's ids' dtype (and no row is left to match the other layer's ids).
    """
    if not len(ids) or not len(costs):
        return costs.iloc[:0].astype({column: ids.dtype})
    col = costs[column]
    if pd.api.types.is_integer_dtype(ids.dtype) and not pd.api.types.is_integer_dtype(col.dtype):
        conv = pd.to_numeric(col, errors="coerce")
        if conv.notna().all() and (conv % 1 == 0).all():
            costs = costs.assign(**{column: conv.astype(np.int64)})
    elif not pd.api.types.is_integer_dtype(ids.dtype) and pd.api.types.is_integer_dtype(col.dtype):
        costs = costs.assign(**{column: col.astype(str)})
    known = costs[column].isin(ids)
    if not known.any():
        raise input_error(source, f"none of the {column} ids in the cost table match the layer's "
                          f"ids (e.g. {costs[column].iloc[0]!r} vs {ids[0]!r})",
                          "use the same id column for the layer and the cost table")
    if not known.all():
        from geoequity._progress import info

        info(f"  {source}: {int((~known).sum())} cost row(s) name {column} ids not in the layer;"
             " ignored")
        costs = costs.loc[known]
    return costs
