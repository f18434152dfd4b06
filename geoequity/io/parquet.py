"""(Geo)Parquet with one row group per group (a county), read back in the order written.

:func:`write_grouped_parquet` orders the rows by a column (a county is then one row group,
read without the province) and records in the file's key-value metadata (``geoequity``:
``row_order``) the group of every row in the order the table had, so that
:func:`in_written_order` gives the rows back in that order: a run folder's ``cells.parquet``
reads as its ``cells.gpkg`` would (``geoequity map`` and ``geoequity report`` read it).
Readers that do not know the key (pandas, geopandas, dask) see the rows by group.

A cluster run's ``cells.parquet`` is a folder of parts (:func:`part_name`), each written by
:func:`write_grouped_parquet` from one piece of the cells (one partition's core cells) with
``positions``: the rows' positions in the run's order, recorded beside the groups. Every part
has the in-process file's columns, types and metadata (``geo`` with the part's own bounding
box); pandas, geopandas and dask read the folder as one table, part after part (by group
within each part), and :func:`in_written_order` puts the rows of the folder back in the run's
order (sorted by ``positions``, which may also be any integer key ascending in the run's
order, such as a raster's cell ids): the in-process file's table, row for row. Parts written
without ``positions`` read back part after part, each in its piece's order.
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

__all__ = ["geometry_types", "in_written_order", "part_name", "wkb_array",
           "write_grouped_parquet"]

_KEY = b"geoequity"


def part_name(i: int) -> str:
    """The file name of part ``i`` of a partitioned dataset (``part-00000.parquet``): the
    names sort as the parts' numbers, which is the order readers take them in."""
    return f"part-{i:05d}.parquet"


def write_grouped_parquet(df: pd.DataFrame, path: Path, column: str, *, is_geo: bool,
                          positions=None) -> None:
    """(Geo)Parquet with one row group per value of ``column`` (rows ordered by it, stably),
    and the rows' order before (see the module notes); ``positions``: each row's position in
    the whole table, when ``df`` is one part of it (a piece of a cluster run's cells)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if column not in df.columns:
        raise input_error(path, f"no column {column!r} to group the rows by",
                          f"use one of {', '.join(map(str, df.columns))}")
    codes, _ = pd.factorize(df[column].astype(str), sort=True)   # group numbers, in order
    order = np.argsort(codes, kind="stable")
    written = _order_metadata(codes, column, positions)
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


def _order_metadata(codes: np.ndarray, column: str, positions=None) -> bytes:
    """The group number of every row, in the table's order: the stable order by group is
    undone from these alone (a county's rows keep their order within it). Compressed: rows of
    one county mostly follow one another. With ``positions`` (as many as rows), each row's
    position in the whole table too, as differences from the row before (a piece's positions
    mostly ascend by one)."""
    record = {"column": column, **_packed("groups", codes)}
    if positions is not None:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.shape != codes.shape:
            raise ValueError(f"{len(positions)} positions for {len(codes)} rows")
        record.update(_packed("positions", np.diff(positions, prepend=0), signed=True))
    return json.dumps({"row_order": record}).encode()


def _packed(name: str, values: np.ndarray, *, signed: bool = False) -> dict:
    """``values`` in the smallest integer type holding them, compressed, as text: ``{name:
    ..., name_dtype: ...}`` (``dtype`` for the groups, as files written before had it)."""
    low = int(values.min()) if len(values) else 0
    high = int(values.max()) if len(values) else 0
    dtype = (np.result_type(np.min_scalar_type(low), np.min_scalar_type(high)) if signed
             else np.min_scalar_type(max(high, 0)))
    if signed and dtype.kind == "u":   # a signed type holding both ends
        dtype = np.result_type(dtype, np.int8)
    packed = base64.b64encode(zlib.compress(values.astype(dtype).tobytes(), 6)).decode()
    return {name: packed, "dtype" if name == "groups" else f"{name}_dtype": dtype.str}


def _unpacked(record: dict, name: str) -> np.ndarray:
    key = "dtype" if name == "groups" else f"{name}_dtype"
    return np.frombuffer(zlib.decompress(base64.b64decode(record[name])),
                         dtype=np.dtype(record[key]))


def in_written_order(df: pd.DataFrame, path) -> pd.DataFrame:
    """``df``, read from the Parquet file ``path``, in the row order the table had when
    :func:`write_grouped_parquet` wrote it (index 0..n-1). A file without the record, or
    whose rows no longer match it (edited since), is returned as it is.

    ``path`` may be a folder of parts (a cluster run's ``cells.parquet``, read as one table by
    ``pandas.read_parquet``): the rows come back in the run's order when every part records
    its rows' positions and together they are each position once; part after part, each in
    its own written order, when none does; as read otherwise (a ``costs.parquet``, whose
    parts record nothing). The positions are the rows' places in the run's order: their
    positions, or any integer key ascending in that order (the rows are sorted by it)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_dir():
        order = _part_order(df, pq.read_schema(path).metadata)
        if order is None:   # (one part of a folder read alone: in its piece's order)
            return df
        return df.take(order[0]).reset_index(drop=True)
    return _dataset_in_written_order(df, path)


def _dataset_in_written_order(df: pd.DataFrame, folder: Path) -> pd.DataFrame:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = ds.dataset(folder, format="parquet").files   # the order readers take them in
    metas = [pq.read_metadata(f) for f in files]
    if sum(m.num_rows for m in metas) != len(df):
        return df
    takes, places = [], []
    lo = 0
    for meta in metas:
        hi = lo + meta.num_rows
        order = _part_order(df.iloc[lo:hi], meta.metadata)
        if order is None:
            return df
        takes.append(order[0] + lo)
        places.append(order[1])
        lo = hi
    take = np.concatenate(takes) if takes else np.array([], dtype=np.intp)
    if all(p is not None for p in places):
        where = np.concatenate(places) if places else np.array([], dtype=np.int64)
        take = take[np.argsort(where, kind="stable")]   # where[i]: row take[i]'s place
    elif any(p is not None for p in places):
        return df
    return df.take(take).reset_index(drop=True)


def _part_order(df: pd.DataFrame, meta) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The rows of ``df`` (one file's, in the file's order) in the order they were written:
    ``(take, positions)``, ``take`` the rows of ``df`` in that order and ``positions`` their
    positions in the whole table (None when the file records none); None when the file has
    no record or its rows no longer match it."""
    try:
        record = json.loads((meta or {})[_KEY])["row_order"]
        groups = _unpacked(record, "groups")
        column = record["column"]
        positions = (np.cumsum(_unpacked(record, "positions").astype(np.int64))
                     if "positions" in record else None)
    except (KeyError, TypeError, ValueError, zlib.error):
        return None
    if len(groups) != len(df) or column not in df.columns or (
            positions is not None and len(positions) != len(df)):
        return None
    order = np.argsort(groups, kind="stable")   # row j of the file was row order[j]
    codes, _ = pd.factorize(df[column].astype(str), sort=True)
    if not np.array_equal(codes, groups[order]):
        return None
    before = np.empty_like(order)
    before[order] = np.arange(len(order))
    return before, positions


# shapely's type ids -> the names GeoParquet's geometry_types take (geopandas' geom_type)
#: (a ring is a line string there, as geopandas' to_parquet writes it)
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LineString", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}


def geometry_types(values: np.ndarray) -> list[str]:
    """The sorted names of the geometry types among ``values`` (missing ones left out), as
    geopandas writes GeoParquet's ``geometry_types``: ``sorted(set(GeoSeries.geom_type
    .dropna()))``, with " Z" after the type of geometries with z and a ring named a line
    string, without a string per geometry."""
    ids = shapely.get_type_id(values) + 1000 * shapely.has_z(values)
    return sorted({_TYPE_NAMES[int(i) % 1000] + (" Z" if i >= 1000 else "")
                   for i in np.unique(ids) if i >= 0})


def geometry_types_of(paths) -> list[str] | None:
    """The geometry types of the GeoParquet files ``paths`` together (their metadata's
    ``geometry_types`` of the primary column, as :func:`geometry_types` names them); None
    when a file does not say."""
    import pyarrow.parquet as pq

    kinds: set[str] = set()
    for path in paths:
        meta = (pq.read_schema(path).metadata or {}).get(b"geo")
        if meta is None:
            return None
        geo = json.loads(meta)
        found = geo.get("columns", {}).get(geo.get("primary_column"), {}).get("geometry_types")
        if found is None:
            return None
        kinds.update(found)
    return sorted(kinds)


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
