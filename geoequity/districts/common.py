"""Pieces every districts module shares: the :class:`ZoneProposal` type, input checks, the
point each cell stands at and the cell holding each school.

``evaluate``, ``compare`` and ``propose`` import these from here (never each other's private
names), so evaluate need not import propose to recognise a ZoneProposal: no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoequity._errors import input_error
from geoequity.io.vector import representative_points

__all__ = ["ZoneProposal", "cell_points", "check_projected", "count_column", "nearest_cell"]


def cell_points(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The point each cell stands at: :func:`geoequity.io.representative_points` (a polygon's
    centroid, or a point on its surface when the centroid lies outside it)."""
    return np.asarray(representative_points(gdf).values, dtype=object)


def check_projected(gdf, what: str) -> None:
    """Refuse a layer with no CRS or a geographic one (districts work in metres)."""
    if gdf.crs is None:
        raise input_error(what, "has no CRS", "set one (e.g. read it with geoequity.io readers)")
    if not gdf.crs.is_projected:
        raise input_error(what, f"is in {gdf.crs.name}, not a projected CRS in metres",
                          "reproject it (e.g. geoequity.crs.to_projected) first")


def _locate(points: np.ndarray, polys: gpd.GeoSeries) -> np.ndarray:
    """Position in ``polys`` of the polygon containing each point (-1 when none, first when
    several)."""
    tree = shapely.STRtree(polys.values)
    pi, gi = tree.query(points, predicate="intersects")
    out = np.full(len(points), -1)
    if pi.size:
        order = np.lexsort((gi, pi))
        pi, gi = pi[order], gi[order]
        first = np.r_[True, pi[1:] != pi[:-1]]
        out[pi[first]] = gi[first]
    return out


def nearest_cell(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame) -> np.ndarray:
    """Position of the cell containing each school, else of the nearest cell centroid."""
    spts = np.asarray(schools.geometry.values, dtype=object)
    kind = shapely.get_type_id(cells.geometry.values)
    pos = np.full(len(spts), -1)
    if np.isin(kind, (3, 6)).all():
        pos = _locate(spts, gpd.GeoSeries(cells.geometry.values))
    todo = pos < 0
    if todo.any() and len(cells):
        cxy = shapely.get_coordinates(cell_points(cells))
        _, near = cKDTree(cxy).query(shapely.get_coordinates(spts[todo]))
        pos[todo] = near
    return pos


def count_column(gdf: pd.DataFrame, col: str, what: str) -> pd.Series:
    """Column ``col`` of ``gdf`` as floats, refusing a missing column or a missing or negative
    value (children, seats)."""
    if col not in gdf.columns:
        geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
        cols = ", ".join(str(c) for c in gdf.columns if c != geom)
        raise input_error(what, f"has no column {col!r}", f"choose one of: {cols}")
    vals = pd.to_numeric(gdf[col], errors="coerce").astype(float)
    bad = vals.isna() | (vals < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise input_error(what, f"column {col!r} has a missing or negative value "
                          f"({gdf[col].iloc[row]!r}) for id {gdf.index[row]!r}",
                          "use counts >= 0 (0 for empty cells)")
    return vals



@dataclass
class ZoneProposal:
    """Zones proposed by :func:`propose_zones`; :func:`evaluate_districts` accepts it.

    Attributes
    ----------
    zones
        One row per zone (index and column ``district``): ``schools`` (``;``-separated ids),
        ``cells``, ``children``, ``seats``, ``target``, ``demand_ratio`` (children / target),
        ``within_tolerance``, ``contiguous`` and the zone polygon (union of its cells).
    assignment
        Zone of every cell (index: cell id).
    school_zone
        Zone of every school (index: school id).
    method
        ``"mip"`` (integer programme, contiguity by cuts), ``"mip+repair"`` (the programme
        stopped before every zone was contiguous; the heuristic repaired the rest) or
        ``"heuristic"``.
    constraints
        Which constraints hold exactly in the result: ``one_zone_per_cell``, ``balance``,
        ``max_increase``, ``contiguity`` (every zone's outline is one piece, judged by
        :func:`~geoequity.districts.shape.shape_metrics` exactly as ``evaluate`` and
        ``compare`` judge it, and as ``zones.contiguous`` says), ``contiguity_where_possible``
        (every zone connected inside each part of the grid that holds its schools: island
        cells, in parts of the grid touching no school, and zones whose schools stand in
        separate parts cannot be one piece; ``status`` lists them),
        ``schools_in_own_zone``; and ``moves_optimal`` when ``minimise_moves`` was asked.
    status
        Solver messages, in order.
    stats
        Numbers about the run (pairs, rounds, cuts, objective, children_moved, ...).
    tradeoffs
        Equity objectives only: one row for the equity zones and one for the least-travel
        zones (``travel``): ``problem, role, total_travel, total_shortfall, children_beyond,
        worst_seats_per_child, worst_seats_district, worst_share_beyond,
        worst_share_district, theil_seats_per_child``; :meth:`traded_away` differences them.
    """

    zones: gpd.GeoDataFrame
    assignment: pd.Series
    school_zone: pd.Series
    method: str = "mip"
    constraints: dict = field(default_factory=dict)
    status: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    tradeoffs: pd.DataFrame | None = None

    def traded_away(self) -> pd.DataFrame | None:
        """The equity zones' figures minus the least-travel zones' (None without an equity
        objective): positive travel, shortfall and children beyond are what equity cost."""
        if self.tradeoffs is None:
            return None
        num = self.tradeoffs.select_dtypes("number")
        out = (num.iloc[[0]].to_numpy() - num.iloc[1:].to_numpy())
        return pd.DataFrame(out, columns=num.columns,
                            index=pd.Index(self.tradeoffs.index[1:], name="against"))

    def report(self) -> str:
        """A short plain-text report of the method and the constraints that hold."""
        lines = [f"method: {self.method}"]
        lines += [f"{k}: {'holds' if v else 'does NOT hold'}" for k, v in self.constraints.items()
                  if isinstance(v, bool)]
        lines += [f"note: {s}" for s in self.status]
        return "\n".join(lines)
