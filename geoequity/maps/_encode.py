"""Compact, safe JSON for the map runtime: quantised delta-encoded geometry and popup rows.

Coordinates are WGS84 degrees stored as integers of ``1/q`` degree (``q = 1e5``: about 1.1 m,
far below a grid cell; points use ``q = 1e6``). Each ring is ``[lat0, lng0, dlat1, dlng1, ...]``
(first vertex absolute, then differences), its closing vertex dropped (Leaflet closes rings),
which makes a 100 m grid cell about 40 bytes instead of about 200 as GeoJSON.

JSON is escaped for embedding in ``<script>`` (``<``, ``>``, ``&`` and ``'`` as ``\\uXXXX``), so
no data value can end the script element.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

import numpy as np
import shapely

Q_POLY = 100_000
Q_POINT = 1_000_000


def to_json(obj: Any) -> str:
    """JSON text safe to place inside an HTML ``<script>`` element."""
    return (json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("'", "\\u0027").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def json_value(v: Any) -> Any:
    """A JSON-safe scalar: NaN/None -> None, numpy numbers -> Python numbers, else text."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return None
        return int(f) if f.is_integer() and abs(f) < 2**53 else round(f, 6)
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    try:
        if v is __import__("pandas").NA or v != v:  # pd.NA, NaT
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def number_list(values: np.ndarray) -> str:
    """The JSON array ``to_json`` writes of ``values`` (a numpy array of numbers) as Python
    numbers, without a Python object per value: integers and bools as they are; floats not
    finite as ``null``, whole ones (below 2**53) as integers (``12.0`` as ``12``), the rest
    as ``repr`` writes them (no rounding here).

    Arrow writes the shortest round-trip digits, as ``repr`` does, but lays out some of them
    otherwise (an exponent, or none, below 1e-4): those values are written by ``repr``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    v = np.asarray(values)
    if v.dtype.kind == "b":
        text = pc.if_else(pa.array(v), "true", "false")
    elif v.dtype.kind in "iu":
        text = pc.cast(pa.array(v), pa.string())
    else:
        v = v.astype(float, copy=False)
        finite = np.isfinite(v)
        size = np.abs(np.where(finite, v, 0.0))
        whole = finite & (v == np.floor(v)) & (size < 2**53)
        text = pc.cast(pa.array(np.where(finite, v, 0.0)), pa.string())
        text = pc.if_else(pa.array(whole), pc.cast(pa.array(
            np.where(whole, v, 0.0).astype(np.int64)), pa.string()), text)
        odd = finite & ~whole & ((size < 1e-4) | (size >= 1e16))
        odd |= np.asarray(pc.match_substring(text, "e"), dtype=bool) & ~whole
        if odd.any():
            text = pc.replace_with_mask(text, pa.array(odd), pa.array(
                [repr(x) for x in v[odd].tolist()], pa.string()))
        text = pc.if_else(pa.array(finite), text, "null")
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(v)], pa.int32()),
                                                     text.cast(pa.string())), ",")
    return "[" + (joined[0].as_py() or "") + "]"


def polygons(geoms, *, q: int = Q_POLY) -> list:
    """Encode Polygon/MultiPolygon geometries (lon/lat) as nested delta-integer rings.

    Returns one entry per geometry: a list of polygons, each a list of flat integer rings.
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return []
    gtype, coords, offsets = shapely.to_ragged_array(geoms)
    if gtype == shapely.GeometryType.POLYGON:
        ring_off, poly_off = offsets  # rings per polygon; one polygon per geometry
        return _assemble(coords, ring_off, poly_off, np.arange(len(poly_off)), q)
    if gtype == shapely.GeometryType.MULTIPOLYGON:
        ring_off, poly_off, geom_off = offsets
        return _assemble(coords, ring_off, poly_off, geom_off, q)
    raise TypeError(f"expected polygons, got {gtype!r}")


def _assemble(coords, ring_off, poly_off, geom_off, q):
    # coords: (n, 2) lon/lat; ring_off[i]..ring_off[i+1] coordinates of ring i (closed);
    ll = np.round(coords[:, ::-1] * q).astype(np.int64)  # lat, lng
    delta = ll.copy()
    delta[1:] -= ll[:-1]
    starts = np.asarray(ring_off[:-1])
    delta[starts] = ll[starts]
    flat = delta.ravel().tolist()
    rings = [flat[2 * s: 2 * (e - 1)] for s, e in zip(ring_off[:-1], ring_off[1:], strict=True)]
    polys = [rings[poly_off[i]: poly_off[i + 1]] for i in range(len(poly_off) - 1)]
    return [polys[geom_off[i]: geom_off[i + 1]] for i in range(len(geom_off) - 1)]


def points(geoms, *, q: int = Q_POINT) -> list:
    """Encode points (lon/lat) as ``[lat, lng]`` integers of ``1/q`` degree."""
    xy = shapely.get_coordinates(np.asarray(geoms, dtype=object))
    return np.round(xy[:, ::-1] * q).astype(np.int64).tolist()


def rows(df, fields: list[str]) -> list[list]:
    """Popup rows: the values of ``fields`` for every row of ``df``, JSON-safe."""
    cols = [df[f].tolist() if f in df.columns else [None] * len(df) for f in fields]
    return [[json_value(v) for v in r] for r in zip(*cols, strict=True)] if cols else [
        [] for _ in range(len(df))]
