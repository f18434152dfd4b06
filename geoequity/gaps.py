"""Seats-per-child gaps per cell, per catchment and per district.

Definitions (``P`` children, ``S`` seats, ``t`` the threshold):

* **per cell** (from the scores): ``access`` is the accessibility score (2SFCA by default: seats
  per child within reach), ``gap_index = access / (sum S / sum P)`` (1.0 = the study area's fair
  share; NaN when there are no seats), ``seats = access x P`` (the cell's share of the reached
  seats; for 2SFCA these add up to the seats of every reached school), ``shortfall = P - seats``
  (positive: missing seats).
  Cells no school reaches have ``access`` NaN, ``seats`` 0, ``shortfall = P`` and count in
  ``beyond_threshold``. ``assigned``/``unassigned`` come from the capacity-constrained
  assignment within ``t`` (:func:`geoequity.capacity_assignment`).
* **per catchment**: each cell within ``t`` of a school belongs to the catchment of its nearest
  school; ``children`` of the catchment against the school's ``seats``:
  ``seats_per_child = S / P``, ``shortfall = P - S``; ``assigned``/``unassigned`` are the
  catchment children who did / did not get a seat anywhere.
* **per district**: ``children`` living in it (cells by representative point) against the
  ``seats`` located in it; ``beyond_threshold`` children; ``assigned``/``unassigned``.

Totals reconcile in every table: ``children = assigned + unassigned``, and per cell
``beyond_threshold <= unassigned``.

From pieces (a cluster run whose cells stay on its workers): every table but the per-cell one
sums over cells, so it is computed in two steps. :func:`gaps_piece` turns a piece (some of the
run's cells with their ``children``, ``district``, ``nearest_id``, ``nearest_cost``,
``access``, ``assigned``, ``unassigned``) into a :class:`GapSums` (sums per district, per
nearest school within the threshold, and a few figures: bounded by the districts and schools);
:func:`seat_gaps_of` adds the pieces' sums up into the catchment table, the district table and
the ``totals`` of :func:`seat_gaps`, which is itself the one-piece case. The per-cell columns
that need the study area's figures (``gap_index``, the run's ``access_index``) divide by
``totals["fair_share"]`` on the pieces (:func:`geoequity.pipeline.finish_piece`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.access import accessibility, fair_share, nearest
from geoequity.assignment import AssignmentResult, capacity_assignment
from geoequity.costs import default_max_cost
from geoequity.io.districts import district_of
from geoequity.pairs import Pairs, as_pairs, as_series

__all__ = ["GapSums", "SeatGaps", "gaps_piece", "seat_gaps", "seat_gaps_of",
           "travel_weights"]


@dataclass
class SeatGaps:
    """Gap tables of :func:`seat_gaps`.

    Attributes
    ----------
    cells
        Per demand cell (GeoDataFrame when cell geometry was given).
    catchments
        Per school (its nearest-school catchment within the threshold).
    districts
        Per district, or None when no districts were given.
    totals
        Study-area totals: children, seats, fair_share, assigned, unassigned,
        beyond_threshold, no_access_cells, ...
    assignment
        The capacity assignment used, or None.
    """

    cells: pd.DataFrame
    catchments: pd.DataFrame
    districts: pd.DataFrame | None
    totals: dict[str, float] = field(default_factory=dict)
    assignment: AssignmentResult | None = None


def _district_of(points: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, district_col: str,
                 what: str) -> pd.Series:
    """District name of each feature (:func:`geoequity.io.district_of`), NA outside every
    district."""
    out = district_of(points, districts, name_col=district_col, outside=None)
    n_out = int(out.isna().sum())
    if n_out:
        info(f"districts: {n_out} {what} lie outside every district")
    return out


def seat_gaps(costs: pd.DataFrame | Pairs, demand: pd.Series | gpd.GeoDataFrame,
              supply: pd.Series | gpd.GeoDataFrame, *, threshold: float,
              method: str = "2sfca", decay: Any = None, decay_param: Any = None,
              districts: gpd.GeoDataFrame | None = None, district_col: str = "district",
              cell_district: pd.Series | None = None,
              school_district: pd.Series | None = None,
              assign: bool = True, assignment: AssignmentResult | None = None,
              max_cost: float | None = None,
              assignment_max_cost: float | None = None,
              local: pd.DataFrame | None = None) -> SeatGaps:
    """Seat gaps per cell, per catchment and per district.

    Parameters
    ----------
    costs
        Long cost table ``origin, destination, cost`` (metres or minutes), or the same already
        coded (:class:`geoequity.pairs.Pairs`); a table is coded once here for every stage.
        None when ``local`` and ``assignment`` (or ``assign=False``) give all it would be
        used for (a cluster run, whose pairs stay on the workers).
    demand
        Children per cell: a Series indexed by cell id, or a (Geo)DataFrame with a
        ``children`` column (its geometry places cells in districts).
    supply
        Seats per school: a Series indexed by school id, or a (Geo)DataFrame with ``seats``.
    threshold
        Catchment threshold in cost units (``cost <= threshold``).
    method, decay, decay_param
        Accessibility score for the per-cell table (see :func:`geoequity.accessibility`);
        ``2sfca`` by default (seats per child, which makes ``seats = access x children``).
    districts
        Optional district polygons (``district`` column or index names them).
    cell_district, school_district
        Alternatively, the district of each cell / school id.
    assign
        Run the capacity-constrained assignment within ``assignment_max_cost`` (default True).
    assignment
        A precomputed :class:`~geoequity.assignment.AssignmentResult` to use instead.
    max_cost, assignment_max_cost
        Longest trip for the cells' ``nearest_id``/``nearest_cost`` (default 4 x threshold) and
        for the assignment (default ``max_cost``): the rule of
        :func:`geoequity.default_max_cost`, as a scenario's ``[analysis]``. Catchments and
        ``beyond_threshold`` stay within the threshold.
    local
        The cells' ``access``, ``nearest_id`` and ``nearest_cost`` (within ``max_cost``)
        already computed, e.g. by the partitions of a cluster run
        (:mod:`geoequity.distributed`); the nearest school within the threshold is that one
        when its cost is within the threshold.

    Returns
    -------
    SeatGaps
        ``cells``, ``catchments``, ``districts`` tables and ``totals``.
    """
    cells_gdf = demand if isinstance(demand, gpd.GeoDataFrame) else None
    schools_gdf = supply if isinstance(supply, gpd.GeoDataFrame) else None
    dem = as_series(demand, "demand", "children")
    sup = as_series(supply, "supply", "seats")
    fair_share(dem, sup)   # refuses a study area without children before any stage
    if costs is not None or local is None or (assignment is None and assign):
        costs = as_pairs(costs, dem.index, sup.index)   # coded once for every stage below
    max_cost, assignment_max_cost = default_max_cost(threshold, max_cost,
                                                     assignment_max_cost=assignment_max_cost)
    if local is None:
        score = accessibility(costs, dem, sup, method=method, threshold=threshold,
                              decay=decay, decay_param=decay_param)
        near = nearest(costs, dem, supply=sup, threshold=threshold)
        # the nearest school at any cost up to max_cost, as a scenario's cells.csv
        far = nearest(costs, dem, supply=sup, threshold=max_cost)
    else:
        score = local["access"].reindex(dem.index)
        far = local[["nearest_id", "nearest_cost"]].reindex(dem.index)
        near = far.where(far["nearest_cost"] <= threshold, axis=0)
    reached = near["nearest_cost"].notna().to_numpy()
    p = dem.to_numpy()
    if assignment is None and assign:
        assignment = capacity_assignment(costs, dem, sup, max_cost=assignment_max_cost)
    if assignment is not None:
        assigned = assignment.origins["assigned"].reindex(dem.index).fillna(0.0).to_numpy()
    else:
        assigned = np.full(len(p), np.nan)
    unassigned = p - assigned
    acc = score.to_numpy()
    seats_cell = np.where(reached, np.nan_to_num(acc) * p, 0.0) if method in (
        "2sfca", "e2sfca") else np.full(len(p), np.nan)
    cells = pd.DataFrame({
        "children": p, "access": acc,
        "seats": seats_cell, "shortfall": p - seats_cell,
        "nearest_id": far["nearest_id"], "nearest_cost": far["nearest_cost"],
        "beyond_threshold": np.where(reached, 0.0, p),
        "assigned": assigned, "unassigned": unassigned,
    }, index=dem.index)
    if assignment is not None:
        cells["school"] = assignment.origins["school"].reindex(dem.index)
    with_districts = districts is not None or cell_district is not None
    if with_districts:
        if cell_district is None:
            if cells_gdf is None:
                raise input_error("demand", "districts need cell geometry",
                                  "pass demand as a GeoDataFrame or give cell_district")
            cell_district = _district_of(cells_gdf, districts, district_col, "cells")
        if school_district is None:
            if schools_gdf is None:
                raise input_error("supply", "districts need school geometry",
                                  "pass supply as a GeoDataFrame or give school_district")
            school_district = _district_of(schools_gdf, districts, district_col, "schools")
        cell_district = cell_district.reindex(dem.index)
    # the study area's tables: this process' cells are one piece (seat_gaps_of)
    sums = _gap_sums(cells, cell_district, near["nearest_id"], reached)
    gaps = seat_gaps_of([sums], sup, threshold=threshold, school_district=school_district,
                        districts=districts, district_col=district_col,
                        assignment=assignment, with_districts=with_districts)
    with np.errstate(invalid="ignore", divide="ignore"):   # no seats: no fair share, NaN
        gap_index = (acc / gaps.totals["fair_share"] if method in ("2sfca", "e2sfca")
                     else np.full(len(p), np.nan))
    cells.insert(2, "gap_index", gap_index)
    if cells_gdf is not None:
        cells = gpd.GeoDataFrame(cells, geometry=cells_gdf.geometry.reindex(dem.index).to_numpy(),
                                 crs=cells_gdf.crs)
    cells.index.name = dem.index.name
    gaps.cells = cells
    return gaps


@dataclass
class GapSums:
    """One piece's sums for the study area's gap tables (:func:`gaps_piece`): small and
    picklable, bounded by the districts and the schools, not by the cells.

    Attributes
    ----------
    districts
        Per district (``"(outside)"`` for cells in none; None without districts), sorted:
        ``cells``, ``children``, ``beyond_threshold``, ``assigned``, ``unassigned`` (NaN when
        every cell's is) and, from :func:`gaps_piece`, the district table's travel sums
        ``wcost`` (children x nearest cost over the cells that reach a school within
        ``max_cost``) and ``wreach`` (their children): :func:`travel_weights`.
    catchments
        Per nearest school within the threshold, sorted: ``cells``, ``children``,
        ``assigned``, ``unassigned`` (NaN when every cell's is).
    figures
        ``cells``, ``children``, ``beyond_threshold``, ``no_access_cells`` (no school within
        the threshold), ``cells_without_access`` (``access`` NaN), ``assigned`` and
        ``unassigned`` (sums of the numbers).
    """

    districts: pd.DataFrame | None
    catchments: pd.DataFrame
    figures: dict[str, float]


_SUMMED = ["cells", "children", "beyond_threshold"]
_SUMMED_OR_NAN = ["assigned", "unassigned"]   # NaN where every cell's is (no assignment)
_TRAVEL = ["wcost", "wreach"]   # the district table's travel sums (travel_weights)


def _group_sums(frame: pd.DataFrame, key: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``cells`` (count) and the sums of ``columns`` per value of ``key``, sorted; the
    assignment's columns NaN where every cell's is."""
    g = frame.groupby(key, sort=True)
    out = pd.DataFrame({"cells": g.size().astype(np.int64)})
    for col in columns:
        out[col] = g[col].sum(min_count=1 if col in _SUMMED_OR_NAN else 0).astype(float)
    return out


def travel_weights(children: Any, nearest_cost: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's children x its nearest school's cost, and its children, both 0 for a cell
    that reaches no school within ``max_cost`` (cost NaN): summed per district, their ratio is
    the district table's children-weighted ``mean_nearest_cost``
    (:func:`geoequity.pipeline.district_summary`)."""
    kids = np.asarray(children, dtype=float)
    cost = np.asarray(nearest_cost, dtype=float)
    reach = ~np.isnan(cost)
    return np.where(reach, kids * np.where(reach, cost, 0.0), 0.0), np.where(reach, kids, 0.0)


def _gap_sums(cells: pd.DataFrame, cell_district: pd.Series | None, nearest_id: pd.Series,
              reached: np.ndarray) -> GapSums:
    """The sums of :class:`GapSums` over ``cells`` (``children``, ``access``,
    ``beyond_threshold``, ``assigned``, ``unassigned`` and, when given, the travel columns
    ``wcost``, ``wreach``), their district (None: no district sums) and their catchment
    (``nearest_id`` where ``reached``, the nearest school within the threshold): the one rule
    of seat_gaps' and the pieces'."""
    travel = [c for c in _TRAVEL if c in cells.columns]
    frame = cells[["children", "beyond_threshold", *_SUMMED_OR_NAN, *travel]]
    districts = None
    if cell_district is not None:
        key = pd.Series(cell_district).astype("string").fillna("(outside)").to_numpy()
        districts = _group_sums(frame, key, ["children", "beyond_threshold", *_SUMMED_OR_NAN,
                                             *travel])
    # a cell with no school within the threshold is in no catchment
    catchments = _group_sums(frame.loc[reached, ["children", *_SUMMED_OR_NAN]],
                             nearest_id[reached].to_numpy(), ["children", *_SUMMED_OR_NAN])
    assigned = frame["assigned"].to_numpy(dtype=float)
    unassigned = frame["unassigned"].to_numpy(dtype=float)
    figures = {
        "cells": len(frame), "children": float(frame["children"].sum()),
        "beyond_threshold": float(frame["beyond_threshold"].sum()),
        "no_access_cells": int(len(frame) - np.count_nonzero(reached)),
        "cells_without_access": int(np.isnan(cells["access"].to_numpy(dtype=float)).sum()),
        "assigned": float(np.nansum(assigned)), "unassigned": float(np.nansum(unassigned)),
    }
    return GapSums(districts=districts, catchments=catchments, figures=figures)


def gaps_piece(piece: pd.DataFrame, *, threshold: float,
               district_col: str | None = "district") -> GapSums:
    """A piece's sums for the study area's gap tables (:func:`seat_gaps_of`).

    Parameters
    ----------
    piece
        Some of the run's cells (a partition's core cells), indexed by cell id, with the
        columns of :func:`geoequity.analyse`'s ``Results.cells``: ``children``, ``access``,
        ``nearest_id`` and ``nearest_cost`` (within ``max_cost``; NaN for none),
        ``district`` (when the run has districts) and ``assigned``/``unassigned`` (when the
        assignment ran; absent: no assignment). Any number of rows, none included.
    threshold
        The run's threshold: a cell's catchment is its nearest school when within it.
    district_col
        The cells' district column, or None for a run without districts.

    Returns
    -------
    GapSums
        Bounded by the districts and the schools the piece's cells reach.
    """
    kids = piece["children"].to_numpy(dtype=float)
    cost = piece["nearest_cost"].to_numpy(dtype=float)
    reached = cost <= threshold
    none = np.full(len(piece), np.nan)
    assigned = (piece["assigned"].to_numpy(dtype=float) if "assigned" in piece.columns
                else none)
    wcost, wreach = travel_weights(kids, cost)
    cells = pd.DataFrame({
        "children": kids, "access": piece["access"].to_numpy(dtype=float),
        "beyond_threshold": np.where(reached, 0.0, kids), "assigned": assigned,
        "unassigned": (piece["unassigned"].to_numpy(dtype=float)
                       if "unassigned" in piece.columns else kids - assigned),
        "wcost": wcost, "wreach": wreach})
    district = (pd.Series(piece[district_col].to_numpy())
                if district_col is not None and district_col in piece.columns else None)
    if district_col is not None and district is None:
        raise ValueError(f"gaps_piece: the piece has no {district_col!r} column")
    return _gap_sums(cells, district, piece["nearest_id"], reached)


def _combined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The pieces' group sums added up per group (sorted), in the pieces' dtypes."""
    both = pd.concat(frames)
    g = both.groupby(level=0, sort=True)
    summed = [c for c in both.columns if c not in _SUMMED_OR_NAN]
    out = g[summed].sum()
    for col in _SUMMED_OR_NAN:
        out[col] = g[col].sum(min_count=1)
    return out[list(both.columns)]


def seat_gaps_of(sums: list[GapSums], supply: pd.Series | gpd.GeoDataFrame, *,
                 threshold: float, school_district: pd.Series | None = None,
                 districts: gpd.GeoDataFrame | None = None, district_col: str = "district",
                 assignment: AssignmentResult | None = None,
                 with_districts: bool | None = None) -> SeatGaps:
    """The study area's tables of :func:`seat_gaps` from its pieces' sums (:func:`gaps_piece`).

    Every cell is in one piece: ``catchments``, ``districts`` and ``totals`` equal those of
    :func:`seat_gaps` on all cells (which is this on one piece); ``cells`` is None (the
    per-cell columns stay on the pieces: ``gap_index`` and ``access_index`` divide by
    ``totals["fair_share"]``).

    Parameters
    ----------
    sums
        One :class:`GapSums` per piece, in any order.
    supply
        Seats per school id (every school of the run).
    threshold
        The run's threshold (``totals["threshold"]``).
    school_district, districts, district_col
        The district of each school, and the districts layer (its names count even with no
        cell or school; its polygons are the table's geometry), as for :func:`seat_gaps`.
    assignment
        The run's capacity assignment (its schools' ``assigned``, ``spare``, ``overflow``
        and ``split_origins``), or None.
    with_districts
        Build the district table (default: when the pieces' sums have districts).

    Returns
    -------
    SeatGaps
    """
    sup = as_series(supply, "supply", "seats")
    # the pieces' figures added up (exactly rounded: the same whatever the pieces' order)
    f = {k: math.fsum(s.figures[k] for s in sums) for k in sums[0].figures} if sums else {}
    # the one rule of the fair share, on every piece's children
    fair = fair_share(pd.Series([f.get("children", 0.0)]), sup)
    cat = _catchment_table(_combined([s.catchments for s in sums]), sup, assignment)
    if with_districts is None:
        with_districts = bool(sums) and all(s.districts is not None for s in sums)
    dist_table = None
    if with_districts:
        if school_district is None:
            if not isinstance(supply, gpd.GeoDataFrame):
                raise input_error("supply", "districts need school geometry",
                                  "pass supply as a GeoDataFrame or give school_district")
            school_district = _district_of(supply, districts, district_col, "schools")
        dist_table = _district_table(_combined([s.districts for s in sums]), sup,
                                     school_district.reindex(sup.index), districts,
                                     district_col)
    totals = {
        "children": float(f.get("children", 0.0)), "seats": float(sup.sum()),
        "fair_share": fair, "threshold": float(threshold),
        "beyond_threshold": float(f.get("beyond_threshold", 0.0)),
        "no_access_cells": int(f.get("no_access_cells", 0)),
        "assigned": float(f.get("assigned", 0.0)) if assignment is not None else float("nan"),
        "unassigned": (float(f.get("unassigned", 0.0)) if assignment is not None
                       else float("nan")),
        "shortfall": float(f.get("children", 0.0) - sup.sum()),
        "split_cells": int(assignment.split_origins) if assignment is not None else 0,
        "cells": int(f.get("cells", 0)),
        "cells_without_access": int(f.get("cells_without_access", 0)),
    }
    return SeatGaps(cells=None, catchments=cat, districts=dist_table, totals=totals,
                    assignment=assignment)


def _catchment_table(sums: pd.DataFrame, sup: pd.Series,
                     assignment: AssignmentResult | None) -> pd.DataFrame:
    """Per school (nearest-school catchment within the threshold) from the catchments'
    summed cells, children, assigned and unassigned."""
    cat = sums[["cells", "children", "assigned", "unassigned"]].reindex(sup.index)
    cat[["cells", "children"]] = cat[["cells", "children"]].fillna(0.0)
    if assignment is not None:
        cat[["assigned", "unassigned"]] = cat[["assigned", "unassigned"]].fillna(0.0)
    cat.insert(0, "seats", sup.to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        cat["seats_per_child"] = np.where(cat["children"] > 0, cat["seats"] / cat["children"],
                                          np.nan)
    cat["shortfall"] = cat["children"] - cat["seats"]
    if assignment is not None:
        sch = assignment.schools.reindex(sup.index)
        cat["seats_taken"] = sch["assigned"].to_numpy()
        cat["spare"] = sch["spare"].to_numpy()
        cat["overflow"] = sch["overflow"].to_numpy()
    cat.index.name = "school"
    return cat


def _district_table(sums: pd.DataFrame, sup: pd.Series, school_d: pd.Series,
                    districts: gpd.GeoDataFrame | None, district_col: str) -> pd.DataFrame:
    """Per district from the cells' summed ``cells``, ``children``, ``beyond_threshold``,
    ``assigned`` and ``unassigned`` per district label (:func:`_combined`), the schools'
    districts and the districts layer."""
    t = sums[[*_SUMMED, *_SUMMED_OR_NAN]]
    seats = sup.groupby(school_d.astype("string").fillna("(outside)").to_numpy()).sum()
    names = set(t.index) | set(seats.index)
    if districts is not None:
        col = (districts[district_col] if district_col in districts.columns
               else pd.Series(districts.index, index=districts.index))
        names |= set(col.astype(str))
    order = sorted(n for n in names if n != "(outside)") + (
        ["(outside)"] if "(outside)" in names else [])
    t = t.reindex(order)
    t[["cells", "children", "beyond_threshold"]] = t[
        ["cells", "children", "beyond_threshold"]].fillna(0.0)
    if t["assigned"].notna().any():   # some cell has a number: the assignment ran
        t[["assigned", "unassigned"]] = t[["assigned", "unassigned"]].fillna(0.0)
    t.insert(0, "seats", seats.reindex(order).fillna(0.0).to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        t["seats_per_child"] = np.where(t["children"] > 0, t["seats"] / t["children"], np.nan)
    t["shortfall"] = t["children"] - t["seats"]
    t.index.name = "district"
    if districts is not None:
        col = (districts[district_col] if district_col in districts.columns
               else pd.Series(districts.index, index=districts.index))
        geo = pd.Series(districts.geometry.to_numpy(), index=col.astype(str).to_numpy())
        geo = geo[~geo.index.duplicated()]
        t = gpd.GeoDataFrame(t, geometry=geo.reindex(t.index).to_numpy(), crs=districts.crs)
    return t
