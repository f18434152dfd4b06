"""Candidate sites: generated in underserved areas with a minimum spacing between them."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geoequity._errors import input_error


def _xy(gdf, what: str) -> np.ndarray:
    import shapely

    if gdf.crs is None or not gdf.crs.is_projected:
        raise input_error(what, "needs a projected CRS in metres",
                          "read it with geoequity.read_* or call .to_crs(<UTM zone>)")
    geom = gdf.geometry.to_numpy()
    bad = shapely.is_missing(geom) | shapely.is_empty(geom)
    if bad.any():
        raise input_error(what, f"{int(bad.sum())} rows have no geometry, e.g. id "
                          f"{gdf.index[bad][0]!r}", "drop or fix those rows")
    pts = shapely.point_on_surface(shapely.make_valid(geom))
    return shapely.get_coordinates(pts)


def generate_candidates(demand, *, min_spacing: float, method: Literal[
        "cells", "grid", "points"] = "cells", weight: str | pd.Series = "children",
        points=None, underserved: pd.Series | None = None, existing=None,
        min_distance_existing: float | None = None, max_candidates: int | None = None,
        prefix: str = "cand_"):
    """Generate candidate school sites in underserved areas, at least ``min_spacing`` apart.

    Each possible site gets a priority, the children (``weight``) of underserved demand
    within ``min_spacing`` metres; sites are accepted greedily by priority and every site
    closer than ``min_spacing`` to an accepted one is dropped (a Poisson-disc thinning), so
    candidates sit where unserved children are densest.

    Parameters
    ----------
    demand
        GeoDataFrame of demand (cells or points) indexed by id, projected CRS in metres.
    min_spacing
        Minimum distance between two candidates, metres (also the priority radius).
    method
        ``"cells"``: the underserved demand cells' centroids; ``"grid"``: a square grid of
        ``min_spacing`` over the underserved demand; ``"points"``: the given ``points``
        (e.g. street network nodes, vacant parcels) within ``min_spacing`` of underserved
        demand.
    weight
        Column of ``demand`` (or a Series by id) with children.
    points
        GeoDataFrame of possible sites for ``method="points"``.
    underserved
        Boolean Series by demand id (True = underserved, e.g. ``access.isna()`` or a seat gap);
        default all demand with children > 0.
    existing
        GeoDataFrame of existing schools; with ``min_distance_existing`` candidates closer than
        that to a school are dropped.
    max_candidates
        Keep at most this many (highest priority).
    prefix
        Prefix of the generated ids (``cand_0``, ``cand_1``, ...).

    Returns
    -------
    geopandas.GeoDataFrame
        Points indexed by ``candidate`` id with columns ``candidate``, ``priority`` (children
        within ``min_spacing``), in the demand's CRS, sorted by priority.
    """
    import geopandas as gpd

    if not min_spacing > 0:
        raise input_error("min_spacing", "must be greater than 0 metres", "pass e.g. 800")
    xy = _xy(demand, "demand")
    w = demand[weight] if isinstance(weight, str) else pd.Series(weight).reindex(demand.index)
    if isinstance(weight, str) and weight not in demand.columns:
        raise input_error("demand", f"no column {weight!r}", "name the children column")
    w = pd.to_numeric(w, errors="coerce").fillna(0.0).clip(lower=0).to_numpy(dtype=float)
    mask = w > 0
    if underserved is not None:
        mask &= pd.Series(underserved).reindex(demand.index).fillna(False).to_numpy(dtype=bool)
    if not mask.any():
        return gpd.GeoDataFrame({"candidate": [], "priority": []},
                                geometry=gpd.GeoSeries([], crs=demand.crs), crs=demand.crs)
    dxy, dw = xy[mask], w[mask]
    tree = cKDTree(dxy)
    if method == "cells":
        site = dxy
    elif method == "grid":
        lo, hi = dxy.min(axis=0), dxy.max(axis=0)
        gx = np.arange(lo[0], hi[0] + min_spacing, min_spacing)
        gy = np.arange(lo[1], hi[1] + min_spacing, min_spacing)
        site = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    elif method == "points":
        if points is None:
            raise input_error("points", "method='points' needs points=", "pass a point layer")
        site = _xy(points.to_crs(demand.crs), "points")
    else:
        raise input_error("method", f"unknown method {method!r}", "use cells, grid or points")
    near = tree.query_ball_point(site, r=min_spacing, return_length=False)
    prio = np.array([dw[k].sum() if len(k) else 0.0 for k in near])
    keep = prio > 0
    if existing is not None and min_distance_existing:
        ex = _xy(existing.to_crs(demand.crs), "existing")
        dist, _ = cKDTree(ex).query(site, k=1)
        keep &= dist >= min_distance_existing
    site, prio = site[keep], prio[keep]
    order = np.argsort(-prio, kind="stable")
    site, prio = site[order], prio[order]
    stree = cKDTree(site)
    taken = np.zeros(len(site), bool)
    dropped = np.zeros(len(site), bool)
    for k in range(len(site)):
        if dropped[k]:
            continue
        taken[k] = True
        dropped[stree.query_ball_point(site[k], r=min_spacing * (1 - 1e-9))] = True
        if max_candidates is not None and taken.sum() >= max_candidates:
            break
    site, prio = site[taken], prio[taken]
    ids = [f"{prefix}{k}" for k in range(len(site))]
    out = gpd.GeoDataFrame({"candidate": ids, "priority": prio},
                           geometry=gpd.points_from_xy(site[:, 0], site[:, 1]), crs=demand.crs,
                           index=pd.Index(ids))   # unnamed: the column holds the id
    out.attrs["id_col"] = "candidate"
    return out
