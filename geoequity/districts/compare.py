"""Compare district proposals side by side against the current boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geoequity._errors import input_error
from geoequity._progress import step
from geoequity.districts.common import cell_points, check_projected, count_column
from geoequity.districts.evaluate import (
    Membership,
    evaluate_with_costs,
    resolve_districts,
    weighted_quantile,
)
from geoequity.pairs import Pairs, as_pairs

__all__ = ["ComparisonResult", "compare_districts", "district_moves"]


@dataclass
class ComparisonResult:
    """Proposals side by side.

    Attributes
    ----------
    table
        One row per measure (index ``metric``), one column per proposal (the first is the
        current boundary).
    districts
        Per proposal, the :func:`evaluate_districts` table.
    moves
        Per proposal, the cells that change district against the first: columns ``cell``,
        ``from_district``, ``to_district``, ``children``.
    school_moves
        Per proposal, the schools that change district: ``school``, ``from_district``,
        ``to_district``.
    summary
        A few lines per proposal on balance, travel and disruption.
    layers
        Per proposal, a GeoDataFrame of district polygons with their scores (for
        ``geoequity.maps.make_map(..., proposals=layers)``); proposals without geometry are
        left out.
    """

    table: pd.DataFrame
    districts: dict[str, pd.DataFrame]
    moves: dict[str, pd.DataFrame]
    school_moves: dict[str, pd.DataFrame]
    summary: str
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def _home_by_schools(current: Membership, proposal: Membership, seats: pd.Series,
                     children: pd.Series) -> dict[str, str]:
    """Current district of each proposal district: where most of its seats are (else where
    most of its children live now)."""
    s = pd.DataFrame({"p": proposal.school, "c": current.school,
                      "seats": seats.reindex(proposal.school.index).to_numpy() + 1e-9}).dropna()
    home = {}
    if len(s):
        g = s.groupby(["p", "c"], observed=True)["seats"].sum().reset_index()
        g = g.sort_values(["p", "seats", "c"], ascending=[True, False, True])
        home = dict(zip(g.drop_duplicates("p")["p"], g.drop_duplicates("p")["c"], strict=True))
    rest = [p for p in proposal.names if p not in home]
    if rest:
        c = pd.DataFrame({"p": proposal.cell, "c": current.cell,
                          "k": children.to_numpy() + 1e-9}).dropna()
        c = c[c["p"].isin(rest)]
        g = c.groupby(["p", "c"], observed=True)["k"].sum().reset_index()
        g = g.sort_values(["p", "k", "c"], ascending=[True, False, True]).drop_duplicates("p")
        home.update(zip(g["p"], g["c"], strict=True))
    return {str(k): str(v) for k, v in home.items()}


def district_moves(current: Membership, proposal: Membership, children: pd.Series,
                   seats: pd.Series, *, match: str = "auto") -> dict:
    """Cells, children and schools that change district from ``current`` to ``proposal``.

    Parameters
    ----------
    current, proposal
        Memberships from :func:`resolve_districts` over the same cells and schools.
    children
        Children per cell (index: cell id, order of the memberships).
    seats
        Seats per school.
    match
        How proposal districts are identified with current ones: ``"name"`` (same label is
        the same district), ``"schools"`` (a proposal district *is* the current district that
        holds most of its seats; without schools, the one holding most of its children) or
        ``"auto"`` (``"name"`` when at least half of the proposal's labels exist in the
        current boundaries, else ``"schools"``).

    Returns
    -------
    dict
        ``moves`` (DataFrame of moved cells), ``school_moves`` (DataFrame), ``children_moved``,
        ``cells_moved``, ``schools_moved``, ``match`` (the rule used) and ``home`` (proposal
        label -> current label).
    """
    if match not in ("auto", "name", "schools"):
        raise input_error("match", f"unknown rule {match!r}", "use auto, name or schools")
    if match == "auto":
        shared = np.isin(proposal.names.astype(str), current.names.astype(str)).mean() \
            if len(proposal.names) else 1.0
        match = "name" if shared >= 0.5 else "schools"
    if match == "name":
        home = {str(p): str(p) for p in proposal.names}
    else:
        home = _home_by_schools(current, proposal, seats, children)
    to = proposal.cell.map(home).astype("string")
    frm = current.cell
    moved = (frm.notna() & proposal.cell.notna() & (to != frm)).fillna(False).to_numpy(bool)
    moves = pd.DataFrame({"cell": current.cell.index[moved],
                          "from_district": frm.to_numpy()[moved],
                          "to_district": proposal.cell.to_numpy()[moved],
                          "children": children.to_numpy()[moved]})
    sto = proposal.school.map(home).astype("string")
    sfrm = current.school.reindex(proposal.school.index)
    smoved = (sfrm.notna() & proposal.school.notna() & (sto != sfrm)).fillna(False)
    smoved = smoved.to_numpy(bool)
    school_moves = pd.DataFrame({"school": proposal.school.index[smoved],
                                 "from_district": sfrm.to_numpy()[smoved],
                                 "to_district": proposal.school.to_numpy()[smoved]})
    return {"moves": moves, "school_moves": school_moves,
            "children_moved": float(moves["children"].sum()), "cells_moved": int(moved.sum()),
            "schools_moved": int(smoved.sum()), "match": match, "home": home}


def _overall(table: pd.DataFrame, cell_cost: np.ndarray, kids: np.ndarray,
             threshold: float) -> dict:
    eq = table.attrs.get("equity", {})
    reach = np.isfinite(cell_cost)
    w = kids[reach]
    mean = float(np.sum(w * cell_cost[reach]) / w.sum()) if w.sum() > 0 else np.nan
    p90 = weighted_quantile(cell_cost, kids, np.where(reach, 0, -1), 1, 0.9)[0]
    total = kids.sum()
    return {
        "districts": len(table),
        "contiguous_districts": int(table["contiguous"].fillna(False).sum())
        if table["contiguous"].notna().any() else np.nan,
        "children": float(table["children"].sum()),
        "seats": float(table["seats"].sum()),
        "shortfall": float(table["shortfall"].sum()),
        "seats_per_child_min": float(table["seats_per_child"].min()),
        "seats_per_child_max": float(table["seats_per_child"].max()),
        "utilisation_max": float(table["utilisation"].max()),
        "gini_seats_per_child": eq.get("gini", np.nan),
        "theil_seats_per_child": eq.get("theil_t", np.nan),
        "cv_seats_per_child": eq.get("cv_weighted", np.nan),
        "share_within_threshold": float(kids[reach & (cell_cost <= threshold)].sum() / total)
        if total > 0 else np.nan,
        "mean_cost": mean,
        "p90_cost": float(p90),
        "children_no_school": float(table["children_no_school"].sum()),
        "children_in_holes": float(table["children_in_holes"].sum()),
        "polsby_popper_mean": float(table["polsby_popper"].mean()),
        "reock_mean": float(table["reock"].mean()),
        "convex_hull_ratio_mean": float(table["convex_hull_ratio"].mean()),
        "unassigned_cells": table.attrs.get("unassigned_cells", 0),
    }


def _summary_line(name: str, col: pd.Series, threshold: float, first: bool) -> str:
    def f(x, fmt="{:,.0f}"):
        return "n/a" if pd.isna(x) else fmt.format(x)

    contig = col["contiguous_districts"]
    lines = [
        f"{name}: {int(col['districts'])} districts"
        + ("" if pd.isna(contig) else f" ({int(contig)} in one piece)")
        + f"; {f(col['children'])} children, {f(col['seats'])} seats, shortfall "
          f"{f(col['shortfall'])}.",
        f"  balance: seats per child {f(col['seats_per_child_min'], '{:.2f}')}-"
        f"{f(col['seats_per_child_max'], '{:.2f}')} across districts (Gini "
        f"{f(col['gini_seats_per_child'], '{:.3f}')}).",
        f"  travel: {f(100 * col['share_within_threshold'], '{:.1f}')}% of children within "
        f"{threshold:g} of a school of their district; mean {f(col['mean_cost'])}, "
        f"90th percentile {f(col['p90_cost'])}.",
    ]
    if not first:
        lines.append(f"  disruption: {f(col['children_moved'])} children in "
                     f"{f(col['cells_moved'])} cells change district; "
                     f"{f(col['schools_moved'])} school(s) change district.")
    return "\n".join(lines)


def compare_districts(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, proposals: dict,
                      costs: pd.DataFrame | Pairs | None = None, *, threshold: float,
                      children_col: str = "children", seats_col: str = "seats",
                      district_col: str | None = None, school_district_col: str | None = None,
                      schools_col: str = "schools", match: str = "auto") -> ComparisonResult:
    """Evaluate several district proposals and compare each with the first (current) one.

    Parameters
    ----------
    cells, schools, costs, threshold, children_col, seats_col, district_col,
    school_district_col, schools_col
        As for :func:`evaluate_districts`.
    proposals
        ``{name: districts}``, in order; the first is the current boundary. Each value is
        polygons, a cell -> district table or a ``ZoneProposal``.
    match
        How districts of a proposal are identified with the current ones (see
        :func:`district_moves`).

    Returns
    -------
    ComparisonResult
    """
    if not proposals:
        raise input_error("proposals", "none given", "give the current districts and a proposal")
    kids = count_column(cells, children_col, "cells")
    seats = count_column(schools, seats_col, "schools")
    if schools.crs != cells.crs and schools.crs is not None:
        schools = schools.to_crs(cells.crs)
    check_projected(cells, "cells")
    if costs is not None:  # coded once for every proposal
        costs = as_pairs(costs, cells.index, schools.index)
    tables, moves, school_moves, layers, cols = {}, {}, {}, {}, {}
    current = None
    points = cell_points(cells)
    cell_polygons = None
    tables_given = any(isinstance(d, pd.Series) or (isinstance(d, pd.DataFrame) and not
                                                    isinstance(d, gpd.GeoDataFrame))
                       for d in proposals.values())
    if tables_given and len(cells) > 1 and (cells.geom_type == "Point").all():
        from geoequity.districts.shape import cells_from_points

        cell_polygons = cells_from_points(cells)  # outlines of point cells, built once
    for k, (name, districts) in enumerate(proposals.items()):
        name = str(name)
        with step(f"evaluating {name}"):
            member = resolve_districts(cells, schools, districts, district_col=district_col,
                                       school_district_col=school_district_col,
                                       schools_col=schools_col, source=name, points=points,
                                       cell_polygons=cell_polygons)
            table, cell_cost = evaluate_with_costs(cells, schools, None, costs, threshold=threshold,
                                         children_col=children_col, seats_col=seats_col,
                                         member=member, source=name, points=points)
        col = _overall(table, cell_cost, kids.to_numpy(), threshold)
        if k == 0:
            current = member
            col.update(children_moved=0.0, cells_moved=0, schools_moved=0)
        else:
            mv = district_moves(current, member, kids, seats, match=match)
            moves[name] = mv["moves"]
            school_moves[name] = mv["school_moves"]
            col.update(children_moved=mv["children_moved"], cells_moved=mv["cells_moved"],
                       schools_moved=mv["schools_moved"])
        tables[name] = table
        cols[name] = col
        if member.geometry is not None:
            geom = member.geometry.reindex(table.index)
            layers[name] = gpd.GeoDataFrame(table.reset_index(drop=True),
                                            geometry=geom.to_numpy(), crs=cells.crs)
    table = pd.DataFrame(cols)
    table.index.name = "metric"
    summary = "\n".join(_summary_line(n, table[n], threshold, i == 0)
                        for i, n in enumerate(table.columns))
    return ComparisonResult(table=table, districts=tables, moves=moves,
                            school_moves=school_moves, summary=summary, layers=layers)
