"""Generate attendance zones: contiguous, compact, seat-balanced zones around the schools.

Model (docs/districts.md has the full statement). Cells ``i`` with children ``k_i``, zones
``z`` (one per school site, or per group of schools), candidate pairs ``(i, z)`` whose travel
cost ``c_iz`` (to the zone's nearest school) is at most ``min_z c_iz + max_increase``:

.. math::

    \\min \\sum_{iz} (k_i + \\delta) c_{iz} x_{iz}
    \\quad\\text{s.t.}\\quad \\sum_z x_{iz} = 1,\\;
    (1-\\tau) T_z \\le \\sum_i k_i x_{iz} \\le (1+\\tau) T_z,\\;
    x_{r(z) z} = 1,\\; x \\in \\{0,1\\}

plus contiguity, added lazily as cuts (Oehrlein & Haunert 2017 style separator constraints):
when a component ``C`` of zone ``z`` does not hold the zone's school cell, every ``i`` in ``C``
needs a neighbour of ``C`` in ``z``: ``x_iz <= sum_{j in N(C)} x_jz``. ``T_z`` is the zone's
seats (``balance="seats"``) or its seats scaled to the total number of children
(``balance="share"``). ``delta`` (a small weight per cell) keeps empty cells near their
school, which makes zones compact. With ``minimise_moves`` the children moved out of their
current district are minimised first, then travel (two solves).

Problems too large for the integer programme (``method="heuristic"``, or ``"auto"`` above
``mip_max_pairs`` candidate pairs) are solved by the documented heuristic: the LP relaxation
of the same model (a capacity-constrained assignment, HiGHS), rounded to each cell's largest
share, then contiguity repair (orphan pieces join the neighbouring zone that is cheapest to
reach) and a local search that moves boundary cells from over-full to under-full neighbouring
zones without disconnecting either.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from geoequity._errors import SolverError, input_error
from geoequity._options import option
from geoequity._progress import info, step
from geoequity.districts.common import (
    ZoneProposal,
    cell_points,
    check_projected,
    count_column,
    nearest_cell,
)
from geoequity.districts.evaluate import dissolve_cells, resolve_districts
from geoequity.districts.shape import cell_adjacency, cells_from_points, shape_metrics
from geoequity.equity import theil
from geoequity.pairs import Pairs, as_pairs

__all__ = ["OBJECTIVES", "ZoneProposal", "propose_zones", "zone_theil"]

#: what propose optimises: least travel, or an equity objective (docs/districts.md)
OBJECTIVES = ("travel", "maxmin_seats_per_child", "min_theil")


# ----------------------------------------------------------------------------------- inputs
def _sites(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame, seats: np.ndarray,
           school_zone: pd.Series | None) -> tuple[pd.Series, list[np.ndarray], list[str]]:
    """Zone label of each school, the root cells of each zone and the zone labels."""
    cpos = nearest_cell(cells, schools)
    if school_zone is None:
        # one zone per school site: schools in the same cell share a zone
        df = pd.DataFrame({"cell": cpos, "sid": schools.index.astype(str)})
        label = df.groupby("cell")["sid"].transform(lambda s: "+".join(s))
        zone = pd.Series(label.to_numpy(), index=schools.index, dtype="string")
    else:
        zone = school_zone.reindex(schools.index).astype("string")
        if zone.isna().any():
            sid = zone.index[zone.isna()][0]
            raise input_error("school_zone", f"school {sid!r} has no zone",
                              "give every school a zone label")
    zone = zone.where(seats > 0)  # schools without seats cannot anchor a zone
    labels = list(pd.unique(zone.dropna().to_numpy()))
    roots = []
    owner = {}
    for z, lab in enumerate(labels):
        cs = np.unique(cpos[(zone == lab).to_numpy(bool)])
        keep = []
        for c in cs:
            if c in owner:
                info(f"  cell {cells.index[c]!r} holds schools of zones {labels[owner[c]]!r} and "
                     f"{lab!r}; it stays in {labels[owner[c]]!r}")
                continue
            owner[c] = z
            keep.append(c)
        roots.append(np.asarray(keep, dtype=int))
    return zone, roots, labels


def _zone_costs(cells, schools, zone: pd.Series, labels: list[str], costs, max_increase,
                max_candidates: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Candidate (cell, zone, cost) triples: cost to the zone's nearest school, within
    ``max_increase`` of the cell's best zone."""
    from scipy.spatial import cKDTree

    zcode = pd.Index(labels).get_indexer(zone.fillna("\0").astype(str))
    n = len(cells)
    cxy = shapely.get_coordinates(cell_points(cells))
    sxy = shapely.get_coordinates(np.asarray(schools.geometry.values, dtype=object))
    stats = {}
    if costs is None:
        ok = np.flatnonzero(zcode >= 0)
        k = min(len(ok), max(max_candidates * 3, 8))
        d, j = cKDTree(sxy[ok]).query(cxy, k=k)
        d, j = d.reshape(n, -1), j.reshape(n, -1)
        ci = np.repeat(np.arange(n), d.shape[1])
        zi = zcode[ok][j.ravel()]
        cc = d.ravel()
    else:
        p = as_pairs(costs, cells.index, schools.index)
        o, s, cost = p.origin, p.destination, p.cost
        keep = zcode[s] >= 0
        ci, zi, cc = o[keep], zcode[s[keep]], cost[keep]
        missing = np.setdiff1d(np.arange(n), ci)
        stats["cells_without_route"] = int(missing.size)
        if missing.size:
            ci, zi, cc = _straight_line_pairs(missing, ci, zi, cc, o[keep], s[keep], cxy, sxy,
                                              zcode, max_candidates, stats)
    # min over each zone's schools
    df = pd.DataFrame({"i": ci, "z": zi, "c": cc})
    df = df.groupby(["i", "z"], sort=True, as_index=False)["c"].min()
    best = df.groupby("i")["c"].transform("min")
    inc = df["c"] - best
    keep = np.ones(len(df), dtype=bool)
    if max_increase is not None:
        keep &= (inc <= max_increase + 1e-9).to_numpy() | df["c"].isna().to_numpy()
    df = df[keep]
    rank = df.groupby("i")["c"].rank(method="first")
    trimmed = int((rank > max_candidates).sum())
    df = df[(rank <= max_candidates).to_numpy()]
    stats["candidates_trimmed"] = trimmed
    cost = df["c"].to_numpy()
    cost = np.where(np.isnan(cost), 0.0, cost)  # unreachable cells: one forced pair, no cost
    return df["i"].to_numpy(), df["z"].to_numpy(), cost, stats


def _straight_line_pairs(missing, ci, zi, cc, o, s, cxy, sxy, zcode, max_candidates, stats):
    """Candidate pairs for cells that reach no school in the cost table (beyond the routed
    ``max_cost``): their nearest zones by straight line, costed at straight line x the median
    detour of the routed pairs (cost per straight-line metre; 1 when nothing is routed), so
    they are placed like their routed neighbours instead of making the model infeasible."""
    from scipy.spatial import cKDTree

    dist = np.hypot(*(cxy[o] - sxy[s]).T)
    ok_d = dist > 0
    detour = float(np.median(cc[ok_d] / dist[ok_d])) if ok_d.any() else 1.0
    ok = np.flatnonzero(zcode >= 0)
    k = min(len(ok), max(max_candidates * 3, 8))
    d, j = cKDTree(sxy[ok]).query(cxy[missing], k=k)
    d, j = d.reshape(len(missing), -1), j.reshape(len(missing), -1)
    stats["detour_for_unrouted"] = round(detour, 4)
    info(f"  {missing.size} cell(s) reach no school within the routed cost limit; they are "
         f"offered their nearest zones by straight line x {detour:.3g} (the median detour of "
         "the routed pairs)")
    return (np.r_[ci, np.repeat(missing, d.shape[1])], np.r_[zi, zcode[ok][j.ravel()]],
            np.r_[cc, d.ravel() * detour])


# ------------------------------------------------------------------------------ components
def _components(adj: sparse.csr_matrix, assign: np.ndarray) -> np.ndarray:
    coo = adj.tocoo()
    same = assign[coo.row] == assign[coo.col]
    g = sparse.coo_matrix((np.ones(same.sum(), dtype=bool), (coo.row[same], coo.col[same])),
                          shape=adj.shape).tocsr()
    return csgraph.connected_components(g, directed=False)[1]


def _violations(adj, assign, roots, island=None,
                grid_comp=None) -> list[tuple[int, np.ndarray, bool]]:
    """(zone, cells of a component, holds_a_root) for every component that breaks contiguity.

    Judged inside each part of the grid (``grid_comp``, the connected components of the cell
    adjacency): a piece of a zone breaks contiguity when it is cut off from the zone's schools
    *in the same part* (or the zone has no school in that part). Pieces made only of
    ``island`` cells (parts of the grid touching no school) cannot join any school and are not
    counted; neither are zones whose schools stand in separate parts (reported apart).
    """
    comp = _components(adj, assign)
    if grid_comp is None:
        grid_comp = np.zeros(len(assign), dtype=int)
    out = []
    order = np.argsort(comp, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(comp[order])) + 1, len(comp)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        members = order[a:b]
        if island is not None and island[members].all():
            continue
        z = assign[members[0]]
        r = roots[z]
        r = r[grid_comp[r] == grid_comp[members[0]]]
        rc = set(comp[r].tolist())
        c = comp[members[0]]
        if c in rc and len(rc) == 1:
            continue
        out.append((int(z), members, c in rc))
    return out


# ------------------------------------------------------------------------------ MIP model
class _Model:
    def __init__(self, ci, zi, cc, kids, lo, hi, roots, n, nz, delta):
        self.ci, self.zi, self.cc = ci, zi, cc
        self.n, self.nz = n, nz
        v = len(ci)
        self.key = pd.Series(np.arange(v), index=pd.MultiIndex.from_arrays([ci, zi]))
        self.a_assign = sparse.csr_matrix((np.ones(v), (ci, np.arange(v))), shape=(n, v))
        self.a_bal = sparse.csr_matrix((kids[ci], (zi, np.arange(v))), shape=(nz, v))
        self.lo, self.hi = lo, hi
        self.lb = np.zeros(v)
        self.ub = np.ones(v)
        for z, r in enumerate(roots):
            if r.size:
                rows = np.isin(ci, r)
                self.ub[rows & (zi != z)] = 0.0
                self.lb[rows & (zi == z)] = 1.0
        self.travel = (kids[ci] + delta) * cc
        self.kids = np.zeros(n)
        self.kids[ci] = kids[ci]
        self.cut_rows: list[sparse.csr_matrix] = []
        self.cut_lo: list[float] = []
        self.cut_hi: list[float] = []
        self.extra = []  # (row, lo, hi) of objective bounds

    def pair(self, cells: np.ndarray, z: int) -> np.ndarray:
        idx = pd.MultiIndex.from_arrays([cells, np.full(len(cells), z)])
        pos = self.key.reindex(idx).to_numpy()
        return pos[~np.isnan(pos)].astype(int)

    def add_cut(self, adj, z: int, comp: np.ndarray, has_root: bool) -> None:
        nbr = np.setdiff1d(adj[comp].indices, comp)
        nvar = self.pair(nbr, z)
        v = len(self.ci)
        if has_root:  # the component must reach the zone's other root(s) through N(C)
            row = sparse.csr_matrix((np.ones(nvar.size), (np.zeros(nvar.size, int), nvar)),
                                    shape=(1, v))
            self.cut_rows.append(row)
            self.cut_lo.append(1.0)
            self.cut_hi.append(np.inf)
            return
        ivar = self.pair(comp, z)
        if ivar.size <= 64:
            rows, cols, vals = [], [], []
            for r, i in enumerate(ivar):
                rows += [r] * (1 + nvar.size)
                cols += [i, *nvar.tolist()]
                vals += [1.0] + [-1.0] * nvar.size
            self.cut_rows.append(sparse.csr_matrix((vals, (rows, cols)), shape=(ivar.size, v)))
            self.cut_lo += [-np.inf] * ivar.size
            self.cut_hi += [0.0] * ivar.size
        else:  # aggregated form for large components
            vals = np.r_[np.ones(ivar.size), -float(ivar.size) * np.ones(nvar.size)]
            row = sparse.csr_matrix((vals, (np.zeros(vals.size, int), np.r_[ivar, nvar])),
                                    shape=(1, v))
            self.cut_rows.append(row)
            self.cut_lo.append(-np.inf)
            self.cut_hi.append(0.0)

    def solve(self, objective, *, integral: bool, time_limit: float, gap: float,
              elastic: float | None = None, ratio: np.ndarray | None = None):
        """Solve with HiGHS. ``elastic``: penalty per child of balance violation (the balance
        bounds become soft through over/under slack variables), else hard bounds. ``ratio``
        (seats per zone): minimise ``u`` with every zone's children <= ``u`` x its seats (the
        largest children per seat; ``objective`` is then 0) and return ``u`` as ``res.u``."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        n, v, nz = self.n, len(self.ci), self.nz
        blocks = [self.a_assign, self.a_bal, *self.cut_rows, *[e[0] for e in self.extra]]
        lo = np.r_[np.ones(n), self.lo, self.cut_lo, [e[1] for e in self.extra]]
        hi = np.r_[np.ones(n), self.hi, self.cut_hi, [e[2] for e in self.extra]]
        a = sparse.vstack(blocks, format="csr")
        c = np.asarray(objective, dtype=float)
        lb, ub = self.lb, self.ub
        integrality = np.full(v, int(integral))
        if elastic is not None:
            eye = sparse.identity(nz, format="csr")
            slack = sparse.vstack([sparse.csr_matrix((n, 2 * nz)), sparse.hstack([eye, -eye]),
                                   sparse.csr_matrix((a.shape[0] - n - nz, 2 * nz))])
            a = sparse.hstack([a, slack], format="csr")
            c = np.r_[c, np.full(2 * nz, elastic)]
            lb, ub = np.r_[lb, np.zeros(2 * nz)], np.r_[ub, np.full(2 * nz, np.inf)]
            integrality = np.r_[integrality, np.zeros(2 * nz, dtype=int)]
        if ratio is not None:   # one more column u: a_bal x - u seats <= 0
            bal = sparse.hstack([self.a_bal, sparse.csr_matrix((nz, a.shape[1] - v))])
            a = sparse.vstack([
                sparse.hstack([a, sparse.csr_matrix((a.shape[0], 1))]),
                sparse.hstack([bal, sparse.csr_matrix(-np.asarray(ratio, float)
                                                      .reshape(-1, 1))])], format="csr")
            lo, hi = np.r_[lo, np.full(nz, -np.inf)], np.r_[hi, np.zeros(nz)]
            c = np.r_[c, 1.0]
            lb, ub = np.r_[lb, 0.0], np.r_[ub, np.inf]
            integrality = np.r_[integrality, 0]
        res = milp(c, integrality=integrality, bounds=Bounds(lb, ub),
                   constraints=LinearConstraint(a, lo, hi),
                   options={"time_limit": max(time_limit, 1.0), "mip_rel_gap": gap,
                            "disp": False})
        res.u = None
        if res.x is not None:
            if ratio is not None:
                res.u = float(res.x[-1])
            res.x = res.x[:v]
        return res

    def assignment(self, x: np.ndarray) -> np.ndarray:
        """Each cell's zone: the pair with the largest value (rounds an LP solution)."""
        order = np.lexsort((-x, self.ci))
        ci = self.ci[order]
        first = np.r_[True, ci[1:] != ci[:-1]]
        out = np.full(self.n, -1)
        out[ci[first]] = self.zi[order][first]
        return out


# -------------------------------------------------------------------------- heuristic
def _repair(adj, assign, roots, cost_of, limit_t, island=None) -> int:
    """Give every piece of a zone cut off from the zone's school to a neighbouring zone.

    Repeats: each orphan cell touching a cell anchored to its zone joins the adjacent zone it
    reaches at least cost. Returns the number of cells moved.
    """
    moved = 0
    while time.perf_counter() < limit_t:
        comp = _components(adj, assign)
        anchored = np.zeros(len(assign), dtype=bool)
        for z, r in enumerate(roots):
            if r.size:
                anchored |= np.isin(comp, comp[r]) & (assign == z)
        if island is not None:
            anchored |= island
        orphan = ~anchored
        if not orphan.any():
            return moved
        coo = adj.tocoo()
        m = orphan[coo.row] & anchored[coo.col]
        if not m.any():  # islands with no anchored neighbour: leave them
            return moved
        i, j = coo.row[m], coo.col[m]
        z = assign[j]
        c = cost_of(i, z)
        order = np.lexsort((c, i))
        i, z = i[order], z[order]
        first = np.r_[True, i[1:] != i[:-1]]
        assign[i[first]] = z[first]
        moved += int(first.sum())
    return moved


def _connected_without(adj, members: np.ndarray, drop: int) -> bool:
    keep = members[members != drop]
    if keep.size <= 1:
        return True
    sub = adj[keep][:, keep]
    return csgraph.connected_components(sub, directed=False)[0] == 1


def _local_search(adj, assign, roots, kids, lo, hi, target, cost_of, allowed, limit_t) -> int:
    """Move boundary cells between neighbouring zones until every zone is within its bounds.

    A move of cell ``i`` from zone ``a`` to a neighbouring zone ``b`` is accepted when it keeps
    ``a`` connected, stays within the travel cap (``allowed``) and lowers, lexicographically,
    (total violation of the bounds, sum of (load - target)^2 / target). The second term lets
    an over-full zone pass children on through a full neighbour (a chain), and the strict
    decrease guarantees the search ends. Among accepted moves the largest decrease wins, then
    the cheaper travel. Returns the number of moves.
    """
    nz = len(roots)
    is_root = np.zeros(len(assign), dtype=bool)
    for r in roots:
        is_root[r] = True
    load = np.bincount(assign, weights=kids, minlength=nz)
    tgt = np.where(target > 0, target, 1.0)

    def viol(x, z):
        return np.maximum(x - hi[z], 0) + np.maximum(lo[z] - x, 0)

    stuck: set[int] = set()
    moves = 0
    indptr, indices = adj.indptr, adj.indices
    while time.perf_counter() < limit_t:
        v = viol(load, np.arange(nz))
        v[list(stuck)] = 0
        if v.max() <= 1e-9:
            return moves
        z = int(np.argmax(v))
        members = np.flatnonzero(assign == z)
        over = load[z] > hi[z]
        if over:  # cells of z next to another zone
            src_cells = members[~is_root[members] & (kids[members] > 0)]
            pairs = [(i, assign[j]) for i in src_cells for j in indices[indptr[i]:indptr[i + 1]]
                     if assign[j] != z]
        else:  # cells of neighbours next to z
            nbrs = np.unique(np.concatenate([indices[indptr[i]:indptr[i + 1]] for i in members]))
            nbrs = nbrs[(assign[nbrs] != z) & ~is_root[nbrs] & (kids[nbrs] > 0)]
            pairs = [(j, z) for j in nbrs]
        if not pairs:
            stuck.add(z)
            continue
        pi = np.array([p[0] for p in pairs])
        pt = np.array([p[1] for p in pairs])
        pa = assign[pi]
        k = kids[pi]
        dv = (viol(load[pa] - k, pa) + viol(load[pt] + k, pt)
              - viol(load[pa], pa) - viol(load[pt], pt))
        dphi = ((load[pa] - k - target[pa]) ** 2 - (load[pa] - target[pa]) ** 2) / tgt[pa] \
            + ((load[pt] + k - target[pt]) ** 2 - (load[pt] - target[pt]) ** 2) / tgt[pt]
        ok = (dv < -1e-9) | ((dv <= 1e-9) & (dphi < -1e-9))
        ok &= np.array([allowed(i, t) for i, t in zip(pi, pt, strict=True)])
        done = False
        if ok.any():
            idx = np.flatnonzero(ok)
            d = cost_of(pi[idx], pt[idx])
            for q in idx[np.lexsort((d, dphi[idx], dv[idx]))][:25]:
                i, t, a = pi[q], pt[q], pa[q]
                if _connected_without(adj, np.flatnonzero(assign == a), i):
                    assign[i] = t
                    load[a] -= kids[i]
                    load[t] += kids[i]
                    moves += 1
                    done = True
                    stuck.clear()
                    break
        if not done:
            stuck.add(z)
    return moves


# ------------------------------------------------------------------- equity objectives
def _lift_worst(model: _Model, graph, zseats, *, integral: bool, deadline: float, mip_gap,
                max_rounds, status, stats) -> float | None:
    """First stage of ``maxmin_seats_per_child``: the least possible largest children per
    seat over the zones (the worst zone's seats per child is its inverse), then the balance
    bounds are tightened to it, so the travel stage keeps it.

    The integer programme adds contiguity cuts until the stage's zones are contiguous (or
    the rounds run out); the heuristic takes the LP relaxation's value (a bound, which the
    rounding and repair then follow as closely as they can). Returns ``u*`` (None when the
    solver found nothing; the balance bounds then stay as they were).
    """
    adj, roots, island, grid_comp = graph
    rounds = 0
    # travel as a tie-break worth at most 1e-6 of u in total: it guides the solver (an
    # objective of u alone leaves the LP degenerate and slow) without moving the optimum
    u0 = float(model.kids.sum() / zseats.sum())
    tie = 1e-6 * u0 * model.travel / max(float(model.travel.sum()), 1e-12)
    elastic = None
    while True:
        res = model.solve(tie, integral=integral, elastic=elastic,
                          time_limit=deadline - time.perf_counter(), gap=mip_gap, ratio=zseats)
        if res.status == 2 and not integral and elastic is None:
            # balance cannot hold (travel cap, candidates): soft bounds, as the travel LP
            elastic = 10.0 * (float(np.ptp(model.cc)) + 1.0) * 1.01
            continue
        _check_res(res, status)
        if res.x is None:
            status.append("the worst-zone stage found no solution; the zones balance travel "
                          "alone")
            return None
        if not integral:
            u = res.u
            break
        assign = model.assignment(res.x)
        viol = _violations(adj, assign, roots, island, grid_comp)
        load = np.bincount(assign, weights=model.kids, minlength=model.nz)
        u = float(np.max(load / zseats))
        if not viol or rounds >= max_rounds or time.perf_counter() > deadline - 1:
            if viol:
                status.append("the worst-zone stage stopped its contiguity cuts; its value "
                              "is a bound")
            break
        for z, comp, has_root in viol:
            model.add_cut(adj, z, comp, has_root)
            stats["cuts"] += 1
        rounds += 1
    stats["worst_children_per_seat"] = u
    model.hi = np.minimum(model.hi, u * zseats * (1 + 1e-9) + 1e-9)
    model.lo = np.minimum(model.lo, model.hi)
    return u


def zone_theil(load: np.ndarray, zseats: np.ndarray) -> float:
    """Theil T of seats per child across zones, weighted by children (the index over the
    children, each at its zone's seats per child): sum_z (S_z / S) ln((S_z / K_z) / (S / K)).
    ``inf`` when a zone with seats has no child."""
    if np.any((load <= 0) & (zseats > 0)):
        return float("inf")
    live = load > 0
    return float(theil(zseats[live] / load[live], load[live]).total)


def _theil_search(adj, assign, roots, kids, lo, hi, zseats, allowed, limit_t) -> int:
    """Move boundary cells between neighbouring zones while the Theil T of seats per child
    across zones falls (``min_theil``; a local search from the travel solution).

    With ``T = sum_z (S_z / S) ln(S_z K / (K_z S))``, moving ``k`` children from zone ``a``
    to ``b`` changes it by ``(S_a / S) ln(K_a / (K_a - k)) - (S_b / S) ln((K_b + k) / K_b)``.
    A move must not cut ``a`` into more pieces (so contiguity holds), keep both zones within
    their balance bounds (or no further outside them), use a candidate pair (the travel cap)
    and leave ``a`` not empty; the best move is made, until none lowers ``T`` or the time is
    up.
    """
    is_root = np.zeros(len(assign), dtype=bool)
    for r in roots:
        is_root[r] = True
    nz = len(zseats)
    load = np.bincount(assign, weights=kids, minlength=nz)
    S = float(zseats.sum())
    coo = adj.tocoo()
    moves = 0

    def viol(x, z):
        return np.maximum(x - hi[z], 0) + np.maximum(lo[z] - x, 0)

    while time.perf_counter() < limit_t:
        i, j = coo.row, coo.col
        a, b = assign[i], assign[j]
        m = (a != b) & ~is_root[i] & (kids[i] > 0)
        i, a, b = i[m], a[m], b[m]
        k = kids[i]
        ok = (load[a] - k > 1e-9) & (load[b] > 0)
        i, a, b, k = i[ok], a[ok], b[ok], k[ok]
        gain = (zseats[a] / S) * np.log(load[a] / (load[a] - k)) \
            - (zseats[b] / S) * np.log((load[b] + k) / load[b])
        dv = viol(load[a] - k, a) + viol(load[b] + k, b) - viol(load[a], a) - viol(load[b], b)
        good = (gain < -1e-12) & (dv <= 1e-9)
        done = False
        for q in np.flatnonzero(good)[np.argsort(gain[good], kind="stable")][:200]:
            c, za, zb = int(i[q]), int(a[q]), int(b[q])
            if not allowed(c, zb) or not _no_new_piece(adj, np.flatnonzero(assign == za), c):
                continue
            assign[c] = zb
            load[za] -= kids[c]
            load[zb] += kids[c]
            moves += 1
            done = True
            break
        if not done:
            break
    return moves


def _no_new_piece(adj, members: np.ndarray, drop: int) -> bool:
    """Whether taking ``drop`` out of a zone leaves it in no more pieces than it was (a zone
    holding island cells is several pieces already; the move must not cut it further)."""
    keep = members[members != drop]
    if keep.size <= 1:
        return True
    before = csgraph.connected_components(adj[members][:, members], directed=False)[0]
    return csgraph.connected_components(adj[keep][:, keep], directed=False)[0] <= before


def _pairs(cells, schools, zone, labels, roots, costs, max_increase, max_candidates):
    """Candidate pairs sorted by cell then zone; every root cell is a candidate of its zone."""
    ci, zi, cc, cstats = _zone_costs(cells, schools, zone, labels, costs, max_increase,
                                     max_candidates)
    for z, r in enumerate(roots):
        missing = r[~np.isin(r, ci[zi == z])]
        if missing.size:
            ci, zi = np.r_[ci, missing], np.r_[zi, np.full(missing.size, z)]
            cc = np.r_[cc, np.zeros(missing.size)]
    order = np.lexsort((zi, ci))
    return ci[order], zi[order], cc[order], cstats


def _grid(polys, roots, labels, queen, status):
    """Cell adjacency, its connected parts, island cells and zones split across parts."""
    adj = cell_adjacency(polys, queen=queen)
    grid_comp = csgraph.connected_components(adj, directed=False)[1]
    school_parts = np.unique(np.concatenate([grid_comp[r] for r in roots]))
    island = ~np.isin(grid_comp, school_parts)
    if island.any():
        status.append(f"{int(island.sum())} cell(s) lie in parts of the grid that touch no "
                      "school; they join a zone but cannot be contiguous with it")
    split = [labels[z] for z, r in enumerate(roots) if np.unique(grid_comp[r]).size > 1]
    if split:
        status.append(f"{len(split)} zone(s) have schools in separate parts of the grid and "
                      f"cannot be one piece: {', '.join(map(str, split[:5]))}")
    return adj, grid_comp, island, split


def _check_options(cells, balance, method, tolerance, objective="travel") -> None:
    if objective not in OBJECTIVES:
        raise input_error(option("objective"), f"unknown objective {objective!r}",
                          f"use one of {', '.join(OBJECTIVES)}")
    if balance not in ("seats", "share"):
        raise input_error(option("balance"), f"unknown rule {balance!r}", "use seats or share")
    if method not in ("auto", "mip", "heuristic"):
        raise input_error(option("method"), f"unknown method {method!r}",
                          "use auto, mip or heuristic")
    if not 0 <= tolerance:
        raise input_error(option("tolerance"), f"must be >= 0, got {tolerance}",
                          "e.g. 0.15 for 15 %")
    if cells.index.has_duplicates:
        raise input_error("cells", "duplicate cell ids", "make cell ids unique")


# ----------------------------------------------------------------------------- main entry
def propose_zones(cells: gpd.GeoDataFrame, schools: gpd.GeoDataFrame,
                  costs: pd.DataFrame | Pairs | None = None, *, tolerance: float = 0.15,
                  max_increase: float | None = None, current=None,
                  minimise_moves: bool = False, time_limit: float = 60.0,
                  children_col: str = "children", seats_col: str = "seats",
                  balance: str = "seats", method: str = "auto",
                  school_zone: pd.Series | None = None, mip_max_pairs: int = 5_000,
                  max_candidates: int = 8, mip_gap: float = 1e-3, max_rounds: int = 30,
                  queen: bool = False, objective: str = "travel",
                  threshold: float | None = None) -> ZoneProposal:
    """Propose contiguous, compact, seat-balanced attendance zones around the schools.

    Parameters
    ----------
    cells
        Cells with ``children_col``: polygons (a grid, blocks), or points (e.g. hexagon
        centroids, turned into Voronoi cells), projected CRS in metres, id in the index.
    schools
        School points with ``seats_col``, same CRS. Schools in the same cell form one zone;
        schools with 0 seats anchor no zone.
    costs
        Long table ``origin`` (cell), ``destination`` (school), ``cost``. Default: straight
        line in metres.
    tolerance
        Zone demand must lie within ``(1 +- tolerance) * target`` (0.15 = 15 %).
    max_increase
        Largest extra travel a cell may get over its best zone (cost units). None: no cap
        (each cell still only considers its ``max_candidates`` nearest zones).
    current
        The current districts (polygons, a cell -> district table or zones); needed for
        ``minimise_moves`` and used to report ``children_moved``.
    minimise_moves
        First minimise the children assigned outside their current district (a zone belongs to
        the current district holding its schools), then travel.
    time_limit
        Seconds for the whole run (solver and repair).
    balance
        ``"seats"``: target = the zone's seats (needs total children within the tolerance of
        total seats); ``"share"``: target = seats x total children / total seats (every zone
        gets the same utilisation).
    method
        ``"mip"``, ``"heuristic"`` or ``"auto"`` (MIP up to ``mip_max_pairs`` candidate pairs).
    school_zone
        Optional zone label per school id (e.g. the current district of each school) to build
        one zone per group of schools instead of one per school site.
    mip_max_pairs, max_candidates, mip_gap, max_rounds
        Size limit of the MIP, candidate zones per cell, relative MIP gap, cut rounds.
    queen
        Count corner contacts as adjacency (default: rook, a shared edge).
    objective
        ``"travel"`` (least child-weighted travel, the default), or an equity objective:
        ``"maxmin_seats_per_child"`` (the worst zone's seats per child as high as the
        constraints allow, then least travel; exact with the integer programme) or
        ``"min_theil"`` (the travel zones, then boundary cells moved while the Theil T of
        seats per child across zones falls; a local search). An equity objective also
        solves the travel objective and reports both in ``tradeoffs``.
    threshold
        Cost threshold: the trade-off table counts the children whose zone's school lies
        beyond it (``children_beyond``, ``worst_share_beyond``).

    Returns
    -------
    ZoneProposal
        ``zones`` (GeoDataFrame accepted by :func:`evaluate_districts`), ``assignment``,
        ``school_zone``, ``method``, ``constraints`` (which hold exactly), ``status``.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    check_projected(cells, "cells")
    check_projected(schools, "schools")
    if schools.crs != cells.crs:
        schools = schools.to_crs(cells.crs)
    _check_options(cells, balance, method, tolerance, objective)
    kids = count_column(cells, children_col, "cells").to_numpy()
    seats = count_column(schools, seats_col, "schools").to_numpy()
    status: list[str] = []
    kind = shapely.get_type_id(cells.geometry.values)
    polys = cells.geometry
    if not np.isin(kind, (3, 6)).all():
        if not (kind == 0).all():
            raise input_error("cells", "mixes points and polygons", "use one geometry type")
        polys = cells_from_points(cells)
        status.append("cells are points: Voronoi cells around them were used for adjacency "
                      "and zone outlines")
    n = len(cells)
    with step("zone sites and candidate pairs"):
        zone, roots, labels = _sites(cells, schools, seats, school_zone)
        nz = len(labels)
        if nz == 0:
            raise input_error("schools", "no school has seats", "give schools a seats value > 0")
        ci, zi, cc, cstats = _pairs(cells, schools, zone, labels, roots, costs, max_increase,
                                    max_candidates)
    zcode = pd.Index(labels).get_indexer(zone.fillna("\0").astype(str))
    zseats = np.bincount(zcode[zcode >= 0], weights=seats[zcode >= 0], minlength=nz)
    total_k, total_s = kids.sum(), zseats.sum()
    target = zseats * (total_k / total_s) if balance == "share" else zseats
    lo, hi = (1 - tolerance) * target, (1 + tolerance) * target
    if balance == "seats" and not (lo.sum() - 1e-9 <= total_k <= hi.sum() + 1e-9):
        raise input_error("zones", f"{total_k:,.0f} children cannot fit {total_s:,.0f} seats "
                          f"within a tolerance of {tolerance:.0%}",
                          f"raise {option('tolerance')} or use {option('balance', 'share')} "
                          "(equal utilisation)")
    with step("cell adjacency"):
        adj, grid_comp, island, split = _grid(polys, roots, labels, queen, status)
    moved_w = None
    if current is not None:
        cur = resolve_districts(cells, schools, current, source="current")
        home = _zone_home(cur, zone, labels, seats)
        cur_code = cur.cell.fillna("\0").astype(str).to_numpy()
        moved_w = (home[zi] != cur_code[ci]) & (cur.cell.notna().to_numpy()[ci])
    elif minimise_moves:
        raise input_error(option("minimise_moves"), "needs the current districts",
                          f"give {option('current')} (polygons or a cell -> district table)")

    delta = 0.01 * max(float(kids[kids > 0].mean()) if (kids > 0).any() else 1.0, 1e-9)
    model = _Model(ci, zi, cc, kids, lo, hi, roots, n, nz, delta)
    use_mip = method == "mip" or (method == "auto" and len(ci) <= mip_max_pairs)
    stats = {"cells": n, "zones": nz, "pairs": len(ci), **cstats, "rounds": 0, "cuts": 0}
    graph = (adj, roots, island, grid_comp)
    assign, moves_optimal, contiguous_by_model = None, None, False
    bounds0 = (model.lo.copy(), model.hi.copy())
    if objective == "maxmin_seats_per_child":
        with step("lifting the worst zone (HiGHS)"):
            _lift_worst(model, graph, zseats, integral=use_mip,
                        deadline=t0 + (0.4 if use_mip else 0.3) * time_limit, mip_gap=mip_gap,
                        max_rounds=max_rounds, status=status, stats=stats)
    with step("solving (HiGHS)"):
        if use_mip:
            assign, moves_optimal, contiguous_by_model = _solve_mip(
                model, graph, moved_w if minimise_moves else None, t0, time_limit, mip_gap,
                max_rounds, status, stats)
            if assign is None:
                status.append("the integer programme found no solution (infeasible or out of "
                              "time); falling back to the heuristic")
                use_mip = False
        if not use_mip:
            assign = _solve_lp(model, moved_w if minimise_moves else None, deadline, mip_gap,
                               status)
    how = "mip" if use_mip and contiguous_by_model else ("mip+repair" if use_mip else "heuristic")
    if not contiguous_by_model:
        with step("contiguity repair and local search"):
            _improve(cells, schools, zone, labels, model, graph, assign, target, time_limit,
                     deadline, stats)
    if objective == "min_theil":
        with step("lowering the Theil index of seats per child across zones"):
            cand = set(zip(ci.tolist(), zi.tolist(), strict=True))
            stats["theil_moves"] = _theil_search(
                adj, assign, roots, kids, *bounds0, zseats, lambda i, z: (i, z) in cand,
                max(deadline, time.perf_counter() + min(time_limit, 60.0) / 4))
    stats["island_cells"] = int(island.sum())
    stats["objective"] = objective
    zp = _result(cells, polys, schools, zone, labels, roots, assign, kids, zseats, target,
                 lo, hi, adj, (island, grid_comp, split), ci, zi, cc, max_increase, moved_w,
                 moves_optimal, minimise_moves, how, status, stats, t0)
    if objective != "travel":
        with step("the least-travel zones for the trade-off table"):
            eff = propose_zones(cells, schools, costs, tolerance=tolerance,
                                max_increase=max_increase, current=current,
                                minimise_moves=minimise_moves, time_limit=time_limit,
                                children_col=children_col, seats_col=seats_col,
                                balance=balance, method=method, school_zone=school_zone,
                                mip_max_pairs=mip_max_pairs, max_candidates=max_candidates,
                                mip_gap=mip_gap, max_rounds=max_rounds, queen=queen)
        codes = pd.Index(labels).get_indexer(eff.assignment.astype(str).to_numpy())
        rows = [_zone_figures(objective, "equity", assign, kids, zseats, ci, zi, cc, labels,
                              threshold),
                _zone_figures("travel", "efficiency", codes, kids, zseats, ci, zi, cc, labels,
                              threshold)]
        zp.tradeoffs = pd.DataFrame(rows).set_index(pd.Index([objective, "travel"],
                                                             name="solution"))
    return zp


def _zone_figures(name, role, assign, kids, zseats, ci, zi, cc, labels, threshold) -> dict:
    """A zone plan's figures for the trade-off table (``ZoneProposal.tradeoffs``)."""
    nz = len(labels)
    pair = pd.Series(cc, index=pd.MultiIndex.from_arrays([ci, zi]))
    got = pair.reindex(pd.MultiIndex.from_arrays([np.arange(len(assign)), assign])).to_numpy()
    load = np.bincount(assign, weights=kids, minlength=nz)
    live = load > 0
    spc = np.where(live, zseats / np.where(live, load, 1.0), np.inf)
    w = int(np.argmin(spc))
    row = {"problem": name, "role": role, "total_travel": float(np.nansum(got * kids)),
           "total_shortfall": float(np.maximum(load - zseats, 0).sum()),
           "children_beyond": np.nan, "worst_seats_per_child": float(spc[w]),
           "worst_seats_district": str(labels[w]), "worst_share_beyond": np.nan,
           "worst_share_district": None, "theil_seats_per_child": zone_theil(load, zseats)}
    if threshold is not None:
        far = ~(got <= threshold)          # no candidate pair: beyond
        bz = np.bincount(assign, weights=kids * far, minlength=nz)
        share = np.where(live, bz / np.where(live, load, 1.0), -np.inf)
        k = int(np.argmax(share))
        row.update(children_beyond=float((kids * far).sum()), worst_share_beyond=float(share[k]),
                   worst_share_district=str(labels[k]))
    return row


def _solve_mip(model: _Model, graph, moved_w, t0, time_limit, mip_gap, max_rounds, status,
               stats):
    """Integer programme with lazy contiguity cuts (and the fewest-moves phase first).

    Returns (assignment or None, moves_optimal, contiguous)."""
    adj, roots, island, grid_comp = graph
    kids_ci = model.a_bal.sum(axis=0).A1  # k_i of each pair's cell
    moves_optimal = None
    if moved_w is not None:
        res = model.solve(kids_ci * moved_w, integral=True, time_limit=0.4 * time_limit,
                          gap=0.0)
        _check_res(res, status)
        if res.x is not None:
            best_moves = float(res.fun)
            moves_optimal = res.status == 0
            row = sparse.csr_matrix((kids_ci * moved_w).reshape(1, -1))
            model.extra.append((row, -np.inf, best_moves + 1e-6 + 1e-9 * best_moves))
    mip_deadline = t0 + 0.85 * time_limit
    rounds = 0
    while True:
        res = model.solve(model.travel, integral=True,
                          time_limit=mip_deadline - time.perf_counter(), gap=mip_gap)
        _check_res(res, status)
        if res.status == 2 and model.extra:  # contiguity needs more moves
            model.extra = []
            moves_optimal = False
            status.append("the fewest-moves bound conflicts with contiguity; it was dropped "
                          "(moves are no longer minimal)")
            continue
        if res.status == 2 or res.x is None:  # infeasible or nothing in time
            model.cut_rows, model.cut_lo, model.cut_hi, model.extra = [], [], [], []
            return None, None, False
        assign = model.assignment(res.x)
        viol = _violations(adj, assign, roots, island, grid_comp)
        if not viol:
            return assign, moves_optimal, True
        if rounds >= max_rounds or time.perf_counter() > mip_deadline - 1:
            status.append(f"contiguity cuts stopped after {rounds} round(s) with {len(viol)} "
                          "piece(s) cut off; repaired heuristically")
            return assign, moves_optimal, False
        for z, comp, has_root in viol:
            model.add_cut(adj, z, comp, has_root)
            stats["cuts"] += 1
        rounds += 1
        stats["rounds"] = rounds


def _solve_lp(model: _Model, moved_w, deadline, mip_gap, status) -> np.ndarray:
    """LP relaxation (capacity-constrained assignment) rounded to each cell's largest share."""
    kids_ci = model.a_bal.sum(axis=0).A1
    cc = model.cc
    lo, hi = model.lo, model.hi
    obj = model.travel.copy()
    if moved_w is not None:
        obj = obj + kids_ci * moved_w * (np.ptp(cc) + 1.0) * 10
    # bounds tightened by a margin of a few cells' children, so rounding and repair have room
    # to move whole cells; fall back to the exact bounds, then to elastic bounds
    kpos = kids_ci[kids_ci > 0]
    margin = np.minimum(2 * (np.percentile(kpos, 95) if kpos.size else 0.0), 0.25 * (hi - lo))
    model.lo, model.hi = lo + margin, hi - margin
    res = model.solve(obj, integral=False, time_limit=deadline - time.perf_counter(),
                      gap=mip_gap)
    model.lo, model.hi = lo, hi
    if res.x is None:
        res = model.solve(obj, integral=False, time_limit=deadline - time.perf_counter(),
                          gap=mip_gap)
    if res.status == 2:
        status.append("balance relaxed: every zone cannot be within the tolerance (travel cap, "
                      "candidates); violations are minimised instead")
        # penalty per child outside the bounds: more than any travel saving a child can bring
        penalty = 10.0 * (float(np.ptp(cc)) + 1.0) * 1.01
        res = model.solve(obj, integral=False, time_limit=deadline - time.perf_counter(),
                          gap=mip_gap, elastic=penalty)
    _check_res(res, status)
    if res.x is None:
        raise SolverError("no zones found: the balance and travel-cap constraints cannot all "
                          f"hold; raise {option('tolerance')} or {option('max_increase')}, or "
                          f"use {option('balance', 'share')}")
    return model.assignment(res.x)


def _improve(cells, schools, zone, labels, model: _Model, graph, assign, target, time_limit,
             deadline, stats) -> None:
    """Contiguity repair, balance local search, and a last repair (in place on ``assign``)."""
    adj, roots, island, _ = graph
    ci, zi, cc = model.ci, model.zi, model.cc
    kids = np.zeros(model.n)
    kids[ci] = model.a_bal.sum(axis=0).A1
    pair_cost = pd.Series(cc, index=pd.MultiIndex.from_arrays([ci, zi]))
    cxy = shapely.get_coordinates(cell_points(cells))
    zxy = _zone_xy(schools, zone, labels)

    def cost_of(i, z):
        c = pair_cost.reindex(pd.MultiIndex.from_arrays([i, z])).to_numpy()
        far = np.hypot(*(cxy[i] - zxy[z]).T) + 1e12  # non-candidates last
        return np.where(np.isnan(c), far, c)

    cand = set(zip(ci.tolist(), zi.tolist(), strict=True))
    slot = min(time_limit, 60.0) / 4
    stats["repaired_cells"] = _repair(adj, assign, roots, cost_of,
                                      max(deadline, time.perf_counter() + slot), island)
    stats["local_moves"] = _local_search(adj, assign, roots, kids, model.lo, model.hi, target,
                                         cost_of, lambda i, z: (i, z) in cand,
                                         max(deadline, time.perf_counter() + slot))
    stats["repaired_cells"] += _repair(adj, assign, roots, cost_of,
                                       time.perf_counter() + slot, island)


def _check_res(res, status: list[str]) -> None:
    if res.status == 1:
        status.append("HiGHS stopped at the time limit" +
                      (" with a feasible solution" if res.x is not None else ""))
    elif res.status == 2:
        status.append("HiGHS: the model is infeasible (balance and travel cap cannot all "
                      "hold)")
    elif res.status not in (0, 1):
        status.append(f"HiGHS: {res.message}")


def _zone_home(cur, zone: pd.Series, labels, seats) -> np.ndarray:
    df = pd.DataFrame({"z": zone.to_numpy(), "d": cur.school.reindex(zone.index).to_numpy(),
                       "s": seats + 1e-9}).dropna()
    g = df.groupby(["z", "d"])["s"].sum().reset_index().sort_values(["z", "s"],
                                                                   ascending=[True, False])
    home = dict(zip(g.drop_duplicates("z")["z"], g.drop_duplicates("z")["d"], strict=True))
    return np.array([str(home.get(z, "\0\0")) for z in labels], dtype=object)


def _zone_xy(schools, zone, labels) -> np.ndarray:
    xy = shapely.get_coordinates(np.asarray(schools.geometry.values, dtype=object))
    code = pd.Index(labels).get_indexer(zone.fillna("\0").astype(str))
    out = np.zeros((len(labels), 2))
    for z in range(len(labels)):
        out[z] = xy[code == z].mean(axis=0)
    return out


def _result(cells, polys, schools, zone, labels, roots, assign, kids, zseats, target, lo, hi,
            adj, island, ci, zi, cc, max_increase, moved_w, moves_optimal, minimise_moves, how,
            status, stats, t0) -> ZoneProposal:
    nz = len(labels)
    lab = np.asarray(labels, dtype=object)
    names = pd.Index(labels, dtype="string").astype(str)
    assignment = pd.Series(lab[assign], index=cells.index, dtype="string", name="district")
    load = np.bincount(assign, weights=kids, minlength=nz)
    island, grid_comp, split = island
    viol = _violations(adj, assign, roots, island, grid_comp)
    pair = pd.Series(cc, index=pd.MultiIndex.from_arrays([ci, zi]))
    got = pair.reindex(pd.MultiIndex.from_arrays([np.arange(len(assign)), assign])).to_numpy()
    best = pd.Series(cc).groupby(ci).min().reindex(np.arange(len(assign))).to_numpy()
    off_candidates = int(np.isnan(got).sum())
    if max_increase is None:
        cap_ok = True
    else:
        cap_ok = off_candidates == 0 and bool(np.all(got - best <= max_increase + 1e-6))
    roots_ok = all((assign[r] == z).all() for z, r in enumerate(roots))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(target > 0, load / target, np.nan)
    within = (load >= lo - 1e-6) & (load <= hi + 1e-6)
    geom = dissolve_cells(polys, assignment, names)
    # one answer for contiguity: a zone is contiguous when its outline is one piece, exactly as
    # evaluate and compare judge it (shape_metrics); island cells make their zone several pieces
    one_piece = shape_metrics(geom)["contiguous"].to_numpy(bool)
    school_ids = pd.Series(zone.index.astype(str)).groupby(zone.to_numpy()).agg(";".join)
    zones = gpd.GeoDataFrame({
        "district": names,
        "schools": school_ids.reindex(labels).to_numpy(),
        "cells": np.bincount(assign, minlength=nz),
        "children": load,
        "seats": zseats,
        "target": target,
        "demand_ratio": ratio,
        "within_tolerance": within,
        "contiguous": one_piece,
    }, geometry=geom.to_numpy(), crs=cells.crs, index=pd.Index(names, name="district_id"))
    constraints = {
        "one_zone_per_cell": bool((assign >= 0).all()),
        "schools_in_own_zone": bool(roots_ok),
        "balance": bool(within.all()),
        "max_increase": bool(cap_ok),
        "contiguity": bool(one_piece.all()),
        # what the solver can reach: each zone connected inside every part of the grid that
        # holds its schools (island cells and zones split by the grid excepted)
        "contiguity_where_possible": not viol,
    }
    if moved_w is not None:
        mv = pd.Series(moved_w.astype(float), index=pd.MultiIndex.from_arrays([ci, zi]))
        m = mv.reindex(pd.MultiIndex.from_arrays([np.arange(len(assign)), assign])).to_numpy()
        stats["children_moved"] = float(np.nansum(m * kids))
    if minimise_moves:
        constraints["moves_optimal"] = bool(moves_optimal) and how == "mip"
    stats["objective_travel"] = float(np.nansum(got * kids))
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    if not within.all():
        status.append(f"{int((~within).sum())} zone(s) outside the balance tolerance")
    if not one_piece.all():
        why = (f" ({int(island.sum())} island cell(s) touch no school)" if island.any()
               and not viol else "")
        status.append(f"{int((~one_piece).sum())} zone(s) not in one piece{why}")
    school_zone = zone.astype("string")
    if school_zone.isna().any():  # schools without seats: the zone their cell falls in
        pos = nearest_cell(cells, schools)
        school_zone = school_zone.fillna(pd.Series(lab[assign[pos]], index=schools.index))
    return ZoneProposal(zones=zones, assignment=assignment, school_zone=school_zone,
                        method=how, constraints=constraints, status=status, stats=stats)
