"""Atomic table output: CSV, GeoPackage, Parquet or GeoJSON chosen by the file extension."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._atomic import atomic_path
from geoequity._errors import input_error
from geoequity.io.parquet import geometry_types as _types_of
from geoequity.io.parquet import write_grouped_parquet

#: Below this size a float in a written table is a residue of arithmetic, not a value: no
#: count, share, cost or index geoequity writes is meaningful at 1e-9.
TINY = 1e-9

SUFFIXES = (".csv", ".gpkg", ".parquet", ".geojson", ".json")


def write_table(df: pd.DataFrame, path, *, layer: str | None = None, index: bool = False,
                groups: str | None = None, positions=None) -> Path:
    """Write ``df`` to ``path`` atomically; the format follows the extension.

    - ``.csv``: plain table, floats rounded to 10 significant digits
      (:func:`round_significant`: ``0.30000000000000004`` is written ``0.3``). A
      GeoDataFrame's geometry is written as ``lon``/``lat`` columns
      of its representative points (WGS84) so the CSV opens in any spreadsheet.
    - ``.gpkg``: GeoPackage (layer named after the file unless ``layer`` is given).
    - ``.parquet``: (Geo)Parquet. With ``groups`` (a column, e.g. ``district``) the rows are
      ordered by that column and each of its values is one row group, so a reader takes one
      county without reading the province
      (``pandas.read_parquet(path, filters=[("district", "==", "D01")])``, dask's
      ``split_row_groups``); :func:`geoequity.io.read_layer` reads the rows back in the order
      of ``df`` (:mod:`geoequity.io.parquet`). A GeoDataFrame is written as GeoParquet 1.0
      (WKB geometry). ``positions`` (with ``groups``): the rows' positions in a whole table
      of which ``df`` is one part (a folder of parts is then read back in the whole's order).
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
        _write(df, path, tmp_suffix=suffix, layer=layer, is_geo=is_geo, groups=groups,
               positions=positions)
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


def _write(df, path: Path, *, tmp_suffix: str, layer, is_geo: bool, groups=None,
           positions=None) -> None:
    suffix = tmp_suffix
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            write_csv(csv_table(df, is_geo=is_geo), tmp)
        elif suffix == ".gpkg":
            if not is_geo:
                raise input_error(path, "a table without geometry cannot be a GeoPackage here",
                                  "write it as .csv or .parquet")
            write_gpkg(df, tmp, layer=layer or path.stem)
        elif suffix == ".parquet" and groups is not None:
            write_grouped_parquet(df, tmp, groups, is_geo=is_geo, positions=positions)
        elif suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            if not is_geo:
                raise input_error(path, "a table without geometry cannot be GeoJSON",
                                  "write it as .csv or .parquet")
            df.to_crs(4326).to_file(tmp, driver="GeoJSON", engine="pyogrio", index=False,
                                     layer=layer or path.stem)


def csv_table(df: pd.DataFrame, *, is_geo: bool) -> pd.DataFrame:
    """The table a ``.csv`` of ``df`` holds: a geometry as ``lon``/``lat`` (WGS84) of its
    representative points, floats rounded (:func:`round_significant`: no 1e-12 residues of
    float sums in a text table)."""
    table = df
    if is_geo:
        from geoequity.io.vector import representative_points

        pts = representative_points(df).to_crs(4326)
        table = pd.DataFrame(table.drop(columns=df.geometry.name))
        table["lon"] = pts.x.round(7).to_numpy()
        table["lat"] = pts.y.round(7).to_numpy()
    return _rounded(table)


def write_gpkg(df: gpd.GeoDataFrame, path, *, layer: str, append: bool = False) -> None:
    """``df`` as the GeoPackage layer ``layer`` of ``path`` (``append``: added to the layer's
    rows, which must have the same columns)."""
    df.to_file(path, driver="GPKG", layer=layer, engine="pyogrio", index=False,
               **({"mode": "a"} if append else {}), **_arrow_write(df))


def write_gpkg_parts(frames, path, *, layer: str, geometry_types=None) -> None:
    """The GeoPackage layer ``layer`` of ``path`` from ``frames`` (GeoDataFrames of the same
    columns and types, e.g. a cluster run's parts of ``cells.parquet``, which share one
    schema) taken one at a time, holding the first frame with rows and one other at once:
    the layer one write of all their rows (:func:`write_gpkg`) gives. The first frame's
    column types are the layer's (a later frame's are cast to them). Not atomic: write into
    a temporary path (:func:`geoequity._atomic.atomic_path`); an error raised while a frame
    is made (a full disk, an interrupt, a frame whose columns do not fit the first's) is
    raised as it was, after GDAL's write stops.

    ``geometry_types``: the geometry types of every frame's geometries (GeoParquet's names,
    e.g. the parts' metadata), known before the frames are read; without them the first
    frame with rows stands for all. The layer's type is then declared by pyogrio's rule for
    one write: the one type, or a type and its multi type as the multi type, the single ones
    written as multi ones of one part, else any geometry; " Z" when the geometries have z.

    When that first frame's columns are plain (:func:`_arrow_write`'s rule), every frame goes
    to GDAL in one write, a stream of Arrow rows (pyogrio's ``write_arrow``; each frame
    converted as pyogrio converts one: geometries to WKB, columns by Arrow, a column of no
    value as text): one GDAL session builds the spatial index once (sixteen appends of 6,000
    cells took 1.1-1.7 s, one stream 0.4-0.5 s, as one frame of them all). Otherwise, or
    when some geometries have z and others not, each frame is appended by
    :func:`write_gpkg`, as before this function. Frames without rows add nothing; when every
    frame is empty, the last makes the (empty) layer."""
    import pyarrow as pa

    frames = iter(frames)
    first = None
    for frame in frames:
        first = frame
        if len(frame):
            break
    else:
        if first is not None:
            write_gpkg(first, path, layer=layer)
        return
    rows = (f for f in frames if len(f))
    if geometry_types is None:
        geometry_types = _types_of(np.asarray(first.geometry.values))
    declared = _declared_type(geometry_types) if _plain_layer(first) else None
    if declared is None:
        write_gpkg(first, path, layer=layer)
        for frame in rows:
            write_gpkg(frame, path, layer=layer, append=True)
        return
    from pyogrio.raw import write_arrow

    kind, multi = declared
    head = _arrow_rows(first, multi)
    columns = list(first.columns)
    failed: list[BaseException] = []

    def batches():
        # GDAL pulls the frames: an error raised here reaches the caller as GDAL's own
        # "Error while accessing batch from stream", so it is kept and raised again below
        try:
            yield from head.to_batches()
            for frame in rows:
                yield from _arrow_rows(frame[columns], multi).cast(head.schema).to_batches()
        except BaseException as exc:
            failed.append(exc)
            raise

    try:
        write_arrow(pa.RecordBatchReader.from_batches(head.schema, batches()), path,
                    layer=layer, driver="GPKG", geometry_name=first.geometry.name,
                    geometry_type=kind, crs=_declared_crs(first.crs))
    except BaseException:
        if failed:
            raise failed[0] from None
        raise


def _declared_type(geometry_types) -> tuple[str, str | None] | None:
    """The layer type pyogrio's ``write_dataframe`` declares for geometries of these types,
    and the single type it writes as its multi type (None: none); None when some have z and
    others not (left to one write per frame)."""
    kinds = {t.removesuffix(" Z") for t in geometry_types}
    z = {t.endswith(" Z") for t in geometry_types}
    if len(z) > 1:
        return None
    suffix = " Z" if z == {True} else ""
    if len(kinds) == 1:
        return next(iter(kinds)) + suffix, None
    for single in ("Polygon", "LineString", "Point"):
        if kinds == {single, f"Multi{single}"}:
            return f"Multi{single}" + suffix, single
    return "Unknown", None


def _declared_crs(crs) -> str | None:
    """The CRS pyogrio's ``write_dataframe`` declares: ``EPSG:code``, else WKT1."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt("WKT1_GDAL")


def _plain_layer(df: gpd.GeoDataFrame) -> bool:
    """Whether ``df``'s columns are plain numbers, booleans and text (:func:`_fast_column`)."""
    return all(_fast_column(df[c]) for c in df.columns if c != df.geometry.name)


def _arrow_rows(df: gpd.GeoDataFrame, multi: str | None = None):
    """``df`` as the Arrow table pyogrio's ``write_dataframe`` hands GDAL for a frame of
    plain columns: the geometries as WKB (those of type ``multi`` as multi ones of one
    part), the other columns as Arrow makes them from pandas, a column of Arrow's null type
    (no value at all) as text, a geometry column of none as binary."""
    import pyarrow as pa
    import shapely
    from geopandas.array import to_wkb

    geoms = np.asarray(df.geometry.values).copy()
    if multi is not None:
        single = (df.geom_type == multi).to_numpy()
        if single.any():
            make = {"Polygon": shapely.multipolygons, "LineString": shapely.multilinestrings,
                    "Point": shapely.multipoints}[multi]
            geoms[single] = make(np.atleast_2d(geoms[single]), axis=0)
    name = df.geometry.name
    plain = pd.DataFrame(df, copy=False)
    plain[name] = to_wkb(gpd.array.GeometryArray(geoms, crs=df.crs))
    table = pa.Table.from_pandas(plain, preserve_index=False)
    for i, f in enumerate(table.schema):   # (no geometry at all: binary, as pyogrio's)
        if pa.types.is_null(f.type):
            to = pa.binary() if f.name == name else pa.string()
            table = table.set_column(i, f.with_type(to), table[i].cast(to))
    return table


# -- CSV text, as pandas writes it, faster -----------------------------------------------------

_CSV_ROWS = 65_536   # rows formatted at a time (bounds the memory of the text)
_NEEDS_QUOTE = (",", '"', "\n")


def write_csv(table: pd.DataFrame, path, *, header: bool = True, append: bool = False) -> None:
    """``table.to_csv(path, index=False)``, byte for byte, several times faster on large tables.

    ``header=False, append=True`` adds the rows to the end of ``path`` (the text of a table
    written in parts is the text of the whole).

    Each column is formatted as pandas does (floats by their shortest ``repr``, NaN and NA as
    empty, ``True``/``False``, text quoted only when it holds a comma, a quote or a line
    break); columns of other types (dates, categories, mixed objects) and one-column tables go
    through pandas itself.
    """
    if table.shape[1] < 2 or not all(_fast_column(table[c]) for c in table.columns):
        table.to_csv(path, index=False, header=header, mode="a" if append else "w")
        return
    with open(path, "a" if append else "w", encoding="utf-8", newline="") as f:
        if header:
            f.write(",".join(_quoted([str(c) for c in table.columns])) + "\n")
        for start in range(0, len(table), _CSV_ROWS):
            part = table.iloc[start:start + _CSV_ROWS]
            cols = [_csv_column(part.iloc[:, k]) for k in range(part.shape[1])]
            f.write("\n".join(map(",".join, zip(*cols))))
            f.write("\n")


def _fast_column(col: pd.Series) -> bool:
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "fiub":
            return True
        return dtype.kind == "O" and all(isinstance(v, str) or v is None
                                         or (isinstance(v, float) and v != v)
                                         for v in col.tolist())
    return isinstance(dtype, pd.StringDtype)


def _csv_column(col: pd.Series) -> list[str]:
    """The CSV fields of one column (see :func:`write_csv`)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        v = col.to_numpy()
        if v.dtype != np.float64:   # pandas writes float32 by its own shortest repr
            return ["" if x != x else x for x in v.astype(str).tolist()]
        return _float_fields(v)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return list(map(str, col.to_numpy().tolist()))
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return ["True" if x else "False" for x in col.to_numpy().tolist()]
    if isinstance(dtype, pd.StringDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        return _quoted(pc.fill_null(pa.array(col, type=pa.string(), from_pandas=True),
                                    "").to_pylist())
    return _quoted(["" if v is None or v != v else v for v in col.tolist()])


def _float_fields(v: np.ndarray) -> list[str]:
    """``repr`` of each float (NaN as empty), through Arrow's shortest round-trip digits.

    Arrow and Python print the same shortest digits but lay them out differently: Arrow
    leaves ``.0`` off whole numbers and chooses the exponent form by other rules, so whole
    numbers get ``.0`` and the few values where the forms may differ (an exponent in either)
    are printed by ``repr`` itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(v, from_pandas=False), pa.string())
    size = np.abs(v)
    finite = np.isfinite(v)
    whole = finite & (v == np.floor(v)) & (size < 1e16)
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    out = text.to_pylist()
    odd = (finite & (((size < 1e-4) & (size > 0)) | (size >= 1e16))) | ~finite
    odd |= np.asarray(pc.match_substring(text, "e"), dtype=bool)
    for i in np.flatnonzero(odd).tolist():
        x = float(v[i])
        out[i] = "" if x != x else repr(x)
    return out


def _quoted(fields: list[str]) -> list[str]:
    """Fields quoted the way Python's csv module does (``QUOTE_MINIMAL``)."""
    joined = "\x00".join(fields)
    if not any(q in joined for q in _NEEDS_QUOTE):
        return fields
    return [('"' + f.replace('"', '""') + '"') if any(q in f for q in _NEEDS_QUOTE) else f
            for f in fields]


def _arrow_write(df) -> dict:
    """``use_arrow=True`` for pyogrio (several times faster on large layers) when the columns
    are plain numbers, booleans and text and the geometries of one type, which GDAL receives
    the same either way (other layers go the row-by-row way)."""
    kinds = set(df.geom_type.dropna().unique().tolist())
    if len(df) < 10_000 or len(kinds) != 1 or not _plain_layer(df) or df.geometry.isna().any():
        return {}
    return {"use_arrow": True}
