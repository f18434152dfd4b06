"""Exact mixed-integer models of the siting problems, solved with HiGHS (``scipy.optimize.milp``).

Every model is sparse: it only has variables for the demand/site pairs present in the cost
table (bounded by the threshold or the k nearest sites upstream), and existing schools are
kept open as constants rather than variables. Notation (see ``docs/siting.md``): demand
``i`` with ``w_i`` children, candidate ``j``, cost ``c_ij``, location binaries ``z_j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from geoequity._errors import SolverError
from geoequity.siting._instance import Instance

_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}


@dataclass
class Solution:
    """What a model returns (internal): chosen candidate positions and the objective/bound."""

    chosen: np.ndarray                      # candidate positions j
    objective: float                        # in the problem's own units
    bound: float                            # best proven bound in the same units
    status: str
    size: np.ndarray | None = None          # seats built at each chosen site (gap/capacitated)
    flows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (i, facility, children)
    extra: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        if not np.isfinite(self.bound) or not np.isfinite(self.objective):
            return float("nan")
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)


_INFEASIBLE = ("the siting model is infeasible: no choice of sites meets every constraint "
               "(raise p, the budget or the capacities)")
_NO_SOLUTION = "HiGHS found no solution ({}); raise --time-limit or use --solver heuristic"


def solve_milp(c, integrality, lb, ub, A, rl, ru, *, time_limit: float, mip_gap: float,
          infeasible_ok: bool = False, presolve: bool = True,
          infeasible_msg: str = _INFEASIBLE, no_solution_msg: str = _NO_SOLUTION):
    res = milp(c=c, integrality=integrality, bounds=Bounds(lb, ub),
               constraints=LinearConstraint(A.tocsr(), rl, ru),
               options={"time_limit": float(time_limit), "mip_rel_gap": float(mip_gap),
                        "disp": False, "presolve": presolve})
    status = _STATUS.get(res.status, "error")
    if res.x is None:
        if status == "infeasible" and infeasible_ok:
            return None, np.inf, np.inf, status
        if status == "infeasible":
            raise SolverError(infeasible_msg)
        raise SolverError(no_solution_msg.format(res.message))
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        bound = res.fun if status == "optimal" else -np.inf
    return res.x, float(res.fun), float(bound), status


def _rows(*blocks):
    return sp.vstack([b for b in blocks if b is not None and b.shape[0]], format="csr")


def _cardinality(ncols: int, zcols: np.ndarray, p: int, *, exact: bool):
    row = sp.csr_matrix((np.ones(len(zcols)), (np.zeros(len(zcols), int), zcols)),
                        shape=(1, ncols))
    return row, (float(p) if exact else 0.0), float(p)


def _budget_row(inst: Instance, ncols: int, zcols: np.ndarray, zcand: np.ndarray,
                budget: float | None):
    if budget is None:
        return None
    if inst.cand_build_cost is None or np.isnan(inst.cand_build_cost[zcand]).any():
        raise SolverError("a budget needs a build cost for every candidate (column build_cost)")
    row = sp.csr_matrix((inst.cand_build_cost[zcand], (np.zeros(len(zcols), int), zcols)),
                        shape=(1, ncols))
    return row


def _level_sets(i: np.ndarray, j: np.ndarray, c: np.ndarray, w: np.ndarray, f: np.ndarray,
                m: int):
    """Distinct "open within radius" sets of the radius formulation, merged across demand.

    Pairs (i, j, c) sorted by (i, c). Demand i's distinct costs D_i^1 < ... < D_i^K define
    the sets S_i^k = {j : c_ij <= D_i^k}; the cost of i is D_i^1 + sum_k (D_i^(k+1) - D_i^k)
    y_i^k, with D_i^(K+1) = f_i and y_i^k = 1 when no site of S_i^k is open. Equal sets have
    equal y, so they share one variable whose coefficient is the sum (Elloumi 2010, dominated
    rows; identified here by two 64-bit random set hashes and the set size). Returns
    (coef, parent, rows, cols, const_per_demand): per set its objective coefficient and the
    set it extends (-1: none), and the (set, site) pairs each set adds to its parent.
    """
    if len(i) == 0:
        return np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), f.copy()
    first = np.r_[True, i[1:] != i[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(i)), 0))
    rng = np.random.default_rng(20100101)
    keys = []
    for h in rng.integers(0, 2**63, size=(2, m), dtype=np.uint64):
        cs = np.cumsum(h[j], dtype=np.uint64)
        keys.append(cs - np.r_[np.uint64(0), cs][start])       # hash of the prefix set
    keys.append(np.arange(len(i)) - start)                     # prefix size - 1
    end = np.r_[(i[1:] != i[:-1]) | (c[1:] != c[:-1]), True]   # last pair of each level
    lv = np.flatnonzero(end)
    li, lc = i[lv], c[lv]
    _, sid = np.unique(np.stack([k[lv].astype(np.uint64) for k in keys], axis=1), axis=0,
                       return_inverse=True)
    sid = sid.ravel()
    ns = int(sid.max()) + 1
    lfirst = np.r_[True, li[1:] != li[:-1]]
    llast = np.r_[li[1:] != li[:-1], True]
    nxt = np.where(llast, f[li], np.r_[lc[1:], 0.0])
    coef = np.bincount(sid, weights=w[li] * (nxt - lc), minlength=ns)
    prev = np.where(lfirst, -1, sid[np.maximum(np.arange(len(lv)) - 1, 0)])
    rep = np.full(ns, -1)
    rep[sid[::-1]] = np.arange(len(lv))[::-1]                  # first level of each set
    parent = prev[rep]
    lvl_of_pair = np.r_[0, np.cumsum(end[:-1])]
    mine = rep[sid[lvl_of_pair]] == lvl_of_pair                # pairs the set's first level adds
    base = f.copy()
    base[li[lfirst]] = lc[lfirst]
    return coef, parent, sid[lvl_of_pair[mine]], j[mine], base


def pmedian(inst: Instance, p: int, *, unreached_cost: float, time_limit: float,
            mip_gap: float, budget: float | None = None,
            cover_radius: float | None = None, allowed: np.ndarray | None = None,
            forced: np.ndarray | None = None, pair_keep: np.ndarray | None = None,
            exclude: list[np.ndarray] | None = None,
            site_cost: np.ndarray | None = None, z_rows=None) -> Solution:
    """Uncapacitated p-median with existing schools open (radius formulation, Elloumi 2010).

    Demand i pays f_i (its nearest existing school, or ``unreached_cost``) unless a site with
    c_ij < f_i opens. With the distinct costs D_i^1 < ... < D_i^K of those pairs:

    min  sum_i w_i (D_i^1 + sum_k (D_i^(k+1) - D_i^k) y_i^k)       (D_i^(K+1) = f_i)
    s.t. y_i^k + sum_{j: c_ij <= D_i^k} z_j >= 1,  sum_j z_j = p,  z binary, y >= 0

    written in chained form (y_i^k >= y_i^(k-1) - sum of the sites at level k: three or so
    nonzeros per row) with equal site sets merged into one variable (``_level_sets``). Same
    LP bound and optimum as the strong formulation x_ij <= z_j, on a model several times
    smaller. ``allowed``/``forced`` (candidate masks) fix z_j = 0 / z_j = 1 (forced sites
    are folded into f_i) and ``pair_keep`` drops pairs; with dropped pairs the objective is
    re-evaluated on the full table. ``cover_radius`` r adds sum_{j: c_ij <= r} z_j >= 1 for
    every demand not within r of an existing school (used by p-center to pick, among the
    sites achieving its radius, the ones with the least travel).
    ``exclude`` lists site sets (candidate positions) not to return again (no-good rows
    sum_(j in O) z_j <= |O| - 1); when no set is left the status is ``"infeasible"`` and
    nothing is chosen.
    ``site_cost`` adds sum_j site_cost_j z_j to the objective.
    ``z_rows`` = ``(A, lo, hi)`` adds rows ``lo <= A z <= hi`` on the sites (``A`` sparse,
    ``m`` columns; used by the equity objectives to keep their optimum while travel is least).
    """
    m = inst.m
    f = inst.fallback_cost(unreached_cost)
    if forced is not None and forced.any():
        sel = forced[inst.cj]
        np.minimum.at(f, inst.ci[sel], inst.cc[sel])
    keep = inst.cc < f[inst.ci]
    if allowed is not None:   # pairs of candidates fixed closed can never carry children
        keep &= allowed[inst.cj]
    if forced is not None:
        keep &= ~forced[inst.cj]
    if pair_keep is not None:  # pairs no solution better than the incumbent uses
        keep &= pair_keep
    coef, parent, set_r, set_j, base = _level_sets(inst.ci[keep], inst.cj[keep],
                                                   inst.cc[keep], inst.w, f, m)
    ns = len(coef)
    const = float(inst.w @ base)
    cost = np.r_[coef, np.zeros(m) if site_cost is None else site_cost]
    zc = np.arange(ns, ns + m)
    has_p = np.flatnonzero(parent >= 0)
    level = sp.csr_matrix((np.r_[np.ones(ns), -np.ones(len(has_p)), np.ones(len(set_r))],
                           (np.r_[np.arange(ns), has_p, set_r],
                            np.r_[np.arange(ns), parent[has_p], ns + set_j])),
                          shape=(ns, ns + m))
    card, lo, hi = _cardinality(ns + m, zc, p, exact=True)
    bud = _budget_row(inst, ns + m, zc, np.arange(m), budget)
    cov, crl, cru = None, [], []
    if cover_radius is not None:
        need, i2, j2 = coverable(inst, cover_radius)
        rows_i, inv = np.unique(i2, return_inverse=True)
        cov = sp.csr_matrix((np.ones(len(i2)), (inv, ns + j2)), shape=(len(rows_i), ns + m))
        crl, cru = np.ones(len(rows_i)), np.full(len(rows_i), np.inf)
    extra, erl, eru = [], [], []
    for sites in exclude or []:
        extra.append(sp.csr_matrix((np.ones(len(sites)), (np.zeros(len(sites), int),
                                                          ns + np.asarray(sites))),
                                   shape=(1, ns + m)))
        erl.append(-np.inf)
        eru.append(len(sites) - 1.0)
    zr, zrl, zru = None, [], []
    if z_rows is not None:
        za, zrl, zru = z_rows
        zr = sp.hstack([sp.csr_matrix((za.shape[0], ns)), sp.csr_matrix(za)], format="csr")
    A = _rows(level, card, bud, cov, *extra, zr)
    rl = np.r_[np.where(parent < 0, 1.0, 0.0), lo, [] if bud is None else [-np.inf], crl, erl,
               zrl]
    ru = np.r_[np.full(ns, np.inf), hi, [] if bud is None else [budget], cru, eru, zru]
    integ = np.r_[np.zeros(ns), np.ones(m)]
    lbz = np.zeros(m) if forced is None else forced.astype(float)
    ubz = np.ones(m) if allowed is None else allowed.astype(float)
    x, fun, bound, status = solve_milp(cost, integ, np.r_[np.zeros(ns), lbz], np.r_[np.ones(ns), ubz],
                                  A, rl, ru, time_limit=time_limit, mip_gap=mip_gap,
                                  infeasible_ok=bool(exclude),
                                  # with no-good rows HiGHS's presolve costs more than it
                                  # saves (2,000 x 100 capacitated: 29 s instead of 49 s)
                                  presolve=not exclude)
    if x is None:
        return Solution(np.array([], int), np.inf, np.inf, "infeasible")
    chosen = np.flatnonzero(x[ns:] > 0.5)
    obj = fun + const
    if pair_keep is not None:   # true cost of the chosen sites on every pair
        d = inst.fallback_cost(unreached_cost)
        sel = np.isin(inst.cj, chosen)
        np.minimum.at(d, inst.ci[sel], inst.cc[sel])
        obj = float(inst.w @ d)
    return Solution(chosen, obj, bound + const, status)


def _coverage(inst: Instance, threshold: float):
    """The covering rows shared by the threshold models.

    Returns ``pre`` (demand already within ``T`` of an existing school), ``rows_i`` (the other
    demands some candidate reaches within ``T``, one ``y`` each) and ``cover_of(ncols)``, the
    rows ``y_i - sum_{j: c_ij <= T} z_j <= 0`` with ``y`` in the first ``len(rows_i)`` columns
    and ``z_j`` in column ``len(rows_i) + j``.
    """
    need, i, j = coverable(inst, threshold)
    rows_i, inv = np.unique(i, return_inverse=True)
    ny = len(rows_i)

    def cover_of(ncols: int):
        return sp.csr_matrix((np.r_[np.ones(ny), -np.ones(len(i))],
                              (np.r_[np.arange(ny), inv], np.r_[np.arange(ny), ny + j])),
                             shape=(ny, ncols))
    return ~need, rows_i, cover_of


def mclp(inst: Instance, p: int, threshold: float, *, time_limit: float, mip_gap: float,
         budget: float | None = None) -> Solution:
    """Maximal covering location: children within ``threshold`` (cost <= T) of a seat.

    max  sum_i w_i y_i   s.t.  y_i <= sum_{j: c_ij <= T} z_j,  sum_j z_j = p,  0 <= y <= 1
    Demand already within T of an existing school is counted as covered and left out.
    """
    pre, rows_i, cover_of = _coverage(inst, threshold)
    ny, m = len(rows_i), inst.m
    const = float(inst.w[pre].sum())
    cost = np.r_[-inst.w[rows_i], np.zeros(m)]
    cover = cover_of(ny + m)
    zc = np.arange(ny, ny + m)
    card, lo, hi = _cardinality(ny + m, zc, p, exact=budget is None)
    bud = _budget_row(inst, ny + m, zc, np.arange(m), budget)
    A = _rows(cover, card, bud)
    rl = np.r_[np.full(ny, -np.inf), lo, [] if bud is None else [-np.inf]]
    ru = np.r_[np.zeros(ny), hi, [] if bud is None else [budget]]
    x, fun, bound, status = solve_milp(cost, np.r_[np.zeros(ny), np.ones(m)], np.zeros(ny + m),
                                  np.ones(ny + m), A, rl, ru, time_limit=time_limit,
                                  mip_gap=mip_gap)
    chosen = np.flatnonzero(x[ny:] > 0.5)
    return Solution(chosen, const - fun, const - bound, status)


def coverable(inst: Instance, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand to cover (not yet within T of an existing school), and its candidate pairs."""
    pre = np.zeros(inst.n, bool)
    pre[inst.ei[inst.ec <= threshold]] = True
    keep = (inst.cc <= threshold) & ~pre[inst.ci]
    need = ~pre
    return need, inst.ci[keep], inst.cj[keep]


def lscp(inst: Instance, threshold: float, *, time_limit: float, mip_gap: float,
         max_sites: int | None = None) -> Solution:
    """Location set covering: fewest new sites so every child is within ``threshold``.

    min  sum_j z_j (+ a tie-break on build cost)   s.t.  sum_{j: c_ij <= T} z_j >= 1  for each
    demand not already within T of an existing school. Demand no candidate can cover is left
    out and reported in ``extra['uncoverable']``.
    """
    need, i, j = coverable(inst, threshold)
    has = np.zeros(inst.n, bool)
    has[i] = True
    uncoverable = np.flatnonzero(need & ~has)
    rows_i, inv = np.unique(i, return_inverse=True)
    m = inst.m
    cost = np.ones(m)
    if inst.cand_build_cost is not None and np.isfinite(inst.cand_build_cost).all() and \
            inst.cand_build_cost.max() > 0:
        cost = cost + 1e-3 * inst.cand_build_cost / inst.cand_build_cost.sum()
    if len(rows_i) == 0:
        return Solution(np.array([], int), 0.0, 0.0, "optimal",
                        extra={"uncoverable": uncoverable})
    A = sp.csr_matrix((np.ones(len(i)), (inv, j)), shape=(len(rows_i), m))
    rl, ru = np.ones(len(rows_i)), np.full(len(rows_i), np.inf)
    if max_sites is not None:
        A = _rows(A, sp.csr_matrix(np.ones((1, m))))
        rl, ru = np.r_[rl, -np.inf], np.r_[ru, max_sites]
    x, fun, bound, status = solve_milp(cost, np.ones(m), np.zeros(m), np.ones(m), A, rl, ru,
                                  time_limit=time_limit, mip_gap=mip_gap)
    chosen = np.flatnonzero(x > 0.5)
    bound = float(np.ceil(bound - 1e-6)) if np.isfinite(bound) else bound
    return Solution(chosen, float(len(chosen)), min(bound, len(chosen)), status,
                    extra={"uncoverable": uncoverable})


def pcenter(inst: Instance, p: int, *, time_limit: float, mip_gap: float) -> Solution:
    """p-center: minimise the largest cost from any child to its nearest open school.

    Solved exactly by bisection over the distinct costs r of the table: r is feasible when a
    set cover with radius r needs at most p new sites (one LSCP per step, ~log2 of the number
    of distinct costs). Existing schools count as open.
    """
    allc = np.r_[inst.cc, inst.ec]
    best_any = np.full(inst.n, np.inf)
    np.minimum.at(best_any, np.r_[inst.ci, inst.ei], allc)
    lb = float(best_any.max()) if inst.n else 0.0
    radii = np.unique(allc[allc >= lb])
    lo, hi = 0, len(radii) - 1
    best = None
    status = "optimal"
    import time as _t
    start = _t.perf_counter()
    while lo <= hi:
        mid = (lo + hi) // 2
        left = max(time_limit - (_t.perf_counter() - start), 1.0)
        try:
            sol = lscp(inst, float(radii[mid]), time_limit=left, mip_gap=0.0, max_sites=p)
            ok = len(sol.extra["uncoverable"]) == 0 and sol.status == "optimal"
            if sol.status != "optimal":
                status = "time_limit"
        except SolverError:
            ok = False
        if ok:
            best, hi = (radii[mid], sol), mid - 1
        else:
            lo = mid + 1
    if best is None:
        raise SolverError("no choice of p new sites reaches every child in the cost table; "
                          "raise p or extend the cost table's max_cost")
    r, sol = best
    chosen = sol.chosen
    if p <= inst.m:
        # tie-break: among the p-site sets achieving radius r, the least child-weighted travel
        try:
            left = max(time_limit - (_t.perf_counter() - start), 1.0)
            med = pmedian(inst, p, unreached_cost=float(allc.max()), time_limit=left,
                          mip_gap=mip_gap, cover_radius=float(r))
            chosen = med.chosen
        except SolverError:
            pass
    return Solution(chosen, float(r), float(r) if status == "optimal" else lb, status)


def maxmin_seats(inst: Instance, p: int, *, capacity: np.ndarray, cand_group: np.ndarray,
                 children: np.ndarray, seats: np.ndarray, time_limit: float, mip_gap: float,
                 budget: float | None = None) -> Solution:
    """Lift the worst-off district: maximise the least seats per child over the districts.

    District ``d`` has ``K_d`` children and ``S_d`` seats in its existing schools; candidate
    ``j`` stands in district ``g(j)`` and adds ``s_j`` seats when built:

    max  t   s.t.  K_d t - sum_{j: g(j) = d} s_j z_j <= S_d   (every d with K_d > 0)
                   sum_j z_j = p  (<= p with a budget),  [budget],  z binary,  t >= 0

    ``cand_group`` is -1 for candidates in no district. Returns the chosen sites, ``t`` as
    the objective and HiGHS's dual bound on it.
    """
    m = inst.m
    live = np.flatnonzero(children > 0)
    nd = len(live)
    row_of = np.full(len(children), -1)
    row_of[live] = np.arange(nd)
    js = np.flatnonzero((cand_group >= 0) & (row_of[np.maximum(cand_group, 0)] >= 0))
    A = sp.csr_matrix((np.r_[-capacity[js], children[live]],
                       (np.r_[row_of[cand_group[js]], np.arange(nd)],
                        np.r_[js, np.full(nd, m)])), shape=(nd, m + 1))
    zc = np.arange(m)
    card, lo, hi = _cardinality(m + 1, zc, p, exact=budget is None)
    bud = _budget_row(inst, m + 1, zc, zc, budget)
    rows = _rows(A, card, bud)
    rl = np.r_[np.full(nd, -np.inf), lo, [] if bud is None else [-np.inf]]
    ru = np.r_[seats[live], hi, [] if bud is None else [budget]]
    cost = np.r_[np.zeros(m), -1.0]
    x, fun, bound, status = solve_milp(cost, np.r_[np.ones(m), 0.0], np.zeros(m + 1),
                                  np.r_[np.ones(m), np.inf], rows, rl, ru,
                                  time_limit=time_limit, mip_gap=mip_gap)
    chosen = np.flatnonzero(x[:m] > 0.5)
    t = float(np.min((seats[live] + np.bincount(
        row_of[cand_group[chosen[np.isin(chosen, js)]]], weights=capacity[
            chosen[np.isin(chosen, js)]], minlength=nd)) / children[live]))
    return Solution(chosen, t, max(-bound, t), status, size=capacity[chosen])


def minmax_beyond(inst: Instance, p: int, threshold: float, *, demand_group: np.ndarray,
                  children: np.ndarray, time_limit: float, mip_gap: float,
                  budget: float | None = None, share_cap: float | None = None) -> Solution:
    """Lift the worst-off district: minimise the largest share of children beyond ``T``.

    ``y_i = 1`` when demand ``i`` (not yet within ``T`` of an existing school) gets a site
    within ``T``; district ``d`` has ``K_d`` children (``children``: all of them, those no
    school reaches included) of which ``P_d`` are already within ``T``:

    min  t   s.t.  y_i <= sum_{j: c_ij <= T} z_j,
                   K_d t + sum_{i in d} w_i y_i >= K_d - P_d   (every d with K_d > 0)
                   sum_j z_j = p  (<= p with a budget),  [budget],  0 <= y <= 1,  z binary

    With ``share_cap`` the second stage: ``t <= share_cap`` and the objective is the MCLP's,
    the most children within ``T`` (so ties in the worst share go to the most coverage).
    ``demand_group`` is the district code of each demand (-1: none). Returns the objective
    of the stage solved (``t``, or the children within ``T``).
    """
    pre, rows_i, cover_of = _coverage(inst, threshold)
    ny, m = len(rows_i), inst.m
    live = np.flatnonzero(children > 0)
    nd = len(live)
    row_of = np.full(len(children), -1)
    row_of[live] = np.arange(nd)
    g = demand_group[rows_i]
    yin = np.flatnonzero((g >= 0) & (row_of[np.maximum(g, 0)] >= 0))
    dg = demand_group[pre]
    pre_d = np.bincount(dg[dg >= 0], weights=inst.w[pre][dg >= 0], minlength=len(children))
    nv = ny + m + 1
    cover = cover_of(nv)
    dist = sp.csr_matrix((np.r_[inst.w[rows_i][yin], children[live]],
                          (np.r_[row_of[g[yin]], np.arange(nd)], np.r_[yin, np.full(nd, nv - 1)])),
                         shape=(nd, nv))
    zc = ny + np.arange(m)
    card, lo, hi = _cardinality(nv, zc, p, exact=budget is None)
    bud = _budget_row(inst, nv, zc, np.arange(m), budget)
    A = _rows(cover, dist, card, bud)
    rl = np.r_[np.full(ny, -np.inf), children[live] - pre_d[live], lo,
               [] if bud is None else [-np.inf]]
    ru = np.r_[np.zeros(ny), np.full(nd, np.inf), hi, [] if bud is None else [budget]]
    if share_cap is None:
        cost = np.r_[np.zeros(ny + m), 1.0]
        t_hi = np.inf
    else:
        cost = np.r_[-inst.w[rows_i], np.zeros(m), 0.0]
        t_hi = share_cap
    x, fun, bound, status = solve_milp(cost, np.r_[np.zeros(ny), np.ones(m), 0.0], np.zeros(nv),
                                  np.r_[np.ones(ny + m), t_hi], A, rl, ru,
                                  time_limit=time_limit, mip_gap=mip_gap)
    chosen = np.flatnonzero(x[ny:ny + m] > 0.5)
    if share_cap is None:
        return Solution(chosen, fun, bound, status, extra={"t": x[-1]})
    const = float(inst.w[pre].sum())
    return Solution(chosen, const - fun, const - bound, status, extra={"t": x[-1]})


def transport(inst: Instance, sites: np.ndarray, *, threshold: float | None,
              unmet_cost: float, capacity: np.ndarray) -> Solution:
    """Capacity-constrained assignment to the existing schools and the given sites (an LP).

    min sum c_ij f_ij + unmet_cost sum u_i  s.t.  sum_j f_ij + u_i = w_i,  sum_i f_ij <= seats_j
    over pairs with c_ij <= threshold. Returns the solution with ``extra['beta_c']`` /
    ``extra['beta_e']``: the seat prices (duals of the seat rows, >= 0) of candidates and
    existing schools, which give the lower bound ``sum_i w_i min(unmet_cost, min_j (c_ij +
    beta_j)) - sum_j beta_j seats_j`` on the cost of *any* site set (LP weak duality).
    """
    from scipy.optimize import linprog

    T = np.inf if threshold is None else threshold
    m, n, q = inst.m, inst.n, inst.q
    if inst.exist_seats is None and q:
        raise SolverError("existing schools need seats for a capacitated problem "
                          "(pass existing as a Series of seats)")
    sites = np.asarray(sites, int)
    kc = (inst.cc <= T) & np.isin(inst.cj, sites)
    ke = inst.ec <= T
    fi = np.r_[inst.ci[kc], inst.ei[ke]]
    fac = np.r_[inst.cj[kc], m + inst.ej[ke]]
    fc = np.r_[inst.cc[kc], inst.ec[ke]]
    k = len(fi)
    seats = np.r_[capacity, inst.exist_seats if q else np.zeros(0)]
    facs = np.r_[sites, m + np.arange(q)]
    row = np.full(m + q, -1)
    row[facs] = np.arange(len(facs))
    A_eq = sp.csr_matrix((np.ones(k + n), (np.r_[fi, np.arange(n)], np.r_[np.arange(k),
                                                                       k + np.arange(n)])),
                         shape=(n, k + n))
    A_ub = sp.csr_matrix((np.ones(k), (row[fac], np.arange(k))), shape=(len(facs), k + n))
    if len(facs) == 0:
        A_ub = None
    res = linprog(np.r_[fc, np.full(n, unmet_cost)], A_ub=A_ub,
                  b_ub=seats[facs] if len(facs) else None, A_eq=A_eq, b_eq=inst.w,
                  bounds=(0, None), method="highs")
    if res.status != 0:
        raise SolverError(f"the assignment LP failed ({res.message})")
    x = res.x
    beta = np.zeros(m + q)
    if len(facs):
        beta[facs] = np.maximum(0.0, -res.ineqlin.marginals)
    nz = x[:k] > 1e-9
    sol = Solution(sites, float(res.fun), float(res.fun), "optimal",
                   size=capacity[sites], flows=(fi[nz], fac[nz], x[:k][nz]),
                   extra={"unmet": x[k:], "travel": float(fc @ x[:k]), "beta_c": beta[:m],
                          "beta_e": beta[m:]})
    return sol


def flow_model(inst: Instance, p: int, *, threshold: float | None, sizes: list[float] | None,
               unmet_weight: float, travel_weight: float, exact_p: bool, time_limit: float,
               mip_gap: float, budget: float | None = None, fixed: np.ndarray | None = None,
               relax: bool = False):
    """Joint location + capacitated assignment (capacitated p-median and gap closing).

    Variables: flows f_ij >= 0 (children from demand i to school j, pairs with c_ij <= T),
    unmet u_i >= 0, and z_js (open candidate j at size s). Minimise
    ``unmet_weight * sum u_i + travel_weight * sum c_ij f_ij`` subject to
    sum_j f_ij + u_i = w_i;  sum_i f_ij <= seats_j (existing);
    sum_i f_ij <= sum_s s z_js and f_ij <= w_i sum_s z_js (candidates);
    sum_s z_js <= 1;  sum z <= p (= p when ``exact_p``);  optional budget.
    ``fixed`` (candidate positions) turns it into an assignment LP for given sites.
    """
    T = np.inf if threshold is None else threshold
    m, n, q = inst.m, inst.n, inst.q
    if inst.exist_seats is None and q:
        raise SolverError("existing schools need seats for a capacitated problem "
                          "(pass existing as a Series of seats)")
    kc = inst.cc <= T
    if fixed is not None:     # an assignment LP: only pairs to the open sites can carry flow
        kc &= np.isin(inst.cj, fixed)
    ke = inst.ec <= T
    ci, cj, cc = inst.ci[kc], inst.cj[kc], inst.cc[kc]
    ei, ej, ec = inst.ei[ke], inst.ej[ke], inst.ec[ke]
    if sizes:
        S = np.tile(np.asarray(sizes, float), (m, 1))
    else:
        if inst.cand_capacity is None or np.isnan(inst.cand_capacity).any():
            raise SolverError("candidates need a capacity (capacities=, a capacity column, "
                              "or sizes=[...]) for a capacitated problem")
        S = inst.cand_capacity.reshape(-1, 1)
    ns = S.shape[1]
    kf, kx = len(ci), len(ei)
    nz = m * ns
    nv = kf + kx + n + nz
    off_e, off_u, off_z = kf, kf + kx, kf + kx + n
    zj = np.repeat(np.arange(m), ns)                   # candidate of each z column
    zcol = off_z + np.arange(nz)
    cost = np.r_[travel_weight * cc, travel_weight * ec, np.full(n, unmet_weight), np.zeros(nz)]
    # demand balance
    dem = sp.csr_matrix((np.ones(kf + kx + n), (np.r_[ci, ei, np.arange(n)],
                                                np.r_[np.arange(kf), off_e + np.arange(kx),
                                                      off_u + np.arange(n)])), shape=(n, nv))
    # candidate capacity
    capc = sp.csr_matrix((np.r_[np.ones(kf), -S.ravel()],
                          (np.r_[cj, zj], np.r_[np.arange(kf), zcol])), shape=(m, nv))
    # existing capacity
    cape = sp.csr_matrix((np.ones(kx), (ej, off_e + np.arange(kx))), shape=(q, nv))
    # strong linking f_ij <= w_i * sum_s z_js
    r = np.arange(kf)
    lk_r = np.r_[r, np.repeat(r, ns)]
    lk_c = np.r_[r, off_z + (cj[:, None] * ns + np.arange(ns)).ravel()]
    lk_v = np.r_[np.ones(kf), -np.repeat(inst.w[ci], ns)]
    link = sp.csr_matrix((lk_v, (lk_r, lk_c)), shape=(kf, nv))
    blocks = [dem, capc, cape, link]
    rl = [inst.w, np.full(m, -np.inf), np.full(q, -np.inf), np.full(kf, -np.inf)]
    ru = [inst.w, np.zeros(m), inst.exist_seats if q else np.zeros(0), np.zeros(kf)]
    if ns > 1:
        blocks.append(sp.csr_matrix((np.ones(nz), (zj, zcol)), shape=(m, nv)))
        rl.append(np.full(m, -np.inf))
        ru.append(np.ones(m))
    lbz, ubz = np.zeros(nz), np.ones(nz)
    if fixed is not None:
        # open the given sites at their given size index (last size when several)
        is_open = np.zeros(m, bool)
        is_open[fixed] = True
        ubz = np.zeros(nz)
        pick = np.asarray(fixed) * ns + (ns - 1 if sizes else 0)
        lbz[pick] = 1.0
        ubz[pick] = 1.0
    else:
        card, lo, hi = _cardinality(nv, zcol, p, exact=exact_p)
        blocks.append(card)
        rl.append([lo])
        ru.append([hi])
        bud = _budget_row(inst, nv, zcol, zj, budget)
        if bud is not None:
            blocks.append(bud)
            rl.append([-np.inf])
            ru.append([budget])
    A = _rows(*blocks)
    integ = np.r_[np.zeros(kf + kx + n), np.ones(nz) if not (relax or fixed is not None)
                  else np.zeros(nz)]
    x, fun, bound, status = solve_milp(cost, integ, np.r_[np.zeros(kf + kx + n), lbz],
                                  np.r_[np.full(kf + kx + n, np.inf), ubz], A,
                                  np.concatenate([np.asarray(v, float) for v in rl]),
                                  np.concatenate([np.asarray(v, float) for v in ru]),
                                  time_limit=time_limit, mip_gap=mip_gap)
    zval = x[off_z:].reshape(m, ns)
    chosen = np.flatnonzero(zval.sum(axis=1) > 0.5)
    size = (zval[chosen] * S[chosen]).sum(axis=1)
    fl = x[: kf + kx]
    fac = np.r_[cj, m + ej]
    nzf = fl > 1e-9
    flows = (np.r_[ci, ei][nzf], fac[nzf], fl[nzf])
    unmet = x[off_u: off_u + n]
    travel = float(np.r_[cc, ec] @ fl)
    sol = Solution(chosen, fun, bound, status, size=size, flows=flows,
                   extra={"unmet": unmet, "travel": travel, "zval": zval.sum(axis=1)})
    return sol
