"""Score districts (attendance zones) against seats, travel and shape.

A district layer can be given three ways, all resolved by :func:`resolve_districts`:

- **polygons** (GeoDataFrame): a cell or school belongs to the district holding its
  representative point (:func:`geoequity.io.district_of`: a polygon cell's centroid, or a point
  on its surface when the centroid falls outside it; ties on a shared boundary go to the
  first district), or a school to the one a column names;
- **an assignment table** (Series or DataFrame: cell id -> district): the district geometry is
  the union of its cells (of their Voronoi cells when the cells are points);
- **a** :class:`~geoequity.districts.propose.ZoneProposal` from :func:`propose_zones`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoequity._errors import input_error
from geoequity._progress import info
from geoequity.districts.common import (
    ZoneProposal,
    cell_points,
    check_projected,
    count_column,
    nearest_cell,
)
from geoequity.districts.shape import hole_polygons, shape_metrics
from geoequity.io.districts import district_of
from geoequity.pairs import Pairs, as_pairs

__all__ = ["Membership", "resolve_districts", "evaluate_districts", "own_district_costs"]

COLUMNS = [
    "district", "cells", "children", "schools", "seats", "seats_per_child", "shortfall",
    "utilisation", "max_school_utilisation", "share_within_threshold", "mean_cost", "p90_cost",
    "children_no_school", "contiguous", "parts", "holes", "children_in_holes", "polsby_popper",
    "reock", "convex_hull_ratio", "area_km2",
]


@dataclass
class Membership:
    """Which district each cell and each school belongs to.

    Attributes
    ----------
    cell
        District label per cell (index: cell id, in the order of ``cells``); NA when none.
    school
        District label per school (index: school id); NA when none.
    names
        District labels in output order.
    geometry
        District (multi)polygons indexed by label, or None when the cells are points and the
        districts came as a table.
    source
        ``"polygons"``, ``"table"`` or ``"zones"``.
    """

    cell: pd.Series
    school: pd.Series
    names: pd.Index
    geometry: gpd.GeoSeries | None = None
    source: str = "polygons"
    notes: list[str] = field(default_factory=list)


def _clean_polygons(gdf: gpd.GeoDataFrame, label: pd.Series, source: str) -> gpd.GeoSeries:
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        info(f"  {source}: {int(missing.sum())} district(s) without geometry ignored")
    bad = ~missing & ~shapely.is_valid(geoms)
    if bad.any():
        info(f"  {source}: repaired {int(bad.sum())} invalid district geometr(ies)")
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    kind = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(kind, (3, 6, 7))
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise input_error(source, f"district {label.iloc[row]!r} is a "
                          f"{shapely.get_type_id(geoms[row])} geometry, not a polygon",
                          "give districts as polygons or as a cell -> district table")
    geoms = shapely.get_parts(geoms[~missing], return_index=True)
    parts, owner = geoms
    keep = shapely.get_type_id(parts) == 3
    labels = label.to_numpy()[~missing][owner[keep]]
    s = gpd.GeoSeries(parts[keep], crs=gdf.crs)
    merged = s.groupby(labels, sort=False).agg(lambda x: shapely.union_all(x.values))
    if label.duplicated().any():
        info(f"  {source}: {int(label.duplicated().sum())} row(s) share a district name; "
             "dissolved by name")
    return gpd.GeoSeries(merged.values, index=pd.Index(merged.index.astype(str), name="district"),
                         crs=gdf.crs)


def _labels_from_column(values: pd.Series) -> pd.Series:
    out = values.astype("string")
    return out.where(values.notna() & (out.str.strip() != ""))


def _schools_named(geometry_table: pd.DataFrame, schools: gpd.GeoDataFrame, schools_col: str,
                   labels: pd.Series) -> pd.Series:
    """Schools listed (``;``-separated ids) in a column of the district table."""
    out = pd.Series(pd.NA, index=schools.index, dtype="string")
    key = pd.Index(schools.index.astype(str))
    for lab, cell in zip(labels, geometry_table[schools_col], strict=True):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            continue
        for sid in str(cell).split(";"):
            pos = key.get_indexer([sid.strip()])[0]
            if pos >= 0:
                out.iloc[pos] = lab
    return out


def _from_polygons(cells, schools, districts, district_col, school_lab, schools_col, source,
                   points) -> Membership:
    """Membership from district polygons: each cell and school in the district holding its
    representative point (:func:`geoequity.io.district_of`)."""
    check_projected(districts, source)
    if districts.crs != cells.crs:
        districts = districts.to_crs(cells.crs)
    col = district_col or ("district" if "district" in districts.columns else None)
    if col is not None and col not in districts.columns:
        cols = [c for c in districts.columns if c != districts.geometry.name]
        raise input_error(source, f"has no district column {col!r}",
                          f"choose one of: {', '.join(map(str, cols))}")
    label = pd.Series(districts[col].to_numpy() if col else districts.index.to_numpy())
    if label.isna().any():
        row = int(np.flatnonzero(label.isna().to_numpy())[0])
        raise input_error(source, f"district in row {row + 1} has no name",
                          "give every district a name")
    label = label.astype(str)
    geom = _clean_polygons(districts, label, source)
    names = geom.index
    pts = gpd.GeoSeries(cell_points(cells) if points is None else points, index=cells.index,
                        crs=cells.crs)
    cell_lab = district_of(pts, geom, outside=None).astype("string")
    if school_lab is None and schools_col in districts.columns:
        school_lab = _schools_named(districts, schools, schools_col, label)
    if school_lab is None:
        school_lab = district_of(schools, geom, outside=None).astype("string")
    return Membership(cell=cell_lab, school=school_lab, names=names, geometry=geom)


def resolve_districts(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, districts, *,
                      district_col: str | None = None, school_district_col: str | None = None,
                      schools_col: str = "schools", source: str = "districts",
                      points: np.ndarray | None = None,
                      cell_polygons: gpd.GeoSeries | None = None) -> Membership:
    """Find the district of every cell and school.

    Parameters
    ----------
    cells
        Cells (Point or Polygon), projected CRS in metres, id in the index.
    schools
        School points, same CRS, id in the index.
    districts
        District polygons (GeoDataFrame), an assignment table (Series cell id -> district, or a
        DataFrame with ``district_col`` indexed by cell id) or a ``ZoneProposal``.
    district_col
        Column with the district label. Default: ``district`` when present, else the index.
    school_district_col
        Column of ``schools`` naming each school's district (overrides containment).
    schools_col
        Column of a district layer listing its school ids separated by ``;`` (used when
        present; :func:`propose_zones` writes it).
    source
        Name used in messages (file name).
    points
        Precomputed cell points (:func:`~geoequity.districts.common.cell_points`; speeds up
        repeated calls).
    cell_polygons
        Precomputed outlines of point cells (``cells_from_points``), for table districts.

    Returns
    -------
    Membership
    """
    if isinstance(districts, ZoneProposal):
        return Membership(cell=districts.assignment.reindex(cells.index).astype("string"),
                          school=districts.school_zone.reindex(schools.index).astype("string"),
                          names=pd.Index(districts.zones.index.astype(str)),
                          geometry=districts.zones.geometry, source="zones")
    school_lab = None
    if school_district_col is not None:
        if school_district_col not in schools.columns:
            raise input_error("schools", f"has no district column {school_district_col!r}",
                              "name an existing column or leave it out to use containment")
        school_lab = _labels_from_column(schools[school_district_col])

    if isinstance(districts, gpd.GeoDataFrame) and districts.geometry.name in districts.columns:
        return _from_polygons(cells, schools, districts, district_col, school_lab, schools_col,
                              source, points)

    # an assignment table: cell id -> district
    if isinstance(districts, pd.DataFrame):
        col = district_col or "district"
        if col not in districts.columns:
            raise input_error(source, f"has no district column {col!r}",
                              f"choose one of: {', '.join(map(str, districts.columns))}")
        table = districts[col]
    elif isinstance(districts, pd.Series):
        table = districts
    else:
        raise input_error(source, f"districts of type {type(districts).__name__} are not "
                          "understood", "pass polygons, a cell -> district table or zones")
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()][0]
        raise input_error(source, f"cell {dup!r} is assigned to more than one district",
                          "give each cell one district")
    idx = table.index
    if not idx.isin(cells.index).any() and len(idx):
        table = pd.Series(table.to_numpy(), index=idx.astype(str))
        cells_key = cells.index.astype(str)
    else:
        cells_key = cells.index
    extra = ~table.index.isin(cells_key)
    if extra.any():
        info(f"  {source}: {int(extra.sum())} assigned cell id(s) are not in the cells; ignored")
    cell_lab = pd.Series(_labels_from_column(table).reindex(cells_key).to_numpy(),
                         index=cells.index, dtype="string")
    names = pd.Index(pd.unique(cell_lab.dropna().to_numpy()), dtype="string").astype(str)
    if school_lab is None:
        pos = nearest_cell(cells, schools)
        school_lab = pd.Series(cell_lab.to_numpy()[pos] if len(pos) else [], index=schools.index,
                               dtype="string")
    extra_names = pd.Index(school_lab.dropna().unique().astype(str)).difference(names)
    names = names.append(extra_names)
    geom = _table_outlines(cells, cell_lab, names, cell_polygons)
    return Membership(cell=cell_lab, school=school_lab, names=names, geometry=geom,
                      source="table")


def _table_outlines(cells, cell_lab, names, cell_polygons) -> gpd.GeoSeries | None:
    """District outlines of a cell table: union of polygon cells, or of the Voronoi cells of
    point cells; None when no outline can be built."""
    kind = shapely.get_type_id(cells.geometry.values)
    if len(cells) and np.isin(kind, (3, 6)).all():
        return dissolve_cells(cells.geometry, cell_lab, names)
    if len(cells) > 1 and (kind == 0).all():
        from geoequity.districts.shape import cells_from_points

        if cell_polygons is None:
            cell_polygons = cells_from_points(cells)
        return dissolve_cells(cell_polygons, cell_lab, names)
    return None


def dissolve_cells(geometry: gpd.GeoSeries, labels: pd.Series, names: pd.Index) -> gpd.GeoSeries:
    """Union of the cells of each district (coverage union: cells must not overlap)."""
    lab = labels.to_numpy()
    ok = pd.notna(lab)
    g = np.asarray(geometry.values, dtype=object)[ok]
    codes = pd.Index(names).get_indexer(lab[ok].astype(str))
    order = np.argsort(codes, kind="stable")
    g, codes = g[order], codes[order]
    bounds = np.searchsorted(codes, np.arange(len(names) + 1))
    out = np.empty(len(names), dtype=object)
    for k in range(len(names)):
        part = g[bounds[k]:bounds[k + 1]]
        if part.size == 0:
            out[k] = shapely.Polygon()
            continue
        try:
            out[k] = shapely.coverage_union_all(part)
        except shapely.errors.GEOSException:  # overlapping cells: fall back to a full union
            out[k] = shapely.union_all(part)
        if not shapely.is_valid(out[k]):
            out[k] = shapely.union_all(part)
    return gpd.GeoSeries(out, index=pd.Index(names, name="district"), crs=geometry.crs)


def own_district_costs(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, member: Membership,
                       costs: pd.DataFrame | Pairs | None,
                       points: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cost from each cell to the nearest school of its own district.

    Returns
    -------
    (cost, school_position)
        Arrays over cells: the cost (NaN when no school of the district is reachable, or the
        cell has no district) and the position in ``schools`` of that school (-1 when none).
        Without ``costs`` the straight-line distance in metres is used.
    """
    names = member.names
    ccode = names.get_indexer(member.cell.fillna("\0").astype(str))
    scode = names.get_indexer(member.school.fillna("\0").astype(str))
    n = len(cells)
    best = np.full(n, np.nan)
    best_school = np.full(n, -1)
    if costs is None:
        from scipy.spatial import cKDTree

        cxy = shapely.get_coordinates(cell_points(cells) if points is None else points)
        sxy = shapely.get_coordinates(np.asarray(schools.geometry.values, dtype=object))
        for k in np.unique(scode[scode >= 0]):
            smask = np.flatnonzero(scode == k)
            cmask = np.flatnonzero(ccode == k)
            if cmask.size == 0:
                continue
            d, j = cKDTree(sxy[smask]).query(cxy[cmask])
            best[cmask] = d
            best_school[cmask] = smask[j]
        return best, best_school
    p = as_pairs(costs, cells.index, schools.index)
    o, d, cost = p.origin, p.destination, p.cost
    same = (ccode[o] == scode[d]) & (ccode[o] >= 0)
    o, d, cost = o[same], d[same], cost[same]
    if o.size:
        order = np.lexsort((cost, o))
        o, d, cost = o[order], d[order], cost[order]
        first = np.r_[True, o[1:] != o[:-1]]
        best[o[first]] = cost[first]
        best_school[o[first]] = d[first]
    return best, best_school


def weighted_quantile(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, n: int,
                      q: float) -> np.ndarray:
    """Per-group weighted quantile: the smallest value whose cumulative weight share is >= q."""
    out = np.full(n, np.nan)
    ok = np.isfinite(values) & (codes >= 0) & (weights > 0)
    v, w, c = values[ok], weights[ok], codes[ok]
    if v.size == 0:
        return out
    order = np.lexsort((v, c))
    v, w, c = v[order], w[order], c[order]
    cw = np.cumsum(w)
    start = np.searchsorted(c, np.arange(n))
    end = np.searchsorted(c, np.arange(n), side="right")
    for k in np.flatnonzero(end > start):
        base = cw[start[k] - 1] if start[k] > 0 else 0.0
        share = (cw[start[k]:end[k]] - base) / (cw[end[k] - 1] - base)
        out[k] = v[start[k] + int(np.searchsorted(share, q - 1e-12))]
    return out


def evaluate_districts(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, districts,
                       costs: pd.DataFrame | Pairs | None = None, *, threshold: float,
                       children_col: str = "children", seats_col: str = "seats",
                       district_col: str | None = None, school_district_col: str | None = None,
                       schools_col: str = "schools", min_part_area: float = 0.0,
                       member: Membership | None = None,
                       source: str = "districts") -> pd.DataFrame:
    """Score each district: seats, travel to its own schools, shape and contiguity.

    Parameters
    ----------
    cells
        Cells (Polygon or Point) with ``children_col``, projected CRS in metres, id in index.
    schools
        School points with ``seats_col``, same CRS, id in the index.
    districts
        Polygons, a cell -> district table, or a ``ZoneProposal`` (see
        :func:`resolve_districts`).
    costs
        Long cost table ``origin`` (cell id), ``destination`` (school id), ``cost``, or the same
        already coded (:class:`geoequity.pairs.Pairs`). Pairs not in the table are
        unreachable. Default: straight-line distance in metres.
    threshold
        Walking threshold in the unit of ``costs`` (metres without costs): a child is "within"
        when a school of their own district is at ``cost <= threshold``.
    children_col, seats_col
        Children per cell and seats per school.
    district_col, school_district_col, schools_col
        See :func:`resolve_districts`.
    min_part_area
        Pieces smaller than this (m^2) do not count against contiguity.
    member
        A precomputed :class:`Membership` (skips the spatial joins).

    Returns
    -------
    pandas.DataFrame
        One row per district (index: district label) with the columns in ``COLUMNS``:
        ``children``, ``seats``, ``seats_per_child`` (seats/children), ``shortfall``
        (max(children - seats, 0)), ``utilisation`` (children/seats),
        ``max_school_utilisation`` (children sent to their nearest own-district school over its
        seats, largest in the district; schools at one place share in proportion to seats),
        ``share_within_threshold``, ``mean_cost`` and
        ``p90_cost`` (children-weighted, to the nearest own-district school, over children who
        reach one), ``children_no_school`` (children reaching no school of their district),
        ``contiguous``, ``parts``, ``holes``, ``children_in_holes`` (children of *other*
        districts living in this district's holes), ``polsby_popper``, ``reock``,
        ``convex_hull_ratio``, ``area_km2``. ``attrs`` hold ``unassigned_cells``,
        ``unassigned_children``, ``unassigned_schools`` and ``equity`` (the inequality
        summary of seats per child across districts, weighted by children).
    """
    return evaluate_with_costs(cells, schools, districts, costs, threshold=threshold,
                     children_col=children_col, seats_col=seats_col, district_col=district_col,
                     school_district_col=school_district_col, schools_col=schools_col,
                     min_part_area=min_part_area, member=member, source=source)[0]


def evaluate_with_costs(cells, schools, districts, costs, *, threshold, children_col="children",
              seats_col="seats", district_col=None, school_district_col=None,
              schools_col="schools", min_part_area=0.0, member=None, source="districts",
              points=None) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`evaluate_districts` that also returns each cell's own-district cost."""
    check_projected(cells, "cells")
    check_projected(schools, "schools")
    if schools.crs != cells.crs:
        schools = schools.to_crs(cells.crs)
    if points is None:
        points = cell_points(cells)
    children = count_column(cells, children_col, "cells")
    seats = count_column(schools, seats_col, "schools")
    if member is None:
        member = resolve_districts(cells, schools, districts, district_col=district_col,
                                   school_district_col=school_district_col,
                                   schools_col=schools_col, source=source, points=points)
    names = member.names
    n = len(names)
    ccode = names.get_indexer(member.cell.fillna("\0").astype(str))
    scode = names.get_indexer(member.school.fillna("\0").astype(str))
    kids = children.to_numpy()
    cap = seats.to_numpy()
    has_c, has_s = ccode >= 0, scode >= 0
    tot_kids = np.bincount(ccode[has_c], weights=kids[has_c], minlength=n)
    tot_seats = np.bincount(scode[has_s], weights=cap[has_s], minlength=n)
    best, best_school = own_district_costs(cells, schools, member, costs, points)
    reach = np.isfinite(best) & has_c
    within = reach & (best <= threshold)
    kw_within = np.bincount(ccode[within], weights=kids[within], minlength=n)
    kw_reach = np.bincount(ccode[reach], weights=kids[reach], minlength=n)
    cost_sum = np.bincount(ccode[reach], weights=(kids * np.nan_to_num(best))[reach], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        spc = np.where(tot_kids > 0, tot_seats / tot_kids, np.nan)
        util = np.where(tot_seats > 0, tot_kids / tot_seats, np.nan)
        share = np.where(tot_kids > 0, kw_within / tot_kids, np.nan)
        mean_cost = np.where(kw_reach > 0, cost_sum / kw_reach, np.nan)
    p90 = weighted_quantile(np.where(reach, best, np.nan), kids, ccode, n, 0.9)
    # children go to their nearest own-district school; schools at the same place (one site)
    # share their children in proportion to seats
    sxy = shapely.get_coordinates(np.asarray(schools.geometry.values, dtype=object))
    site = pd.DataFrame({"d": scode, "x": sxy[:, 0].round(3), "y": sxy[:, 1].round(3)})
    site_id = site.groupby(["d", "x", "y"], sort=False).ngroup().to_numpy()
    hit = best_school >= 0
    load = np.bincount(site_id[best_school[hit]], weights=kids[hit],
                       minlength=site_id.max() + 1 if len(site_id) else 0)
    site_cap = np.bincount(site_id, weights=cap, minlength=len(load))
    with np.errstate(divide="ignore", invalid="ignore"):
        school_util = np.where(site_cap[site_id] > 0, load[site_id] / site_cap[site_id],
                               np.where(load[site_id] > 0, np.inf, np.nan))
    max_util = np.full(n, np.nan)
    if has_s.any():
        su = pd.Series(school_util[has_s]).groupby(scode[has_s]).max()
        max_util[su.index.to_numpy()] = su.to_numpy()
    out = pd.DataFrame({
        "district": names.astype(str),
        "cells": np.bincount(ccode[has_c], minlength=n),
        "children": tot_kids,
        "schools": np.bincount(scode[has_s], minlength=n),
        "seats": tot_seats,
        "seats_per_child": spc,
        "shortfall": np.maximum(tot_kids - tot_seats, 0.0),
        "utilisation": util,
        "max_school_utilisation": max_util,
        "share_within_threshold": share,
        "mean_cost": mean_cost,
        "p90_cost": p90,
        "children_no_school": tot_kids - kw_reach,
    }, index=pd.Index(names.astype(str), name="district_id"))
    shape = _shape_columns(points, member, kids, ccode, n, min_part_area)
    out = pd.concat([out, shape.set_index(out.index)], axis=1)[COLUMNS]
    _attach_attrs(out, member, kids, has_c, has_s)
    return out, np.where(has_c, best, np.nan)


def _shape_columns(pts, member: Membership, kids, ccode, n, min_part_area) -> pd.DataFrame:
    cols = ["contiguous", "parts", "holes", "children_in_holes", "polsby_popper", "reock",
            "convex_hull_ratio", "area_km2"]
    if member.geometry is None:
        out = pd.DataFrame(np.nan, index=range(n), columns=cols)
        out["contiguous"] = pd.array([pd.NA] * n, dtype="boolean")
        return out
    geom = member.geometry.reindex(member.names)
    sm = shape_metrics(geom, min_part_area=min_part_area).reset_index(drop=True)
    holes, owner = hole_polygons(geom)
    in_holes = np.zeros(n)
    if holes.size:
        hi, ci = shapely.STRtree(pts).query(holes, predicate="contains")
        other = ccode[ci] != owner[hi]
        pair = pd.DataFrame({"d": owner[hi][other], "c": ci[other]}).drop_duplicates()
        in_holes = np.bincount(pair["d"], weights=kids[pair["c"]], minlength=n)
    sm["children_in_holes"] = in_holes
    sm["contiguous"] = sm["contiguous"].astype("boolean")
    return sm[cols]


def _attach_attrs(out: pd.DataFrame, member: Membership, kids, has_c, has_s) -> None:
    from geoequity.equity import inequality_summary

    n_un = int((~has_c).sum())
    out.attrs["unassigned_cells"] = n_un
    out.attrs["unassigned_children"] = float(kids[~has_c].sum())
    out.attrs["unassigned_schools"] = [str(s) for s in member.school.index[~has_s]]
    if n_un:
        info(f"  {n_un} cell(s) ({kids[~has_c].sum():.0f} children) lie in no district")
    if (~has_s).any():
        info(f"  {int((~has_s).sum())} school(s) lie in no district")
    spc = out["seats_per_child"].to_numpy(dtype=float)
    out.attrs["equity"] = inequality_summary(spc, out["children"].to_numpy(dtype=float))
