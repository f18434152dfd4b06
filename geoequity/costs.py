"""Travel costs between origins (children) and destinations (schools): a long, sparse table.

Every function returns a :class:`pandas.DataFrame` with exactly the columns ``origin``,
``destination``, ``cost`` (float64), one row per pair with ``cost <= max_cost`` (or the ``k``
cheapest destinations per origin), except :func:`cost_pairs`, which returns that table coded
to positions (:class:`geoequity.pairs.Pairs`). Pairs not in the table are unreachable within
the bound. Origins and destinations are layers (GeoDataFrames) or :class:`Coordinates`.

- :class:`CostSource` says where costs come from (a street network, straight lines, or a
  table the user brings) with every option; :func:`cost_table` turns it into the table. The
  API, every CLI command and the scenario build their costs through these two (one answer per
  question; see "Cost sources" in ``docs/design.md``).
- :func:`travel_costs` (network or straight line), :func:`euclidean_costs` and
  :func:`snap_report` are the building blocks. The bounded search itself lives in
  :mod:`geoequity.network.search`; see ``docs/network.md`` for the formulas.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoequity._errors import input_error
from geoequity._progress import info, step
from geoequity.network.graph import UNITS, Network
from geoequity.network.modes import DEFAULT_DRIVE_SPEED, MODES
from geoequity.network.search import HAVE_NUMBA, mode_speed, network_costs, snap_side
from geoequity.network.snap import STATUSES, Snap, query_order, snap_points
from geoequity.pairs import Pairs, code_pairs, remember_coding

__all__ = ["COLUMNS", "HAVE_NUMBA", "KINDS", "MAX_COST_FACTOR", "OFF_NETWORK_RULES", "Coordinates",
           "CostSource", "cost_pairs", "cost_table", "default_max_cost", "euclidean_costs",
           "line_speed", "snap_report", "travel_costs"]

COLUMNS = ["origin", "destination", "cost"]
OFF_NETWORK_RULES = ("euclidean", "unreachable")
KINDS = ("network", "euclidean", "table")
MAX_COST_FACTOR = 4.0   # default max_cost = MAX_COST_FACTOR x threshold (every door)


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True, eq=False)
class Coordinates:
    """Points as coordinate arrays, taken wherever a layer of origins or destinations is
    (:func:`cost_table`, :func:`cost_pairs`, :func:`euclidean_costs`, :func:`travel_costs`,
    :func:`snap_report`):
    for a caller that already holds the points' ``x`` and ``y`` (a cluster's partition,
    :mod:`geoequity.distributed`), so that no point geometry is made only to be read back.

    Parameters
    ----------
    x, y : array-like
        The points' coordinates in ``crs`` (finite numbers).
    crs
        Their coordinate reference system: a projected one (metres), or the one the costs
        are computed in (a network's, a :class:`CostSource`'s ``crs``), to which they are
        reprojected otherwise.
    ids : array-like, optional
        The points' ids (unique); default their positions ``0 .. n-1``.
    """

    x: Any
    y: Any
    crs: Any
    ids: Any = None

    def __len__(self) -> int:
        return len(self.x)


def _coordinate_ids(points: Coordinates, id_col, what: str):
    """The ids, ``x`` and ``y`` of :class:`Coordinates`, checked: one id and one ``x`` and
    ``y`` number per point, ids unique, no id column."""
    if id_col is not None:
        raise input_error(what, f"are coordinates: there is no id column {id_col!r}",
                          "give the ids as Coordinates(ids=...)")
    try:
        x, y = (np.asarray(a, dtype=np.float64) for a in (points.x, points.y))
    except (TypeError, ValueError) as exc:
        raise input_error(what, f"have coordinates that are not numbers ({exc})",
                          "give x and y as numbers") from None
    if x.shape != y.shape or x.ndim != 1:
        raise input_error(what, f"have {x.shape} x and {y.shape} y coordinates",
                          "give one x and one y per point")
    if points.ids is None:
        ids = pd.RangeIndex(len(x))
    else:
        try:
            ids = pd.Index(points.ids)
        except TypeError:
            raise input_error(what, f"have ids that are not a list ({points.ids!r})",
                              "give one id per point, e.g. Coordinates(..., ids=[...])"
                              ) from None
    if len(ids) != len(x):
        raise input_error(what, f"have {len(ids)} ids for {len(x)} points", "give one id each")
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        raise input_error(what, f"have duplicate ids (e.g. {dup!r})", "make the ids unique")
    return ids, x, y


def _coordinates(points: Coordinates, id_col, what: str, crs=None):
    """:func:`_points` of :class:`Coordinates`."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    ids, x, y = _coordinate_ids(points, id_col, what)
    if points.crs is None:
        raise input_error(what, "have no coordinate reference system (CRS)",
                          "give Coordinates(..., crs=...)")
    try:
        have = CRS.from_user_input(points.crs)
    except CRSError:
        raise input_error(what, f"have an unknown CRS {points.crs!r}",
                          "give an EPSG code or a PROJ/WKT text, e.g. crs='EPSG:32650'"
                          ) from None
    if crs is not None and not have.equals(CRS.from_user_input(crs)):
        x, y = Transformer.from_crs(have, crs, always_xy=True).transform(x, y)
        have = CRS.from_user_input(crs)
    elif crs is None and not have.is_projected:
        raise input_error(what, f"are in a geographic CRS ({have.name})",
                          "give them in a projected CRS (metres), or a layer to reproject")
    _check_finite(ids, x, y, what, "point")
    return ids, x, y, have


def _check_finite(ids, x, y, what: str, noun: str) -> None:
    """Refuse points without finite coordinates (a layer's ``feature``s, ``point``s given as
    coordinates), naming how many and the first one's id."""
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise input_error(what, f"{int(bad.sum())} {noun}(s) have no finite coordinates (e.g. "
                          f"id {ids[np.flatnonzero(bad)[0]]!r})", "drop or fix them")


def _points(gdf, id_col, what: str, crs=None):
    """(ids, x, y) of a layer's points in ``crs`` (polygons -> representative points)."""
    import geopandas as gpd

    if isinstance(gdf, Coordinates):
        return _coordinates(gdf, id_col, what, crs)
    if not isinstance(gdf, gpd.GeoDataFrame | gpd.GeoSeries):
        raise input_error(what, f"must be a GeoDataFrame, got {type(gdf).__name__}",
                          "read it with geoequity.read_points, or give Coordinates")
    if gdf.crs is None:
        raise input_error(what, "has no coordinate reference system (CRS)",
                          "set one (gdf.set_crs('EPSG:4326')) or read it with geoequity.io")
    if isinstance(gdf, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=gdf)
    if id_col is not None:
        if id_col not in gdf.columns:
            raise input_error(what, f"has no id column {id_col!r}",
                              f"choose one of: {', '.join(map(str, gdf.columns))}")
        ids = pd.Index(gdf[id_col].to_numpy(), name=id_col)
    else:
        ids = gdf.index
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        raise input_error(what, f"has duplicate ids (e.g. {dup!r})",
                          "make the ids unique or name another id column")
    geoms = gdf.geometry
    missing = geoms.isna().to_numpy() | geoms.is_empty.to_numpy()
    if missing.any():
        raise input_error(what, f"{int(missing.sum())} feature(s) have no geometry (e.g. id "
                          f"{ids[np.flatnonzero(missing)[0]]!r})", "drop or fix them")
    if crs is not None:
        gdf = gdf.to_crs(crs)
    elif not gdf.crs.is_projected:
        from geoequity.crs import utm_crs_for

        gdf = gdf.to_crs(utm_crs_for(gdf))
    if (shapely.get_type_id(gdf.geometry.values) != 0).any():  # not all points
        from geoequity.io.vector import representative_xy

        x, y = representative_xy(gdf)
    else:
        x, y = shapely.get_x(gdf.geometry.values), shapely.get_y(gdf.geometry.values)
    _check_finite(ids, x, y, what, "feature")
    return ids, x, y, gdf.crs


def line_speed(mode: str = "walk", *, speed: float | None = None, walk_speed: float = 4.5,
               bike_speed: float = 15.0) -> float:
    """km/h of straight-line minutes: the one rule of every door and every straight line
    (the euclidean source, ``travel_costs(euclidean=True)`` and points off a network).

    ``speed`` when given, else the mode's: ``walk_speed``, ``bike_speed``, or 30 km/h for drive
    (:data:`geoequity.network.modes.DEFAULT_DRIVE_SPEED`, the default urban driving speed; a
    straight line has no street and so no ``maxspeed``).
    """
    if speed is not None:
        return float(speed)
    return float({"walk": walk_speed, "bike": bike_speed, "drive": DEFAULT_DRIVE_SPEED}[mode])


def _network_line_speed(network: Network, speed: float | None) -> float:
    """:func:`line_speed` for a loaded network: its walk/bike speed is its (uniform) edge speed."""
    own = mode_speed(network)
    return line_speed(network.mode, speed=speed, walk_speed=own, bike_speed=own)


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise input_error("unit", f"unknown cost unit {unit!r}", "use 'm' or 'min'")


def _check_bounds(max_cost, k, detour_factor) -> None:
    if max_cost is not None and not (np.isfinite(max_cost) and max_cost >= 0):
        raise input_error("max_cost", f"must be a non-negative number, got {max_cost!r}")
    if k is not None and (int(k) != k or k < 1):
        raise input_error("k", f"must be a positive integer, got {k!r}")
    if not (np.isfinite(detour_factor) and detour_factor >= 1.0):
        raise input_error("detour_factor", f"must be >= 1, got {detour_factor!r}",
                          "1.0 is the straight line; 1.2-1.4 is typical for streets")


def _stable_int_order(a: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integer positions: radix sort when they fit 16 bits."""
    if len(a) and a.max() < 2**15:
        return np.argsort(a.astype(np.int16), kind="stable")
    return np.argsort(a, kind="stable")


COMPILED_SORT_ROWS = 1_000_000   # from this many rows the compiled ordering pays its load


def _sort_order(oi: np.ndarray, cost: np.ndarray, di: np.ndarray) -> np.ndarray:
    """``np.lexsort((di, cost, oi))``: per origin run when numba is there and the table is
    large or the kernel already loaded in this process (:mod:`geoequity._sort_kernel`, ~10x
    faster; a cluster's workers load it before their partitions), else as three stable
    passes."""
    compiled = len(oi) >= COMPILED_SORT_ROWS or "geoequity._sort_kernel" in sys.modules
    if compiled and len(oi) and not np.isnan(cost).any():
        try:
            from geoequity._sort_kernel import origin_cost_order
        except ImportError:   # pragma: no cover - numba not installed
            pass
        else:
            return origin_cost_order(oi, cost, di, int(oi.max()) + 1)
    o = _stable_int_order(di)
    o = o[np.argsort(cost[o], kind="stable")]
    return o[_stable_int_order(oi[o])]


@dataclass(frozen=True, eq=False)
class _Found:
    """The pairs a source found, as positions into its origins' and destinations' ids, before
    they are ordered and made a table (:func:`_table`) or coded pairs (:func:`_coded`).
    ``unique``: no pair is given twice (straight lines)."""

    oi: np.ndarray
    di: np.ndarray
    cost: np.ndarray
    o_ids: pd.Index
    d_ids: pd.Index
    attrs: dict
    unique: bool = False


def _ordered(found: _Found, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The found pairs' positions and costs sorted by origin, then cost, then destination,
    cut to the ``k`` cheapest per origin when given."""
    oi, di = (np.asarray(a) for a in (found.oi, found.di))   # int32 positions stay int32
    oi = oi if oi.dtype.kind in "iu" else oi.astype(np.int64)
    di = di if di.dtype.kind in "iu" else di.astype(np.int64)
    cost = np.asarray(found.cost, dtype=np.float64)
    order = _sort_order(oi, cost, di)
    oi, di, cost = oi[order], di[order], cost[order]
    if k is not None and len(oi):
        start = np.r_[0, np.flatnonzero(np.diff(oi)) + 1]
        rank = np.arange(len(oi)) - np.repeat(start, np.diff(np.r_[start, len(oi)]))
        keep = rank < k
        oi, di, cost = oi[keep], di[keep], cost[keep]
    return oi, di, cost


def _table(found: _Found, k=None) -> pd.DataFrame:
    """The long table of the found pairs, sorted by origin then cost (:func:`_ordered`).

    Straight lines' (``found.unique``: no pair twice) come with their coding
    (:func:`geoequity.pairs.remember_coding`: a run does not look its ids up again)."""
    oi, di, cost = _ordered(found, k)
    o_ids, d_ids = pd.Index(found.o_ids), pd.Index(found.d_ids)
    if found.unique:   # the positions a Pairs holds (intp), shared with the run's Pairs
        oi, di = oi.astype(np.intp, copy=False), di.astype(np.intp, copy=False)
    # Index.take keeps the ids' dtype (no re-inference of strings, ~4x faster than a gather)
    out = pd.DataFrame({"origin": o_ids.take(oi), "destination": d_ids.take(di), "cost": cost},
                       columns=COLUMNS, copy=False)   # fresh arrays: no second copy
    if found.unique:
        remember_coding(out, oi, di, o_ids, d_ids)
    out.attrs.update(found.attrs)
    return out


def _coded(found: _Found, k=None) -> Pairs:
    """The found pairs as :class:`geoequity.pairs.Pairs`, in :func:`_table`'s row order:
    what :func:`geoequity.pairs.code_pairs` makes of that table. Straight lines' without the
    table (no pair twice: nothing to look up or check); others through it (a pair given
    twice keeps its lowest cost, as ever)."""
    if not found.unique:
        return code_pairs(_table(found, k), found.o_ids, found.d_ids)
    oi, di, cost = _ordered(found, k)
    return Pairs(oi.astype(np.intp, copy=False), di.astype(np.intp, copy=False), cost,
                 pd.Index(found.o_ids), pd.Index(found.d_ids), "costs", dict(found.attrs))


# ---------------------------------------------------------------------------- straight line
def _euclid_pairs(ox, oy, dx, dy, radius, k, scale=1.0):
    """Positions and straight-line distances (m): within ``radius`` and/or ``k`` nearest.

    The searches reach a hair beyond ``radius`` (a pair exactly at it is never lost to the
    KD-tree's strict bound, nor to ``max_cost / scale``'s rounding): the callers keep
    ``cost <= max_cost``. ``scale``: what the callers multiply the distances by (a tie at
    the k-th place is one of the costs, :func:`_k_nearest`)."""
    o = np.column_stack([ox, oy])
    d = np.column_stack([dx, dy])
    if len(o) == 0 or len(d) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    reach = None if radius is None else radius * (1 + 1e-9) + 1e-9
    dtree = cKDTree(d)
    if k is not None:
        return _k_nearest(dtree, o, min(int(k), len(d)),
                          np.inf if reach is None else reach, scale)
    if radius is None:
        oi, di = np.divmod(np.arange(len(o) * len(d)), len(d))
        return oi, di, np.hypot(ox[oi] - dx[di], oy[oi] - dy[di])
    sdm = cKDTree(o).sparse_distance_matrix(dtree, reach, output_type="ndarray")
    # compact copies of the three fields, so that the 24-byte records can go at once
    return _positions(sdm["i"]), _positions(sdm["j"]), sdm["v"].copy()


def _k_nearest(dtree: cKDTree, o: np.ndarray, k: int, bound: float, scale: float):
    """The ``k`` nearest destinations of each origin closer than ``bound`` (positions and
    the KD-tree's distances), every destination tied with the k-th (``distance * scale``
    equal: the costs) left in, for :func:`_ordered` to cut by the one rule of ``k``: a tie
    at the k-th place goes to the destinations that come first (the KD-tree's own pick
    among equal distances follows its layout). An origin whose (k+1)-th nearest costs as
    much as its k-th is asked again for twice as many, until the farthest found costs
    more, or none is left."""
    n = dtree.n
    q = min(k + 1, n)
    dist, idx = dtree.query(o, k=q, distance_upper_bound=bound)
    dist, idx = dist.reshape(len(o), q), idx.reshape(len(o), q)
    tied = np.zeros(len(o), dtype=bool)
    if q > k:
        tied = np.isfinite(dist[:, k]) & (dist[:, k] * scale == dist[:, k - 1] * scale)
    dist, idx = dist[:, :k], idx[:, :k]
    ok = np.isfinite(dist) & ~tied[:, None]
    rows = np.broadcast_to(np.arange(len(o))[:, None], dist.shape)
    parts = [(rows[ok], idx[ok], dist[ok])]
    at = np.flatnonzero(tied)
    cut = dist[at, k - 1] * scale   # the k-th's cost
    m = q
    while len(at):
        m = min(2 * m, n)
        dd, ii = dtree.query(o[at], k=m, distance_upper_bound=bound)
        dd, ii = dd.reshape(len(at), m), ii.reshape(len(at), m)
        done = (m == n) | ~np.isfinite(dd[:, -1]) | (dd[:, -1] * scale > cut)
        if done.any():
            dd, ii, mine = dd[done], ii[done], cut[done][:, None]
            keep = np.isfinite(dd) & (dd * scale <= mine)
            parts.append((np.broadcast_to(at[done][:, None], dd.shape)[keep], ii[keep],
                          dd[keep]))
        at, cut = at[~done], cut[~done]
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _positions(a: np.ndarray) -> np.ndarray:
    """Row positions as int32 when they fit (half the memory of a long table's columns)."""
    return a.astype(np.int32) if len(a) and a.max() < 2**31 - 1 else a.astype(np.int64)


def euclidean_costs(origins, destinations, *, max_cost: float | None = None,
                    k: int | None = None, detour_factor: float = 1.0, unit: str = "m",
                    speed: float | None = None, origin_id: str | None = None,
                    destination_id: str | None = None, crs=None) -> pd.DataFrame:
    """Straight-line costs (KD-tree), optionally scaled by a detour factor.

    ``cost = detour_factor * hypot(dx, dy)`` in metres, or divided by ``speed`` (km/h) and
    expressed in minutes when ``unit="min"``.

    Parameters
    ----------
    origins, destinations : GeoDataFrame or Coordinates
        Points or polygons (representative points) in any CRS; both are reprojected to ``crs``
        or, by default, the origins' projected CRS (the local UTM zone when geographic;
        :class:`Coordinates` must then be in a projected CRS).
    max_cost : float, optional
        Keep pairs with ``cost <= max_cost`` (in ``unit``).
    k : int, optional
        Keep the ``k`` cheapest destinations per origin (combined with ``max_cost`` if given);
        a tie at the k-th place goes to the destinations that come first in ``destinations``,
        as for every source.
    detour_factor : float
        Ratio of the street distance to the straight line (>= 1).
    unit : {"m", "min"}
        Metres, or minutes at ``speed`` km/h (required for minutes).
    origin_id, destination_id : str, optional
        Id columns; default the index.

    Returns
    -------
    pandas.DataFrame
        Columns ``origin``, ``destination``, ``cost``, sorted by origin then cost. With neither
        ``max_cost`` nor ``k`` every pair is returned (len(origins) * len(destinations) rows).
    """
    return _table(_euclidean(origins, destinations, max_cost=max_cost, k=k,
                             detour_factor=detour_factor, unit=unit, speed=speed,
                             origin_id=origin_id, destination_id=destination_id, crs=crs), k)


def _euclidean(origins, destinations, *, max_cost, k, detour_factor, unit, speed, origin_id,
               destination_id, crs) -> _Found:
    """:func:`euclidean_costs`' pairs, before the table."""
    _check_unit(unit)
    _check_bounds(max_cost, k, detour_factor)
    per_metre = 1.0
    if unit == "min":
        if speed is None or not (speed > 0):
            raise input_error("speed", "straight-line costs in minutes need a speed in km/h",
                              "pass speed=4.5 (walking) or use unit='m'")
        per_metre = 60.0 / (speed * 1000.0)
    o_ids, ox, oy, ocrs = _points(origins, origin_id, "origins", crs)
    d_ids, dx, dy, _ = _points(destinations, destination_id, "destinations", ocrs)
    scale = detour_factor * per_metre
    radius = None if max_cost is None else max_cost / scale
    oi, di, cost = _euclid_pairs(ox, oy, dx, dy, radius, k, scale)
    if scale != 1.0:
        cost *= scale   # a fresh array in every branch of _euclid_pairs
    if max_cost is not None:
        keep = cost <= max_cost
        if not keep.all():
            oi, di, cost = oi[keep], di[keep], cost[keep]
        del keep
    # straight lines give each pair once (a KD-tree's pairs within a radius, its k nearest, or
    # every pair): the table comes with its coding
    return _Found(oi, di, cost, o_ids, d_ids, {"method": "euclidean", "unit": unit},
                  unique=True)


def _summary(sn: Snap, snap_limit: float, rule: str) -> dict:
    st = np.bincount(sn.code, minlength=len(STATUSES))
    d = sn.snap_distance
    has = bool(np.isfinite(d).any())
    return {
        "points": int(len(d)),
        **{name: int(st[i]) for i, name in enumerate(STATUSES)},
        "snap_limit_m": float(snap_limit),
        "max_snap_distance_m": float(np.nanmax(d)) if has else None,
        "mean_snap_distance_m": float(np.nanmean(d)) if has else None,
        "off_network_rule": rule,
    }


def travel_costs(origins, destinations, *, network: Network | None = None,
                 max_cost: float | None = None, unit: str = "m", k: int | None = None,
                 euclidean: bool = False, detour_factor: float = 1.0,
                 snap_limit: float = 500.0, origin_id: str | None = None,
                 destination_id: str | None = None,
                 off_network: str = "euclidean", speed: float | None = None) -> pd.DataFrame:
    """Travel costs from origins (children) to destinations (schools) as a long table.

    Parameters
    ----------
    origins, destinations : GeoDataFrame or Coordinates
        Points, or polygons (their representative points), in any CRS; reprojected to the
        network's CRS (metres).
    network : Network, optional
        From :func:`geoequity.load_network`. ``None`` (or ``euclidean=True``) gives straight-line
        costs (:func:`euclidean_costs`) times ``detour_factor``.
    max_cost : float, optional
        Keep pairs with ``cost <= max_cost`` (in ``unit``). Bounds the search: strongly advised
        on large networks.
    unit : {"m", "min"}
        Network metres, or minutes at the edge speeds (walk/bike speed, drive ``maxspeed``).
    k : int, optional
        Keep only the ``k`` cheapest destinations per origin (within ``max_cost`` if given);
        a tie at the k-th place goes to the destinations that come first in
        ``destinations``.
    euclidean : bool
        Straight-line costs even when a network is given.
    detour_factor : float
        Multiplies straight-line distances: the euclidean mode, and the fallback for
        off-network points.
    snap_limit : float
        Largest distance (m) from a point to the network's main component for it to snap.
    origin_id, destination_id : str, optional
        Id columns; default the index.
    off_network : {"euclidean", "unreachable"}
        Rule for points that do not snap (beyond ``snap_limit`` or only near cut-off
        components): ``"euclidean"`` gives every pair involving them the straight-line
        distance times ``detour_factor`` (minutes at :func:`line_speed`);
        ``"unreachable"`` leaves them out of the table. Either way they are counted in
        ``result.attrs["snap"]``.
    speed : float, optional
        km/h of straight-line minutes (``euclidean=True``, no network, or off-network points);
        default :func:`line_speed` of the network's mode: its walk or bike speed, 30 km/h
        for drive. Without a network, minutes need it (or use :func:`cost_table` with a
        :class:`CostSource`, whose mode gives the speed).

    Returns
    -------
    pandas.DataFrame
        Columns ``origin``, ``destination``, ``cost`` (float64), sorted by origin then cost.
        ``attrs["snap"]`` holds ``{"origins": {...}, "destinations": {...}}`` snap summaries
        (counts per status, snap distances in metres, the rule used); per-point detail comes
        from :func:`snap_report`.

    Notes
    -----
    A point joins the network at the nearest point of the nearest main-component edge; the
    connector (snap distance) and the partial edge lengths are part of the cost:
    ``cost = snap_o + min over ends(partial_o + path + partial_d) + snap_d``, with one-way
    edges only entered/left in their direction. Two points on the same edge may also go
    straight along it.
    """
    return _table(_travel(origins, destinations, network=network, max_cost=max_cost, unit=unit,
                          k=k, euclidean=euclidean, detour_factor=detour_factor,
                          snap_limit=snap_limit, origin_id=origin_id,
                          destination_id=destination_id, off_network=off_network,
                          speed=speed), k)


def _travel(origins, destinations, *, network, max_cost, unit, k, euclidean, detour_factor,
            snap_limit, origin_id, destination_id, off_network, speed) -> _Found:
    """:func:`travel_costs`' pairs, before the table."""
    if network is None or euclidean:
        if unit == "min" and network is not None:
            speed = _network_line_speed(network, speed)
        crs = network.crs if network is not None else None
        return _euclidean(origins, destinations, max_cost=max_cost, k=k,
                          detour_factor=detour_factor, unit=unit, speed=speed,
                          origin_id=origin_id, destination_id=destination_id, crs=crs)
    _check_unit(unit)
    _check_bounds(max_cost, k, detour_factor)
    if off_network not in OFF_NETWORK_RULES:
        raise input_error("off_network", f"unknown rule {off_network!r}",
                          f"use one of {', '.join(OFF_NETWORK_RULES)}")
    if not (snap_limit >= 0):
        raise input_error("snap_limit", f"must be a distance in metres >= 0, got {snap_limit!r}")
    o_ids, ox, oy, _ = _points(origins, origin_id, "origins", network.crs)
    d_ids, dx, dy, _ = _points(destinations, destination_id, "destinations", network.crs)
    # many points are handled in Z-order (their lookups into the network's arrays then hit
    # the CPU caches) and mapped back to input positions before the table is built
    o_perm, d_perm = query_order(np.column_stack([ox, oy])), \
        query_order(np.column_stack([dx, dy]))
    if o_perm is not None:
        ox, oy = ox[o_perm], oy[o_perm]
    if d_perm is not None:
        dx, dy = dx[d_perm], dy[d_perm]
    o_snap, o_on, o_side = snap_side(network, ox, oy, snap_limit, unit)
    d_snap, d_on, d_side = snap_side(network, dx, dy, snap_limit, unit)
    oi, di, cost = network_costs(network, o_side, d_side, unit=unit, max_cost=max_cost)
    oi = np.flatnonzero(o_on)[oi]
    di = np.flatnonzero(d_on)[di]
    parts = [(oi, di, cost)]
    n_off_o, n_off_d = int((~o_on).sum()), int((~d_on).sum())
    if off_network == "euclidean" and (n_off_o or n_off_d):
        per_metre = 1.0 if unit == "m" else \
            60.0 / (_network_line_speed(network, speed) * 1000.0)
        scale = detour_factor * per_metre
        radius = None if max_cost is None else max_cost / scale
        # pairs with an off-network origin (any destination) ...
        off_o = np.flatnonzero(~o_on)
        a, b, dist = _euclid_pairs(ox[off_o], oy[off_o], dx, dy, radius, k, scale)
        parts.append((off_o[a], b, dist * scale))
        # ... and on-network origins with off-network destinations
        off_d, on_o = np.flatnonzero(~d_on), np.flatnonzero(o_on)
        a, b, dist = _euclid_pairs(ox[on_o], oy[on_o], dx[off_d], dy[off_d], radius, k,
                                   scale)
        parts.append((on_o[a], off_d[b], dist * scale))
    oi, di, cost = (np.concatenate(p) for p in zip(*parts, strict=True))
    if max_cost is not None:
        keep = cost <= max_cost
        oi, di, cost = oi[keep], di[keep], cost[keep]
    if o_perm is not None:
        oi = o_perm[oi]
    if d_perm is not None:
        di = d_perm[di]
    attrs = {"method": f"network:{network.mode}", "unit": unit,
             "snap": {"origins": _summary(o_snap, snap_limit, off_network),
                      "destinations": _summary(d_snap, snap_limit, off_network)}}
    for label, n_off in (("origin", n_off_o), ("destination", n_off_d)):
        if n_off:
            how = ("straight line x detour factor " f"{detour_factor:g}"
                   if off_network == "euclidean" else "left unreachable")
            info(f"  {n_off} {label}(s) are off the street network (farther than {snap_limit:g} m"
                 f" or only near cut-off streets): {how}")
    return _Found(oi, di, cost, o_ids, d_ids, attrs)


def snap_report(points, network: Network, *, snap_limit: float = 500.0,
                id_col: str | None = None) -> pd.DataFrame:
    """Per-point snapping detail: how each point joins the network.

    Parameters
    ----------
    points : GeoDataFrame or Coordinates
        Points or polygons in any CRS.
    network : Network
        The network.
    snap_limit : float
        Snap limit in metres (as in :func:`travel_costs`).
    id_col : str, optional
        Id column; default the index.

    Returns
    -------
    pandas.DataFrame
        Indexed by the point ids: ``edge``, ``fraction``, ``snap_distance`` (m),
        ``nearest_distance`` (m, to any edge), ``status`` (``snapped``, ``moved_from_cutoff``,
        ``beyond_limit``, ``cutoff``), ``u``/``v`` (node ids of the edge, NA when off-network).
    """
    ids, x, y, _ = _points(points, id_col, "points", network.crs)
    snap = snap_points(network, x, y, snap_limit=snap_limit)
    e = snap["edge"].to_numpy()
    on = e >= 0
    for end, arr in (("u", network.u), ("v", network.v)):
        col = pd.Series(pd.NA, index=snap.index, dtype="object")
        col[on] = network.node_id[arr[e[on]]]
        snap[end] = col
    snap.index = ids
    return snap


# ---------------------------------------------------------------------------- cost sources
def _number(name: str, value, *, low: float, strict: bool, fix: str | None = None) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < low or (strict and value == low):
        sign = ">" if strict else ">="
        raise input_error(name, f"must be a number {sign} {low:g}, got {value!r}", fix)


def _choice(name: str, value, options) -> None:
    if value not in options:
        raise input_error(name, f"unknown value {value!r}", f"use one of {', '.join(options)}")


@dataclass(frozen=True)
class CostSource:
    """Where travel costs come from, with every option: a street network, straight lines, or a
    table the user brings. One description for the API, every CLI command and scenario files;
    :func:`cost_table` turns it into the cost table.

    Parameters
    ----------
    kind : {"network", "euclidean", "table"}
        Street network, straight line, or a table you bring. Default ``"euclidean"``.
    network : path, place name, bbox, line GeoDataFrame or Network
        For ``kind="network"``: anything :func:`geoequity.load_network` takes, or a loaded
        :class:`~geoequity.network.Network` (then ``mode``, the speeds, ``crs`` and
        ``cache_dir`` are the network's own).
    table : path
        For ``kind="table"``: a CSV/Parquet table ``origin,destination,cost`` (e.g. from a
        transit router); its ids are matched to the layers' ids.
    table_columns : str or tuple, optional
        The table's origin, destination and cost columns, as ``"o,d,c"`` or a 3-tuple.
    mode : {"walk", "bike", "drive"}
        Travel mode (default walk): the network's streets and speeds, and the straight-line
        speed in minutes.
    unit : {"m", "min"}
        Metres or minutes (default m).
    walk_speed, bike_speed : float
        km/h for walking (4.5) and cycling (15): network edge speeds, and straight-line minutes.
    speed : float, optional
        km/h for straight-line minutes; default the mode's speed: ``walk_speed``,
        ``bike_speed``, or 30 km/h for drive (the default urban driving speed).
    detour_factor : float
        Multiplies straight-line distances (>= 1, default 1.0): the euclidean kind, and the
        network's off-network points.
    snap_limit : float
        Metres (default 500): points farther from the network's main component are off it.
    off_network : {"euclidean", "unreachable"}
        Rule for off-network points (default ``"euclidean"``: straight line x detour factor at
        :func:`line_speed`, as the euclidean kind; ``"unreachable"``: no rows).
    crs : optional
        Projected CRS (metres) for the network; default the UTM zone of its extent.
    cache_dir : path or False, optional
        Network cache folder (default ``$GEOEQUITY_CACHE_DIR`` or ``~/.cache``); False: none.
    """

    kind: str = "euclidean"
    network: Any = None
    table: Any = None
    table_columns: Any = None
    mode: str = "walk"
    unit: str = "m"
    walk_speed: float = 4.5
    bike_speed: float = 15.0
    speed: float | None = None
    detour_factor: float = 1.0
    snap_limit: float = 500.0
    off_network: str = "euclidean"
    crs: Any = None
    cache_dir: Any = None

    def __post_init__(self) -> None:
        _choice("kind", self.kind, KINDS)
        _choice("mode", self.mode, MODES)
        _choice("unit", self.unit, UNITS)
        _choice("off_network", self.off_network, OFF_NETWORK_RULES)
        if self.kind == "network" and self.network is None:
            raise input_error("network", "a network cost source needs a street network",
                              "give a .osm.pbf/.osm/.graphml file, a line layer or a place")
        if self.kind == "table" and self.table is None:
            raise input_error("costs", "a table cost source needs the table's path",
                              "give a CSV/Parquet file with origin,destination,cost")
        for name in ("walk_speed", "bike_speed") + (("speed",) if self.speed is not None else ()):
            _number(name, getattr(self, name), low=0.0, strict=True, fix="give km/h, e.g. 4.5")
        _number("detour_factor", self.detour_factor, low=1.0, strict=False,
                fix="1.0 is the straight line; 1.2-1.4 is typical for streets")
        _number("snap_limit", self.snap_limit, low=0.0, strict=False, fix="give metres, e.g. 500")

    @property
    def line_speed(self) -> float:
        """km/h of straight-line minutes: ``speed``, else the mode's (walk_speed, bike_speed,
        30 km/h driving)."""
        return line_speed(self.mode, speed=self.speed, walk_speed=self.walk_speed,
                          bike_speed=self.bike_speed)

    def load(self) -> CostSource:
        """This source with its network loaded (a :class:`Network`); other kinds unchanged.

        Load once and reuse the result when several tables come from one network.
        """
        if self.kind != "network" or isinstance(self.network, Network):
            return self
        from geoequity.network.sources import load_network

        with step(f"loading {self.mode} network"):
            net = load_network(self.network, self.mode, walk_speed=self.walk_speed,
                               bike_speed=self.bike_speed, crs=self.crs,
                               cache_dir=self.cache_dir)
        return replace(self, network=net)


def default_max_cost(threshold: float | None, max_cost: float | None = None, *,
                     assignment_max_cost: float | None = None,
                     what: str = "max_cost") -> tuple[float | None, float | None]:
    """The one rule for the bound of the cost search, for every door (API, CLI, scenario).

    ``max_cost`` (the longest trip considered: the nearest school, the catchments, the
    assignment) defaults to ``4 x threshold``, in the threshold's unit (metres or minutes), so
    the rule is the same whatever the unit. Without a threshold there is no default bound
    (``None``: every pair the source gives). ``assignment_max_cost`` (the longest trip the
    capacity-constrained assignment may use) defaults to ``max_cost``.

    Returns
    -------
    (max_cost, assignment_max_cost)
        Either may be ``None`` (no bound). A ``max_cost`` below the threshold is refused (the
        catchments would be cut short); ``what`` names the option in that message.
    """
    if max_cost is None and threshold is not None:
        max_cost = MAX_COST_FACTOR * float(threshold)
    if max_cost is not None and threshold is not None and max_cost < threshold:
        raise input_error(what, f"{max_cost:g} is smaller than the threshold {threshold:g}",
                          "make it at least the threshold (default: 4 x the threshold)")
    if assignment_max_cost is None:
        assignment_max_cost = max_cost
    return max_cost, assignment_max_cost


def cost_table(source: CostSource, origins, destinations, *, max_cost: float | None = None,
               k: int | None = None, origin_id: str | None = None,
               destination_id: str | None = None) -> pd.DataFrame:
    """The cost table of a :class:`CostSource`: the one way every door builds costs.

    Parameters
    ----------
    source : CostSource
        Where the costs come from.
    origins, destinations : GeoDataFrame or Coordinates
        Demand cells (points or polygons: their representative points) and schools, or their
        points' coordinates (:class:`Coordinates`).
    max_cost : float, optional
        Keep pairs with ``cost <= max_cost`` (in ``source.unit``); bounds the network search.
    k : int, optional
        Keep only the ``k`` cheapest destinations per origin; a tie at the k-th place goes
        to the destinations that come first in ``destinations`` (one rule for every source,
        a brought table's rows in any order).
    origin_id, destination_id : str, optional
        Id columns; default the index.

    Returns
    -------
    pandas.DataFrame
        ``origin, destination, cost`` (see the module docstring); ``attrs["method"]`` and
        ``attrs["unit"]`` say how it was made (and ``attrs["snap"]`` for a network).
    """
    return _source_costs(source, origins, destinations, max_cost, k, origin_id,
                         destination_id, _table)


def cost_pairs(source: CostSource, origins, destinations, *, max_cost: float | None = None,
               k: int | None = None, origin_id: str | None = None,
               destination_id: str | None = None) -> Pairs:
    """:func:`cost_table` coded to positions: the :class:`geoequity.pairs.Pairs` that
    :func:`geoequity.pairs.code_pairs` makes of that table against the origins' and
    destinations' ids, pair for pair and in its row order, without making the table when
    the costs are straight lines (for a caller that needs only the pairs: a cluster's
    partition). The parameters are :func:`cost_table`'s. A brought table's pairs name its
    file in their messages (``Pairs.source``) where the table's coding names "costs"."""
    found = _source_costs(source, origins, destinations, max_cost, k, origin_id,
                          destination_id, _coded)
    if isinstance(found, pd.DataFrame):   # a table brought: its ids matched to the layers'
        return code_pairs(found, _layer_ids(origins, origin_id, "origins"),
                          _layer_ids(destinations, destination_id, "destinations"),
                          source=str(source.table))
    return found


def _source_costs(source, origins, destinations, max_cost, k, origin_id, destination_id,
                  made: Callable):
    """The costs of a :class:`CostSource` (:func:`cost_table`): the pairs found, made into
    what ``made(found, k)`` makes (the table, the coded pairs) within the progress step that
    times them; a brought table as it is (its ids matched to the layers')."""
    if not isinstance(source, CostSource):
        raise input_error("source", f"must be a CostSource, got {type(source).__name__}",
                          "build one with geoequity.CostSource(kind=..., ...)")
    _check_bounds(max_cost, k, source.detour_factor)
    if source.kind == "table":
        return _brought_table(source, origins, destinations, max_cost, k, origin_id,
                              destination_id)
    if source.kind == "euclidean":
        with step("straight-line costs"):
            return made(_euclidean(
                origins, destinations, max_cost=max_cost, k=k,
                detour_factor=source.detour_factor, unit=source.unit,
                speed=source.line_speed if source.unit == "min" else None,
                origin_id=origin_id, destination_id=destination_id, crs=source.crs), k)
    net = source.load().network
    with step(f"{net.mode} travel costs"):
        return made(_travel(origins, destinations, network=net, max_cost=max_cost,
                            unit=source.unit, k=k, euclidean=False,
                            detour_factor=source.detour_factor, snap_limit=source.snap_limit,
                            origin_id=origin_id, destination_id=destination_id,
                            off_network=source.off_network, speed=source.speed), k)


def _layer_ids(gdf, id_col, what: str) -> pd.Index:
    if isinstance(gdf, Coordinates):   # a brought table's: the ids alone are used
        return _coordinate_ids(gdf, id_col, what)[0]
    if id_col is None:
        return gdf.index
    if id_col not in gdf.columns:
        raise input_error(what, f"has no id column {id_col!r}",
                          f"choose one of: {', '.join(map(str, gdf.columns))}")
    return pd.Index(gdf[id_col].to_numpy(), name=id_col)


def _brought_table(source, origins, destinations, max_cost, k, origin_id, destination_id):
    """The user's table: ids matched to the layers (rows of other ids dropped and counted),
    then the same bound and ``k`` as computed tables."""
    from geoequity.io import match_ids, read_cost_table

    costs = read_cost_table(source.table, columns=source.table_columns)
    costs = match_ids(costs, _layer_ids(origins, origin_id, "origins"), "origin", source.table)
    d_ids = _layer_ids(destinations, destination_id, "destinations")   # (the k cut's too)
    costs = match_ids(costs, d_ids, "destination", source.table)
    if max_cost is not None:
        costs = costs.loc[costs["cost"] <= max_cost]
    if k is not None:   # a tie at the k-th place: the destinations that come first
        at = d_ids.get_indexer(costs["destination"])
        costs = (costs.assign(_at=at).sort_values(["origin", "cost", "_at"], kind="stable")
                 .groupby("origin", sort=False).head(int(k)).drop(columns="_at"))
    costs = costs.reset_index(drop=True)
    costs.attrs["method"] = "table"
    costs.attrs["unit"] = source.unit
    return costs


def threshold_unit_question(threshold: float, unit: str, *, name: str,
                            unit_option: str) -> str | None:
    """The question to ask when a threshold looks like the wrong unit, else None.

    Under 100 metres or over 180 minutes is more likely kilometres or metres given in the wrong
    unit than meant; the run goes on (it may be meant). ``name`` is how the threshold was given
    (``--threshold``, ``s.toml: [analysis] threshold``), ``unit_option`` how the unit is set at
    that door (``--unit min``, ``unit = "min"``). The one rule behind every CLI command with
    ``--threshold`` (said after the work, as a note) and a scenario's ``[analysis] threshold``
    (said when the file is read); API callers may call it.
    """
    if unit == "m" and threshold < 100:
        return (f"{name} = {threshold:g} metres: is that meant? Thresholds are in metres "
                f"({threshold:g} km = {threshold * 1000:g}), or set {unit_option} for minutes")
    if unit == "min" and threshold > 180:
        return (f"{name} = {threshold:g} minutes ({unit_option}): is that meant? For metres "
                "leave the unit at m")
    return None
