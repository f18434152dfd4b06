"""Snapping points to the nearest point of the nearest edge.

Each point joins the network at the closest point of the closest edge of the network's main
(largest connected) component: an STRtree nearest query on the edge geometries, then
``line_locate_point`` for the position along the edge. The result keeps, per point, the edge,
the fraction of the edge from its ``u`` end, and the snap distance (metres, straight line from
the point to the edge).

Status of each point (column ``status``):

``"snapped"``
    The nearest edge is in the main component and within ``snap_limit``.
``"moved_from_cutoff"``
    The nearest edge lies on a small component cut off from the rest (an island of footways,
    a private road); the point was snapped to the nearest main-component edge instead, which is
    within ``snap_limit``.
``"beyond_limit"``
    No edge of the main component is within ``snap_limit`` (e.g. a population cell outside the
    street extract).
``"cutoff"``
    The only edges within ``snap_limit`` belong to cut-off components.

The last two are *off-network*; :func:`geoequity.costs.travel_costs` handles them by its
``off_network`` rule and counts them in the returned table's ``attrs["snap"]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geoequity.network.graph import Network

STATUSES = ("snapped", "moved_from_cutoff", "beyond_limit", "cutoff")
ON_NETWORK = ("snapped", "moved_from_cutoff")


def _tree(net: Network, which: str):
    cache = net._csr  # piggy-back on the per-instance cache dict
    key = ("tree", which)
    if key not in cache:
        if which == "main":
            idx = np.flatnonzero(net.main_edges)
        else:
            idx = np.arange(net.n_edges)
        cache[key] = (shapely.STRtree(net.geometry[idx]), idx)
    return cache[key]


def snap_points(net: Network, x: np.ndarray, y: np.ndarray, *,
                snap_limit: float = 500.0) -> pd.DataFrame:
    """Snap points (coordinates in the network's CRS, metres) to the network.

    Parameters
    ----------
    net
        The network.
    x, y
        Point coordinates in ``net.crs``.
    snap_limit
        Largest snap distance in metres; farther points are off-network.

    Returns
    -------
    pandas.DataFrame
        One row per point, in input order: ``edge`` (edge position, -1 when off-network),
        ``fraction`` (0 at ``u`` .. 1 at ``v``), ``snap_distance`` (m, to the edge used, NaN
        when off-network), ``nearest_distance`` (m, to the nearest edge of any component) and
        ``status`` (see module docstring).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    pts = shapely.points(x, y)
    edge = np.full(n, -1, dtype=np.int64)
    frac = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    nearest = np.full(n, np.nan)
    nearest_main = np.zeros(n, dtype=bool)
    status = np.full(n, "beyond_limit", dtype=object)
    if n == 0:
        return pd.DataFrame({"edge": edge, "fraction": frac, "snap_distance": dist,
                             "nearest_distance": nearest, "status": status})
    tree_all, idx_all = _tree(net, "all")
    (pi, ti), d_all = tree_all.query_nearest(pts, return_distance=True, all_matches=False)
    nearest[pi] = d_all
    main_e = net.main_edges
    nearest_main[pi] = main_e[idx_all[ti]]
    tree_main, idx_main = _tree(net, "main")
    if len(idx_main):
        (pi, ti), d = tree_main.query_nearest(pts, max_distance=snap_limit,
                                              return_distance=True, all_matches=False)
        e = idx_main[ti]
        edge[pi] = e
        dist[pi] = d
        geoms = net.geometry[e]
        glen = shapely.length(geoms)
        pos = shapely.line_locate_point(geoms, pts[pi])
        frac[pi] = np.clip(np.divide(pos, glen, out=np.zeros_like(pos), where=glen > 0), 0, 1)
    on = edge >= 0
    # tie on distance: nearest edge of any component at the same distance counts as main
    tie = on & np.isclose(dist, nearest, rtol=0, atol=1e-9)
    status[on & (nearest_main | tie)] = "snapped"
    status[on & ~(nearest_main | tie)] = "moved_from_cutoff"
    status[~on & (nearest <= snap_limit)] = "cutoff"
    return pd.DataFrame({"edge": edge, "fraction": frac, "snap_distance": dist,
                         "nearest_distance": nearest, "status": status})
