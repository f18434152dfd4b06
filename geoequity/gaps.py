"""Seats-per-child gaps per cell, per catchment and per district.

Definitions (``P`` children, ``S`` seats, ``t`` the threshold):

* **per cell** (from the scores): ``access`` is the accessibility score (2SFCA by default: seats
  per child within reach), ``gap_index = access / (sum S / sum P)`` (1.0 = the study area's fair
  share; NaN when there are no seats), ``seats = access x P`` (the cell's share of the reached seats; for 2SFCA these add up
  to the seats of every reached school), ``shortfall = P - seats`` (positive: missing seats).
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
"""

from __future__ import annotations

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

__all__ = ["SeatGaps", "seat_gaps"]


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
    fair = fair_share(dem, sup)
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
    with np.errstate(invalid="ignore", divide="ignore"):   # no seats: no fair share, NaN
        gap_index = acc / fair if method in ("2sfca", "e2sfca") else np.full(len(p), np.nan)
    cells = pd.DataFrame({
        "children": p, "access": acc, "gap_index": gap_index,
        "seats": seats_cell, "shortfall": p - seats_cell,
        "nearest_id": far["nearest_id"], "nearest_cost": far["nearest_cost"],
        "beyond_threshold": np.where(reached, 0.0, p),
        "assigned": assigned, "unassigned": unassigned,
    }, index=dem.index)
    if assignment is not None:
        cells["school"] = assignment.origins["school"].reindex(dem.index)
    # per catchment (nearest school within the threshold)
    catch_id = near["nearest_id"]
    g = cells.loc[reached].groupby(catch_id[reached], sort=True)
    cat = pd.DataFrame({
        "cells": g.size(), "children": g["children"].sum(),
        "assigned": g["assigned"].sum(min_count=1), "unassigned": g["unassigned"].sum(min_count=1),
    }).reindex(sup.index)
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
    # per district
    dist_table = None
    if districts is not None or cell_district is not None:
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
        dist_table = _district_table(cells, sup, cell_district.reindex(dem.index),
                                     school_district.reindex(sup.index), districts,
                                     district_col)
    if cells_gdf is not None:
        cells = gpd.GeoDataFrame(cells, geometry=cells_gdf.geometry.reindex(dem.index).to_numpy(),
                                 crs=cells_gdf.crs)
    cells.index.name = dem.index.name
    totals = {
        "children": float(p.sum()), "seats": float(sup.sum()), "fair_share": fair,
        "threshold": float(threshold),
        "beyond_threshold": float(cells["beyond_threshold"].sum()),
        "no_access_cells": int((~reached).sum()),
        "assigned": float(np.nansum(assigned)) if assignment is not None else float("nan"),
        "unassigned": float(np.nansum(unassigned)) if assignment is not None else float("nan"),
        "shortfall": float(p.sum() - sup.sum()),
        "split_cells": int(assignment.split_origins) if assignment is not None else 0,
    }
    return SeatGaps(cells=cells, catchments=cat, districts=dist_table, totals=totals,
                    assignment=assignment)


def _district_table(cells: pd.DataFrame, sup: pd.Series, cell_d: pd.Series, school_d: pd.Series,
                    districts: gpd.GeoDataFrame | None, district_col: str) -> pd.DataFrame:
    key = cell_d.astype("string").fillna("(outside)")
    g = cells.groupby(key.to_numpy(), sort=True)
    t = pd.DataFrame({
        "cells": g.size(), "children": g["children"].sum(),
        "beyond_threshold": g["beyond_threshold"].sum(),
        "assigned": g["assigned"].sum(min_count=1), "unassigned": g["unassigned"].sum(min_count=1),
    })
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
    if not cells["assigned"].isna().all():
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
