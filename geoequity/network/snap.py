"""Snapping points to the nearest point of the nearest edge.

Each point joins the network at the closest point of the closest edge of the network's main
(largest connected) component. Edges are cut into straight pieces of at most twice the median
segment (20 to :data:`PIECE_LENGTH` metres); every point of a piece lies within ``h`` (half the
longest piece) of its midpoint, so the nearest midpoints bound the search and exact
point-segment distances pick the edge. With numba, a compiled search reads a grid of midpoint
cells ring by ring around each point (``geoequity.network._kernels.nearest_pieces``); points
farther than 1 km from every piece, and every point without numba, use a KD-tree of the
midpoints (K nearest, then a ball query of radius nearest + ``h``). Both are exact and equal an
R-tree nearest query on whole edges (tested). The result keeps, per point, the edge, the
fraction of the edge from its ``u`` end (the same value as ``shapely.line_locate_point /
length``), and the snap distance in metres.

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

import importlib.util
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geoequity.network.arrays import morton

if TYPE_CHECKING:  # annotations only: graph.py builds the snapping index through this module
    from geoequity.network.graph import Network

STATUSES = ("snapped", "moved_from_cutoff", "beyond_limit", "cutoff")
ON_NETWORK = ("snapped", "moved_from_cutoff")
PIECE_LENGTH = 100.0  # metres; longer straight segments are cut for the index
_K = 8  # nearest midpoints tried first
_SORT_ABOVE = 20_000  # points: queries in Z-order, on all cores
_RING_REACH = 1000.0  # metres searched by grid rings (numba) before the KD-tree takes over
_CROWDED = 48.0  # mean pieces per cell (weighted by pieces) above which rings give way
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
_USE_RINGS = True  # compiled grid-ring search when numba is installed (tests switch it off)


@dataclass
class _Pieces:
    """Straight pieces of edges: start ``a``, end ``b``, edge, offset along the edge (m)."""

    a: np.ndarray
    b: np.ndarray
    edge: np.ndarray
    offset: np.ndarray
    half: float
    tree: cKDTree
    # (x0, y0, cell size, nx, ny, cell_ptr, piece order, ax, ay, bx, by in that order): numba
    buckets: tuple | None = None


def _buckets(a: np.ndarray, b: np.ndarray, half: float):
    """File pieces under the grid cell of their midpoint (CSR over cells), for
    :func:`geoequity.network._kernels.nearest_pieces`.

    Cells are a piece long (``2h``), coarsened until there are at most four per piece (memory).
    When pieces then crowd their cells (more than :data:`_CROWDED` per cell on average, e.g.
    towns far apart in a large extract), the ring search would compare too many pieces per
    point: None, and the KD-tree serves.
    """
    if len(a) == 0:
        return None
    mid = (a + b) / 2.0
    lo = mid.min(axis=0)
    w, h = mid.max(axis=0) - lo
    cs = max(2.0 * half, 1.0)
    budget = 4 * len(a) + 1024
    while (w // cs + 1) * (h // cs + 1) > budget:
        cs *= 1.25
    nx, ny = int(w // cs) + 1, int(h // cs) + 1
    cell = (np.floor((mid[:, 0] - lo[0]) / cs).astype(np.int64) +
            np.floor((mid[:, 1] - lo[1]) / cs).astype(np.int64) * nx)
    occupancy = np.bincount(cell, minlength=nx * ny)
    if float((occupancy.astype(np.float64) ** 2).sum()) / len(a) > _CROWDED:
        return None
    ptr = np.zeros(nx * ny + 1, dtype=np.int64)
    np.cumsum(occupancy, out=ptr[1:])
    order = np.argsort(cell, kind="stable").astype(np.int64)
    # coordinates in cell order: a cell's pieces are contiguous in memory
    ends = [np.ascontiguousarray(v[order, k]) for v in (a, b) for k in (0, 1)]
    return (float(lo[0]), float(lo[1]), cs, nx, ny, ptr, order, *ends)


def pieces(net: Network, which: str) -> _Pieces:
    """The snapping index of ``net``'s edges (``which`` = "all" or "main"), cached on it."""
    return net.cached(("pieces", which), lambda: _build_pieces(net, which))


def _build_pieces(net: Network, which: str) -> _Pieces:
    edges = np.flatnonzero(net.main_edges) if which == "main" else np.arange(net.n_edges)
    # straight edges (two vertices, the usual case) come from the node coordinates; only
    # curved ones are unpacked from their geometries
    straight = shapely.get_num_coordinates(net.geometry[edges]) == 2
    es = edges[straight]
    a1 = np.column_stack([net.x[net.u[es]], net.y[net.u[es]]])
    b1 = np.column_stack([net.x[net.v[es]], net.y[net.v[es]]])
    # geometry ends may differ from node coordinates by rounding: use the geometry's own ends
    g1 = net.geometry[es]
    a1 = shapely.get_coordinates(shapely.get_point(g1, 0)) if len(es) and not np.allclose(
        a1[:100], shapely.get_coordinates(shapely.get_point(g1[:100], 0))) else a1
    b1 = shapely.get_coordinates(shapely.get_point(g1, -1)) if len(es) and not np.allclose(
        b1[:100], shapely.get_coordinates(shapely.get_point(g1[:100], -1))) else b1
    ec = edges[~straight]
    coords, line = shapely.get_coordinates(net.geometry[ec], return_index=True)
    same = line[1:] == line[:-1]
    a2, b2, e2 = coords[:-1][same], coords[1:][same], ec[line[:-1][same]]
    seg2 = np.hypot(*(b2 - a2).T)
    # offset of each segment's start along its line: cumulative length within the line
    cum = np.cumsum(seg2) - seg2
    first = np.r_[True, e2[1:] != e2[:-1]] if len(e2) else np.zeros(0, bool)
    start_of = np.maximum.accumulate(np.where(first, np.arange(len(e2)), 0)) if len(e2) \
        else np.zeros(0, np.int64)
    off2 = cum - cum[start_of] if len(e2) else cum
    a, b, e = np.vstack([a1, a2]), np.vstack([b1, b2]), np.concatenate([es, e2])
    seg = np.hypot(*(b - a).T)
    off = np.concatenate([np.zeros(len(es)), off2])
    # pieces of at most twice the median segment (20..100 m): the bound h below stays small
    # next to the street spacing, so the first K-nearest query settles most points
    piece = float(np.clip(2.0 * np.median(seg), 20.0, PIECE_LENGTH)) if len(seg) else PIECE_LENGTH
    npc = np.maximum(1, np.ceil(seg / piece)).astype(np.int64)
    if (npc == 1).all():  # nothing to cut (typical of city and grid networks)
        half = float(np.max(seg, initial=0.0)) / 2.0
        tree = (cKDTree((a + b) / 2.0, balanced_tree=False, compact_nodes=False)
                if len(a) else None)
        return _Pieces(a, b, e, off, half, tree, _buckets(a, b, half) if HAVE_NUMBA else None)
    rep = np.repeat(np.arange(len(a)), npc)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(npc) - npc, npc)
    t0 = (k / npc[rep])[:, None]
    t1 = ((k + 1) / npc[rep])[:, None]
    d = (b - a)[rep]
    pa, pb = a[rep] + t0 * d, a[rep] + t1 * d
    poff = off[rep] + t0[:, 0] * seg[rep]
    half = float(np.max(np.hypot(*(pb - pa).T), initial=0.0)) / 2.0
    tree = (cKDTree((pa + pb) / 2.0, balanced_tree=False, compact_nodes=False)
            if len(pa) else None)
    return _Pieces(pa, pb, e[rep], poff, half, tree,
                   _buckets(pa, pb, half) if HAVE_NUMBA else None)


def _piece_distance(p: _Pieces, xy: np.ndarray, who: np.ndarray, cand: np.ndarray):
    """Distance from points ``xy[who]`` to pieces ``cand``; also the projection parameter and
    the squared piece length."""
    a = p.a[cand]
    ab = p.b[cand] - a
    ap = xy[who] - a
    l2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.divide(np.einsum("ij,ij->i", ap, ab), l2, out=np.zeros(len(l2)),
                          where=l2 > 0), 0.0, 1.0)
    d = np.hypot(ap[:, 0] - t * ab[:, 0], ap[:, 1] - t * ab[:, 1])
    return d, t, l2


def _nearest_rings(p: _Pieces, xy: np.ndarray, max_distance: float):
    """:func:`_nearest` by the compiled grid-ring search; points it leaves open (farther than
    ``_RING_REACH`` from every piece) go to the KD-tree."""
    from geoequity.network._kernels import announce_compile, nearest_pieces

    announce_compile()

    x0, y0, cs, nx, ny, ptr, order, ax, ay, bx, by = p.buckets
    bound = max_distance if np.isfinite(max_distance) else _RING_REACH
    max_r = int(np.ceil((bound + p.half) / cs)) + 1
    px = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    py = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    c, d, t = nearest_pieces(px, py, ax, ay, bx, by, x0, y0, cs, nx, ny, ptr, p.half + 1e-6,
                             max_r, order)
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.inf)
    ok = c >= 0
    cc = order[c[ok]]
    edge[ok] = p.edge[cc]
    ab = p.b[cc] - p.a[cc]
    pos[ok] = p.offset[cc] + t[ok] * np.hypot(ab[:, 0], ab[:, 1])
    dist[ok] = d[ok]
    open_ = np.flatnonzero(c == -2)
    if len(open_) and not np.isfinite(max_distance):
        e2, p2, d2 = _nearest(p, xy[open_], max_distance, in_order=True, rings=False)
        edge[open_], pos[open_], dist[open_] = e2, p2, d2
    return edge, pos, dist


def query_order(xy: np.ndarray) -> np.ndarray | None:
    """Z-order of many query points: neighbouring queries then read the same tree nodes or grid
    cells from memory (about 3x faster on a 200,000-point query); None for few points."""
    if len(xy) < _SORT_ABOVE:
        return None
    return np.argsort(morton(xy[:, 0], xy[:, 1]), kind="stable")


def _nearest(p: _Pieces, xy: np.ndarray, max_distance: float = np.inf, *,
             in_order: bool = False, rings: bool = True):
    """Nearest piece per point: (edge, position along edge in m, distance); -1/NaN if none."""
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.inf)
    if p.tree is None or n == 0:
        return edge, pos, dist
    order = None if in_order else query_order(xy)
    if order is not None:  # work in Z-order, scatter back at the end
        e_s, p_s, d_s = _nearest(p, xy[order], max_distance, in_order=True, rings=rings)
        edge[order], pos[order], dist[order] = e_s, p_s, d_s
        return edge, pos, dist
    if rings and p.buckets is not None and _USE_RINGS:
        return _nearest_rings(p, xy, max_distance)
    workers = -1 if n >= _SORT_ABOVE else 1
    # the K nearest midpoints: the answer is among them when the best exact distance is at
    # most (distance to the K-th midpoint - h); the unsettled try 4K, the rest a ball query
    todo = None
    m1 = None
    for kk in (_K, 4 * _K):
        kk = min(kk, len(p.edge))
        q = xy if todo is None else xy[todo]
        md, mi = p.tree.query(q, k=kk, workers=workers)
        md, mi = md.reshape(len(q), kk), mi.reshape(len(q), kk)
        if todo is None:
            m1 = md[:, 0]
            near = np.flatnonzero(m1 - p.half <= max_distance)
            md, mi, todo = md[near], mi[near], near
        who_k = np.repeat(todo, kk)
        d_k, t_k, l2_k = (v.reshape(len(todo), kk)
                          for v in _piece_distance(p, xy, who_k, mi.ravel()))
        settled = (d_k.min(axis=1) <= md[:, -1] - p.half) | (kk == len(p.edge))
        # ties: the lowest piece (not the tree's order), as the ball query and the rings do
        j = np.argmin(np.where(d_k == d_k.min(axis=1)[:, None], mi, np.iinfo(np.int64).max),
                      axis=1)[settled]
        rows = np.flatnonzero(settled)
        c = mi[rows, j]
        w = todo[settled]
        edge[w] = p.edge[c]
        pos[w] = p.offset[c] + t_k[rows, j] * np.sqrt(l2_k[rows, j])
        dist[w] = d_k[rows, j]
        todo = todo[~settled]
        if len(todo) == 0 or kk == len(p.edge):
            return edge, pos, dist
    rest = todo
    lists = p.tree.query_ball_point(xy[rest], m1[rest] + p.half + 1e-6, return_sorted=False)
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    cand = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64, count=lens.sum())
    who = np.repeat(rest, lens)
    d, t, l2 = _piece_distance(p, xy, who, cand)
    # per point, the candidate with the smallest distance (ties: lowest piece)
    order = np.lexsort((cand, d, who))
    firsts = order[np.r_[True, who[order][1:] != who[order][:-1]]]
    w = who[firsts]
    edge[w] = p.edge[cand[firsts]]
    pos[w] = p.offset[cand[firsts]] + t[firsts] * np.sqrt(l2[firsts])
    dist[w] = d[firsts]
    return edge, pos, dist


@dataclass
class Snap:
    """Snapping result as arrays (one entry per point, in input order); see :func:`snap_points`.

    ``code`` indexes :data:`STATUSES` (0 snapped, 1 moved_from_cutoff, 2 beyond_limit,
    3 cutoff).
    """

    edge: np.ndarray
    fraction: np.ndarray
    snap_distance: np.ndarray
    nearest_distance: np.ndarray
    code: np.ndarray

    @property
    def on_network(self) -> np.ndarray:
        return self.code <= 1

    def frame(self) -> pd.DataFrame:
        status = np.asarray(STATUSES, dtype=object)[self.code]
        return pd.DataFrame({"edge": self.edge, "fraction": self.fraction,
                             "snap_distance": self.snap_distance,
                             "nearest_distance": self.nearest_distance, "status": status})


def geometry_length(net: Network) -> np.ndarray:
    """Length of each edge geometry in CRS units (cached on the network)."""
    return net.cached(("geometry_length",), lambda: shapely.length(net.geometry))


def prepare_snapping(net: Network) -> None:
    """Build the snapping index now (both piece sets and the geometry lengths)."""
    pieces(net, "all")
    geometry_length(net)
    if not net.main_edges.all():
        pieces(net, "main")


def snap(net: Network, x: np.ndarray, y: np.ndarray, *, snap_limit: float = 500.0) -> Snap:
    """:func:`snap_points` as arrays (no DataFrame): what the cost search uses."""
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    n = len(xy)
    near_e, near_pos, near_d = _nearest(pieces(net, "all"), xy)
    main_e = net.main_edges
    edge = np.where(near_d <= snap_limit, near_e, -1)
    pos = np.where(edge >= 0, near_pos, np.nan)
    dist = np.where(edge >= 0, near_d, np.nan)
    code = np.full(n, 2, dtype=np.int8)  # beyond_limit
    on_main = (edge >= 0) & main_e[np.maximum(edge, 0)]
    code[on_main] = 0
    retry = np.flatnonzero((near_e >= 0) & ~main_e[np.maximum(near_e, 0)])
    if len(retry):
        e2, p2, d2 = _nearest(pieces(net, "main"), xy[retry], snap_limit)
        ok = d2 <= snap_limit
        # ties between a cut-off and a main edge at the same distance count as snapped
        tie = ok & np.isclose(d2, near_d[retry], rtol=0, atol=1e-9)
        edge[retry] = np.where(ok, e2, -1)
        pos[retry] = np.where(ok, p2, np.nan)
        dist[retry] = np.where(ok, d2, np.nan)
        code[retry] = np.where(tie, 0, np.where(ok, 1, np.where(near_d[retry] <= snap_limit,
                                                                  3, 2)))
    near_d[~np.isfinite(near_d)] = np.nan  # only when the network has no edge at all
    glen = geometry_length(net)[np.maximum(edge, 0)]
    frac = np.where(edge >= 0, np.clip(np.divide(pos, glen, out=np.zeros(n), where=glen > 0),
                                       0.0, 1.0), np.nan)
    return Snap(edge, frac, dist, near_d, code)


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
    return snap(net, x, y, snap_limit=snap_limit).frame()
