"""The analysis pipeline: children, schools and a cost table in; every result table out.

:func:`analyse` is the one place where the stages meet (accessibility, nearest school,
capacity-constrained assignment, district and urban/rural gaps, equity). It takes layers that
are already read and a cost table, so scripts can call it with any inputs; the scenario runner
(:mod:`geoequity.scenario`) and the demo call it after reading files.

Per-cell result columns (``Results.cells``):

=================== =============================================================================
``children``        school-age children in the cell
``district``        district containing the cell's centre (``"(outside)"`` when none does)
``urban``           ``urban centre`` / ``urban cluster`` / ``rural`` (Degree of Urbanisation)
``nearest_id``      nearest school (lowest travel cost); empty when none within ``max_cost``
``nearest_cost``    travel cost to it (metres or minutes); NaN when none within ``max_cost``
``beyond``          True when the nearest school is farther than the threshold (or none)
``seats_within``    seats of all schools within the threshold (cumulative opportunities)
``access``          the chosen measure (2SFCA: seats per child reachable); NaN = no access
``access_index``    2SFCA divided by the area's seats per child: 1.0 is a fair share
``assigned``        children given a seat by the capacity-constrained assignment
``unassigned``      children left without a seat (children = assigned + unassigned)
``school``          school taking most of the cell's children in that assignment
=================== =============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._progress import info, step
from geoequity.io.vector import representative_points

OUTSIDE = "(outside)"


@dataclass
class Results:
    """Every table of one analysis. GeoDataFrames are in the analysis' projected CRS."""

    cells: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame | None
    district_table: pd.DataFrame | None
    equity: pd.DataFrame
    theil: pd.DataFrame
    costs: pd.DataFrame
    catchments: gpd.GeoDataFrame | None
    summary: dict[str, Any]
    written: list = field(default_factory=list)


def _district_of(points: gpd.GeoSeries, districts: gpd.GeoDataFrame | None) -> np.ndarray:
    """Name of the district containing each point (first match), OUTSIDE when none."""
    out = np.full(len(points), OUTSIDE, dtype=object)
    if districts is None or len(points) == 0:
        return out
    pi, di = districts.sindex.query(points.values, predicate="within")
    if len(pi):
        first = pd.Series(di, index=pi).groupby(level=0).min()
        out[first.index.to_numpy()] = districts["district"].to_numpy()[first.to_numpy()]
    return out


def _urban_class(cells: gpd.GeoDataFrame, districts, urban_col: str | None) -> np.ndarray:
    if urban_col:
        if districts is not None and urban_col in districts.columns:
            lookup = districts.set_index("district")[urban_col]
            return cells["district"].map(lookup).fillna("unknown").astype(str).to_numpy()
        if urban_col in cells.columns:
            return cells[urban_col].astype(str).to_numpy()
    from geoequity.urban import degree_of_urbanisation

    return np.asarray(degree_of_urbanisation(cells, "population" if "population" in cells
                                             else "children")).astype(str)


def analyse(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, costs: pd.DataFrame, *,
            threshold: float, districts: gpd.GeoDataFrame | None = None,
            method: str = "2sfca", decay: str | None = None, decay_param: Any = None,
            max_cost: float | None = None, assignment: bool = True,
            urban_col: str | None = None) -> Results:
    """Run every stage of an analysis on read layers and a cost table.

    Parameters
    ----------
    cells
        Children per cell (``children`` column), ids in the index, projected CRS.
    schools
        Schools with ``seats``, ids in the index, same CRS.
    costs
        Long table ``origin`` (cell id), ``destination`` (school id), ``cost``.
    threshold
        Walking (or riding, driving) threshold in cost units: a school is within reach when
        ``cost <= threshold``.
    districts
        Optional district polygons (``district`` column).
    method, decay, decay_param
        Accessibility measure for the ``access`` column (:func:`geoequity.accessibility`).
    max_cost
        Longest trip the capacity-constrained assignment may use (default: any in ``costs``).
    assignment
        Run the capacity-constrained assignment (default True).
    urban_col
        A districts or cells column holding urban/rural classes; by default the Degree of
        Urbanisation is computed from the grid.

    Returns
    -------
    Results
    """
    from geoequity.access import accessibility, cumulative, nearest, supply_ratio, two_stage_fca
    from geoequity.equity import spatial_equity

    demand = cells["children"].astype(float)
    supply = schools["seats"].astype(float)
    out = cells.copy()
    pts = representative_points(out)
    out["district"] = _district_of(pts, districts)
    if (out["district"] == OUTSIDE).any():
        n = int((out["district"] == OUTSIDE).sum())
        info(f"  {n} cell(s) lie outside every district: grouped as {OUTSIDE!r}")
    with step("accessibility"):
        near = nearest(costs, demand)
        out["nearest_id"] = near["nearest_id"]
        out["nearest_cost"] = near["nearest_cost"]
        out["beyond"] = ~(out["nearest_cost"] <= threshold)
        out["seats_within"] = cumulative(costs, supply, threshold, demand=demand)
        out["access"] = accessibility(costs, demand, supply, method=method,
                                      threshold=threshold, decay=decay, decay_param=decay_param)
        fca = out["access"] if method == "2sfca" else two_stage_fca(costs, demand, supply,
                                                                     threshold)
        share = float(supply.sum() / demand.sum()) if demand.sum() > 0 else np.nan
        out["access_index"] = fca / share
    no_access = int(out["access"].isna().sum())
    if no_access:
        info(f"  {no_access} cell(s) ({demand[out['access'].isna()].sum():,.0f} children) "
             f"reach no school within {threshold:g}: access is NaN (no access), not 0")
    sch = schools.copy()
    sch["district"] = _district_of(sch.geometry, districts)
    crowd = supply_ratio(costs, demand, supply, threshold)
    sch["children_within"] = crowd["children"].reindex(sch.index)
    sch["supply_ratio"] = crowd["seats_per_child"].reindex(sch.index)
    if assignment:
        from geoequity.assignment import capacity_assignment

        with step("capacity-constrained assignment"):
            res = capacity_assignment(costs, demand, supply, max_cost=max_cost)
        out["assigned"] = res.origins["assigned"].reindex(out.index).fillna(0.0)
        out["unassigned"] = res.origins["unassigned"].reindex(out.index).fillna(demand)
        out["school"] = res.origins["school"].reindex(out.index)
        for col in ("assigned", "spare", "overflow"):
            sch[col] = res.schools[col].reindex(sch.index)
        sch["utilisation"] = np.where(sch["seats"] > 0, sch["assigned"] / sch["seats"], np.nan)
        split = int(res.split_origins)
    else:
        split = 0
    with step("urban/rural classes"):
        out["urban"] = _urban_class(out, districts, urban_col)
    district_table = None
    if districts is not None:
        district_table = district_gaps(out, sch, threshold)
    equity, theil = spatial_equity(out, children_col="children", access_col="access",
                                   cost_col="nearest_cost",
                                   gap_col="unassigned" if assignment else None,
                                   groups=("district", "urban"), threshold=threshold)
    catchments = None
    try:
        from geoequity.catchments import nearest_catchments
    except ImportError:  # pragma: no cover - catchments not installed
        nearest_catchments = None
    if nearest_catchments is not None:
        with step("nearest-school catchments"):
            catchments = nearest_catchments(costs, out)
    children = float(demand.sum())
    summary = {
        "cells": len(out), "schools": len(sch), "children": children,
        "seats": float(supply.sum()),
        "seats_per_child": float(supply.sum() / children) if children else None,
        "threshold": threshold, "method": method,
        "children_beyond_threshold": float(demand[out["beyond"]].sum()),
        "cells_without_access": no_access,
        "children_unassigned": float(out["unassigned"].sum()) if assignment else None,
        "cells_split_between_schools": split,
    }
    return Results(cells=out, schools=sch, districts=districts, district_table=district_table,
                   equity=equity, theil=theil, costs=costs, catchments=catchments,
                   summary=summary)


def district_gaps(cells: pd.DataFrame, schools: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Seats against children per district (seats located in it, children living in it).

    Columns: ``children``, ``seats``, ``seats_per_child``, ``shortfall`` (children - seats,
    negative = spare seats), ``children_beyond`` (nearest school beyond the threshold),
    ``share_beyond``, ``assigned``, ``unassigned``, ``mean_nearest_cost`` (children-weighted),
    ``schools``. ``assigned + unassigned = children`` in every row.
    """
    w = cells["children"].astype(float)
    g = cells.assign(_beyond=w.where(cells["beyond"], 0.0),
                     _wcost=w * cells["nearest_cost"],
                     _wreach=w.where(cells["nearest_cost"].notna(), 0.0))
    agg = {"children": ("children", "sum"), "children_beyond": ("_beyond", "sum"),
           "_wcost": ("_wcost", "sum"), "_wreach": ("_wreach", "sum")}
    if "unassigned" in g:
        agg.update(assigned=("assigned", "sum"), unassigned=("unassigned", "sum"))
    table = g.groupby("district").agg(**agg)
    seats = schools.groupby("district")["seats"].agg(["sum", "size"])
    table = table.join(seats.rename(columns={"sum": "seats", "size": "schools"}), how="outer")
    table[["children", "seats", "children_beyond", "schools"]] = \
        table[["children", "seats", "children_beyond", "schools"]].fillna(0)
    table["seats_per_child"] = table["seats"] / table["children"].where(table["children"] > 0)
    table["shortfall"] = table["children"] - table["seats"]
    table["share_beyond"] = table["children_beyond"] / table["children"].where(
        table["children"] > 0)
    table["mean_nearest_cost"] = table["_wcost"] / table["_wreach"].where(table["_wreach"] > 0)
    cols = ["children", "seats", "seats_per_child", "shortfall", "children_beyond",
            "share_beyond", "mean_nearest_cost", "schools"]
    if "unassigned" in table:
        table[["assigned", "unassigned"]] = table[["assigned", "unassigned"]].fillna(0)
        cols += ["assigned", "unassigned"]
    table = table[cols]
    table.index.name = "district"
    total = table.sum(numeric_only=True)
    total["seats_per_child"] = total["seats"] / total["children"] if total["children"] else np.nan
    total["share_beyond"] = total["children_beyond"] / total["children"] if total["children"] \
        else np.nan
    wreach = g["_wreach"].sum()
    total["mean_nearest_cost"] = g["_wcost"].sum() / wreach if wreach else np.nan
    table.loc["(all)"] = total
    return table.reset_index()
