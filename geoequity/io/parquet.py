"""(Geo)Parquet with one row group per group (a county), read back in the order written.

:func:`write_grouped_parquet` orders the rows by a column (a county is then one row group,
read without the province) and records in the file's key-value metadata (``geoequity``:
``row_order``) the group of every row in the order the table had, so that
:func:`in_written_order` gives the rows back in that order: a run folder's ``cells.parquet``
reads as its ``cells.gpkg`` would (``geoequity map`` and ``geoequity report`` read it).
Readers that do not know the key (pandas, geopandas, dask) see the rows by group.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error

__all__ = ["geometry_types", "in_written_order", "wkb_array", "write_grouped_parquet"]

_KEY = b"geoequity"


def write_grouped_parquet(df: pd.DataFrame, path: Path, column: str, *, is_geo: bool) -> None:
    """(Geo)Parquet with one row group per value of ``column`` (rows ordered by it, stably),
    and the rows' order before (see the module notes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if column not in df.columns:
        raise input_error(path, f"no column {column!r} to group the rows by",
                          f"use one of {', '.join(map(str, df.columns))}")
    codes, _ = pd.factorize(df[column].astype(str), sort=True)   # group numbers, in order
    order = np.argsort(codes, kind="stable")
    written = _order_metadata(codes, column)
    df = df.iloc[order]
    key = codes[order]
    metadata = {}
    if is_geo:
        geom = df.geometry
        name = geom.name
        values = np.asarray(geom.values)
        table = pa.Table.from_pandas(pd.DataFrame(df.drop(columns=name)), preserve_index=False)
        table = table.append_column(name, wkb_array(values))
        bounds = geom.total_bounds.tolist() if len(df) else []
        kinds = geometry_types(values)
        metadata = {b"geo": json.dumps({
            "version": "1.0.0", "primary_column": name,
            "columns": {name: {"encoding": "WKB", "geometry_types": kinds,
                               "crs": geom.crs.to_json_dict() if geom.crs else None,
                               **({"bbox": bounds} if bounds else {})}}}).encode()}
    else:
        table = pa.Table.from_pandas(pd.DataFrame(df), preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata,
                                           _KEY: written})
    cuts = np.flatnonzero(key[1:] != key[:-1]) + 1 if len(key) else np.array([], dtype=int)
    edges = [0, *cuts.tolist(), len(df)]
    with pq.ParquetWriter(path, table.schema) as writer:
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if hi > lo or len(df) == 0:
                writer.write_table(table.slice(lo, hi - lo), row_group_size=max(hi - lo, 1))


def _order_metadata(codes: np.ndarray, column: str) -> bytes:
    """The group number of every row, in the table's order: the stable order by group is
    undone from these alone (a county's rows keep their order within it). Compressed: rows of
    one county mostly follow one another."""
    dtype = np.min_scalar_type(max(int(codes.max()) if len(codes) else 0, 0))
    packed = zlib.compress(codes.astype(dtype).tobytes(), 6)
    return json.dumps({"row_order": {"column": column, "dtype": dtype.str,
                                     "groups": base64.b64encode(packed).decode()}}).encode()


def in_written_order(df: pd.DataFrame, path) -> pd.DataFrame:
    """``df``, read from the Parquet file ``path``, in the row order the table had when
    :func:`write_grouped_parquet` wrote it (index 0..n-1). A file without the record, or
    whose rows no longer match it (edited since), is returned as it is."""
    import pyarrow.parquet as pq

    if Path(path).is_dir():   # a partitioned dataset (a cluster run's costs.parquet)
        return df
    meta = pq.read_schema(path).metadata or {}
    try:
        record = json.loads(meta[_KEY])["row_order"]
        groups = np.frombuffer(zlib.decompress(base64.b64decode(record["groups"])),
                               dtype=np.dtype(record["dtype"]))
        column = record["column"]
    except (KeyError, TypeError, ValueError, zlib.error):
        return df
    if len(groups) != len(df) or column not in df.columns:
        return df
    order = np.argsort(groups, kind="stable")   # row j of the file was row order[j]
    codes, _ = pd.factorize(df[column].astype(str), sort=True)
    if not np.array_equal(codes, groups[order]):
        return df
    before = np.empty_like(order)
    before[order] = np.arange(len(order))
    return df.take(before).reset_index(drop=True)


# shapely's type ids -> the names GeoParquet's geometry_types take (geopandas' geom_type)
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def geometry_types(values: np.ndarray) -> list[str]:
    """The sorted names of the geometry types among ``values`` (missing ones left out), as
    ``sorted(set(GeoSeries.geom_type.dropna()))`` without a string per geometry."""
    ids = np.unique(shapely.get_type_id(values))
    return sorted(_TYPE_NAMES[int(i)] for i in ids if i >= 0)


_POLYGON = 3


def wkb_array(values: np.ndarray):
    """The WKB of each geometry as an Arrow binary array, byte for byte
    ``pa.array(shapely.to_wkb(values), type=pa.binary())``.

    Grid cells, polygons of one ring with the same number of corners and no Z, are laid out
    with numpy (the bytes GEOS writes: little-endian order mark 1, type 3, 1 ring, the count,
    then x, y of each corner) straight into the array's buffers, with no Python object per
    cell; other geometries go through shapely."""
    import pyarrow as pa

    n = len(values)
    k = _same_simple_polygons(values)
    if k is None:
        return pa.array(shapely.to_wkb(values), type=pa.binary())
    record = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("count", "<u4"),
                       ("xy", "<f8", (k, 2))])   # packed: 13 bytes of header, then 16 x k
    if n * record.itemsize >= 2**31:   # over the 32-bit offsets of pa.binary()
        return pa.array(shapely.to_wkb(values), type=pa.binary())
    out = np.empty(n, dtype=record)
    out["order"] = 1
    out["type"] = _POLYGON
    out["rings"] = 1
    out["count"] = k
    out["xy"] = shapely.get_coordinates(values).reshape(n, k, 2)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(record.itemsize)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(out.view(np.uint8))])


def _same_simple_polygons(values: np.ndarray) -> int | None:
    """The number of corners shared by every geometry of ``values`` when all are 2D polygons
    of one ring (no holes, none empty or missing); otherwise None."""
    if len(values) == 0:
        return None
    ids = shapely.get_type_id(values)
    if not (ids == _POLYGON).all() or shapely.has_z(values).any():
        return None
    if shapely.get_num_interior_rings(values).any() or shapely.is_empty(values).any():
        return None
    counts = shapely.get_num_coordinates(values)
    return int(counts[0]) if (counts == counts[0]).all() else None
